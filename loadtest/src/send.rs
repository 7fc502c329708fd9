//! `send`: generated or replayed mirror traffic to collectors, over
//! `sendmmsg`, paced to packets/s or bits/s, from one or more threads.
//!
//! Each (mirror source, collector) pair has its own socket bound to the
//! source's 127.0.0.x address, so the collector sees the mirrored ENI as
//! the datagram's source, as it does behind an NLB (which keeps the client
//! address). The collector of a packet is its outer source port (a hash of
//! the inner flow, as AWS derives it) modulo the collectors: one flow
//! direction, one collector.

use crate::traffic::{Generated, Mix, Traffic};
use crate::udp;
use anyhow::{Context, Result, bail};
use mirrorlake_pcap::{CaptureReader, LINKTYPE_ETHERNET};
use mirrorlake_wire::{aws_source_port, decode_ethernet, emit_vxlan_payload};
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as the sender goes.
    Unlimited,
    /// Packets per second.
    Pps(f64),
    /// Bits per second of VXLAN datagrams (UDP payload).
    Bps(f64),
}

impl Rate {
    /// This rate shared by `n` threads.
    fn split(self, n: usize) -> Self {
        let n = n.max(1) as f64;
        match self {
            Self::Unlimited => Self::Unlimited,
            Self::Pps(r) => Self::Pps(r / n),
            Self::Bps(r) => Self::Bps(r / n),
        }
    }
}

/// Parses `250000`, `1.5k`, `200M`, `2G` (SI multipliers).
pub fn parse_si(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a number (like 250000, 1.5k, 200M)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{s:?} must be a positive number"));
    }
    Ok(v * mult)
}

/// What was sent, in total and by mirror source, VNI and kind.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    /// Packets sent.
    pub sent: u64,
    /// UDP payload bytes (VXLAN + inner frames) sent.
    pub bytes: u64,
    /// Packets per mirror source (keys printed as addresses).
    pub per_source: BTreeMap<IpAddr, u64>,
    /// Packets per VNI.
    pub per_vni: BTreeMap<u32, u64>,
    /// Packets per kind (tcp, dns, icmp, fragment; replay: replayed).
    pub per_kind: BTreeMap<String, u64>,
    /// Packets over IPv6.
    pub ipv6: u64,
    /// VLAN-tagged packets.
    pub vlan: u64,
    /// Packets over 1500 bytes of IP.
    pub jumbo: u64,
    /// Truncated copies.
    pub truncated: u64,
    /// Bytes of the datagrams sampled for the zstd ratio (one in
    /// [`SAMPLE_EVERY`], compressed 1 MiB at a time, as a Parquet page or a
    /// Kafka message is).
    #[serde(skip)]
    pub sampled_bytes: u64,
    /// Their size compressed with zstd level 3.
    #[serde(skip)]
    pub sampled_zstd_bytes: u64,
}

/// One datagram in this many is sampled for the zstd ratio.
const SAMPLE_EVERY: u64 = 8;
/// Sampled bytes compressed together.
const SAMPLE_CHUNK: usize = 1 << 20;

impl Tally {
    fn merge(&mut self, o: Self) {
        self.sent += o.sent;
        self.bytes += o.bytes;
        for (k, v) in o.per_source {
            *self.per_source.entry(k).or_default() += v;
        }
        for (k, v) in o.per_vni {
            *self.per_vni.entry(k).or_default() += v;
        }
        for (k, v) in o.per_kind {
            *self.per_kind.entry(k).or_default() += v;
        }
        self.sampled_bytes += o.sampled_bytes;
        self.sampled_zstd_bytes += o.sampled_zstd_bytes;
        self.ipv6 += o.ipv6;
        self.vlan += o.vlan;
        self.jumbo += o.jumbo;
        self.truncated += o.truncated;
    }
}

/// A socket, its batch buffers and how many of them hold datagrams.
type Pending = (UdpSocket, Vec<Vec<u8>>, usize);

/// Per-socket batches of datagrams, sent with one `sendmmsg` when full.
struct Sender<'t> {
    targets: &'t [SocketAddr],
    batch: usize,
    /// (source, target index) -> socket, buffers, buffers in use.
    sockets: BTreeMap<(IpAddr, usize), Pending>,
    tally: Tally,
    /// Shared progress counter (all threads).
    progress: Arc<AtomicU64>,
    /// Sampled datagrams not yet compressed.
    sample: Vec<u8>,
}

impl<'t> Sender<'t> {
    fn new(targets: &'t [SocketAddr], batch: usize, progress: Arc<AtomicU64>) -> Self {
        Self {
            targets,
            batch: batch.clamp(1, 1024),
            sockets: BTreeMap::new(),
            tally: Tally::default(),
            progress,
            sample: Vec::new(),
        }
    }

