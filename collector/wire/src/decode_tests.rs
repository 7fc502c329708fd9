//! Byte-fixture and property tests of the decoder.

use crate::*;
use proptest::prelude::*;
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn frame(repr: &FrameRepr<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    repr.emit(&mut out).expect("emit");
    out
}

fn tcp_repr<'p>(payload: &'p [u8]) -> FrameRepr<'p> {
    FrameRepr {
        src_mac: [2, 0, 0, 0, 0, 0xa],
        dst_mac: [2, 0, 0, 0, 0, 0xb],
        vlans: [None, None],
        src: ip("10.0.3.7"),
        dst: ip("10.0.9.9"),
        ttl: 63,
        transport: TransportRepr::Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: 0xdead_beef,
            ack: 7,
            flags: 0x18,
            window: 512,
        },
        payload,
    }
}

#[test]
fn vxlan_ipv4_tcp_all_fields() {
    let inner = frame(&tcp_repr(b"hello"));
    let mut dgram = Vec::new();
    emit_vxlan_payload(1234, &inner, &mut dgram);
    let d = decode_vxlan_payload(&dgram, Some(ip("10.0.3.7"))).expect("decodes");
    assert_eq!(d.mirror.vni, Some(1234));
    assert_eq!(d.frame, &inner[..]);
    assert_eq!(d.ether_type, 0x0800);
    assert_eq!(d.ip_version, Some(4));
    assert_eq!(
        (d.src_ip, d.dst_ip),
        (Some(ip("10.0.3.7")), Some(ip("10.0.9.9")))
    );
    assert_eq!((d.protocol, d.ttl), (Some(6), Some(63)));
    assert_eq!((d.src_port, d.dst_port), (Some(40000), Some(443)));
    assert_eq!(d.tcp_flags, Some(0x18));
    assert_eq!(
        (d.tcp_seq, d.tcp_ack, d.tcp_window),
        (Some(0xdead_beef), Some(7), Some(512))
    );
    assert_eq!(d.payload(), Some(&b"hello"[..]));
    assert_eq!(d.wire_len, d.cap_len());
    assert!(!d.truncated());
    assert!(d.anomalies.is_empty());
    assert_eq!(d.direction(), Direction::Egress);
    assert!(d.community_id().is_some());
}

/// IPv6 UDP (DNS) in two 802.1Q tags.
fn qinq_udp6_repr() -> FrameRepr<'static> {
    FrameRepr {
        vlans: [Some(100), Some(200)],
        src: ip("2001:db8::1"),
        dst: ip("2001:db8::2"),
        transport: TransportRepr::Udp {
            src_port: 53,
            dst_port: 5353,
        },
        ..tcp_repr(b"dns")
    }
}

#[test]
fn qinq_ipv6_udp() {
    let repr = qinq_udp6_repr();
    let f = frame(&repr);
    let d = decode_ethernet(&f, None).expect("decodes");
    assert_eq!((d.vlan_outer, d.vlan_inner), (Some(100), Some(200)));
    assert_eq!(d.ether_type, 0x86dd);
    assert_eq!(d.ip_version, Some(6));
    assert_eq!(
        (d.src_port, d.dst_port, d.protocol),
        (Some(53), Some(5353), Some(17))
    );
    assert_eq!(d.direction(), Direction::Unknown);
    assert_eq!(FrameRepr::from_decoded(&d), Some(repr));
}

