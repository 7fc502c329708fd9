//! The live tail of a single-node collector, through the real client
//! (`mirrorlake-aggregator tail`): packets sent while a client is attached
//! arrive at it, filtered on the server exactly as `export` filters the
//! lake; a wrong token is refused and counted; a client that never reads
//! loses packets alone (counted, and told) while the lake keeps every one.

use crate::cluster::{loadtest_bin, verify};
use crate::e2e::{Collector, free_port, metric};
use crate::support::{self, Pkt, aggregator_bin, capture_packets, sorted};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "tail-test-token-0123456789abcdef";

fn tail_client(server: &str, dir: &Path, token_file: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(aggregator_bin());
    c.args(["tail", "--server", server, "--ca"])
        .arg(dir.join("cert.pem"))
        .arg("--token-file")
        .arg(token_file)
        .args(args)
        .env("MIRRORLAKE_LOG", "warn");
    c
}

/// A tail service's settings in `dir` (token, certificate paths, port),
/// for any daemon that takes the `--tail*` flags.
pub(crate) struct TailServer {
    dir: std::path::PathBuf,
    server: String,
}

impl TailServer {
    pub(crate) fn new(dir: &Path) -> Self {
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).expect("token");
        Self {
            dir: dir.to_owned(),
            server: format!("127.0.0.1:{}", free_port()),
        }
    }

    pub(crate) fn server_args(&self) -> Vec<String> {
        let p = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        vec![
            "--tail".into(),
            self.server.clone(),
            "--tail-token-file".into(),
            p("token"),
            "--tail-cert".into(),
            p("cert.pem"),
            "--tail-key".into(),
            p("key.pem"),
        ]
    }

    pub(crate) fn client(&self, args: &[&str]) -> Command {
        tail_client(&self.server, &self.dir, &self.dir.join("token"), args)
    }
}

/// Waits until a capture file holds `want` packets (or 30 s pass); its
/// packets.
pub(crate) fn wait_for_packets(path: &Path, want: usize) -> Vec<Pkt> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while capture_packets(path).len() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    sorted(capture_packets(path))
}

/// `export` of the whole lake with `args`; its packets.
pub(crate) fn exported(lake: &Path, dir: &Path, args: &[&str]) -> Vec<Pkt> {
    let file = dir.join("exported.pcapng");
    let args: Vec<&str> = crate::export::ALL_TIME
        .iter()
        .chain(args)
        .copied()
        .collect();
    crate::export::export(lake, &file, &args);
    sorted(capture_packets(&file))
}

fn wait_metric(c: &Collector, name: &str, want: u64, secs: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = metric(&c.metrics(), name).unwrap_or(0);
        if v >= want || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn sigterm(child: &mut Child) -> std::process::Output {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "tail client did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    std::process::Output {
        status: child.wait().expect("wait"),
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    }
}

