//! The named queries' fixture, one copy for both crates' tests
//! (`named_queries.rs` writes it into a lake; the collector's tests include
//! this file by path and write it as a capture for the SQL engines): mirror
//! traffic of ENI 10.0.1.23, VNI 7, on 2024-05-01, the day of the queries'
//! example parameters. A web flow of 10.0.1.23 ending in a reset, an SSH
//! attempt at it, DNS to the VPC resolver and to 8.8.8.8, and unrelated
//! traffic a day later.

use mirrorlake_wire::{FrameRepr, TransportRepr};
use std::net::IpAddr;

/// 2024-05-01T10:00:00Z in microseconds.
pub const T0: i64 = 1_714_557_600_000_000;
const MIN: i64 = 60_000_000;
/// VNI of the mirror session.
pub const VNI: u32 = 7;

/// The mirrored ENI.
pub fn eni() -> IpAddr {
    [10, 0, 1, 23].into()
}

fn tcp(src_port: u16, dst_port: u16, flags: u16) -> TransportRepr {
    TransportRepr::Tcp {
        src_port,
        dst_port,
        seq: 1,
        ack: 1,
        flags,
        window: 500,
    }
}

fn udp(src_port: u16, dst_port: u16) -> TransportRepr {
    TransportRepr::Udp { src_port, dst_port }
}

/// The fixture's packets: arrival time (µs) and the mirrored frame. The
/// first is the web flow's SYN.
pub fn packets() -> Vec<(i64, Vec<u8>)> {
    let (c, s) = ("10.0.1.23", "10.0.2.50");
    [
        (T0, c, s, tcp(40000, 443, 0x02)),
        (T0 + 1000, s, c, tcp(443, 40000, 0x12)),
        (T0 + 2000, c, s, tcp(40000, 443, 0x10)),
        (T0 + 3000, c, s, tcp(40000, 443, 0x18)),
        (T0 + 4000, s, c, tcp(443, 40000, 0x18)),
        (T0 + 60 * MIN, s, c, tcp(443, 40000, 0x04)),
        (T0 + 120 * MIN, "10.0.3.7", c, tcp(50000, 22, 0x02)),
        (T0 + 5 * MIN, c, "10.0.0.2", udp(5353, 53)),
        (T0 + 6 * MIN, c, "8.8.8.8", udp(5354, 53)),
        (T0 + 7 * MIN, c, "8.8.8.8", udp(5354, 53)),
        // 2024-05-02 05:xx: outside every example range.
        (T0 + 19 * 60 * MIN, "10.9.9.9", "10.9.9.8", tcp(1, 22, 0x04)),
    ]
    .into_iter()
    .map(|(at, src, dst, transport)| {
        let mut frame = Vec::new();
        FrameRepr {
            src_mac: [2; 6],
            dst_mac: [4; 6],
            vlans: [None, None],
            src: src.parse().expect("ip"),
            dst: dst.parse().expect("ip"),
            ttl: 64,
            transport,
            payload: b"forensics",
        }
        .emit(&mut frame)
        .expect("emit");
        (at, frame)
    })
    .collect()
}