#[test]
fn three_vlan_tags_are_flagged_not_dropped() {
    let mut f = vec![0u8; 12];
    for _ in 0..3 {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let d = decode_ethernet(&f, None).expect("kept");
    assert!(d.anomalies.contains(Anomaly::VlanTooDeep));
    assert_eq!(d.ether_type, 0x8100);
}

#[test]
fn truncated_copy_keeps_prefix_and_original_length() {
    let payload = vec![0xab; 1000];
    let full = frame(&tcp_repr(&payload));
    // Like the AWS packet-length option: keep the first 40 bytes.
    let cut = &full[..40];
    let d = decode_ethernet(cut, None).expect("kept");
    assert_eq!(d.cap_len(), 40);
    assert_eq!(
        d.wire_len as usize,
        full.len(),
        "original length from IP header"
    );
    assert!(d.truncated());
    assert!(d.anomalies.contains(Anomaly::Truncated));
    assert!(d.anomalies.contains(Anomaly::L4Truncated));
    assert_eq!((d.src_port, d.dst_port), (Some(40000), Some(443)));
    assert_eq!(d.tcp_flags, None);
    // Cut inside the IP header.
    let d = decode_ethernet(&full[..20], None).expect("kept");
    assert!(d.anomalies.contains(Anomaly::IpTruncated));
    assert_eq!(d.src_ip, None);
}

#[test]
fn capture_original_length_counts() {
    let full = frame(&tcp_repr(b"x"));
    let d = decode_ethernet(&full, Some(full.len() as u32 + 100)).expect("kept");
    assert_eq!(d.wire_len as usize, full.len() + 100);
    assert!(d.truncated());
    // A record's original length is the truth even when the IP header claims
    // more (a malformed packet as it was on the wire): export gives it back.
    let cut = &full[..full.len() - 1];
    let d = decode_ethernet(cut, Some(cut.len() as u32)).expect("kept");
    assert_eq!(d.wire_len as usize, cut.len());
    assert!(!d.truncated());
    // Without it, the IP header's length is the estimate.
    let d = decode_ethernet(cut, None).expect("kept");
    assert_eq!(d.wire_len as usize, full.len());
}

fn ipv4_fragment(offset_units: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + payload.len()) as u16;
    let frag = (u16::from(more) << 13) | offset_units;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0x12, 0x34]);
    f.extend_from_slice(&frag.to_be_bytes());
    f.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn ipv4_fragments_ports_only_from_first() {
    let udp = [
        0x30, 0x39, 0x00, 0x35, 0x00, 0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    let first = ipv4_fragment(0, true, &udp);
    let d = decode_ethernet(&first, None).expect("kept");
    assert_eq!(
        d.fragment,
        Some(Fragment {
            offset: 0,
            more: true,
            id: 0x1234
        })
    );
    assert_eq!((d.src_port, d.dst_port), (Some(12345), Some(53)));
    assert!(d.community_id().is_some());

    let second = ipv4_fragment(2, false, &[9; 16]);
    let d = decode_ethernet(&second, None).expect("kept");
    assert_eq!(
        d.fragment,
        Some(Fragment {
            offset: 16,
            more: false,
            id: 0x1234
        })
    );
    assert_eq!((d.src_port, d.dst_port), (None, None));
    assert_eq!(d.protocol, Some(17));
    assert_eq!(
        d.community_id(),
        None,
        "no 3-tuple hash for a port protocol"
    );
}

#[test]
fn ipv6_extension_headers_and_fragment() {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x86, 0xdd]);
    // hop-by-hop (8) + destination options (8) + fragment (8) + UDP (8 + 4)
    let plen: u16 = 8 + 8 + 8 + 12;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[0, 9]); // next: hop-by-hop, hop limit 9
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // HBH -> dest opts, PadN
    f.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // dest opts -> fragment
    f.extend_from_slice(&[17, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe]); // frag offset 0, M=1
    f.extend_from_slice(&[0x04, 0xd2, 0x16, 0x2e, 0, 12, 0, 0, b'a', b'b', b'c', b'd']);
    let d = decode_ethernet(&f, None).expect("kept");
    assert_eq!(d.ip_version, Some(6));
    assert_eq!(d.protocol, Some(17));
    assert_eq!(d.ttl, Some(9));
    assert_eq!(
        d.fragment,
        Some(Fragment {
            offset: 0,
            more: true,
            id: 0xcafe_babe
        })
    );
    assert_eq!((d.src_port, d.dst_port), (Some(1234), Some(5678)));
    assert_eq!(d.payload(), Some(&b"abcd"[..]));
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
}

