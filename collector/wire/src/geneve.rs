//! GENEVE (RFC 8926) as an AWS Gateway Load Balancer delivers it to its
//! targets: a zero-copy parse of the header and its options, and the AWS
//! options kept.
//!
//! ```text
//!  0                   1                   2                   3
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! |                    Variable-Length Options                    |
//! ```
//!
//! A GWLB sends Opt Len 8 (32 bytes of options, 68 bytes of encapsulation
//! in all with the outer IPv4 and UDP headers), Protocol Type 0x0800 or
//! 0x86DD, VNI 0, and three options of class 0x0108 (AWS): type 1, the GWLB
//! endpoint id (64 bits); type 2, the attachment id (64 bits); type 3, the
//! flow cookie (32 bits). Behind a GWLB endpoint used as a mirror target,
//! the inner IP packet is the mirror session's VXLAN datagram (source: the
//! mirrored ENI).

use crate::DropReason;

/// UDP destination port of GENEVE, the port a GWLB sends to its targets.
pub const GENEVE_PORT: u16 = 6081;

/// Length of the fixed GENEVE header.
pub const HEADER_LEN: usize = 8;

/// GENEVE option class of AWS's Gateway Load Balancer options.
pub const AWS_OPTION_CLASS: u16 = 0x0108;

const OPTION_ENDPOINT_ID: u8 = 1;
const OPTION_ATTACHMENT_ID: u8 = 2;
const OPTION_FLOW_COOKIE: u8 = 3;

/// Protocol type of an Ethernet frame (transparent Ethernet bridging).
pub const PROTOCOL_ETHERNET: u16 = 0x6558;

/// The options of AWS's class that a GWLB adds, where present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GwlbOptions {
    /// The GWLB endpoint (VPC endpoint) the packet came through.
    pub endpoint_id: Option<u64>,
    /// The attachment id.
    pub attachment_id: Option<u64>,
    /// The flow cookie.
    pub flow_cookie: Option<u32>,
}

/// A parsed GENEVE datagram payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geneve<'a> {
    /// Protocol type of the payload (an Ether type, or [`PROTOCOL_ETHERNET`]).
    pub protocol: u16,
    /// The 24-bit virtual network identifier (0 from a GWLB).
    pub vni: u32,
    /// The AWS options found.
    pub aws: GwlbOptions,
    /// The encapsulated packet, after the header and its options.
    pub payload: &'a [u8],
}

impl<'a> Geneve<'a> {
    /// Parses a GENEVE header and walks its options (at most 252 bytes, each
    /// option's length checked against what is left). A control message
    /// (the `O` bit) carries no packet and is refused.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        let head = bytes.get(..HEADER_LEN).ok_or(DropReason::GeneveTooShort)?;
        if head[0] >> 6 != 0 {
            return Err(DropReason::GeneveMalformed);
        }
        if head[1] & 0x80 != 0 {
            return Err(DropReason::GeneveNotMirror);
        }
        let options_len = usize::from(head[0] & 0x3f) * 4;
        let options = bytes
            .get(HEADER_LEN..HEADER_LEN + options_len)
            .ok_or(DropReason::GeneveTooShort)?;
        let mut aws = GwlbOptions::default();
        let mut rest = options;
        while !rest.is_empty() {
            let [c0, c1, kind, len, ..] = *rest else {
                return Err(DropReason::GeneveMalformed);
            };
            let body_len = usize::from(len & 0x1f) * 4;
            let body = rest
                .get(4..4 + body_len)
                .ok_or(DropReason::GeneveMalformed)?;
            if u16::from_be_bytes([c0, c1]) == AWS_OPTION_CLASS {
                // The type's top bit is the critical flag, not part of the type.
                match (kind & 0x7f, body) {
                    (OPTION_ENDPOINT_ID, &[a, b, c, d, e, f, g, h]) => {
                        aws.endpoint_id = Some(u64::from_be_bytes([a, b, c, d, e, f, g, h]));
                    }
                    (OPTION_ATTACHMENT_ID, &[a, b, c, d, e, f, g, h]) => {
                        aws.attachment_id = Some(u64::from_be_bytes([a, b, c, d, e, f, g, h]));
                    }
                    (OPTION_FLOW_COOKIE, &[a, b, c, d]) => {
                        aws.flow_cookie = Some(u32::from_be_bytes([a, b, c, d]));
                    }
                    _ => {}
                }
            }
            rest = &rest[4 + body_len..];
        }
        Ok(Geneve {
            protocol: u16::from_be_bytes([head[2], head[3]]),
            vni: u32::from_be_bytes([0, head[4], head[5], head[6]]),
            aws,
            payload: &bytes[HEADER_LEN + options_len..],
        })
    }
}

