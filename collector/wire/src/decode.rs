//! From bytes to a [`Decoded`] row: tunnel, then Ethernet, VLAN, IP, transport.
//! Each frame is tried on the strict fast path ([`crate::strict`]) first, then
//! on the lax path here (etherparse for the IP layer), which keeps what it can.

use crate::strict;
use crate::{Anomalies, Anomaly, CommunityId, Direction, DropReason, FlowKey, VxlanPacket};
use etherparse::{LaxIpSlice, err::ip::LaxHeaderSliceError};
use std::net::IpAddr;

const ETH_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const MAX_VLAN_TAGS: usize = 2;

/// What the bytes given to [`decode`] are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The payload of a UDP datagram received on port 4789: VXLAN header + frame.
    VxlanPayload,
    /// A whole captured outer frame: Ethernet / IP / UDP 4789 / VXLAN / frame.
    OuterFrame,
    /// A plain Ethernet frame with no tunnel.
    Ethernet,
    /// A frame from a capture file: an outer VXLAN or GENEVE frame when it is
    /// one (UDP to port 4789 with a valid VXLAN header, or to port 6081 with a
    /// mirrored VXLAN datagram inside), otherwise a plain Ethernet frame.
    Capture,
    /// The payload of a UDP datagram received on port 6081 from a Gateway
    /// Load Balancer: GENEVE header and options + the mirror session's VXLAN
    /// datagram (IP / UDP 4789 / VXLAN / frame).
    GenevePayload,
}

/// Where a tunnelled packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mirror {
    /// Outer source IP: the mirrored ENI's primary private IP.
    pub source: Option<IpAddr>,
    /// VXLAN network identifier: the mirror session.
    pub vni: Option<u32>,
    /// The Gateway Load Balancer endpoint the packet came through (GENEVE
    /// option of AWS's class), when it came through one.
    pub gwlb_endpoint: Option<u64>,
}

/// IP fragmentation fields, present when the packet is a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment's data in the original payload, in bytes.
    pub offset: u16,
    /// The "more fragments" flag.
    pub more: bool,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
}

/// A decoded mirrored packet: every field of the record schema that comes
/// from the bytes. Borrows the inner frame; copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Tunnel information (empty for plain frames).
    pub mirror: Mirror,
    /// The captured inner Ethernet frame.
    pub frame: &'a [u8],
    /// First (outer) VLAN id.
    pub vlan_outer: Option<u16>,
    /// Second (inner) VLAN id of a stacked (QinQ) frame.
    pub vlan_inner: Option<u16>,
    /// Ether type after the VLAN tags.
    pub ether_type: u16,
    /// 4 or 6 when an IP header was decoded.
    pub ip_version: Option<u8>,
    /// Inner source address.
    pub src_ip: Option<IpAddr>,
    /// Inner destination address.
    pub dst_ip: Option<IpAddr>,
    /// IP protocol number (after IPv6 extension headers).
    pub protocol: Option<u8>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: Option<u8>,
    /// Fragmentation fields when the packet is a fragment.
    pub fragment: Option<Fragment>,
    /// TCP/UDP/SCTP source port (first fragment only).
    pub src_port: Option<u16>,
    /// TCP/UDP/SCTP destination port (first fragment only).
    pub dst_port: Option<u16>,
    /// TCP flags (9 bits, NS is 0x100).
    pub tcp_flags: Option<u16>,
    /// TCP sequence number.
    pub tcp_seq: Option<u32>,
    /// TCP acknowledgement number.
    pub tcp_ack: Option<u32>,
    /// TCP window.
    pub tcp_window: Option<u16>,
    /// ICMP or ICMPv6 type.
    pub icmp_type: Option<u8>,
    /// ICMP or ICMPv6 code.
    pub icmp_code: Option<u8>,
    /// Offset of the transport payload in `frame`, when it starts inside it.
    pub payload_offset: Option<u32>,
    /// Length of the original inner frame (from the IP header when present).
    pub wire_len: u32,
    /// What is odd about this packet.
    pub anomalies: Anomalies,
}

