//! Robustness over tcpdump's own regression corpus
//! (`../shared/testdata/tcpdump-tests/*.pcap{,ng}`: 830 captures of many
//! protocols and link types, truncated records, and files that reproduce past
//! out-of-bounds reads in packet decoders).
//!
//! Each file is decoded twice: in process, through `mirrorlake_pcap` and
//! `mirrorlake_wire::decode(Input::Capture, ..)` exactly as
//! `mirrorlake-collector decode` does (non-Ethernet link types count as
//! `unsupported_link_type`), checking the invariants of every row; and by the
//! binary itself, which must exit 0 or with a clean `error:` message (never a
//! signal) and print as many rows and the same counts as the in-process
//! decode. For the `*vxlan*` files the VNI and outer source of every frame
//! that tshark decodes as VXLAN (UDP 4789) must match tshark's.

use crate::support;
use mirrorlake_pcap::{CaptureReader, LINKTYPE_ETHERNET};
use mirrorlake_wire::{Anomaly, DecodeStats, Decoded, Direction, DropReason, Input, decode};
use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// A record's decode outcome: (VNI, outer source), or why it was dropped.
type TunnelOutcome = Result<(Option<u32>, Option<IpAddr>), DropReason>;

/// What the in-process decode of one file saw.
#[derive(Debug, Default)]
struct FileResult {
    /// Records read (before any damage).
    records: u64,
    stats: DecodeStats,
    /// Per record: the decoded (VNI, outer source), or the drop reason.
    tunnel: Vec<TunnelOutcome>,
    /// The file could not be opened as a capture at all.
    unreadable: Option<String>,
    /// The file was damaged after `records` records.
    damaged: Option<String>,
    /// Invariant violations of decoded rows.
    violations: Vec<String>,
}

fn check_row(d: &Decoded<'_>, at: u64, v: &mut Vec<String>) {
    let mut bad = |what: &str| v.push(format!("record {at}: {what}"));
    if d.cap_len() as usize != d.frame.len() {
        bad("cap_len differs from the frame length");
    }
    if d.truncated() != (d.wire_len > d.cap_len()) {
        bad("truncated differs from wire_len > cap_len");
    }
    if d.truncated() != d.anomalies.contains(Anomaly::Truncated) {
        bad("truncated flag without the truncated anomaly (or the reverse)");
    }
    if d.mirror.vni.is_some_and(|n| n > 0x00ff_ffff) {
        bad("VNI wider than 24 bits");
    }
    if d.ip_version.is_some() != d.src_ip.is_some() || d.src_ip.is_some() != d.dst_ip.is_some() {
        bad("ip_version, src_ip and dst_ip not all present or all absent");
    }
    if d.ip_version.is_none() && (d.protocol.is_some() || d.ttl.is_some() || d.src_port.is_some()) {
        bad("IP or transport fields without an IP header");
    }
    if d.fragment.is_some_and(|f| f.offset > 0) && (d.src_port.is_some() || d.tcp_flags.is_some()) {
        bad("ports of a non-first fragment");
    }
    if d.tcp_flags.is_some_and(|f| f > 0x1ff) {
        bad("tcp_flags wider than 9 bits");
    }
    if d.tcp_flags.is_some() && d.protocol != Some(6) {
        bad("tcp_flags of a non-TCP packet");
    }
    if d.icmp_type.is_some() && !matches!(d.protocol, Some(1 | 58)) {
        bad("icmp_type of a non-ICMP packet");
    }
    if let Some(p) = d.payload()
        && p.len() > d.frame.len()
    {
        bad("payload longer than the frame");
    }
    // Exercised for panics: the Community ID and the direction.
    let cid = d.community_id();
    if cid.is_some() != d.flow_key().is_some() {
        bad("community_id presence differs from flow_key presence");
    }
    if cid.is_some_and(|c| c.as_str().len() != 30 || !c.as_str().starts_with("1:")) {
        bad("malformed community_id");
    }
    if d.mirror.source.is_none() && d.direction() != Direction::Unknown {
        bad("a direction without a mirror source");
    }
}

/// Whether an Ethernet frame is visibly UDP to port 4789 (IPv4 with a valid
/// header length, or IPv6 whose next header is UDP), up to two VLAN tags.
fn udp_to_vxlan_port(b: &[u8]) -> bool {
    let be16 = |at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    let mut off = 14;
    let mut et = be16(12);
    for _ in 0..2 {
        if matches!(et, Some(0x8100 | 0x88a8 | 0x9100)) {
            et = be16(off + 2);
            off += 4;
        }
    }
    let udp = match (et, b.get(off)) {
        (Some(0x0800), Some(&vihl))
            if vihl >> 4 == 4 && vihl & 0xf >= 5 && b.get(off + 9) == Some(&17) =>
        {
            off + usize::from(vihl & 0xf) * 4
        }
        (Some(0x86dd), Some(&v)) if v >> 4 == 6 && b.get(off + 6) == Some(&17) => off + 40,
        _ => return false,
    };
    be16(udp + 2) == Some(4789)
}

