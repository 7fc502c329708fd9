//! The column table of the packet record schema.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

/// Version of the record schema, carried in every Kafka message and in the
/// Parquet key-value metadata. Bump it on any change to [`PACKET_COLUMNS`].
pub const SCHEMA_VERSION: u16 = 3;

/// The logical type of a column, restricted to types Athena reads correctly
/// (no unsigned integers, microsecond UTC timestamps, strings for addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Timestamp(Microsecond, "UTC")`, Athena `timestamp`.
    Timestamp,
    /// `Utf8`, Athena `string`.
    String,
    /// `Int32`, Athena `int`.
    Int32,
    /// `Int64`, Athena `bigint`.
    Int64,
    /// `Boolean`, Athena `boolean`.
    Bool,
    /// `Binary`, Athena `binary`.
    Binary,
}

impl Kind {
    /// The Arrow data type.
    pub fn arrow(self) -> DataType {
        match self {
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::String => DataType::Utf8,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Bool => DataType::Boolean,
            Kind::Binary => DataType::Binary,
        }
    }

    /// The Athena (Hive DDL) type name.
    pub fn athena(self) -> &'static str {
        match self {
            Kind::Timestamp => "timestamp",
            Kind::String => "string",
            Kind::Int32 => "int",
            Kind::Int64 => "bigint",
            Kind::Bool => "boolean",
            Kind::Binary => "binary",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Column name (snake case; Athena matches Parquet columns by name).
    pub name: &'static str,
    /// Logical type.
    pub kind: Kind,
    /// Whether the column may be null.
    pub nullable: bool,
    /// One-line meaning, used in docs and as the Athena column comment.
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: Kind, nullable: bool, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        nullable,
        doc,
    }
}

/// `vni`, the same column in every table.
const VNI: Column = col(
    "vni",
    Kind::Int32,
    true,
    "VXLAN network identifier: the mirror session (null for plain captures)",
);

/// The columns of the `packets` table, in file order.
pub const PACKET_COLUMNS: &[Column] = &[
    col(
        "ts",
        Kind::Timestamp,
        false,
        "arrival time: the kernel's receive time of the datagram (UTC, microseconds; Athena reads milliseconds); Parquet files are partitioned by its date and hour",
    ),
    col(
        "collector_id",
        Kind::String,
        false,
        "id of the collector (or importer) that received the packet",
    ),
    col(
        "arrival_seq",
        Kind::Int64,
        true,
        "the collector's receive order: increases in the order each socket received its datagrams and breaks ties of ts, across restarts too; for import, the record's index in the capture; null before schema v2",
    ),
    col(
        "mirror_source",
        Kind::String,
        true,
        "source IP of the mirror session's VXLAN datagram (the outer one, or inside GENEVE from a GWLB): the mirrored ENI's primary private IP (null for plain captures)",
    ),
    VNI,
    col(
        "gwlb_endpoint",
        Kind::String,
        true,
        "the Gateway Load Balancer endpoint the packet came through: the 64-bit endpoint id of AWS's GENEVE option, 16 hex digits (null when not received through a GWLB, and before schema v3)",
    ),
    col(
        "direction",
        Kind::String,
        false,
        "ingress, egress or unknown, relative to the mirrored ENI (from mirror_source)",
    ),
    col(
        "vlan_outer",
        Kind::Int32,
        true,
        "first 802.1Q/802.1ad VLAN id of the inner frame",
    ),
    col(
        "vlan_inner",
        Kind::Int32,
        true,
        "second (stacked) VLAN id of the inner frame",
    ),
    col(
        "ether_type",
        Kind::Int32,
        false,
        "ether type after the VLAN tags (2048 IPv4, 34525 IPv6)",
    ),
    col(
        "ip_version",
        Kind::Int32,
        true,
        "4 or 6 when an IP header was decoded",
    ),
    col("src_ip", Kind::String, true, "inner source IP address"),
    col("dst_ip", Kind::String, true, "inner destination IP address"),
    col(
        "protocol",
        Kind::Int32,
        true,
        "IP protocol number after IPv6 extension headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)",
    ),
    col("ttl", Kind::Int32, true, "IPv4 TTL or IPv6 hop limit"),
    col(
        "frag_offset",
        Kind::Int32,
        true,
        "fragment offset in bytes (null when not a fragment)",
    ),
    col(
        "frag_more",
        Kind::Bool,
        true,
        "more-fragments flag (null when not a fragment)",
    ),
    col(
        "frag_id",
        Kind::Int64,
        true,
        "fragment identification (null when not a fragment)",
    ),
    col(
        "src_port",
        Kind::Int32,
        true,
        "TCP/UDP/SCTP source port (first fragment only)",
    ),
    col(
        "dst_port",
        Kind::Int32,
        true,
        "TCP/UDP/SCTP destination port (first fragment only)",
    ),
    col(
        "tcp_flags",
        Kind::Int32,
        true,
        "TCP flags, 9 bits (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128, NS 256)",
    ),
    col("tcp_seq", Kind::Int64, true, "TCP sequence number"),
    col("tcp_ack", Kind::Int64, true, "TCP acknowledgement number"),
    col("tcp_window", Kind::Int32, true, "TCP window"),
    col("icmp_type", Kind::Int32, true, "ICMP or ICMPv6 type"),
    col("icmp_code", Kind::Int32, true, "ICMP or ICMPv6 code"),
    col(
        "wire_len",
        Kind::Int32,
        false,
        "original length of the inner frame in bytes (from the IP header when present)",
    ),
    col(
        "cap_len",
        Kind::Int32,
        false,
        "captured length of the inner frame in bytes (length of frame)",
    ),
    col(
        "truncated",
        Kind::Bool,
        false,
        "true when cap_len < wire_len (AWS packet-length option, MTU, snap length)",
    ),
    col(
        "community_id",
        Kind::String,
        true,
        "Community ID v1 flow hash (seed 0); null for non-IP packets and port protocols without ports",
    ),
    col(
        "anomalies",
        Kind::String,
        true,
        "comma-separated decode anomalies of a kept packet (e.g. truncated,l4_truncated); null when none",
    ),
    col(
        "frame",
        Kind::Binary,
        false,
        "the captured inner Ethernet frame, byte for byte",
    ),
];

