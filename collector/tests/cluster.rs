//! Cluster mode against a real Apache Kafka broker (started by
//! `deploy/local/kafka.sh`, idempotent): collectors publish, aggregators
//! write the lake, and `mirrorlake-loadtest verify` accounts for every
//! packet by its id. The tests share one broker and take turns (one of them
//! stops it).

use crate::e2e::{Collector, dropped_total, free_tcp_port, http_get, metric};
use crate::support::{aggregator_bin, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static BROKER: Mutex<()> = Mutex::new(());

fn kafka_sh(args: &[&str]) {
    let out = Command::new("bash")
        .arg(repo_root().join("deploy/local/kafka.sh"))
        .args(args)
        .output()
        .expect("run deploy/local/kafka.sh");
    assert!(
        out.status.success(),
        "deploy/local/kafka.sh {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Takes the broker for one test, starting it if needed (`start` is
/// idempotent; a previous test may have stopped it).
pub(crate) fn broker() -> (MutexGuard<'static, ()>, &'static str) {
    let guard = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    kafka_sh(&["start"]);
    (guard, "127.0.0.1:19092")
}

fn unique(name: &str) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{name}-{}-{t}", std::process::id())
}

pub(crate) fn loadtest_bin() -> PathBuf {
    aggregator_bin().with_file_name("mirrorlake-loadtest")
}

struct Aggregator {
    child: Child,
    http: std::net::SocketAddr,
}

impl Aggregator {
    fn start(kafka: &str, topic: &str, group: &str, lake: &Path, id: &str) -> Self {
        Self::start_with(kafka, topic, group, lake, id, &[])
    }

    fn start_with(
        kafka: &str,
        topic: &str,
        group: &str,
        lake: &Path,
        id: &str,
        extra: &[String],
    ) -> Self {
        Self::spawn(
            kafka,
            topic,
            group,
            lake.as_os_str(),
            id,
            extra,
            &[],
            Stdio::inherit(),
        )
    }

    /// An aggregator writing `lake` (a path or URL) with `env` added and
    /// its log (stderr) in `stderr`.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        kafka: &str,
        topic: &str,
        group: &str,
        lake: &std::ffi::OsStr,
        id: &str,
        extra: &[String],
        env: &[(String, String)],
        stderr: Stdio,
    ) -> Self {
        let http: std::net::SocketAddr = format!("127.0.0.1:{}", free_tcp_port())
            .parse()
            .expect("addr");
        let child = Command::new(aggregator_bin())
            .args(["run", "--kafka", kafka, "--topic", topic, "--group", group])
            .args(["--id", id, "--http", &http.to_string()])
            .args(["--file-max-age-ms", "1500"])
            .arg("--lake")
            .arg(lake)
            .args(extra)
            .env("MIRRORLAKE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn aggregator");
        let a = Self { child, http };
        let deadline = Instant::now() + Duration::from_secs(40);
        while http_get(http, "/healthz").map(|r| r.0) != Some(200) {
            assert!(Instant::now() < deadline, "aggregator did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        a
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn sigterm(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait")
    }

    fn metric(&self, name: &str) -> Option<u64> {
        metric(&http_get(self.http, "/metrics")?.1, name)
    }
}

impl Drop for Aggregator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_collector(kafka: &str, topic: &str, lake: &Path, extra: &[&str]) -> Collector {
    let mut args = vec!["--kafka", kafka, "--topic", topic];
    args.extend_from_slice(extra);
    Collector::start(lake, &args)
}

/// `kafka.sh env` (the TLS listener, its CA, the SCRAM user...), run once,
/// as a lookup that names a missing key.
fn kafka_env() -> impl Fn(&str) -> String {
    let env = crate::support::stack_env("kafka.sh");
    move |key| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("kafka.sh env has no {key}"))
    }
}

/// Starts `send` in the background.
pub(crate) fn send(targets: &[&Collector], run: u32, count: u64, rate: u64) -> Child {
    let mut c = Command::new(loadtest_bin());
    c.args([
        "send",
        "--run-id",
        &run.to_string(),
        "--seed",
        &run.to_string(),
    ])
    .args(["--count", &count.to_string(), "--rate", &rate.to_string()]);
    for t in targets {
        c.args(["--target", &t.listen.to_string()]);
    }
    c.stdout(Stdio::null())
        .spawn()
        .expect("spawn loadtest send")
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Verified {
    pub(crate) unique: u64,
    pub(crate) duplicated: u64,
    pub(crate) unexpected: u64,
}

impl Verified {
    /// Every one of `want` rows is in the lake once, and nothing else is.
    pub(crate) fn assert_exactly(&self, want: u64, what: &str) {
        assert_eq!(
            (self.unique, self.duplicated, self.unexpected),
            (want, 0, 0),
            "{what}: every published row exactly once ({self:?})"
        );
    }
}

pub(crate) fn verify(lake: &Path, run: u32, sent: u64) -> Verified {
    verify_in(lake.as_os_str(), &[], run, sent)
}

/// `loadtest verify` of a lake at a path or URL, with `env` (S3 settings).
pub(crate) fn verify_in(
    lake: &std::ffi::OsStr,
    env: &[(String, String)],
    run: u32,
    sent: u64,
) -> Verified {
    let out = Command::new(loadtest_bin())
        .args([
            "verify",
            "--run",
            &run.to_string(),
            "--sent",
            &sent.to_string(),
        ])
        .arg("--lake")
        .arg(lake)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run verify");
    assert!(
        out.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("verify report")
}

/// Polls `verify` until `want` unique ids are in the lake (or time runs out).
fn wait_for_lake(lake: &Path, run: u32, sent: u64, want: u64, secs: u64) -> Verified {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = if lake.join("packets").exists() {
            verify(lake, run, sent)
        } else {
            Verified {
                unique: 0,
                duplicated: 0,
                unexpected: 0,
            }
        };
        if v.unique >= want || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Rows a collector received but has not yet accounted for (published or
/// dropped): 0 once its queue has drained.
fn pending(c: &Collector) -> i64 {
    let m = c.metrics();
    let get = |n: &str| metric(&m, n).unwrap_or(0) as i64;
    let dropped = dropped_total(&m) as i64;
    get("mirrorlake_packets_received_total") - get("mirrorlake_rows_published_total") - dropped
}

fn wait_drained(c: &Collector, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while pending(c) != 0 {
        assert!(
            Instant::now() < deadline,
            "collector never accounted for every packet:\n{}",
            c.metrics()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cluster_two_collectors_two_aggregators_exactly_once() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("rt"), unique("g"));
    let c1 = start_collector(kafka, &topic, &lake, &[]);
    let c2 = start_collector(kafka, &topic, &lake, &[]);
    // a1 also serves the live tail: one client follows VNI 101 of the whole fleet.
    let tail = crate::tail::TailServer::new(dir.path());
    let a1 = Aggregator::start_with(kafka, &topic, &group, &lake, "a1", &tail.server_args());
    let a2 = Aggregator::start(kafka, &topic, &group, &lake, "a2");
    let live = dir.path().join("live.pcapng");
    let mut client = tail
        .client(&["--where", "vni = 101", "-w", "-"])
        .stdout(std::fs::File::create(&live).expect("live file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail client");
    let deadline = Instant::now() + Duration::from_secs(20);
    while a1.metric("mirrorlake_aggregator_tail_clients") != Some(1) {
        assert!(Instant::now() < deadline, "tail client did not attach");
        std::thread::sleep(Duration::from_millis(100));
    }
    const N: u64 = 30_000;
    let mut s = send(&[&c1, &c2], 11, N, 15_000);
    assert!(s.wait().expect("send").success());
    wait_drained(&c1, 30);
    wait_drained(&c2, 30);
    let published: u64 = [&c1, &c2]
        .iter()
        .map(|c| metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0))
        .sum();
    let v = wait_for_lake(&lake, 11, N, published, 60);
    assert!(
        published > N * 9 / 10,
        "loopback lost more than 10%: {published}"
    );
    v.assert_exactly(published, "every published row exactly once");
    for c in [&c1, &c2] {
        assert!(
            metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0) > 0,
            "both collectors carried traffic"
        );
    }
    assert!(a1.metric("mirrorlake_aggregator_partitions").is_some());
    // The tail saw VNI 1 of both collectors, as the lake did, and its reader
    // (own assignment, no commits) did not disturb the lake writers.
    let want = crate::tail::exported(&lake, dir.path(), &["--where", "vni = 101"]);
    assert!(!want.is_empty());
    let got = crate::tail::wait_for_packets(&live, want.len());
    let client = crate::tail::sigterm(&mut client);
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert_eq!(got.len(), want.len(), "tail vs lake, VNI 101");
    assert!(got == want, "tail and lake disagree on VNI 101");
    assert!(a1.sigterm().success() && a2.sigterm().success());
    assert!(c1.sigterm_and_wait().success() && c2.sigterm_and_wait().success());
    // After a clean stop nothing changed.
    assert_eq!(verify(&lake, 11, N).unique, published);
    crate::support::assert_flows_account_for_packets(&lake);
}

/// Arrival fidelity through Kafka: 300,000 generated packets at 120,000/s
/// through a collector, the broker and an aggregator, then `export`: each
/// flow's packets in send order with their own kernel timestamps, as in
/// single-node mode (`loadtest.rs`). The payloads are filler: incompressible
/// ones at 120,000/s (160 MB/s) are more than the cluster-mode sink encodes
/// on one core here (it drops them as `backpressure`; the performance issue's
/// parallel encoding), and this test is about order, not bandwidth.
#[test]
fn cluster_export_replays_each_flow_in_arrival_order() {
    let (_b, kafka) = broker();
    let _turn = crate::loadtest::fidelity_turn();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("order"), unique("g"));
    let c = start_collector(kafka, &topic, &lake, &[]);
    let a = Aggregator::start(kafka, &topic, &group, &lake, "a1");
    const N: u64 = crate::loadtest::FIDELITY_PACKETS;
    crate::loadtest::send_fidelity_run(&c, 43, "filler");
    wait_drained(&c, 30);
    let published = metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0);
    wait_for_lake(&lake, 43, N, published, 60).assert_exactly(published, "published rows");
    assert!(a.sigterm().success());
    assert!(c.sigterm_and_wait().success());
    crate::loadtest::assert_arrival_fidelity(&lake, 43, N);
}

/// An aggregator started before any collector waits for the topic instead
/// of creating it with a count of its own: the first collector creates it
/// with its `kafka.partitions` (here 3, not the built-in 12), and the
/// aggregator is assigned exactly those.
#[test]
fn an_aggregator_waits_for_the_topic_the_collectors_size() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[kafka]\npartitions = 3\n").expect("config");
    let (topic, group) = (unique("wait"), unique("g"));
    let collector = {
        let (kafka, topic, lake, config) = (kafka.to_owned(), topic.clone(), lake.clone(), config);
        std::thread::spawn(move || {
            // Long enough for the aggregator to have created the topic, were it to.
            std::thread::sleep(Duration::from_secs(5));
            let config = config.to_str().expect("utf8").to_owned();
            start_collector(&kafka, &topic, &lake, &["--config", &config])
        })
    };
    let a = Aggregator::start(kafka, &topic, &group, &lake, "a");
    let _c = collector.join().expect("collector");
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.metric("mirrorlake_aggregator_partitions") != Some(3) {
        assert!(
            Instant::now() < deadline,
            "the aggregator holds {:?} partitions, not the collector's 3",
            a.metric("mirrorlake_aggregator_partitions")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cluster_aggregator_sigkill_and_rebalance_lose_and_duplicate_nothing() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("kill"), unique("g"));
    let c = start_collector(kafka, &topic, &lake, &[]);
    let mut a = Aggregator::start(kafka, &topic, &group, &lake, "a");
    let b = Aggregator::start(kafka, &topic, &group, &lake, "b");
    // 20 kills 0.5-1.5 s apart while 8,000 packets/s flow for about 35 s.
    const KILLS: u32 = 20;
    const N: u64 = 280_000;
    let mut s = send(&[&c], 12, N, 8_000);
    // Kill `a` at pseudo-random moments (seeded by the clock; printed).
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos() as u64);
    eprintln!("sigkill schedule seed {seed}");
    let mut x = seed | 1;
    for i in 0..KILLS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let wait = 500 + x % 1000;
        std::thread::sleep(Duration::from_millis(wait));
        eprintln!("SIGKILL aggregator a after {wait} ms (round {i})");
        a.kill();
        a = Aggregator::start(kafka, &topic, &group, &lake, "a");
    }
    // One member leaves for good mid-run (graceful: its ranges are published).
    assert!(b.sigterm().success(), "b leaves cleanly");
    assert!(s.wait().expect("send").success());
    wait_drained(&c, 30);
    let published = metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0);
    // The survivor takes b's partitions after the session timeout.
    let v = wait_for_lake(&lake, 12, N, published, 180);
    v.assert_exactly(
        published,
        &format!("exactly once through {KILLS} SIGKILLs and a member leaving (seed {seed})"),
    );
    crate::support::assert_flows_account_for_packets(&lake);
    assert!(
        a.metric("mirrorlake_aggregator_ranges_committed_total")
            .is_some()
    );
}

/// Resident set of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What watching collectors through an outage saw.
#[derive(Debug, Default)]
struct Watch {
    /// Peak RSS of each collector, KiB.
    peak_rss_kib: Vec<u64>,
    /// Peak bytes in each collector's spool.
    peak_spool_bytes: Vec<u64>,
    /// Probes of /livez that did not answer 200.
    not_live: u64,
    /// Probes of /healthz (readiness) that did not answer 200.
    not_ready: u64,
}

/// Probes `collectors` every 250 ms for `secs`.
fn watch(collectors: &[&Collector], secs: u64) -> Watch {
    let mut w = Watch {
        peak_rss_kib: vec![0; collectors.len()],
        peak_spool_bytes: vec![0; collectors.len()],
        ..Watch::default()
    };
    for _ in 0..secs * 4 {
        std::thread::sleep(Duration::from_millis(250));
        for (i, c) in collectors.iter().enumerate() {
            w.peak_rss_kib[i] = w.peak_rss_kib[i].max(rss_kib(c.child.id()));
            w.not_live += u64::from(http_get(c.http_addr(), "/livez").map(|r| r.0) != Some(200));
            w.not_ready += u64::from(http_get(c.http_addr(), "/healthz").map(|r| r.0) != Some(200));
            let spool = metric(&c.metrics(), "mirrorlake_spool_bytes").unwrap_or(0);
            w.peak_spool_bytes[i] = w.peak_spool_bytes[i].max(spool);
        }
    }
    w
}

/// The broker away for 30 s under two collectors at 6,000 packets/s each:
/// one without a spool (a 4 MiB producer queue) loses most of the outage,
/// counted as `kafka_queue_full`; one with a spool too small for the outage
/// (8 MiB) loses exactly what its `spool_full` counter says. Both account
/// for every packet sent: in the lake once, or in one drop counter.
#[test]
fn cluster_broker_outage_is_counted_and_recovered() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("outage"), unique("g"));
    let cfg = dir.path().join("collector.toml");
    std::fs::write(&cfg, "[kafka]\nqueue_kbytes = 4096\n").expect("config");
    let plain = start_collector(
        kafka,
        &topic,
        &lake,
        &["--config", cfg.to_str().expect("utf8")],
    );
    let spool_dir = dir.path().join("spool");
    let small = start_collector(
        kafka,
        &topic,
        &lake,
        &[
            "--spool-dir",
            spool_dir.to_str().expect("utf8"),
            "--spool-max-bytes",
            "8388608",
        ],
    );
    let a = Aggregator::start(kafka, &topic, &group, &lake, "a");
    // 6,000 packets/s each for about 45 s; the broker is away for 30 s of it.
    const N: u64 = 270_000;
    let mut s1 = send(&[&plain], 13, N, 6_000);
    let mut s2 = send(&[&small], 14, N, 6_000);
    std::thread::sleep(Duration::from_secs(3));
    kafka_sh(&["stop"]);
    let received_at_stop =
        metric(&plain.metrics(), "mirrorlake_packets_received_total").unwrap_or(0);
    let w = watch(&[&plain, &small], 30);
    let received_in_outage = metric(&plain.metrics(), "mirrorlake_packets_received_total")
        .unwrap_or(0)
        - received_at_stop;
    kafka_sh(&["start"]);
    assert!(s1.wait().expect("send").success() && s2.wait().expect("send").success());
    wait_drained(&plain, 180);
    wait_drained(&small, 180);
    assert_eq!(w.not_live, 0, "/livez stayed 200 through the outage");
    assert!(received_in_outage > 100_000, "the collector kept receiving");
    for (c, run, reason) in [(&plain, 13, "kafka_queue_full"), (&small, 14, "spool_full")] {
        let m = c.metrics();
        let lost_to = metric(
            &m,
            &format!("mirrorlake_packets_dropped_total{{reason=\"{reason}\"}}"),
        )
        .unwrap_or(0);
        let published = metric(&m, "mirrorlake_rows_published_total").unwrap_or(0);
        assert!(
            lost_to > 0,
            "the outage overflowed the {reason} bound:\n{m}"
        );
        let v = wait_for_lake(&lake, run, N, published, 180);
        v.assert_exactly(
            published,
            &format!("the lake holds exactly what was not counted as dropped ({reason} {lost_to})"),
        );
        let dropped = dropped_total(&m);
        let kernel = metric(&m, "mirrorlake_kernel_drops_total").unwrap_or(0);
        eprintln!(
            "broker away 30 s, run {run}: sent {N}, in the lake {}, dropped {dropped} ({reason} {lost_to}), \
             kernel drops {kernel}, spooled rows {}, replayed rows {}",
            v.unique,
            metric(&m, "mirrorlake_spool_rows_written_total").unwrap_or(0),
            metric(&m, "mirrorlake_spool_rows_replayed_total").unwrap_or(0),
        );
        assert_eq!(dropped, lost_to, "the only losses are {reason}:\n{m}");
        assert_eq!(
            v.unique + dropped + kernel,
            N,
            "verifier and counters disagree:\n{m}"
        );
    }
    eprintln!(
        "peak RSS KiB {:?}, peak spool bytes {:?}",
        w.peak_rss_kib, w.peak_spool_bytes
    );
    drop(a);
}

