//! Sans-IO decoding of AWS VPC Traffic Mirroring packets.
//!
//! This crate turns bytes into [`Decoded`] values and never does I/O, never
//! allocates per packet and never panics on any input (it is fuzzed). It knows
//! these input shapes ([`Input`]):
//!
//! * the payload of a UDP datagram received on port 4789 (what a collector
//!   reads from its socket): a VXLAN header followed by the inner frame;
//! * a whole captured outer frame (Ethernet / IPv4 or IPv6 / UDP 4789 / VXLAN),
//!   as `tcpdump` on a mirror target records it;
//! * a plain Ethernet frame with no tunnel (an ordinary capture);
//! * the payload of a UDP datagram received on port 6081 from a Gateway Load
//!   Balancer: GENEVE around the mirror session's VXLAN datagram
//!   ([`geneve`]); a captured outer frame may be GENEVE too.
//!
//! The inner Ethernet frame is decoded laxly: a truncated copy keeps what could
//! be parsed and says so ([`Anomalies`]). Well-formed frames (0-2 VLAN tags,
//! IPv4 without options or fragments, IPv6 without extension headers, a whole
//! TCP/UDP/SCTP/ICMP header) take a strict hand-written fast path first; it
//! gives the same result as the lax path or declines. Packets that cannot
//! become a row at all are reported as a [`DropReason`]. Both sets are bounded
//! and carry a short stable code for metric labels.
#![forbid(unsafe_code)]

mod community_id;
mod decode;
mod direction;
mod emit;
pub mod geneve;
mod reason;
mod stats;
mod strict;
mod vxlan;

pub use community_id::{CommunityId, FlowKey};
pub use decode::{
    Decoded, Fragment, Input, Mirror, decode, decode_ethernet, decode_geneve_payload,
    decode_lax_only, decode_outer_frame, decode_vxlan_payload, decode_vxlan_payload_lax_only,
};
pub use direction::Direction;
pub use emit::{
    EmitError, FrameRepr, TransportRepr, aws_source_port, emit_outer_frame, emit_vxlan_payload,
};
pub use geneve::{GENEVE_PORT, GwlbOptions};
pub use reason::{Anomalies, Anomaly, DropReason};
pub use stats::DecodeStats;
pub use vxlan::{VXLAN_PORT, VxlanHeader, VxlanPacket};
