//! Synthetic AWS mirror traffic: a reproducible mix (IPv4/IPv6, TCP/UDP/ICMP,
//! both directions) from several mirror sources and VNIs. Every packet
//! carries a tag `MLLT` + run id + sequence number in its payload so that the
//! lake can be checked packet by packet.

use mirrorlake_wire::{FrameRepr, TransportRepr, aws_source_port, emit_vxlan_payload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Marker at the start of every generated payload.
pub const TAG: &[u8; 4] = b"MLLT";

/// What to generate.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Mirror sources: 127.0.0.`first_source` and up.
    pub sources: u8,
    /// First source's last octet.
    pub first_source: u8,
    /// VNIs: `first_vni` and up.
    pub vnis: u32,
    /// First VNI.
    pub first_vni: u32,
    /// Share of IPv6 inner traffic, 0-100.
    pub ipv6_percent: u32,
    /// Run id carried in each payload.
    pub run_id: u32,
    /// Seed of the generator.
    pub seed: u64,
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
    /// The UDP payload: VXLAN header + inner frame.
    pub datagram: Vec<u8>,
}

/// Builds packet `seq` of the mix (deterministic in `seed` and `seq`).
pub fn generate(mix: &Mix, seq: u64, out: &mut Generated) {
    let mut rng = SmallRng::seed_from_u64(mix.seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let src_idx = (seq % u64::from(mix.sources.max(1))) as u8;
    let eni = Ipv4Addr::new(127, 0, 0, mix.first_source.wrapping_add(src_idx));
    let vni =
        mix.first_vni + (seq / u64::from(mix.sources.max(1)) % u64::from(mix.vnis.max(1))) as u32;
    let peer = Ipv4Addr::new(10, 1, rng.random(), rng.random_range(1..255));
    let egress = rng.random_bool(0.5);
    let (src, dst): (IpAddr, IpAddr) = if rng.random_range(0..100) < mix.ipv6_percent {
        let a = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(src_idx) + 1);
        let b = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, rng.random(), rng.random());
        if egress {
            (a.into(), b.into())
        } else {
            (b.into(), a.into())
        }
    } else if egress {
        (eni.into(), peer.into())
    } else {
        (peer.into(), eni.into())
    };
    let transport = match rng.random_range(0..10) {
        0..=5 => TransportRepr::Tcp {
            src_port: rng.random_range(32768..61000),
            dst_port: [443, 80, 22, 5432][rng.random_range(0..4)],
            seq: rng.random(),
            ack: rng.random(),
            flags: [0x02, 0x12, 0x10, 0x18, 0x11, 0x04][rng.random_range(0..6)],
            window: 502,
        },
        6..=8 => TransportRepr::Udp {
            src_port: rng.random_range(32768..61000),
            dst_port: 53,
        },
        _ => TransportRepr::Icmp {
            icmp_type: if egress { 8 } else { 0 },
            code: 0,
        },
    };
    let size = [64usize, 100, 200, 576, 1200, 1400][rng.random_range(0..6)];
    let mut payload = Vec::with_capacity(size);
    payload.extend_from_slice(TAG);
    payload.extend_from_slice(&mix.run_id.to_be_bytes());
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.resize(size, 0x5a);
    let mut frame = Vec::with_capacity(size + 80);
    let repr = FrameRepr {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        vlans: [None, None],
        src,
        dst,
        ttl: 64,
        transport,
        payload: &payload,
    };
    // Addresses are always of one family here, so emit cannot fail.
    let _ = repr.emit(&mut frame);
    out.datagram.clear();
    emit_vxlan_payload(vni, &frame, &mut out.datagram);
    out.source = eni.into();
    out.vni = vni;
    out.source_port = mirrorlake_wire::decode_ethernet(&frame, None)
        .ok()
        .and_then(|d| d.flow_key())
        .map_or(49152, |k| aws_source_port(&k));
}

/// The run id and sequence number of a generated payload.
#[cfg(test)]
pub fn parse_tag(payload: &[u8]) -> Option<(u32, u64)> {
    if payload.get(..4)? != TAG {
        return None;
    }
    let run = u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((run, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_tagged() {
        let mix = Mix {
            sources: 3,
            first_source: 10,
            vnis: 2,
            first_vni: 100,
            ipv6_percent: 20,
            run_id: 9,
            seed: 1,
        };
        let mut a = Generated {
            source: [0, 0, 0, 0].into(),
            source_port: 0,
            vni: 0,
            datagram: Vec::new(),
        };
        let mut b = a.clone();
        for seq in 0..500 {
            generate(&mix, seq, &mut a);
            generate(&mix, seq, &mut b);
            assert_eq!(a.datagram, b.datagram);
            let d = mirrorlake_wire::decode_vxlan_payload(&a.datagram, Some(a.source))
                .expect("decodes");
            assert_eq!(d.mirror.vni, Some(a.vni));
            assert_eq!(parse_tag(d.payload().expect("payload")), Some((9, seq)));
            assert!((100..102).contains(&a.vni));
        }
    }
}
