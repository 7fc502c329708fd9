//! End-to-end tests of `mirrorlake-collector run`: UDP in, lake out, queried
//! through `mirrorlake-aggregator query`; metrics, health and bad config.

use crate::support::{collector_bin, query_json};
use mirrorlake_wire::{FrameRepr, TransportRepr, emit_vxlan_payload};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub(crate) fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

// The daemons' HTTP side, read as the benchmark harness reads it.
pub(crate) use mirrorlake_ops::scrape::{get as http_get, series as metric};

/// The sum of every `mirrorlake_packets_dropped_total{reason=...}` series.
pub(crate) fn dropped_total(body: &str) -> u64 {
    mirrorlake_ops::scrape::total(body, "mirrorlake_packets_dropped_total").unwrap_or(0)
}

pub(crate) struct Collector {
    pub(crate) child: Child,
    http: SocketAddr,
    pub(crate) listen: SocketAddr,
}

impl Collector {
    pub(crate) fn start(lake: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_env(lake.as_os_str(), extra, &[])
    }

    /// Starts a collector writing `lake` (a path or URL) with extra
    /// environment variables.
    pub(crate) fn start_env(
        lake: &std::ffi::OsStr,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Self {
        Self::spawn(lake, extra, env, Stdio::inherit())
    }

    /// [`start_env`](Self::start_env) with the collector's log (stderr) in `stderr`.
    pub(crate) fn spawn(
        lake: &std::ffi::OsStr,
        extra: &[&str],
        env: &[(String, String)],
        stderr: Stdio,
    ) -> Self {
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port())
            .parse()
            .expect("addr");
        Self::spawn_at(listen, http, lake, extra, env, stderr)
    }

