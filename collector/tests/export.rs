//! `mirrorlake-aggregator export`: captures imported into a lake come back
//! out frame for frame (bytes, microsecond timestamps, original length),
//! tshark reads the result without complaint, and a time range with a
//! tcpdump filter returns exactly what tcpdump and tshark select from the
//! original capture.
//!
//! Inputs: the real captures of `captures/make.sh` (needs root, see
//! tshark.rs) and tcpdump's own corpus (`../shared/testdata`, when present).
//! Each test says `SKIP:` when its input cannot be had here (a failure under
//! `MIRRORLAKE_REQUIRE_ALL=1`: `support::skip`).

use crate::support::{self, Pkt, aggregator_bin, capture_packets, import, sorted};
use mirrorlake_pcap::CaptureReader;
use mirrorlake_wire::{Input, decode};
use std::path::Path;
use std::process::Command;

/// The whole time range, for `export`'s `--from`/`--to`.
pub(crate) const ALL_TIME: [&str; 4] = ["--from", "2000-01-01", "--to", "2100-01-01"];

/// Runs export with `args` to `file`; returns its summary line (stderr).
pub(crate) fn export(lake: &Path, file: &Path, args: &[&str]) -> String {
    let out = Command::new(aggregator_bin())
        .args(["export", "--lake"])
        .arg(lake)
        .args(args)
        .arg("-w")
        .arg(file)
        .output()
        .expect("run export");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "export {args:?}: {err}");
    err
}

/// The number before `word` in export's summary.
fn figure(summary: &str, word: &str) -> u64 {
    let at = summary
        .find(word)
        .unwrap_or_else(|| panic!("{word} in {summary}"));
    summary[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("a number before {word} in {summary}"))
}

/// Timestamps (µs) of the frames tshark selects from `file` with a display filter.
fn tshark_selects(file: &Path, display_filter: &str) -> Vec<i64> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-Y",
            display_filter,
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (s, f) = l.trim().split_once('.').expect("epoch seconds");
            let f = format!("{f:0<6}");
            s.parse::<i64>().expect("secs") * 1_000_000 + f[..6].parse::<i64>().expect("frac")
        })
        .collect();
    v.sort_unstable();
    v
}

/// Frames tcpdump (libpcap) selects from `file` with a BPF filter.
fn tcpdump_selects(file: &Path, filter: &str, out: &Path) -> Vec<Pkt> {
    let st = Command::new("tcpdump")
        .arg("-r")
        .arg(file)
        .arg("-w")
        .arg(out)
        .arg(filter)
        .output()
        .expect("run tcpdump");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    sorted(capture_packets(out))
}