    fn push(&mut self, source: IpAddr, source_port: u16, vni: u32, datagram: &[u8]) -> Result<()> {
        let t = usize::from(source_port) % self.targets.len();
        let entry = match self.sockets.entry((source, t)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let target = self.targets[t];
                let s = UdpSocket::bind((source, 0)).with_context(|| format!("bind {source}"))?;
                s.connect(target)
                    .with_context(|| format!("connect {target}"))?;
                v.insert((s, Vec::with_capacity(self.batch), 0))
            }
        };
        let (socket, bufs, used) = entry;
        if *used < bufs.len() {
            bufs[*used].clear();
            bufs[*used].extend_from_slice(datagram);
        } else {
            bufs.push(datagram.to_vec());
        }
        *used += 1;
        if *used >= self.batch {
            udp::send_batch(socket, &bufs[..*used]).context("sendmmsg")?;
            self.progress.fetch_add(*used as u64, Ordering::Relaxed);
            *used = 0;
        }
        if self.tally.sent.is_multiple_of(SAMPLE_EVERY) {
            self.sample.extend_from_slice(datagram);
            if self.sample.len() >= SAMPLE_CHUNK {
                self.compress_sample();
            }
        }
        self.tally.sent += 1;
        self.tally.bytes += datagram.len() as u64;
        *self.tally.per_vni.entry(vni).or_default() += 1;
        *self.tally.per_source.entry(source).or_default() += 1;
        Ok(())
    }

    /// Adds the sample to the zstd tally and empties it.
    fn compress_sample(&mut self) {
        if let Ok(z) = zstd::bulk::compress(&self.sample, 3) {
            self.tally.sampled_bytes += self.sample.len() as u64;
            self.tally.sampled_zstd_bytes += z.len() as u64;
        }
        self.sample.clear();
    }

    fn flush(&mut self) -> Result<()> {
        for (socket, bufs, used) in self.sockets.values_mut() {
            if *used > 0 {
                udp::send_batch(socket, &bufs[..*used]).context("sendmmsg")?;
                self.progress.fetch_add(*used as u64, Ordering::Relaxed);
                *used = 0;
            }
        }
        Ok(())
    }
}

/// Keeps a sender at its rate: when ahead of schedule, flush and sleep.
struct Pacer {
    started: Instant,
    rate: Rate,
}

impl Pacer {
    fn pace(&self, sender: &mut Sender<'_>) -> Result<()> {
        let due = match self.rate {
            Rate::Unlimited => return Ok(()),
            Rate::Pps(r) => sender.tally.sent as f64 / r,
            Rate::Bps(r) => sender.tally.bytes as f64 * 8.0 / r,
        };
        let due = self.started + Duration::from_secs_f64(due);
        let now = Instant::now();
        if due > now + Duration::from_micros(200) {
            // Nothing waits in a batch while we sleep (its tags carry the
            // time they were generated).
            sender.flush()?;
            std::thread::sleep(due - now);
        }
        Ok(())
    }
}

/// The `send` report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Run id (generated traffic).
    pub run_id: Option<u32>,
    /// Seed (generated traffic).
    pub seed: Option<u64>,
    /// Wall time of the send.
    pub seconds: f64,
    /// Achieved packets/s.
    pub rate_pps: f64,
    /// Achieved bits/s of UDP payload.
    pub rate_bps: f64,
    /// Capture records skipped in replay (not Ethernet).
    pub skipped: u64,
    /// How well what was sent compresses: zstd level 3 over a sample of the
    /// datagrams (raw bytes / compressed bytes; the lake and Kafka see about
    /// this ratio).
    pub zstd_ratio: f64,
    /// What was sent.
    #[serde(flatten)]
    pub tally: Tally,
}

fn check_targets(targets: &[SocketAddr]) -> Result<()> {
    if targets.is_empty() {
        bail!("--target: at least one collector address");
    }
    if let Some(t) = targets.iter().find(|t| !t.ip().is_loopback()) {
        bail!("--target must be a loopback address (got {})", t.ip());
    }
    Ok(())
}