    /// [`spawn`](Self::spawn) on given addresses (a restart takes its
    /// predecessor's).
    pub(crate) fn spawn_at(
        listen: SocketAddr,
        http: SocketAddr,
        lake: &std::ffi::OsStr,
        extra: &[&str],
        env: &[(String, String)],
        stderr: Stdio,
    ) -> Self {
        let child = Command::new(collector_bin())
            .args([
                "run",
                "--listen",
                &listen.to_string(),
                "--http",
                &http.to_string(),
                "--collector-id",
                "e2e",
                "--sockets",
                "2",
            ])
            .arg("--lake")
            .arg(lake)
            .args(["--batch-max-age-ms", "100", "--file-max-age-ms", "2000"])
            .args(extra)
            .env("MIRRORLAKE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn collector");
        let c = Self {
            child,
            http,
            listen,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(http, "/healthz").map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "collector did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    pub(crate) fn http_addr(&self) -> SocketAddr {
        self.http
    }

    pub(crate) fn metrics(&self) -> String {
        http_get(self.http, "/metrics").expect("metrics").1
    }

    pub(crate) fn sigterm(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
    }

    pub(crate) fn sigterm_and_wait(mut self) -> std::process::ExitStatus {
        self.sigterm();
        self.child.wait().expect("wait")
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one sent packet must look like in the lake.
pub(crate) struct Expected {
    pub(crate) source: IpAddr,
    pub(crate) vni: u32,
    pub(crate) direction: &'static str,
    pub(crate) frame: Vec<u8>,
}

pub(crate) fn packet(i: u32) -> Expected {
    let source: IpAddr = [127, 0, 0, 20 + (i % 5) as u8].into();
    let peer: IpAddr = [10, 1, (i % 7) as u8, 9].into();
    let vni = 7 + i % 3;
    let egress = i.is_multiple_of(2);
    let mut payload = format!("e2e-{i:08}-").into_bytes();
    payload.resize(40 + (i as usize * 37) % 1300, b'x');
    let (src, dst, direction) = match i % 10 {
        9 => (
            "2001:db8::1".parse().expect("ip"),
            "2001:db8::2".parse().expect("ip"),
            "unknown",
        ),
        _ if egress => (source, peer, "egress"),
        _ => (peer, source, "ingress"),
    };
    let transport = match i % 3 {
        0 => TransportRepr::Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: i,
            ack: 1,
            flags: 0x18,
            window: 100,
        },
        1 => TransportRepr::Udp {
            src_port: 53,
            dst_port: 5353,
        },
        _ => TransportRepr::Icmp {
            icmp_type: 8,
            code: 0,
        },
    };
    let mut frame = Vec::new();
    FrameRepr {
        src_mac: [2; 6],
        dst_mac: [4; 6],
        vlans: [None, None],
        src,
        dst,
        ttl: 64,
        transport,
        payload: &payload,
    }
    .emit(&mut frame)
    .expect("emit");
    Expected {
        source,
        vni,
        direction,
        frame,
    }
}

/// Sends `packet(0..n)` to `to`, each from its own source address (one
/// socket per source), pausing 2 ms every 200 packets; `each` sees every
/// packet sent.
pub(crate) fn send_packets(to: SocketAddr, n: u32, mut each: impl FnMut(&Expected)) {
    let mut sockets: HashMap<IpAddr, UdpSocket> = HashMap::new();
    let mut dgram = Vec::new();
    for i in 0..n {
        let p = packet(i);
        let s = sockets
            .entry(p.source)
            .or_insert_with(|| UdpSocket::bind((p.source, 0)).expect("bind source"));
        dgram.clear();
        emit_vxlan_payload(p.vni, &p.frame, &mut dgram);
        s.send_to(&dgram, to).expect("send");
        each(&p);
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn every_packet_lands_exactly_once_with_its_origin() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let c = Collector::start(&lake, &[]);
    const N: u32 = 3000;
    send_packets(c.listen, N, |_| {});
    // Garbage around the good packets: counted by reason, never fatal.
    let g = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..5 {
        g.send_to(&[8, 0, 0], c.listen).expect("short");
        g.send_to(
            &[
                0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
            ],
            c.listen,
        )
        .expect("no I flag");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let m = c.metrics();
        if metric(&m, "mirrorlake_packets_received_total") == Some(u64::from(N) + 10) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "not all datagrams received:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        metric(
            &m,
            "mirrorlake_packets_dropped_total{reason=\"vxlan_too_short\"}"
        ),
        Some(5),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "mirrorlake_packets_dropped_total{reason=\"vxlan_no_vni\"}"
        ),
        Some(5),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "mirrorlake_packets_dropped_total{reason=\"backpressure\"}"
        ),
        Some(0),
        "{m}"
    );
    assert_eq!(metric(&m, "mirrorlake_kernel_drops_total"), Some(0), "{m}");
    assert!(c.sigterm_and_wait().success(), "clean exit on SIGTERM");

    let rows = query_json(
        &lake,
        "SELECT mirror_source, vni, direction, wire_len, cap_len, frame FROM packets",
    );
    let mut seen = vec![0u32; N as usize];
    for row in rows {
        let frame = hex(row["frame"].as_str().expect("frame"));
        let tag = frame
            .windows(4)
            .position(|w| w == b"e2e-")
            .expect("tagged payload");
        let i: u32 = std::str::from_utf8(&frame[tag + 4..tag + 12])
            .expect("tag")
            .parse()
            .expect("seq");
        let want = packet(i);
        assert_eq!(frame, want.frame, "frame {i} byte-identical");
        assert_eq!(
            row["mirror_source"].as_str(),
            Some(want.source.to_string().as_str()),
            "packet {i}"
        );
        assert_eq!(row["vni"].as_u64(), Some(u64::from(want.vni)), "packet {i}");
        assert_eq!(
            row["direction"].as_str(),
            Some(want.direction),
            "packet {i}"
        );
        assert_eq!(row["wire_len"].as_u64(), Some(want.frame.len() as u64));
        assert_eq!(row["cap_len"].as_u64(), Some(want.frame.len() as u64));
        seen[i as usize] += 1;
    }
    let missing = seen.iter().filter(|n| **n == 0).count();
    let dup = seen.iter().filter(|n| **n > 1).count();
    assert_eq!((missing, dup), (0, 0), "every packet exactly once");

