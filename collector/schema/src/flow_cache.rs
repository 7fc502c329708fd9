//! Community IDs of recent flows: a flow's SHA-1 is computed once per run
//! of its packets instead of once per packet (4x the cost of decoding one).

use mirrorlake_wire::{CommunityId, FlowKey};
use std::net::IpAddr;

/// Slots of the cache: a power of two.
const SLOTS: usize = 1024;

/// A direct-mapped cache of Community IDs (seed 0) keyed by a packet's
/// 5-tuple as seen (each direction of a flow has its own slot); a slot
/// holds the last flow that hashed to it.
#[derive(Debug, Default)]
pub struct CommunityIds {
    slots: Vec<Option<(FlowKey, CommunityId)>>,
}

impl CommunityIds {
    /// The Community ID of `key`, computed on a miss; `None` as
    /// [`CommunityId::compute`] (addresses of different families).
    pub fn get(&mut self, key: &FlowKey) -> Option<CommunityId> {
        if self.slots.is_empty() {
            self.slots = vec![None; SLOTS];
        }
        let slot = &mut self.slots[index(key)];
        if let Some((k, id)) = slot
            && k == key
        {
            return Some(*id);
        }
        let id = CommunityId::compute(key, 0)?;
        *slot = Some((*key, id));
        Some(id)
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
        /// computing gives.
        #[test]
        fn cached_ids_are_computed_ids(
            keys in proptest::collection::vec(
                (0u8..3, 0u32..2000, 0u32..6, proptest::option::of(0u16..4), proptest::option::of(0u16..4), proptest::bool::ANY),
                1..3000,
            )
        ) {
            let mut cache = CommunityIds::default();
            for (proto, a, b, sp, dp, v6) in keys {
                let protocol = [6, 17, 1][proto as usize];
                let ip = |x: u32| if v6 {
                    IpAddr::from(u128::from(x).to_be_bytes())
                } else {
                    IpAddr::from(x.to_be_bytes())
                };
                let key = FlowKey { protocol, src: ip(a), dst: ip(b), src_port: sp, dst_port: dp };
                proptest::prop_assert_eq!(cache.get(&key), CommunityId::compute(&key, 0));
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
        assert_eq!(CommunityIds::default().get(&key), None);
    }
}
