//! `bench`: one run, one machine, the same generated traffic offered at a
//! ladder of rates to
//!
//! * `sink`: `mirrorlake-collector sink`, the collector's own sockets and
//!   `recvmmsg` loop that only counts: the kernel's receive cost, our
//!   physical limit here;
//! * `tcpdump`: `tcpdump -w` on the loopback interface, what the seed ran on
//!   its mirror target (a sink receives the datagrams, unmeasured);
//! * `parquet`: `mirrorlake-collector run`, single node, writing the lake;
//! * `kafka`: `mirrorlake-collector run --kafka`, when brokers are given.
//!
//! Each step starts the system afresh, sends `rate × seconds` packets, waits
//! until its delivered count stops moving, stops it and counts what it
//! delivered (sink: datagrams counted; tcpdump: records in its file;
//! parquet: rows in the lake's footers; kafka: rows the brokers
//! acknowledged). CPU is user + system seconds from the first packet to exit
//! (`/proc` then `wait4`), so the Parquet encoding at shutdown is included;
//! peak RSS is `wait4`'s. Then the Arrow-to-Parquet writer against pyarrow
//! writing the same batches with the same settings (when `--python` has
//! pyarrow). Writes `report.json` (and `report.png` when the Python has
//! matplotlib) and prints a summary.

use crate::MixArgs;
use crate::process::{self, Reaped};
use crate::send::{self, Rate};
use crate::traffic::{Generated, Traffic};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mirrorlake_ops::scrape;
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PYARROW_SCRIPT: &str = include_str!("../scripts/pyarrow_write.py");
const PLOT_SCRIPT: &str = include_str!("../scripts/plot_bench.py");

/// The systems a ladder measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// The collector's receive loop, counting only.
    Sink,
    /// tcpdump -w on lo.
    Tcpdump,
    /// The single-node collector writing Parquet.
    Parquet,
    /// The collector producing to Kafka.
    Kafka,
}

/// Flags of `bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Offered rates, packets/s, lowest first (SI suffixes: 50k).
    #[arg(long, value_delimiter = ',', value_parser = send::parse_si, default_value = "25k,50k,100k,150k,200k")]
    rates: Vec<f64>,
    /// Seconds of traffic per step.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Systems to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sink,tcpdump,parquet,kafka"
    )]
    systems: Vec<System>,
    /// Kafka brokers for the `kafka` system (without them it is skipped, and
    /// the report says so).
    #[arg(long, env = "MIRRORLAKE_BENCH_KAFKA")]
    kafka: Option<String>,
    /// Folder holding `mirrorlake-collector` [default: this program's].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// tcpdump to run.
    #[arg(long, default_value = "tcpdump")]
    tcpdump: PathBuf,
    /// Python with pyarrow (writer comparison) and matplotlib (plot).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Rows for the writer comparison (0: skip it).
    #[arg(long, default_value_t = 500_000)]
    writer_rows: usize,
    /// Output folder: report.json, report.png.
    #[arg(long, default_value = "bench-out")]
    out: PathBuf,
    /// Sender threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// A system's ladder ends after a step that lost more than this percent.
    #[arg(long, default_value_t = 5.0)]
    stop_loss_percent: f64,
    /// First UDP port; each step uses the next.
    #[arg(long, default_value_t = 24800)]
    port: u16,
    #[command(flatten)]
    mix: MixArgs,
}

/// One system at one offered rate.
#[derive(Debug, Clone, Serialize)]
struct Step {
    system: System,
    offered_pps: f64,
    achieved_pps: f64,
    /// zstd-3 ratio of what was sent (`send`'s `zstd_ratio`).
    zstd_ratio: f64,
    sent: u64,
    delivered: u64,
    lost: u64,
    loss_percent: f64,
    cpu_seconds: f64,
    cpu_s_per_mpacket: Option<f64>,
    peak_rss_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// A system's ladder in one line.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    system: System,
    /// Highest rate (as sent) delivered without loss.
    zero_loss_pps: Option<f64>,
    /// Every step was lossless: the ceiling is above the ladder.
    ladder_top_reached: bool,
    /// At `zero_loss_pps`.
    cpu_s_per_mpacket: Option<f64>,
    /// At `zero_loss_pps`.
    peak_rss_bytes: Option<u64>,
}

