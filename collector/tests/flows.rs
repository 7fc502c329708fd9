//! The `flows` table equals an independent reference: DuckDB recomputes
//! every flow window from the `packets` table with a GROUP BY
//! (`compat/duckdb_flows.py`) and must find exactly the rows mirrorlake
//! wrote, once the partial rows of a window (one per lake file) are merged.
//!
//! Inputs: a generated mirror capture imported twice by two importers (so
//! every flow is split over files and the merge is exercised), the real
//! captures of `captures/make.sh` and tcpdump's corpus (`../shared/testdata`,
//! malformed on purpose) where they can be had; a `SKIP:` line says when not.

use crate::duckdb::duckdb_python;
use crate::s3::write_pcap;
use crate::support::{self, import, repo_root};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn flows_equal_a_duckdb_group_by_over_the_packets() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let pcap = dir.path().join("mirror.pcap");
    write_pcap(&pcap, 3000, 20);
    import(&lake, "importer-a", std::slice::from_ref(&pcap));
    import(&lake, "importer-b", std::slice::from_ref(&pcap));
    let mut inputs = vec!["generated mirror capture (twice)".to_owned()];
    match support::real_captures() {
        Ok((d, _)) => {
            let files: Vec<PathBuf> = [
                "plain.pcap",
                "tunnelled.pcap",
                "truncated.pcap",
                "tunnelled.pcapng",
            ]
            .iter()
            .map(|f| d.join(f))
            .collect();
            import(&lake, "real", &files);
            inputs.push("real captures".into());
        }
        Err(why) => support::skip("flows of the real captures", &why, None),
    }
    match support::tcpdump_corpus() {
        Some(files) => {
            import(&lake, "corpus", &files);
            inputs.push(format!("tcpdump corpus ({} files)", files.len()));
        }
        None => support::skip(
            "flows of the tcpdump corpus",
            "../shared/testdata not present",
            None,
        ),
    }

    let out = Command::new(duckdb_python())
        .arg(repo_root().join("collector/tests/compat/duckdb_flows.py"))
        .arg(&lake)
        .output()
        .expect("run duckdb_flows.py");
    assert!(
        out.status.success(),
        "duckdb_flows.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    eprintln!("flows vs DuckDB over {}: {v}", inputs.join(", "));
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert_eq!(n("mismatches"), 0, "flows differ from the reference: {v}");
    assert_eq!(
        n("misplaced_rows"),
        0,
        "rows outside their window's partition: {v}"
    );
    // The generated capture alone has 2 x 3,000 IP packets.
    assert!(n("ip_packets") >= 6000, "{v}");
    assert!(
        n("flows_rows") > n("flow_windows"),
        "two importers split every window over two files: {v}"
    );
}
