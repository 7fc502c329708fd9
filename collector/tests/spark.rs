//! Spark SQL with Hive support (PySpark from PyPI, its embedded Hive
//! metastore on Derby), an engine nobody here wrote, runs what we hand to
//! Athena: the DDL of `mirrorlake-aggregator ddl --format athena` (both
//! tables), `MSCK REPAIR TABLE`, and the named forensic queries of
//! `terraform/modules/lake/queries` with their `-- Example:` parameters, on a
//! local lake; and must see the DDL's columns and types, the rows we wrote,
//! and the same query results as `mirrorlake-aggregator query`.
//!
//! `compat/spark_check.py` does the work in one SparkSession and prints what
//! passed and every rewrite it needed (Spark runs each statement as generated
//! first; the lake is local, so the `s3://` LOCATION becomes `file://`, and
//! the Trino-only syntax of some queries is rewritten to Spark's).
//!
//! The lake: the mirrored traffic of `s3::write_pcap` (two hours of
//! 2025-11-24) and the forensic fixture of `aggregator/src/named_queries.rs`
//! (2024-05-01, the day of the queries' example parameters), so every named
//! query returns rows.
//!
//! The virtualenv (`pyspark`) is made under `~/.cache/mirrorlake/venv-spark`
//! on first use and, like the DuckDB test's, its install failing fails the
//! test. Spark needs Java 17 or newer: without it the test prints `SKIP:`,
//! unless `MIRRORLAKE_REQUIRE_SPARK=1`, which makes that a failure too.

use crate::s3::write_pcap;
use crate::support::{aggregator_bin, import, python_venv, query_count, repo_root};
use mirrorlake_wire::{FrameRepr, TransportRepr, emit_outer_frame};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const PYSPARK: &str = "pyspark==4.3.0";

/// 2024-05-01T10:00:00Z in microseconds (as in named_queries.rs).
const T0: i64 = 1_714_557_600_000_000;
const MIN: i64 = 60_000_000;

/// The venv's python with pyspark, made when missing.
fn spark_python() -> PathBuf {
    python_venv(
        "venv-spark",
        &[PYSPARK],
        "import pyspark, sys; sys.exit(pyspark.__version__ != '4.3.0')",
    )
}

