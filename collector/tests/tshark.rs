//! Real captures of real programs, decoded by `mirrorlake-collector decode` and
//! compared packet by packet with tshark.
//!
//! `captures/make.sh` builds two network namespaces joined by a veth underlay
//! with VXLAN tunnels between them (VNI 4242 over IPv4, VNI 4243 over IPv6),
//! runs ping, dig/dnsmasq, curl/http.server and iperf3 across the overlay and
//! records: the overlay device (plain frames), the underlay filtered on UDP
//! 4789 (whole outer frames, what tcpdump on a mirror target records), the
//! underlay cut at 110 bytes, and a pcapng copy. Every row of every capture is
//! checked against tshark's dissection of the same record (addresses, ports,
//! protocol after IPv6 extension headers, TTL, fragments, TCP fields, ICMP,
//! VNI, outer source, lengths, the frame bytes, the timestamp), its Community
//! ID against the spec authors' Python implementation, and the inner rows of
//! the tunnelled capture against the plain one. The tunnelled capture is also
//! wrapped as a Gateway Load Balancer delivers it (GENEVE to UDP 6081, AWS's
//! options): tshark must agree with its rows, which must be the tunnelled
//! capture's, and sent to `run --geneve-listen` each is stored once.
//!
//! Needs root, tshark and tcpdump (skips with a `SKIP:` line otherwise), the
//! programs make.sh runs, and PyPI for `communityid` the first time (kept in a
//! venv under `${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/`).

use crate::support;
use mirrorlake_pcap::{CaptureReader, Record};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// tshark fields asked for, and the protocol layer (as named in
/// `frame.protocols`) each belongs to: the n-th occurrence of a field belongs
/// to the n-th occurrence of its layer.
const FIELDS: &[(&str, &str)] = &[
    ("frame.len", "frame"),
    ("frame.cap_len", "frame"),
    ("frame.protocols", "frame"),
    ("frame.time_epoch", "frame"),
    ("eth.type", "eth"),
    ("ip.src", "ip"),
    ("ip.dst", "ip"),
    ("ip.proto", "ip"),
    ("ip.ttl", "ip"),
    ("ip.len", "ip"),
    ("ip.hdr_len", "ip"),
    ("ip.id", "ip"),
    ("ip.flags.mf", "ip"),
    ("ip.frag_offset", "ip"),
    ("ipv6.src", "ipv6"),
    ("ipv6.dst", "ipv6"),
    ("ipv6.nxt", "ipv6"),
    ("ipv6.hlim", "ipv6"),
    ("ipv6.plen", "ipv6"),
    ("ipv6.hopopts.nxt", "ipv6.hopopts"),
    ("ipv6.routing.nxt", "ipv6.routing"),
    ("ipv6.dstopts.nxt", "ipv6.dstopts"),
    ("ipv6.fraghdr.nxt", "ipv6.fraghdr"),
    ("ipv6.fraghdr.offset", "ipv6.fraghdr"),
    ("ipv6.fraghdr.more", "ipv6.fraghdr"),
    ("ipv6.fraghdr.ident", "ipv6.fraghdr"),
    ("tcp.srcport", "tcp"),
    ("tcp.dstport", "tcp"),
    ("tcp.flags", "tcp"),
    ("tcp.seq_raw", "tcp"),
    ("tcp.ack_raw", "tcp"),
    ("tcp.window_size_value", "tcp"),
    ("udp.srcport", "udp"),
    ("udp.dstport", "udp"),
    ("udp.length", "udp"),
    ("icmp.type", "icmp"),
    ("icmp.code", "icmp"),
    ("icmpv6.type", "icmpv6"),
    ("icmpv6.code", "icmpv6"),
    ("vxlan.vni", "vxlan"),
];

/// One frame as tshark dissected it.
struct TsharkFrame {
    protocols: Vec<String>,
    values: HashMap<&'static str, Vec<String>>,
}

impl TsharkFrame {
    /// The value of `field` for the layer at `pos` in `frame.protocols`.
    fn at(&self, field: &str, pos: usize) -> Option<&str> {
        let layer = FIELDS.iter().find(|(f, _)| *f == field).map(|(_, l)| *l)?;
        let nth = if layer == "frame" {
            0
        } else {
            self.protocols[..pos].iter().filter(|p| *p == layer).count()
        };
        self.values.get(field)?.get(nth).map(String::as_str)
    }

    fn num(&self, field: &str, pos: usize) -> Option<i64> {
        self.at(field, pos)
            .map(|v| parse_num(v).unwrap_or_else(|| panic!("{field}: not a number: {v}")))
    }

    fn flag(&self, field: &str, pos: usize) -> Option<bool> {
        self.at(field, pos)
            .map(|v| matches!(v, "1" | "True" | "true"))
    }

    fn first(&self, layer: &str, from: usize) -> Option<usize> {
        (from..self.protocols.len()).find(|&i| self.protocols[i] == layer)
    }
}