/// Sends `count` generated packets (ids `0..count`) from `threads` threads.
pub fn send_generated(
    targets: &[SocketAddr],
    rate: Rate,
    count: u64,
    mix: &Mix,
    batch: usize,
    threads: usize,
    progress: Arc<AtomicU64>,
) -> Result<Report> {
    check_targets(targets)?;
    mix.validate().map_err(anyhow::Error::msg)?;
    let threads = threads.clamp(1, 64);
    let started = Instant::now();
    let tallies = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|k| {
                let progress = Arc::clone(&progress);
                // Thread k sends ids k, k + threads, ...: together 0..count.
                let mine = count / threads as u64 + u64::from(k < count % threads as u64);
                scope.spawn(move || -> Result<Tally> {
                    let mut traffic = Traffic::new(mix.clone(), k, threads as u64);
                    let mut sender = Sender::new(targets, batch, progress);
                    let pacer = Pacer {
                        started,
                        rate: rate.split(threads),
                    };
                    let mut g = Generated::default();
                    for i in 0..mine {
                        traffic.next_into(&mut g);
                        sender.push(g.source, g.source_port, g.vni, &g.datagram)?;
                        let t = &mut sender.tally;
                        *t.per_kind.entry(g.kind.name().to_owned()).or_default() += 1;
                        t.ipv6 += u64::from(g.ipv6);
                        t.vlan += u64::from(g.vlan);
                        t.jumbo += u64::from(g.jumbo);
                        t.truncated += u64::from(g.truncated);
                        if i % 16 == 15 {
                            pacer.pace(&mut sender)?;
                        }
                    }
                    sender.flush()?;
                    sender.compress_sample();
                    Ok(sender.tally)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a sender thread panicked"))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut tally = Tally::default();
    for t in tallies {
        tally.merge(t);
    }
    Ok(report(Some(mix.run_id), Some(mix.seed), started, 0, tally))
}

fn report(
    run_id: Option<u32>,
    seed: Option<u64>,
    started: Instant,
    skipped: u64,
    tally: Tally,
) -> Report {
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    Report {
        run_id,
        seed,
        seconds,
        rate_pps: tally.sent as f64 / seconds,
        rate_bps: tally.bytes as f64 * 8.0 / seconds,
        skipped,
        zstd_ratio: tally.sampled_bytes as f64 / tally.sampled_zstd_bytes.max(1) as f64,
        tally,
    }
}

/// Where a replayed frame goes: a mirror source and VNI chosen by its
/// endpoints (both directions of a conversation from one "ENI"), and the
/// outer source port AWS would derive from its flow.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySessions {
    /// Mirror sources: 127.0.0.`first_source` and up.
    pub sources: u8,
    /// First source's last octet.
    pub first_source: u8,
    /// VNIs: `first_vni` and up.
    pub vnis: u32,
    /// First VNI.
    pub first_vni: u32,
}

impl ReplaySessions {
    fn place(&self, frame: &[u8]) -> (IpAddr, u32, u16) {
        let key = decode_ethernet(frame, None).ok().and_then(|d| d.flow_key());
        let (pair, port) = match &key {
            Some(k) => {
                let mut h = std::hash::DefaultHasher::new();
                (k.src.min(k.dst), k.src.max(k.dst)).hash(&mut h);
                (h.finish(), aws_source_port(k))
            }
            None => (0, 49152),
        };
        let source = Ipv4Addr::new(
            127,
            0,
            0,
            self.first_source + (pair % u64::from(self.sources.max(1))) as u8,
        );
        let vni = self.first_vni + ((pair >> 32) % u64::from(self.vnis.max(1))) as u32;
        (source.into(), vni, port)
    }
}

/// Replays `capture`'s Ethernet frames, `loops` times, each wrapped in
/// AWS-style VXLAN.
pub fn send_replay(
    targets: &[SocketAddr],
    rate: Rate,
    capture: &Replay,
    loops: u32,
    sessions: ReplaySessions,
    batch: usize,
    progress: Arc<AtomicU64>,
) -> Result<Report> {
    check_targets(targets)?;
    let started = Instant::now();
    let mut sender = Sender::new(targets, batch, progress);
    let pacer = Pacer { started, rate };
    let mut datagram = Vec::new();
    for _ in 0..loops {
        for frame in &capture.frames {
            let (source, vni, port) = sessions.place(frame);
            datagram.clear();
            emit_vxlan_payload(vni, frame, &mut datagram);
            sender.push(source, port, vni, &datagram)?;
            *sender.tally.per_kind.entry("replayed".into()).or_default() += 1;
            if sender.tally.sent.is_multiple_of(16) {
                pacer.pace(&mut sender)?;
            }
        }
    }
    sender.flush()?;
    sender.compress_sample();
    let tally = std::mem::take(&mut sender.tally);
    Ok(report(None, None, started, capture.skipped, tally))
}

/// The frames of a capture that a replay sends, in order.
#[derive(Debug)]
pub struct Replay {
    /// Ethernet frames (captured bytes).
    pub frames: Vec<Vec<u8>>,
    /// Records of other link types, not replayed.
    pub skipped: u64,
}

impl Replay {
    /// Reads a pcap or pcapng file.
    pub fn read(capture: &Path) -> Result<Self> {
        let what = || format!("--replay {}", capture.display());
        let file = std::fs::File::open(capture).with_context(what)?;
        let reader = CaptureReader::new(std::io::BufReader::new(file)).with_context(what)?;
        let mut r = Self {
            frames: Vec::new(),
            skipped: 0,
        };
        for rec in reader {
            let rec = rec.with_context(what)?;
            if rec.linktype == LINKTYPE_ETHERNET {
                r.frames.push(rec.data);
            } else {
                r.skipped += 1;
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_rates() {
        assert_eq!(parse_si("250000"), Ok(250_000.0));
        assert_eq!(parse_si("1.5k"), Ok(1500.0));
        assert_eq!(parse_si("200M"), Ok(200e6));
        assert!(parse_si("fast").is_err());
        assert!(parse_si("-5").is_err());
    }
}
