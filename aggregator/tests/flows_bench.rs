//! Benchmark (not a timed test; ignored by default): "top talkers per hour"
//! on the `flows` table against the `packets` table, on a synthetic day of
//! connection-shaped traffic. Both are the named queries Terraform installs
//! (`top_talkers_per_hour`, `flow_top_talkers_per_hour`); they must return
//! the same rows, and the figure is the ratio of the bytes DataFusion's
//! Parquet scan reads (`bytes_scanned`).
//!
//! ```text
//! cargo test --release --locked --workspace -- --ignored --nocapture flows_bench
//! MIRRORLAKE_BENCH_PACKETS=1000000 cargo test ...   # smaller day (default 5,000,000)
//! ```
//! Figures are recorded in `docs/benchmarks.md`.

use crate::fixture::{Mirror, Rng};
use crate::lake_bench::{needle, parquet_files};
use crate::named_queries::{bind, example_params, queries_dir};
use mirrorlake_lake::{FileConfig, Lake, LakeWriter, RollPolicy, SequenceNamer};
use mirrorlake_schema::PacketBatchBuilder;
use mirrorlake_wire::TransportRepr;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// 2026-01-15T00:00:00Z in microseconds.
const DAY0_US: i64 = 1_768_435_200_000_000;
const DAY_US: i64 = 86_400_000_000;
const ENIS: u64 = 40;

/// One connection: who, what, when, how many packets over how long.
struct Conn {
    eni: u8,
    peer: IpAddr,
    client_port: u16,
    service: u16,
    udp: bool,
    start: i64,
    duration: i64,
    packets: u32,
    /// Largest payload of a data packet.
    data: usize,
    /// Bulk transfer: two full data packets from the server per ACK.
    bulk: bool,
}

/// Shares of the day's packets (percent) in DNS lookups (2 packets each),
/// short HTTPS exchanges (10-60 packets within 2 s), interactive SSH and
/// database sessions (100-1,000 packets over up to 30 minutes) and bulk
/// transfers (2,000-20,000 packets within a minute).
type Mix = [u64; 4];

/// Mean packets of a connection of each kind of [`Mix`].
const MEAN_PACKETS: [f64; 4] = [2.0, 35.0, 550.0, 11_000.0];

/// A day of connections with the packet shares of `mix`. Arrivals are
/// uniform over the day, packets of a connection evenly spaced; peers come
/// from 4,000 VPC addresses and 1,000 Internet ones.
fn connections(target_packets: u64, mix: Mix) -> Vec<Conn> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Connection shares that give those packet shares (share / mean size),
    // as cumulative thresholds out of 1,000,000.
    let weights: Vec<f64> = (0..4).map(|k| mix[k] as f64 / MEAN_PACKETS[k]).collect();
    let sum: f64 = weights.iter().sum();
    let mut cumulative = [0u64; 4];
    let mut acc = 0.0;
    for k in 0..4 {
        acc += weights[k] / sum;
        cumulative[k] = (acc * 1e6).round() as u64;
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    while total < target_packets {
        let pick = rng.below(1_000_000);
        let kind = cumulative.iter().position(|&c| pick < c).unwrap_or(3);
        let (service, udp, packets, duration, data, bulk) = match kind {
            0 => (53, true, 2, 1_000 + rng.below(50_000) as i64, 300, false),
            1 => (
                443,
                false,
                10 + rng.below(51) as u32,
                50_000 + rng.below(2_000_000) as i64,
                1400,
                false,
            ),
            2 => (
                [22, 5432, 3306][rng.below(3) as usize],
                false,
                100 + rng.below(901) as u32,
                60_000_000 + rng.below(1_740_000_000) as i64,
                400,
                false,
            ),
            _ => (
                443,
                false,
                2_000 + rng.below(18_001) as u32,
                1_000_000 + rng.below(59_000_000) as i64,
                1448,
                true,
            ),
        };
        let f = rng.next();
        let peer: IpAddr = if f.is_multiple_of(5) {
            Ipv4Addr::new(198, 51, 100 + (f >> 8) as u8 % 4, (f >> 16) as u8 % 250 + 1).into()
        } else {
            Ipv4Addr::new(10, 1, (f >> 8) as u8 % 16, (f >> 16) as u8 % 250 + 1).into()
        };
        out.push(Conn {
            eni: (f % ENIS) as u8,
            peer,
            client_port: 32768 + (rng.below(28000) as u16),
            service,
            udp,
            start: DAY0_US + rng.below(DAY_US as u64) as i64,
            duration,
            packets,
            data,
            bulk,
        });
        total += u64::from(packets);
    }
    out
}