fn parse_num(v: &str) -> Option<i64> {
    match v.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

fn run_tshark(file: &Path) -> Vec<TsharkFrame> {
    let fields: Vec<&str> = FIELDS.iter().map(|(f, _)| *f).collect();
    crate::support::tshark_fields(
        file,
        &["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"],
        &fields,
    )
    .iter()
    .map(|line| {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), FIELDS.len(), "tshark line: {line}");
        let mut values = HashMap::new();
        for ((name, _), col) in FIELDS.iter().zip(&cols) {
            let v: Vec<String> = if col.is_empty() {
                Vec::new()
            } else {
                col.split(';').map(str::to_owned).collect()
            };
            values.insert(*name, v);
        }
        TsharkFrame {
            protocols: cols[2].split(':').map(str::to_owned).collect(),
            values,
        }
    })
    .collect()
}

/// What a row must hold, derived from tshark's fields of the same record.
#[derive(Debug, Default, Clone)]
struct Expected {
    mirror_source: Option<String>,
    vni: Option<i64>,
    /// Length of the outer headers (0 for plain frames).
    outer_len: i64,
    ether_type: Option<i64>,
    ip_version: Option<i64>,
    /// tshark showed only part of a cut IP header.
    ip_cut: bool,
    src_ip: Option<String>,
    dst_ip: Option<String>,
    protocol: Option<i64>,
    ttl: Option<i64>,
    /// Inner frame length from the IP header (L2 header + IP total length).
    ip_frame_len: Option<i64>,
    frag: Option<(i64, bool, i64)>,
    src_port: Option<i64>,
    dst_port: Option<i64>,
    tcp_flags: Option<i64>,
    tcp_seq: Option<i64>,
    tcp_ack: Option<i64>,
    tcp_window: Option<i64>,
    icmp_type: Option<i64>,
    icmp_code: Option<i64>,
    frame_len: i64,
    frame_cap_len: i64,
    ts_us: i64,
}

fn expected(f: &TsharkFrame) -> Expected {
    let p = &f.protocols;
    let mut e = Expected {
        frame_len: f.num("frame.len", 0).expect("frame.len"),
        frame_cap_len: f.num("frame.cap_len", 0).expect("frame.cap_len"),
        ..Default::default()
    };
    let epoch = f.at("frame.time_epoch", 0).expect("frame.time_epoch");
    let (s, frac) = epoch.split_once('.').unwrap_or((epoch, "0"));
    let frac6: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    e.ts_us = s.parse::<i64>().expect("epoch seconds") * 1_000_000
        + frac6.parse::<i64>().expect("epoch fraction");

    // The inner Ethernet frame: after VXLAN on UDP port 4789, else the frame.
    let mut eth = 0;
    if let Some(vx) = f.first("vxlan", 0)
        && vx >= 1
        && p[vx - 1] == "udp"
        && f.num("udp.dstport", vx - 1) == Some(4789)
        && p.get(vx + 1).map(String::as_str) == Some("eth")
    {
        // The IP layer of the mirror session's datagram: the outer one, or
        // the one inside GENEVE from a GWLB.
        let ip_layer = vx - 2;
        let (src, hdr) = match p[ip_layer].as_str() {
            "ip" => (
                f.at("ip.src", ip_layer),
                f.num("ip.hdr_len", ip_layer).expect("outer ip.hdr_len"),
            ),
            _ => (f.at("ipv6.src", ip_layer), 40),
        };
        e.mirror_source = src.map(str::to_owned);
        e.outer_len = if ip_layer == 2 {
            14 + hdr + 8 + 8
        } else {
            // Everything before the inner frame: the VXLAN datagram's UDP
            // length counts its header, VXLAN's and the frame.
            e.frame_len - (f.num("udp.length", vx - 1).expect("udp.length") - 16)
        };
        e.vni = f.num("vxlan.vni", vx);
        eth = vx + 1;
    }
    e.ether_type = f.num("eth.type", eth);
    // Layers: eth, ethertype, then the network layer.
    let l3 = eth + 2;
    let mut l4 = None;
    match p.get(l3).map(String::as_str) {
        Some("ip") => {
            e.ip_version = Some(4);
            e.src_ip = f.at("ip.src", l3).map(str::to_owned);
            e.dst_ip = f.at("ip.dst", l3).map(str::to_owned);
            e.ip_cut = e.dst_ip.is_none();
            e.protocol = f.num("ip.proto", l3);
            e.ttl = f.num("ip.ttl", l3);
            e.ip_frame_len = f.num("ip.len", l3).map(|n| n + 14);
            let (off, mf) = (f.num("ip.frag_offset", l3), f.flag("ip.flags.mf", l3));
            if let (Some(off), Some(mf), Some(id)) = (off, mf, f.num("ip.id", l3))
                && (off > 0 || mf)
            {
                e.frag = Some((off * 8, mf, id));
            }
            l4 = Some(l3 + 1);
        }
        Some("ipv6") => {
            e.ip_version = Some(6);
            e.src_ip = f.at("ipv6.src", l3).map(str::to_owned);
            e.dst_ip = f.at("ipv6.dst", l3).map(str::to_owned);
            e.ip_cut = e.dst_ip.is_none();
            e.protocol = f.num("ipv6.nxt", l3);
            e.ttl = f.num("ipv6.hlim", l3);
            e.ip_frame_len = f
                .num("ipv6.plen", l3)
                .filter(|&n| n > 0)
                .map(|n| n + 40 + 14);
            let mut q = l3 + 1;
            while let Some(ext) = p.get(q).filter(|x| x.starts_with("ipv6.")) {
                e.protocol = f.num(&format!("{ext}.nxt"), q);
                if ext == "ipv6.fraghdr"
                    && let (Some(off), Some(more), Some(id)) = (
                        f.num("ipv6.fraghdr.offset", q),
                        f.flag("ipv6.fraghdr.more", q),
                        f.num("ipv6.fraghdr.ident", q),
                    )
                {
                    e.frag = Some((off * 8, more, id));
                }
                q += 1;
            }
            l4 = Some(q);
        }
        _ => {}
    }
    if let Some(l4) = l4
        && !e.ip_cut
    {
        match p.get(l4).map(String::as_str) {
            Some("tcp") => {
                e.src_port = f.num("tcp.srcport", l4);
                e.dst_port = f.num("tcp.dstport", l4);
                e.tcp_flags = f.num("tcp.flags", l4).map(|v| v & 0x1ff);
                e.tcp_seq = f.num("tcp.seq_raw", l4);
                e.tcp_ack = f.num("tcp.ack_raw", l4);
                e.tcp_window = f.num("tcp.window_size_value", l4);
            }
            Some("udp") => {
                e.src_port = f.num("udp.srcport", l4);
                e.dst_port = f.num("udp.dstport", l4);
            }
            Some("icmp") => {
                e.icmp_type = f.num("icmp.type", l4);
                e.icmp_code = f.num("icmp.code", l4);
            }
            Some("icmpv6") => {
                e.icmp_type = f.num("icmpv6.type", l4);
                e.icmp_code = f.num("icmpv6.code", l4);
            }
            _ => {}
        }
    }
    e
}

