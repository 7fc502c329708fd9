//! Rows to an Arrow record batch, appending into column builders: no
//! per-row allocation (addresses and Community IDs are formatted straight
//! into the string builders' buffers).

use crate::columns::packet_schema;
use crate::flow_cache::FlowCache;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use mirrorlake_wire::Decoded;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

/// Per-row values that do not come from the packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowMeta {
    /// Arrival time, microseconds since the Unix epoch (UTC).
    pub ts_us: i64,
    /// The collector's receive order (`arrival_seq`).
    pub arrival_seq: i64,
}

impl RowMeta {
    /// Arrival time `ts_us`, `arrival_seq` in receive order.
    pub fn new(ts_us: i64, arrival_seq: i64) -> Self {
        Self { ts_us, arrival_seq }
    }
}

/// Approximate bytes a row costs besides its frame (fixed-width columns,
/// offsets, validity, addresses and Community ID text).
pub const ROW_OVERHEAD_BYTES: usize = 160;

/// Builds record batches of the `packets` schema.
#[derive(Debug)]
pub struct PacketBatchBuilder {
    collector_id: String,
    rows: usize,
    bytes: usize,
    ts: TimestampMicrosecondBuilder,
    collector: StringBuilder,
    arrival_seq: Int64Builder,
    mirror_source: StringBuilder,
    vni: Int32Builder,
    gwlb_endpoint: StringBuilder,
    direction: StringBuilder,
    vlan_outer: Int32Builder,
    vlan_inner: Int32Builder,
    ether_type: Int32Builder,
    ip_version: Int32Builder,
    src_ip: StringBuilder,
    dst_ip: StringBuilder,
    protocol: Int32Builder,
    ttl: Int32Builder,
    frag_offset: Int32Builder,
    frag_more: BooleanBuilder,
    frag_id: Int64Builder,
    src_port: Int32Builder,
    dst_port: Int32Builder,
    tcp_flags: Int32Builder,
    tcp_seq: Int64Builder,
    tcp_ack: Int64Builder,
    tcp_window: Int32Builder,
    icmp_type: Int32Builder,
    icmp_code: Int32Builder,
    wire_len: Int32Builder,
    cap_len: Int32Builder,
    truncated: BooleanBuilder,
    community_id: StringBuilder,
    anomalies: StringBuilder,
    frame: BinaryBuilder,
    /// Community IDs and address texts of recent flows (kept across batches).
    flows: FlowCache,
}