/// Writes the day; files roll after `file_age` of (virtual) time, as the
/// writers do. Returns the packets written.
async fn write_day(lake: &Lake, conns: &[Conn], file_age: Duration) -> u64 {
    // (ts, connection, packet index), in time order.
    let mut events: Vec<(i64, u32, u32)> = Vec::new();
    for (c, conn) in conns.iter().enumerate() {
        let step = conn.duration / i64::from(conn.packets.max(1));
        for i in 0..conn.packets {
            let ts = (conn.start + step * i64::from(i)).min(DAY0_US + DAY_US - 1);
            events.push((ts, c as u32, i));
        }
    }
    events.sort_unstable();
    let mut w = LakeWriter::new(
        lake.clone(),
        FileConfig::default(),
        RollPolicy {
            max_file_bytes: 128 << 20,
            max_file_age: file_age,
        },
        Box::new(SequenceNamer::new("bench", 1)),
    );
    let origin = Instant::now();
    let at = |ts: i64| origin + Duration::from_micros((ts - DAY0_US) as u64);
    let mut b = PacketBatchBuilder::with_capacity("bench", 8192, 8 << 20);
    let mut mirror = Mirror::default();
    let payload = vec![0x5au8; 1500];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut batch_start = DAY0_US;
    for &(ts, c, i) in &events {
        let conn = &conns[c as usize];
        let eni: IpAddr = Ipv4Addr::new(10, 0, 0, 10 + conn.eni).into();
        let peer = conn.peer;
        // Odd connections are the ENI's own clients (egress), even ones serve the peer.
        let eni_is_client = c % 2 == 1;
        let (client, server) = if eni_is_client {
            (eni, peer)
        } else {
            (peer, eni)
        };
        let bulk = conn.bulk;
        let from_client = if bulk { i % 3 == 0 } else { i % 2 == 0 };
        let (src, dst, sp, dp) = if from_client {
            (client, server, conn.client_port, conn.service)
        } else {
            (server, client, conn.service, conn.client_port)
        };
        // Payload sizes: ACKs empty, bulk data mostly full, the rest varied.
        let r = rng.next();
        let n = match (bulk, from_client) {
            (true, true) => 0,
            (true, false) if !r.is_multiple_of(8) => conn.data,
            _ => (r % conn.data as u64) as usize,
        };
        let transport = if conn.udp {
            TransportRepr::Udp {
                src_port: sp,
                dst_port: dp,
            }
        } else {
            TransportRepr::Tcp {
                src_port: sp,
                dst_port: dp,
                seq: i,
                ack: i,
                flags: if i == 0 { 0x02 } else { 0x18 },
                window: 502,
            }
        };
        mirror.append(
            &mut b,
            (eni, conn.eni, 100 + u32::from(conn.eni) / 10),
            (src, dst, transport),
            &payload[..n],
            ts,
        );
        // Batches are cut at 8,192 rows or after a second, as the collector cuts them.
        if b.len() >= 8192 || ts - batch_start >= 1_000_000 {
            batch_start = ts;
            let batch = b.finish().expect("rows").expect("batch");
            w.write(&batch, at(ts)).await.expect("write");
            w.poll(at(ts)).await.expect("roll");
        }
    }
    if let Some(batch) = b.finish() {
        w.write(&batch.expect("batch"), at(DAY0_US + DAY_US))
            .await
            .expect("write");
    }
    w.close_all().await.expect("close");
    events.len() as u64
}

/// The one number a `SELECT count(*) ...` over the lake returns.
async fn count(lake: &Lake, sql: &str) -> i64 {
    use arrow::array::AsArray;
    let batches = mirrorlake_aggregator::query::run(lake, sql)
        .await
        .expect(sql);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 1, "{sql}");
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<arrow::datatypes::Int64Type>()
        })
        .map(|a| a.value(0))
        .unwrap_or_else(|| panic!("a count from {sql}"))
}