fn decode_in_process(path: &Path) -> FileResult {
    let mut r = FileResult::default();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            r.unreadable = Some(e.to_string());
            return r;
        }
    };
    let reader = match CaptureReader::new(std::io::BufReader::new(file)) {
        Ok(rd) => rd,
        Err(e) => {
            r.unreadable = Some(e.to_string());
            return r;
        }
    };
    for rec in reader {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                r.damaged = Some(e.to_string());
                break;
            }
        };
        r.records += 1;
        let d = if rec.linktype == LINKTYPE_ETHERNET {
            decode(Input::Capture, &rec.data, Some(rec.orig_len))
        } else {
            Err(DropReason::UnsupportedLinkType)
        };
        r.stats.record(&d);
        match &d {
            Ok(d) => {
                check_row(d, r.records, &mut r.violations);
                r.tunnel.push(Ok((d.mirror.vni, d.mirror.source)));
            }
            Err(e) => {
                // `Input::Capture` decodes a frame as a tunnel only when it is
                // UDP to port 4789, "otherwise a plain Ethernet frame": a frame
                // that is not must never lose its row to outer_malformed.
                if *e == DropReason::OuterMalformed
                    && !udp_to_vxlan_port(&rec.data)
                    && let Ok(plain) = decode(Input::Ethernet, &rec.data, Some(rec.orig_len))
                {
                    r.violations.push(format!(
                        "record {}: not UDP to port 4789, dropped as outer_malformed; \
                         as a plain frame it is a row with anomalies [{}]",
                        r.records, plain.anomalies
                    ));
                }
                r.tunnel.push(Err(*e));
            }
        }
    }
    r
}