impl<'a> Decoded<'a> {
    /// Captured length of the inner frame.
    pub fn cap_len(&self) -> u32 {
        u32::try_from(self.frame.len()).unwrap_or(u32::MAX)
    }

    /// Whether the copy is shorter than the original frame.
    pub fn truncated(&self) -> bool {
        self.wire_len > self.cap_len()
    }

    /// The transport payload, when it starts inside the captured frame.
    pub fn payload(&self) -> Option<&'a [u8]> {
        self.payload_offset
            .and_then(|o| self.frame.get(usize::try_from(o).ok()?..))
    }

    /// Direction relative to the mirrored ENI.
    pub fn direction(&self) -> Direction {
        Direction::infer(self.mirror.source, self.src_ip, self.dst_ip)
    }

    /// The flow key, when the packet has IP addresses. Port protocols whose
    /// ports are unknown (non-first fragments, cut headers) have none, so
    /// their Community ID is never a 3-tuple hash that matches no flow.
    pub fn flow_key(&self) -> Option<FlowKey> {
        let (src, dst, protocol) = (self.src_ip?, self.dst_ip?, self.protocol?);
        let (src_port, dst_port) = match protocol {
            6 | 17 | 132 => (Some(self.src_port?), Some(self.dst_port?)),
            1 | 58 => (
                Some(u16::from(self.icmp_type?)),
                Some(u16::from(self.icmp_code?)),
            ),
            _ => (None, None),
        };
        Some(FlowKey {
            protocol,
            src,
            dst,
            src_port,
            dst_port,
        })
    }

    /// Community ID v1 with seed 0.
    pub fn community_id(&self) -> Option<CommunityId> {
        CommunityId::compute(&self.flow_key()?, 0)
    }

    fn empty(frame: &'a [u8], ether_type: u16) -> Self {
        Decoded {
            mirror: Mirror::default(),
            frame,
            vlan_outer: None,
            vlan_inner: None,
            ether_type,
            ip_version: None,
            src_ip: None,
            dst_ip: None,
            protocol: None,
            ttl: None,
            fragment: None,
            src_port: None,
            dst_port: None,
            tcp_flags: None,
            tcp_seq: None,
            tcp_ack: None,
            tcp_window: None,
            icmp_type: None,
            icmp_code: None,
            payload_offset: None,
            wire_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            anomalies: Anomalies::default(),
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decodes `bytes` of the given shape. `orig_len` is the original length of
/// `bytes` when known (a capture record's original length).
pub fn decode(
    input: Input,
    bytes: &[u8],
    orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    decode_with::<true>(input, bytes, orig_len)
}

/// [`decode`] through the lax etherparse path alone, without the strict
/// fast path: the same result, slower. For the fuzz target that compares the
/// two paths; not part of the API.
#[doc(hidden)]
pub fn decode_lax_only(
    input: Input,
    bytes: &[u8],
    orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    decode_with::<false>(input, bytes, orig_len)
}

/// [`decode`]. `STRICT` says whether the strict fast path ([`strict`]) is
/// tried before the lax etherparse path; the result is the same either way
/// (the switch is for the test and the benchmark that compare the paths).
pub(crate) fn decode_with<const STRICT: bool>(
    input: Input,
    bytes: &[u8],
    orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    match input {
        Input::VxlanPayload => decode_vxlan::<STRICT>(bytes, None, None),
        Input::OuterFrame => decode_outer_frame_with::<STRICT>(bytes, orig_len),
        Input::Ethernet => decode_ethernet_with::<STRICT>(bytes, orig_len, OrigLen::Exact),
        Input::Capture => match decode_outer_frame_with::<STRICT>(bytes, orig_len) {
            // Not a recognizable tunnel: keep it as the plain frame it is.
            Err(
                DropReason::OuterNotVxlan
                | DropReason::OuterMalformed
                | DropReason::VxlanNoVni
                | DropReason::VxlanTooShort
                | DropReason::GeneveTooShort
                | DropReason::GeneveMalformed
                | DropReason::GeneveNotMirror,
            ) => decode_ethernet_with::<STRICT>(bytes, orig_len, OrigLen::Exact),
            other => other,
        },
        Input::GenevePayload => decode_geneve::<STRICT>(bytes, orig_len),
    }
}

/// Decodes the payload of a UDP datagram sent to port 6081 by a Gateway Load
/// Balancer: GENEVE around a mirror session's VXLAN datagram. The mirror
/// source is the inner IP source (the mirrored ENI), not the GWLB's.
pub fn decode_geneve_payload(bytes: &[u8]) -> Result<Decoded<'_>, DropReason> {
    decode_geneve::<true>(bytes, None)
}

fn decode_geneve<const STRICT: bool>(
    bytes: &[u8],
    orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    let g = crate::geneve::Geneve::parse(bytes)?;
    let header = u32::try_from(bytes.len() - g.payload.len()).unwrap_or(u32::MAX);
    let inner_orig = orig_len.map(|o| o.saturating_sub(header));
    let inner = match g.protocol {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => match strict_vxlan_datagram::<STRICT>(g.payload) {
            // The fast path: the result the lax path gives, without etherparse.
            Some((source, start)) => vxlan_at::<STRICT>(g.payload, start, Some(source), inner_orig),
            None => {
                let mut ip = Decoded::empty(g.payload, g.protocol);
                decode_ip(&mut ip, g.payload, 0, g.protocol);
                vxlan_in::<STRICT>(ip, g.payload, inner_orig)
            }
        },
        crate::geneve::PROTOCOL_ETHERNET => {
            decode_outer_frame_with::<STRICT>(g.payload, inner_orig)
        }
        _ => return Err(DropReason::GeneveNotMirror),
    };
    let mut d = inner.map_err(|e| match e {
        DropReason::OuterNotVxlan => DropReason::GeneveNotMirror,
        DropReason::OuterMalformed => DropReason::GeneveMalformed,
        other => other,
    })?;
    d.mirror.gwlb_endpoint = g.aws.endpoint_id;
    Ok(d)
}

/// A well-formed mirror session datagram (an IPv4 header without options'
/// oddities, or an IPv6 one without extension headers, exactly as long as
/// `ip`, not a fragment, UDP to port 4789): its source and where its VXLAN
/// header starts. `None` sends it to the lax path, which gives the same
/// result for what this accepts (a property test and the fuzz target check).
fn strict_vxlan_datagram<const STRICT: bool>(ip: &[u8]) -> Option<(IpAddr, usize)> {
    if !STRICT {
        return None;
    }
    let (source, udp) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let flags_frag = be16(ip, 6)?;
            if ihl < 20 || total != ip.len() || flags_frag & 0x3fff != 0 || *ip.get(9)? != 17 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            (IpAddr::from(src), ihl)
        }
        6 => {
            if usize::from(be16(ip, 4)?) + 40 != ip.len() || *ip.get(6)? != 17 {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            (IpAddr::from(src), 40)
        }
        _ => return None,
    };
    let udp_len = usize::from(be16(ip, udp + 4)?);
    if be16(ip, udp + 2)? != crate::VXLAN_PORT || udp_len < 8 || udp + udp_len != ip.len() {
        return None;
    }
    Some((source, udp + 8))
}

