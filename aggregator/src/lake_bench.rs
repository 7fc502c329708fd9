//! Benchmark (not a timed test; ignored by default): a synthetic day of
//! mirror traffic written with several lake settings, then
//! (a) needle queries for one address: bytes DataFusion reads (its Parquet
//!     scan metric `bytes_scanned`) against the day's Parquet bytes, and
//! (b) lake bytes against the same inner frames as a zstd-compressed pcap.
//!
//! ```text
//! cargo test --release --locked --workspace -- --ignored --nocapture lake_bench
//! MIRRORLAKE_BENCH_PACKETS=200000 cargo test ...   # smaller day (default 1,000,000)
//! ```
//! Figures are recorded in `docs/benchmarks.md`.

use datafusion::physical_plan::collect;
use mirrorlake_lake::{FileConfig, Lake, LakeWriter, RollPolicy, SequenceNamer};
use mirrorlake_schema::{PacketBatchBuilder, RowMeta};
use mirrorlake_wire::{FrameRepr, TransportRepr, decode_vxlan_payload, emit_vxlan_payload};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

/// 2026-01-15T00:00:00Z in microseconds.
const DAY0_US: i64 = 1_768_435_200_000_000;
const DAY_US: i64 = 86_400_000_000;
const ENIS: u32 = 40;
const FLOWS: u32 = 4000;

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn eni(e: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 10 + e as u8)
}

fn peer(f: u32) -> Ipv4Addr {
    if f % 10 == 3 {
        Ipv4Addr::new(203, 0, 113, (f % 250) as u8 + 1)
    } else {
        Ipv4Addr::new(10, 1, (f / 250) as u8, (f % 250) as u8 + 1)
    }
}

/// Scratch buffers of one mirrored packet as the collector sees it: the
/// inner frame, its VXLAN payload, decoded and appended to a batch.
#[derive(Default)]
pub(crate) struct Mirror {
    frame: Vec<u8>,
    dgram: Vec<u8>,
}

impl Mirror {
    /// Appends one packet of mirror `(ENI address, its last octet for the
    /// MAC, VNI)` and inner `(src, dst, transport)` at `ts`; returns the
    /// inner frame.
    pub(crate) fn append(
        &mut self,
        b: &mut PacketBatchBuilder,
        (eni, octet, vni): (IpAddr, u8, u32),
        (src, dst, transport): (IpAddr, IpAddr, TransportRepr),
        payload: &[u8],
        ts: i64,
    ) -> &[u8] {
        self.frame.clear();
        FrameRepr {
            src_mac: [2, 0, 0, 0, 0, octet],
            dst_mac: [2, 0, 0, 0, 1, 1],
            vlans: [None, None],
            src,
            dst,
            ttl: 64,
            transport,
            payload,
        }
        .emit(&mut self.frame)
        .expect("emit");
        self.dgram.clear();
        emit_vxlan_payload(vni, &self.frame, &mut self.dgram);
        let d = decode_vxlan_payload(&self.dgram, Some(eni)).expect("decode");
        b.append(&d, RowMeta { ts_us: ts });
        &self.frame
    }
}

