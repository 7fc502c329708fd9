//! How cluster mode's encoding scales with encoder threads, in one process:
//! the same batches encoded as Kafka messages (Arrow IPC, ZSTD 1, split at
//! 900 KiB) through `ordered::spawn` with 1, 2, ... workers, alternated, and
//! the ratio to one worker printed. An ignored test (a benchmark):
//!
//! ```text
//! cargo test --release -p mirrorlake-collector --test tests -- --ignored --nocapture encode_threads_scale
//! ```
//!
//! Traffic: 4 mirrored ENIs, TCP flows of 16 packets, payloads 40-1,400
//! bytes, 70% random bytes (TLS) and 30% text, as `loadtest send`'s
//! realistic mix.

use mirrorlake_collector::ordered::{self, Next};
use mirrorlake_schema::message::Codec;
use mirrorlake_schema::{PacketBatchBuilder, RowMeta};
use mirrorlake_wire::{FrameRepr, TransportRepr, decode_vxlan_payload, emit_vxlan_payload};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const ROWS: usize = 8192;

fn batches(n: usize) -> Vec<arrow::record_batch::RecordBatch> {
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let words = [
        &b"GET /index.html HTTP/1.1\r\nHost: example.internal\r\n"[..],
        b"Accept: */*\r\nUser-Agent: curl/8.5\r\n\r\n",
        b"Content-Type: application/json\r\n{\"ok\":true,\"items\":[1,2,3]}",
    ];
    let mut out = Vec::with_capacity(n);
    let mut seq = 0i64;
    for _ in 0..n {
        let mut b = PacketBatchBuilder::with_capacity("bench", ROWS, ROWS * 900);
        for i in 0..ROWS {
            let flow = (seq / 16) as u64;
            let eni: IpAddr = [10, 0, 0, 10 + (flow % 4) as u8].into();
            let peer: IpAddr = [10, 1, (flow >> 8) as u8, flow as u8].into();
            let len = 40 + (next() % 1360) as usize;
            let mut payload = Vec::with_capacity(len);
            if next() % 10 < 7 {
                while payload.len() < len {
                    payload.extend_from_slice(&next().to_le_bytes());
                }
            } else {
                while payload.len() < len {
                    payload.extend_from_slice(words[(next() % 3) as usize]);
                }
            }
            payload.truncate(len);
            let mut frame = Vec::new();
            FrameRepr {
                src_mac: [2; 6],
                dst_mac: [4; 6],
                vlans: [None, None],
                src: eni,
                dst: peer,
                ttl: 64,
                transport: TransportRepr::Tcp {
                    src_port: 40000 + (flow % 20000) as u16,
                    dst_port: 443,
                    seq: i as u32,
                    ack: 1,
                    flags: 0x18,
                    window: 500,
                },
                payload: &payload,
            }
            .emit(&mut frame)
            .expect("emit");
            let mut dgram = Vec::new();
            emit_vxlan_payload(7, &frame, &mut dgram);
            let d = decode_vxlan_payload(&dgram, Some(eni)).expect("decode");
            b.append(&d, RowMeta::new(1_764_000_000_000_000 + seq, seq));
            seq += 1;
        }
        out.push(b.finish().expect("rows").expect("batch"));
    }
    out
}

/// Seconds to encode every batch with `workers` encoder threads.
fn encode_all(batches: Vec<arrow::record_batch::RecordBatch>, workers: usize) -> f64 {
    let n = batches.len();
    let mut items = batches.into_iter();
    let started = Instant::now();
    let mut o = ordered::spawn(
        "bench",
        workers,
        move || items.next(),
        |b: arrow::record_batch::RecordBatch| {
            mirrorlake_kafka::EncodedBatch::encode(&b, Codec::Zstd(1), 900 * 1024)
        },
    )
    .expect("spawn");
    let mut rows = 0;
    loop {
        match o.next(Duration::from_secs(60)) {
            Next::Item(e) => rows += e.rows(),
            Next::Idle => panic!("stalled"),
            Next::Done => break,
        }
    }
    o.join();
    assert_eq!(rows as usize, n * ROWS);
    started.elapsed().as_secs_f64()
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn encode_threads_scale() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let input = batches(24);
    let packets = (input.len() * ROWS) as f64;
    let counts: Vec<usize> = [1, 2, 4, 8].into_iter().filter(|w| *w <= cores).collect();
    let mut best = vec![f64::MAX; counts.len()];
    for _ in 0..3 {
        for (i, w) in counts.iter().enumerate() {
            best[i] = best[i].min(encode_all(input.clone(), *w));
        }
    }
    eprintln!("encode_threads_scale: {packets} packets, {cores} cores, best of 3 alternated runs");
    for (w, s) in counts.iter().zip(&best) {
        eprintln!(
            "  {w} encoder thread(s): {:.0} packets/s, {:.2}x one thread",
            packets / s,
            best[0] / s
        );
    }
}