/// Decodes the payload of a UDP datagram sent to port 4789 by a mirror session.
/// `source` is the datagram's source address (the mirrored ENI).
pub fn decode_vxlan_payload(
    bytes: &[u8],
    source: Option<IpAddr>,
) -> Result<Decoded<'_>, DropReason> {
    decode_vxlan::<true>(bytes, source, None)
}

/// [`decode_vxlan_payload`] through the lax etherparse path alone, without
/// the strict fast path: the same result, slower. For the benchmark that
/// compares the two paths (the mirror source is set, as in the collector);
/// not part of the API.
#[doc(hidden)]
pub fn decode_vxlan_payload_lax_only(
    bytes: &[u8],
    source: Option<IpAddr>,
) -> Result<Decoded<'_>, DropReason> {
    decode_vxlan::<false>(bytes, source, None)
}

fn decode_vxlan<const STRICT: bool>(
    bytes: &[u8],
    source: Option<IpAddr>,
    inner_orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    let vx = VxlanPacket::new_checked(bytes).ok_or(DropReason::VxlanTooShort)?;
    if !vx.vni_valid() {
        return Err(DropReason::VxlanNoVni);
    }
    let tunnel = |d: &mut Decoded<'_>| {
        if vx.reserved_bits_set() {
            d.anomalies.insert(Anomaly::VxlanReservedBits);
        }
        d.mirror = Mirror {
            source,
            vni: Some(vx.vni()),
            gwlb_endpoint: None,
        };
    };
    // The inner frame's length in the outer record is that of the mirrored
    // copy, which AWS may have cut (packet length option): the IP header's
    // length is the better witness of the original, so both are weighed.
    let frame = &bytes[VxlanPacket::<&[u8]>::HEADER_LEN..];
    // The fast path returns from here, so that the row is written once.
    if STRICT && let Some(mut d) = strict::decode_ethernet(frame, inner_orig_len, OrigLen::AtLeast)
    {
        tunnel(&mut d);
        return Ok(d);
    }
    let mut d = decode_ethernet_lax(frame, inner_orig_len, OrigLen::AtLeast)?;
    tunnel(&mut d);
    Ok(d)
}

