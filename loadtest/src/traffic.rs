//! Synthetic AWS mirror traffic shaped like conversations: TCP sessions
//! (handshake, requests and responses, FIN or RST), DNS lookups, ICMP echo
//! and fragmented UDP datagrams, over IPv4 and IPv6, some VLAN-tagged, some
//! with jumbo segments, from several mirror sessions (mirror source × VNI) of
//! which some truncate their copies (AWS's packet-length option).
//!
//! Payloads are as compressible as the traffic they stand for ([`Payload`]):
//! by default TLS, SSH and the other encrypted sessions and the fragmented
//! datagrams carry random bytes, plain HTTP and DNS text, ICMP echo ping's
//! counting pattern, so ZSTD, Kafka and the lake meet real-traffic ratios.
//!
//! Every packet carries a tag in its payload, `MLLT` + run id + packet id +
//! send time, so that the lake can be checked packet by packet
//! ([`parse_tag`]). A fragment carries its own tag at the start of its slice
//! of the datagram, so non-first fragments are accounted for too. The same
//! seed gives the same packets (only the send times differ).

use etherparse::{IpFragOffset, Ipv4Header};
use mirrorlake_wire::{FlowKey, FrameRepr, TransportRepr, aws_source_port, emit_vxlan_payload};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Marker at the start of every tag.
pub const TAG: &[u8; 4] = b"MLLT";
/// Tag bytes: marker, run id (u32), packet id (u64), send time (µs, i64).
pub const TAG_LEN: usize = 24;
/// The longest header stack before a payload: Ethernet, two VLAN tags,
/// IPv6, TCP. A truncated copy must keep at least this plus the tag.
const MAX_HEADERS: usize = 14 + 8 + 40 + 20;
/// Smallest `--truncate-to` that keeps every tag.
pub const MIN_TRUNCATE: usize = MAX_HEADERS + TAG_LEN;
/// AWS mirrors frames of up to 9001 bytes of IP packet (jumbo MTU).
const JUMBO_MTU: usize = 9001;
const MTU: usize = 1500;

/// Relative weights of the conversation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// TCP sessions.
    pub tcp: u32,
    /// DNS lookups over UDP.
    pub dns: u32,
    /// ICMP echo exchanges.
    pub icmp: u32,
    /// UDP datagrams larger than the MTU, sent as IPv4 fragments.
    pub frag: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            tcp: 60,
            dns: 25,
            icmp: 10,
            frag: 5,
        }
    }
}

impl FromStr for Weights {
    type Err = String;

    /// `tcp=60,dns=25,icmp=10,frag=5` (kinds left out weigh 0).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut w = Self {
            tcp: 0,
            dns: 0,
            icmp: 0,
            frag: 0,
        };
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected KIND=WEIGHT"))?;
            let v: u32 = v
                .parse()
                .map_err(|_| format!("{k}: weight {v:?} is not a whole number"))?;
            match k {
                "tcp" => w.tcp = v,
                "dns" => w.dns = v,
                "icmp" => w.icmp = v,
                "frag" => w.frag = v,
                _ => return Err(format!("unknown kind {k:?} (tcp, dns, icmp, frag)")),
            }
        }
        if w.tcp + w.dns + w.icmp + w.frag == 0 {
            return Err("all weights are 0".into());
        }
        Ok(w)
    }
}

/// What the payloads hold (after each packet's tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Payload {
    /// Each conversation as its kind would carry it: random bytes (as
    /// incompressible as TLS) for TCP to any port but 80 and for the
    /// fragmented datagrams, text for HTTP (port 80) and DNS, ping's counting
    /// pattern for ICMP echo.
    #[default]
    Realistic,
    /// Random bytes everywhere (encrypted traffic: zstd ratio about 1.0).
    Random,
    /// HTTP-like text everywhere (zstd ratio about 3.5).
    Text,
    /// One repeated byte (compresses about 140 times; unlike any traffic).
    Filler,
}

impl FromStr for Payload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "realistic" => Ok(Self::Realistic),
            "random" => Ok(Self::Random),
            "text" => Ok(Self::Text),
            "filler" => Ok(Self::Filler),
            _ => Err(format!(
                "unknown payload {s:?} (realistic, random, text, filler)"
            )),
        }
    }
}

/// What one packet's payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Random,
    Text,
    Ping,
    Filler,
}

