//! `mirrorlake-loadtest`: realistic AWS mirror traffic at a controlled rate.
//! `send` generates a reproducible, tagged mix and prints what it sent as
//! JSON; `verify` finds every packet of a run in the lake by its id.

mod traffic;
mod udp;
mod verify;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use traffic::{Generated, Mix};

#[derive(Parser, Debug)]
#[command(
    name = "mirrorlake-loadtest",
    version,
    about = "Generate AWS VPC Traffic Mirroring traffic"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send tagged VXLAN mirror traffic from 127.0.0.x sources to a collector.
    Send {
        /// Collector address (loopback only); repeat for several collectors:
        /// each flow goes to one of them, as an NLB hashes flows.
        #[arg(long, default_value = "127.0.0.1:4789")]
        target: Vec<SocketAddr>,
        /// Packets per second (0: as fast as possible).
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Packets to send.
        #[arg(long, default_value_t = 50_000)]
        count: u64,
        /// Mirror sources (127.0.0.10 and up).
        #[arg(long, default_value_t = 4)]
        sources: u8,
        /// VNIs (100 and up).
        #[arg(long, default_value_t = 3)]
        vnis: u32,
        /// Percent of IPv6 inner traffic.
        #[arg(long, default_value_t = 10)]
        ipv6_percent: u32,
        /// Run id tagged into every payload.
        #[arg(long, default_value_t = 1)]
        run_id: u32,
        /// Generator seed (same seed, same packets).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Datagrams per sendmmsg call.
        #[arg(long, default_value_t = 32)]
        batch: usize,
    },
    /// Account for every packet of a run in the lake: stored, lost, duplicated.
    Verify {
        /// Lake location: a path, file:// or s3://bucket/prefix.
        #[arg(long, env = "MIRRORLAKE_LAKE")]
        lake: String,
        /// Run id given to `send`.
        #[arg(long = "run", default_value_t = 1)]
        run_id: u32,
        /// Packets `send` reported as sent.
        #[arg(long)]
        sent: u64,
    },
}

#[allow(clippy::too_many_arguments)]
fn send(targets: &[SocketAddr], rate: u64, count: u64, mix: Mix, batch: usize) -> Result<()> {
    if let Some(t) = targets.iter().find(|t| !t.ip().is_loopback()) {
        bail!("--target must be a loopback address (got {})", t.ip());
    }
    if targets.is_empty() {
        bail!("--target: at least one collector address");
    }
    let batch = batch.clamp(1, 1024);
    // (mirror source, target index) -> socket and its pending datagrams.
    type Pending = (UdpSocket, Vec<Vec<u8>>);
    let mut sockets: BTreeMap<(IpAddr, usize), Pending> = BTreeMap::new();
    let mut per_source: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_vni: BTreeMap<u32, u64> = BTreeMap::new();
    let mut g = Generated {
        source: [0, 0, 0, 0].into(),
        source_port: 0,
        vni: 0,
        datagram: Vec::new(),
    };
    let started = Instant::now();
    let mut bytes = 0u64;
    for seq in 0..count {
        traffic::generate(&mix, seq, &mut g);
        // The outer source port is a hash of the inner flow: one flow, one target.
        let t = usize::from(g.source_port) % targets.len();
        let target = targets[t];
        let entry = match sockets.entry((g.source, t)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let s =
                    UdpSocket::bind((g.source, 0)).with_context(|| format!("bind {}", g.source))?;
                s.connect(target)
                    .with_context(|| format!("connect {target}"))?;
                v.insert((s, Vec::with_capacity(batch)))
            }
        };
        bytes += g.datagram.len() as u64;
        entry.1.push(g.datagram.clone());
        *per_source.entry(g.source.to_string()).or_default() += 1;
        *per_vni.entry(g.vni).or_default() += 1;
        if entry.1.len() >= batch {
            udp::send_batch(&entry.0, &entry.1)?;
            entry.1.clear();
        }
        if rate > 0 && seq % 64 == 63 {
            let due = started + Duration::from_secs_f64((seq + 1) as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    for (s, pending) in sockets.values() {
        udp::send_batch(s, pending)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "run_id": mix.run_id, "seed": mix.seed, "sent": count, "bytes": bytes,
        "seconds": elapsed, "rate_pps": count as f64 / elapsed.max(1e-9),
        "per_source": per_source, "per_vni": per_vni,
    });
    println!("{report}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send {
            target,
            rate,
            count,
            sources,
            vnis,
            ipv6_percent,
            run_id,
            seed,
            batch,
        } => {
            let mix = Mix {
                sources: sources.max(1),
                first_source: 10,
                vnis: vnis.max(1),
                first_vni: 100,
                ipv6_percent: ipv6_percent.min(100),
                run_id,
                seed,
            };
            send(&target, rate, count, mix, batch)
        }
        Command::Verify { lake, run_id, sent } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(verify::verify(&lake, run_id, sent)))
            .map(|r| println!("{}", serde_json::json!(r))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