/// Compressed bytes of `columns` over every Parquet file under `dir`.
fn column_bytes(dir: &std::path::Path, columns: &[&str]) -> Vec<i64> {
    use parquet::file::reader::FileReader;
    let mut sums = vec![0i64; columns.len()];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let r = parquet::file::reader::SerializedFileReader::new(
                    std::fs::File::open(&p).expect("open"),
                )
                .expect("parquet");
                for rg in r.metadata().row_groups() {
                    for c in rg.columns() {
                        let name = c.column_path().string();
                        if let Some(i) = columns.iter().position(|n| *n == name) {
                            sums[i] += c.compressed_size();
                        }
                    }
                }
            }
        }
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture flows_bench"]
async fn flows_bench() {
    let packets: u64 = std::env::var("MIRRORLAKE_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let sql = |file: &str| {
        let text = std::fs::read_to_string(queries_dir().join(file)).expect("query");
        let params: Vec<String> = example_params(&text)
            .iter()
            .map(|p| p.replace("2024-05-01", "2026-01-15"))
            .collect();
        bind(&text, &params)
    };
    let (on_packets, on_flows) = (
        sql("top_talkers_per_hour.sql"),
        sql("flow_top_talkers_per_hour.sql"),
    );
    // The ratio follows the packets per flows row (docs/benchmarks.md): the
    // third fleet, whose packets are nearly all in long transfers, shows
    // where the rows stand for hundreds of packets.
    let mixes: [(&str, Mix); 3] = [
        (
            "server fleet (packets: 1% DNS, 20% HTTPS, 29% sessions, 50% bulk)",
            [1, 20, 29, 50],
        ),
        (
            "chatty fleet (packets: 10% DNS, 30% HTTPS, 20% sessions, 40% bulk)",
            [10, 30, 20, 40],
        ),
        (
            "bulk fleet, backups and replication (packets: 0% DNS, 1% HTTPS, 4% sessions, 95% bulk)",
            [0, 1, 4, 95],
        ),
    ];
    for (mix_name, mix) in mixes {
        let conns = connections(packets, mix);
        eprintln!(
            "{mix_name}: {} connections, {ENIS} mirrored ENIs",
            conns.len()
        );
        for (what, age, compacted) in [
            ("one file per hour", Duration::from_secs(3600), false),
            (
                "files rolled every 50 s (the default)",
                Duration::from_secs(50),
                false,
            ),
            (
                "files rolled every 50 s, then `compact`",
                Duration::from_secs(50),
                true,
            ),
        ] {
            let dir = tempfile::tempdir().expect("tmp");
            let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
            let t = Instant::now();
            let written = write_day(&lake, &conns, age).await;
            if compacted {
                let opts =
                    mirrorlake_aggregator::compact::Options::new(i64::MAX, 128 << 20, "bench");
                mirrorlake_aggregator::compact::compact(&lake, &opts)
                    .await
                    .expect("compact");
            }
            let packet_bytes: u64 = parquet_files(&dir.path().join("packets")).iter().sum();
            let flow_files = parquet_files(&dir.path().join("flows"));
            let flow_bytes: u64 = flow_files.iter().sum();
            let flows_rows = count(&lake, "SELECT count(*) FROM flows").await;
            let (n_p, scanned_p) = needle(&lake, &on_packets).await;
            let (n_f, scanned_f) = needle(&lake, &on_flows).await;
            let same = {
                let a = mirrorlake_aggregator::query::run(&lake, &on_packets)
                    .await
                    .expect("packets");
                let b = mirrorlake_aggregator::query::run(&lake, &on_flows)
                    .await
                    .expect("flows");
                arrow::util::pretty::pretty_format_batches(&a)
                    .expect("fmt")
                    .to_string()
                    == arrow::util::pretty::pretty_format_batches(&b)
                        .expect("fmt")
                        .to_string()
            };
            assert!(same, "the two queries must give the same top talkers");
            assert_eq!(n_p, n_f);
            eprintln!(
                "{what}: {written} packets written in {:.1?}; packets {packet_bytes} B, flows {flow_bytes} B in {} files, {} flows rows",
                t.elapsed(),
                flow_files.len(),
                flows_rows
            );
            eprintln!(
                "  top talkers per hour ({n_p} rows, identical): packets table read {scanned_p} B, flows table read {scanned_f} B: {:.1}x fewer",
                scanned_p as f64 / scanned_f.max(1) as f64
            );
            if age >= Duration::from_secs(3600) {
                // What longer windows would leave: the same rows merged per
                // 10 minutes and per hour (one file per hour here, so this
                // is what the writer would make).
                let coarser = |minutes: u32| {
                    format!(
                        "SELECT count(*) FROM (SELECT 1 FROM flows GROUP BY dt, hour, community_id, vni, \
                         mirror_source, srcaddr, dstaddr, srcport, dstport, protocol, \
                         date_bin(INTERVAL '{minutes} minutes', window_start))"
                    )
                };
                let counts = [
                    count(&lake, &coarser(10)).await,
                    count(&lake, &coarser(60)).await,
                ];
                eprintln!(
                    "  flows rows with 10-minute windows {}, with hourly ones {} ({written} packets)",
                    counts[0], counts[1]
                );
            }
            let pc = ["src_ip", "dst_ip", "wire_len"];
            let fc = [
                "srcaddr",
                "dstaddr",
                "src_packets",
                "src_bytes",
                "dst_packets",
                "dst_bytes",
            ];
            eprintln!(
                "  column chunk bytes: packets {:?} = {:?}; flows {:?} = {:?}",
                pc,
                column_bytes(&dir.path().join("packets"), &pc),
                fc,
                column_bytes(&dir.path().join("flows"), &fc)
            );
        }
    }
}
