//! `mirrorlake-loadtest`: realistic AWS mirror traffic at a controlled rate.
//! `send` generates a reproducible, tagged mix of conversations (or replays
//! a capture) and prints what it sent as JSON; `verify` finds every packet of
//! a run in the lake; `order` judges an exported capture's packet order and
//! timing per flow; `bench` measures the collector against the raw receive
//! loop and tcpdump in one run.

mod bench;
mod order;
mod process;
mod send;
mod traffic;
mod udp;
mod verify;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use send::{Rate, ReplaySessions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use traffic::{Mix, Payload, Weights};

#[derive(Parser, Debug)]
#[command(
    name = "mirrorlake-loadtest",
    version,
    about = "Generate AWS VPC Traffic Mirroring traffic, account for it, benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send tagged VXLAN mirror traffic from 127.0.0.x sources to collectors.
    Send(SendArgs),
    /// Account for every packet of a run in the lake: stored, lost, duplicated.
    Verify(VerifyArgs),
    /// Judge a capture of a run (an `export`) as Wireshark would: packets
    /// out of their flow's send order, flow neighbours sharing a timestamp,
    /// send-to-timestamp latency.
    Order(OrderArgs),
    /// Offered-rate ladder: raw receive loop, tcpdump, collector (Parquet,
    /// Kafka); loss, CPU per Mpacket, RSS; Parquet writer vs pyarrow.
    Bench(bench::BenchArgs),
}

/// What to generate (shared by `send` and `bench`).
#[derive(Args, Debug, Clone)]
pub struct MixArgs {
    /// Mirror sources (127.0.0.10 and up).
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// VNIs (--first-vni and up); each (source, VNI) is a mirror session.
    #[arg(long, default_value_t = 3)]
    vnis: u32,
    /// First VNI.
    #[arg(long, default_value_t = 100)]
    first_vni: u32,
    /// Conversation kinds and weights.
    #[arg(long, default_value = "tcp=60,dns=25,icmp=10,frag=5")]
    mix: Weights,
    /// Percent of conversations over IPv6.
    #[arg(long, default_value_t = 10)]
    ipv6_percent: u32,
    /// Percent of conversations with 802.1Q tags (a fifth stacked).
    #[arg(long, default_value_t = 5)]
    vlan_percent: u32,
    /// Percent of TCP sessions with a 9001-byte MTU (jumbo frames).
    #[arg(long, default_value_t = 5)]
    jumbo_percent: u32,
    /// Percent of mirror sessions that truncate copies (AWS packet length).
    #[arg(long, default_value_t = 10)]
    truncate_percent: u32,
    /// Bytes a truncating session keeps of each frame.
    #[arg(long, default_value_t = 128)]
    truncate_to: usize,
    /// Conversations in progress at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Payload content: realistic (random for TLS and the other encrypted
    /// sessions, text for HTTP and DNS, ping's pattern for ICMP: zstd-3 ratio
    /// about 1.2), random (about 1.0), text (about 3.5), filler (one
    /// repeated byte, about 140: unlike any traffic).
    #[arg(long, default_value = "realistic")]
    payload: Payload,
    /// Run id tagged into every payload.
    #[arg(long, default_value_t = 1)]
    run_id: u32,
    /// Generator seed (same seed, same packets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl MixArgs {
    fn mix(&self) -> Mix {
        Mix {
            sources: self.sources,
            first_source: 10,
            vnis: self.vnis,
            first_vni: self.first_vni,
            ipv6_percent: self.ipv6_percent,
            vlan_percent: self.vlan_percent,
            jumbo_percent: self.jumbo_percent,
            truncate_percent: self.truncate_percent,
            truncate_to: self.truncate_to,
            weights: self.mix,
            concurrency: self.concurrency,
            payload: self.payload,
            run_id: self.run_id,
            seed: self.seed,
        }
    }
}

