//! Direction of a mirrored packet relative to the mirrored ENI.

use std::net::IpAddr;

/// Whether the packet entered or left the mirrored interface.
///
/// VXLAN carries no direction flag; AWS sets the outer source address to the
/// mirrored ENI's primary private IP, so the direction is inferred from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Inner destination is the mirrored ENI.
    Ingress,
    /// Inner source is the mirrored ENI.
    Egress,
    /// Neither (secondary IPs, IPv6 inner traffic, non-IP frames, plain captures).
    Unknown,
}

impl Direction {
    /// Infers the direction from the outer source (the ENI) and the inner addresses.
    pub fn infer(eni: Option<IpAddr>, src: Option<IpAddr>, dst: Option<IpAddr>) -> Self {
        match eni {
            Some(eni) if dst == Some(eni) => Direction::Ingress,
            Some(eni) if src == Some(eni) => Direction::Egress,
            _ => Direction::Unknown,
        }
    }

    /// The string stored in the `direction` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
            Direction::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_from_outer_source() {
        let eni: IpAddr = [10, 0, 3, 7].into();
        let peer: IpAddr = [10, 0, 9, 9].into();
        assert_eq!(
            Direction::infer(Some(eni), Some(peer), Some(eni)),
            Direction::Ingress
        );
        assert_eq!(
            Direction::infer(Some(eni), Some(eni), Some(peer)),
            Direction::Egress
        );
        assert_eq!(
            Direction::infer(Some(eni), Some(peer), Some(peer)),
            Direction::Unknown
        );
        assert_eq!(
            Direction::infer(None, Some(eni), Some(peer)),
            Direction::Unknown
        );
        assert_eq!(Direction::infer(Some(eni), None, None), Direction::Unknown);
    }
}