/// The flow tuple the Community ID reference is given, as one line for the
/// helper script: `kind src dst a b`, or `None` when the row must have none.
fn flow_line(e: &Expected) -> Option<String> {
    let (src, dst, proto) = (e.src_ip.as_ref()?, e.dst_ip.as_ref()?, e.protocol?);
    Some(match proto {
        6 | 17 | 132 => format!(
            "{} {src} {dst} {} {}",
            match proto {
                6 => "tcp",
                17 => "udp",
                _ => "sctp",
            },
            e.src_port?,
            e.dst_port?
        ),
        1 => format!("icmp {src} {dst} {} {}", e.icmp_type?, e.icmp_code?),
        58 => format!("icmp6 {src} {dst} {} {}", e.icmp_type?, e.icmp_code?),
        p => format!("ip {src} {dst} {p} -"),
    })
}

const COMMUNITY_ID_PY: &str = r#"
import sys, communityid
cid = communityid.CommunityID(seed=0)
make = {
    "tcp": communityid.FlowTuple.make_tcp,
    "udp": communityid.FlowTuple.make_udp,
    "sctp": communityid.FlowTuple.make_sctp,
    "icmp": communityid.FlowTuple.make_icmp,
    "icmp6": communityid.FlowTuple.make_icmp6,
}
for line in sys.stdin:
    kind, src, dst, a, b = line.split()
    if kind == "ip":
        t = communityid.FlowTuple.make_ip(src, dst, int(a))
    else:
        t = make[kind](src, dst, int(a), int(b))
    print(cid.calc(t))
"#;

/// The venv holding the reference `communityid`, made when missing.
fn community_id_python() -> PathBuf {
    crate::support::python_venv("venv-communityid", &["communityid"], "import communityid")
}

/// Community IDs of the given tuple lines, by the reference implementation.
fn reference_community_ids(lines: &[String]) -> Vec<String> {
    use std::io::Write;
    let mut child = Command::new(community_id_python())
        .args(["-c", COMMUNITY_ID_PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run communityid");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("communityid output");
    writer.join().expect("writer thread").expect("write tuples");
    assert!(out.status.success(), "communityid script failed");
    let ids: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), lines.len(), "one Community ID per tuple");
    ids
}

/// Rows printed by `mirrorlake-collector decode`, and its stderr.
fn decode_rows(file: &Path) -> (Vec<Value>, String) {
    let out = Command::new(support::collector_bin())
        .arg("decode")
        .arg(file)
        .env("MIRRORLAKE_LOG", "warn")
        .output()
        .expect("run mirrorlake-collector decode");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "decode {} failed: {stderr}",
        file.display()
    );
    let rows = String::from_utf8(out.stdout)
        .expect("utf8 rows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    (rows, stderr)
}