/// Length of a `flows` window: a row aggregates the packets of one flow that
/// arrived in one such window (and in one lake file: see [`FLOWS`]).
pub const FLOW_WINDOW_US: i64 = 60_000_000;

/// The columns of the `flows` table, in file order. Names follow VPC Flow
/// Logs where the meaning is the same (`srcaddr`, `packets`, `start`...).
pub const FLOW_COLUMNS: &[Column] = &[
    col(
        "window_start",
        Kind::Timestamp,
        false,
        "start of the one-minute window this row aggregates (UTC); files are partitioned by its date and hour",
    ),
    col(
        "start",
        Kind::Timestamp,
        false,
        "arrival time of the first packet of this row (quote it in SQL: \"start\")",
    ),
    col(
        "end",
        Kind::Timestamp,
        false,
        "arrival time of the last packet of this row (quote it in SQL: \"end\")",
    ),
    col(
        "community_id",
        Kind::String,
        true,
        "Community ID v1 of the flow: join to packets.community_id for its packets (null where packets have none)",
    ),
    VNI,
    col(
        "mirror_source",
        Kind::String,
        true,
        "the mirrored ENI's primary private IP (null for plain captures)",
    ),
    col(
        "srcaddr",
        Kind::String,
        false,
        "client side of the flow: the endpoint with the higher port; equal or no ports: the smaller address as text",
    ),
    col("dstaddr", Kind::String, false, "server side of the flow"),
    col("srcport", Kind::Int32, true, "client port (TCP/UDP/SCTP)"),
    col("dstport", Kind::Int32, true, "server port (TCP/UDP/SCTP)"),
    col(
        "protocol",
        Kind::Int32,
        true,
        "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)",
    ),
    col(
        "flow_direction",
        Kind::String,
        false,
        "ingress when dstaddr is the mirrored ENI, egress when srcaddr is, else unknown",
    ),
    col(
        "packets",
        Kind::Int64,
        false,
        "packets in this row, both directions",
    ),
    col(
        "bytes",
        Kind::Int64,
        false,
        "original frame bytes (wire_len) in this row, both directions",
    ),
    col("src_packets", Kind::Int64, false, "packets sent by srcaddr"),
    col(
        "src_bytes",
        Kind::Int64,
        false,
        "frame bytes sent by srcaddr",
    ),
    col("dst_packets", Kind::Int64, false, "packets sent by dstaddr"),
    col(
        "dst_bytes",
        Kind::Int64,
        false,
        "frame bytes sent by dstaddr",
    ),
    col(
        "tcp_flags",
        Kind::Int32,
        true,
        "union (bitwise OR) of the TCP flags of the row's packets; null when none is TCP",
    ),
    col(
        "tcp_flags_first",
        Kind::Int32,
        true,
        "TCP flags of the row's first packet (of all packets at its arrival time, their union)",
    ),
    col(
        "truncated_packets",
        Kind::Int64,
        false,
        "packets of this row captured shorter than their original length",
    ),
];