#[test]
fn icmp_echo_and_community_id_pairs_directions() {
    let req = FrameRepr {
        transport: TransportRepr::Icmp {
            icmp_type: 8,
            code: 0,
        },
        ..tcp_repr(b"ping")
    };
    let rep = FrameRepr {
        src: req.dst,
        dst: req.src,
        transport: TransportRepr::Icmp {
            icmp_type: 0,
            code: 0,
        },
        ..req
    };
    let (a, b) = (frame(&req), frame(&rep));
    let (a, b) = (
        decode_ethernet(&a, None).expect("a"),
        decode_ethernet(&b, None).expect("b"),
    );
    assert_eq!((a.icmp_type, a.icmp_code), (Some(8), Some(0)));
    assert_eq!(a.community_id(), b.community_id());
}

#[test]
fn other_ether_types_are_rows() {
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let d = decode_ethernet(&arp, None).expect("kept");
    assert_eq!(d.ether_type, 0x0806);
    assert_eq!(d.ip_version, None);
    assert!(d.anomalies.is_empty());
}

#[test]
fn bad_ip_header_is_kept_and_flagged() {
    let mut f = frame(&tcp_repr(b""));
    f[14] = 0x43; // IHL 3 < 5
    let d = decode_ethernet(&f, None).expect("kept");
    assert!(d.anomalies.contains(Anomaly::IpMalformed));
    // IPv6 version nibble behind an IPv4 ether type.
    let mut f = frame(&tcp_repr(b""));
    f[14] = 0x65;
    let d = decode_ethernet(&f, None).expect("kept");
    assert!(!d.anomalies.is_empty());
}

#[test]
fn bad_checksums_are_not_a_reason() {
    let mut f = frame(&tcp_repr(b"abc"));
    f[24] ^= 0xff; // IPv4 header checksum
    f[14 + 20 + 16] ^= 0xff; // TCP checksum
    let d = decode_ethernet(&f, None).expect("kept");
    assert!(d.anomalies.is_empty());
    assert_eq!(d.dst_port, Some(443));
}

#[test]
fn drop_reasons() {
    assert_eq!(
        decode_vxlan_payload(&[8, 0, 0], None),
        Err(DropReason::VxlanTooShort)
    );
    assert_eq!(
        decode_vxlan_payload(
            &[
                0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0
            ],
            None
        ),
        Err(DropReason::VxlanNoVni)
    );
    assert_eq!(
        decode_vxlan_payload(&[8, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3], None),
        Err(DropReason::InnerTooShort)
    );
    let plain = frame(&tcp_repr(b"x"));
    assert_eq!(
        decode_outer_frame(&plain, None),
        Err(DropReason::OuterNotVxlan)
    );
    assert_eq!(
        decode_outer_frame(&plain[..10], None),
        Err(DropReason::OuterMalformed)
    );
}

#[test]
fn reserved_vxlan_bits_are_tolerated_and_counted() {
    let inner = frame(&tcp_repr(b"x"));
    let mut dgram = Vec::new();
    emit_vxlan_payload(5, &inner, &mut dgram);
    dgram[0] |= 0x80;
    let r = decode_vxlan_payload(&dgram, None);
    let mut stats = DecodeStats::default();
    stats.record(&r);
    assert!(
        r.expect("kept")
            .anomalies
            .contains(Anomaly::VxlanReservedBits)
    );
    assert_eq!(stats.anomalies[Anomaly::VxlanReservedBits.index()], 1);
}

