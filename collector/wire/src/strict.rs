//! The strict fast path, written by hand for the well-formed frames that make
//! up nearly all mirrored traffic: Ethernet II with 0-2 VLAN tags, then IPv4
//! without options or fragmentation or IPv6 without extension headers, then a
//! whole TCP, UDP, SCTP, ICMP or ICMPv6 header.
//!
//! It gives exactly the [`Decoded`] the lax path ([`crate::decode`]'s
//! etherparse path) gives for such a frame, or declines (`None`) and the lax
//! path decides alone: a third VLAN tag, IP options, fragments, extension
//! headers, a jumbogram, another protocol, an IP version that is not the
//! Ether type's, any header cut or inconsistent. A cut payload is fine (the
//! AWS packet-length option cuts there): it is the `Truncated` anomaly, the
//! only one this path sets. `strict_path_agrees_with_lax_path` in the tests
//! checks the two paths agree. It exists for speed: the measured reason is in
//! docs/benchmarks.md ("Per-packet hot path").

use crate::decode::OrigLen;
use crate::{Anomalies, Anomaly, Decoded, Mirror};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ETH_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

fn is_vlan(ether_type: u16) -> bool {
    matches!(ether_type, 0x8100 | 0x88a8 | 0x9100)
}

/// Transport protocols whose number is never an IPv4 or IPv6 extension
/// header: ICMP, TCP, UDP, ICMPv6, SCTP.
fn plain_transport(protocol: u8) -> bool {
    matches!(protocol, 1 | 6 | 17 | 58 | 132)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_be_bytes(s))
}

/// The fields of a well-formed IP header.
struct Ip<'a> {
    version: u8,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    protocol: u8,
    /// 20 or 40: no options, no extension headers.
    header_len: usize,
    /// The IP packet's length according to its header.
    total_len: usize,
    /// The captured bytes after the header, up to `total_len`.
    payload: &'a [u8],
}

#[inline(always)]
fn ipv4(bytes: &[u8]) -> Option<Ip<'_>> {
    let h: &[u8; IPV4_HEADER_LEN] = bytes.get(..IPV4_HEADER_LEN)?.try_into().ok()?;
    // Version 4, IHL 5: no options.
    if h[0] != 0x45 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Neither "more fragments" nor an offset (DF and the reserved bit do not
    // matter).
    let fragmentation = u16::from_be_bytes([h[6], h[7]]) & 0x3fff;
    let protocol = h[9];
    if total_len < IPV4_HEADER_LEN || fragmentation != 0 || !plain_transport(protocol) {
        return None;
    }
    Some(Ip {
        version: 4,
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        ttl: h[8],
        protocol,
        header_len: IPV4_HEADER_LEN,
        total_len,
        payload: bytes.get(IPV4_HEADER_LEN..total_len.min(bytes.len()))?,
    })
}

#[inline(always)]
fn ipv6(bytes: &[u8]) -> Option<Ip<'_>> {
    let h: &[u8; IPV6_HEADER_LEN] = bytes.get(..IPV6_HEADER_LEN)?.try_into().ok()?;
    if h[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let protocol = h[6];
    // A zero payload length (a jumbogram) leaves the length unknown.
    if payload_len == 0 || !plain_transport(protocol) {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let a: [u8; 16] = h.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(a)))
    };
    let total_len = IPV6_HEADER_LEN + payload_len;
    Some(Ip {
        version: 6,
        src: addr(8)?,
        dst: addr(24)?,
        ttl: h[7],
        protocol,
        header_len: IPV6_HEADER_LEN,
        total_len,
        payload: bytes.get(IPV6_HEADER_LEN..total_len.min(bytes.len()))?,
    })
}

/// The transport fields of [`Decoded`], in its order.
#[derive(Default)]
struct Transport {
    src_port: Option<u16>,
    dst_port: Option<u16>,
    tcp_flags: Option<u16>,
    tcp_seq: Option<u32>,
    tcp_ack: Option<u32>,
    tcp_window: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    payload_offset: Option<u32>,
}