/// Counts bytes written.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the day into `lake` with `config`; returns (rows, zstd pcap bytes).
async fn write_day(lake: &Lake, config: FileConfig, packets: u64) -> (u64, u64) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut w = LakeWriter::new(
        lake.clone(),
        config,
        RollPolicy {
            max_file_bytes: 128 << 20,
            // Age rolling is wall-clock in the collector; here every hour
            // is one file, as with steady traffic and the default sizes.
            max_file_age: std::time::Duration::from_secs(3600 * 48),
        },
        Box::new(SequenceNamer::new("bench", 1)),
    );
    let mut pcap = zstd::stream::write::Encoder::new(Counter(0), 3).expect("zstd");
    // pcap global header: magic, 2.4, tz 0, sigfigs 0, snaplen 65535, Ethernet.
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        pcap.write_all(&v.to_le_bytes()).expect("pcap");
    }
    let mut b = PacketBatchBuilder::with_capacity("bench", 8192, 8 << 20);
    let mut mirror = Mirror::default();
    let mut payload = vec![0u8; 1400];
    let t0 = Instant::now();
    for i in 0..packets {
        let ts = DAY0_US + (i as i64) * (DAY_US / packets as i64);
        let f = rng.below(u64::from(FLOWS)) as u32;
        let e = f % ENIS;
        let (a, z): (IpAddr, IpAddr) = (eni(e).into(), peer(f).into());
        let egress = rng.below(2) == 0;
        let (src, dst) = if egress { (a, z) } else { (z, a) };
        let port = 40000 + (f % 20000) as u16;
        let (transport, len) = match f % 10 {
            7 | 8 => {
                // DNS: a query name, semi-compressible.
                let q = format!(
                    "\x03www\x07host{:03}\x07example\x03com\x00\x00\x01\x00\x01",
                    f % 500
                );
                let n = q.len();
                payload[..n].copy_from_slice(q.as_bytes());
                let (sp, dp) = if egress { (port, 53) } else { (53, port) };
                (
                    TransportRepr::Udp {
                        src_port: sp,
                        dst_port: dp,
                    },
                    n,
                )
            }
            k => {
                let svc = if k == 9 { 22 } else { 443 };
                let (sp, dp) = if egress { (port, svc) } else { (svc, port) };
                let n = match rng.below(100) {
                    0..45 => 0,
                    45..80 => 1400,
                    _ => 100 + rng.below(500) as usize,
                };
                // Encrypted payload: incompressible.
                for chunk in payload[..n].chunks_mut(8) {
                    let r = rng.next().to_le_bytes();
                    chunk.copy_from_slice(&r[..chunk.len()]);
                }
                (
                    TransportRepr::Tcp {
                        src_port: sp,
                        dst_port: dp,
                        seq: rng.next() as u32,
                        ack: rng.next() as u32,
                        flags: if n == 0 { 0x10 } else { 0x18 },
                        window: 502,
                    },
                    n,
                )
            }
        };
        let frame = mirror.append(
            &mut b,
            (eni(e).into(), e as u8, 100 + e / 10),
            (src, dst, transport),
            &payload[..len],
            ts,
        );
        let (sec, usec) = (ts / 1_000_000, ts % 1_000_000);
        for v in [
            sec as u32,
            usec as u32,
            frame.len() as u32,
            frame.len() as u32,
        ] {
            pcap.write_all(&v.to_le_bytes()).expect("pcap");
        }
        pcap.write_all(frame).expect("pcap");
        if b.len() >= 8192 {
            let batch = b.finish().expect("rows").expect("batch");
            w.write(&batch, Instant::now()).await.expect("write");
        }
    }
    if let Some(batch) = b.finish() {
        w.write(&batch.expect("batch"), Instant::now())
            .await
            .expect("write");
    }
    w.close_all().await.expect("close");
    let pcap_bytes = pcap.finish().expect("zstd").0;
    eprintln!("  wrote {packets} packets in {:.1?}", t0.elapsed());
    (packets, pcap_bytes)
}

/// Sizes of the Parquet files under `dir`.
pub(crate) fn parquet_files(dir: &std::path::Path) -> Vec<u64> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let e = e.expect("entry");
        let md = e.metadata().expect("metadata");
        if md.is_dir() {
            out.extend(parquet_files(&e.path()));
        } else if e.path().extension().is_some_and(|x| x == "parquet") {
            out.push(md.len());
        }
    }
    out
}