/// A goal of the loadtest issue, measured.
#[derive(Debug, Clone, Serialize)]
struct Goal {
    goal: &'static str,
    measured: Option<f64>,
    target: f64,
    met: Option<bool>,
    how: String,
}

#[derive(Debug, Clone, Serialize)]
struct WriterComparison {
    rows: usize,
    arrow_bytes: usize,
    mirrorlake_seconds: f64,
    mirrorlake_file_bytes: u64,
    pyarrow_seconds: f64,
    pyarrow_file_bytes: u64,
    pyarrow_version: String,
    /// Settings both writers used.
    settings: serde_json::Value,
    /// pyarrow time / ours (≥ 1: ours is at least as fast).
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    date: String,
    machine: serde_json::Value,
    command: String,
    seconds_per_step: f64,
    steps: Vec<Step>,
    summary: Vec<Summary>,
    goals: Vec<Goal>,
    writer: Option<WriterComparison>,
    skipped: Vec<String>,
}

/// A running system under test.
struct Running {
    system: System,
    child: Child,
    /// tcpdump's receiver (a sink, not measured).
    receiver: Option<Box<Running>>,
    /// The sink's running count (from its output).
    counted: Arc<AtomicU64>,
    reader: Option<std::thread::JoinHandle<()>>,
    http: Option<SocketAddr>,
    lake: Option<PathBuf>,
    pcap: Option<PathBuf>,
}

struct Env<'a> {
    args: &'a BenchArgs,
    collector: PathBuf,
    dir: PathBuf,
}

