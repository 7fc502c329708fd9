use super::*;
use arrow::array::{BinaryArray, new_null_array};
use mirrorlake_schema::packet_schema;
use proptest::prelude::*;

/// The fields of a packet row the rollup reads.
#[derive(Debug, Clone)]
struct P {
    ts: i64,
    source: Option<&'static str>,
    vni: Option<i32>,
    src: Option<&'static str>,
    dst: Option<&'static str>,
    sport: Option<i32>,
    dport: Option<i32>,
    proto: Option<i32>,
    flags: Option<i32>,
    len: i32,
    truncated: bool,
    cid: Option<&'static str>,
}

fn tcp(ts: i64, src: &'static str, sport: i32, dst: &'static str, dport: i32, flags: i32) -> P {
    P {
        ts,
        source: Some("10.0.0.2"),
        vni: Some(7),
        src: Some(src),
        dst: Some(dst),
        sport: Some(sport),
        dport: Some(dport),
        proto: Some(6),
        flags: Some(flags),
        len: 100,
        truncated: false,
        cid: Some("1:abc"),
    }
}

fn batch(rows: &[P]) -> RecordBatch {
    let schema = packet_schema();
    let n = rows.len();
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            let strs = |g: &dyn Fn(&P) -> Option<&'static str>| -> ArrayRef {
                Arc::new(rows.iter().map(g).collect::<StringArray>())
            };
            let ints = |g: &dyn Fn(&P) -> Option<i32>| -> ArrayRef {
                Arc::new(rows.iter().map(g).collect::<Int32Array>())
            };
            match f.name().as_str() {
                "ts" => Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|p| p.ts))
                        .with_timezone("UTC"),
                ),
                "mirror_source" => strs(&|p| p.source),
                "vni" => ints(&|p| p.vni),
                "src_ip" => strs(&|p| p.src),
                "dst_ip" => strs(&|p| p.dst),
                "src_port" => ints(&|p| p.sport),
                "dst_port" => ints(&|p| p.dport),
                "protocol" => ints(&|p| p.proto),
                "tcp_flags" => ints(&|p| p.flags),
                "wire_len" | "cap_len" => ints(&|p| Some(p.len)),
                "ether_type" => ints(&|_| Some(0x0800)),
                "truncated" => Arc::new(
                    rows.iter()
                        .map(|p| Some(p.truncated))
                        .collect::<BooleanArray>(),
                ),
                "community_id" => strs(&|p| p.cid),
                "collector_id" => strs(&|_| Some("c")),
                "direction" => strs(&|_| Some("unknown")),
                "frame" => Arc::new(BinaryArray::from_iter_values(rows.iter().map(|_| [0u8; 1]))),
                _ => new_null_array(f.data_type(), n),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("packets batch")
}