/// The major version of the `java` Spark would start (`$JAVA_HOME/bin/java`,
/// else `java` on PATH), or why there is none.
fn java_major() -> Result<u32, String> {
    let java = std::env::var_os("JAVA_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("java"), |h| Path::new(&h).join("bin/java"));
    let out = Command::new(&java)
        .arg("-version")
        .output()
        .map_err(|e| format!("{}: {e}", java.display()))?;
    // `openjdk version "17.0.15" 2025-04-15`, or `java version "1.8.0_412"`.
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let version = text
        .split('"')
        .nth(1)
        .ok_or_else(|| format!("no version in `java -version`: {text}"))?;
    let mut parts = version.split(['.', '_', '-', '+']);
    let first = parts.next().unwrap_or_default();
    let major = if first == "1" {
        parts.next().unwrap_or_default()
    } else {
        first
    };
    major
        .parse()
        .map_err(|_| format!("unreadable java version {version:?}"))
}

fn tcp(src_port: u16, dst_port: u16, flags: u16) -> TransportRepr {
    TransportRepr::Tcp {
        src_port,
        dst_port,
        seq: 1,
        ack: 1,
        flags,
        window: 500,
    }
}

fn udp(src_port: u16, dst_port: u16) -> TransportRepr {
    TransportRepr::Udp { src_port, dst_port }
}

/// Writes the named queries' fixture (named_queries.rs) as a capture of
/// mirror traffic of ENI 10.0.1.23, VNI 7: a web flow of 10.0.1.23 ending in
/// a reset, an SSH attempt at it, DNS to the VPC resolver and to 8.8.8.8,
/// and unrelated traffic a day later. Returns the number of packets.
fn write_forensic_pcap(path: &Path) -> usize {
    let (c, s) = ("10.0.1.23", "10.0.2.50");
    let packets = [
        (T0, c, s, tcp(40000, 443, 0x02)),
        (T0 + 1000, s, c, tcp(443, 40000, 0x12)),
        (T0 + 2000, c, s, tcp(40000, 443, 0x10)),
        (T0 + 3000, c, s, tcp(40000, 443, 0x18)),
        (T0 + 4000, s, c, tcp(443, 40000, 0x18)),
        (T0 + 60 * MIN, s, c, tcp(443, 40000, 0x04)),
        (T0 + 120 * MIN, "10.0.3.7", c, tcp(50000, 22, 0x02)),
        (T0 + 5 * MIN, c, "10.0.0.2", udp(5353, 53)),
        (T0 + 6 * MIN, c, "8.8.8.8", udp(5354, 53)),
        (T0 + 7 * MIN, c, "8.8.8.8", udp(5354, 53)),
        // 2024-05-02 05:xx: outside every example range.
        (T0 + 19 * 60 * MIN, "10.9.9.9", "10.9.9.8", tcp(1, 22, 0x04)),
    ];
    let n = packets.len();
    let eni: IpAddr = c.parse().expect("ip");
    let mut w = mirrorlake_pcap::PcapWriter::new(
        std::io::BufWriter::new(std::fs::File::create(path).expect("create")),
        1,
        65535,
    )
    .expect("header");
    for (at, src, dst, transport) in packets {
        let mut inner = Vec::new();
        FrameRepr {
            src_mac: [2; 6],
            dst_mac: [4; 6],
            vlans: [None, None],
            src: src.parse().expect("ip"),
            dst: dst.parse().expect("ip"),
            ttl: 64,
            transport,
            payload: b"forensics",
        }
        .emit(&mut inner)
        .expect("emit");
        let mut outer = Vec::new();
        emit_outer_frame(eni, [127, 0, 0, 1].into(), 50000, 7, &inner, &mut outer).expect("emit");
        w.write(at, outer.len() as u32, &outer).expect("record");
    }
    w.into_inner().expect("flush");
    n
}

#[test]
fn spark_sql_runs_the_athena_ddl_and_named_queries_like_mirrorlake() {
    let required = std::env::var("MIRRORLAKE_REQUIRE_SPARK").is_ok_and(|v| v == "1");
    match java_major() {
        Ok(v) if v >= 17 => {}
        other => {
            let why = match other {
                Ok(v) => format!("Java {v} found, Spark 4 needs 17 or newer"),
                Err(e) => format!("no Java ({e})"),
            };
            assert!(!required, "MIRRORLAKE_REQUIRE_SPARK=1 but {why}");
            eprintln!("SKIP: Spark SQL compatibility: {why} (deploy/test.sh installs it as root)");
            return;
        }
    }
    let python = spark_python();

    let dir = tempfile::tempdir().expect("tmp");
    let bulk = dir.path().join("mirror.pcap");
    write_pcap(&bulk, 3000, 20);
    let forensic = dir.path().join("forensic.pcap");
    let fixture = write_forensic_pcap(&forensic);
    let lake = dir.path().join("lake");
    import(&lake, "spark", &[bulk, forensic]);
    let packets = query_count(&lake, "SELECT count(*) AS n FROM packets");
    assert_eq!(packets, 3000 + fixture as i64, "every packet imported");
    let flows = query_count(&lake, "SELECT count(*) AS n FROM flows");
    assert!(flows > 0, "the import wrote flows");

    // `ddl` prints S3 locations only (Athena reads S3); the script makes the
    // one rewrite Spark needs here, to file://, and says so.
    let out = Command::new(aggregator_bin())
        .args([
            "ddl",
            "--format",
            "athena",
            "--location",
            "s3://mirrorlake-spark-check/lake",
        ])
        .output()
        .expect("run aggregator ddl");
    assert!(
        out.status.success(),
        "ddl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ddl = dir.path().join("tables.sql");
    std::fs::write(&ddl, &out.stdout).expect("write ddl");

    let started = std::time::Instant::now();
    let queries = repo_root().join("terraform/modules/lake/queries");
    let out = Command::new("timeout")
        .arg("600")
        .arg(&python)
        .arg(repo_root().join("collector/tests/compat/spark_check.py"))
        .arg("--lake")
        .arg(&lake)
        .arg("--ddl")
        .arg(&ddl)
        .arg("--aggregator")
        .arg(aggregator_bin())
        .arg("--queries")
        .arg(&queries)
        .arg(format!("--expect=packets={packets}"))
        .arg(format!("--expect=flows={flows}"))
        .output()
        .expect("run spark_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "spark_check.py ({:.0} s):\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "Spark SQL disagrees with mirrorlake or rejects its SQL ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // The script passed; it must also have done everything it says.
    for table in ["packets", "flows"] {
        for want in [
            format!("PASS  DDL    CREATE EXTERNAL TABLE {table}:"),
            format!("PASS  stmt   MSCK REPAIR TABLE {table}:"),
            format!("PASS  schema {table} columns and types:"),
            format!("PASS  read   {table} every column:"),
            format!("PASS  count  {table} rows per dt/hour:"),
        ] {
            assert!(stdout.contains(&want), "no `{want}` in:\n{stdout}");
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&queries)
        .expect("queries dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no named queries");
    for name in &names {
        let want = format!("PASS  query  {name}:");
        assert!(stdout.contains(&want), "no `{want}` in:\n{stdout}");
    }
}