/// One table of the lake: its folder name, columns and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Table name, also its folder under the lake root.
    pub name: &'static str,
    /// Columns in file order (the partition columns come after, from the path).
    pub columns: &'static [Column],
    /// What a row is.
    pub doc: &'static str,
}

/// The `packets` table: one row per mirrored packet.
pub const PACKETS: Table = Table {
    name: "packets",
    columns: PACKET_COLUMNS,
    doc: "one row per mirrored packet, the frame byte for byte",
};

/// The `flows` table: partial flow aggregates, written beside each packets
/// file from that file's rows (same partition, same file name). One flow has
/// several rows (per window, and per file: NLB spreads a connection over
/// collectors, Kafka partitions and aggregators), so a flow is
/// `GROUP BY community_id` (plus `vni`, `mirror_source` to keep sessions
/// apart) over its rows: sum the counters, OR the flags, min/max the times.
pub const FLOWS: Table = Table {
    name: "flows",
    columns: FLOW_COLUMNS,
    doc: "partial flow aggregates per (community_id, vni, mirror_source, one-minute window, lake file): a flow is GROUP BY community_id over its rows",
};

/// Every table of the lake.
pub const TABLES: &[Table] = &[PACKETS, FLOWS];

impl Table {
    /// The table called `name`.
    pub fn named(name: &str) -> Option<&'static Table> {
        TABLES.iter().find(|t| t.name == name)
    }

    /// Its Arrow schema (built once per table).
    pub fn schema(&self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            TABLES
                .iter()
                .map(|t| Arc::new(schema_of(t.columns)))
                .collect()
        });
        TABLES
            .iter()
            .position(|t| t.name == self.name)
            .map(|i| all[i].clone())
            .unwrap_or_else(|| Arc::new(schema_of(self.columns)))
    }
}

/// Hive partition columns of every table (from the object path, not in files).
pub const PARTITION_COLUMNS: &[Column] = &[
    col(
        "dt",
        Kind::String,
        false,
        "UTC date of ts, yyyy-MM-dd (partition)",
    ),
    col(
        "hour",
        Kind::String,
        false,
        "UTC hour of ts, 00-23 (partition)",
    ),
];

/// The Arrow schema of a columns table.
pub fn schema_of(columns: &[Column]) -> Schema {
    Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.arrow(), c.nullable))
            .collect::<Vec<_>>(),
    )
}

/// The Arrow schema of the `packets` table (shared, built once).
pub fn packet_schema() -> SchemaRef {
    PACKETS.schema()
}

/// The Arrow schema of the `flows` table (shared, built once).
pub fn flow_schema() -> SchemaRef {
    FLOWS.schema()
}

/// Glue/Terraform column list: `[{"name","type","comment"}]`.
pub fn glue_columns(columns: &[Column]) -> Vec<serde_json::Value> {
    columns
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "type": c.kind.athena(), "comment": c.doc}))
        .collect()
}

/// [`glue_columns`] as pretty JSON with a final newline (the files Terraform
/// reads: `packets.columns.json`, `partition_keys.json`).
pub fn glue_columns_json(columns: &[Column]) -> String {
    let mut s = serde_json::to_string_pretty(&glue_columns(columns)).unwrap_or_default();
    s.push('\n');
    s
}

/// One Athena (Hive DDL) column definition: `` `name` type COMMENT '...' ``.
pub fn athena_column_ddl(c: &Column) -> String {
    format!(
        "`{}` {} COMMENT '{}'",
        c.name,
        c.kind.athena(),
        c.doc.replace('\'', "''")
    )
}

/// The Markdown column reference (`docs/schema.md`): every table.
pub fn markdown_reference() -> String {
    let mut s = format!(
        "# Record schema v{SCHEMA_VERSION}: the lake's tables\n\n\
         Generated from `collector/schema/src/columns.rs` (`TABLES`); a test fails when this \
         file drifts. Regenerate with `MIRRORLAKE_BLESS=1 cargo test --release --workspace columns`.\n\n\
         **Time and order.** A collector stamps each datagram with the kernel's receive time \
         (`SO_TIMESTAMPNS`, nanoseconds, read per datagram from `recvmmsg`'s control data), \
         stored in microseconds; where the kernel gives none it uses the clock and counts it \
         (`mirrorlake_timestamp_fallbacks_total`). `import` keeps the capture's timestamps. \
         Packets of one microsecond are ordered by `arrival_seq` (per collector); `export` \
         writes (`ts`, `collector_id`, `arrival_seq`) order. Athena (Trino's Hive connector) \
         reads Parquet timestamps at millisecond precision: `ts` shows milliseconds there and \
         a predicate on it compares milliseconds; `query` and `export` keep microseconds.\n"
    );
    for t in TABLES {
        s.push_str(&format!(
            "\n## `{}`\n\n{}.\n\n| column | Arrow type | Athena type | nullable | meaning |\n|---|---|---|---|---|\n",
            t.name, t.doc
        ));
        for c in t.columns.iter().chain(PARTITION_COLUMNS) {
            s.push_str(&format!(
                "| `{}` | `{}` | `{}` | {} | {} |\n",
                c.name,
                c.kind.arrow(),
                c.kind.athena(),
                if c.nullable { "yes" } else { "no" },
                c.doc
            ));
        }
    }
    s
}