#[test]
fn live_tail_streams_filters_refuses_and_never_slows_the_lake() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = dir.path().join("lake");
    let tail = TailServer::new(dir.path());
    let bad_token = dir.path().join("bad-token");
    std::fs::write(&bad_token, "not-the-token-0123456789abcdef").expect("token");
    // 16 batches per client (the run makes about 40): a client that stops
    // reading overflows, one that reads keeps up even on a busy machine.
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[tail]\nclient_queue_batches = 16\n").expect("config");
    let mut args = vec!["--config".to_owned(), config.to_string_lossy().into_owned()];
    args.extend(tail.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Collector::start(&lake, &args);
    assert!(
        dir.path().join("cert.pem").exists(),
        "no generated certificate"
    );

    // A wrong token: refused with a clear message, counted.
    let out = tail_client(&tail.server, dir.path(), &bad_token, &["-w"])
        .arg(dir.path().join("refused.pcapng"))
        .output()
        .expect("run tail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong token was accepted");
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!dir.path().join("refused.pcapng").exists());
    assert_eq!(
        metric(
            &c.metrics(),
            "mirrorlake_tail_clients_refused_total{reason=\"unauthorized\"}"
        ),
        Some(1)
    );

    // A client that never reads its stdout, and one that writes a file.
    let mut stalled = tail
        .client(&["-w", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stalled tail");
    let (filter, where_sql) = ("udp or icmp", "vni = 101 AND ip_version = 4");
    let live = dir.path().join("live.pcapng");
    // Streams to stdout, so the file grows as packets arrive.
    let mut good = tail
        .client(&["--filter", filter, "--where", where_sql, "-w", "-"])
        .stdout(std::fs::File::create(&live).expect("live file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    assert_eq!(
        wait_metric(&c, "mirrorlake_tail_clients", 2, 20),
        2,
        "clients did not attach"
    );

    // Mirror traffic while both are attached.
    const N: u64 = 60_000;
    let st = Command::new(loadtest_bin())
        .args([
            "send",
            "--target",
            &c.listen.to_string(),
            "--run-id",
            "31",
            "--seed",
            "31",
        ])
        .args(["--count", &N.to_string(), "--rate", "30000"])
        .stdout(Stdio::null())
        .status()
        .expect("loadtest send");
    assert!(st.success());
    assert_eq!(
        wait_metric(&c, "mirrorlake_rows_written_total", N, 30),
        N,
        "the collector did not take every packet"
    );
    // Every packet is in a completed file (rows_written counts those): what
    // the attentive client must get is what export selects from the lake.
    let want = exported(
        &lake,
        dir.path(),
        &["--filter", filter, "--where", where_sql],
    );
    let got = wait_for_packets(&live, want.len());
    let m = c.metrics();
    let dropped = metric(&m, "mirrorlake_tail_packets_dropped_total").unwrap_or(0);
    assert!(
        dropped > 0,
        "the stalled client lost nothing: the test is too gentle\n{m}"
    );
    let good_out = sigterm(&mut good);
    let good_err = String::from_utf8_lossy(&good_out.stderr);
    assert!(good_out.status.success(), "tail client: {good_err}");
    assert!(
        good_err.contains("the server dropped 0 for this client"),
        "{good_err}"
    );
    // The stalled client reads again: it catches up on what was queued,
    // then hears how many packets it missed.
    let err_pipe = stalled.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = Vec::new();
        for line in std::io::BufReader::new(err_pipe)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line.clone());
            all.push(line);
        }
        all.join("\n")
    });
    let mut pipe = stalled.stdout.take().expect("stdout");
    let drain = std::thread::spawn(move || std::io::copy(&mut pipe, &mut std::io::sink()));
    // The drop notice follows what was queued: the client prints it when it
    // gets there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(l) if l.contains("the server dropped") => break,
            Ok(_) => {}
            Err(_) => panic!("the stalled client never heard of its drops"),
        }
    }
    let stalled_out = sigterm(&mut stalled);
    let _ = drain.join();
    let stalled_err = err_reader.join().expect("stderr reader");
    assert!(
        stalled_out.status.success(),
        "stalled client: {stalled_err}"
    );
    let told: u64 = stalled_err
        .split("the server dropped ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        told > 0 && told <= dropped,
        "the stalled client was told {told} of {dropped} dropped: {stalled_err}"
    );
    assert!(c.sigterm_and_wait().success());

    // The lake has every packet despite the stalled client.
    let v = verify(&lake, 31, N);
    v.assert_exactly(N, "the lake while a tail client stalls");

    // What the attentive client got is exactly what export selects from the lake.
    assert!(
        !want.is_empty() && want.len() < N as usize,
        "filter selects {}",
        want.len()
    );
    assert_eq!(got.len(), want.len(), "tail vs export of the same filter");
    assert!(got == want, "tail and export disagree on the packets");
    if support::have("tshark") {
        assert_eq!(support::tshark_reads_cleanly(&live), got.len());
    }
    eprintln!(
        "tail: {} of {N} packets matched the filter and arrived live; the stalled client lost {dropped} (the lake lost 0)",
        got.len()
    );
}
