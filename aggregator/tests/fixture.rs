//! Synthetic mirrored traffic for the tests and benches: a reproducible
//! random source, and packets built, VXLAN-wrapped and decoded as the
//! collector would, appended to a batch.

use mirrorlake_schema::{PacketBatchBuilder, RowMeta};
use mirrorlake_wire::{FrameRepr, TransportRepr, decode_vxlan_payload, emit_vxlan_payload};
use std::net::IpAddr;

/// xorshift64: reproducible, not cryptographic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Scratch buffers of one mirrored packet as the collector sees it: the
/// inner frame, its VXLAN payload, decoded and appended to a batch.
#[derive(Default)]
pub struct Mirror {
    frame: Vec<u8>,
    dgram: Vec<u8>,
    /// The collector's `arrival_seq` counter.
    seq: i64,
}

impl Mirror {
    /// Appends one packet of mirror `(ENI address, its last octet for the
    /// MAC, VNI)` and inner `(src, dst, transport)` at `ts`; returns the
    /// inner frame.
    pub fn append(
        &mut self,
        b: &mut PacketBatchBuilder,
        (eni, octet, vni): (IpAddr, u8, u32),
        (src, dst, transport): (IpAddr, IpAddr, TransportRepr),
        payload: &[u8],
        ts: i64,
    ) -> &[u8] {
        self.frame.clear();
        FrameRepr {
            src_mac: [2, 0, 0, 0, 0, octet],
            dst_mac: [2, 0, 0, 0, 1, 1],
            vlans: [None, None],
            src,
            dst,
            ttl: 64,
            transport,
            payload,
        }
        .emit(&mut self.frame)
        .expect("emit");
        self.dgram.clear();
        emit_vxlan_payload(vni, &self.frame, &mut self.dgram);
        let d = decode_vxlan_payload(&self.dgram, Some(eni)).expect("decode");
        self.seq += 1;
        b.append(&d, RowMeta::new(ts, self.seq));
        &self.frame
    }
}