/// Tokens of the text payloads: HTTP requests and responses, JSON, HTML and
/// DNS names, joined with numbers and hex identifiers so that zstd finds the
/// repetition of real text, not of one string.
const WORDS: &[&str] = &[
    "GET /api/v1/",
    "POST /api/v2/",
    "items/",
    "users/",
    "orders?id=",
    " HTTP/1.1\r\n",
    "HTTP/1.1 200 OK\r\n",
    "Host: ",
    "svc-",
    ".internal\r\n",
    "Accept: application/json\r\n",
    "Content-Type: text/html; charset=utf-8\r\n",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n",
    "Content-Length: ",
    "Set-Cookie: sid=",
    "Cache-Control: max-age=",
    "\r\n",
    "<div class=\"",
    "row",
    "col-md-",
    "\">",
    "</div>\n",
    "<a href=\"/",
    "</a>",
    "{\"id\":",
    ",\"name\":\"",
    "\",\"status\":\"ok\"}",
    ",\"updated_at\":\"2026-",
    "www",
    "example",
    "com",
    "cdn",
    "mail",
    "api",
    "eu-west-1",
    "compute",
    "amazonaws",
    "the ",
    "of ",
    "and ",
    "request ",
    "session ",
    "token=",
    "&page=",
    "&limit=",
    " ",
    " ",
    ".",
    "-",
    "/",
    ":",
    "=",
];

impl Content {
    /// Fills `out` (the tag is written over its start afterwards).
    fn fill(self, rng: &mut SmallRng, out: &mut [u8]) {
        match self {
            Self::Random => {
                // Eight bytes per draw (rand's byte fill is several times
                // slower, and the sender must outrun the collector).
                let mut chunks = out.chunks_exact_mut(8);
                for c in &mut chunks {
                    c.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                let rest = chunks.into_remainder();
                let last = rng.next_u64().to_le_bytes();
                rest.copy_from_slice(&last[..rest.len()]);
            }
            Self::Filler => out.fill(0x5a),
            Self::Ping => {
                for (i, b) in out.iter_mut().enumerate() {
                    *b = (i as u8).wrapping_add(0x10);
                }
            }
            Self::Text => {
                // One draw picks up to eight tokens (a byte each): a word,
                // or one time in four a 2-9 digit decimal or hex number
                // whose digits come from a second draw.
                let mut at = 0;
                while at < out.len() {
                    let r = rng.next_u64();
                    for b in r.to_le_bytes() {
                        if at >= out.len() {
                            break;
                        }
                        let room = out.len() - at;
                        if b & 3 == 0 {
                            let n = (2 + usize::from((b >> 2) & 7)).min(room);
                            let digits = rng.next_u64();
                            let radix = if b & 0x20 != 0 { 16 } else { 10 };
                            for (i, o) in out[at..at + n].iter_mut().enumerate() {
                                let v = ((digits >> (4 * i)) & 15) as usize % radix;
                                *o = b"0123456789abcdef"[v];
                            }
                            at += n;
                        } else {
                            let w = WORDS[usize::from(b >> 2) % WORDS.len()].as_bytes();
                            let n = w.len().min(room);
                            out[at..at + n].copy_from_slice(&w[..n]);
                            at += n;
                        }
                    }
                }
            }
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Mirror sources: 127.0.0.`first_source` and up.
    pub sources: u8,
    /// First source's last octet.
    pub first_source: u8,
    /// VNIs: `first_vni` and up. Each (source, VNI) pair is a mirror session.
    pub vnis: u32,
    /// First VNI.
    pub first_vni: u32,
    /// Share of conversations over IPv6, 0-100 (fragments are IPv4).
    pub ipv6_percent: u32,
    /// Share of conversations with 802.1Q tags (a fifth of them stacked).
    pub vlan_percent: u32,
    /// Share of TCP sessions with a 9001-byte MTU (jumbo segments, bulk).
    pub jumbo_percent: u32,
    /// Share of mirror sessions that truncate their copies.
    pub truncate_percent: u32,
    /// Bytes a truncating session keeps of each frame.
    pub truncate_to: usize,
    /// Conversation kinds.
    pub weights: Weights,
    /// Conversations in progress at once (their packets interleave).
    pub concurrency: usize,
    /// What the payloads hold.
    pub payload: Payload,
    /// Run id carried in each tag.
    pub run_id: u32,
    /// Seed of the generator.
    pub seed: u64,
}

impl Mix {
    /// The content of a packet of `kind` on `ports`.
    fn content(&self, kind: Kind, ports: (u16, u16)) -> Content {
        match self.payload {
            Payload::Random => Content::Random,
            Payload::Text => Content::Text,
            Payload::Filler => Content::Filler,
            Payload::Realistic => match kind {
                Kind::Tcp if ports.0 == 80 || ports.1 == 80 => Content::Text,
                Kind::Tcp | Kind::Fragment => Content::Random,
                Kind::Dns => Content::Text,
                Kind::Icmp => Content::Ping,
            },
        }
    }

    /// Checks the settings; the error names the flag.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("--ipv6-percent", self.ipv6_percent),
            ("--vlan-percent", self.vlan_percent),
            ("--jumbo-percent", self.jumbo_percent),
            ("--truncate-percent", self.truncate_percent),
        ] {
            if v > 100 {
                return Err(format!("{name}: {v} is above 100"));
            }
        }
        if self.truncate_to < MIN_TRUNCATE {
            return Err(format!(
                "--truncate-to: {} bytes would cut the tag of some packets (at least {MIN_TRUNCATE})",
                self.truncate_to
            ));
        }
        if self.sources == 0 || self.vnis == 0 || self.concurrency == 0 {
            return Err("--sources, --vnis and --concurrency must be at least 1".into());
        }
        if u32::from(self.first_source) + u32::from(self.sources) > 255 {
            return Err("--sources: more sources than 127.0.0.x addresses".into());
        }
        Ok(())
    }

    /// Whether the mirror session (source index, VNI index) truncates.
    fn truncates(&self, src_idx: u8, vni_idx: u32) -> bool {
        let s = u64::from(src_idx) * u64::from(self.vnis) + u64::from(vni_idx);
        (s.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.seed) % 100 < u64::from(self.truncate_percent)
    }
}

/// Kinds of generated packets, for the send report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A TCP segment.
    Tcp,
    /// A DNS query or response.
    Dns,
    /// An ICMP echo request or reply.
    Icmp,
    /// An IPv4 fragment.
    Fragment,
}

