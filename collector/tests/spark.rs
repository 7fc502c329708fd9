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
//! The lake: `support::compat_lake` (the mirrored traffic of
//! `s3::write_pcap` and the forensic fixture of
//! `aggregator/tests/named_queries.rs`, so every named query returns rows),
//! which the Trino test (trino.rs) reads too.
//!
//! The virtualenv (`pyspark`) is made under `~/.cache/mirrorlake/venv-spark`
//! on first use and, like the DuckDB test's, its install failing fails the
//! test. Spark needs Java 17 or newer: without it the test prints `SKIP:`,
//! unless `MIRRORLAKE_REQUIRE_SPARK=1` or `MIRRORLAKE_REQUIRE_ALL=1`, which
//! make that a failure too.

use crate::support::{assert_compat_passed, compat_lake, python_venv};
use std::path::{Path, PathBuf};
use std::process::Command;

const PYSPARK: &str = "pyspark==4.3.0";

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

#[test]
fn spark_sql_runs_the_athena_ddl_and_named_queries_like_mirrorlake() {
    match java_major() {
        Ok(v) if v >= 17 => {}
        other => {
            let why = match other {
                Ok(v) => format!("Java {v} found, Spark 4 needs 17 or newer"),
                Err(e) => format!("no Java ({e})"),
            };
            crate::support::skip(
                "Spark SQL compatibility",
                &format!("{why} (deploy/test.sh installs it as root)"),
                Some("MIRRORLAKE_REQUIRE_SPARK"),
            );
            return;
        }
    }
    let python = spark_python();

    let dir = tempfile::tempdir().expect("tmp");
    let started = std::time::Instant::now();
    let out = compat_lake(dir.path()).check(python.as_os_str(), "spark_check.py", &[]);
    eprintln!(
        "spark_check.py ({:.0} s):\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_compat_passed(
        "Spark SQL",
        &out,
        &[
            "DDL    CREATE EXTERNAL TABLE {table}:",
            "stmt   MSCK REPAIR TABLE {table}:",
            "schema {table} columns and types:",
            "read   {table} every column:",
            "count  {table} rows per dt/hour:",
        ],
        "",
    );
}