#[test]
fn outer_frame_and_capture_auto_detection() {
    let inner = frame(&tcp_repr(b"payload"));
    let mut outer = Vec::new();
    emit_outer_frame(
        ip("10.0.3.7"),
        ip("10.0.0.100"),
        50000,
        77,
        &inner,
        &mut outer,
    )
    .expect("emit");
    for input in [Input::OuterFrame, Input::Capture] {
        let d = decode(input, &outer, None).expect("decodes");
        assert_eq!(
            d.mirror,
            Mirror {
                source: Some(ip("10.0.3.7")),
                vni: Some(77),
                gwlb_endpoint: None,
            }
        );
        assert_eq!(d.frame, &inner[..]);
        assert_eq!(d.direction(), Direction::Egress);
    }
    // A snap-length cut outer frame: the inner original length follows.
    let cut = &outer[..outer.len() - 3];
    let d = decode(Input::Capture, cut, Some(outer.len() as u32)).expect("decodes");
    assert_eq!(d.wire_len as usize, inner.len());
    assert!(d.truncated());
    // A plain frame in a capture is decoded as such.
    let d = decode(Input::Capture, &inner, None).expect("plain");
    assert_eq!(d.mirror, Mirror::default());
    assert_eq!(d.dst_port, Some(443));
}

fn arb_ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
    ]
}

fn arb_transport() -> impl Strategy<Value = TransportRepr> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            0u16..0x200,
            any::<u16>()
        )
            .prop_map(
                |(src_port, dst_port, seq, ack, flags, window)| TransportRepr::Tcp {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    window
                }
            ),
        (any::<u16>(), any::<u16>())
            .prop_map(|(src_port, dst_port)| TransportRepr::Udp { src_port, dst_port }),
        (any::<u8>(), any::<u8>())
            .prop_map(|(icmp_type, code)| TransportRepr::Icmp { icmp_type, code }),
    ]
}

proptest! {
    #[test]
    fn parse_emit_round_trip(
        (src, dst) in arb_ip_pair(),
        transport in arb_transport(),
        vlans in prop_oneof![Just([None, None]), (0u16..4096).prop_map(|v| [Some(v), None]), (0u16..4096, 0u16..4096).prop_map(|(a, b)| [Some(a), Some(b)])],
        ttl: u8,
        macs: ([u8; 6], [u8; 6]),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        vni in 0u32..(1 << 24),
    ) {
        let repr = FrameRepr { src_mac: macs.0, dst_mac: macs.1, vlans, src, dst, ttl, transport, payload: &payload };
        let inner = frame(&repr);
        let mut dgram = Vec::new();
        emit_vxlan_payload(vni, &inner, &mut dgram);
        let d = decode_vxlan_payload(&dgram, None).expect("decodes");
        prop_assert_eq!(d.mirror.vni, Some(vni));
        prop_assert!(d.anomalies.is_empty());
        prop_assert_eq!(FrameRepr::from_decoded(&d), Some(repr));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for input in [Input::VxlanPayload, Input::OuterFrame, Input::Ethernet, Input::Capture] {
            if let Ok(d) = decode(input, &bytes, None) {
                let _ = d.community_id();
                let _ = d.payload();
                prop_assert!(d.wire_len >= d.cap_len());
            }
        }
    }

    #[test]
    fn every_prefix_of_a_valid_frame_decodes_or_is_counted(
        transport in arb_transport(),
        (src, dst) in arb_ip_pair(),
        cut in 0usize..120,
    ) {
        let repr = FrameRepr { src_mac: [0; 6], dst_mac: [0; 6], vlans: [Some(1), None], src, dst, ttl: 1, transport, payload: &[7; 64] };
        let f = frame(&repr);
        let cut = cut.min(f.len());
        match decode_ethernet(&f[..cut], None) {
            Ok(d) => {
                prop_assert_eq!(d.cap_len() as usize, cut);
                if cut < f.len() && d.ip_version.is_some() {
                    prop_assert_eq!(d.wire_len as usize, f.len());
                    prop_assert!(d.anomalies.contains(Anomaly::Truncated));
                }
            }
            Err(r) => prop_assert_eq!(r, DropReason::InnerTooShort),
        }
    }
}

