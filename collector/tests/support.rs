//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The collector binary built for these tests.
pub fn collector_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mirrorlake-collector")
}

/// The aggregator binary (built by the workspace build into the same folder).
pub fn aggregator_bin() -> PathBuf {
    Path::new(collector_bin()).with_file_name("mirrorlake-aggregator")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/testdata` beside the clone, when present.
pub fn shared_testdata() -> Option<PathBuf> {
    let p = repo_root().join("../shared/testdata");
    p.is_dir().then_some(p)
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `mirrorlake-aggregator query --format csv` and returns the CSV text.
pub fn query_csv(lake: &Path, sql: &str) -> String {
    let out = Command::new(aggregator_bin())
        .args(["query", "--format", "csv", "--lake"])
        .arg(lake)
        .arg(sql)
        .output()
        .expect("run aggregator query");
    assert!(
        out.status.success(),
        "query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}
