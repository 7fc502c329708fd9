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
fn verify_in(lake: &std::ffi::OsStr, env: &[(String, String)], run: u32, sent: u64) -> Verified {
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
    let got = crate::tail::wait_stable(&live);
    let client = crate::tail::sigterm(&mut client);
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let want = crate::tail::exported(&lake, dir.path(), &["--where", "vni = 101"]);
    assert!(!want.is_empty());
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
/// single-node mode (`loadtest.rs`).
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
    crate::loadtest::send_fidelity_run(&c, 43);
    wait_drained(&c, 30);
    let published = metric(&c.metrics(), "mirrorlake_rows_published_total").unwrap_or(0);
    wait_for_lake(&lake, 43, N, published, 60).assert_exactly(published, "published rows");
    assert!(a.sigterm().success());
    assert!(c.sigterm_and_wait().success());
    crate::loadtest::assert_arrival_fidelity(&lake, 43, N);
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

#[test]
fn cluster_broker_outage_is_counted_and_recovered() {
    let (_b, kafka) = broker();
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let (topic, group) = (unique("outage"), unique("g"));
    // A small producer queue (4 MiB) so the outage overflows it.
    let cfg = dir.path().join("collector.toml");
    std::fs::write(&cfg, "[kafka]\nqueue_kbytes = 4096\n").expect("config");
    let c = start_collector(
        kafka,
        &topic,
        &lake,
        &["--config", cfg.to_str().expect("utf8")],
    );
    let a = Aggregator::start(kafka, &topic, &group, &lake, "a");
    // 6,000 packets/s for about 45 s; the broker is away for 30 s of it.
    const N: u64 = 270_000;
    let mut s = send(&[&c], 13, N, 6_000);
    std::thread::sleep(Duration::from_secs(3));
    kafka_sh(&["stop"]);
    let pid = c.child.id();
    let rss_kib = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let mut peak = 0;
    let received_at_stop = metric(&c.metrics(), "mirrorlake_packets_received_total").unwrap_or(0);
    for _ in 0..120 {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss_kib(pid));
        assert!(
            http_get(c.http_addr(), "/healthz").is_some(),
            "collector stays up while the broker is away"
        );
    }
    let received_in_outage =
        metric(&c.metrics(), "mirrorlake_packets_received_total").unwrap_or(0) - received_at_stop;
    kafka_sh(&["start"]);
    assert!(s.wait().expect("send").success());
    wait_drained(&c, 120);
    let m = c.metrics();
    let queue_full = metric(
        &m,
        "mirrorlake_packets_dropped_total{reason=\"kafka_queue_full\"}",
    )
    .unwrap_or(0);
    let published = metric(&m, "mirrorlake_rows_published_total").unwrap_or(0);
    assert!(
        queue_full > 0,
        "the outage overflowed the bounded queue:\n{m}"
    );
    assert!(published > 0, "{m}");
    assert!(
        peak < 512 * 1024,
        "collector RSS stayed bounded during the outage: peak {peak} KiB"
    );
    let v = wait_for_lake(&lake, 13, N, published, 120);
    v.assert_exactly(
        published,
        &format!("the lake holds exactly what was not counted as dropped (dropped {queue_full})"),
    );
    // Every packet sent is in the lake or in exactly one drop counter.
    let dropped = dropped_total(&m);
    let kernel = metric(&m, "mirrorlake_kernel_drops_total").unwrap_or(0);
    eprintln!(
        "broker away 30 s: sent {N}, received during the outage {received_in_outage}, in the lake {}, \
         dropped {dropped} (kafka_queue_full {queue_full}), kernel drops {kernel}, peak RSS {peak} KiB",
        v.unique
    );
    assert!(received_in_outage > 100_000, "the collector kept receiving");
    assert_eq!(
        v.unique + dropped + kernel,
        N,
        "verifier and counters disagree:\n{m}"
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