/// The fuzz corpus folder. `cargo test` sets CARGO_MANIFEST_DIR when it runs
/// the test too: prefer that, so a test binary reused from another checkout
/// sharing the target directory still reads this checkout's files.
fn corpus_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("fuzz/corpus/decode")
}

/// The committed cargo-fuzz seed corpus (`fuzz/corpus/decode/seed-*`) is made
/// from these fixtures; `MIRRORLAKE_BLESS=1` rewrites it.
#[test]
fn fuzz_seed_corpus_is_committed() {
    let dir = corpus_dir();
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let tcp = frame(&tcp_repr(b"seed"));
    let mut v = Vec::new();
    emit_vxlan_payload(42, &tcp, &mut v);
    seeds.push(("vxlan-ipv4-tcp", v.clone()));
    seeds.push(("vxlan-truncated", v[..50].to_vec()));
    let udp6 = frame(&qinq_udp6_repr());
    let mut v = Vec::new();
    emit_vxlan_payload(7, &udp6, &mut v);
    seeds.push(("vxlan-qinq-ipv6-udp", v));
    let mut outer = Vec::new();
    emit_outer_frame(ip("10.0.3.7"), ip("10.0.0.1"), 50000, 9, &tcp, &mut outer).expect("emit");
    seeds.push(("outer-frame", outer));
    seeds.push(("ipv4-fragment", ipv4_fragment(2, false, &[1; 16])));
    if std::env::var_os("MIRRORLAKE_BLESS").is_some() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
        }
    }
    for (name, bytes) in &seeds {
        let have = std::fs::read(dir.join(format!("seed-{name}"))).unwrap_or_default();
        assert_eq!(
            &have, bytes,
            "seed {name} drifted: MIRRORLAKE_BLESS=1 cargo test"
        );
    }
}

#[test]
fn cut_ipv6_extension_header_still_names_the_protocol() {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 0, 1]); // next: hop-by-hop
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16]);
    f.extend_from_slice(&[58, 0, 5, 2, 0, 0]); // hop-by-hop (router alert) cut after 6 of 8 bytes
    let d = decode_ethernet(&f, None).expect("kept");
    assert!(d.anomalies.contains(Anomaly::Ipv6ExtMalformed));
    assert_eq!(d.protocol, Some(58));
    assert!(d.truncated());
    assert_eq!(d.icmp_type, None, "nothing past the cut header is read");
}

/// Fuzzer finding (kept as a seed): a cut IPv6 extension header made
/// etherparse's extension iterator read past the slice.
#[test]
fn regression_ipv6_extension_iterator() {
    let dir = corpus_dir();
    let bytes =
        std::fs::read(dir.join("seed-regression-ipv6-ext-iter")).expect("committed regression");
    for input in [
        Input::VxlanPayload,
        Input::OuterFrame,
        Input::Ethernet,
        Input::Capture,
    ] {
        let _ = decode(input, &bytes, None);
    }
    let d = decode(Input::VxlanPayload, &bytes, None).expect("kept");
    assert_eq!(d.ip_version, Some(6));
}

/// The strict fast path either declines or gives exactly what the lax
/// etherparse path gives: every input shape, with and without an original
/// length, the whole result (every field, the anomalies, the drop reason)
/// and the counters it adds to. Returns whether the fast path took the
/// bytes as a plain Ethernet frame.
fn paths_agree(bytes: &[u8], orig_len: Option<u32>) -> Result<bool, TestCaseError> {
    use super::{OrigLen, decode_ethernet_lax, decode_vxlan, decode_with};
    for input in [
        Input::VxlanPayload,
        Input::OuterFrame,
        Input::Ethernet,
        Input::Capture,
        Input::GenevePayload,
    ] {
        let fast = decode_with::<true>(input, bytes, orig_len);
        let lax = decode_with::<false>(input, bytes, orig_len);
        prop_assert_eq!(&fast, &lax, "{:?}", input);
        let (mut a, mut b) = (DecodeStats::default(), DecodeStats::default());
        a.record(&fast);
        b.record(&lax);
        prop_assert_eq!(a, b);
    }
    let source = Some(ip("10.0.3.7"));
    prop_assert_eq!(
        decode_vxlan::<true>(bytes, source, orig_len),
        decode_vxlan::<false>(bytes, source, orig_len)
    );
    let mut taken = false;
    for how in [OrigLen::Exact, OrigLen::AtLeast] {
        if let Some(d) = crate::strict::decode_ethernet(bytes, orig_len, how) {
            prop_assert_eq!(Ok(d), decode_ethernet_lax(bytes, orig_len, how));
            taken = true;
        }
    }
    Ok(taken)
}