fn opt_ip(b: &mut StringBuilder, ip: Option<IpAddr>) {
    match ip {
        Some(ip) => {
            let _ = write!(b, "{ip}");
            b.append_value("");
        }
        None => b.append_null(),
    }
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl PacketBatchBuilder {
    /// A builder sized for `rows` rows of about `frame_bytes` frame bytes in all.
    pub fn with_capacity(collector_id: &str, rows: usize, frame_bytes: usize) -> Self {
        let s = || StringBuilder::with_capacity(rows, rows * 16);
        let i = || Int32Builder::with_capacity(rows);
        let l = || Int64Builder::with_capacity(rows);
        let b = || BooleanBuilder::with_capacity(rows);
        Self {
            collector_id: collector_id.to_owned(),
            rows: 0,
            bytes: 0,
            ts: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            collector: StringBuilder::with_capacity(rows, rows * collector_id.len()),
            arrival_seq: l(),
            mirror_source: s(),
            vni: i(),
            gwlb_endpoint: StringBuilder::new(),
            direction: StringBuilder::with_capacity(rows, rows * 7),
            vlan_outer: i(),
            vlan_inner: i(),
            ether_type: i(),
            ip_version: i(),
            src_ip: s(),
            dst_ip: s(),
            protocol: i(),
            ttl: i(),
            frag_offset: i(),
            frag_more: b(),
            frag_id: l(),
            src_port: i(),
            dst_port: i(),
            tcp_flags: i(),
            tcp_seq: l(),
            tcp_ack: l(),
            tcp_window: i(),
            icmp_type: i(),
            icmp_code: i(),
            wire_len: i(),
            cap_len: i(),
            truncated: b(),
            community_id: StringBuilder::with_capacity(rows, rows * 30),
            anomalies: StringBuilder::with_capacity(rows, 0),
            frame: BinaryBuilder::with_capacity(rows, frame_bytes),
            flows: FlowCache::default(),
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate memory held by the pending rows.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The collector id stamped on every row.
    pub fn collector_id(&self) -> &str {
        &self.collector_id
    }

    /// Appends one decoded packet.
    pub fn append(&mut self, d: &Decoded<'_>, meta: RowMeta) {
        self.rows += 1;
        self.bytes += d.frame.len() + ROW_OVERHEAD_BYTES;
        self.ts.append_value(meta.ts_us);
        self.collector.append_value(&self.collector_id);
        self.arrival_seq.append_value(meta.arrival_seq);
        opt_ip(&mut self.mirror_source, d.mirror.source);
        self.vni.append_option(d.mirror.vni.map(i32_of));
        match d.mirror.gwlb_endpoint {
            Some(id) => {
                let _ = write!(self.gwlb_endpoint, "{id:016x}");
                self.gwlb_endpoint.append_value("");
            }
            None => self.gwlb_endpoint.append_null(),
        }
        self.direction.append_value(d.direction().as_str());
        self.vlan_outer.append_option(d.vlan_outer.map(i32::from));
        self.vlan_inner.append_option(d.vlan_inner.map(i32::from));
        self.ether_type.append_value(i32::from(d.ether_type));
        self.ip_version.append_option(d.ip_version.map(i32::from));
        // A packet with a 5-tuple: its flow's texts, from the cache.
        let flow = d.flow_key().map(|k| *self.flows.get(&k));
        match &flow {
            Some(f) => {
                self.src_ip.append_value(f.src.as_str());
                self.dst_ip.append_value(f.dst.as_str());
            }
            None => {
                opt_ip(&mut self.src_ip, d.src_ip);
                opt_ip(&mut self.dst_ip, d.dst_ip);
            }
        }
        self.protocol.append_option(d.protocol.map(i32::from));
        self.ttl.append_option(d.ttl.map(i32::from));
        self.frag_offset
            .append_option(d.fragment.map(|f| i32::from(f.offset)));
        self.frag_more.append_option(d.fragment.map(|f| f.more));
        self.frag_id
            .append_option(d.fragment.map(|f| i64::from(f.id)));
        self.src_port.append_option(d.src_port.map(i32::from));
        self.dst_port.append_option(d.dst_port.map(i32::from));
        self.tcp_flags.append_option(d.tcp_flags.map(i32::from));
        self.tcp_seq.append_option(d.tcp_seq.map(i64::from));
        self.tcp_ack.append_option(d.tcp_ack.map(i64::from));
        self.tcp_window.append_option(d.tcp_window.map(i32::from));
        self.icmp_type.append_option(d.icmp_type.map(i32::from));
        self.icmp_code.append_option(d.icmp_code.map(i32::from));
        self.wire_len.append_value(i32_of(d.wire_len));
        self.cap_len.append_value(i32_of(d.cap_len()));
        self.truncated.append_value(d.truncated());
        match flow.and_then(|f| f.community_id) {
            Some(c) => self.community_id.append_value(c.as_str()),
            None => self.community_id.append_null(),
        }
        if d.anomalies.is_empty() {
            self.anomalies.append_null();
        } else {
            let _ = write!(self.anomalies, "{}", d.anomalies);
            self.anomalies.append_value("");
        }
        self.frame.append_value(d.frame);
    }

    /// Takes the pending rows as a record batch (the builder is left empty
    /// and reusable). Returns `None` when no row is pending.
    pub fn finish(&mut self) -> Option<Result<RecordBatch, ArrowError>> {
        if self.rows == 0 {
            return None;
        }
        // Arrow's builders give their buffers away on `finish` and start the
        // next batch from empty ones, growing them again by reallocation
        // (the frame column: copying megabytes per batch). A builder sized
        // like the batch just finished takes over instead: full batches at a
        // steady rate never regrow, and a quiet collector's small batches
        // (cut by age) do not each carry a full batch's allocation, which
        // the lake writer counts when it cuts row groups.
        let fresh = Self::with_capacity(
            &self.collector_id,
            self.rows,
            self.frame.values_slice().len(),
        );
        let mut full = std::mem::replace(self, fresh);
        self.flows = std::mem::take(&mut full.flows);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(full.ts.finish()),
            Arc::new(full.collector.finish()),
            Arc::new(full.arrival_seq.finish()),
            Arc::new(full.mirror_source.finish()),
            Arc::new(full.vni.finish()),
            Arc::new(full.gwlb_endpoint.finish()),
            Arc::new(full.direction.finish()),
            Arc::new(full.vlan_outer.finish()),
            Arc::new(full.vlan_inner.finish()),
            Arc::new(full.ether_type.finish()),
            Arc::new(full.ip_version.finish()),
            Arc::new(full.src_ip.finish()),
            Arc::new(full.dst_ip.finish()),
            Arc::new(full.protocol.finish()),
            Arc::new(full.ttl.finish()),
            Arc::new(full.frag_offset.finish()),
            Arc::new(full.frag_more.finish()),
            Arc::new(full.frag_id.finish()),
            Arc::new(full.src_port.finish()),
            Arc::new(full.dst_port.finish()),
            Arc::new(full.tcp_flags.finish()),
            Arc::new(full.tcp_seq.finish()),
            Arc::new(full.tcp_ack.finish()),
            Arc::new(full.tcp_window.finish()),
            Arc::new(full.icmp_type.finish()),
            Arc::new(full.icmp_code.finish()),
            Arc::new(full.wire_len.finish()),
            Arc::new(full.cap_len.finish()),
            Arc::new(full.truncated.finish()),
            Arc::new(full.community_id.finish()),
            Arc::new(full.anomalies.finish()),
            Arc::new(full.frame.finish()),
        ];
        Some(RecordBatch::try_new(packet_schema(), columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
    use mirrorlake_wire::{FrameRepr, TransportRepr, decode_vxlan_payload, emit_vxlan_payload};

    /// A DNS answer to the mirrored ENI 10.0.3.7 (VLAN 7, VNI 42): the
    /// inner frame and its VXLAN payload.
    fn dns_answer() -> (Vec<u8>, Vec<u8>) {
        let mut inner = Vec::new();
        FrameRepr {
            src_mac: [2; 6],
            dst_mac: [3; 6],
            vlans: [Some(7), None],
            src: "10.0.9.9".parse().expect("ip"),
            dst: "10.0.3.7".parse().expect("ip"),
            ttl: 64,
            transport: TransportRepr::Udp {
                src_port: 53,
                dst_port: 40000,
            },
            payload: b"answer",
        }
        .emit(&mut inner)
        .expect("emit");
        let mut dgram = Vec::new();
        emit_vxlan_payload(42, &inner, &mut dgram);
        (inner, dgram)
    }

    /// A quiet collector's batches (a few rows, cut by age) after a full one
    /// do not keep the full one's allocation: the lake writer counts it when
    /// it cuts row groups (it once cut one every few such batches, and the
    /// files grew tenfold).
    #[test]
    fn capacity_follows_the_last_batch() {
        let (_, dgram) = dns_answer();
        let d =
            decode_vxlan_payload(&dgram, Some("10.0.3.7".parse().expect("ip"))).expect("decode");
        let mut b = PacketBatchBuilder::with_capacity("c1", 8192, 4 << 20);
        let mut batch = |rows: usize| {
            for _ in 0..rows {
                b.append(&d, RowMeta::new(1, 0));
            }
            b.finish().expect("rows").expect("valid")
        };
        let full = batch(8192).get_array_memory_size();
        let _after_full = batch(2);
        let quiet = batch(2).get_array_memory_size();
        assert!(
            quiet * 100 < full,
            "a 2-row batch holds {quiet} B after an 8,192-row one of {full} B"
        );
    }

    #[test]
    fn builds_a_batch_matching_the_schema() {
        let (inner, dgram) = dns_answer();
        let d =
            decode_vxlan_payload(&dgram, Some("10.0.3.7".parse().expect("ip"))).expect("decode");

        let mut b = PacketBatchBuilder::with_capacity("c1", 4, 1024);
        b.append(&d, RowMeta::new(1_700_000_000_000_000, 7));
        b.append(&d, RowMeta::new(1_700_000_000_000_001, 8));
        assert_eq!(b.len(), 2);
        let batch = b.finish().expect("rows").expect("valid");
        assert!(b.is_empty());
        assert_eq!(batch.schema(), packet_schema());
        assert_eq!(batch.num_rows(), 2);
        let col = |n: &str| batch.column_by_name(n).expect("column").clone();
        assert_eq!(
            col("ts")
                .as_primitive::<TimestampMicrosecondType>()
                .value(1),
            1_700_000_000_000_001
        );
        assert_eq!(col("arrival_seq").as_primitive::<Int64Type>().value(1), 8);
        assert_eq!(col("vni").as_primitive::<Int32Type>().value(0), 42);
        assert_eq!(col("vlan_outer").as_primitive::<Int32Type>().value(0), 7);
        assert!(col("vlan_inner").is_null(0));
        assert_eq!(col("direction").as_string::<i32>().value(0), "ingress");
        assert_eq!(col("mirror_source").as_string::<i32>().value(0), "10.0.3.7");
        assert_eq!(col("src_ip").as_string::<i32>().value(0), "10.0.9.9");
        assert_eq!(col("collector_id").as_string::<i32>().value(1), "c1");
        assert_eq!(col("frame").as_binary::<i32>().value(0), &inner[..]);
        assert!(col("anomalies").is_null(0));
        assert_eq!(
            col("community_id").as_string::<i32>().value(0),
            d.community_id().expect("ip").as_str()
        );
        assert!(b.finish().is_none());
    }
}