impl Env<'_> {
    fn start(&self, system: System, port: u16, http_port: u16, step: usize) -> Result<Running> {
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        match system {
            System::Sink => {
                let mut child = Command::new(&self.collector)
                    .args(["sink", "--listen", &listen.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("start {}", self.collector.display()))?;
                let counted = Arc::new(AtomicU64::new(0));
                let ready = Arc::new(AtomicBool::new(false));
                let out = child.stdout.take().context("sink stdout")?;
                let reader = {
                    let (counted, ready) = (Arc::clone(&counted), Arc::clone(&ready));
                    std::thread::spawn(move || {
                        for line in BufReader::new(out).lines().map_while(Result::ok) {
                            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                                && let Some(n) = v["received"].as_u64()
                            {
                                counted.store(n, Ordering::Relaxed);
                                ready.store(true, Ordering::Relaxed);
                            }
                        }
                    })
                };
                wait_until(Duration::from_secs(10), || ready.load(Ordering::Relaxed))
                    .context("the sink did not start")?;
                Ok(Running {
                    system,
                    child,
                    receiver: None,
                    counted,
                    reader: Some(reader),
                    http: None,
                    lake: None,
                    pcap: None,
                })
            }
            System::Tcpdump => {
                let receiver = self.start(System::Sink, port, http_port, step)?;
                let pcap = self.dir.join(format!("step{step}.pcap"));
                let mut child = Command::new(&self.args.tcpdump)
                    .args(["-i", "lo", "-n", "-w"])
                    .arg(&pcap)
                    .args(["udp", "dst", "port", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("start {}", self.args.tcpdump.display()))?;
                let err = child.stderr.take().context("tcpdump stderr")?;
                let ready = Arc::new(AtomicBool::new(false));
                let lines = Arc::new(Mutex::new(Vec::new()));
                let reader = {
                    let (ready, lines) = (Arc::clone(&ready), Arc::clone(&lines));
                    std::thread::spawn(move || {
                        for line in BufReader::new(err).lines().map_while(Result::ok) {
                            if line.contains("listening on") {
                                ready.store(true, Ordering::Relaxed);
                            }
                            if let Ok(mut l) = lines.lock() {
                                l.push(line);
                            }
                        }
                    })
                };
                if wait_until(Duration::from_secs(10), || ready.load(Ordering::Relaxed)).is_err() {
                    let _ = process::terminate(&child);
                    let _ = child.wait();
                    let said = lines.lock().map(|l| l.join(" | ")).unwrap_or_default();
                    bail!("tcpdump did not start: {said}");
                }
                // It says "listening" a moment before its ring takes packets
                // (measured: without this pause the first ~30 packets of a
                // step are missing from its file at any rate).
                std::thread::sleep(Duration::from_secs(1));
                Ok(Running {
                    system,
                    child,
                    receiver: Some(Box::new(receiver)),
                    counted: Arc::new(AtomicU64::new(0)),
                    reader: Some(reader),
                    http: None,
                    lake: None,
                    pcap: Some(pcap),
                })
            }
            System::Parquet | System::Kafka => {
                let http = SocketAddr::from(([127, 0, 0, 1], http_port));
                let lake = self.dir.join(format!("lake{step}"));
                let mut c = Command::new(&self.collector);
                c.args(["run", "--listen", &listen.to_string()])
                    .args(["--http", &http.to_string()])
                    .args(["--collector-id", "bench", "--sockets", "1"])
                    .arg("--lake")
                    .arg(&lake)
                    .env("MIRRORLAKE_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit());
                if system == System::Kafka {
                    let brokers = self.args.kafka.as_deref().context("--kafka")?;
                    let topic = format!("bench.{}.{step}", std::process::id());
                    c.args(["--kafka", brokers, "--topic", &topic]);
                }
                let mut child = c
                    .spawn()
                    .with_context(|| format!("start {}", self.collector.display()))?;
                let up = wait_until(Duration::from_secs(60), || {
                    matches!(scrape::get(http, "/healthz"), Some((200, _)))
                });
                if up.is_err() {
                    let _ = process::terminate(&child);
                    let _ = child.wait();
                    bail!("{system:?}: the collector did not become healthy");
                }
                Ok(Running {
                    system,
                    child,
                    receiver: None,
                    counted: Arc::new(AtomicU64::new(0)),
                    reader: None,
                    http: Some(http),
                    lake: Some(lake),
                    pcap: None,
                })
            }
        }
    }
}

impl Running {
    /// What the system has taken so far, where it can be read while running.
    fn progress(&self) -> Option<u64> {
        match self.system {
            System::Sink => Some(self.counted.load(Ordering::Relaxed)),
            System::Tcpdump => self.receiver.as_ref().and_then(|r| r.progress()),
            System::Parquet => scrape::total(
                &scrape::get(self.http?, "/metrics")?.1,
                "mirrorlake_packets_received_total",
            ),
            System::Kafka => scrape::total(
                &scrape::get(self.http?, "/metrics")?.1,
                "mirrorlake_rows_published_total",
            ),
        }
    }

    /// Waits until the count stops moving (or reaches `sent`).
    fn drain(&self, sent: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = self.progress();
        let mut still = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.progress();
            if now != last {
                last = now;
                still = Instant::now();
            } else if now == Some(sent) || still.elapsed() > Duration::from_millis(1500) {
                return;
            }
        }
    }

    /// Stops the system; returns what it delivered and what it cost.
    fn stop(mut self) -> Result<(u64, Reaped, Option<String>)> {
        let kafka_published = if self.system == System::Kafka {
            self.progress()
        } else {
            None
        };
        match self.system {
            System::Sink => drop(self.child.stdin.take()),
            _ => process::terminate(&self.child)?,
        }
        let reaped = process::reap(&mut self.child)?;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if let Some(r) = self.receiver.take() {
            r.stop()?;
        }
        let mut note = None;
        let delivered = match self.system {
            System::Sink => self.counted.load(Ordering::Relaxed),
            System::Tcpdump => {
                let path = self.pcap.as_deref().context("pcap")?;
                let n = count_records(path)?;
                let _ = std::fs::remove_file(path);
                n
            }
            System::Parquet => {
                let lake = self.lake.as_deref().context("lake")?;
                let n = lake_rows(&lake.join("packets"))?;
                let _ = std::fs::remove_dir_all(lake);
                n
            }
            System::Kafka => {
                note = Some("delivered = rows the brokers acknowledged".into());
                kafka_published.unwrap_or(0)
            }
        };
        if reaped.code != Some(0) && self.system != System::Tcpdump {
            note = Some(format!("exited with {:?}", reaped.code));
        }
        Ok((delivered, reaped, note))
    }
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("timed out after {limit:?}")
}

fn count_records(path: &Path) -> Result<u64> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let reader = mirrorlake_pcap::CaptureReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("read {}", path.display()))?;
    let mut n = 0;
    for rec in reader {
        // tcpdump killed mid-write may leave a cut last record.
        if rec.is_err() {
            break;
        }
        n += 1;
    }
    Ok(n)
}