fn arb_vlans() -> impl Strategy<Value = [Option<u16>; 2]> {
    prop_oneof![
        Just([None, None]),
        (0u16..4096).prop_map(|v| [Some(v), None]),
        (0u16..4096, 0u16..4096).prop_map(|(a, b)| [Some(a), Some(b)]),
    ]
}

fn arb_orig_len() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        Just(None),
        (0u32..3000).prop_map(Some),
        Just(Some(u32::MAX))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Emitted frames (plain, as a VXLAN payload and as an outer frame),
    /// then cut, then with a few bytes of the headers changed: the cut and
    /// changed ones walk every check of the fast path.
    #[test]
    fn strict_path_agrees_with_lax_path(
        (src, dst) in arb_ip_pair(),
        transport in arb_transport(),
        vlans in arb_vlans(),
        tpid in prop_oneof![Just(0x8100u16), Just(0x88a8), Just(0x9100)],
        ttl: u8,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        cut in proptest::option::of(0usize..400),
        edits in proptest::collection::vec((0usize..80, any::<u8>()), 0..3),
        orig_len in arb_orig_len(),
    ) {
        let repr = FrameRepr { src_mac: [2; 6], dst_mac: [3; 6], vlans, src, dst, ttl, transport, payload: &payload };
        let mut f = frame(&repr);
        if vlans[0].is_some() {
            f[12..14].copy_from_slice(&tpid.to_be_bytes());
        }
        // A well-formed frame is the fast path's.
        prop_assert!(paths_agree(&f, None)?, "fast path declined a well-formed frame");
        if let Some(cut) = cut {
            f.truncate(cut);
        }
        for &(at, byte) in &edits {
            if let Some(b) = f.get_mut(at) {
                *b = byte;
            }
        }
        paths_agree(&f, orig_len)?;
        let mut dgram = Vec::new();
        emit_vxlan_payload(9, &f, &mut dgram);
        paths_agree(&dgram, orig_len)?;
        let mut outer = Vec::new();
        emit_outer_frame(ip("10.0.3.7"), ip("10.0.0.1"), 50000, 9, &f, &mut outer).expect("emit");
        paths_agree(&outer, orig_len)?;
        for &(at, byte) in &edits {
            if let Some(b) = outer.get_mut(at) {
                *b = byte;
            }
        }
        paths_agree(&outer, orig_len)?;
    }

    /// Random bytes behind a likely Ether type and IP first byte, and bytes
    /// with no structure at all.
    #[test]
    fn strict_path_agrees_on_random_bytes(
        ether_type in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100), Just(0x88a8), any::<u16>()],
        first in prop_oneof![Just(0x45u8), Just(0x60), Just(0x46), any::<u8>()],
        rest in proptest::collection::vec(any::<u8>(), 0..120),
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        orig_len in arb_orig_len(),
    ) {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.push(first);
        f.extend_from_slice(&rest);
        paths_agree(&f, orig_len)?;
        paths_agree(&raw, orig_len)?;
    }
}

