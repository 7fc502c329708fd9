//! Per-packet cost of the collector's hot path over a realistic mix
//! (IPv4/IPv6, TCP/UDP/ICMP, VLAN, jumbo, truncated): decode alone (and
//! through the lax etherparse path alone, without the strict fast path),
//! decode + Community ID, and decode + Community ID + append to the Arrow
//! builder; and decode of the same datagrams as a Gateway Load Balancer
//! delivers them (GENEVE around the VXLAN datagram's IPv4 packet).
//! Criterion reports time per packet (throughput in elements).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mirrorlake_schema::{Batcher, BatcherConfig, RowMeta};
use mirrorlake_wire::geneve::emit_geneve_payload;
use mirrorlake_wire::{
    FrameRepr, GwlbOptions, TransportRepr, decode_geneve_payload, decode_vxlan_payload,
    decode_vxlan_payload_lax_only, emit_vxlan_payload,
};
use std::hint::black_box;
use std::net::IpAddr;

/// `flows` × `per_flow` mirror datagrams, `per_flow` consecutive ones of
/// each flow.
fn mix(flows: u32, per_flow: u32) -> Vec<Vec<u8>> {
    let v4 = |a: [u8; 4]| IpAddr::from(a);
    let v6 = |last: u8| IpAddr::from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last]);
    let mut out = Vec::new();
    for n in 0..flows * per_flow {
        let i = n / per_flow;
        let kind = i % 8;
        let (src, dst) = if kind == 5 {
            (v6(1), v6(2))
        } else {
            (
                v4([10, 0, 3, 7]),
                v4([10, (i / 200 % 200) as u8, (i % 200) as u8, 9]),
            )
        };
        let transport = match kind {
            0..=2 | 5 => TransportRepr::Tcp {
                src_port: 40000 + i as u16,
                dst_port: 443,
                seq: n,
                ack: n,
                flags: 0x18,
                window: 512,
            },
            3 | 6 => TransportRepr::Udp {
                src_port: 53,
                dst_port: 30000 + i as u16,
            },
            _ => TransportRepr::Icmp {
                icmp_type: 8,
                code: 0,
            },
        };
        let payload_len = match kind {
            0 => 1400,
            1 => 8900, // jumbo
            2 | 3 => 60,
            _ => 200,
        };
        let payload = vec![i as u8; payload_len];
        let mut frame = Vec::new();
        FrameRepr {
            src_mac: [2; 6],
            dst_mac: [3; 6],
            vlans: if kind == 6 {
                [Some(10), Some(20)]
            } else {
                [None, None]
            },
            src,
            dst,
            ttl: 64,
            transport,
            payload: &payload,
        }
        .emit(&mut frame)
        .expect("emit");
        if kind == 7 {
            frame.truncate(64); // AWS packet-length option
        }
        let mut dgram = Vec::new();
        emit_vxlan_payload(100 + i % 4, &frame, &mut dgram);
        out.push(dgram);
    }
    out
}

fn bench(c: &mut Criterion) {
    let packets = mix(256, 1);
    let source: IpAddr = [10, 0, 3, 7].into();
    let mut g = c.benchmark_group("per_packet");
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for p in &packets {
                let _ = black_box(decode_vxlan_payload(black_box(p), Some(source)));
            }
        })
    });
    // The same decode through the lax etherparse path alone (no strict fast
    // path): the baseline the fast path is measured against.
    g.bench_function("decode_etherparse_only", |b| {
        b.iter(|| {
            for p in &packets {
                let _ = black_box(decode_vxlan_payload_lax_only(black_box(p), Some(source)));
            }
        })
    });
    // The same datagrams through a GWLB: GENEVE (AWS's three options)
    // around IPv4 / UDP 4789 from the mirrored ENI.
    let aws = GwlbOptions {
        endpoint_id: Some(1),
        attachment_id: Some(2),
        flow_cookie: Some(3),
    };
    let geneve: Vec<Vec<u8>> = packets
        .iter()
        .map(|p| {
            let mut ip = Vec::new();
            FrameRepr {
                src_mac: [2; 6],
                dst_mac: [3; 6],
                vlans: [None, None],
                src: source,
                dst: [10, 0, 9, 9].into(),
                ttl: 64,
                transport: TransportRepr::Udp {
                    src_port: 50000,
                    dst_port: mirrorlake_wire::VXLAN_PORT,
                },
                payload: p,
            }
            .emit(&mut ip)
            .expect("emit");
            let mut out = Vec::new();
            emit_geneve_payload(&aws, 0x0800, &ip[14..], &mut out);
            out
        })
        .collect();
    g.bench_function("decode_geneve", |b| {
        b.iter(|| {
            for p in &geneve {
                let _ = black_box(decode_geneve_payload(black_box(p)));
            }
        })
    });
    g.bench_function("decode+community_id", |b| {
        b.iter(|| {
            for p in &packets {
                if let Ok(d) = decode_vxlan_payload(black_box(p), Some(source)) {
                    black_box(d.community_id());
                }
            }
        })
    });
    // The collector's own batcher and limits (8,192 rows or 4 MiB a batch):
    // batches are finished and dropped as the sink would. 4,096 flows, more
    // than the builder's Community ID cache holds, so that no iteration
    // finds the last one's flows there: one packet per flow (every packet a
    // miss), and 16 consecutive packets per flow (15 of 16 hit).
    let mut batcher = Batcher::new("bench", BatcherConfig::default());
    let now = std::time::Instant::now();
    let unique = mix(4096, 1);
    g.throughput(Throughput::Elements(unique.len() as u64));
    g.bench_function("decode+community_id+arrow_append", |b| {
        b.iter(|| {
            for p in &unique {
                if let Ok(d) = decode_vxlan_payload(black_box(p), Some(source)) {
                    black_box(batcher.push(&d, RowMeta::new(1, 1), now));
                }
            }
        })
    });
    let flows = mix(4096, 16);
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function(
        "decode+community_id+arrow_append, 16 packets per flow",
        |b| {
            b.iter(|| {
                for p in &flows {
                    if let Ok(d) = decode_vxlan_payload(black_box(p), Some(source)) {
                        black_box(batcher.push(&d, RowMeta::new(1, 1), now));
                    }
                }
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
