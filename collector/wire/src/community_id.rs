//! Community ID v1 flow hashing (corelight/community-id-spec).
//!
//! `"1:" + base64(SHA1(seed ‖ src ip ‖ dst ip ‖ proto ‖ 0 ‖ src port ‖ dst port))`
//! with the endpoints ordered so that both directions hash alike. ICMP and
//! ICMPv6 map message types to port-like values (requests pair with replies);
//! a type without a counterpart is one-way and never reordered. Protocols
//! without ports hash the 3-tuple.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// The fields a Community ID is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// IP protocol number.
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address (same family as `src`).
    pub dst: IpAddr,
    /// Source port; for ICMP/ICMPv6 the message type.
    pub src_port: Option<u16>,
    /// Destination port; for ICMP/ICMPv6 the message code.
    pub dst_port: Option<u16>,
}

/// A Community ID string held inline (`"1:"` + 28 base64 characters).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId {
    buf: [u8; 30],
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn icmp_counterpart(v6: bool, t: u8) -> Option<u8> {
    Some(match (v6, t) {
        (false, 8) => 0,
        (false, 0) => 8,
        (false, 13) => 14,
        (false, 14) => 13,
        (false, 15) => 16,
        (false, 16) => 15,
        (false, 10) => 9,
        (false, 9) => 10,
        (false, 17) => 18,
        (false, 18) => 17,
        (true, 128) => 129,
        (true, 129) => 128,
        (true, 130) => 131,
        (true, 131) => 130,
        (true, 133) => 134,
        (true, 134) => 133,
        (true, 135) => 136,
        (true, 136) => 135,
        (true, 139) => 140,
        (true, 140) => 139,
        (true, 144) => 145,
        (true, 145) => 144,
        _ => return None,
    })
}

impl CommunityId {
    /// Computes the Community ID of `key` with the given seed (usually 0).
    ///
    /// Returns `None` when the two addresses are of different families.
    pub fn compute(key: &FlowKey, seed: u16) -> Option<Self> {
        let (mut src, mut dst) = match (key.src, key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                (AddrBytes::v4(s.octets()), AddrBytes::v4(d.octets()))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                (AddrBytes::v6(s.octets()), AddrBytes::v6(d.octets()))
            }
            _ => return None,
        };
        let has_ports = matches!(key.protocol, TCP | UDP | SCTP | ICMP | ICMPV6);
        let mut ports = match (has_ports, key.src_port, key.dst_port) {
            (true, Some(s), Some(d)) => Some((s, d)),
            _ => None,
        };
        let mut one_way = false;
        if let Some((t, c)) = ports
            && matches!(key.protocol, ICMP | ICMPV6)
        {
            let t8 = t as u8;
            ports = Some(match icmp_counterpart(key.protocol == ICMPV6, t8) {
                Some(peer) => (t, u16::from(peer)),
                None => {
                    one_way = true;
                    (t, c)
                }
            });
        }
        let ordered = one_way
            || src.as_slice() < dst.as_slice()
            || (src.as_slice() == dst.as_slice() && matches!(ports, Some((s, d)) if s < d));
        if !ordered {
            std::mem::swap(&mut src, &mut dst);
            ports = ports.map(|(s, d)| (d, s));
        }
        let mut h = Sha1::new();
        h.update(seed.to_be_bytes());
        h.update(src.as_slice());
        h.update(dst.as_slice());
        h.update([key.protocol, 0]);
        if let Some((s, d)) = ports {
            h.update(s.to_be_bytes());
            h.update(d.to_be_bytes());
        }
        let digest = h.finalize();
        let mut buf = [0u8; 30];
        buf[..2].copy_from_slice(b"1:");
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(digest, &mut buf[2..])
            .ok()?;
        debug_assert_eq!(n, 28);
        Some(Self { buf })
    }

    /// The textual form, e.g. `1:LQU9qZlK+B5F3KDmev6m5PMibrg=`.
    pub fn as_str(&self) -> &str {
        // Only ASCII from the base64 alphabet and "1:" is ever written.
        std::str::from_utf8(&self.buf).unwrap_or("")
    }
}

#[derive(Clone, Copy)]
struct AddrBytes {
    bytes: [u8; 16],
    len: usize,
}

impl AddrBytes {
    fn v4(o: [u8; 4]) -> Self {
        let mut bytes = [0; 16];
        bytes[..4].copy_from_slice(&o);
        Self { bytes, len: 4 }
    }
    fn v6(o: [u8; 16]) -> Self {
        Self { bytes: o, len: 16 }
    }
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: u8, s: &str, d: &str, sp: Option<u16>, dp: Option<u16>) -> FlowKey {
        FlowKey {
            protocol: p,
            src: s.parse().expect("ip"),
            dst: d.parse().expect("ip"),
            src_port: sp,
            dst_port: dp,
        }
    }

    fn cid(k: FlowKey) -> String {
        CommunityId::compute(&k, 0)
            .expect("same family")
            .to_string()
    }

    // Vectors checked with the spec authors' reference implementation
    // (`communityid` on PyPI); the integration tests compare whole captures.
    #[test]
    fn spec_baseline_vectors() {
        assert_eq!(
            cid(key(
                6,
                "128.232.110.120",
                "66.35.250.204",
                Some(34855),
                Some(80)
            )),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            cid(key(
                6,
                "66.35.250.204",
                "128.232.110.120",
                Some(80),
                Some(34855)
            )),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            cid(key(1, "192.168.0.89", "192.168.0.1", Some(8), Some(0))),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(
            cid(key(1, "192.168.0.1", "192.168.0.89", Some(0), Some(0))),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
    }

    #[test]
    fn mixed_families_have_none() {
        let k = key(6, "10.0.0.1", "::1", Some(1), Some(2));
        assert!(CommunityId::compute(&k, 0).is_none());
    }

    proptest::proptest! {
        #[test]
        fn symmetric_for_two_way_protocols(a: [u8; 4], b: [u8; 4], sp: u16, dp: u16, udp: bool) {
            let p = if udp { UDP } else { TCP };
            let fwd = FlowKey { protocol: p, src: a.into(), dst: b.into(), src_port: Some(sp), dst_port: Some(dp) };
            let rev = FlowKey { protocol: p, src: b.into(), dst: a.into(), src_port: Some(dp), dst_port: Some(sp) };
            proptest::prop_assert_eq!(CommunityId::compute(&fwd, 0), CommunityId::compute(&rev, 0));
        }
    }
}