    // Partition columns come from the path and prune.
    let csv = crate::support::query_csv(
        &lake,
        "SELECT count(*) AS n FROM packets WHERE dt >= '2000-01-01' AND hour IS NOT NULL",
    );
    assert_eq!(csv.lines().nth(1), Some(N.to_string().as_str()));
    // The flows files beside the packets files account for every packet.
    crate::support::assert_flows_account_for_packets(&lake);
}

#[test]
fn allowlists_drop_and_count() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = Collector::start(
        &dir.path().join("lake"),
        &[
            "--allowed-source-cidrs",
            "127.0.0.20/32",
            "--allowed-vnis",
            "7",
        ],
    );
    let mut dgram = Vec::new();
    let frame = packet(0).frame;
    for (src, vni) in [
        ([127, 0, 0, 20], 7),
        ([127, 0, 0, 21], 7),
        ([127, 0, 0, 20], 8),
    ] {
        dgram.clear();
        emit_vxlan_payload(vni, &frame, &mut dgram);
        UdpSocket::bind((IpAddr::from(src), 0))
            .expect("bind")
            .send_to(&dgram, c.listen)
            .expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = c.metrics();
        if metric(&m, "mirrorlake_packets_received_total") == Some(3) {
            assert_eq!(
                metric(
                    &m,
                    "mirrorlake_packets_dropped_total{reason=\"source_not_allowed\"}"
                ),
                Some(1),
                "{m}"
            );
            assert_eq!(
                metric(
                    &m,
                    "mirrorlake_packets_dropped_total{reason=\"vni_not_allowed\"}"
                ),
                Some(1),
                "{m}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.sigterm_and_wait().success());
    let csv = crate::support::query_csv(
        &dir.path().join("lake"),
        "SELECT count(*) AS n FROM packets",
    );
    assert_eq!(csv.lines().nth(1), Some("1"));
}

#[test]
fn drain_answers_503_and_keeps_receiving() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let c = Collector::start(&lake, &["--drain-ms", "1500"]);
    c.sigterm();
    let deadline = Instant::now() + Duration::from_secs(5);
    while http_get(c.http, "/healthz").map(|r| r.0) != Some(503) {
        assert!(Instant::now() < deadline, "healthz never went 503");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still receiving while draining.
    let mut dgram = Vec::new();
    emit_vxlan_payload(7, &packet(1).frame, &mut dgram);
    UdpSocket::bind("127.0.0.20:0")
        .expect("bind")
        .send_to(&dgram, c.listen)
        .expect("send");
    let mut c = c;
    assert!(c.child.wait().expect("wait").success());
    let csv = crate::support::query_csv(&lake, "SELECT count(*) AS n FROM packets");
    assert_eq!(
        csv.lines().nth(1),
        Some("1"),
        "the packet sent while draining was kept"
    );
}

#[test]
fn bad_config_exits_non_zero_naming_the_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("c.toml");
    for (text, field) in [
        ("listne = \"127.0.0.1:1\"\n", "listne"),
        ("[files]\nzstd_level = 99\n", "files.zstd_level"),
        ("allowed_vnis = [16777216]\n", "allowed_vnis"),
        ("listen = \"not an address\"\n", "listen"),
    ] {
        std::fs::write(&cfg, text).expect("write");
        let out = Command::new(collector_bin())
            .args(["run", "--config"])
            .arg(&cfg)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(field),
            "error for {text:?} should name {field}: {err}"
        );
    }
    let out = Command::new(collector_bin())
        .args(["run", "--listen", "nope"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn import_then_query_equals_the_capture() {
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("mirror.pcap");
    let lake = dir.path().join("lake");
    const N: u32 = 300;
    let base_us: i64 = 1_764_000_000_000_000; // 2025-11-24T16:00:00Z
    crate::s3::write_capture(&pcap, N, 0, base_us, 1000);
    let out = Command::new(collector_bin())
        .args(["import", "--lake"])
        .arg(&lake)
        .arg(&pcap)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rows = query_json(
        &lake,
        "SELECT CAST(ts AS BIGINT) AS ts_us, mirror_source, vni, direction, frame, dt, hour FROM packets ORDER BY ts",
    );
    assert_eq!(rows.len(), N as usize);
    for (i, row) in rows.iter().enumerate() {
        let p = packet(i as u32);
        let plain = i % 10 == 5;
        assert_eq!(
            row["ts_us"].as_i64(),
            Some(base_us + i as i64 * 1000),
            "capture time kept"
        );
        assert_eq!(
            hex(row["frame"].as_str().expect("frame")),
            p.frame,
            "row {i}"
        );
        assert_eq!(row["dt"].as_str(), Some("2025-11-24"));
        assert_eq!(row["hour"].as_str(), Some("16"));
        if plain {
            assert!(
                row["vni"].is_null() && row["mirror_source"].is_null(),
                "row {i}"
            );
        } else {
            assert_eq!(row["vni"].as_u64(), Some(u64::from(p.vni)));
            assert_eq!(
                row["mirror_source"].as_str(),
                Some(p.source.to_string().as_str())
            );
            assert_eq!(row["direction"].as_str(), Some(p.direction));
        }
    }
    // An engine nobody here wrote agrees on what is in the capture.
    if !crate::support::have("tshark") {
        crate::support::skip(
            "tshark comparison of imported rows",
            "tshark not installed",
            None,
        );
        return;
    }
    let t = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-e", "vxlan.vni"])
        .output()
        .expect("tshark");
    assert!(t.status.success());
    let tshark_vnis: Vec<String> = String::from_utf8_lossy(&t.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        tshark_vnis.len(),
        rows.len(),
        "tshark and the lake count the same packets"
    );
    for (row, vni) in rows.iter().zip(&tshark_vnis) {
        let ours = row["vni"]
            .as_u64()
            .map(|v| v.to_string())
            .unwrap_or_default();
        assert_eq!(&ours, vni);
    }
}

/// Overload: a collector with a 64 KiB socket buffer (every datagram fits,
/// bursts do not) is sent 200,000 packets as fast as the generator goes. Packets are lost, and every loss is
/// counted: the ids `loadtest verify` finds missing in the lake are as many
/// as the kernel's socket drops plus the collector's own drop counters,
/// plus at most the kernel's backlog drops before any socket (softnet,
/// machine-wide). Drops after a socket's last datagram are counted too:
/// an idle receive loop reads the socket's count (SO_MEMINFO).
#[test]
fn overload_losses_equal_the_drop_counters() {
    use crate::cluster::{send, verify};
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let c = Collector::start(&lake, &["--rcvbuf-bytes", "65536"]);
    const N: u64 = 200_000;
    let softnet_before = crate::support::softnet_dropped();
    assert!(send(&[&c], 21, N, 0).wait().expect("send").success());
    // Until the receive loops have taken everything off the sockets and,
    // idle, read the sockets' final drop counts.
    let counts = || {
        let m = c.metrics();
        (
            metric(&m, "mirrorlake_packets_received_total"),
            metric(&m, "mirrorlake_kernel_drops_total"),
        )
    };
    let mut last = counts();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = counts();
        if now == last {
            break;
        }
        last = now;
    }
    let m = c.metrics();
    assert!(c.sigterm_and_wait().success(), "clean exit");
    let kernel = metric(&m, "mirrorlake_kernel_drops_total").unwrap_or(0);
    let dropped = dropped_total(&m);
    let overload = verify(&lake, 21, N);
    eprintln!(
        "overload: sent {N}, in the lake {}, kernel drops {kernel}, collector drops {dropped}",
        overload.unique
    );
    assert!(kernel > 0, "the run must overload the socket:\n{m}");
    assert_eq!((overload.duplicated, overload.unexpected), (0, 0));
    // A sender this fast can also overrun the kernel's per-CPU backlog
    // before the socket (softnet drops, machine-wide, no socket counts
    // them): what the counters miss must be no more than those.
    let softnet = crate::support::softnet_dropped() - softnet_before;
    let lost = N - overload.unique;
    assert!(
        lost >= kernel + dropped && lost - (kernel + dropped) <= softnet,
        "verify's losses ({lost}) and the counters ({kernel} kernel + {dropped} collector, \
         {softnet} softnet drops machine-wide) disagree:\n{m}"
    );
}