/// A `packets` batch of an older schema version (a Kafka message of a
/// collector not yet upgraded, a lake file written before) in the current
/// packet schema: columns matched by name, the ones it lacks (all
/// nullable) null.
pub fn upgrade_packet_batch(
    batch: &arrow::record_batch::RecordBatch,
) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
    let schema = packet_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => Err(arrow::error::ArrowError::SchemaError(format!(
                "column {} is {}, not {}",
                f.name(),
                c.data_type(),
                f.data_type()
            ))),
            None if f.is_nullable() => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
            None => Err(arrow::error::ArrowError::SchemaError(format!(
                "column {} is missing",
                f.name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    arrow::record_batch::RecordBatch::try_new(schema, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo_file(rel: &str) -> PathBuf {
        crate::manifest_dir!().join("../..").join(rel)
    }

    /// Compares a generated file with the committed one; with
    /// `MIRRORLAKE_BLESS=1` rewrites it instead.
    fn check_generated(rel: &str, want: &str) {
        let path = repo_file(rel);
        if std::env::var_os("MIRRORLAKE_BLESS").is_some() {
            std::fs::write(&path, want).expect("write generated file");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{rel} drifted from PACKET_COLUMNS: regenerate with MIRRORLAKE_BLESS=1 cargo test --release -p mirrorlake-schema"
        );
    }

    /// Column docs become Glue column comments, which AWS caps at 255
    /// characters (`Column.Comment`; the Hive metastore Spark embeds stores
    /// them as VARCHAR(256) and refuses the table beyond).
    #[test]
    fn column_docs_fit_a_glue_comment() {
        for t in TABLES {
            for c in t.columns.iter().chain(PARTITION_COLUMNS) {
                assert!(
                    c.doc.len() <= 255,
                    "{}.{}: {} bytes of doc, Glue takes 255",
                    t.name,
                    c.name,
                    c.doc.len()
                );
            }
        }
    }

    #[test]
    fn docs_match_schema() {
        check_generated("docs/schema.md", &markdown_reference());
    }

    #[test]
    fn terraform_glue_columns_match_schema() {
        check_generated(
            "terraform/modules/lake/schema/packets.columns.json",
            &glue_columns_json(PACKET_COLUMNS),
        );
    }

    #[test]
    fn terraform_flow_columns_match_schema() {
        check_generated(
            "terraform/modules/lake/schema/flows.columns.json",
            &glue_columns_json(FLOW_COLUMNS),
        );
    }

    #[test]
    fn terraform_partition_keys_match_schema() {
        check_generated(
            "terraform/modules/lake/schema/partition_keys.json",
            &glue_columns_json(PARTITION_COLUMNS),
        );
    }

    #[test]
    fn athena_column_ddl_quotes() {
        let c = col("it_s", Kind::Int64, true, "it's");
        assert_eq!(athena_column_ddl(&c), "`it_s` bigint COMMENT 'it''s'");
    }

    #[test]
    fn names_unique_and_athena_safe() {
        for t in TABLES {
            let mut names: Vec<_> = t
                .columns
                .iter()
                .chain(PARTITION_COLUMNS)
                .map(|c| c.name)
                .collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(n, names.len(), "{}", t.name);
            assert_eq!(Table::named(t.name), Some(t));
            assert_eq!(t.schema().fields().len(), t.columns.len());
        }
        assert_eq!(flow_schema().field(0).name(), "window_start");
        assert_eq!(
            FLOW_WINDOW_US * 60,
            3_600_000_000,
            "windows divide the hour"
        );
        for c in PACKET_COLUMNS.iter().chain(FLOW_COLUMNS) {
            assert!(!matches!(
                c.kind.arrow(),
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
            ));
            assert!(c.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