impl Kind {
    /// Report key.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Dns => "dns",
            Self::Icmp => "icmp",
            Self::Fragment => "fragment",
        }
    }
}

/// One generated datagram.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Outer source (the mirrored ENI).
    pub source: IpAddr,
    /// Outer UDP source port (AWS hashes the inner flow).
    pub source_port: u16,
    /// VNI.
    pub vni: u32,
    /// The packet's id (in its tag).
    pub id: u64,
    /// What it is.
    pub kind: Kind,
    /// Inner frame over IPv6.
    pub ipv6: bool,
    /// Inner frame carries VLAN tags.
    pub vlan: bool,
    /// Inner IP packet longer than 1500 bytes.
    pub jumbo: bool,
    /// The copy was truncated.
    pub truncated: bool,
    /// The UDP payload: VXLAN header + inner frame.
    pub datagram: Vec<u8>,
}

impl Default for Generated {
    fn default() -> Self {
        Self {
            source: Ipv4Addr::UNSPECIFIED.into(),
            source_port: 0,
            vni: 0,
            id: 0,
            kind: Kind::Tcp,
            ipv6: false,
            vlan: false,
            jumbo: false,
            truncated: false,
            datagram: Vec::new(),
        }
    }
}

/// A packet's tag: `(run id, packet id, send time in µs)`.
pub fn parse_tag(bytes: &[u8]) -> Option<(u32, u64, i64)> {
    if bytes.get(..4)? != TAG {
        return None;
    }
    let run = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
    let id = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
    let sent = i64::from_be_bytes(bytes.get(16..24)?.try_into().ok()?);
    Some((run, id, sent))
}

/// Now, microseconds since the Unix epoch (the tags' and verify's clock).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn write_tag(out: &mut [u8], run_id: u32, id: u64) {
    let now = now_us();
    out[..4].copy_from_slice(TAG);
    out[4..8].copy_from_slice(&run_id.to_be_bytes());
    out[8..16].copy_from_slice(&id.to_be_bytes());
    out[16..24].copy_from_slice(&now.to_be_bytes());
}