/// The acceptance test of the disk spool: two collectors and two
/// aggregators, 10,500 packets/s for 90 s (real-traffic payloads), the
/// broker stopped for 45 s in the middle: every packet is in the lake once,
/// nothing is dropped, both collectors stay live and ready throughout.
#[test]
fn cluster_broker_outage_with_a_spool_loses_nothing() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("spool"), unique("g"));
    let spool = |n: &str| dir.path().join(n).to_str().expect("utf8").to_owned();
    let (d1, d2) = (spool("spool1"), spool("spool2"));
    let c1 = start_collector(kafka, &topic, &lake, &["--spool-dir", &d1]);
    let c2 = start_collector(kafka, &topic, &lake, &["--spool-dir", &d2]);
    let a1 = Aggregator::start(kafka, &topic, &group, &lake, "a1");
    let a2 = Aggregator::start(kafka, &topic, &group, &lake, "a2");
    const RATE: u64 = 10_500;
    const N: u64 = RATE * 90;
    let started = Instant::now();
    let mut s = send(&[&c1, &c2], 15, N, RATE);
    let before = watch(&[&c1, &c2], 20);
    kafka_sh(&["stop"]);
    let stopped = started.elapsed();
    let during = watch(&[&c1, &c2], 45);
    kafka_sh(&["start"]);
    let after = watch(&[&c1, &c2], 10);
    assert!(s.wait().expect("send").success());
    wait_drained(&c1, 240);
    wait_drained(&c2, 240);
    let v = wait_for_lake(&lake, 15, N, N, 240);
    let mut spooled = 0;
    for c in [&c1, &c2] {
        let m = c.metrics();
        assert_eq!(dropped_total(&m), 0, "nothing dropped:\n{m}");
        assert_eq!(metric(&m, "mirrorlake_kernel_drops_total"), Some(0), "{m}");
        assert_eq!(
            metric(&m, "mirrorlake_spool_records"),
            Some(0),
            "spool drained:\n{m}"
        );
        spooled += metric(&m, "mirrorlake_spool_rows_written_total").unwrap_or(0);
    }
    let peak_rss = |w: &Watch| w.peak_rss_kib.iter().copied().max().unwrap_or(0);
    eprintln!(
        "spool acceptance: {N} packets at {RATE}/s, broker stopped at {:.0} s for 45 s: in the lake {} \
         (duplicated {}), spooled rows {spooled}, peak spool bytes {:?}, peak RSS KiB before/during/after \
         {}/{}/{}, /livez not 200: {}, /healthz not 200: {}",
        stopped.as_secs_f64(),
        v.unique,
        v.duplicated,
        during.peak_spool_bytes,
        peak_rss(&before),
        peak_rss(&during),
        peak_rss(&after),
        before.not_live + during.not_live + after.not_live,
        before.not_ready + during.not_ready + after.not_ready,
    );
    v.assert_exactly(N, "every packet once through a 45 s broker outage");
    assert!(
        spooled > RATE * 30,
        "the outage went through the spool: {spooled}"
    );
    for w in [&before, &during, &after] {
        assert_eq!(w.not_live, 0, "/livez 200 throughout");
        assert_eq!(w.not_ready, 0, "spooling is ready: /healthz 200 throughout");
    }
    assert!(
        peak_rss(&during) < 256 * 1024,
        "RSS bounded while spooling: {} KiB",
        peak_rss(&during)
    );
    assert!(a1.sigterm().success() && a2.sigterm().success());
    assert!(c1.sigterm_and_wait().success() && c2.sigterm_and_wait().success());
    crate::support::assert_flows_account_for_packets(&lake);
}