#[derive(Args, Debug)]
struct SendArgs {
    /// Collector address (loopback only); repeat for several collectors:
    /// each flow direction goes to one of them, as an NLB hashes flows.
    #[arg(long, default_value = "127.0.0.1:4789")]
    target: Vec<SocketAddr>,
    /// Packets per second (0: as fast as possible); 1.5k, 200k, 1M work.
    #[arg(long, default_value = "10000", value_parser = send::parse_si, conflicts_with = "rate_bps")]
    rate: f64,
    /// Bits per second of VXLAN datagrams instead of --rate (500M, 2G).
    #[arg(long, value_parser = send::parse_si)]
    rate_bps: Option<f64>,
    /// Packets to send (generated traffic).
    #[arg(long, default_value_t = 50_000)]
    count: u64,
    /// Datagrams per sendmmsg call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Sender threads (generated traffic); the rate is shared.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Replay this capture's frames instead of generating (pcap or pcapng).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Times to replay the capture.
    #[arg(long, default_value_t = 1)]
    loops: u32,
    #[command(flatten)]
    mix: MixArgs,
}

impl SendArgs {
    fn rate(&self) -> Rate {
        match self.rate_bps {
            Some(b) if b > 0.0 => Rate::Bps(b),
            Some(_) => Rate::Unlimited,
            None if self.rate > 0.0 => Rate::Pps(self.rate),
            None => Rate::Unlimited,
        }
    }
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    lake: String,
    /// Run id given to `send`.
    #[arg(long = "run", default_value_t = 1)]
    run_id: u32,
    /// Packets `send` reported as sent (generated runs).
    #[arg(long, required_unless_present = "replay")]
    sent: Option<u64>,
    /// Account for a replay of this capture instead (frame by frame).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Loops the replay was sent.
    #[arg(long, default_value_t = 1)]
    loops: u32,
    /// Keep polling for new files up to this many seconds until everything
    /// sent is found; also measures send-to-queryable time.
    #[arg(long)]
    follow: Option<f64>,
    /// Poll interval with --follow, milliseconds.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// Also check that each flow's `ts` order agrees with its collector's
    /// `arrival_seq` order (`ts_arrival_inversions`).
    #[arg(long)]
    order: bool,
    /// A file of packet ids (one per line) that must be in the lake; the
    /// report counts those missing (`listed_missing`).
    #[arg(long)]
    expect_ids: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct OrderArgs {
    /// The capture (pcap or pcapng), e.g. what `export` wrote.
    #[arg(long)]
    capture: PathBuf,
    /// Run id given to `send`.
    #[arg(long = "run", default_value_t = 1)]
    run_id: u32,
}

fn send_cmd(a: &SendArgs) -> Result<()> {
    let progress = Arc::new(AtomicU64::new(0));
    let report = match &a.replay {
        Some(path) => {
            let replay = send::Replay::read(path)?;
            let sessions = ReplaySessions {
                sources: a.mix.sources.max(1),
                first_source: 10,
                vnis: a.mix.vnis.max(1),
                first_vni: a.mix.first_vni,
            };
            send::send_replay(
                &a.target,
                a.rate(),
                &replay,
                a.loops,
                sessions,
                a.batch,
                progress,
            )?
        }
        None => send::send_generated(
            &a.target,
            a.rate(),
            a.count,
            &a.mix.mix(),
            a.batch,
            a.threads,
            progress,
        )?,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn verify_cmd(a: &VerifyArgs) -> Result<()> {
    let expect = match (&a.replay, a.sent) {
        (Some(path), _) => verify::Expect::Replay {
            replay: send::Replay::read(path)?,
            loops: a.loops,
        },
        (None, Some(sent)) => verify::Expect::Run {
            run_id: a.run_id,
            sent,
        },
        (None, None) => anyhow::bail!("--sent: required for a generated run"),
    };
    let follow = a
        .follow
        .map(|s| Duration::try_from_secs_f64(s).context("--follow: seconds"))
        .transpose()?;
    let must_have = match &a.expect_ids {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("--expect-ids: read {}", p.display()))?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    l.trim()
                        .parse::<u64>()
                        .with_context(|| format!("--expect-ids: {l:?} is not a packet id"))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(verify::verify(
        &a.lake,
        &expect,
        follow,
        Duration::from_millis(a.poll_ms.max(10)),
        a.order,
        must_have.as_deref(),
    ))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn order_cmd(a: &OrderArgs) -> Result<()> {
    let report = order::order(&a.capture, a.run_id)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Send(a) => send_cmd(a),
        Command::Verify(a) => verify_cmd(a),
        Command::Order(a) => order_cmd(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