/// Rows in every Parquet footer under `dir`.
fn lake_rows(dir: &Path) -> Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut rows = 0u64;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in entries {
        let path = e?.path();
        if path.is_dir() {
            rows += lake_rows(&path)?;
        } else if path.extension().is_some_and(|x| x == "parquet") {
            let f = std::fs::File::open(&path)?;
            let r = SerializedFileReader::new(f)
                .with_context(|| format!("footer of {}", path.display()))?;
            rows += r.metadata().file_metadata().num_rows().max(0) as u64;
        }
    }
    Ok(rows)
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.rates.is_empty() || args.rates.iter().any(|r| *r <= 0.0) {
        bail!("--rates: one or more rates above 0");
    }
    if args.seconds.is_nan() || args.seconds <= 0.0 {
        bail!("--seconds: must be above 0");
    }
    let mix = args.mix.mix();
    mix.validate().map_err(anyhow::Error::msg)?;
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this program's folder")?
            .to_path_buf(),
    };
    let collector = bin_dir.join("mirrorlake-collector");
    if !collector.is_file() {
        bail!(
            "--bin-dir: no mirrorlake-collector in {}",
            bin_dir.display()
        );
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let dir = args.out.join("work");
    std::fs::create_dir_all(&dir)?;
    let env = Env {
        args,
        collector,
        dir: dir.clone(),
    };
    let mut skipped = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut port = args.port;
    let mut step_no = 0usize;
    for &system in &args.systems {
        if system == System::Kafka && args.kafka.is_none() {
            skipped.push("kafka: no brokers given (--kafka or MIRRORLAKE_BENCH_KAFKA)".into());
            continue;
        }
        for &rate in &args.rates {
            step_no += 1;
            port = port.wrapping_add(1).max(1024);
            let count = (rate * args.seconds).round().max(1.0) as u64;
            let running = match env.start(system, port, port.wrapping_add(1000), step_no) {
                Ok(r) => r,
                Err(e) if system == System::Tcpdump => {
                    skipped.push(format!("tcpdump: {e:#}"));
                    break;
                }
                Err(e) => return Err(e),
            };
            let cpu0 = process::cpu_seconds(running.child.id())?;
            let progress = Arc::new(AtomicU64::new(0));
            let bar = progress_bar(&format!("{system:?} at {rate:.0}/s"), count, &progress);
            let mut m = mix.clone();
            m.run_id = step_no as u32;
            let target = [SocketAddr::from(([127, 0, 0, 1], port))];
            let sent = send::send_generated(
                &target,
                Rate::Pps(rate),
                count,
                &m,
                32,
                args.threads,
                Arc::clone(&progress),
            );
            bar.0.store(true, Ordering::Relaxed);
            let _ = bar.1.join();
            let sent = match sent {
                Ok(s) => s,
                Err(e) => {
                    let _ = running.stop();
                    return Err(e);
                }
            };
            running.drain(sent.tally.sent);
            if system == System::Tcpdump {
                // libpcap's ring hands a partly filled block to tcpdump only
                // when its timeout (1 s) expires: stopping earlier loses it.
                std::thread::sleep(Duration::from_secs(2));
            }
            let (delivered, reaped, note) = running.stop()?;
            let cpu = (reaped.cpu_seconds - cpu0).max(0.0);
            let lost = sent.tally.sent.saturating_sub(delivered);
            let step = Step {
                system,
                offered_pps: rate,
                achieved_pps: sent.rate_pps,
                zstd_ratio: sent.zstd_ratio,
                sent: sent.tally.sent,
                delivered,
                lost,
                loss_percent: 100.0 * lost as f64 / sent.tally.sent.max(1) as f64,
                cpu_seconds: cpu,
                cpu_s_per_mpacket: (delivered > 0).then(|| cpu / (delivered as f64 / 1e6)),
                peak_rss_bytes: reaped.max_rss_bytes,
                note,
            };
            eprintln!(
                "{:>8} offered {:>9.0}/s sent at {:>9.0}/s  delivered {:>9}/{:<9} lost {:>6.2}%  CPU {:>6.2} s/Mpkt  RSS {:>5} MiB",
                format!("{system:?}"),
                step.offered_pps,
                step.achieved_pps,
                step.delivered,
                step.sent,
                step.loss_percent,
                step.cpu_s_per_mpacket.unwrap_or(f64::NAN),
                step.peak_rss_bytes >> 20
            );
            let stop = step.loss_percent > args.stop_loss_percent;
            steps.push(step);
            if stop {
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let summary: Vec<Summary> = args
        .systems
        .iter()
        .filter(|s| steps.iter().any(|st| st.system == **s))
        .map(|&s| summarize(s, &steps, args.rates.len()))
        .collect();
    let writer = match (&args.python, args.writer_rows) {
        (_, 0) => None,
        (None, _) => {
            skipped.push("writer vs pyarrow: no --python given".into());
            None
        }
        (Some(py), rows) => match writer_comparison(py, rows, &args.mix, &args.out) {
            Ok(w) => Some(w),
            Err(e) => {
                skipped.push(format!("writer vs pyarrow: {e:#}"));
                None
            }
        },
    };
    let goals = goals(&summary, &steps, writer.as_ref());
    let report = Report {
        date: mirrorlake_lake::PartitionKey::of_us(crate::traffic::now_us()).dt(),
        machine: machine(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        seconds_per_step: args.seconds,
        steps,
        summary,
        goals,
        writer,
        skipped,
    };
    let json = serde_json::to_string_pretty(&report)?;
    let path = args.out.join("report.json");
    std::fs::write(&path, &json).with_context(|| format!("write {}", path.display()))?;
    print_summary(&report);
    if let Some(py) = &args.python {
        let script = args.out.join("plot_bench.py");
        std::fs::write(&script, PLOT_SCRIPT)?;
        let st = Command::new(py)
            .arg(&script)
            .arg(&path)
            .arg(args.out.join("report.png"))
            .status();
        match st {
            Ok(s) if s.success() => println!("plot: {}", args.out.join("report.png").display()),
            _ => println!("plot: not drawn (the Python has no matplotlib?)"),
        }
    }
    println!("report: {}", path.display());
    Ok(())
}

fn progress_bar(
    what: &str,
    len: u64,
    progress: &Arc<AtomicU64>,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    let done = Arc::new(AtomicBool::new(false));
    let handle = {
        let (done, progress) = (Arc::clone(&done), Arc::clone(progress));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(progress.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        })
    };
    (done, handle)
}

fn summarize(system: System, steps: &[Step], rungs: usize) -> Summary {
    let mine: Vec<&Step> = steps.iter().filter(|s| s.system == system).collect();
    // The rate the sender reached, not the one asked for: on a small
    // machine the sender tops out below the ladder's highest rungs.
    let best = mine
        .iter()
        .filter(|s| s.lost == 0)
        .max_by(|a, b| a.achieved_pps.total_cmp(&b.achieved_pps));
    Summary {
        system,
        zero_loss_pps: best.map(|s| s.achieved_pps),
        ladder_top_reached: mine.len() == rungs && mine.iter().all(|s| s.lost == 0),
        cpu_s_per_mpacket: best.and_then(|s| s.cpu_s_per_mpacket),
        peak_rss_bytes: best.map(|s| s.peak_rss_bytes),
    }
}

/// CPU per Mpacket of `a` over `b` at the highest rate both delivered whole.
fn cpu_ratio(steps: &[Step], a: System, b: System) -> Option<(f64, f64)> {
    steps
        .iter()
        .filter(|s| s.system == a && s.lost == 0)
        .filter_map(|s| {
            let other = steps
                .iter()
                .find(|o| o.system == b && o.lost == 0 && o.offered_pps == s.offered_pps)?;
            Some((
                s.offered_pps,
                s.cpu_s_per_mpacket? / other.cpu_s_per_mpacket?,
            ))
        })
        .max_by(|x, y| x.0.total_cmp(&y.0))
}

fn goals(summary: &[Summary], steps: &[Step], writer: Option<&WriterComparison>) -> Vec<Goal> {
    let of = |s: System| summary.iter().find(|x| x.system == s);
    let mut goals = Vec::new();
    for collector in [System::Parquet, System::Kafka] {
        if let Some((rate, ratio)) = cpu_ratio(steps, collector, System::Sink) {
            goals.push(Goal {
                goal: "collector CPU-s per Mpacket / raw sink's",
                measured: Some(ratio),
                target: 1.5,
                met: Some(ratio <= 1.5),
                how: format!("{collector:?} at {rate:.0} packets/s, both lossless"),
            });
        }
    }
    if let (Some(c), Some(t)) = (of(System::Parquet), of(System::Tcpdump)) {
        let ratio = match (c.zero_loss_pps, t.zero_loss_pps) {
            (Some(c), Some(t)) => Some(c / t),
            (Some(_), None) => Some(f64::INFINITY),
            _ => None,
        };
        goals.push(Goal {
            goal: "collector zero-loss rate / tcpdump's",
            measured: ratio,
            target: 1.0,
            met: ratio.map(|r| r >= 1.0),
            how: format!(
                "rates as sent; collector {}, tcpdump {}",
                rate_text(c),
                rate_text(t)
            ),
        });
    }
    if let Some(c) = of(System::Parquet) {
        let rss = c.peak_rss_bytes.map(|b| b as f64 / f64::from(1 << 20));
        goals.push(Goal {
            goal: "collector peak RSS at its max lossless rate, MiB",
            measured: rss,
            target: 256.0,
            met: rss.map(|r| r <= 256.0),
            how: format!("single node, {}", rate_text(c)),
        });
    }
    if let Some(w) = writer {
        goals.push(Goal {
            goal: "Parquet writer speed / pyarrow's",
            measured: Some(w.ratio),
            target: 1.0,
            met: Some(w.ratio >= 1.0),
            how: format!("{} rows, same settings, best of 3 each", w.rows),
        });
    }
    goals
}

fn rate_text(s: &Summary) -> String {
    match (s.zero_loss_pps, s.ladder_top_reached) {
        (Some(r), true) => format!("lossless at every rung, up to {r:.0}/s as sent"),
        (Some(r), false) => format!("lossless up to {r:.0}/s as sent"),
        (None, _) => "lost packets at every rung".into(),
    }
}

fn print_summary(r: &Report) {
    println!("\nsystem    zero-loss rate   CPU-s/Mpkt   peak RSS");
    for s in &r.summary {
        println!(
            "{:<9} {:>14}   {:>10}   {:>8}",
            format!("{:?}", s.system),
            s.zero_loss_pps.map_or("none".into(), |v| format!(
                "{}{v:.0}/s",
                if s.ladder_top_reached { "≥" } else { "" }
            )),
            s.cpu_s_per_mpacket
                .map_or("-".into(), |v| format!("{v:.2}")),
            s.peak_rss_bytes
                .map_or("-".into(), |v| format!("{} MiB", v >> 20)),
        );
    }
    println!("\ngoals:");
    for g in &r.goals {
        println!(
            "  {:<50} {:>8} (target {}) {}  [{}]",
            g.goal,
            g.measured.map_or("-".into(), |v| format!("{v:.2}")),
            g.target,
            match g.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "unmeasured",
            },
            g.how
        );
    }
    if let Some(w) = &r.writer {
        println!(
            "\nwriter: mirrorlake {:.3} s ({} B), pyarrow {} {:.3} s ({} B): {:.2}x",
            w.mirrorlake_seconds,
            w.mirrorlake_file_bytes,
            w.pyarrow_version,
            w.pyarrow_seconds,
            w.pyarrow_file_bytes,
            w.ratio
        );
    }
    for s in &r.skipped {
        println!("skipped: {s}");
    }
}

fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "mem_total": read("/proc/meminfo").lines().next().unwrap_or_default(),
    })
}

