//! The lake on S3: `import`, `run` and `query` against a real S3 emulator on
//! loopback (moto, installed and started by `deploy/local/moto.sh`), compared
//! with the same data in a local lake; and an S3 server frozen (SIGSTOP) in
//! the middle of a multipart upload, which must end in a retry that succeeds
//! or in a clean error with nothing visible under the final name.
//!
//! moto is required: when it cannot be installed or started these tests fail
//! with the script's message (they never pass silently). The lake's main
//! round trips (import/query, compaction) also run on Garage, a production
//! object store (`deploy/local/garage.sh`, built from crates.io): required
//! when `MIRRORLAKE_REQUIRE_GARAGE=1` (deploy/test.sh installs it and sets
//! that), otherwise skipped with a message when it is not installed.

use crate::e2e::{Collector, metric, packet, send_packets};
use crate::support::{aggregator_bin, collector_bin, repo_root};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) const BUCKET: &str = "mirrorlake";

fn moto_script() -> PathBuf {
    repo_root().join("deploy/local/moto.sh")
}

fn run_script(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(moto_script())
        .args(args)
        .output()
        .expect("run deploy/local/moto.sh")
}

/// Starts the shared moto server (idempotent) and returns its AWS_*
/// environment (`moto.sh env`).
pub(crate) fn moto_env() -> &'static [(String, String)] {
    static ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let out = run_script(&["start"]);
        assert!(
            out.status.success(),
            "the S3 tests need moto (pip install moto[server]); deploy/local/moto.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = crate::support::stack_env("moto.sh");
        assert!(
            env.iter()
                .any(|(k, v)| k == "AWS_ENDPOINT_URL" && v.starts_with("http://127.0.0.1:")),
            "moto endpoint must be on loopback: {env:?}"
        );
        env
    })
}

