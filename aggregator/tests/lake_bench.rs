//! Benchmark (not a timed test; ignored by default): a synthetic day of
//! mirror traffic from N mirrored ENIs, written as hourly files (steady
//! traffic) and as 50-second files then `compact`ed (light traffic), then
//! needle queries written as the named queries write them:
//! (a) bytes DataFusion reads (its Parquet scan metric `bytes_scanned`) and,
//!     when a Trino server is given, bytes Trino 476 (the engine Athena v3
//!     forks) reads (`physicalInputDataSize`), with the column index on and
//!     off, against the day's Parquet bytes;
//! (b) lake bytes against the same inner frames as a zstd-3 pcap.
//!
//! ```text
//! cargo test --release --locked --workspace -- --ignored --nocapture lake_bench
//! MIRRORLAKE_BENCH_PACKETS=200000     # smaller day (default 1,000,000)
//! MIRRORLAKE_BENCH_ENIS=1000          # mirrored ENIs (default 40; 100 flows each)
//! MIRRORLAKE_BENCH_TRINO=http://127.0.0.1:18080   # also on Trino (deploy/local/trino.sh start)
//! MIRRORLAKE_BENCH_LAYOUTS=0,1        # only these layouts (0 hourly, 1 50 s + compact, 2 hourly + compact, 3 one group per 32 MiB)
//! MIRRORLAKE_BENCH_KEEP=1             # keep each layout's lake (its directory is printed)
//! MIRRORLAKE_BENCH_MIN_GROUP_KIB=128   # another min_row_group_bytes (default the writers')
//! ```
//! Figures are recorded in `docs/benchmarks.md`.

use crate::fixture::{Mirror, Rng};
use datafusion::physical_plan::collect;
use mirrorlake_lake::{FileConfig, Lake, LakeWriter, RollPolicy, SequenceNamer};
use mirrorlake_schema::PacketBatchBuilder;
use mirrorlake_wire::TransportRepr;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// 2026-01-15T00:00:00Z in microseconds.
const DAY0_US: i64 = 1_768_435_200_000_000;
const DAY_US: i64 = 86_400_000_000;
/// Flows per mirrored ENI.
const FLOWS_PER_ENI: u32 = 100;

/// The address of mirrored ENI `e` (up to 50,000 of them).
fn eni(e: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (e / 200) as u8, 10 + (e % 200) as u8)
}

/// The peer of flow `f`: one public address per 250 flows' worth of
/// `f % 10 == 3` (shared by many flows), else an address of its own.
fn peer(f: u32) -> Ipv4Addr {
    if f % 10 == 3 {
        Ipv4Addr::new(203, 0, 113, (f % 250) as u8 + 1)
    } else {
        Ipv4Addr::new(
            10,
            1 + (f / 62_500) as u8,
            ((f / 250) % 250) as u8,
            (f % 250) as u8 + 1,
        )
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

/// Writes the day of `enis` mirrored ENIs into `lake` with `config`, files
/// closed `roll` after they open (in the day's time); returns (rows, zstd
/// pcap bytes).
async fn write_day(
    lake: &Lake,
    config: FileConfig,
    packets: u64,
    enis: u32,
    roll: Duration,
) -> (u64, u64) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let flows = enis * FLOWS_PER_ENI;
    let mut w = LakeWriter::new(
        lake.clone(),
        config,
        RollPolicy {
            max_file_bytes: 128 << 20,
            max_file_age: roll,
        },
        Box::new(SequenceNamer::new("bench", 1)),
    );
    // The writer's clock runs with the day's timestamps.
    let clock = Instant::now();
    let at = |ts: i64| clock + Duration::from_micros((ts - DAY0_US) as u64);
    let mut pcap = zstd::stream::write::Encoder::new(Counter(0), 3).expect("zstd");
    // pcap global header: magic, 2.4, tz 0, sigfigs 0, snaplen 65535, Ethernet.
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        pcap.write_all(&v.to_le_bytes()).expect("pcap");
    }
    let mut b = PacketBatchBuilder::with_capacity("bench", 8192, 8 << 20);
    let mut mirror = Mirror::default();
    let mut payload = vec![0u8; 1400];
    let t0 = Instant::now();
    let mut batch_start = DAY0_US;
    for i in 0..packets {
        let ts = DAY0_US + (i as i64) * (DAY_US / packets as i64);
        let f = rng.below(u64::from(flows)) as u32;
        let e = f % enis;
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
        // Batches are cut as the collector cuts them: by size, or by age
        // (its batcher's `max_age_ms`, a second).
        if b.len() >= 8192 || ts - batch_start >= 1_000_000 {
            let batch = b.finish().expect("rows").expect("batch");
            w.write(&batch, at(ts)).await.expect("write");
            w.poll(at(ts)).await.expect("roll");
            batch_start = ts;
        }
    }
    if let Some(batch) = b.finish() {
        w.write(&batch.expect("batch"), at(DAY0_US + DAY_US))
            .await
            .expect("write");
    }
    w.close_all().await.expect("close");
    let pcap_bytes = pcap.finish().expect("zstd").0;
    eprintln!("  wrote {packets} packets in {:.1?}", t0.elapsed());
    (packets, pcap_bytes)
}