/// Decodes a whole captured outer frame: Ethernet / IP / UDP 4789 / VXLAN,
/// or Ethernet / IP / UDP 6081 / GENEVE around such a datagram.
pub fn decode_outer_frame(bytes: &[u8], orig_len: Option<u32>) -> Result<Decoded<'_>, DropReason> {
    decode_outer_frame_with::<true>(bytes, orig_len)
}

fn decode_outer_frame_with<const STRICT: bool>(
    bytes: &[u8],
    orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    let outer = match decode_ethernet_with::<STRICT>(bytes, orig_len, OrigLen::Exact) {
        Ok(d) => d,
        Err(_) => return Err(DropReason::OuterMalformed),
    };
    if outer.ether_type != ETHERTYPE_IPV4 && outer.ether_type != ETHERTYPE_IPV6 {
        return Err(DropReason::OuterNotVxlan);
    }
    if outer.protocol == Some(17)
        && outer.dst_port == Some(crate::GENEVE_PORT)
        && outer.fragment.is_none_or(|f| f.offset == 0)
        && let Some(start) = outer.payload_offset
    {
        let geneve = bytes
            .get(start as usize..)
            .ok_or(DropReason::OuterMalformed)?;
        return decode_geneve::<STRICT>(geneve, orig_len.map(|o| o.saturating_sub(start)));
    }
    vxlan_in::<STRICT>(outer, bytes, orig_len)
}

/// The mirror session's VXLAN datagram in `outer`, the decoded outer
/// headers of `bytes` (an Ethernet frame or an IP packet): UDP to port 4789,
/// not a later fragment. The mirror source is the outer IP source.
fn vxlan_in<'a, const STRICT: bool>(
    outer: Decoded<'_>,
    bytes: &'a [u8],
    orig_len: Option<u32>,
) -> Result<Decoded<'a>, DropReason> {
    if outer.ip_version.is_none() {
        return Err(DropReason::OuterMalformed);
    }
    if outer.protocol != Some(17) || outer.fragment.is_some_and(|f| f.offset > 0) {
        return Err(DropReason::OuterNotVxlan);
    }
    match outer.dst_port {
        Some(crate::VXLAN_PORT) => {}
        Some(_) => return Err(DropReason::OuterNotVxlan),
        None => return Err(DropReason::OuterMalformed),
    }
    let start = outer.payload_offset.ok_or(DropReason::OuterMalformed)? as usize;
    vxlan_at::<STRICT>(bytes, start, outer.src_ip, orig_len)
}

/// The VXLAN header at `start` of `bytes` (whose original length is
/// `orig_len` when known) and the frame after it, mirrored from `source`.
fn vxlan_at<const STRICT: bool>(
    bytes: &[u8],
    start: usize,
    source: Option<IpAddr>,
    orig_len: Option<u32>,
) -> Result<Decoded<'_>, DropReason> {
    let vxlan = bytes.get(start..).ok_or(DropReason::OuterMalformed)?;
    let inner_start = u32::try_from(start + VxlanPacket::<&[u8]>::HEADER_LEN).unwrap_or(u32::MAX);
    let inner_orig = orig_len.map(|o| o.saturating_sub(inner_start));
    decode_vxlan::<STRICT>(vxlan, source, inner_orig)
}