/// One flows row as text, for assertions.
fn rows(b: &RecordBatch) -> Vec<String> {
    (0..b.num_rows())
        .map(|i| {
            b.columns()
                .iter()
                .map(|c| {
                    arrow::util::display::ArrayFormatter::try_new(c, &Default::default())
                        .expect("fmt")
                        .value(i)
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn roll(ps: &[P]) -> RecordBatch {
    let mut r = FlowRollup::new();
    r.add(&batch(ps)).expect("add");
    r.finish().expect("finish").expect("rows")
}

#[test]
fn both_directions_make_one_oriented_row() {
    let b = roll(&[
        // The server answers first in this window: orientation still puts the client first.
        tcp(2_000, "10.0.0.2", 443, "10.0.0.1", 40000, 0x12),
        tcp(1_000, "10.0.0.1", 40000, "10.0.0.2", 443, 0x02),
        tcp(3_000, "10.0.0.1", 40000, "10.0.0.2", 443, 0x10),
    ]);
    assert_eq!(b.schema(), flow_schema());
    let r = rows(&b);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        r[0],
        "1970-01-01T00:00:00Z 1970-01-01T00:00:00.001Z 1970-01-01T00:00:00.003Z 1:abc 7 10.0.0.2 \
         10.0.0.1 10.0.0.2 40000 443 6 ingress 3 300 2 200 1 100 18 2 0"
    );
}

#[test]
fn windows_sessions_and_non_ip() {
    let mut late = tcp(FLOW_WINDOW_US + 5, "10.0.0.1", 40000, "10.0.0.2", 443, 0x10);
    late.truncated = true;
    let mut other_session = tcp(10, "10.0.0.1", 40000, "10.0.0.2", 443, 0x10);
    other_session.vni = Some(8);
    let mut egress = tcp(10, "10.0.0.2", 5000, "10.0.0.9", 53, 0);
    egress.proto = Some(17);
    egress.flags = None;
    egress.cid = Some("1:dns");
    let mut arp = tcp(10, "x", 0, "y", 0, 0);
    arp.src = None;
    arp.dst = None;
    let mut r = FlowRollup::new();
    let added = r
        .add(&batch(&[
            tcp(FLOW_WINDOW_US - 1, "10.0.0.1", 40000, "10.0.0.2", 443, 0x10),
            late,
            other_session,
            egress,
            arp,
        ]))
        .expect("add");
    assert_eq!(added, 4, "the frame without IP addresses has no flow");
    let b = r.finish().expect("finish").expect("rows");
    assert!(r.is_empty());
    let r = rows(&b);
    assert_eq!(r.len(), 4, "{r:#?}");
    // Ordered by mirror source, VNI, client, server, window.
    assert!(
        r[0].ends_with(
            " 1:abc 7 10.0.0.2 10.0.0.1 10.0.0.2 40000 443 6 ingress 1 100 1 100 0 0 16 16 0"
        ),
        "{r:#?}"
    );
    assert!(r[1].starts_with("1970-01-01T00:01:00Z"), "{r:#?}");
    assert!(r[1].ends_with(" 16 16 1"), "truncated counted: {r:#?}");
    assert!(
        r[2].ends_with(" 1:dns 7 10.0.0.2 10.0.0.2 10.0.0.9 5000 53 17 egress 1 100 1 100 0 0   0"),
        "{r:#?}"
    );
    assert!(r[3].contains(" 1:abc 8 10.0.0.2 "), "{r:#?}");
}

#[test]
fn first_flags_are_the_union_at_the_earliest_time() {
    let b = roll(&[
        tcp(5, "10.0.0.1", 40000, "10.0.0.2", 443, 0x10),
        tcp(1, "10.0.0.1", 40000, "10.0.0.2", 443, 0x02),
        tcp(1, "10.0.0.2", 443, "10.0.0.1", 40000, 0x04),
    ]);
    let first = b
        .column_by_name("tcp_flags_first")
        .expect("col")
        .as_primitive::<arrow::datatypes::Int32Type>();
    let all = b
        .column_by_name("tcp_flags")
        .expect("col")
        .as_primitive::<arrow::datatypes::Int32Type>();
    assert_eq!((first.value(0), all.value(0)), (0x06, 0x16));
}

#[test]
fn orientation_rule() {
    assert!(sender_is_client(
        "10.0.0.1",
        Some(50000),
        "10.0.0.2",
        Some(80)
    ));
    assert!(!sender_is_client(
        "10.0.0.1",
        Some(80),
        "10.0.0.2",
        Some(50000)
    ));
    // Equal or no ports: the address that sorts first as text.
    assert!(sender_is_client("10.0.0.1", Some(53), "10.0.0.2", Some(53)));
    assert!(!sender_is_client("10.0.0.9", None, "10.0.0.10", None));
    assert!(sender_is_client("::1", None, "::1", None));
}

const ADDRS: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.10", "fe80::1"];

fn arb_packet() -> impl Strategy<Value = P> {
    (
        0i64..(3 * FLOW_WINDOW_US),
        0usize..4,
        0usize..4,
        prop::option::of(0i32..4),
        prop::option::of(0i32..64),
        1i32..2000,
        any::<bool>(),
        0usize..3,
    )
        .prop_map(|(ts, s, d, port, flags, len, truncated, vni)| P {
            ts: ts - ts % 1000,
            source: [Some("10.0.0.1"), None, Some("10.0.0.2")][vni],
            vni: [Some(1), None, Some(2)][vni],
            src: Some(ADDRS[s]),
            dst: Some(ADDRS[d]),
            sport: port.map(|p| 1000 + p),
            dport: port.map(|p| 1000 + (p * 7) % 4),
            proto: Some(if flags.is_some() { 6 } else { 17 }),
            flags,
            len,
            truncated,
            cid: if s == d { None } else { Some("1:x") },
        })
}

proptest! {
    /// The rows depend on the set of packets only: any order and any cut
    /// into batches give the same file (replays are identical), and no
    /// packet or byte is lost or counted twice.
    #[test]
    fn order_and_batching_do_not_matter(
        ps in prop::collection::vec(arb_packet(), 1..200),
        cut in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let whole = roll(&ps);
        let mut shuffled = ps.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let at = cut.index(shuffled.len());
        let mut r = FlowRollup::new();
        r.add(&batch(&shuffled[..at])).expect("add");
        r.add(&batch(&shuffled[at..])).expect("add");
        let parts = r.finish().expect("finish").expect("rows");
        prop_assert_eq!(rows(&whole), rows(&parts));
        let sum = |name: &str| -> i64 {
            whole.column_by_name(name).expect("col").as_primitive::<arrow::datatypes::Int64Type>().values().iter().sum()
        };
        prop_assert_eq!(sum("packets"), ps.len() as i64);
        prop_assert_eq!(sum("bytes"), ps.iter().map(|p| i64::from(p.len)).sum::<i64>());
        prop_assert_eq!(sum("src_packets") + sum("dst_packets"), ps.len() as i64);
        prop_assert_eq!(sum("truncated_packets"), ps.iter().filter(|p| p.truncated).count() as i64);
    }
}