/// Sizes of the Parquet files under `dir`.
pub fn parquet_files(dir: &std::path::Path) -> Vec<u64> {
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

/// Where the bytes of the Parquet files under `dir` go: data pages,
/// dictionary pages, bloom filters, column and offset indexes, footers; and
/// the row groups they hold.
fn composition(dir: &std::path::Path) -> ([u64; 5], usize) {
    let mut parts = [0u64; 5];
    let mut groups = 0;
    let mut paths = vec![dir.to_path_buf()];
    while let Some(p) = paths.pop() {
        if p.is_dir() {
            paths.extend(
                std::fs::read_dir(&p)
                    .expect("read dir")
                    .map(|e| e.expect("entry").path()),
            );
            continue;
        }
        if p.extension().is_none_or(|x| x != "parquet") {
            continue;
        }
        let bytes = std::fs::read(&p).expect("read file");
        let n = bytes.len();
        let footer = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().expect("len")) as usize;
        parts[4] += footer as u64 + 8;
        let md = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(
            &bytes[n - 8 - footer..n - 8],
        )
        .expect("footer");
        for rg in md.row_groups() {
            groups += 1;
            for c in rg.columns() {
                let dict = c
                    .dictionary_page_offset()
                    .map_or(0, |d| (c.data_page_offset() - d) as u64);
                parts[1] += dict;
                parts[0] += c.compressed_size() as u64 - dict;
                parts[2] += c.bloom_filter_length().unwrap_or(0) as u64;
                parts[3] += (c.column_index_length().unwrap_or(0)
                    + c.offset_index_length().unwrap_or(0)) as u64;
            }
        }
    }
    (parts, groups)
}