/// Starts the shared Garage node (idempotent) and returns its AWS_*
/// environment; `None` (said on stderr) when Garage is not installed and
/// not required.
pub(crate) fn garage_env() -> Option<&'static [(String, String)]> {
    static ENV: OnceLock<Option<Vec<(String, String)>>> = OnceLock::new();
    ENV.get_or_init(|| {
        let script = repo_root().join("deploy/local/garage.sh");
        let required = crate::support::required("MIRRORLAKE_REQUIRE_GARAGE");
        let installed = Command::new("bash")
            .arg(&script)
            .arg("installed")
            .output()
            .expect("run garage.sh installed");
        if !installed.status.success() && !required {
            crate::support::skip(
                "the S3 round trips on Garage",
                "not installed; `deploy/local/garage.sh install` (slow) or MIRRORLAKE_REQUIRE_GARAGE=1 runs them",
                None,
            );
            return None;
        }
        let out = Command::new("bash")
            .arg(&script)
            .args(["install"])
            .output()
            .expect("run garage.sh install");
        assert!(
            out.status.success(),
            "garage.sh install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .output()
            .expect("run garage.sh start");
        assert!(
            out.status.success(),
            "garage.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = crate::support::stack_env("garage.sh");
        assert!(
            env.iter()
                .any(|(k, v)| k == "AWS_ENDPOINT_URL" && v.starts_with("http://127.0.0.1:")),
            "garage endpoint must be on loopback: {env:?}"
        );
        Some(env)
    })
    .as_deref()
}

/// The S3 servers the lake's round trips run on: moto, and Garage when it
/// is there (see the module comment).
fn stores() -> Vec<(&'static str, &'static [(String, String)])> {
    let mut v = vec![("moto", moto_env())];
    v.extend(garage_env().map(|e| ("garage", e)));
    v
}

/// A fresh `s3://mirrorlake/<prefix>` for one test.
pub(crate) fn unique_lake(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("s3://{BUCKET}/test-{name}-{}-{nanos}", std::process::id())
}

fn cmd(bin: &Path, env: &[(String, String)]) -> Command {
    let mut c = Command::new(bin);
    c.env("MIRRORLAKE_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        // Never ask an instance metadata service for credentials.
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

pub(crate) fn query(lake: &str, env: &[(String, String)], sql: &str) -> String {
    let out = cmd(&aggregator_bin(), env)
        .args(["query", "--format", "csv", "--lake", lake, sql])
        .output()
        .expect("run query");
    assert!(
        out.status.success(),
        "query on {lake} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

const SUMMARY: &str = "SELECT mirror_source, vni, direction, dt, hour, count(*) AS n, \
     sum(wire_len) AS bytes, count(DISTINCT community_id) AS flows \
     FROM packets GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";

/// A capture of `n` tunnelled packets (every tenth a plain frame), `payload`
/// extra random bytes each, spread over two hours from 2025-11-24T15:30Z.
pub(crate) fn write_pcap(path: &Path, n: u32, payload: usize) {
    let base_us: i64 = 1_764_000_000_000_000 - 1_800_000_000;
    write_capture(
        path,
        n,
        payload,
        base_us,
        3_600_000_000 / i64::from(n.max(1)),
    );
}

/// A capture of `packet(0..n)`, tunnelled from their sources (every tenth
/// a plain frame), `payload` extra random bytes each, the first at
/// `base_us` and one every `step_us`.
pub(crate) fn write_capture(path: &Path, n: u32, payload: usize, base_us: i64, step_us: i64) {
    let mut w = mirrorlake_pcap::PcapWriter::new(
        std::io::BufWriter::new(std::fs::File::create(path).expect("create")),
        1,
        65535,
    )
    .expect("header");
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        let p = packet(i);
        let mut inner = p.frame.clone();
        for _ in 0..payload {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            inner.push(rng as u8);
        }
        let mut outer = Vec::new();
        mirrorlake_wire::emit_outer_frame(
            p.source,
            [127, 0, 0, 1].into(),
            50000,
            p.vni,
            &inner,
            &mut outer,
        )
        .expect("emit");
        let rec = if i % 10 == 5 { inner } else { outer };
        let ts = base_us + i64::from(i) * step_us;
        w.write(ts, rec.len() as u32, &rec).expect("record");
    }
    w.into_inner().expect("flush");
}

pub(crate) fn import(lake: &str, env: &[(String, String)], pcap: &Path) -> Output {
    cmd(Path::new(collector_bin()), env)
        .args(["import", "--lake", lake])
        .arg(pcap)
        .output()
        .expect("run import")
}

#[test]
fn import_and_query_on_s3_agree_with_a_local_lake() {
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("mirror.pcap");
    const N: u32 = 2000;
    write_pcap(&pcap, N, 0);
    let local = dir.path().join("lake");
    let local = local.to_str().expect("utf8");
    let out = import(local, &[], &pcap);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_disk = query(local, &[], SUMMARY);
    assert!(on_disk.lines().count() > 5, "a real summary:\n{on_disk}");
    for (store, env) in stores() {
        let s3 = unique_lake("import");
        let out = import(&s3, env, &pcap);
        assert!(
            out.status.success(),
            "import into {s3} on {store}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let on_s3 = query(&s3, env, SUMMARY);
        assert_eq!(
            on_s3, on_disk,
            "{store} and local lakes hold the same packets"
        );
        let count = query(&s3, env, "SELECT count(*) AS n FROM packets");
        assert_eq!(
            count.lines().nth(1),
            Some(N.to_string().as_str()),
            "{store}"
        );
        // Partition pruning works on S3 as on disk.
        let one_hour = query(
            &s3,
            env,
            "SELECT count(*) AS n FROM packets WHERE dt = '2025-11-24' AND hour = '15'",
        );
        let n15: u64 = one_hour.lines().nth(1).expect("row").parse().expect("n");
        assert!(n15 > 0 && n15 < u64::from(N), "{store}: {n15}");
    }
}

fn compact(lake: &str, env: &[(String, String)], extra: &[&str]) -> String {
    let out = cmd(&aggregator_bin(), env)
        .args(["compact", "--json", "--settle-minutes", "0", "--lake", lake])
        .args(extra)
        .output()
        .expect("run compact");
    assert!(
        out.status.success(),
        "compact {extra:?} on {lake} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

const FLOW_SUMMARY: &str = "SELECT community_id, vni, mirror_source, window_start, \
     sum(packets) AS p, sum(bytes) AS b, min(\"start\") AS s, max(\"end\") AS e \
     FROM flows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

/// Three imports leave three small files per hour; `compact` makes one per
/// hour with the same rows (and flows), also when it is killed between
/// deleting the inputs and copying the outputs (in both hours): the next run
/// finishes it.
#[test]
fn compaction_on_s3_keeps_every_row_once_and_survives_a_crash() {
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("mirror.pcap");
    write_pcap(&pcap, 3000, 40);
    for (store, env) in stores() {
        let s3 = unique_lake("compact");
        for _ in 0..3 {
            let out = import(&s3, env, &pcap);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let packets = query(&s3, env, SUMMARY);
        let flows = query(&s3, env, FLOW_SUMMARY);
        assert!(flows.lines().count() > 10, "{flows}");
        let flow_rows = |lake: &str| -> u64 {
            let csv = query(lake, env, "SELECT count(*) AS n FROM flows");
            csv.lines().nth(1).expect("row").parse().expect("n")
        };
        let n_before = flow_rows(&s3);

        let plan = compact(&s3, env, &["--dry-run"]);
        assert_eq!(
            plan.lines().count(),
            2,
            "two hours to merge on {store}:\n{plan}"
        );
        assert!(plan.contains(r#""inputs":3"#), "{plan}");

        // Killed after deleting the inputs: the rows are missing (never doubled)...
        compact(&s3, env, &["--stop-after", "delete"]);
        let during = query(&s3, env, "SELECT count(*) AS n FROM packets");
        let during: u64 = during.lines().nth(1).expect("row").parse().expect("n");
        assert!(
            during < 9000,
            "{store}: {during} rows visible mid-compaction"
        );
        // ...until the next run finishes both hours' journals.
        let report = compact(&s3, env, &[]);
        assert_eq!(
            report.matches(r#""recovered":1"#).count(),
            2,
            "{store}: {report}"
        );
        assert_eq!(
            query(&s3, env, SUMMARY),
            packets,
            "{store}: packets once each"
        );
        assert_eq!(query(&s3, env, FLOW_SUMMARY), flows, "{store}: same flows");
        let n_after = flow_rows(&s3);
        assert!(
            n_after < n_before,
            "{store}: flow rows merge: {n_after} < {n_before}"
        );
        assert_eq!(
            compact(&s3, env, &["--dry-run"]),
            "",
            "{store}: nothing left to merge"
        );
        assert_eq!(
            compact(&s3, env, &[]),
            "",
            "{store}: a second run changes nothing"
        );
    }
}

#[test]
fn collector_run_writes_an_s3_lake() {
    let env = moto_env();
    let s3 = unique_lake("run");
    let c = Collector::start_env(s3.as_ref(), &[], env);
    const N: u32 = 1500;
    let mut want: BTreeMap<(String, u32), u64> = BTreeMap::new();
    send_packets(c.listen, N, |p| {
        *want.entry((p.source.to_string(), p.vni)).or_default() += 1;
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = c.metrics();
        if metric(&m, "mirrorlake_packets_received_total") == Some(u64::from(N)) {
            break;
        }
        assert!(Instant::now() < deadline, "not all received:\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        c.sigterm_and_wait().success(),
        "clean exit after writing S3"
    );
    let csv = query(
        &s3,
        env,
        "SELECT mirror_source, vni, count(*) AS n FROM packets GROUP BY 1, 2 ORDER BY 1, 2",
    );
    let got: BTreeMap<(String, u32), u64> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[0].to_owned(), f[1].parse().expect("vni")),
                f[2].parse().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "every sent packet is in the S3 lake exactly once"
    );
}

/// A moto server of this test alone (it gets frozen), killed on drop.
pub(crate) struct PrivateMoto {
    child: Child,
    port: u16,
    pub(crate) env: Vec<(String, String)>,
    /// moto's virtualenv `bin/` (boto3 for signed requests).
    venv: PathBuf,
}

impl PrivateMoto {
    pub(crate) fn start() -> Self {
        let out = run_script(&["install"]);
        assert!(
            out.status.success(),
            "moto install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stack = std::env::var_os("MIRRORLAKE_STACK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache")
                    })
                    .join("mirrorlake/stack")
            });
        let venv = stack.join("moto/venv/bin");
        let port = crate::e2e::free_tcp_port();
        let child = Command::new(venv.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = moto_env()
            .iter()
            .filter(|(k, _)| !k.starts_with("AWS_ENDPOINT"))
            .cloned()
            .collect();
        env.push(("AWS_ENDPOINT_URL".into(), endpoint.clone()));
        let m = Self {
            child,
            port,
            env,
            venv: venv.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while m.get("/").is_none() {
            assert!(Instant::now() < deadline, "private moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let st = Command::new(venv.join("python"))
            .args([
                "-c",
                "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
                 aws_access_key_id='x', aws_secret_access_key='y').create_bucket(Bucket=sys.argv[2])",
                &endpoint,
                BUCKET,
            ])
            .status()
            .expect("create bucket");
        assert!(st.success(), "create bucket on private moto");
        m
    }

    /// Unsigned request (moto does not check signatures): the whole
    /// response (status line, headers, body) on 200.
    fn request(&self, method: &str, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).ok()?;
        let buf = String::from_utf8_lossy(&buf).into_owned();
        buf.starts_with("HTTP/1.1 200").then_some(buf)
    }

    /// GET: the body on 200.
    fn get(&self, path: &str) -> Option<String> {
        self.request("GET", path)?
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_owned())
    }

    /// `(key, ServerSideEncryption, SSEKMSKeyId, BucketKeyEnabled)` of every
    /// object under `prefix`, from signed HeadObject calls (moto refuses
    /// unsigned reads of SSE-KMS objects, as S3 does).
    fn encryption(&self, prefix: &str) -> Vec<(String, String, String, bool)> {
        let out = Command::new(self.venv.join("python"))
            .args([
                "-c",
                "import sys, json, boto3\n\
                 s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
                 aws_access_key_id='x', aws_secret_access_key='y')\n\
                 keys = [o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[2], Prefix=sys.argv[3]).get('Contents', [])]\n\
                 heads = [(k, s3.head_object(Bucket=sys.argv[2], Key=k)) for k in keys]\n\
                 print(json.dumps([[k, h.get('ServerSideEncryption', ''), h.get('SSEKMSKeyId', ''), \
                 bool(h.get('BucketKeyEnabled'))] for k, h in heads]))",
                &format!("http://127.0.0.1:{}", self.port),
                BUCKET,
                prefix,
            ])
            .output()
            .expect("boto3 head_object");
        assert!(
            out.status.success(),
            "head_object: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        let body = self
            .get(&format!("/{BUCKET}?list-type=2&prefix={prefix}"))
            .expect("list objects");
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|x| x.0.to_owned()))
            .collect()
    }

    fn uploads_in_progress(&self) -> usize {
        self.get(&format!("/{BUCKET}?uploads"))
            .map(|b| b.matches("<UploadId>").count())
            .unwrap_or(0)
    }

    pub(crate) fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill {sig}");
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `import` of a capture big enough for a multipart upload, freezes
/// the server as soon as an upload is in progress, and returns the running
/// import.
fn import_and_freeze_mid_upload(
    moto: &PrivateMoto,
    lake: &str,
    pcap: &Path,
    env: &[(String, String)],
) -> Child {
    let child = cmd(Path::new(collector_bin()), env)
        .env("MIRRORLAKE_LOG", "warn,object_store=info")
        .args(["import", "--lake", lake])
        .arg(pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn import");
    let deadline = Instant::now() + Duration::from_secs(60);
    while moto.uploads_in_progress() == 0 {
        assert!(
            Instant::now() < deadline,
            "no multipart upload started within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    moto.signal("-STOP");
    child
}

#[test]
fn s3_frozen_mid_upload_retries_or_fails_cleanly() {
    let moto = PrivateMoto::start();
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("big.pcap");
    // ~40 MB of incompressible frames in one hour: several multipart parts.
    const N: u32 = 30_000;
    write_pcap(&pcap, N, 1300);

    // 1. Frozen for 4 s with 1 s request timeouts: the import retries and
    //    completes; every packet is there once.
    let mut env = moto.env.clone();
    env.push(("MIRRORLAKE_S3_TIMEOUT_MS".into(), "1000".into()));
    env.push(("MIRRORLAKE_S3_RETRY_TIMEOUT_MS".into(), "60000".into()));
    let lake = format!("s3://{BUCKET}/retry");
    let child = import_and_freeze_mid_upload(&moto, &lake, &pcap, &env);
    std::thread::sleep(Duration::from_secs(4));
    moto.signal("-CONT");
    let out = child.wait_with_output().expect("import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import after a pause: {stderr}");
    eprintln!(
        "frozen 4 s mid-upload, retried: {}",
        stderr
            .lines()
            .find(|l| l.contains("backing off"))
            .unwrap_or("")
    );
    assert!(
        stderr.contains("backing off"),
        "object_store retried the timed-out request:\n{stderr}"
    );
    let count = query(&lake, &env, "SELECT count(*) AS n FROM packets");
    assert_eq!(count.lines().nth(1), Some(N.to_string().as_str()));

    // 2. Frozen longer than the retry budget: the import fails with an
    //    error, and no object is visible under the lake prefix.
    let mut env = moto.env.clone();
    env.push(("MIRRORLAKE_S3_TIMEOUT_MS".into(), "500".into()));
    env.push(("MIRRORLAKE_S3_RETRY_TIMEOUT_MS".into(), "2000".into()));
    let lake = format!("s3://{BUCKET}/fail");
    let started = Instant::now();
    let child = import_and_freeze_mid_upload(&moto, &lake, &pcap, &env);
    let out = child.wait_with_output().expect("import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    moto.signal("-CONT");
    eprintln!(
        "frozen past the retry budget, import said: {}",
        stderr.trim()
    );
    assert!(!out.status.success(), "import must fail while S3 is frozen");
    assert!(
        stderr.contains("error:"),
        "a clean error message:\n{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the failure is bounded by the retry budget ({:?})",
        started.elapsed()
    );
    assert_eq!(
        moto.keys("fail/"),
        Vec::<String>::new(),
        "nothing visible after a failed upload"
    );
    let count = query(&lake, &env, "SELECT count(*) AS n FROM packets");
    assert_eq!(count.lines().nth(1), Some("0"), "{count}");
}

/// Single node, a collector writing an S3 lake with a disk spool: the
/// object store frozen for 60 s (moto SIGSTOPped) while 3,000 packets/s
/// flow for 80 s. The lake writer waits on its uploads (retried within the
/// budget); the batches it cannot take meanwhile are spooled and replayed
/// when the store returns: every packet once, nothing dropped, and the
/// collector live and ready throughout.
#[test]
fn single_node_object_store_frozen_60s_with_a_spool_loses_nothing() {
    let moto = PrivateMoto::start();
    let dir = tempfile::tempdir().expect("tmp");
    // The default S3 timeouts and retry budget (30 s per request, 10
    // retries, 180 s): an upload caught by the freeze completes after it.
    let env = moto.env.clone();
    let lake = format!("s3://{BUCKET}/spooled");
    let spool = dir.path().join("spool");
    let c = crate::e2e::Collector::start_env(
        std::ffi::OsStr::new(&lake),
        &["--spool-dir", spool.to_str().expect("utf8")],
        &env,
    );
    const RATE: u64 = 3_000;
    const N: u64 = RATE * 80;
    let mut s = crate::cluster::send(&[&c], 17, N, RATE);
    std::thread::sleep(Duration::from_secs(10));
    moto.signal("-STOP");
    let (mut not_live, mut not_ready, mut peak_spool) = (0, 0, 0);
    for _ in 0..240 {
        std::thread::sleep(Duration::from_millis(250));
        let http = c.http_addr();
        not_live += u32::from(crate::e2e::http_get(http, "/livez").map(|r| r.0) != Some(200));
        not_ready += u32::from(crate::e2e::http_get(http, "/healthz").map(|r| r.0) != Some(200));
        peak_spool =
            peak_spool.max(crate::e2e::metric(&c.metrics(), "mirrorlake_spool_bytes").unwrap_or(0));
    }
    moto.signal("-CONT");
    assert!(s.wait().expect("send").success());
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let m = c.metrics();
        let get = |n: &str| crate::e2e::metric(&m, n).unwrap_or(0);
        if get("mirrorlake_spool_records") == 0
            && get("mirrorlake_rows_written_total") + crate::e2e::dropped_total(&m)
                >= get("mirrorlake_packets_received_total")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never caught up:\n{m}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let m = c.metrics();
    assert!(c.sigterm_and_wait().success());
    let v = crate::cluster::verify_in(std::ffi::OsStr::new(&lake), &env, 17, N);
    eprintln!(
        "single node, object store frozen 60 s: {N} sent, {} in the lake once, {} duplicated; \
         spooled rows {}, peak spool bytes {peak_spool}; /livez not 200 {not_live}, /healthz not 200 {not_ready}",
        v.unique,
        v.duplicated,
        crate::e2e::metric(&m, "mirrorlake_spool_rows_written_total").unwrap_or(0),
    );
    assert_eq!(crate::e2e::dropped_total(&m), 0, "nothing dropped:\n{m}");
    v.assert_exactly(N, "every packet once through a 60 s object store freeze");
    assert!(peak_spool > 0, "the freeze went through the spool");
    assert_eq!((not_live, not_ready), (0, 0), "live and ready throughout");
}

/// Server-side encryption settings reach S3: with object_store's standard
/// variables (`AWS_SERVER_SIDE_ENCRYPTION=aws:kms`, `AWS_SSE_KMS_KEY_ID`,
/// `AWS_SSE_BUCKET_KEY_ENABLED`) every object the importer writes, packets
/// and flows files (multipart uploads) alike, is stored SSE-KMS with that key.
#[test]
fn s3_server_side_encryption_is_passed_through() {
    let moto = PrivateMoto::start();
    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("sse.pcap");
    write_pcap(&pcap, 2000, 100);
    let key = "arn:aws:kms:us-east-1:123456789012:key/0b5c1d7e-1a2b-4c3d-9e8f-aabbccddeeff";
    let mut env = moto.env.clone();
    env.push(("AWS_SERVER_SIDE_ENCRYPTION".into(), "aws:kms".into()));
    env.push(("AWS_SSE_KMS_KEY_ID".into(), key.into()));
    env.push(("AWS_SSE_BUCKET_KEY_ENABLED".into(), "true".into()));
    let lake = format!("s3://{BUCKET}/sse");
    let out = import(&lake, &env, &pcap);
    assert!(
        out.status.success(),
        "import with SSE-KMS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = moto.encryption("sse/");
    assert!(
        objects.iter().any(|o| o.0.starts_with("sse/packets/"))
            && objects.iter().any(|o| o.0.starts_with("sse/flows/")),
        "{objects:?}"
    );
    for (k, sse, kms, bucket_key) in &objects {
        assert_eq!(
            (sse.as_str(), kms.as_str(), *bucket_key),
            ("aws:kms", key, true),
            "{k} not stored SSE-KMS with the configured key"
        );
    }
    eprintln!(
        "SSE-KMS with a bucket key: {} objects, every one with the configured key",
        objects.len()
    );
}

/// What AWS S3 enforces on a bucket with Object Lock default retention and
/// moto does not (moto checks only PutObject, and for a header object_store
/// never sends): every PutObject and UploadPart must carry Content-MD5 or an
/// `x-amz-checksum-<algorithm>` header, else `400 InvalidRequest`. A proxy on
/// loopback in front of moto refuses such writes as S3 does and forwards the
/// rest (one connection per request).
struct ObjectLockProxy {
    addr: std::net::SocketAddr,
    /// (writes checked, writes refused).
    counts: std::sync::Arc<std::sync::Mutex<(u64, u64)>>,
}

const CHECKSUM_HEADERS: [&str; 6] = [
    "content-md5",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

impl ObjectLockProxy {
    fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let counts = std::sync::Arc::new(std::sync::Mutex::new((0, 0)));
        let c = counts.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let c = c.clone();
                std::thread::spawn(move || Self::serve(conn, upstream, &c));
            }
        });
        Self { addr, counts }
    }

    fn serve(
        mut conn: TcpStream,
        upstream: std::net::SocketAddr,
        counts: &std::sync::Mutex<(u64, u64)>,
    ) {
        let mut reader = std::io::BufReader::new(conn.try_clone().expect("clone"));
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match std::io::BufRead::read_line(&mut reader, &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let Some(request_line) = head.first().cloned() else {
            return;
        };
        let header = |name: &str| {
            head.iter().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        assert!(
            header("transfer-encoding").is_none(),
            "the proxy reads bodies by Content-Length only: {head:?}"
        );
        let len: usize = header("content-length").map_or(0, |v| v.parse().expect("length"));
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        // An object write: PUT of /bucket/key (not CreateBucket), not a copy.
        let object_write = method == "PUT"
            && path.trim_start_matches('/').contains('/')
            && header("x-amz-copy-source").is_none();
        if object_write {
            let signed = CHECKSUM_HEADERS.iter().any(|h| header(h).is_some());
            let mut n = counts.lock().expect("counts");
            n.0 += 1;
            if !signed {
                n.1 += 1;
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRequest</Code><Message>Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters</Message></Error>";
                let _ = write!(
                    conn,
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                );
                return;
            }
        }
        let Ok(mut up) = TcpStream::connect(upstream) else {
            return;
        };
        let mut out = request_line.into_bytes();
        for l in head.iter().skip(1) {
            if !l.to_ascii_lowercase().starts_with("connection:") {
                out.extend_from_slice(l.as_bytes());
            }
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&body);
        let mut response = Vec::new();
        if up.write_all(&out).is_err() || up.read_to_end(&mut response).is_err() {
            return;
        }
        // moto closed after its response: so does the proxy (the
        // response says `Connection: close`, or the client sees EOF).
        let _ = conn.write_all(&response);
    }

    /// (writes checked, writes refused).
    fn counts(&self) -> (u64, u64) {
        *self.counts.lock().expect("counts")
    }
}

/// Object Lock: `import` (multipart uploads), `compact` (staging, journal,
/// tombstones, copies) and `query` through a proxy that refuses, as S3 does
/// on a bucket with default retention, every object write without a
/// checksum: all of them succeed and none was refused. The proxy's own
/// control: a PUT without a checksum is refused.
#[test]
fn every_object_write_carries_a_checksum_for_object_lock() {
    let env = moto_env();
    let endpoint = env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT_URL")
        .map(|(_, v)| v.clone())
        .expect("endpoint");
    let upstream: std::net::SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("moto address");
    let proxy = ObjectLockProxy::start(upstream);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "AWS_ENDPOINT_URL" => (k.clone(), format!("http://{}", proxy.addr)),
            _ => (k.clone(), v.clone()),
        })
        .collect();

    // Control: a write without a checksum is refused.
    let mut s = TcpStream::connect(proxy.addr).expect("connect");
    write!(
        s,
        "PUT /{BUCKET}/control HTTP/1.1\r\nHost: {}\r\nContent-Length: 2\r\n\r\nhi",
        proxy.addr
    )
    .expect("write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("x-amz-checksum-"), "{reply}");
    assert_eq!(proxy.counts(), (1, 1));

    let dir = tempfile::tempdir().expect("tmp");
    let pcap = dir.path().join("mirror.pcap");
    write_pcap(&pcap, 3000, 40);
    let lake = unique_lake("object-lock");
    for _ in 0..2 {
        let out = import(&lake, &env, &pcap);
        assert!(
            out.status.success(),
            "import through the Object Lock proxy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    compact(&lake, &env, &[]);
    let n = query(&lake, &env, "SELECT count(*) AS n FROM packets");
    assert_eq!(n.lines().nth(1), Some("6000"), "{n}");
    let (checked, refused) = proxy.counts();
    assert_eq!(
        refused, 1,
        "only the control was refused ({checked} writes checked)"
    );
    assert!(
        checked > 10,
        "the commands wrote through the proxy: {checked}"
    );
}