/// The endpoints and mirror session of a conversation.
#[derive(Debug, Clone)]
struct Session {
    src_idx: u8,
    vni: u32,
    truncate: bool,
    client: IpAddr,
    server: IpAddr,
    vlans: [Option<u16>; 2],
}

#[derive(Debug, Clone, Copy)]
enum TcpStep {
    Syn,
    SynAck,
    Ack,
    Request,
    Response { left: u16 },
    ClientAck { left: u16 },
    Fin,
    FinAck,
    LastAck,
    Rst,
}

#[derive(Debug, Clone)]
enum Conversation {
    Tcp {
        s: Session,
        ports: (u16, u16),
        next: (u32, u32),
        step: TcpStep,
        rounds: u16,
        segments: u16,
        mss: usize,
        rst: bool,
    },
    Dns {
        s: Session,
        port: u16,
        answered: bool,
    },
    Icmp {
        s: Session,
        left: u16,
        reply: bool,
    },
}

/// The generator of one sender thread: ids `first_id`, `first_id + stride`,
/// ... so that threads never share an id and together cover `0..count`.
#[derive(Debug)]
pub struct Traffic {
    mix: Mix,
    rng: SmallRng,
    next_id: u64,
    stride: u64,
    active: Vec<Conversation>,
    queued: VecDeque<Generated>,
    frame: Vec<u8>,
    payload: Vec<u8>,
}

/// Direction of a packet inside its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

impl Traffic {
    /// Generator `thread` of `threads`.
    pub fn new(mix: Mix, thread: u64, threads: u64) -> Self {
        let rng = SmallRng::seed_from_u64(mix.seed ^ thread.wrapping_mul(0xd1b5_4a32_d192_ed03));
        Self {
            mix,
            rng,
            next_id: thread,
            stride: threads.max(1),
            active: Vec::new(),
            queued: VecDeque::new(),
            frame: Vec::with_capacity(JUMBO_MTU + 64),
            payload: Vec::with_capacity(JUMBO_MTU),
        }
    }

    /// The next packet, into `out`.
    pub fn next_into(&mut self, out: &mut Generated) {
        if let Some(g) = self.queued.pop_front() {
            *out = g;
            return;
        }
        while self.active.len() < self.mix.concurrency {
            if let Some(c) = self.start() {
                self.active.push(c);
            } else if let Some(g) = self.queued.pop_front() {
                // A fragmented datagram went to the queue whole.
                *out = g;
                return;
            }
        }
        let i = self.rng.random_range(0..self.active.len());
        let mut c = self.active.swap_remove(i);
        let done = self.step(&mut c, out);
        if !done {
            self.active.push(c);
        }
    }