/// Runs `sql`; returns (rows, bytes_scanned).
pub async fn needle(lake: &Lake, sql: &str) -> (usize, usize) {
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

/// Bytes Trino read for `sql` over `lake` (`physicalInputDataSize`), with
/// the column index on or off, and the rows it returned; through
/// `collector/tests/compat/trino_lake.py` (which registers the lake's tables
/// from our DDL).
fn trino_bytes(server: &str, lake: &std::path::Path, sql: &str, column_index: bool) -> (u64, u64) {
    let ddl: String = mirrorlake_schema::columns::TABLES
        .iter()
        .map(|t| {
            mirrorlake_aggregator::ddl::TableSpec {
                location: "s3://bench/lake".into(),
                database: None,
                table: t.name.into(),
                projection_start: "2026-01-01".into(),
            }
            .athena()
            .expect("ddl")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ddl_file = lake.with_extension("ddl.sql");
    std::fs::write(&ddl_file, ddl).expect("write ddl");
    let script = mirrorlake_schema::manifest_dir!().join("../collector/tests/compat/trino_lake.py");
    let mut c = std::process::Command::new("python3");
    c.arg(script)
        .args(["--server", server, "--lake"])
        .arg(lake)
        .arg("--ddl")
        .arg(&ddl_file);
    if !column_index {
        c.arg("--no-column-index");
    }
    let out = c.arg(sql).output().expect("run trino_lake.py");
    assert!(
        out.status.success(),
        "trino_lake.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v["rows"].as_array().map_or(0, Vec::len) as u64;
    (v["physical_input_bytes"].as_u64().expect("bytes"), rows)
}

/// The files of each hour partition of `table` under `dir`: (min, max).
fn files_per_hour(dir: &std::path::Path, table: &str) -> (usize, usize) {
    let mut per_hour = std::collections::BTreeMap::<std::path::PathBuf, usize>::new();
    for day in std::fs::read_dir(dir.join(table)).expect("table dir") {
        for hour in std::fs::read_dir(day.expect("day").path()).expect("day dir") {
            let hour = hour.expect("hour").path();
            let n = std::fs::read_dir(&hour)
                .expect("hour dir")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet"))
                })
                .count();
            per_hour.insert(hour, n);
        }
    }
    (
        per_hour.values().copied().min().unwrap_or(0),
        per_hour.values().copied().max().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture lake_bench"]
async fn lake_bench() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let packets = env("MIRRORLAKE_BENCH_PACKETS", 1_000_000);
    let enis = env("MIRRORLAKE_BENCH_ENIS", 40) as u32;
    let trino = std::env::var("MIRRORLAKE_BENCH_TRINO").ok();
    let x = eni(7).to_string();
    // A peer of one flow of ENI 34 % enis (flow 1234 + a multiple of enis).
    let flow = 1234 % (enis * FLOWS_PER_ENI);
    let y = peer(flow).to_string();
    let day = "dt = '2026-01-15'";
    // Each needle as the named queries write it (an address: UNION ALL of
    // one-column predicates, which Trino pushes into the Parquet reader),
    // and the OR form they replace, for comparison.
    let address = |a: &str| {
        format!(
            "SELECT * FROM packets WHERE {day} AND src_ip = '{a}' \
             UNION ALL SELECT * FROM packets WHERE {day} AND dst_ip = '{a}' AND src_ip <> '{a}'"
        )
    };
    let or_form = |a: &str| {
        format!("SELECT * FROM packets WHERE {day} AND (src_ip = '{a}' OR dst_ip = '{a}')")
    };
    eprintln!(
        "synthetic day: {packets} packets, {enis} mirrored ENIs, {} flows; needles {x} (ENI), {y} (peer), the Community ID of flow {flow}",
        enis * FLOWS_PER_ENI
    );
    // MIRRORLAKE_BENCH_MIN_GROUP_KIB: another min_row_group_bytes to try.
    let files = match env("MIRRORLAKE_BENCH_MIN_GROUP_KIB", 0) as usize {
        0 => FileConfig::default(),
        kib => FileConfig {
            min_row_group_bytes: kib * 1024,
            ..FileConfig::default()
        },
    };
    let layouts = [
        (
            "hourly files (steady traffic)",
            files.clone(),
            Duration::from_secs(3600 * 48),
            false,
        ),
        (
            "50 s files, then compact",
            files.clone(),
            Duration::from_secs(50),
            true,
        ),
        (
            "hourly files, then compact --all-files",
            files.clone(),
            Duration::from_secs(3600 * 48),
            true,
        ),
        (
            "hourly files, one row group per 32 MiB (the layout before)",
            FileConfig {
                min_row_group_bytes: 0,
                ..FileConfig::default()
            },
            Duration::from_secs(3600 * 48),
            false,
        ),
    ];
    // MIRRORLAKE_BENCH_LAYOUTS=0,1: only these layouts (default all).
    let only = std::env::var("MIRRORLAKE_BENCH_LAYOUTS").ok();
    for (i, (name, config, roll, compact)) in layouts.into_iter().enumerate() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == i.to_string()))
        {
            continue;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        eprintln!("{name}: {}", dir.path().display());
        let (rows, pcap_zst) = write_day(&lake, config.clone(), packets, enis, roll).await;
        if compact {
            let before = files_per_hour(dir.path(), mirrorlake_lake::TABLE_PACKETS);
            let mut opts =
                mirrorlake_aggregator::compact::Options::new(i64::MAX, 128 << 20, "bench");
            opts.files = config;
            opts.all_files = true;
            let took = std::time::Instant::now();
            mirrorlake_aggregator::compact::compact(&lake, &opts)
                .await
                .expect("compact");
            eprintln!(
                "  files per hour before compact: {} to {}; compact took {:.1}s",
                before.0,
                before.1,
                took.elapsed().as_secs_f64()
            );
        }
        let (fmin, fmax) = files_per_hour(dir.path(), mirrorlake_lake::TABLE_PACKETS);
        // The packets table is what the needles read and what stands for
        // the pcap; the flows table beside it is reported on its own.
        let files = parquet_files(&dir.path().join(mirrorlake_lake::TABLE_PACKETS));
        let day_bytes: u64 = files.iter().sum();
        let flows: u64 = parquet_files(&dir.path().join(mirrorlake_lake::TABLE_FLOWS))
            .iter()
            .sum();
        eprintln!(
            "  packets {day_bytes} B in {} files ({fmin} to {fmax} per hour); pcap.zst {pcap_zst} B; packets/pcap.zst = {:.3}; flows {flows} B more ({:.3} with them)",
            files.len(),
            day_bytes as f64 / pcap_zst as f64,
            (day_bytes + flows) as f64 / pcap_zst as f64
        );
        let (parts, groups) = composition(&dir.path().join(mirrorlake_lake::TABLE_PACKETS));
        let share = |b: u64| 100.0 * b as f64 / day_bytes as f64;
        eprintln!(
            "  {groups} row groups; data pages {:.1}%, dictionaries {:.1}%, bloom filters {:.1}%, column and offset indexes {:.1}%, footers {:.1}%",
            share(parts[0]),
            share(parts[1]),
            share(parts[2]),
            share(parts[3]),
            share(parts[4])
        );
        let total = needle(&lake, "SELECT count(*) FROM packets").await;
        assert_eq!(total.0, 1);
        let cid = mirrorlake_aggregator::query::run(
            &lake,
            &format!("SELECT community_id FROM packets WHERE {day} AND src_ip = '{y}' LIMIT 1"),
        )
        .await
        .expect("community id");
        let cid = arrow::util::display::array_value_to_string(cid[0].column(0), 0).expect("cid");
        let queries = [
            ("ENI by address, UNION ALL", address(&x)),
            (
                "ENI by mirror_source",
                format!("SELECT * FROM packets WHERE {day} AND mirror_source = '{x}'"),
            ),
            ("peer by address, UNION ALL", address(&y)),
            (
                "community_id",
                format!("SELECT * FROM packets WHERE {day} AND community_id = '{cid}'"),
            ),
            ("ENI by address, OR (not used)", or_form(&x)),
            ("peer by address, OR (not used)", or_form(&y)),
        ];
        let pct = |b: u64| 100.0 * b as f64 / day_bytes as f64;
        for (q, sql) in &queries {
            let (n, scanned) = needle(&lake, sql).await;
            assert!(n > 0, "{q} finds rows");
            let mut line = format!(
                "  {q}: {n} rows ({:.2}%); DataFusion reads {:.2}%",
                100.0 * n as f64 / rows as f64,
                pct(scanned as u64)
            );
            if let Some(server) = &trino {
                let (on, rows_on) = trino_bytes(server, dir.path(), sql, true);
                let (off, rows_off) = trino_bytes(server, dir.path(), sql, false);
                assert_eq!(
                    (rows_on, rows_off),
                    (n as u64, n as u64),
                    "{q}: Trino's rows"
                );
                line += &format!(
                    "; Trino reads {:.2}% (column index on), {:.2}% (off)",
                    pct(on),
                    pct(off)
                );
            }
            eprintln!("{line}");
        }
        if std::env::var_os("MIRRORLAKE_BENCH_KEEP").is_some() {
            let _ = dir.keep();
        }
    }
}