/// A whole transport header at `l4` in `frame` (`seg` is the IP payload).
#[inline(always)]
fn transport(frame: &[u8], l4: usize, seg: &[u8], protocol: u8) -> Option<Transport> {
    let port = |at: usize| be16(seg, at);
    Some(match protocol {
        6 => {
            let t: &[u8; 20] = seg.get(..20)?.try_into().ok()?;
            let data = usize::from(t[12] >> 4) * 4;
            Transport {
                src_port: Some(u16::from_be_bytes([t[0], t[1]])),
                dst_port: Some(u16::from_be_bytes([t[2], t[3]])),
                tcp_seq: Some(u32::from_be_bytes([t[4], t[5], t[6], t[7]])),
                tcp_ack: Some(u32::from_be_bytes([t[8], t[9], t[10], t[11]])),
                tcp_flags: Some((u16::from(t[12] & 1) << 8) | u16::from(t[13])),
                tcp_window: Some(u16::from_be_bytes([t[14], t[15]])),
                payload_offset: if data >= 20 && l4 + data <= frame.len() {
                    u32::try_from(l4 + data).ok()
                } else {
                    None
                },
                ..Transport::default()
            }
        }
        17 | 132 => {
            let needed = if protocol == 17 { 8 } else { 12 };
            if seg.len() < needed {
                return None;
            }
            Transport {
                src_port: Some(port(0)?),
                dst_port: Some(port(2)?),
                payload_offset: u32::try_from(l4 + needed).ok(),
                ..Transport::default()
            }
        }
        1 | 58 => {
            let t: &[u8; 8] = seg.get(..8)?.try_into().ok()?;
            Transport {
                icmp_type: Some(t[0]),
                icmp_code: Some(t[1]),
                payload_offset: u32::try_from(l4 + 8).ok(),
                ..Transport::default()
            }
        }
        _ => return None,
    })
}

/// Decodes a plain Ethernet frame when it is one of the strict cases, as
/// `decode_ethernet_with` would (`orig_len` and `how` as there).
#[inline(always)]
pub(crate) fn decode_ethernet(
    frame: &[u8],
    orig_len: Option<u32>,
    how: OrigLen,
) -> Option<Decoded<'_>> {
    let mut ether_type = be16(frame, 12)?;
    let mut l3 = ETH_HEADER_LEN;
    let mut vlans = [None, None];
    for vlan in &mut vlans {
        if !is_vlan(ether_type) {
            break;
        }
        *vlan = Some(be16(frame, l3)? & 0x0fff);
        ether_type = be16(frame, l3 + 2)?;
        l3 += VLAN_TAG_LEN;
    }
    let bytes = frame.get(l3..)?;
    let ip = match ether_type {
        ETHERTYPE_IPV4 => ipv4(bytes)?,
        ETHERTYPE_IPV6 => ipv6(bytes)?,
        // A third tag, or not IP.
        _ => return None,
    };
    let l4 = l3 + ip.header_len;
    let t = transport(frame, l4, ip.payload, ip.protocol)?;
    let cap_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let ip_len = u32::try_from(l3 + ip.total_len).unwrap_or(u32::MAX);
    let wire_len = match (orig_len, how) {
        (None, _) => cap_len.max(ip_len),
        (Some(o), OrigLen::Exact) => o.max(cap_len),
        (Some(o), OrigLen::AtLeast) => cap_len.max(ip_len).max(o),
    };
    let mut anomalies = Anomalies::default();
    if wire_len > cap_len {
        anomalies.insert(Anomaly::Truncated);
    }
    Some(Decoded {
        mirror: Mirror::default(),
        frame,
        vlan_outer: vlans[0],
        vlan_inner: vlans[1],
        ether_type,
        ip_version: Some(ip.version),
        src_ip: Some(ip.src),
        dst_ip: Some(ip.dst),
        protocol: Some(ip.protocol),
        ttl: Some(ip.ttl),
        fragment: None,
        src_port: t.src_port,
        dst_port: t.dst_port,
        tcp_flags: t.tcp_flags,
        tcp_seq: t.tcp_seq,
        tcp_ack: t.tcp_ack,
        tcp_window: t.tcp_window,
        icmp_type: t.icmp_type,
        icmp_code: t.icmp_code,
        payload_offset: t.payload_offset,
        wire_len,
        anomalies,
    })
}