/// How a known original length is used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrigLen {
    /// It is the frame's length on the wire (a capture record's `len`).
    Exact,
    /// A lower bound: the IP header may show a longer original.
    AtLeast,
}

/// Decodes a plain Ethernet II frame. `orig_len` is its original length when
/// known (a capture record's original length, larger when the capture was
/// cut): it is then the `wire_len`, whatever the IP header claims (without
/// it, the IP header's length is the best estimate).
pub fn decode_ethernet(frame: &[u8], orig_len: Option<u32>) -> Result<Decoded<'_>, DropReason> {
    decode_ethernet_with::<true>(frame, orig_len, OrigLen::Exact)
}

fn decode_ethernet_with<const STRICT: bool>(
    frame: &[u8],
    orig_len: Option<u32>,
    how: OrigLen,
) -> Result<Decoded<'_>, DropReason> {
    if STRICT && let Some(d) = strict::decode_ethernet(frame, orig_len, how) {
        return Ok(d);
    }
    decode_ethernet_lax(frame, orig_len, how)
}

/// The lax path: keeps whatever etherparse can slice of a cut or odd frame
/// and says what is odd about it.
fn decode_ethernet_lax(
    frame: &[u8],
    orig_len: Option<u32>,
    how: OrigLen,
) -> Result<Decoded<'_>, DropReason> {
    let mut ether_type = be16(frame, 12).ok_or(DropReason::InnerTooShort)?;
    let mut d = Decoded::empty(frame, ether_type);
    let mut off = ETH_HEADER_LEN;
    let mut tags = 0;
    while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
        if tags == MAX_VLAN_TAGS {
            d.anomalies.insert(Anomaly::VlanTooDeep);
            break;
        }
        let (Some(tci), Some(next)) = (be16(frame, off), be16(frame, off + 2)) else {
            d.anomalies.insert(Anomaly::VlanTruncated);
            break;
        };
        let vid = Some(tci & 0x0fff);
        if tags == 0 {
            d.vlan_outer = vid;
        } else {
            d.vlan_inner = vid;
        }
        tags += 1;
        ether_type = next;
        off += 4;
    }
    d.ether_type = ether_type;
    if matches!(ether_type, ETHERTYPE_IPV4 | ETHERTYPE_IPV6)
        && !d.anomalies.contains(Anomaly::VlanTruncated)
    {
        decode_ip(&mut d, frame, off, ether_type);
    }
    if let Some(o) = orig_len {
        d.wire_len = match how {
            OrigLen::Exact => o.max(d.cap_len()),
            OrigLen::AtLeast => d.wire_len.max(o),
        };
    }
    if d.truncated() {
        d.anomalies.insert(Anomaly::Truncated);
    }
    Ok(d)
}

