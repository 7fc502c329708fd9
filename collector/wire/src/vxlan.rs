//! VXLAN (RFC 7348) header: a zero-copy view and an owned header value.
//!
//! ```text
//!  0                   1                   2                   3
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```

/// UDP destination port of VXLAN, the port AWS mirrors to.
pub const VXLAN_PORT: u16 = 4789;

/// The `I` flag: the VNI field is valid.
const FLAG_I: u8 = 0x08;

/// Zero-copy view of a VXLAN header followed by its payload.
///
/// Once [`VxlanPacket::new_checked`] succeeds no accessor panics.
#[derive(Debug, Clone, Copy)]
pub struct VxlanPacket<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    pub const FLAGS: usize = 0;
    pub const RESERVED1: core::ops::Range<usize> = 1..4;
    pub const VNI: core::ops::Range<usize> = 4..7;
    pub const RESERVED2: usize = 7;
    pub const PAYLOAD: usize = 8;
}

impl<T: AsRef<[u8]>> VxlanPacket<T> {
    /// Length of the VXLAN header in bytes.
    pub const HEADER_LEN: usize = field::PAYLOAD;

    /// Wraps `buffer` if it holds at least a whole VXLAN header.
    #[inline]
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() >= Self::HEADER_LEN).then_some(Self { buffer })
    }

    /// Flags byte (the `I` flag is 0x08).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Whether the `I` flag (VNI valid) is set.
    #[inline]
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_I != 0
    }

    /// Whether any reserved bit (flags other than `I`, or a reserved field) is set.
    #[inline]
    pub fn reserved_bits_set(&self) -> bool {
        let b = self.buffer.as_ref();
        b[field::FLAGS] & !FLAG_I != 0
            || b[field::RESERVED1].iter().any(|&x| x != 0)
            || b[field::RESERVED2] != 0
    }

    /// The 24-bit VXLAN network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        let v = &self.buffer.as_ref()[field::VNI];
        u32::from_be_bytes([0, v[0], v[1], v[2]])
    }

    /// The encapsulated frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

/// Owned VXLAN header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanHeader {
    /// Flags byte; `0x08` on everything AWS sends.
    pub flags: u8,
    /// 24-bit network identifier (the mirror session's VNI).
    pub vni: u32,
}

impl VxlanHeader {
    /// Length of the header on the wire.
    pub const LEN: usize = 8;

    /// A header as AWS sends it: only the `I` flag set.
    pub fn aws(vni: u32) -> Self {
        Self { flags: FLAG_I, vni }
    }

    /// Parses the header of `packet` (reserved fields are not kept).
    pub fn parse<T: AsRef<[u8]>>(packet: &VxlanPacket<T>) -> Self {
        Self {
            flags: packet.flags(),
            vni: packet.vni(),
        }
    }

    /// Writes the header into the first [`Self::LEN`] bytes of `out`.
    ///
    /// Returns `None` if `out` is shorter than a header. The VNI is masked to
    /// 24 bits.
    pub fn emit(&self, out: &mut [u8]) -> Option<()> {
        let out = out.get_mut(..Self::LEN)?;
        let vni = (self.vni & 0x00ff_ffff).to_be_bytes();
        out.copy_from_slice(&[self.flags, 0, 0, 0, vni[1], vni[2], vni[3], 0]);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aws_header() {
        let bytes = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa];
        let p = VxlanPacket::new_checked(&bytes[..]).expect("long enough");
        assert!(p.vni_valid());
        assert!(!p.reserved_bits_set());
        assert_eq!(p.vni(), 0x123456);
        assert_eq!(p.payload(), &[0xaa]);
    }

    #[test]
    fn reserved_bits_are_seen() {
        for (i, v) in [(0, 0x0c), (1, 1), (3, 0x80), (7, 1)] {
            let mut bytes = [0x08, 0, 0, 0, 0, 0, 1, 0];
            bytes[i] = v;
            let p = VxlanPacket::new_checked(&bytes[..]).expect("long enough");
            assert!(p.reserved_bits_set(), "byte {i}");
        }
    }

    #[test]
    fn short_is_rejected() {
        assert!(VxlanPacket::new_checked(&[0x08u8; 7][..]).is_none());
    }

    #[test]
    fn emit_masks_vni() {
        let mut out = [0xffu8; 8];
        VxlanHeader::aws(0x0100_0001).emit(&mut out).expect("room");
        assert_eq!(out, [0x08, 0, 0, 0, 0, 0, 1, 0]);
        assert!(VxlanHeader::aws(1).emit(&mut [0u8; 7]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn parse_emit_round_trip(vni in 0u32..(1 << 24), flags: u8) {
            let h = VxlanHeader { flags, vni };
            let mut buf = [0u8; 8];
            h.emit(&mut buf).expect("room");
            let p = VxlanPacket::new_checked(&buf[..]).expect("long enough");
            proptest::prop_assert_eq!(VxlanHeader::parse(&p), h);
        }
    }
}