fn records(file: &Path) -> Vec<Record> {
    let f = std::fs::File::open(file).expect("open capture");
    CaptureReader::new(std::io::BufReader::new(f))
        .expect("a capture")
        .collect::<Result<_, _>>()
        .expect("read capture")
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

// A missing column reads as null here; `check_columns` reports it.
fn int(row: &Value, k: &str) -> Option<i64> {
    row.get(k).and_then(Value::as_i64)
}

fn text(row: &Value, k: &str) -> Option<String> {
    row.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Every row has every column of the record schema (docs/schema.md; the
/// partition columns `dt` and `hour` come from lake paths, not from rows),
/// nothing else, and no null in a non-nullable column.
fn check_columns(name: &str, rows: &[Value], errs: &mut Vec<String>) {
    use mirrorlake_schema::columns::PACKET_COLUMNS;
    let columns: Vec<_> = PACKET_COLUMNS.iter().collect();
    let mut missing = BTreeMap::<&str, usize>::new();
    let mut null = BTreeMap::<&str, usize>::new();
    let mut extra = BTreeMap::<String, usize>::new();
    for row in rows {
        let obj = row.as_object().expect("a JSON object per row");
        for c in &columns {
            match obj.get(c.name) {
                None => *missing.entry(c.name).or_default() += 1,
                Some(Value::Null) if !c.nullable => *null.entry(c.name).or_default() += 1,
                _ => {}
            }
        }
        for k in obj.keys() {
            if !columns.iter().any(|c| c.name == k) {
                *extra.entry(k.clone()).or_default() += 1;
            }
        }
    }
    if !missing.is_empty() || !null.is_empty() || !extra.is_empty() {
        errs.push(format!(
            "{name}: columns of docs/schema.md missing (column: rows) {missing:?}, \
             null though not nullable {null:?}, not in the schema {extra:?}"
        ));
    }
}

fn ip(s: &Option<String>) -> Option<IpAddr> {
    s.as_ref().map(|s| {
        s.parse()
            .unwrap_or_else(|_| panic!("not an IP address: {s}"))
    })
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the `ts` column (`YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+00:00]`) to µs.
fn parse_ts_us(ts: &str) -> Option<i64> {
    let ts = ts.trim_end_matches('Z').trim_end_matches("+00:00");
    let (date, time) = ts.split_once(['T', ' '])?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let us: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + s;
    Some(secs * 1_000_000 + us.parse::<i64>().ok()?)
}

/// Result of comparing one capture.
#[derive(Default)]
struct Report {
    packets: usize,
    tunnelled: usize,
    fields: usize,
    /// Fields we decoded from a cut copy that tshark did not show.
    only_ours: usize,
    mismatches: Vec<String>,
}

/// Compares fields of one row, collecting mismatches.
struct Checker<'a> {
    what: String,
    cut: bool,
    fields: usize,
    only_ours: usize,
    errs: &'a mut Vec<String>,
}

impl Checker<'_> {
    fn bad(&mut self, field: &str, ours: String, theirs: String) {
        self.errs.push(format!(
            "{}: {field}: ours {ours}, tshark {theirs}",
            self.what
        ));
    }

    /// Equal, or (cut copies only) a field tshark did not show.
    fn check(&mut self, field: &str, ours: Option<String>, theirs: Option<String>) {
        self.fields += 1;
        match (&ours, &theirs) {
            (a, b) if a == b => {}
            (Some(_), None) if self.cut => self.only_ours += 1,
            _ => self.bad(field, format!("{ours:?}"), format!("{theirs:?}")),
        }
    }
}

fn compare_capture(
    file: &Path,
    cut: bool,
    tuples: &mut Vec<(String, String, Option<String>)>,
) -> (Report, Vec<Value>) {
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let frames = run_tshark(file);
    let recs = records(file);
    let (rows, stderr) = decode_rows(file);
    let mut r = Report::default();
    assert_eq!(
        recs.len(),
        frames.len(),
        "{name}: records read vs tshark frames"
    );
    assert_eq!(
        rows.len(),
        frames.len(),
        "{name}: every packet must decode to a row (tshark has {} frames); decode said: {stderr}",
        frames.len()
    );
    assert!(!frames.is_empty(), "{name}: empty capture");
    check_columns(&name, &rows, &mut r.mismatches);
    for (i, ((f, row), rec)) in frames.iter().zip(&rows).zip(&recs).enumerate() {
        let e = expected(f);
        let n = i + 1;
        r.packets += 1;
        if e.vni.is_some() {
            r.tunnelled += 1;
        }
        let mut c = Checker {
            what: format!("{name} frame {n} ({})", f.protocols.join(":")),
            cut,
            fields: 0,
            only_ours: 0,
            errs: &mut r.mismatches,
        };
        let s = |v: Option<i64>| v.map(|x| x.to_string());
        c.check(
            "mirror_source",
            ip(&text(row, "mirror_source")).map(|a| a.to_string()),
            ip(&e.mirror_source).map(|a| a.to_string()),
        );
        c.check("vni", s(int(row, "vni")), s(e.vni));
        c.check("ether_type", s(int(row, "ether_type")), s(e.ether_type));
        if e.ip_cut {
            // tshark shows the fields of a cut IP header that fit; we keep no
            // IP field of a cut header and say so.
            let anomalies = text(row, "anomalies").unwrap_or_default();
            c.check(
                "ip_version (cut IP header)",
                s(int(row, "ip_version")),
                None,
            );
            if int(row, "ip_version").is_some()
                || !anomalies.split(',').any(|a| a == "ip_truncated")
            {
                c.bad(
                    "anomalies (cut IP header)",
                    anomalies,
                    "ip_truncated".into(),
                );
            }
        } else {
            c.check("ip_version", s(int(row, "ip_version")), s(e.ip_version));
            c.check(
                "src_ip",
                ip(&text(row, "src_ip")).map(|a| a.to_string()),
                ip(&e.src_ip).map(|a| a.to_string()),
            );
            c.check(
                "dst_ip",
                ip(&text(row, "dst_ip")).map(|a| a.to_string()),
                ip(&e.dst_ip).map(|a| a.to_string()),
            );
            c.check("protocol", s(int(row, "protocol")), s(e.protocol));
            c.check("ttl", s(int(row, "ttl")), s(e.ttl));
            let ours_frag = int(row, "frag_offset").map(|o| {
                format!(
                    "{o}/{}/{}",
                    row["frag_more"],
                    int(row, "frag_id").unwrap_or(-1)
                )
            });
            c.check(
                "frag_offset/frag_more/frag_id",
                ours_frag,
                e.frag.map(|(o, m, id)| format!("{o}/{m}/{id}")),
            );
            c.check("src_port", s(int(row, "src_port")), s(e.src_port));
            c.check("dst_port", s(int(row, "dst_port")), s(e.dst_port));
            c.check("tcp_flags", s(int(row, "tcp_flags")), s(e.tcp_flags));
            c.check("tcp_seq", s(int(row, "tcp_seq")), s(e.tcp_seq));
            c.check("tcp_ack", s(int(row, "tcp_ack")), s(e.tcp_ack));
            c.check("tcp_window", s(int(row, "tcp_window")), s(e.tcp_window));
            c.check("icmp_type", s(int(row, "icmp_type")), s(e.icmp_type));
            c.check("icmp_code", s(int(row, "icmp_code")), s(e.icmp_code));
        }
        // Lengths: the inner frame is the record less the outer headers.
        let (wire, capl) = (
            int(row, "wire_len").expect("wire_len"),
            int(row, "cap_len").expect("cap_len"),
        );
        c.check(
            "cap_len",
            Some(capl.to_string()),
            Some((e.frame_cap_len - e.outer_len).to_string()),
        );
        c.check(
            "wire_len",
            Some(wire.to_string()),
            Some((e.frame_len - e.outer_len).to_string()),
        );
        if let Some(l) = e.ip_frame_len
            && !e.ip_cut
        {
            c.check(
                "wire_len (from the IP header)",
                Some(wire.to_string()),
                Some(l.to_string()),
            );
        }
        let truncated = row["truncated"].as_bool().expect("truncated");
        c.check(
            "truncated",
            Some(truncated.to_string()),
            Some((e.frame_len > e.frame_cap_len).to_string()),
        );
        let anomalies = text(row, "anomalies");
        if !cut && !e.ip_cut {
            c.check("anomalies", anomalies.clone(), None);
        } else if truncated
            != anomalies
                .as_deref()
                .is_some_and(|a| a.split(',').any(|x| x == "truncated"))
        {
            c.bad(
                "anomalies vs truncated",
                format!("{anomalies:?}"),
                format!("truncated={truncated}"),
            );
        }
        // The frame bytes and the timestamp, from the record itself.
        let inner = rec
            .data
            .get(usize::try_from(e.outer_len).expect("len")..)
            .unwrap_or_default();
        c.check("frame", text(row, "frame"), Some(hex(inner)));
        let ts = text(row, "ts").expect("ts");
        let ts_us = parse_ts_us(&ts);
        c.check(
            "ts",
            ts_us.map(|t| t.to_string()),
            Some(e.ts_us.to_string()),
        );
        c.check(
            "ts (record)",
            ts_us.map(|t| t.to_string()),
            Some(rec.ts_ns.div_euclid(1000).to_string()),
        );
        if row.get("dt").is_some() {
            c.check("dt", text(row, "dt"), ts.get(..10).map(str::to_owned));
        }
        if row.get("hour").is_some() {
            c.check("hour", text(row, "hour"), ts.get(11..13).map(str::to_owned));
        }
        c.check(
            "collector_id",
            text(row, "collector_id"),
            Some("decode".into()),
        );
        let (src, dst, eni) = (ip(&e.src_ip), ip(&e.dst_ip), ip(&e.mirror_source));
        let dir = match eni {
            Some(eni) if dst == Some(eni) => "ingress",
            Some(eni) if src == Some(eni) => "egress",
            _ => "unknown",
        };
        c.check("direction", text(row, "direction"), Some(dir.into()));
        let (nf, no) = (c.fields, c.only_ours);
        r.fields += nf;
        r.only_ours += no;
        // Community ID: checked against the reference in one batch later.
        let tuple = if e.ip_cut { None } else { flow_line(&e) };
        let ours_tuple: Vec<String> = [
            "src_ip",
            "dst_ip",
            "protocol",
            "src_port",
            "dst_port",
            "icmp_type",
            "icmp_code",
            "anomalies",
        ]
        .iter()
        .map(|k| row.get(*k).map_or_else(String::new, ToString::to_string))
        .collect();
        tuples.push((
            format!(
                "{name} frame {n} ({}; ours: {})",
                f.protocols.join(":"),
                ours_tuple.join(" ")
            ),
            tuple.unwrap_or_default(),
            text(row, "community_id"),
        ));
    }
    (r, rows)
}

/// The columns of a row that come from the inner frame alone.
fn inner_projection(row: &Value) -> String {
    const INNER: &[&str] = &[
        "vlan_outer",
        "vlan_inner",
        "ether_type",
        "ip_version",
        "src_ip",
        "dst_ip",
        "protocol",
        "ttl",
        "frag_offset",
        "frag_more",
        "frag_id",
        "src_port",
        "dst_port",
        "tcp_flags",
        "tcp_seq",
        "tcp_ack",
        "tcp_window",
        "icmp_type",
        "icmp_code",
        "wire_len",
        "cap_len",
        "truncated",
        "community_id",
        "anomalies",
        "frame",
    ];
    INNER
        .iter()
        .map(|k| format!("{k}={}", row[*k]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Matches the plain capture's rows with the tunnelled capture's inner rows
/// (as a multiset of inner columns). A row in one capture alone is accepted
/// only outside the other's time window (the captures start and stop a few
/// milliseconds apart). Returns (matched, accepted unmatched).
fn compare_plain_tunnelled(
    plain: &[&Value],
    tunnelled: &[&Value],
    errs: &mut Vec<String>,
) -> (usize, usize) {
    let ts = |r: &Value| text(r, "ts").as_deref().and_then(parse_ts_us).expect("ts");
    let window = |rows: &[&Value]| {
        let t: Vec<i64> = rows.iter().map(|r| ts(r)).collect();
        (
            t.iter().copied().min().unwrap_or(0),
            t.iter().copied().max().unwrap_or(0),
        )
    };
    let (p_win, t_win) = (window(plain), window(tunnelled));
    let mut pending: HashMap<String, Vec<&Value>> = HashMap::new();
    for r in plain {
        pending.entry(inner_projection(r)).or_default().push(r);
    }
    let (mut matched, mut boundary) = (0, 0);
    let mut only = Vec::new();
    for r in tunnelled {
        match pending.get_mut(&inner_projection(r)).and_then(Vec::pop) {
            Some(_) => matched += 1,
            None => only.push(("tunnelled.pcap", *r, p_win)),
        }
    }
    for r in pending.into_values().flatten() {
        only.push(("plain.pcap", r, t_win));
    }
    for (capture, r, (lo, hi)) in only {
        let t = ts(r);
        if t < lo || t > hi {
            boundary += 1;
        } else {
            errs.push(format!("plain vs tunnelled: a row only in {capture}: {r}"));
        }
    }
    (matched, boundary)
}

/// Writes `from`'s outer VXLAN frames as a Gateway Load Balancer delivers
/// them to a target: Ethernet / IPv4 / UDP 6081 / GENEVE (AWS's options) /
/// the mirror session's IP datagram.
fn write_gwlb_capture(from: &Path, to: &Path) {
    use mirrorlake_wire::geneve::emit_geneve_payload;
    use mirrorlake_wire::{FrameRepr, GENEVE_PORT, GwlbOptions, TransportRepr};
    let f = std::fs::File::create(to).expect("create gwlb.pcap");
    let mut w = mirrorlake_pcap::PcapWriter::new(std::io::BufWriter::new(f), 1, 262_144)
        .expect("pcap header");
    for (i, rec) in records(from).into_iter().enumerate() {
        let protocol = u16::from_be_bytes([rec.data[12], rec.data[13]]);
        let aws = GwlbOptions {
            endpoint_id: Some(0x0f00_0000_0000_0001),
            attachment_id: Some(0x0a00_0000_0000_0002),
            flow_cookie: Some(i as u32),
        };
        let mut geneve = Vec::new();
        emit_geneve_payload(&aws, protocol, &rec.data[14..], &mut geneve);
        let mut frame = Vec::new();
        FrameRepr {
            src_mac: [2, 0, 0, 0, 0, 0x11],
            dst_mac: [2, 0, 0, 0, 0, 0x12],
            vlans: [None, None],
            src: "192.0.2.1".parse().expect("ip"),
            dst: "192.0.2.2".parse().expect("ip"),
            ttl: 64,
            transport: TransportRepr::Udp {
                src_port: 40000,
                dst_port: GENEVE_PORT,
            },
            payload: &geneve,
        }
        .emit(&mut frame)
        .expect("emit");
        let added = (frame.len() - rec.data.len()) as u32;
        w.write(rec.ts_ns.div_euclid(1000), rec.orig_len + added, &frame)
            .expect("write record");
    }
    w.into_inner().expect("flush gwlb.pcap");
}

/// Sends `gwlb`'s GENEVE datagrams (each record's UDP payload) to a
/// collector's `--geneve-listen` and checks that the lake holds exactly
/// `want`'s rows (the capture, decoded), each once.
/// Returns the rows stored and the records too large to send.
fn run_gwlb_capture(gwlb: &Path, want: &[Value], errs: &mut Vec<String>) -> (usize, usize) {
    let lake = tempfile::tempdir().expect("lake dir");
    let port = crate::e2e::free_port();
    let geneve = format!("127.0.0.1:{port}");
    let c = crate::e2e::Collector::start(lake.path(), &["--geneve-listen", &geneve]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    // A GWLB sends at most 8,568 bytes of IP (its 8,500-byte MTU and 68
    // bytes of encapsulation); the capture's larger frames (segmentation
    // offload on the veth) are not sent.
    let all = records(gwlb);
    let total = all.len();
    let recs: Vec<(Record, &Value)> = all
        .into_iter()
        .zip(want)
        .filter(|(rec, _)| rec.data.len() - 14 <= 8568)
        .collect();
    let want: Vec<&Value> = recs.iter().map(|(_, w)| *w).collect();
    for (i, (rec, _)) in recs.iter().enumerate() {
        // Ethernet (14), IPv4 (20), UDP (8): the rest is what a GWLB sends.
        sock.send_to(&rec.data[42..], &geneve).expect("send");
        if i % 64 == 63 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while crate::e2e::metric(&c.metrics(), "mirrorlake_packets_received_total").unwrap_or(0)
        < recs.len() as u64
    {
        assert!(
            Instant::now() < deadline,
            "the collector did not receive every datagram"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dropped = crate::e2e::dropped_total(&c.metrics());
    let status = c.sigterm_and_wait();
    assert!(status.success(), "collector exit: {status}");
    let key = |r: &Value| {
        [
            "mirror_source",
            "vni",
            "gwlb_endpoint",
            "community_id",
            "src_ip",
            "dst_ip",
            "wire_len",
            "cap_len",
        ]
        .iter()
        .map(|k| r[*k].to_string().trim_matches('"').to_owned())
        .collect::<Vec<_>>()
        .join(" ")
    };
    let mut stored: Vec<String> = crate::support::query_json(
        lake.path(),
        "SELECT mirror_source, vni, gwlb_endpoint, community_id, src_ip, dst_ip, wire_len, cap_len \
         FROM packets",
    )
    .iter()
    .map(key)
    .collect();
    let mut expected: Vec<String> = want.iter().map(|r| key(r)).collect();
    stored.sort();
    expected.sort();
    if stored != expected {
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            let mut b = b.to_vec();
            a.iter()
                .filter(|x| match b.iter().position(|y| y == *x) {
                    Some(i) => {
                        b.swap_remove(i);
                        false
                    }
                    None => true,
                })
                .cloned()
                .collect()
        };
        errs.push(format!(
            "run --geneve-listen stored {} rows ({dropped} dropped), the capture decodes to {}; only stored: {:?}; only expected: {:?}",
            stored.len(),
            expected.len(),
            only(&stored, &expected),
            only(&expected, &stored),
        ));
    }
    if dropped != 0 {
        errs.push(format!("run --geneve-listen dropped {dropped} packets"));
    }
    (stored.len(), total - want.len())
}

#[test]
fn real_captures_match_tshark_and_reference_community_id() {
    let started = Instant::now();
    let (dir, made) = match support::real_captures() {
        Ok(d) => d,
        Err(why) => {
            crate::support::skip("tshark comparison of real captures", &why, None);
            return;
        }
    };

    let mut tuples = Vec::new();
    let mut mismatches = Vec::new();
    let mut by_capture = BTreeMap::new();
    let mut summary = String::new();
    for (file, cut) in [
        ("plain.pcap", false),
        ("tunnelled.pcap", false),
        ("tunnelled.pcapng", false),
        ("truncated.pcap", true),
    ] {
        let (r, rows) = compare_capture(&dir.join(file), cut, &mut tuples);
        let _ = writeln!(
            summary,
            "  {file}: {} packets ({} tunnelled), {} fields compared, {} mismatches{}",
            r.packets,
            r.tunnelled,
            r.fields,
            r.mismatches.len(),
            if cut {
                format!(", {} fields of cut copies shown by us alone", r.only_ours)
            } else {
                String::new()
            }
        );
        mismatches.extend(r.mismatches);
        by_capture.insert(file, rows);
    }

    // The tunnelled capture as a GWLB delivers it (GENEVE to UDP 6081):
    // tshark agrees, and every row is the tunnelled capture's.
    let gwlb = dir.join("gwlb.pcap");
    write_gwlb_capture(&dir.join("tunnelled.pcap"), &gwlb);
    let (r, rows) = compare_capture(&gwlb, false, &mut tuples);
    let _ = writeln!(
        summary,
        "  gwlb.pcap (tunnelled.pcap in GENEVE): {} packets ({} tunnelled), {} fields compared, {} mismatches",
        r.packets,
        r.tunnelled,
        r.fields,
        r.mismatches.len()
    );
    mismatches.extend(r.mismatches);
    let same = |gwlb: &Value, vxlan: &Value| {
        // The same capture times and packets; only the endpoint is new.
        let strip = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().map(|o| o.remove("gwlb_endpoint"));
            v
        };
        gwlb["gwlb_endpoint"] == "0f00000000000001"
            && vxlan["gwlb_endpoint"].is_null()
            && strip(gwlb) == strip(vxlan)
    };
    let tunnelled_rows = &by_capture["tunnelled.pcap"];
    if rows.len() != tunnelled_rows.len()
        || !rows.iter().zip(tunnelled_rows).all(|(a, b)| same(a, b))
    {
        mismatches.push("gwlb.pcap does not decode to tunnelled.pcap's rows".into());
    }
    assert!(
        r.tunnelled > 0,
        "gwlb.pcap: no GENEVE-wrapped mirror packet decoded"
    );
    let (ran, too_large) = run_gwlb_capture(&gwlb, &rows, &mut mismatches);
    let _ = writeln!(
        summary,
        "  gwlb.pcap through run --geneve-listen: {ran} rows, each sent packet once \
         ({too_large} not sent: larger than a GWLB's 8,568 bytes)"
    );

    // Community ID of every packet with a flow tuple, by the reference.
    let lines: Vec<String> = tuples
        .iter()
        .filter(|t| !t.1.is_empty())
        .map(|t| t.1.clone())
        .collect();
    let mut ids = reference_community_ids(&lines).into_iter();
    let (mut with_id, mut without_id) = (0, 0);
    for (what, tuple, ours) in &tuples {
        let theirs = if tuple.is_empty() {
            without_id += 1;
            None
        } else {
            with_id += 1;
            ids.next()
        };
        if *ours != theirs {
            mismatches.push(format!(
                "{what}: community_id: ours {ours:?}, reference {theirs:?} (tuple: {tuple})"
            ));
        }
    }
    let _ = writeln!(
        summary,
        "  community_id: {with_id} compared with the reference, {without_id} rows without a flow tuple (null)"
    );

    // The tunnelled capture's VNI 4242 rows are the plain capture's rows.
    let tunnelled: Vec<&Value> = by_capture["tunnelled.pcap"]
        .iter()
        .filter(|r| r["vni"].as_i64() == Some(4242))
        .collect();
    let plain: Vec<&Value> = by_capture["plain.pcap"].iter().collect();
    let (matched, boundary) = compare_plain_tunnelled(&plain, &tunnelled, &mut mismatches);
    let _ = writeln!(
        summary,
        "  plain.pcap vs tunnelled.pcap (VNI 4242): {matched} identical inner rows, \
         {boundary} outside the other capture's time window"
    );
    let pcapng: Vec<String> = by_capture["tunnelled.pcapng"]
        .iter()
        .map(ToString::to_string)
        .collect();
    let pcap: Vec<String> = by_capture["tunnelled.pcap"]
        .iter()
        .map(ToString::to_string)
        .collect();
    if pcap != pcapng {
        mismatches.push("tunnelled.pcap and tunnelled.pcapng decode to different rows".into());
    }

    eprintln!(
        "tshark comparison ({:.1} s, of which make.sh {:.1} s):\n{summary}",
        started.elapsed().as_secs_f64(),
        made.as_secs_f64()
    );
    if !mismatches.is_empty() {
        let shown: Vec<&String> = mismatches.iter().take(40).collect();
        panic!(
            "{} mismatches with tshark / the reference (first {}):\n{}",
            mismatches.len(),
            shown.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