/// The mirror session's VXLAN datagram as a GWLB endpoint receives it (IP /
/// UDP 4789 / VXLAN / `inner`, from the mirrored ENI), wrapped as the GWLB
/// delivers it to a target: the UDP 6081 payload, and the whole outer frame.
fn gwlb_wrapped(eni: IpAddr, inner: &[u8], aws: &GwlbOptions) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut vxlan_frame = Vec::new();
    let endpoint = if eni.is_ipv4() {
        ip("10.0.9.9")
    } else {
        ip("fd00::9:9")
    };
    emit_outer_frame(eni, endpoint, 50000, 77, inner, &mut vxlan_frame).expect("emit");
    let ip_packet = &vxlan_frame[14..];
    let protocol = if eni.is_ipv4() { 0x0800 } else { 0x86dd };
    let mut payload = Vec::new();
    geneve::emit_geneve_payload(aws, protocol, ip_packet, &mut payload);
    let mut outer = Vec::new();
    FrameRepr {
        src_mac: [2; 6],
        dst_mac: [3; 6],
        vlans: [None, None],
        src: ip("192.168.7.1"),
        dst: ip("192.168.7.2"),
        ttl: 64,
        transport: TransportRepr::Udp {
            src_port: 40000,
            dst_port: GENEVE_PORT,
        },
        payload: &payload,
    }
    .emit(&mut outer)
    .expect("emit");
    (vxlan_frame, payload, outer)
}

#[test]
fn geneve_from_a_gwlb_decodes_as_the_vxlan_it_carries() {
    let aws = GwlbOptions {
        endpoint_id: Some(0x0123_4567_89ab_cdef),
        attachment_id: Some(1),
        flow_cookie: Some(2),
    };
    let inner = frame(&FrameRepr {
        src_mac: [2; 6],
        dst_mac: [4; 6],
        vlans: [None, None],
        src: ip("10.0.3.7"),
        dst: ip("93.184.216.34"),
        ttl: 63,
        transport: TransportRepr::Tcp {
            src_port: 40000,
            dst_port: 443,
            seq: 1,
            ack: 2,
            flags: 0x18,
            window: 501,
        },
        payload: b"hello",
    });
    for eni in [ip("10.0.3.7"), ip("fd00::3:7")] {
        let (vxlan_frame, payload, outer) = gwlb_wrapped(eni, &inner, &aws);
        let plain = decode(Input::OuterFrame, &vxlan_frame, None).expect("vxlan");
        let mut want = plain.clone();
        want.mirror.gwlb_endpoint = aws.endpoint_id;
        assert_eq!(decode_geneve_payload(&payload), Ok(want.clone()));
        assert_eq!(
            decode(Input::GenevePayload, &payload, None),
            Ok(want.clone())
        );
        for input in [Input::OuterFrame, Input::Capture] {
            assert_eq!(decode(input, &outer, None), Ok(want.clone()));
        }
        assert_eq!(want.mirror.source, Some(eni));
        assert_eq!(want.mirror.vni, Some(77));
        // A snap-length cut outer frame: the inner original length follows.
        let cut = &outer[..outer.len() - 3];
        let d = decode(Input::Capture, cut, Some(outer.len() as u32)).expect("cut");
        assert_eq!(d.wire_len as usize, inner.len());
        assert!(d.truncated());
        // GENEVE around an Ethernet frame (protocol type 0x6558) too.
        let mut eth = Vec::new();
        geneve::emit_geneve_payload(&aws, geneve::PROTOCOL_ETHERNET, &vxlan_frame, &mut eth);
        assert_eq!(decode(Input::GenevePayload, &eth, None), Ok(want));
    }
}

