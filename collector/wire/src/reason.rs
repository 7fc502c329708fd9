//! The bounded sets of reasons: why a packet was dropped, and what was odd
//! about a packet that was kept.

use std::fmt;

/// Why an input could not become a row. Each has a short stable code used as
/// the `reason` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// Fewer than 8 bytes: no whole VXLAN header.
    #[error("datagram shorter than a VXLAN header")]
    VxlanTooShort,
    /// The VXLAN `I` flag is not set, so there is no VNI.
    #[error("VXLAN I flag not set (no valid VNI)")]
    VxlanNoVni,
    /// The inner frame is shorter than an Ethernet header.
    #[error("inner frame shorter than an Ethernet header")]
    InnerTooShort,
    /// A captured outer frame is not UDP to port 4789.
    #[error("outer frame is not VXLAN (UDP 4789)")]
    OuterNotVxlan,
    /// A captured outer frame is cut or malformed before the VXLAN header.
    #[error("outer frame malformed before the VXLAN header")]
    OuterMalformed,
    /// A capture's link type is not Ethernet.
    #[error("capture link type is not Ethernet")]
    UnsupportedLinkType,
    /// A GENEVE datagram shorter than its header and options.
    #[error("datagram shorter than its GENEVE header and options")]
    GeneveTooShort,
    /// A GENEVE header of another version, or options whose lengths do not fit.
    #[error("GENEVE header malformed (version or option lengths)")]
    GeneveMalformed,
    /// A GENEVE control message, or a payload that is not a mirror session's
    /// VXLAN datagram (IP / UDP 4789 / VXLAN, or Ethernet around them).
    #[error("GENEVE payload is not a mirrored VXLAN datagram")]
    GeneveNotMirror,
}

impl DropReason {
    /// Every reason, in a fixed order (the index is [`DropReason::index`]).
    pub const ALL: [DropReason; 9] = [
        DropReason::VxlanTooShort,
        DropReason::VxlanNoVni,
        DropReason::InnerTooShort,
        DropReason::OuterNotVxlan,
        DropReason::OuterMalformed,
        DropReason::UnsupportedLinkType,
        DropReason::GeneveTooShort,
        DropReason::GeneveMalformed,
        DropReason::GeneveNotMirror,
    ];

    /// Short stable code for metric labels and summaries.
    pub fn code(self) -> &'static str {
        match self {
            DropReason::VxlanTooShort => "vxlan_too_short",
            DropReason::VxlanNoVni => "vxlan_no_vni",
            DropReason::InnerTooShort => "inner_too_short",
            DropReason::OuterNotVxlan => "outer_not_vxlan",
            DropReason::OuterMalformed => "outer_malformed",
            DropReason::UnsupportedLinkType => "unsupported_link_type",
            DropReason::GeneveTooShort => "geneve_too_short",
            DropReason::GeneveMalformed => "geneve_malformed",
            DropReason::GeneveNotMirror => "geneve_not_mirror",
        }
    }

    /// Position in [`DropReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Something odd about a packet that was nevertheless kept as a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Anomaly {
    /// Reserved VXLAN bits were set (tolerated).
    VxlanReservedBits = 0,
    /// The copy is shorter than the original packet (AWS packet-length option,
    /// MTU, or a capture snap length).
    Truncated,
    /// A VLAN tag was cut.
    VlanTruncated,
    /// More VLAN tags than are decoded (two); the rest is left undecoded.
    VlanTooDeep,
    /// The IP header was cut.
    IpTruncated,
    /// The IP header is invalid (bad version, IHL, or length fields).
    IpMalformed,
    /// An IPv6 extension header is cut or invalid (or they loop too deep).
    Ipv6ExtMalformed,
    /// The transport header was cut; the fields that fit were kept.
    L4Truncated,
}

impl Anomaly {
    /// Every anomaly, in bit order.
    pub const ALL: [Anomaly; 8] = [
        Anomaly::VxlanReservedBits,
        Anomaly::Truncated,
        Anomaly::VlanTruncated,
        Anomaly::VlanTooDeep,
        Anomaly::IpTruncated,
        Anomaly::IpMalformed,
        Anomaly::Ipv6ExtMalformed,
        Anomaly::L4Truncated,
    ];

    /// Short stable code for metric labels and the `anomalies` column.
    pub fn code(self) -> &'static str {
        match self {
            Anomaly::VxlanReservedBits => "vxlan_reserved_bits",
            Anomaly::Truncated => "truncated",
            Anomaly::VlanTruncated => "vlan_truncated",
            Anomaly::VlanTooDeep => "vlan_too_deep",
            Anomaly::IpTruncated => "ip_truncated",
            Anomaly::IpMalformed => "ip_malformed",
            Anomaly::Ipv6ExtMalformed => "ipv6_ext_malformed",
            Anomaly::L4Truncated => "l4_truncated",
        }
    }

    /// Position in [`Anomaly::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A set of [`Anomaly`] values, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Anomalies(u16);

impl Anomalies {
    /// Adds `a` to the set.
    pub fn insert(&mut self, a: Anomaly) {
        self.0 |= 1 << a as u16;
    }

    /// Whether `a` is in the set.
    pub fn contains(self, a: Anomaly) -> bool {
        self.0 & (1 << a as u16) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The anomalies in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl fmt::Display for Anomalies {
    /// Comma-separated codes, as stored in the `anomalies` column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(a.code())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_match_all_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, a) in Anomaly::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
        }
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut codes: Vec<&str> = DropReason::ALL.iter().map(|r| r.code()).collect();
        codes.extend(Anomaly::ALL.iter().map(|a| a.code()));
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert!(codes.iter().all(|c| {
            c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
    }

    #[test]
    fn set_displays_codes_in_order() {
        let mut s = Anomalies::default();
        assert!(s.is_empty());
        s.insert(Anomaly::L4Truncated);
        s.insert(Anomaly::Truncated);
        assert_eq!(s.to_string(), "truncated,l4_truncated");
    }
}
