//! A corpus of malformed mirror packets sent over real UDP to a running
//! collector, between good ones: cut headers at every length, bad VXLAN
//! flags, impossible IPv4 lengths, IPv6 extension-header chains that are too
//! long or loop back to hop-by-hop. Nothing panics, every datagram is either
//! kept (with its anomalies counted) or dropped and counted by its reason,
//! exactly as the decoder run in process on the same bytes says, and every
//! good packet around them reaches the lake.

use crate::e2e::{Collector, metric, packet};
use crate::support::query_csv;
use mirrorlake_wire::{
    Anomaly, DropReason, FrameRepr, TransportRepr, decode_vxlan_payload, emit_vxlan_payload,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    emit_vxlan_payload(vni, inner, &mut d);
    d
}

fn v4_tcp() -> Vec<u8> {
    let mut f = Vec::new();
    FrameRepr {
        src_mac: [2; 6],
        dst_mac: [4; 6],
        vlans: [Some(100), None],
        src: "10.0.0.1".parse().expect("ip"),
        dst: "10.0.0.2".parse().expect("ip"),
        ttl: 64,
        transport: TransportRepr::Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: 1,
            ack: 2,
            flags: 0x18,
            window: 100,
        },
        payload: b"malformed-corpus",
    }
    .emit(&mut f)
    .expect("emit");
    f
}

/// Ethernet + IPv6 whose extension headers are `chain` (next-header values,
/// each an 8-byte header), then a 20-byte TCP header.
fn v6_chain(chain: &[u8]) -> Vec<u8> {
    let mut f = vec![4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 0x86, 0xdd];
    let payload_len = chain.len() * 8 + 20;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload_len as u16).to_be_bytes());
    f.push(chain.first().copied().unwrap_or(6));
    f.push(64);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    for (i, _) in chain.iter().enumerate() {
        let next = chain.get(i + 1).copied().unwrap_or(6);
        f.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN option
    }
    f.extend_from_slice(&[
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x10, 0, 0, 0, 0, 0,
    ]);
    f
}

/// The malformed corpus (datagram payloads).
fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let tcp4 = vxlan(7, &v4_tcp());
    let long_chain = vxlan(
        7,
        &v6_chain(&[0; 1].iter().chain(&[60; 40]).copied().collect::<Vec<_>>()),
    );
    // Cut headers: every prefix of two tunnelled frames.
    for d in [&tcp4, &long_chain] {
        for n in 0..d.len() {
            out.push(d[..n].to_vec());
        }
    }
    // Bad VXLAN flags: no I flag; I with reserved bits; every bit set.
    for flags in [0x00u8, 0x0c, 0xff] {
        let mut d = tcp4.clone();
        d[0] = flags;
        out.push(d);
    }
    // Impossible IPv4 lengths (the IP header follows 8 VXLAN + 14 Ethernet + 4 VLAN bytes).
    let ip = 8 + 14 + 4;
    for (ihl, total) in [(5u8, 0xffffu16), (5, 10), (15, 60), (3, 60), (5, 0)] {
        let mut d = tcp4.clone();
        d[ip] = 0x40 | ihl;
        d[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
        out.push(d);
    }
    // Extension-header chains: hop-by-hop looping back to hop-by-hop, a routing
    // header pointing at itself, fragment headers in a row, an unknown one.
    for chain in [
        &[0u8, 0, 0, 0][..],
        &[43, 43, 43],
        &[44, 44, 44, 44],
        &[0, 60, 60, 253],
    ] {
        out.push(vxlan(9, &v6_chain(chain)));
    }
    out
}

#[test]
fn malformed_mirror_packets_over_udp_are_counted_by_reason() {
    let corpus = corpus();
    let src: IpAddr = "127.0.0.1".parse().expect("ip");
    // The oracle: the decoder in process on the same bytes.
    let (mut drops, mut anomalies, mut kept) = (BTreeMap::new(), BTreeMap::new(), 0u64);
    for d in &corpus {
        match decode_vxlan_payload(d, Some(src)) {
            Ok(p) => {
                kept += 1;
                for a in p.anomalies.iter() {
                    *anomalies.entry(a.code()).or_insert(0u64) += 1;
                }
            }
            Err(r) => *drops.entry(r.code()).or_insert(0u64) += 1,
        }
    }
    assert!(
        drops.len() >= 3 && anomalies.len() >= 4,
        "the corpus covers many reasons: {drops:?} {anomalies:?}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let c = Collector::start(&lake, &[]);
    let s = UdpSocket::bind((src, 0)).expect("bind");
    const GOOD: u32 = 2000;
    let mut sent = 0u64;
    let mut bad = corpus.iter();
    for i in 0..GOOD {
        // Good packets come from the mirrored ENIs of e2e's traffic (127.0.0.20-24).
        let p = packet(i);
        let g = UdpSocket::bind((p.source, 0)).expect("bind source");
        g.send_to(&vxlan(p.vni, &p.frame), c.listen)
            .expect("send good");
        sent += 1;
        if let Some(d) = bad.next() {
            s.send_to(d, c.listen).expect("send malformed");
            sent += 1;
        }
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for d in bad {
        s.send_to(d, c.listen).expect("send malformed");
        sent += 1;
    }
    assert_eq!(sent, u64::from(GOOD) + corpus.len() as u64);
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let m = c.metrics();
        if metric(&m, "mirrorlake_packets_received_total") == Some(sent) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "not every datagram received:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for r in DropReason::ALL {
        let want = drops.get(r.code()).copied().unwrap_or(0);
        let got = metric(
            &m,
            &format!(
                "mirrorlake_packets_dropped_total{{reason=\"{}\"}}",
                r.code()
            ),
        )
        .unwrap_or(0);
        assert_eq!(got, want, "drops {}: {m}", r.code());
    }
    for a in Anomaly::ALL {
        let want = anomalies.get(a.code()).copied().unwrap_or(0);
        let got = metric(
            &m,
            &format!(
                "mirrorlake_decode_anomalies_total{{anomaly=\"{}\"}}",
                a.code()
            ),
        )
        .unwrap_or(0);
        assert_eq!(got, want, "anomaly {}: {m}", a.code());
    }
    assert_eq!(metric(&m, "mirrorlake_kernel_drops_total"), Some(0), "{m}");
    assert!(
        c.sigterm_and_wait().success(),
        "clean exit after the corpus"
    );
    let rows = query_csv(&lake, "SELECT count(*) AS n FROM packets");
    assert_eq!(
        rows.lines().nth(1),
        Some((u64::from(GOOD) + kept).to_string().as_str()),
        "every good packet and every kept malformed one in the lake"
    );
    eprintln!(
        "malformed corpus over UDP: {} datagrams among {GOOD} good ones; dropped by reason {drops:?}; kept {kept} with anomalies {anomalies:?}; lake {} rows",
        corpus.len(),
        u64::from(GOOD) + kept
    );
}