#[test]
fn export_round_trips_real_captures_and_filters_like_tcpdump() {
    let (captures, _) = match support::real_captures() {
        Ok(c) => c,
        Err(why) => {
            support::skip("export of real captures", &why, None);
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tmp");
    let plain = captures.join("plain.pcap");
    // The same frames cut at 100 bytes: truncated records, as with AWS's
    // packet-length option or a snap length.
    let cut = dir.path().join("cut.pcap");
    let st = Command::new("editcap")
        .args(["-s", "100"])
        .arg(&plain)
        .arg(&cut)
        .status()
        .expect("editcap");
    assert!(st.success());
    let lake = dir.path().join("lake");
    let mut original = capture_packets(&plain);
    let truncated = capture_packets(&cut);
    assert!(truncated.iter().any(|(_, len, d)| (d.len() as u32) < *len));
    original.extend(truncated);
    import(&lake, "plain", std::slice::from_ref(&plain));
    import(&lake, "cut", &[cut]);

    for name in ["all.pcap", "all.pcapng"] {
        let file = dir.path().join(name);
        let summary = export(&lake, &file, &ALL_TIME);
        let got = capture_packets(&file);
        assert!(
            got.windows(2).all(|w| w[0].0 <= w[1].0),
            "{name}: not in time order"
        );
        assert_eq!(figure(&summary, "packets"), got.len() as u64, "{summary}");
        let (want, got) = (sorted(original.clone()), sorted(got));
        let identical = want.iter().zip(&got).filter(|(a, b)| a == b).count();
        assert_eq!(
            (got.len(), identical),
            (want.len(), want.len()),
            "{name}: frames differ from the originals"
        );
        assert_eq!(support::tshark_reads_cleanly(&file), want.len(), "{name}");
        eprintln!(
            "export {name}: {} of {} frames identical to the captures (bytes, µs timestamp, original length)",
            identical,
            want.len()
        );
    }

    // A time range and a filter: the middle 80 % of the capture, TCP and ICMP.
    let times: Vec<i64> = sorted(capture_packets(&plain))
        .iter()
        .map(|p| p.0)
        .collect();
    let (lo, hi) = (times[times.len() / 10], times[9 * times.len() / 10]);
    let iso = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    };
    let filtered = dir.path().join("filtered.pcapng");
    let summary = export(
        &lake,
        &filtered,
        &[
            "--from",
            &iso(lo),
            "--to",
            &iso(hi),
            "--where",
            "collector_id = 'plain'",
            "--filter",
            "tcp or icmp",
        ],
    );
    let got = sorted(capture_packets(&filtered));
    let in_range = dir.path().join("range.pcap");
    let by_tcpdump: Vec<Pkt> = tcpdump_selects(&plain, "tcp or icmp", &in_range)
        .into_iter()
        .filter(|p| p.0 >= lo && p.0 < hi)
        .collect();
    assert!(
        !by_tcpdump.is_empty(),
        "the range selects nothing: fix the test"
    );
    assert_eq!(got, by_tcpdump, "export --filter vs tcpdump: {summary}");
    let secs = |us: i64| {
        format!(
            "{}.{:06}",
            us.div_euclid(1_000_000),
            us.rem_euclid(1_000_000)
        )
    };
    let by_tshark = tshark_selects(
        &plain,
        &format!(
            // ip.proto rather than icmp: BPF's `icmp` also takes every
            // fragment of a fragmented ping, tshark's `icmp` only the first.
            "(tcp || ip.proto == 1) && frame.time_epoch >= {} && frame.time_epoch < {}",
            secs(lo),
            secs(hi)
        ),
    );
    let got_times: Vec<i64> = got.iter().map(|p| p.0).collect();
    assert_eq!(got_times, by_tshark, "export --filter vs tshark -Y");
    assert!(figure(&summary, "rejected by --filter") > 0, "{summary}");
    eprintln!(
        "export with a range and a filter: {} packets, identical to tcpdump's and tshark's selection",
        got.len()
    );
}

#[test]
fn export_round_trips_the_tcpdump_corpus() {
    let Some(files) = support::tcpdump_corpus() else {
        support::skip(
            "export of the tcpdump corpus",
            "../shared/testdata not present",
            None,
        );
        return;
    };
    // What the lake must hold: every record the decoder keeps, as the inner
    // frame; a plain (untunnelled) record is the frame itself, so it must
    // come back exactly as it was recorded.
    let (mut want, mut plain) = (Vec::new(), 0usize);
    for f in &files {
        let Ok(file) = std::fs::File::open(f) else {
            continue;
        };
        let Ok(reader) = CaptureReader::new(std::io::BufReader::new(file)) else {
            continue;
        };
        for rec in reader.map_while(Result::ok) {
            if rec.linktype != mirrorlake_pcap::LINKTYPE_ETHERNET {
                continue;
            }
            let Ok(d) = decode(Input::Capture, &rec.data, Some(rec.orig_len)) else {
                continue;
            };
            let ts = rec.ts_ns.div_euclid(1000);
            if d.mirror.vni.is_none() {
                assert_eq!(
                    (d.frame, d.wire_len),
                    (&rec.data[..], rec.orig_len.max(rec.data.len() as u32))
                );
                plain += 1;
            }
            want.push((ts, d.wire_len, d.frame.to_vec()));
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    import(&lake, "corpus", &files);
    let out = dir.path().join("corpus.pcapng");
    let summary = export(&lake, &out, &["--from", "1970-01-01", "--to", "2200-01-01"]);
    let got = sorted(capture_packets(&out));
    let want = sorted(want);
    let identical = want.iter().zip(&got).filter(|(a, b)| a == b).count();
    assert_eq!(
        (got.len(), identical),
        (want.len(), want.len()),
        "corpus export differs: {summary}"
    );
    assert_eq!(support::tshark_reads_cleanly(&out), want.len());

    // Partition pruning: one hour of the corpus reads a sliver of the bytes.
    let (first_hour, _, _) = &got[got.len() / 2];
    let from = first_hour - first_hour.rem_euclid(3_600_000_000);
    let iso = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let one = export(
        &lake,
        &dir.path().join("hour.pcap"),
        &["--from", &iso(from), "--to", &iso(from + 3_600_000_000)],
    );
    let (all_bytes, hour_bytes) = (
        figure(&summary, "Parquet bytes read"),
        figure(&one, "Parquet bytes read"),
    );
    assert_eq!(figure(&one, "hour partitions"), 1, "{one}");
    assert!(
        hour_bytes * 10 < all_bytes,
        "one hour read {hour_bytes} of {all_bytes} bytes"
    );
    eprintln!(
        "corpus export: {identical} of {} frames identical ({plain} plain records byte for byte with their original length); one hour read {hour_bytes} of {all_bytes} Parquet bytes",
        want.len()
    );
}

/// Packets of one microsecond come out in the order they arrived: for
/// `import`, the capture's own record order (`arrival_seq` is the record's
/// index), whatever their bytes. The capture's frames are written with
/// descending bytes, so an order by frame would reverse them.
#[test]
fn packets_of_one_instant_export_in_arrival_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("one-instant.pcap");
    let lake = dir.path().join("lake");
    let mut w =
        mirrorlake_pcap::PcapWriter::new(std::fs::File::create(&pcap).expect("create"), 1, 65535)
            .expect("header");
    let at: i64 = 1_764_000_000_000_000;
    for i in (0..200).rev() {
        let frame = crate::e2e::packet(i).frame;
        w.write(at, frame.len() as u32, &frame).expect("record");
    }
    w.into_inner().expect("flush");
    import(&lake, "instant", std::slice::from_ref(&pcap));
    let out = dir.path().join("out.pcap");
    export(&lake, &out, &ALL_TIME);
    let want = capture_packets(&pcap);
    let got = capture_packets(&out);
    assert_eq!(got.len(), 200);
    assert!(
        got == want,
        "exported order differs from the capture's (first differing record: {:?})",
        got.iter().zip(&want).position(|(a, b)| a != b)
    );
}
