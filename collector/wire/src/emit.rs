//! Building frames: the inverse of [`crate::decode_ethernet`], used by the
//! load generator and by the round-trip property tests.

use crate::Decoded;
use etherparse::{
    EtherType, Ethernet2Header, Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpNumber,
    Ipv4Header, Ipv6FlowLabel, Ipv6Header, SingleVlanHeader, TcpHeader, UdpHeader, VlanId, VlanPcp,
};
use std::net::IpAddr;

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// Source and destination are of different IP families.
    #[error("source and destination addresses are of different families")]
    MixedFamilies,
    /// The payload does not fit in one IP packet.
    #[error("payload of {0} bytes is too large")]
    TooLarge(usize),
    /// A VLAN id above 4095.
    #[error("vlan id {0} is above 4095")]
    BadVlan(u16),
}

/// The transport layer of a frame to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportRepr {
    /// TCP with the given header fields (`flags`: 9 bits, NS is 0x100).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Flags.
        flags: u16,
        /// Window.
        window: u16,
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP (for IPv4) or ICMPv6 (for IPv6).
    Icmp {
        /// Message type.
        icmp_type: u8,
        /// Message code.
        code: u8,
    },
}

/// An Ethernet / optional VLAN tags / IP / transport frame to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRepr<'p> {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Outer, then inner 802.1Q tag (an inner tag needs an outer one).
    pub vlans: [Option<u16>; 2],
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Transport header.
    pub transport: TransportRepr,
    /// Transport payload.
    pub payload: &'p [u8],
}

impl<'p> FrameRepr<'p> {
    /// Appends the frame to `out`, with correct lengths and checksums.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let io = |_| EmitError::TooLarge(self.payload.len());
        let v6 = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(EmitError::MixedFamilies),
        };
        let ip_type = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
        let tags: Vec<u16> = self.vlans.iter().flatten().copied().collect();
        let first_type = if tags.is_empty() {
            ip_type
        } else {
            EtherType::VLAN_TAGGED_FRAME
        };
        Ethernet2Header {
            source: self.src_mac,
            destination: self.dst_mac,
            ether_type: first_type,
        }
        .write(out)
        .map_err(io)?;
        for (i, &vid) in tags.iter().enumerate() {
            let next = if i + 1 == tags.len() {
                ip_type
            } else {
                EtherType::VLAN_TAGGED_FRAME
            };
            SingleVlanHeader {
                pcp: VlanPcp::ZERO,
                drop_eligible_indicator: false,
                vlan_id: VlanId::try_new(vid).map_err(|_| EmitError::BadVlan(vid))?,
                ether_type: next,
            }
            .write(out)
            .map_err(io)?;
        }
        let (proto, l4_len) = match self.transport {
            TransportRepr::Tcp { .. } => (IpNumber::TCP, 20),
            TransportRepr::Udp { .. } => (IpNumber::UDP, 8),
            TransportRepr::Icmp { .. } if v6 => (IpNumber::IPV6_ICMP, 8),
            TransportRepr::Icmp { .. } => (IpNumber::ICMP, 8),
        };
        let l4_total = l4_len + self.payload.len();
        let l4_total16 =
            u16::try_from(l4_total).map_err(|_| EmitError::TooLarge(self.payload.len()))?;
        let (v4h, v6h) = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h = Ipv4Header::new(l4_total16, self.ttl, proto, s.octets(), d.octets())
                    .map_err(|_| EmitError::TooLarge(self.payload.len()))?;
                h.header_checksum = h.calc_header_checksum();
                h.write(out).map_err(io)?;
                (Some(h), None)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let h = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Ipv6FlowLabel::ZERO,
                    payload_length: l4_total16,
                    next_header: proto,
                    hop_limit: self.ttl,
                    source: s.octets(),
                    destination: d.octets(),
                };
                h.write(out).map_err(io)?;
                (None, Some(h))
            }
            _ => return Err(EmitError::MixedFamilies),
        };
        match self.transport {
            TransportRepr::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
            } => {
                let mut t = TcpHeader::new(src_port, dst_port, seq, window);
                t.acknowledgment_number = ack;
                t.fin = flags & 0x01 != 0;
                t.syn = flags & 0x02 != 0;
                t.rst = flags & 0x04 != 0;
                t.psh = flags & 0x08 != 0;
                t.ack = flags & 0x10 != 0;
                t.urg = flags & 0x20 != 0;
                t.ece = flags & 0x40 != 0;
                t.cwr = flags & 0x80 != 0;
                t.ns = flags & 0x100 != 0;
                t.checksum = match (&v4h, &v6h) {
                    (Some(h), _) => t.calc_checksum_ipv4(h, self.payload),
                    (_, Some(h)) => t.calc_checksum_ipv6(h, self.payload),
                    _ => Ok(0),
                }
                .map_err(|_| EmitError::TooLarge(self.payload.len()))?;
                t.write(out).map_err(io)?;
            }
            TransportRepr::Udp { src_port, dst_port } => {
                let u = match (&v4h, &v6h) {
                    (Some(h), _) => {
                        UdpHeader::with_ipv4_checksum(src_port, dst_port, h, self.payload)
                    }
                    (_, Some(h)) => {
                        UdpHeader::with_ipv6_checksum(src_port, dst_port, h, self.payload)
                    }
                    _ => return Err(EmitError::MixedFamilies),
                }
                .map_err(|_| EmitError::TooLarge(self.payload.len()))?;
                u.write(out).map_err(io)?;
            }
            TransportRepr::Icmp { icmp_type, code } => {
                let bytes5to8 = [0; 4];
                if let Some(h) = &v6h {
                    let ty = Icmpv6Type::Unknown {
                        type_u8: icmp_type,
                        code_u8: code,
                        bytes5to8,
                    };
                    Icmpv6Header::with_checksum(ty, h.source, h.destination, self.payload)
                        .map_err(|_| EmitError::TooLarge(self.payload.len()))?
                        .write(out)
                        .map_err(io)?;
                } else {
                    let ty = Icmpv4Type::Unknown {
                        type_u8: icmp_type,
                        code_u8: code,
                        bytes5to8,
                    };
                    Icmpv4Header::with_checksum(ty, self.payload)
                        .write(out)
                        .map_err(io)?;
                }
            }
        }
        out.extend_from_slice(self.payload);
        Ok(())
    }

    /// Reads a frame representation back from a decoded packet (the inverse
    /// of [`FrameRepr::emit`] for the frames it builds).
    pub fn from_decoded(d: &Decoded<'p>) -> Option<Self> {
        let transport = match d.protocol? {
            6 => TransportRepr::Tcp {
                src_port: d.src_port?,
                dst_port: d.dst_port?,
                seq: d.tcp_seq?,
                ack: d.tcp_ack?,
                flags: d.tcp_flags?,
                window: d.tcp_window?,
            },
            17 => TransportRepr::Udp {
                src_port: d.src_port?,
                dst_port: d.dst_port?,
            },
            1 | 58 => TransportRepr::Icmp {
                icmp_type: d.icmp_type?,
                code: d.icmp_code?,
            },
            _ => return None,
        };
        let mac =
            |r: std::ops::Range<usize>| -> Option<[u8; 6]> { d.frame.get(r)?.try_into().ok() };
        Some(FrameRepr {
            dst_mac: mac(0..6)?,
            src_mac: mac(6..12)?,
            vlans: [d.vlan_outer, d.vlan_inner],
            src: d.src_ip?,
            dst: d.dst_ip?,
            ttl: d.ttl?,
            transport,
            payload: d.payload()?,
        })
    }
}