/// Appends a GENEVE header as a GWLB writes it (VNI 0, the three AWS options
/// that are set) and `inner`, a packet of `protocol`.
pub fn emit_geneve_payload(aws: &GwlbOptions, protocol: u16, inner: &[u8], out: &mut Vec<u8>) {
    let mut options = Vec::with_capacity(32);
    let mut option = |kind: u8, body: &[u8]| {
        options.extend_from_slice(&AWS_OPTION_CLASS.to_be_bytes());
        options.push(kind);
        // Bodies here are 4 or 8 bytes: 1 or 2 four-byte words.
        options.push((body.len() / 4) as u8);
        options.extend_from_slice(body);
    };
    if let Some(v) = aws.endpoint_id {
        option(OPTION_ENDPOINT_ID, &v.to_be_bytes());
    }
    if let Some(v) = aws.attachment_id {
        option(OPTION_ATTACHMENT_ID, &v.to_be_bytes());
    }
    if let Some(v) = aws.flow_cookie {
        option(OPTION_FLOW_COOKIE, &v.to_be_bytes());
    }
    // At most 32 bytes of options: 8 four-byte words.
    out.push((options.len() / 4) as u8);
    out.push(0);
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&options);
    out.extend_from_slice(inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWLB: GwlbOptions = GwlbOptions {
        endpoint_id: Some(0x0a1b_2c3d_4e5f_6071),
        attachment_id: Some(0x1122_3344_5566_7788),
        flow_cookie: Some(0xdead_beef),
    };

    #[test]
    fn a_gwlb_header_is_68_bytes_with_ipv4_and_udp_and_round_trips() {
        let mut out = Vec::new();
        emit_geneve_payload(&GWLB, 0x0800, b"inner", &mut out);
        assert_eq!(out.len() - 5 + 20 + 8, 68);
        let g = Geneve::parse(&out).expect("parse");
        assert_eq!(g.protocol, 0x0800);
        assert_eq!(g.vni, 0);
        assert_eq!(g.aws, GWLB);
        assert_eq!(g.payload, b"inner");
    }

    #[test]
    fn unknown_options_are_skipped_and_bad_lengths_refused() {
        let mut out = Vec::new();
        emit_geneve_payload(&GWLB, 0x86dd, b"x", &mut out);
        // Another vendor's option before AWS's: skipped.
        let mut other = out.clone();
        other[0] += 1;
        other.splice(8..8, [0x01, 0x02, 0x81, 0x00]);
        assert_eq!(Geneve::parse(&other).expect("parse").aws, GWLB);
        // An option whose length runs past the options.
        let mut long = out.clone();
        long[11] = 0x1f;
        assert_eq!(Geneve::parse(&long), Err(DropReason::GeneveMalformed));
        // Options longer than the datagram.
        assert_eq!(Geneve::parse(&out[..20]), Err(DropReason::GeneveTooShort));
        assert_eq!(Geneve::parse(&out[..7]), Err(DropReason::GeneveTooShort));
        // Version 1, and a control message.
        let mut v1 = out.clone();
        v1[0] |= 0x40;
        assert_eq!(Geneve::parse(&v1), Err(DropReason::GeneveMalformed));
        let mut control = out.clone();
        control[1] |= 0x80;
        assert_eq!(Geneve::parse(&control), Err(DropReason::GeneveNotMirror));
        // A short AWS option is kept out, not misread.
        let mut short = Vec::new();
        emit_geneve_payload(
            &GwlbOptions {
                flow_cookie: Some(7),
                ..GwlbOptions::default()
            },
            0x0800,
            b"",
            &mut short,
        );
        short[10] = OPTION_ENDPOINT_ID;
        assert_eq!(
            Geneve::parse(&short).expect("parse").aws,
            GwlbOptions::default()
        );
    }
}
