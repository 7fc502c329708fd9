//! The forensic named queries Terraform installs in Athena
//! (`terraform/modules/lake/queries/*.sql`, one copy) run here against a
//! small lake, with the example parameters from each file's `-- Example:`
//! line, and must return the rows the fixture was built to produce: a
//! renamed column, a wrong predicate or a dialect slip fails the test.

use crate::forensic;
use arrow::array::RecordBatch;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use mirrorlake_aggregator::query;
use mirrorlake_lake::{FileConfig, Lake, LakeWriter, RollPolicy, SequenceNamer};
use mirrorlake_schema::{PacketBatchBuilder, RowMeta};
use mirrorlake_wire::{decode_vxlan_payload, emit_vxlan_payload};
use std::path::PathBuf;
use std::time::Instant;

pub fn queries_dir() -> PathBuf {
    mirrorlake_schema::manifest_dir!().join("../terraform/modules/lake/queries")
}

/// Writes the fixture into `lake`; returns the Community ID of the web flow.
async fn write_fixture(lake: &Lake) -> String {
    let mut b = PacketBatchBuilder::with_capacity("fixture", 16, 4096);
    let mut cid = String::new();
    for (i, (at, frame)) in forensic::packets().iter().enumerate() {
        let mut dgram = Vec::new();
        emit_vxlan_payload(forensic::VNI, frame, &mut dgram);
        let d = decode_vxlan_payload(&dgram, Some(forensic::eni())).expect("decode");
        if i == 0 {
            cid = d.community_id().expect("cid").to_string();
        }
        b.append(&d, RowMeta::new(*at, i as i64));
    }
    let batch = b.finish().expect("rows").expect("batch");
    let mut w = LakeWriter::new(
        lake.clone(),
        FileConfig::default(),
        RollPolicy::default(),
        Box::new(SequenceNamer::new("fixture", 1)),
    );
    w.write(&batch, Instant::now()).await.expect("write");
    w.close_all().await.expect("close");
    cid
}

/// The example parameters of a query file (`-- Example: a, b, ...`): split
/// at top-level commas outside quotes and parentheses.
pub fn example_params(sql: &str) -> Vec<String> {
    let line = sql
        .lines()
        .find_map(|l| l.strip_prefix("-- Example:"))
        .expect("every named query has an `-- Example:` line with its parameters");
    let (mut params, mut cur, mut quoted, mut depth) = (Vec::new(), String::new(), false, 0);
    for ch in line.chars() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                params.push(std::mem::take(&mut cur).trim().to_owned());
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    params.push(cur.trim().to_owned());
    params
}