    fn session(&mut self, v6_allowed: bool) -> Session {
        let m = &self.mix;
        let src_idx = self.rng.random_range(0..m.sources);
        let vni_idx = self.rng.random_range(0..m.vnis);
        let eni = Ipv4Addr::new(127, 0, 0, m.first_source + src_idx);
        let v6 = v6_allowed && self.rng.random_range(0..100) < m.ipv6_percent;
        let (eni_ip, peer): (IpAddr, IpAddr) = if v6 {
            (
                Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(src_idx) + 1).into(),
                Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, self.rng.random(), self.rng.random()).into(),
            )
        } else {
            (
                eni.into(),
                Ipv4Addr::new(10, 1, self.rng.random(), self.rng.random_range(1..255)).into(),
            )
        };
        // Half the conversations the mirrored ENI opens (egress first).
        let (client, server) = if self.rng.random_bool(0.5) {
            (eni_ip, peer)
        } else {
            (peer, eni_ip)
        };
        let vlans = if self.rng.random_range(0..100) < m.vlan_percent {
            let outer = Some(self.rng.random_range(1..4095));
            let inner = self
                .rng
                .random_bool(0.2)
                .then(|| self.rng.random_range(1..4095));
            [outer, inner]
        } else {
            [None, None]
        };
        Session {
            src_idx,
            vni: m.first_vni + vni_idx,
            truncate: m.truncates(src_idx, vni_idx),
            client,
            server,
            vlans,
        }
    }

    /// A new conversation, or `None` when it was a fragmented datagram,
    /// which goes to the queue whole.
    fn start(&mut self) -> Option<Conversation> {
        let w = self.mix.weights;
        let total = w.tcp + w.dns + w.icmp + w.frag;
        let pick = self.rng.random_range(0..total);
        if pick < w.tcp {
            let s = self.session(true);
            let jumbo = self.rng.random_range(0..100) < self.mix.jumbo_percent;
            let l3 = if s.client.is_ipv6() { 40 } else { 20 };
            let mss = if jumbo { JUMBO_MTU } else { MTU } - l3 - 20;
            let ports = (
                self.rng.random_range(32768..61000),
                [443, 80, 22, 5432, 6379][self.rng.random_range(0..5)],
            );
            Some(Conversation::Tcp {
                s,
                ports,
                next: (self.rng.random(), self.rng.random()),
                step: TcpStep::Syn,
                rounds: self.rng.random_range(1..4),
                segments: if jumbo {
                    self.rng.random_range(8..64)
                } else {
                    self.rng.random_range(1..12)
                },
                mss,
                rst: self.rng.random_range(0..10) == 0,
            })
        } else if pick < w.tcp + w.dns {
            let s = self.session(true);
            let port = self.rng.random_range(32768..61000);
            Some(Conversation::Dns {
                s,
                port,
                answered: false,
            })
        } else if pick < w.tcp + w.dns + w.icmp {
            let s = self.session(true);
            Some(Conversation::Icmp {
                s,
                left: self.rng.random_range(1..5),
                reply: false,
            })
        } else {
            self.fragmented_datagram();
            None
        }
    }

    /// Emits one packet of `c`; true when the conversation is over.
    fn step(&mut self, c: &mut Conversation, out: &mut Generated) -> bool {
        match c {
            Conversation::Tcp {
                s,
                ports,
                next,
                step,
                rounds,
                segments,
                mss,
                rst,
            } => {
                use TcpStep::*;
                let (dir, flags, len, after, syn_or_fin) = match *step {
                    Syn => (Dir::ToServer, 0x02, 0, SynAck, true),
                    SynAck => (Dir::ToClient, 0x12, 0, Ack, true),
                    Ack => (Dir::ToServer, 0x10, 0, Request, false),
                    Request => {
                        let len = self.rng.random_range(60..600);
                        (
                            Dir::ToServer,
                            0x18,
                            len,
                            Response { left: *segments },
                            false,
                        )
                    }
                    Response { left } => {
                        let len = if left == 1 {
                            self.rng.random_range(TAG_LEN..*mss)
                        } else {
                            *mss
                        };
                        let after = match left - 1 {
                            0 => ClientAck { left: 0 },
                            l if l % 2 == 0 => ClientAck { left: l },
                            l => Response { left: l },
                        };
                        (Dir::ToClient, 0x18, len, after, false)
                    }
                    ClientAck { left } => {
                        let after = match (left, *rounds > 1, *rst) {
                            (0, true, _) => Request,
                            (0, false, false) => Fin,
                            (0, false, true) => Rst,
                            (l, _, _) => Response { left: l },
                        };
                        if left == 0 {
                            *rounds = rounds.saturating_sub(1);
                        }
                        (Dir::ToServer, 0x10, 0, after, false)
                    }
                    Fin => (Dir::ToServer, 0x11, 0, FinAck, true),
                    FinAck => (Dir::ToClient, 0x11, 0, LastAck, true),
                    LastAck => (Dir::ToServer, 0x10, 0, LastAck, false),
                    Rst => (Dir::ToClient, 0x14, 0, Rst, false),
                };
                let (mine, theirs) = match dir {
                    Dir::ToServer => (next.0, next.1),
                    Dir::ToClient => (next.1, next.0),
                };
                let (src_port, dst_port) = match dir {
                    Dir::ToServer => *ports,
                    Dir::ToClient => (ports.1, ports.0),
                };
                let t = TransportRepr::Tcp {
                    src_port,
                    dst_port,
                    seq: mine,
                    ack: if flags == 0x02 { 0 } else { theirs },
                    flags,
                    window: 502,
                };
                let len = self.emit(s, dir, t, len.max(TAG_LEN), Kind::Tcp, out);
                let advance = len as u32 + u32::from(syn_or_fin);
                match dir {
                    Dir::ToServer => next.0 = next.0.wrapping_add(advance),
                    Dir::ToClient => next.1 = next.1.wrapping_add(advance),
                }
                let done = matches!(*step, LastAck | Rst);
                *step = after;
                done
            }
            Conversation::Dns { s, port, answered } => {
                let (dir, ports, len) = if *answered {
                    (Dir::ToClient, (53, *port), self.rng.random_range(80..300))
                } else {
                    (Dir::ToServer, (*port, 53), self.rng.random_range(40..80))
                };
                let t = TransportRepr::Udp {
                    src_port: ports.0,
                    dst_port: ports.1,
                };
                self.emit(s, dir, t, len, Kind::Dns, out);
                let done = *answered;
                *answered = true;
                done
            }
            Conversation::Icmp { s, left, reply } => {
                let dir = if *reply { Dir::ToClient } else { Dir::ToServer };
                let v6 = s.client.is_ipv6();
                let icmp_type = match (v6, *reply) {
                    (false, false) => 8,
                    (false, true) => 0,
                    (true, false) => 128,
                    (true, true) => 129,
                };
                let t = TransportRepr::Icmp { icmp_type, code: 0 };
                self.emit(s, dir, t, 56, Kind::Icmp, out);
                if *reply {
                    *left -= 1;
                }
                *reply = !*reply;
                *left == 0
            }
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += self.stride;
        id
    }

    /// Builds one packet of session `s` with a `len`-byte tagged payload.
    /// Returns the payload length.
    fn emit(
        &mut self,
        s: &Session,
        dir: Dir,
        transport: TransportRepr,
        len: usize,
        kind: Kind,
        out: &mut Generated,
    ) -> usize {
        let id = self.take_id();
        let len = len.max(TAG_LEN);
        let (src, dst) = match dir {
            Dir::ToServer => (s.client, s.server),
            Dir::ToClient => (s.server, s.client),
        };
        let (protocol, ports) = match transport {
            TransportRepr::Tcp {
                src_port, dst_port, ..
            } => (6, (src_port, dst_port)),
            TransportRepr::Udp { src_port, dst_port } => (17, (src_port, dst_port)),
            TransportRepr::Icmp { icmp_type, code } => (
                if src.is_ipv6() { 58 } else { 1 },
                (u16::from(icmp_type), u16::from(code)),
            ),
        };
        self.payload.clear();
        self.payload.resize(len, 0);
        self.mix
            .content(kind, ports)
            .fill(&mut self.rng, &mut self.payload);
        write_tag(&mut self.payload, self.mix.run_id, id);
        self.build_frame(s, src, dst, transport);
        let key = FlowKey {
            protocol,
            src,
            dst,
            src_port: Some(ports.0),
            dst_port: Some(ports.1),
        };
        self.finish(s, id, kind, aws_source_port(&key), out);
        len
    }

    /// Emits the frame of session `s` carrying `self.payload` into `self.frame`.
    fn build_frame(&mut self, s: &Session, src: IpAddr, dst: IpAddr, transport: TransportRepr) {
        self.frame.clear();
        let repr = FrameRepr {
            src_mac: [2, 0, 0, 0, 0, 1 + s.src_idx],
            dst_mac: [2, 0, 0, 0, 0, 0],
            vlans: s.vlans,
            src,
            dst,
            ttl: 64,
            transport,
            payload: &self.payload,
        };
        // Same families and in-range VLAN ids by construction.
        let _ = repr.emit(&mut self.frame);
    }

    /// Wraps `self.frame` (truncated if the session says so) into `out`.
    fn finish(&self, s: &Session, id: u64, kind: Kind, source_port: u16, out: &mut Generated) {
        let ip_len = self.frame.len() - 14 - 4 * s.vlans.iter().flatten().count();
        let truncated = s.truncate && self.frame.len() > self.mix.truncate_to;
        let frame = if truncated {
            &self.frame[..self.mix.truncate_to]
        } else {
            &self.frame[..]
        };
        out.datagram.clear();
        emit_vxlan_payload(s.vni, frame, &mut out.datagram);
        out.source = Ipv4Addr::new(127, 0, 0, self.mix.first_source + s.src_idx).into();
        out.source_port = source_port;
        out.vni = s.vni;
        out.id = id;
        out.kind = kind;
        out.ipv6 = s.client.is_ipv6();
        out.vlan = s.vlans[0].is_some();
        out.jumbo = ip_len > MTU;
        out.truncated = truncated;
    }

    /// A 2-8 KB UDP datagram over a 1500-byte MTU: each IPv4 fragment is a
    /// packet of its own, queued back to back as a host sends them.
    fn fragmented_datagram(&mut self) {
        const PER_FRAGMENT: usize = MTU - 20; // a multiple of 8
        let s = self.session(false);
        let dir = if self.rng.random_bool(0.5) {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let (src, dst) = match dir {
            Dir::ToServer => (s.client, s.server),
            Dir::ToClient => (s.server, s.client),
        };
        let mut udp_len = self.rng.random_range(2000..8000);
        // The last fragment must hold a whole tag.
        while (8 + udp_len) % PER_FRAGMENT < TAG_LEN && (8 + udp_len) % PER_FRAGMENT != 0 {
            udp_len += TAG_LEN;
        }
        let count = (8 + udp_len).div_ceil(PER_FRAGMENT);
        let ids: Vec<u64> = (0..count).map(|_| self.take_id()).collect();
        self.payload.clear();
        self.payload.resize(udp_len, 0);
        self.mix
            .content(Kind::Fragment, (0, 0))
            .fill(&mut self.rng, &mut self.payload);
        for (k, &id) in ids.iter().enumerate() {
            // Fragment k's slice of the IP payload starts at k × 1480; the
            // UDP header takes the first 8 bytes of fragment 0.
            let at = (k * PER_FRAGMENT).saturating_sub(8);
            write_tag(&mut self.payload[at..], self.mix.run_id, id);
        }
        let ports = (self.rng.random_range(32768..61000), 4500);
        let udp = TransportRepr::Udp {
            src_port: ports.0,
            dst_port: ports.1,
        };
        self.build_frame(&s, src, dst, udp);
        let l2 = 14 + 4 * s.vlans.iter().flatten().count();
        let Ok((mut header, _)) = Ipv4Header::from_slice(&self.frame[l2..]) else {
            return;
        };
        let whole = std::mem::take(&mut self.frame);
        let ip_payload = &whole[l2 + 20..];
        header.identification = self.rng.random();
        header.dont_fragment = false;
        // Fragments hash on addresses and protocol only (no ports in most).
        let key = FlowKey {
            protocol: 17,
            src,
            dst,
            src_port: None,
            dst_port: None,
        };
        let source_port = aws_source_port(&key);
        for (k, &id) in ids.iter().enumerate() {
            let part =
                &ip_payload[k * PER_FRAGMENT..((k + 1) * PER_FRAGMENT).min(ip_payload.len())];
            header.more_fragments = k + 1 < count;
            header.fragment_offset =
                IpFragOffset::try_new((k * PER_FRAGMENT / 8) as u16).unwrap_or(IpFragOffset::ZERO);
            header.total_len = (20 + part.len()) as u16;
            self.frame.clear();
            self.frame.extend_from_slice(&whole[..l2]);
            let _ = header.write(&mut self.frame);
            self.frame.extend_from_slice(part);
            let mut g = Generated::default();
            self.finish(&s, id, Kind::Fragment, source_port, &mut g);
            self.queued.push_back(g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn mix() -> Mix {
        Mix {
            sources: 3,
            first_source: 10,
            vnis: 2,
            first_vni: 100,
            ipv6_percent: 20,
            vlan_percent: 20,
            jumbo_percent: 20,
            truncate_percent: 34,
            truncate_to: MIN_TRUNCATE,
            weights: Weights::default(),
            concurrency: 16,
            payload: Payload::Realistic,
            run_id: 9,
            seed: 1,
        }
    }

    /// zstd-3's ratio over `count` generated datagrams of `payload`.
    fn ratio(payload: Payload, count: usize) -> f64 {
        let mut m = mix();
        m.payload = payload;
        m.truncate_percent = 0;
        let mut t = Traffic::new(m, 0, 1);
        let mut g = Generated::default();
        let mut all = Vec::new();
        for _ in 0..count {
            t.next_into(&mut g);
            all.extend_from_slice(&g.datagram);
        }
        let z = zstd::bulk::compress(&all, 3).expect("zstd");
        all.len() as f64 / z.len() as f64
    }

    /// Each payload kind compresses as the traffic it stands for: the
    /// realistic mix about as well as real captures (mostly TLS), random not
    /// at all, text like text, filler absurdly well.
    #[test]
    fn payloads_compress_like_the_traffic_they_stand_for() {
        let realistic = ratio(Payload::Realistic, 20_000);
        let random = ratio(Payload::Random, 20_000);
        let text = ratio(Payload::Text, 20_000);
        let filler = ratio(Payload::Filler, 20_000);
        eprintln!(
            "zstd-3 ratios: realistic {realistic:.2}, random {random:.2}, text {text:.2}, filler {filler:.1}"
        );
        assert!((1.0..1.4).contains(&random), "random {random}");
        assert!((1.1..1.8).contains(&realistic), "realistic {realistic}");
        assert!((2.0..6.0).contains(&text), "text {text}");
        assert!(filler > 20.0, "filler {filler}");
    }

    /// Every packet decodes into a row whose tag names it, ids of two
    /// threads interleave without gaps, and the mix holds every kind.
    #[test]
    fn every_packet_decodes_and_carries_its_id() {
        let m = mix();
        m.validate().expect("valid");
        let mut seen = BTreeSet::new();
        let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
        let (mut v6, mut vlan, mut jumbo, mut trunc, mut frag_later, mut rst, mut fin) =
            (0, 0, 0, 0, 0, 0, 0);
        for thread in 0..2 {
            let mut t = Traffic::new(m.clone(), thread, 2);
            let mut g = Generated::default();
            for _ in 0..5000 {
                t.next_into(&mut g);
                let d = mirrorlake_wire::decode_vxlan_payload(&g.datagram, Some(g.source))
                    .expect("decodes");
                assert_eq!(d.mirror.vni, Some(g.vni));
                assert!(d.ip_version.is_some());
                let frame = &g.datagram[8..];
                let at = frame
                    .windows(4)
                    .position(|w| w == TAG)
                    .expect("tag present");
                let (run, id, sent) = parse_tag(&frame[at..]).expect("whole tag");
                assert_eq!((run, id), (9, g.id));
                assert!(sent > 1_700_000_000_000_000);
                assert!(seen.insert(id), "id {id} twice");
                assert_eq!(d.truncated(), g.truncated, "truncation flag of {id}");
                *kinds.entry(g.kind.name()).or_default() += 1;
                v6 += u32::from(g.ipv6);
                vlan += u32::from(g.vlan);
                jumbo += u32::from(g.jumbo);
                trunc += u32::from(g.truncated);
                if g.kind == Kind::Fragment && d.src_port.is_none() {
                    frag_later += 1;
                }
                match d.tcp_flags {
                    Some(f) if f & 0x04 != 0 => rst += 1,
                    Some(f) if f & 0x01 != 0 => fin += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(seen.len(), 10_000);
        assert_eq!(seen.last(), Some(&9_999), "ids are 0..count");
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        for (what, n) in [
            ("ipv6", v6),
            ("vlan", vlan),
            ("jumbo", jumbo),
            ("truncated", trunc),
            ("later fragments", frag_later),
            ("rst", rst),
            ("fin", fin),
        ] {
            assert!(n > 0, "no {what} packets in the mix");
        }
    }

    #[test]
    fn same_seed_same_packets() {
        let mut a = Traffic::new(mix(), 0, 1);
        let mut b = Traffic::new(mix(), 0, 1);
        let (mut ga, mut gb) = (Generated::default(), Generated::default());
        for _ in 0..2000 {
            a.next_into(&mut ga);
            b.next_into(&mut gb);
            // Equal but for the send times in the tags.
            assert_eq!(ga.datagram.len(), gb.datagram.len());
            assert_eq!((ga.id, ga.vni, ga.source), (gb.id, gb.vni, gb.source));
            assert_eq!(ga.datagram[..40], gb.datagram[..40]);
        }
    }

    #[test]
    fn bad_settings_name_the_flag() {
        let mut m = mix();
        m.truncate_to = 64;
        assert!(
            m.validate()
                .expect_err("refused")
                .starts_with("--truncate-to")
        );
        let mut m = mix();
        m.vlan_percent = 101;
        assert!(
            m.validate()
                .expect_err("refused")
                .starts_with("--vlan-percent")
        );
        assert!(
            "tcp=1,udp=2"
                .parse::<Weights>()
                .expect_err("refused")
                .contains("udp")
        );
        assert_eq!(
            "dns=3".parse::<Weights>(),
            Ok(Weights {
                tcp: 0,
                dns: 3,
                icmp: 0,
                frag: 0
            })
        );
    }
}