/// Runs `sql`; returns (rows, bytes_scanned).
pub(crate) async fn needle(lake: &Lake, sql: &str) -> (usize, usize) {
    let ctx = mirrorlake_lake::sql::session(lake).await.expect("session");
    let df = ctx.sql(sql).await.expect("plan");
    let plan = df.create_physical_plan().await.expect("physical plan");
    let batches = collect(plan.clone(), ctx.task_ctx()).await.expect("run");
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    (
        rows,
        mirrorlake_lake::sql::metric_sum(&plan, "bytes_scanned"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture lake_bench"]
async fn lake_bench() {
    let packets: u64 = std::env::var("MIRRORLAKE_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let x = eni(7).to_string();
    let y = peer(1234).to_string(); // a peer of ENI 34 (flow 1234)
    let queries = [
        (
            "ENI by address",
            format!(
                "SELECT * FROM packets WHERE dt = '2026-01-15' AND (src_ip = '{x}' OR dst_ip = '{x}')"
            ),
        ),
        (
            "ENI by mirror_source",
            format!("SELECT * FROM packets WHERE dt = '2026-01-15' AND mirror_source = '{x}'"),
        ),
        (
            "peer by address",
            format!(
                "SELECT * FROM packets WHERE dt = '2026-01-15' AND (src_ip = '{y}' OR dst_ip = '{y}')"
            ),
        ),
    ];
    let sorted = |cols: &[&str], page_rows, page_bytes| FileConfig {
        sort_by: cols.iter().map(|s| (*s).to_owned()).collect(),
        page_rows,
        page_bytes,
        ..FileConfig::default()
    };
    let all = std::env::var_os("MIRRORLAKE_BENCH_ALL").is_some();
    let mut settings = vec![
        (
            "arrival order, 20000-row/1 MiB pages",
            sorted(&[], 20_000, 1 << 20),
        ),
        (
            "sorted (mirror_source, src_ip, ts), 2048-row/1 MiB pages",
            sorted(&["mirror_source", "src_ip", "ts"], 2048, 1 << 20),
        ),
        (
            "sorted (mirror_source, src_ip, ts), 2048-row/128 KiB pages",
            sorted(&["mirror_source", "src_ip", "ts"], 2048, 128 << 10),
        ),
        (
            "sorted (mirror_source, src_ip, dst_ip, ts), 2048-row/128 KiB pages",
            sorted(
                &["mirror_source", "src_ip", "dst_ip", "ts"],
                2048,
                128 << 10,
            ),
        ),
        (
            "sorted (mirror_source, src_ip, dst_ip, ts), 2048-row/64 KiB pages",
            sorted(&["mirror_source", "src_ip", "dst_ip", "ts"], 2048, 64 << 10),
        ),
        ("FileConfig::default()", FileConfig::default()),
    ];
    if all {
        settings.extend([
            (
                "arrival order, 2048-row/1 MiB pages",
                sorted(&[], 2048, 1 << 20),
            ),
            (
                "sorted (mirror_source, ts), 20000-row/1 MiB pages",
                sorted(&["mirror_source", "ts"], 20_000, 1 << 20),
            ),
            (
                "sorted (mirror_source, ts), 2048-row/1 MiB pages",
                sorted(&["mirror_source", "ts"], 2048, 1 << 20),
            ),
        ]);
    }
    eprintln!(
        "synthetic day: {packets} packets, {ENIS} mirrored ENIs, {FLOWS} flows; needles {x} (ENI) and {y} (peer)"
    );
    for (name, config) in settings {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        eprintln!("{name}:");
        let (rows, pcap_zst) = write_day(&lake, config, packets).await;
        // The packets table is what the needles read and what stands for
        // the pcap; the flows table beside it is reported on its own.
        let files = parquet_files(&dir.path().join(mirrorlake_lake::TABLE_PACKETS));
        let day_bytes: u64 = files.iter().sum();
        let flows: u64 = parquet_files(&dir.path().join(mirrorlake_lake::TABLE_FLOWS))
            .iter()
            .sum();
        eprintln!(
            "  packets {day_bytes} B in {} files; pcap.zst {pcap_zst} B; packets/pcap.zst = {:.3}; flows {flows} B more ({:.3} with them)",
            files.len(),
            day_bytes as f64 / pcap_zst as f64,
            (day_bytes + flows) as f64 / pcap_zst as f64
        );
        let total = needle(&lake, "SELECT count(*) FROM packets").await;
        assert_eq!(total.0, 1);
        for (q, sql) in &queries {
            let t = Instant::now();
            let (n, scanned) = needle(&lake, sql).await;
            assert!(n > 0, "{q} finds rows");
            eprintln!(
                "  {q}: {n} rows ({:.2}% of {rows}), read {scanned} B = {:.2}% of the day, {:.0?}",
                100.0 * n as f64 / rows as f64,
                100.0 * scanned as f64 / day_bytes as f64,
                t.elapsed()
            );
        }
    }
}