/// The ids of run `run`'s packets in the spool at `dir` (opened as the
/// collector opens it after a crash: a torn tail cut off).
fn spooled_ids(dir: &Path, run: u32) -> Vec<u64> {
    use arrow::array::AsArray;
    let (mut spool, _) = mirrorlake_spool::Spool::open(mirrorlake_spool::SpoolConfig {
        dir: dir.to_owned(),
        max_bytes: u64::MAX,
        segment_bytes: 64 << 20,
        fsync_interval: Duration::from_secs(1),
    })
    .expect("open the spool");
    let mut needle = b"MLLT".to_vec();
    needle.extend_from_slice(&run.to_be_bytes());
    let mut ids = Vec::new();
    while let Some(e) = spool.next_unsent().expect("read the spool") {
        for b in mirrorlake_schema::message::decode(&e.body).expect("a spooled message") {
            let frames = b.column_by_name("frame").expect("frame").as_binary::<i32>();
            for f in frames.iter().flatten() {
                if let Some(at) = f.windows(8).position(|w| w == needle.as_slice()) {
                    let id = f.get(at + 8..at + 16).expect("tag");
                    ids.push(u64::from_be_bytes(id.try_into().expect("8 bytes")));
                }
            }
        }
    }
    ids
}

/// A collector SIGKILLed 10 times at random moments while the broker is
/// away and twice while it replays to the broker again, restarted on the
/// same spool each time: every packet any of its
/// lives had written to the spool is in the lake once, nothing is stored
/// twice (the replay of a previous life is read back, not resent), and the
/// packets lost are at most what it held in memory (batches not yet
/// spooled, messages awaiting the brokers: `spool.inflight_kbytes`) plus
/// what arrived while it was down.
#[test]
fn cluster_collector_sigkilled_while_spooling_replays_exactly_once() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("crash"), unique("g"));
    let spool_dir = dir.path().join("spool");
    let cfg = dir.path().join("collector.toml");
    std::fs::write(&cfg, "[kafka]\nstartup_timeout_ms = 1000\n").expect("config");
    let args = [
        "--kafka",
        kafka,
        "--topic",
        &topic,
        "--config",
        cfg.to_str().expect("utf8"),
        "--spool-dir",
        spool_dir.to_str().expect("utf8"),
    ];
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", crate::e2e::free_port())
        .parse()
        .expect("addr");
    let http: std::net::SocketAddr = format!("127.0.0.1:{}", free_tcp_port())
        .parse()
        .expect("addr");
    let spawn =
        || Collector::spawn_at(listen, http, lake.as_os_str(), &args, &[], Stdio::inherit());
    let mut c = spawn();
    let a = Aggregator::start(kafka, &topic, &group, &lake, "a");
    const RATE: u64 = 4_000;
    const N: u64 = RATE * 60;
    const KILLS: u32 = 10;
    let mut s = send(&[&c], 16, N, RATE);
    std::thread::sleep(Duration::from_secs(3));
    kafka_sh(&["stop"]);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos() as u64);
    eprintln!("sigkill schedule seed {seed}");
    let mut x = seed | 1;
    let mut spooled = std::collections::BTreeSet::new();
    // Packets a kill may take: what a life held in memory when last scraped,
    // what arrived between that scrape and its restart.
    let (mut in_memory, mut down_ms) = (0u64, 0u64);
    for i in 0..KILLS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_millis(1000 + x % 2000));
        let m = c.metrics();
        let get = |n: &str| metric(&m, n).unwrap_or(0);
        let held = get("mirrorlake_packets_received_total").saturating_sub(
            get("mirrorlake_spool_rows_written_total")
                + get("mirrorlake_rows_published_total")
                + dropped_total(&m),
        );
        in_memory += held;
        let t = Instant::now();
        let _ = c.child.kill();
        let _ = c.child.wait();
        let ids = spooled_ids(&spool_dir, 16);
        eprintln!(
            "SIGKILL {i}: held in memory {held}, {} ids in the spool",
            ids.len()
        );
        spooled.extend(ids);
        c = spawn();
        down_ms += t.elapsed().as_millis() as u64;
    }
    std::thread::sleep(Duration::from_secs(2));
    kafka_sh(&["start"]);
    // Two more kills while the spool replays to the brokers again: what a
    // life replayed but did not yet mark as acknowledged is read back from
    // the topic by the next one, not sent twice.
    let mut already_stored = 0;
    for i in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric(&c.metrics(), "mirrorlake_spool_rows_replayed_total").unwrap_or(0) == 0 {
            assert!(
                Instant::now() < deadline,
                "replay never started:\n{}",
                c.metrics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100 + x % 300));
        let m = c.metrics();
        already_stored += metric(&m, "mirrorlake_spool_already_stored_total").unwrap_or(0);
        let held = metric(&m, "mirrorlake_packets_received_total")
            .unwrap_or(0)
            .saturating_sub(metric(&m, "mirrorlake_spool_rows_written_total").unwrap_or(0));
        in_memory += held;
        let t = Instant::now();
        let _ = c.child.kill();
        let _ = c.child.wait();
        eprintln!(
            "SIGKILL while replaying {i}: replayed {} rows, {} messages still spooled",
            metric(&m, "mirrorlake_spool_rows_replayed_total").unwrap_or(0),
            metric(&m, "mirrorlake_spool_records").unwrap_or(0)
        );
        spooled.extend(spooled_ids(&spool_dir, 16));
        c = spawn();
        down_ms += t.elapsed().as_millis() as u64;
    }
    assert!(s.wait().expect("send").success());
    // The last life also publishes what earlier lives spooled: drained when
    // its spool is empty and it published at least what it received.
    let deadline = Instant::now() + Duration::from_secs(240);
    while metric(&c.metrics(), "mirrorlake_spool_records") != Some(0) || pending(&c) > 0 {
        assert!(
            Instant::now() < deadline,
            "spool never drained:\n{}",
            c.metrics()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let ids_file = dir.path().join("spooled.txt");
    let list: String = spooled.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(&ids_file, list).expect("ids");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last_unique = None;
    let report = loop {
        let out = Command::new(loadtest_bin())
            .args(["verify", "--run", "16", "--sent", &N.to_string()])
            .arg("--lake")
            .arg(&lake)
            .arg("--expect-ids")
            .arg(&ids_file)
            .output()
            .expect("verify");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
        let unique = r["unique"].as_u64();
        if r["listed_missing"] == 0 && last_unique == unique || Instant::now() > deadline {
            break r;
        }
        last_unique = unique;
        std::thread::sleep(Duration::from_secs(1));
    };
    let m = c.metrics();
    already_stored += metric(&m, "mirrorlake_spool_already_stored_total").unwrap_or(0);
    let lost = N - report["unique"].as_u64().expect("unique");
    let bound = in_memory + RATE * (down_ms + 200 * u64::from(KILLS + 2)) / 1000;
    eprintln!(
        "{KILLS} SIGKILLs while spooling (seed {seed}): sent {N}, in the lake {}, duplicated {}, \
         spooled by some life {}, of those missing {}, lost {lost} (at most {bound}: held in memory {in_memory}, \
         down {down_ms} ms), found already stored after a restart {}",
        report["unique"],
        report["duplicated"],
        spooled.len(),
        report["listed_missing"],
        already_stored,
    );
    assert!(
        spooled.len() as u64 > RATE * 10,
        "the lives spooled: {}",
        spooled.len()
    );
    assert_eq!(
        report["listed_missing"], 0,
        "every spooled packet is in the lake"
    );
    assert_eq!(report["duplicated"], 0, "nothing stored twice");
    assert_eq!(report["unexpected"], 0);
    assert!(
        lost <= bound,
        "lost {lost} > what the kills could take ({bound})"
    );
    drop(a);
}

/// The object store stalls for 30 s (moto frozen with SIGSTOP) under a
/// running aggregator: writes time out and are retried with backoff, the
/// aggregator reports unhealthy meanwhile, commits nothing it could not
/// write, and afterwards the lake holds every published row exactly once.
#[test]
fn cluster_object_store_outage_unhealthy_then_exact() {
    let (_b, kafka) = broker();
    let moto = crate::s3::PrivateMoto::start();
    let mut env = moto.env.clone();
    env.push(("MIRRORLAKE_S3_TIMEOUT_MS".into(), "1000".into()));
    env.push(("MIRRORLAKE_S3_RETRY_TIMEOUT_MS".into(), "3000".into()));
    let lake = format!("s3://{}/outage", crate::s3::BUCKET);
    let dir = tempfile::tempdir().expect("tmp");
    let (topic, group) = (unique("s3out"), unique("g"));
    let c = start_collector(kafka, &topic, &dir.path().join("unused"), &[]);
    let a = Aggregator::spawn(
        kafka,
        &topic,
        &group,
        lake.as_ref(),
        "a",
        &[],
        &env,
        Stdio::inherit(),
    );
    const N: u64 = 160_000;
    let mut s = send(&[&c], 14, N, 4_000);
    std::thread::sleep(Duration::from_secs(4));
    moto.signal("-STOP");
    let frozen = Instant::now();
    let mut unhealthy = Duration::ZERO;
    while frozen.elapsed() < Duration::from_secs(30) {
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(250));
        if http_get(a.http, "/healthz").map(|r| r.0) == Some(503) {
            unhealthy += t.elapsed();
        }
    }
    moto.signal("-CONT");
    assert!(s.wait().expect("send").success());
    wait_drained(&c, 60);
    let published = metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(150);
    let v = loop {
        let v = verify_in(lake.as_ref(), &env, 14, N);
        if v.unique >= published || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let recovered = Instant::now();
    while http_get(a.http, "/healthz").map(|r| r.0) != Some(200) {
        assert!(
            recovered.elapsed() < Duration::from_secs(60),
            "aggregator healthy again after the store is back"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let aborted = a
        .metric("mirrorlake_aggregator_ranges_aborted_total")
        .unwrap_or(0);
    eprintln!(
        "object store frozen 30 s: aggregator unhealthy for {unhealthy:.1?} of it, {aborted} open ranges dropped and re-read; \
         published {published}, in the lake {} ({} duplicated)",
        v.unique, v.duplicated
    );
    assert!(
        unhealthy >= Duration::from_secs(15),
        "the aggregator must say it cannot write: unhealthy only {unhealthy:?}"
    );
    v.assert_exactly(
        published,
        "every published row exactly once after the outage",
    );
}

/// Cluster mode through the broker's TLS + SASL/SCRAM-SHA-512 listener (how
/// MSK's SASL/SCRAM brokers are reached), set with plain `--kafka-option`s:
/// every published row lands once. Both daemons log at debug level, and the
/// password appears nowhere: not in their logs, not in /metrics. A wrong
/// password is a clear start-up error, not a hang, and is not echoed either.
#[test]
fn cluster_over_tls_and_scram_with_no_secret_in_logs_or_metrics() {
    let (_b, _plain) = broker();
    let kafka_env = kafka_env();
    let secure = kafka_env("MIRRORLAKE_KAFKA_SASL_SSL");
    let ca = kafka_env("MIRRORLAKE_KAFKA_CA");
    let user = kafka_env("MIRRORLAKE_KAFKA_SCRAM_USER");
    let password = std::fs::read_to_string(kafka_env("MIRRORLAKE_KAFKA_SCRAM_PASSWORD_FILE"))
        .expect("SCRAM password file")
        .trim()
        .to_owned();
    assert!(password.len() >= 16, "a real password");
    let options = |pw: &str| -> Vec<String> {
        [
            "security.protocol=SASL_SSL".to_owned(),
            "sasl.mechanisms=SCRAM-SHA-512".to_owned(),
            format!("sasl.username={user}"),
            format!("sasl.password={pw}"),
            format!("ssl.ca.location={ca}"),
        ]
        .iter()
        .flat_map(|o| ["--kafka-option".to_owned(), o.clone()])
        .collect()
    };
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("tls"), unique("g"));
    let debug = [("MIRRORLAKE_LOG".to_owned(), "debug".to_owned())];
    let c_log = dir.path().join("collector.log");
    let a_log = dir.path().join("aggregator.log");
    let mut c_args: Vec<String> = vec![
        "--kafka".into(),
        secure.clone(),
        "--topic".into(),
        topic.clone(),
    ];
    c_args.extend(options(&password));
    let c_args: Vec<&str> = c_args.iter().map(String::as_str).collect();
    let c = Collector::spawn(
        lake.as_os_str(),
        &c_args,
        &debug,
        Stdio::from(std::fs::File::create(&c_log).expect("log")),
    );
    let a = Aggregator::spawn(
        &secure,
        &topic,
        &group,
        lake.as_os_str(),
        "a",
        &options(&password),
        &debug,
        Stdio::from(std::fs::File::create(&a_log).expect("log")),
    );
    const N: u64 = 20_000;
    let mut s = send(&[&c], 15, N, 10_000);
    assert!(s.wait().expect("send").success());
    wait_drained(&c, 60);
    let published = metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0);
    let v = wait_for_lake(&lake, 15, N, published, 90);
    assert!(
        published > N * 9 / 10,
        "loopback lost more than 10%: {published}"
    );
    v.assert_exactly(published, "every published row exactly once over SASL_SSL");
    let (c_metrics, a_metrics) = (
        c.metrics(),
        http_get(a.http, "/metrics").expect("metrics").1,
    );
    drop(a);
    assert!(c.sigterm_and_wait().success());
    let logs = [
        (
            "collector log",
            std::fs::read_to_string(&c_log).expect("log"),
        ),
        (
            "aggregator log",
            std::fs::read_to_string(&a_log).expect("log"),
        ),
        ("collector /metrics", c_metrics),
        ("aggregator /metrics", a_metrics),
    ];
    for (what, text) in &logs {
        assert!(!text.is_empty(), "{what} is empty");
        assert!(!text.contains(&password), "{what} shows the SCRAM password");
    }
    eprintln!(
        "SASL_SSL/SCRAM-SHA-512: {published} rows published, {} in the lake once; debug logs {} + {} bytes, no password",
        v.unique,
        logs[0].1.len(),
        logs[1].1.len()
    );

    // A wrong password: the aggregator stops with an authentication error
    // (it cannot check its topic), quickly, without echoing the password.
    let wrong = format!("{password}-wrong");
    let started = Instant::now();
    let out = Command::new(aggregator_bin())
        .args([
            "run", "--kafka", &secure, "--topic", &topic, "--group", &group,
        ])
        .args(["--http", &format!("127.0.0.1:{}", free_tcp_port())])
        .arg("--lake")
        .arg(&lake)
        .args(options(&wrong))
        .env("MIRRORLAKE_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .expect("run aggregator");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a wrong password must stop the aggregator"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a clear error, not a hang ({:?})",
        started.elapsed()
    );
    assert!(
        err.to_ascii_lowercase().contains("authentication"),
        "the error says what failed: {err}"
    );
    assert!(!err.contains(&wrong), "the wrong password is echoed: {err}");
}

/// MSK IAM (SASL/OAUTHBEARER over TLS) against the real broker: mirrorlake
/// signs its MSK IAM token from the environment's credentials and region,
/// librdkafka sends it over TLS, and the local broker (Kafka's unsecured-JWT
/// validator; only MSK validates AWS signatures) refuses it as not a JWT: a
/// clear start-up error within seconds that names the broker's verdict and
/// prints no secret. Without a region the error says to set AWS_REGION.
#[test]
fn msk_iam_token_reaches_the_tls_broker_and_refusals_are_clear() {
    let (_b, _plain) = broker();
    let kafka_env = kafka_env();
    let (secure, ca) = (
        kafka_env("MIRRORLAKE_KAFKA_SASL_SSL"),
        kafka_env("MIRRORLAKE_KAFKA_CA"),
    );
    let dir = tempfile::tempdir().expect("tmp");
    const SECRET: &str = "mirrorlake-test-secret-0123456789abcdef";
    let run = |region: Option<&str>| -> (bool, String, Duration) {
        let t = Instant::now();
        let out = Command::new("timeout")
            .arg("60")
            .arg(crate::support::collector_bin())
            .args(["run", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--lake")
            .arg(dir.path().join("lake"))
            .args(["--kafka", &secure])
            .args(["--kafka-option", "security.protocol=SASL_SSL"])
            .args(["--kafka-option", "sasl.mechanism=OAUTHBEARER"])
            .args(["--kafka-option", &format!("ssl.ca.location={ca}")])
            .env("MIRRORLAKE_LOG", "debug")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIAMIRRORLAKETEST01")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .envs(region.map(|r| ("AWS_REGION", r)))
            .stdin(Stdio::null())
            .output()
            .expect("run collector");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            t.elapsed(),
        )
    };

    let (ok, log, took) = run(Some("eu-west-1"));
    eprintln!("MSK IAM against the TLS broker: refused after {took:.1?}");
    assert!(!ok, "the broker cannot accept an AWS-signed token:\n{log}");
    assert!(
        log.contains("MSK IAM token made"),
        "our token source ran:\n{log}"
    );
    assert!(
        log.contains(r#"SASL authentication error: {"status":"invalid_token"}"#),
        "the token reached the broker over TLS and was judged there:\n{log}"
    );
    assert!(
        took < Duration::from_secs(20),
        "a refusal, not a hang: {took:?}"
    );
    assert!(!log.contains(SECRET), "the secret key is never printed");

    let (ok, log, took) = run(None);
    assert!(!ok);
    assert!(
        log.lines()
            .last()
            .is_some_and(|l| l.contains("set AWS_REGION")),
        "the last line says what to set:\n{log}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}
