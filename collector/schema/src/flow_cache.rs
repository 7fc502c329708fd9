//! Community IDs and address strings of recent flows: a flow's SHA-1 (4x
//! the cost of decoding a packet) and the text of its addresses are
//! computed once per run of its packets instead of once per packet.

use mirrorlake_wire::{CommunityId, FlowKey};
use std::io::Write as _;
use std::net::IpAddr;

/// Slots of the cache: a power of two.
const SLOTS: usize = 1024;

/// An address's text, held inline (an IPv6 address takes at most 45
/// characters, IPv4-mapped ones included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrText {
    buf: [u8; 45],
    len: u8,
}

impl AddrText {
    /// `ip` as `Display` writes it.
    pub fn new(ip: IpAddr) -> Self {
        let mut buf = [0u8; 45];
        let mut w = &mut buf[..];
        // An address always fits.
        let _ = write!(w, "{ip}");
        let len = 45 - w.len();
        Self {
            buf,
            len: len as u8,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only the ASCII Display writes for an address is ever stored.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

/// What a flow's rows share: its Community ID (`None`: addresses of
/// different families) and the text of its two addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowText {
    /// Community ID v1, seed 0.
    pub community_id: Option<CommunityId>,
    /// The source address's text.
    pub src: AddrText,
    /// The destination address's text.
    pub dst: AddrText,
}

impl FlowText {
    fn of(key: &FlowKey) -> Self {
        Self {
            community_id: CommunityId::compute(key, 0),
            src: AddrText::new(key.src),
            dst: AddrText::new(key.dst),
        }
    }
}

/// A direct-mapped cache of [`FlowText`] keyed by a packet's 5-tuple as
/// seen (each direction of a flow has its own slot); a slot holds the last
/// flow that hashed to it.
#[derive(Debug, Default)]
pub struct FlowCache {
    slots: Vec<Option<(FlowKey, FlowText)>>,
}

impl FlowCache {
    /// What the rows of flow `key` share, computed on a miss.
    pub fn get(&mut self, key: &FlowKey) -> &FlowText {
        if self.slots.is_empty() {
            self.slots = vec![None; SLOTS];
        }
        let slot = &mut self.slots[index(key)];
        if slot.as_ref().is_some_and(|(k, _)| k != key) {
            *slot = None;
        }
        &slot.get_or_insert_with(|| (*key, FlowText::of(key))).1
    }
}

/// Multiplicative hashing of the 5-tuple to a slot.
fn index(k: &FlowKey) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let fold = |ip: IpAddr| match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    };
    let ports = (u64::from(k.protocol) << 32)
        | (u64::from(k.src_port.unwrap_or(0)) << 16)
        | u64::from(k.dst_port.unwrap_or(0));
    let h = (fold(k.src).wrapping_mul(K) ^ fold(k.dst)).wrapping_mul(K) ^ ports;
    (h.wrapping_mul(K) >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the order and the collisions, the cache answers what
        /// computing and formatting give.
        #[test]
        fn cached_ids_are_computed_ids(
            keys in proptest::collection::vec(
                (0u8..3, 0u32..2000, 0u32..6, proptest::option::of(0u16..4), proptest::option::of(0u16..4), proptest::bool::ANY),
                1..3000,
            )
        ) {
            let mut cache = FlowCache::default();
            for (proto, a, b, sp, dp, v6) in keys {
                let protocol = [6, 17, 1][proto as usize];
                let ip = |x: u32| if v6 {
                    IpAddr::from(u128::from(x).to_be_bytes())
                } else {
                    IpAddr::from(x.to_be_bytes())
                };
                let key = FlowKey { protocol, src: ip(a), dst: ip(b), src_port: sp, dst_port: dp };
                let t = *cache.get(&key);
                proptest::prop_assert_eq!(t.community_id, CommunityId::compute(&key, 0));
                proptest::prop_assert_eq!(t.src.as_str(), key.src.to_string());
                proptest::prop_assert_eq!(t.dst.as_str(), key.dst.to_string());
            }
        }
    }

    #[test]
    fn mixed_families_have_no_id() {
        let key = FlowKey {
            protocol: 6,
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([0u8; 16]),
            src_port: Some(1),
            dst_port: Some(2),
        };
        assert_eq!(FlowCache::default().get(&key).community_id, None);
    }

    #[test]
    fn the_longest_addresses_fit() {
        for ip in [
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
            "255.255.255.255",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(AddrText::new(ip).as_str(), ip.to_string());
        }
    }
}