/// Our Arrow-to-Parquet writer against pyarrow on the same batches.
fn writer_comparison(
    python: &Path,
    rows: usize,
    mix: &MixArgs,
    out: &Path,
) -> Result<WriterComparison> {
    use arrow::ipc::writer::FileWriter;
    use mirrorlake_lake::FileConfig;
    use mirrorlake_schema::{PacketBatchBuilder, RowMeta};
    use parquet::arrow::ArrowWriter;

    // The collector's rows: generated packets, decoded, 8,192 per batch.
    let mut traffic = Traffic::new(mix.mix(), 0, 1);
    let mut g = Generated::default();
    let mut builder = PacketBatchBuilder::with_capacity("bench", 8192, 8192 * 800);
    let mut batches = Vec::new();
    let t0 = 1_768_435_200_000_000i64;
    for i in 0..rows {
        traffic.next_into(&mut g);
        let d = mirrorlake_wire::decode_vxlan_payload(&g.datagram, Some(g.source))
            .map_err(|r| anyhow::anyhow!("generated packet does not decode: {r:?}"))?;
        builder.append(&d, RowMeta::new(t0 + i as i64, i as i64));
        if builder.len() == 8192
            && let Some(b) = builder.finish()
        {
            batches.push(b?);
        }
    }
    if let Some(b) = builder.finish() {
        batches.push(b?);
    }
    let schema = batches.first().context("no rows")?.schema();
    let arrow_bytes = batches.iter().map(|b| b.get_array_memory_size()).sum();
    let ipc = out.join("writer-input.arrow");
    {
        let mut w = FileWriter::try_new(std::fs::File::create(&ipc)?, &schema)?;
        for b in &batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    // pyarrow first: it says which of our settings it can apply.
    let config = FileConfig::default();
    let script = out.join("pyarrow_write.py");
    std::fs::write(&script, PYARROW_SCRIPT)?;
    let settings = serde_json::json!({
        "zstd_level": config.zstd_level,
        "row_group_rows": config.row_group_rows,
        "page_bytes": config.page_bytes,
        "page_rows": config.page_rows,
        "bloom_filter_columns": config.bloom_filter_columns,
        "no_dictionary": ["frame"],
        "no_statistics": mirrorlake_schema::columns::PACKET_COLUMNS
            .iter()
            .map(|c| c.name)
            .filter(|n| *n == "frame" || !config.statistics_columns.iter().any(|s| s == n))
            .collect::<Vec<_>>(),
    });
    let py_out = out.join("writer-pyarrow.parquet");
    let o = Command::new(python)
        .arg(&script)
        .arg(&ipc)
        .arg(&py_out)
        .arg(settings.to_string())
        .output()
        .with_context(|| format!("run {}", python.display()))?;
    if !o.status.success() {
        bail!("pyarrow: {}", String::from_utf8_lossy(&o.stderr).trim());
    }
    let py: serde_json::Value = serde_json::from_slice(&o.stdout).context("pyarrow's report")?;
    let applied = &py["applied"];
    let mut ours = config.clone();
    if applied["bloom_filters"] != true {
        ours.bloom_filter_columns.clear();
    }
    if applied["page_rows"] != true {
        // Both libraries' default.
        ours.page_rows = 20_000;
    }
    let props = ours.writer_properties();
    let our_out = out.join("writer-mirrorlake.parquet");
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&our_out)?,
            schema.clone(),
            Some(props.clone()),
        )?;
        for b in &batches {
            w.write(b)?;
        }
        w.close()?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let result = WriterComparison {
        rows,
        arrow_bytes,
        mirrorlake_seconds: best,
        mirrorlake_file_bytes: size(&our_out),
        pyarrow_seconds: py["seconds"].as_f64().context("pyarrow seconds")?,
        pyarrow_file_bytes: size(&py_out),
        pyarrow_version: py["version"].as_str().unwrap_or("?").to_owned(),
        settings: serde_json::json!({
            "requested": settings,
            "pyarrow_applied": applied,
        }),
        ratio: py["seconds"].as_f64().unwrap_or(0.0) / best,
    };
    for p in [&ipc, &py_out, &our_out, &script] {
        let _ = std::fs::remove_file(p);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(system: System, rate: f64, lost: u64, cpu: f64) -> Step {
        Step {
            system,
            offered_pps: rate,
            achieved_pps: rate,
            zstd_ratio: 1.3,
            sent: 100,
            delivered: 100 - lost,
            lost,
            loss_percent: lost as f64,
            cpu_seconds: cpu,
            cpu_s_per_mpacket: Some(cpu),
            peak_rss_bytes: 1 << 20,
            note: None,
        }
    }

    #[test]
    fn summaries_and_ratios_use_lossless_rungs_only() {
        let steps = vec![
            step(System::Sink, 10.0, 0, 1.0),
            step(System::Sink, 20.0, 0, 1.0),
            step(System::Parquet, 10.0, 0, 2.0),
            step(System::Parquet, 20.0, 5, 9.0),
        ];
        let s = summarize(System::Parquet, &steps, 2);
        assert_eq!(s.zero_loss_pps, Some(10.0));
        assert!(!s.ladder_top_reached);
        assert!(summarize(System::Sink, &steps, 2).ladder_top_reached);
        assert_eq!(
            cpu_ratio(&steps, System::Parquet, System::Sink),
            Some((10.0, 2.0))
        );
    }
}