#[test]
fn geneve_that_is_not_a_mirror_is_dropped_by_reason_or_kept_plain() {
    let aws = GwlbOptions::default();
    let inner = frame(&FrameRepr {
        src_mac: [2; 6],
        dst_mac: [4; 6],
        vlans: [None, None],
        src: ip("10.0.3.7"),
        dst: ip("10.0.3.8"),
        ttl: 63,
        transport: TransportRepr::Udp {
            src_port: 1,
            dst_port: 53,
        },
        payload: b"q",
    });
    let (_, payload, outer) = gwlb_wrapped(ip("10.0.3.7"), &inner, &aws);
    // The inner packet is not UDP to 4789: not a mirror.
    let mut not_vxlan = payload.clone();
    let udp_dst = 8 + 20 + 2;
    not_vxlan[udp_dst..udp_dst + 2].copy_from_slice(&53u16.to_be_bytes());
    assert_eq!(
        decode(Input::GenevePayload, &not_vxlan, None),
        Err(DropReason::GeneveNotMirror)
    );
    // An unknown protocol type, a cut header, a bad version.
    let mut other = payload.clone();
    other[2..4].copy_from_slice(&0x88ccu16.to_be_bytes());
    assert_eq!(
        decode(Input::GenevePayload, &other, None),
        Err(DropReason::GeneveNotMirror)
    );
    assert_eq!(
        decode(Input::GenevePayload, &payload[..5], None),
        Err(DropReason::GeneveTooShort)
    );
    let mut v1 = payload.clone();
    v1[0] |= 0x80;
    assert_eq!(
        decode(Input::GenevePayload, &v1, None),
        Err(DropReason::GeneveMalformed)
    );
    // An inner IP header cut short.
    assert_eq!(
        decode(Input::GenevePayload, &payload[..8 + 10], None),
        Err(DropReason::GeneveMalformed)
    );
    // In a capture, GENEVE that is not a mirror is kept as the plain frame.
    let mut plain_geneve = outer.clone();
    let at = outer.len() - payload.len() + udp_dst;
    plain_geneve[at..at + 2].copy_from_slice(&53u16.to_be_bytes());
    let d = decode(Input::Capture, &plain_geneve, None).expect("plain");
    assert_eq!(d.mirror, Mirror::default());
    assert_eq!(d.dst_port, Some(GENEVE_PORT));
    assert_eq!(
        decode(Input::OuterFrame, &plain_geneve, None),
        Err(DropReason::GeneveNotMirror)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any frame a mirror session carries decodes the same through a GWLB
    /// as through an NLB, but for the endpoint id; and GENEVE payloads cut or
    /// changed anywhere decode the same on both paths, without a panic.
    #[test]
    fn geneve_wrapping_changes_nothing_but_the_endpoint(
        (src, dst) in arb_ip_pair(),
        transport in arb_transport(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        eni_v6: bool,
        endpoint in proptest::option::of(any::<u64>()),
        cookie in proptest::option::of(any::<u32>()),
        cut in proptest::option::of(0usize..300),
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 0..4),
    ) {
        let repr = FrameRepr { src_mac: [2; 6], dst_mac: [3; 6], vlans: [None, None], src, dst, ttl: 9, transport, payload: &payload };
        let inner = frame(&repr);
        let eni = if eni_v6 { ip("fd00::3:7") } else { ip("10.0.3.7") };
        let aws = GwlbOptions { endpoint_id: endpoint, attachment_id: None, flow_cookie: cookie };
        let (vxlan_frame, mut geneve_payload, mut outer) = gwlb_wrapped(eni, &inner, &aws);
        let mut want = decode(Input::OuterFrame, &vxlan_frame, None).expect("vxlan");
        want.mirror.gwlb_endpoint = endpoint;
        prop_assert_eq!(decode(Input::GenevePayload, &geneve_payload, None), Ok(want.clone()));
        prop_assert_eq!(decode(Input::Capture, &outer, None), Ok(want));
        if let Some(cut) = cut {
            geneve_payload.truncate(cut);
            outer.truncate(cut);
        }
        for &(at, byte) in &edits {
            if let Some(b) = geneve_payload.get_mut(at) {
                *b = byte;
            }
            if let Some(b) = outer.get_mut(at) {
                *b = byte;
            }
        }
        paths_agree(&geneve_payload, None)?;
        paths_agree(&outer, None)?;
    }
}