/// The query with each `?` placeholder (found by the SQL tokenizer, so not
/// in strings or comments) replaced by the next example parameter.
pub fn bind(sql: &str, params: &[String]) -> String {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .expect("tokenize query");
    // Byte offset of each (1-based) line start.
    let mut line_starts = vec![0];
    line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
    let mut at = Vec::new();
    for t in tokens {
        if matches!(&t.token, Token::Placeholder(p) if p == "?") {
            let l = t.span.start.line as usize;
            let line = &sql[line_starts[l - 1]..];
            let col = t.span.start.column as usize;
            let byte = line
                .char_indices()
                .nth(col - 1)
                .map_or(line.len(), |(i, _)| i);
            at.push(line_starts[l - 1] + byte);
        }
    }
    assert_eq!(at.len(), params.len(), "one example value per ?");
    let mut out = sql.to_owned();
    for (pos, value) in at.iter().zip(params).rev() {
        out.replace_range(*pos..*pos + 1, value);
    }
    out
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test]
async fn named_queries_run_on_a_lake_and_find_the_fixture() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
    let cid = write_fixture(&lake).await;

    // Rows each query must return on the fixture with its example parameters.
    let expected: &[(&str, usize)] = &[
        // SYN, SYN-ACK, ACK, two data packets, the RST an hour later.
        ("flow_by_community_id.sql", 6),
        // The SSH SYN; the SYN to 443 is on another port.
        ("new_tcp_connections_to_port.sql", 1),
        // Hours 10, 11, 12: 4 pairs + 1 + 1.
        ("top_talkers_per_hour.sql", 6),
        // Both directions of the web flow, the SSH attempt, two resolvers.
        ("who_talked_to_ip.sql", 5),
        // 10:00-10:30: the five first web packets and three DNS packets.
        ("ip_packets_in_time_range.sql", 8),
        // The same eight: the fixture is all mirrored from ENI 10.0.1.23.
        ("eni_packets_in_time_range.sql", 8),
        // The web server's RST; the one on 2024-05-02 is out of range.
        ("tcp_resets.sql", 1),
        // 8.8.8.8 only; the VPC resolver is expected.
        ("dns_to_unusual_resolvers.sql", 1),
        // The same pairs as top_talkers_per_hour (checked row for row below).
        ("flow_top_talkers_per_hour.sql", 6),
        // Web (its rows of hours 10 and 11 grouped into one), SSH, two DNS flows.
        ("flow_conversations_of_ip.sql", 4),
    ];
    let mut files: Vec<String> = std::fs::read_dir(queries_dir())
        .expect("queries dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    files.sort();
    let mut named: Vec<String> = expected.iter().map(|(n, _)| (*n).to_owned()).collect();
    named.sort();
    assert_eq!(
        files, named,
        "every query file needs an expectation here (and fixture rows it finds)"
    );

    let mut results = std::collections::BTreeMap::new();
    for (name, want) in expected {
        let sql = std::fs::read_to_string(queries_dir().join(name)).expect("read query");
        assert!(
            sql.lines().next().is_some_and(|l| l.starts_with("-- ")),
            "{name}: the first line is the description Terraform uses"
        );
        assert!(
            !sql.contains('$'),
            "{name}: plain table names, no template placeholders"
        );
        let params = example_params(&sql);
        if *name == "flow_by_community_id.sql" {
            assert_eq!(
                params[0],
                format!("'{cid}'"),
                "{name}: the example Community ID must be the fixture's web flow"
            );
        }
        let bound = bind(&sql, &params);
        let batches = query::run(&lake, &bound)
            .await
            .unwrap_or_else(|e| panic!("{name} fails on DataFusion: {e:#}\n{bound}"));
        let got = rows(&batches);
        let mut shown = Vec::new();
        query::render(&batches, query::Format::Json, &mut shown).expect("render");
        assert_eq!(
            got,
            *want,
            "{name}: rows\n{}",
            String::from_utf8_lossy(&shown)
        );
        results.insert(*name, String::from_utf8_lossy(&shown).into_owned());
    }
    assert_eq!(
        results["flow_top_talkers_per_hour.sql"], results["top_talkers_per_hour.sql"],
        "the flows table must answer top talkers exactly as the packets table"
    );
    let web = results["flow_conversations_of_ip.sql"]
        .lines()
        .find(|l| l.contains(&cid))
        .unwrap_or_default()
        .to_owned();
    for want in [
        "\"packets\":6",
        "\"tcp_flags\":30",
        "\"srcport\":40000",
        "\"first_seen\":\"2024-05-01T10:00:00",
        "\"last_seen\":\"2024-05-01T11:00:00",
    ] {
        assert!(web.contains(want), "web flow lacks {want}: {web}");
    }
}

#[test]
fn bind_replaces_placeholders_outside_strings_and_comments() {
    let sql = "-- is it? yes\nSELECT '?' AS q, x FROM t WHERE a = ? AND b BETWEEN ? AND ?";
    let params = example_params("-- Example: 'a''b', 22, TIMESTAMP '2024-05-01 10:00:00'");
    assert_eq!(params, ["'a''b'", "22", "TIMESTAMP '2024-05-01 10:00:00'"]);
    assert_eq!(
        bind(sql, &params),
        "-- is it? yes\nSELECT '?' AS q, x FROM t WHERE a = 'a''b' AND b BETWEEN 22 AND TIMESTAMP '2024-05-01 10:00:00'"
    );
}
