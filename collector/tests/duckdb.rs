//! DuckDB (PyPI), an engine nobody here wrote, reads the lake: a local lake
//! and the same packets on S3 (moto, through fsspec's s3fs because DuckDB's
//! httpfs extension is downloaded from the internet, which is not reachable
//! here). With Hive partitioning it must see the schema's columns with
//! Athena-safe types (timestamps with time zone, no unsigned integers,
//! strings for addresses, string partition keys) and the same rows as
//! `mirrorlake-aggregator query`.
//!
//! The virtualenv (`duckdb`, `s3fs`) is made under
//! `~/.cache/mirrorlake/venv-duckdb` on first use.

use crate::s3::{import, moto_env, query, unique_lake, write_pcap};
use crate::support::repo_root;
use mirrorlake_schema::columns::{Kind, PACKET_COLUMNS, PARTITION_COLUMNS};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const PACKAGES: &[&str] = &["duckdb==2.0.1", "s3fs==2026.9.0"];

/// The venv's python with duckdb and s3fs, made when missing.
pub(crate) fn duckdb_python() -> PathBuf {
    crate::support::python_venv(
        "venv-duckdb",
        PACKAGES,
        "import duckdb, s3fs, sys; sys.exit(duckdb.__version__ != '2.0.1')",
    )
}

/// What DuckDB sees in `lake`.
fn duckdb_view(lake: &str, env: &[(String, String)]) -> Value {
    let out = Command::new(duckdb_python())
        .arg(repo_root().join("collector/tests/compat/duckdb_check.py"))
        .arg(lake)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run duckdb_check.py");
    assert!(
        out.status.success(),
        "duckdb could not read {lake}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("duckdb_check.py prints JSON")
}

fn duckdb_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Timestamp => "TIMESTAMP WITH TIME ZONE",
        Kind::String => "VARCHAR",
        Kind::Int32 => "INTEGER",
        Kind::Int64 => "BIGINT",
        Kind::Bool => "BOOLEAN",
        Kind::Binary => "BLOB",
    }
}

#[test]
fn duckdb_reads_local_and_s3_lakes_like_mirrorlake() {
    let env = moto_env();
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("mirror.pcap");
    write_pcap(&pcap, 3000, 20);
    let local = dir.path().join("lake");
    let local = local.to_str().expect("utf8").to_owned();
    let s3 = unique_lake("duckdb");
    let want_types: Vec<Value> = PACKET_COLUMNS
        .iter()
        .chain(PARTITION_COLUMNS)
        .map(|c| serde_json::json!([c.name, duckdb_type(c.kind)]))
        .collect();
    for lake in [local.as_str(), s3.as_str()] {
        let out = import(lake, env, &pcap);
        assert!(
            out.status.success(),
            "import into {lake}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = duckdb_view(lake, env);
        eprintln!(
            "duckdb {} read {lake}: {} rows",
            d["duckdb"].as_str().unwrap_or("?"),
            d["count"]
        );
        assert_eq!(
            d["types"].as_array().expect("types"),
            &want_types,
            "column names and types as DuckDB reads them ({lake})"
        );
        let types = d["types"].to_string();
        for unsigned in ["UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"] {
            assert!(!types.contains(unsigned), "{unsigned} in {types}");
        }

        let ours = query(
            lake,
            env,
            "SELECT count(*) AS n, sum(wire_len) AS b, count(DISTINCT community_id) AS f, \
             CAST(min(ts) AS BIGINT) AS lo, CAST(max(ts) AS BIGINT) AS hi, \
             count(DISTINCT src_ip) AS ips FROM packets",
        );
        let row: Vec<i64> = ours
            .lines()
            .nth(1)
            .expect("row")
            .split(',')
            .map(|v| v.parse().expect("number"))
            .collect();
        let theirs: Vec<i64> = [
            "count",
            "bytes",
            "flows",
            "ts_min_us",
            "ts_max_us",
            "src_ips",
        ]
        .iter()
        .map(|k| d[*k].as_i64().unwrap_or_else(|| panic!("{k}: {d}")))
        .collect();
        assert_eq!(theirs, row, "DuckDB and mirrorlake agree on {lake}");
        assert_eq!(row[0], 3000);

        let ours: Vec<Value> = query(
            lake,
            env,
            "SELECT dt, hour, count(*) AS n FROM packets GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            serde_json::json!([f[0], f[1], f[2].parse::<i64>().expect("n")])
        })
        .collect();
        assert!(ours.len() >= 2, "the capture spans two hours");
        assert_eq!(
            d["per_hour"].as_array().expect("per_hour"),
            &ours,
            "rows per dt/hour partition ({lake})"
        );
    }
}