fn decode_ip(d: &mut Decoded<'_>, frame: &[u8], l3: usize, ether_type: u16) {
    let bytes = &frame[l3..];
    let (ip, ext_err) = match LaxIpSlice::from_slice(bytes) {
        Ok(ok) => ok,
        Err(LaxHeaderSliceError::Len(_)) => {
            d.anomalies.insert(Anomaly::IpTruncated);
            return;
        }
        Err(LaxHeaderSliceError::Content(_)) => {
            d.anomalies.insert(Anomaly::IpMalformed);
            return;
        }
    };
    if ext_err.is_some() {
        d.anomalies.insert(Anomaly::Ipv6ExtMalformed);
    }
    let ip_total: Option<usize>;
    // Length of the IP header and its extension headers.
    let headers_len: usize;
    let payload = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            d.ip_version = Some(4);
            d.src_ip = Some(IpAddr::V4(h.source_addr()));
            d.dst_ip = Some(IpAddr::V4(h.destination_addr()));
            d.ttl = Some(h.ttl());
            let (offset, more) = (h.fragments_offset().value() * 8, h.more_fragments());
            if offset > 0 || more {
                d.fragment = Some(Fragment {
                    offset,
                    more,
                    id: u32::from(h.identification()),
                });
            }
            headers_len = h.slice().len();
            let total = usize::from(h.total_len());
            if total < h.slice().len() {
                d.anomalies.insert(Anomaly::IpMalformed);
                ip_total = None;
            } else {
                ip_total = Some(total);
            }
            v4.payload()
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            d.ip_version = Some(6);
            d.src_ip = Some(IpAddr::V6(h.source_addr()));
            d.dst_ip = Some(IpAddr::V6(h.destination_addr()));
            d.ttl = Some(h.hop_limit());
            headers_len = h.slice().len() + v6.extensions().slice().len();
            d.fragment = ipv6_fragment(frame, l3, h.next_header().0, headers_len);
            // A zero payload length means a jumbogram: the length is unknown.
            ip_total = match h.payload_length() {
                0 => None,
                n => Some(40 + usize::from(n)),
            };
            v6.payload()
        }
    };
    if (ether_type == ETHERTYPE_IPV4) != (d.ip_version == Some(4)) {
        d.anomalies.insert(Anomaly::IpMalformed);
    }
    if let Some(total) = ip_total {
        let wire = u32::try_from(l3 + total).unwrap_or(u32::MAX);
        d.wire_len = d.wire_len.max(wire);
    }
    let mut protocol = payload.ip_number.0;
    // A cut IPv6 extension header still names what follows it in its first
    // byte; report that protocol (as Wireshark does) rather than the header.
    if ext_err.is_some()
        && matches!(protocol, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140)
        && let Some(&next) = payload.payload.first()
    {
        protocol = next;
    }
    d.protocol = Some(protocol);
    if ext_err.is_some() || d.fragment.is_some_and(|f| f.offset > 0) {
        return;
    }
    decode_transport(d, frame, l3 + headers_len, payload.payload, protocol);
}

/// Finds the fragment header among the IPv6 extension headers, walking the
/// raw bytes with bounds checks (etherparse's extension iterator is not used:
/// the fuzzer found it reading past a cut header).
fn ipv6_fragment(frame: &[u8], l3: usize, first: u8, headers_len: usize) -> Option<Fragment> {
    let end = (l3 + headers_len).min(frame.len());
    let (mut next, mut off) = (first, l3 + 40);
    while off < end {
        let len = match next {
            44 => {
                let field = be16(frame, off + 2)?;
                return Some(Fragment {
                    offset: field & 0xfff8,
                    more: field & 1 != 0,
                    id: be32(frame, off + 4)?,
                });
            }
            0 | 43 | 60 | 135 | 139 | 140 => (usize::from(*frame.get(off + 1)?) + 1) * 8,
            51 => (usize::from(*frame.get(off + 1)?) + 2) * 4,
            _ => return None,
        };
        next = *frame.get(off)?;
        off += len;
    }
    None
}

fn decode_transport(d: &mut Decoded<'_>, frame: &[u8], l4: usize, seg: &[u8], protocol: u8) {
    let needed = match protocol {
        6 => {
            d.src_port = be16(seg, 0);
            d.dst_port = be16(seg, 2);
            d.tcp_seq = be32(seg, 4);
            d.tcp_ack = be32(seg, 8);
            if let (Some(&off), Some(&flags)) = (seg.get(12), seg.get(13)) {
                d.tcp_flags = Some((u16::from(off & 1) << 8) | u16::from(flags));
                let data = usize::from(off >> 4) * 4;
                if data >= 20 && l4 + data <= frame.len() {
                    d.payload_offset = u32::try_from(l4 + data).ok();
                }
            }
            d.tcp_window = be16(seg, 14);
            20
        }
        17 => {
            d.src_port = be16(seg, 0);
            d.dst_port = be16(seg, 2);
            8
        }
        132 => {
            d.src_port = be16(seg, 0);
            d.dst_port = be16(seg, 2);
            12
        }
        1 | 58 => {
            d.icmp_type = seg.first().copied();
            d.icmp_code = seg.get(1).copied();
            8
        }
        _ => return,
    };
    if seg.len() < needed {
        d.anomalies.insert(Anomaly::L4Truncated);
    } else if protocol != 6 {
        d.payload_offset = u32::try_from(l4 + needed).ok();
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