/// Runs `mirrorlake-collector decode` on `path` and checks it against `r`.
fn check_binary(path: &Path, r: &FileResult) -> Result<(), String> {
    let out = Command::new(support::collector_bin())
        .arg("decode")
        .arg(path)
        .env("MIRRORLAKE_LOG", "warn")
        .output()
        .map_err(|e| format!("spawn: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(sig) = out.status.signal() {
        return Err(format!("killed by signal {sig}: {stderr}"));
    }
    let rows = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    if rows != r.stats.decoded {
        return Err(format!(
            "{rows} rows printed, {} decoded in process",
            r.stats.decoded
        ));
    }
    let failed = r.unreadable.is_some() || r.damaged.is_some();
    match out.status.code() {
        Some(0) if !failed => {
            let want = format!(
                "{}: {} decoded, {} dropped",
                path.display(),
                r.stats.decoded,
                r.stats.dropped_total()
            );
            if !stderr.lines().any(|l| l == want) {
                return Err(format!("summary differs: want {want:?}, stderr: {stderr}"));
            }
            Ok(())
        }
        Some(1) if failed => {
            let last = stderr.lines().last().unwrap_or_default();
            if !last.starts_with("error: ") || stderr.contains("panicked") {
                return Err(format!("unclean error: {stderr}"));
            }
            Ok(())
        }
        code => Err(format!(
            "exit {code:?} (in process: unreadable {:?}, damaged {:?}): {stderr}",
            r.unreadable, r.damaged
        )),
    }
}

/// tshark's VXLAN fields of each frame: `Some((vni, outer source))` when the
/// frame's first VXLAN layer sits on UDP port 4789.
fn tshark_vxlan(path: &Path) -> Vec<Option<(u32, Option<IpAddr>)>> {
    crate::support::tshark_fields(
        path,
        &[],
        &[
            "frame.protocols",
            "udp.dstport",
            "vxlan.vni",
            "ip.src",
            "ipv6.src",
        ],
    )
    .iter()
    .map(|line| {
        let c: Vec<&str> = line.split(',').collect();
        let protos: Vec<&str> = c[0].split(':').collect();
        let vx = protos.iter().position(|p| *p == "vxlan")?;
        if vx == 0 || protos[vx - 1] != "udp" {
            return None;
        }
        let udp_nth = protos[..vx - 1].iter().filter(|p| **p == "udp").count();
        if c[1].split(';').nth(udp_nth) != Some("4789") {
            return None;
        }
        let vni = c[2].split(';').next()?.parse().ok()?;
        let src = match protos.get(2) {
            Some(&"ip") => c[3].split(';').next(),
            Some(&"ipv6") => c[4].split(';').next(),
            _ => None,
        };
        Some((vni, src.and_then(|s| s.parse().ok())))
    })
    .collect()
}

#[test]
fn tcpdump_corpus_decodes_without_crashing() {
    let Some(files) = support::tcpdump_corpus() else {
        support::skip("the tcpdump corpus", "../shared/testdata not present", None);
        return;
    };
    let started = Instant::now();
    assert!(
        files.len() >= 800,
        "expected the 830 corpus captures, found {}",
        files.len()
    );

    // In process, one file at a time, a panic caught and named.
    let mut results = Vec::with_capacity(files.len());
    let mut failures = Vec::new();
    for f in &files {
        match catch_unwind(AssertUnwindSafe(|| decode_in_process(f))) {
            Ok(r) => {
                for v in &r.violations {
                    failures.push(format!(
                        "{}: {v}",
                        f.file_name().unwrap_or_default().to_string_lossy()
                    ));
                }
                results.push(r);
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{}: decode panicked: {msg}", f.display()));
                results.push(FileResult::default());
            }
        }
    }
    let in_process = started.elapsed();

    // The binary on every file, two at a time.
    let bin_failures: Vec<String> = std::thread::scope(|s| {
        let half = files.len().div_ceil(2);
        let workers: Vec<_> = files
            .chunks(half)
            .zip(results.chunks(half))
            .map(|(fs, rs)| {
                s.spawn(move || {
                    fs.iter()
                        .zip(rs)
                        .filter_map(|(f, r)| {
                            check_binary(f, r)
                                .err()
                                .map(|e| format!("{}: decode binary: {e}", f.display()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    failures.extend(bin_failures);
    let with_binary = started.elapsed();

    // The VXLAN files against tshark.
    let (mut vx_frames, mut vx_compared, mut vx_ours_only) = (0, 0, 0);
    if support::have("tshark") {
        for (f, r) in files.iter().zip(&results) {
            let name = f.file_name().expect("name").to_string_lossy();
            if !name.contains("vxlan") {
                continue;
            }
            let theirs = tshark_vxlan(f);
            if theirs.len() as u64 != r.records {
                failures.push(format!(
                    "{name}: tshark read {} frames, we read {}",
                    theirs.len(),
                    r.records
                ));
                continue;
            }
            for (i, (t, ours)) in theirs.iter().zip(&r.tunnel).enumerate() {
                vx_frames += 1;
                match (t, ours) {
                    (Some((vni, src)), Ok((our_vni, our_src))) => {
                        vx_compared += 1;
                        if *our_vni != Some(*vni) || our_src != src {
                            failures.push(format!(
                                "{name} frame {}: vni/mirror_source: ours {our_vni:?}/{our_src:?}, tshark {vni}/{src:?}",
                                i + 1
                            ));
                        }
                    }
                    (Some((vni, _)), Err(e)) => {
                        failures.push(format!(
                            "{name} frame {}: tshark decodes VNI {vni}, we dropped it ({})",
                            i + 1,
                            e.code()
                        ));
                    }
                    (None, Ok((Some(v), _))) => {
                        vx_ours_only += 1;
                        eprintln!(
                            "note: {name} frame {}: VNI {v} decoded by us, not by tshark",
                            i + 1
                        );
                    }
                    (None, _) => {}
                }
            }
        }
    } else {
        support::skip(
            "VXLAN comparison of the corpus with tshark",
            "tshark not installed",
            None,
        );
    }

    // Summary.
    let mut total = DecodeStats::default();
    let mut records = 0;
    for r in &results {
        total.merge(&r.stats);
        records += r.records;
        if r.stats.decoded + r.stats.dropped_total() != r.records {
            failures.push("decoded + dropped != records read".into());
        }
    }
    assert_eq!(
        total.decoded + total.dropped_total(),
        records,
        "decoded + dropped == records read"
    );
    let unreadable = results.iter().filter(|r| r.unreadable.is_some()).count();
    let damaged = results.iter().filter(|r| r.damaged.is_some()).count();
    eprintln!(
        "tcpdump corpus: {} files ({unreadable} unreadable, {damaged} damaged after some records), {records} records, \
         {} decoded, {} dropped; in process {:.1} s, binary {:.1} s, total {:.1} s",
        files.len(),
        total.decoded,
        total.dropped_total(),
        in_process.as_secs_f64(),
        (with_binary - in_process).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (code, n) in total.nonzero() {
        eprintln!("  {code}: {n}");
    }
    eprintln!(
        "  vxlan files: {vx_frames} frames, {vx_compared} VNIs compared with tshark, {vx_ours_only} decoded by us alone"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