/// Appends the payload of a mirror datagram: an AWS VXLAN header and `inner`.
pub fn emit_vxlan_payload(vni: u32, inner: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + crate::VxlanHeader::LEN, 0);
    // The slice is exactly a header long, so emit cannot fail.
    let _ = crate::VxlanHeader::aws(vni).emit(&mut out[at..]);
    out.extend_from_slice(inner);
}

/// Appends a whole outer frame as a mirror target captures it: Ethernet / IP
/// (`source` is the mirrored ENI) / UDP to port 4789 / VXLAN / `inner`.
pub fn emit_outer_frame(
    source: IpAddr,
    target: IpAddr,
    src_port: u16,
    vni: u32,
    inner: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EmitError> {
    let mut payload = Vec::with_capacity(inner.len() + crate::VxlanHeader::LEN);
    emit_vxlan_payload(vni, inner, &mut payload);
    FrameRepr {
        src_mac: [0x02, 0, 0, 0, 0, 1],
        dst_mac: [0x02, 0, 0, 0, 0, 2],
        vlans: [None, None],
        src: source,
        dst: target,
        ttl: 64,
        transport: TransportRepr::Udp {
            src_port,
            dst_port: crate::VXLAN_PORT,
        },
        payload: &payload,
    }
    .emit(out)
}

/// The outer UDP source port AWS derives from the inner flow: a hash of the
/// 5-tuple (3-tuple for protocols without ports), in the ephemeral range, the
/// same for every packet of a flow direction so an NLB keeps a flow together.
pub fn aws_source_port(key: &crate::FlowKey) -> u16 {
    // FNV-1a over the tuple; AWS does not publish its hash, only its inputs.
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h = (h ^ u32::from(x)).wrapping_mul(0x0100_0193);
        }
    };
    match key.src {
        IpAddr::V4(a) => eat(&a.octets()),
        IpAddr::V6(a) => eat(&a.octets()),
    }
    match key.dst {
        IpAddr::V4(a) => eat(&a.octets()),
        IpAddr::V6(a) => eat(&a.octets()),
    }
    eat(&[key.protocol]);
    if let (Some(s), Some(d)) = (key.src_port, key.dst_port) {
        eat(&s.to_be_bytes());
        eat(&d.to_be_bytes());
    }
    49152 + (h % 16384) as u16
}
