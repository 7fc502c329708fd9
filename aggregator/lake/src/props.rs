//! How Parquet files are encoded.

use mirrorlake_schema::SCHEMA_VERSION;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// The `flows` table's packet and byte counters.
const FLOW_COUNTERS: [&str; 6] = [
    "packets",
    "bytes",
    "src_packets",
    "src_bytes",
    "dst_packets",
    "dst_bytes",
];

/// Encoding settings of lake files.
#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    /// ZSTD level (1-22).
    pub zstd_level: i32,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Columns that get a bloom filter (the ones analysts search by).
    pub bloom_filter_columns: Vec<String>,
    /// Columns with min/max statistics in the footer and page indexes (the
    /// ones queries filter by); the others have none (empty: all have them).
    pub statistics_columns: Vec<String>,
    /// Rows of each row group are sorted by these columns before they are
    /// written (empty: arrival order). Page statistics then cover narrow
    /// ranges of them, so a search by those columns skips most pages.
    pub sort_by: Vec<String>,
    /// Most rows per data page (smaller pages: finer page-index pruning).
    pub page_rows: usize,
    /// Most bytes per data page (the frame column's pages are cut by size).
    pub page_bytes: usize,
    /// Bytes of Arrow rows per row group, from this to about twice this:
    /// mirrored ENIs smaller than this share a row group, cut where the
    /// first `sort_by` column (`mirror_source`: the mirrored ENI) changes
    /// value; an ENI larger than twice this is split where the next two
    /// (`src_ip`, `dst_ip`) change (0: one row group per held-back batch of rows). Each row group
    /// then holds a few ENIs, or a range of one ENI's peers, so engines that
    /// prune by row-group statistics and bloom filters alone (Trino and
    /// Athena, without page indexes) skip the other ENIs' and peers' rows.
    pub min_row_group_bytes: usize,
    /// False-positive probability of the bloom filters (each row group's
    /// filter is folded to its own distinct values at this rate).
    pub bloom_filter_fpp: f64,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            zstd_level: 3,
            row_group_rows: 128 * 1024,
            bloom_filter_columns: ["src_ip", "dst_ip", "community_id", "mirror_source"]
                .map(String::from)
                .to_vec(),
            statistics_columns: [
                "ts",
                "mirror_source",
                "vni",
                "direction",
                "ip_version",
                "src_ip",
                "dst_ip",
                "protocol",
                "src_port",
                "dst_port",
                "tcp_flags",
            ]
            .map(String::from)
            .to_vec(),
            // Measured on a synthetic day (docs/benchmarks.md): a needle query for
            // one mirrored ENI reads 3.2 % of the day instead of 99.9 %, one for a
            // peer address 3.9 % instead of 51.5 %, and the packets shrink from
            // 1.051x to 1.016x the zstd-compressed pcap. `dst_ip` after `src_ip`
            // puts an ENI's egress packets to one peer side by side (its ingress
            // ones already are, by `src_ip`).
            // `arrival_seq` last: packets of one instant stay in arrival order.
            sort_by: ["mirror_source", "src_ip", "dst_ip", "ts", "arrival_seq"]
                .map(String::from)
                .to_vec(),
            page_rows: 2048,
            page_bytes: 64 << 10,
            min_row_group_bytes: 256 << 10,
            bloom_filter_fpp: 0.01,
        }
    }
}

impl FileConfig {
    /// Writer properties: ZSTD, page-level statistics (column and offset
    /// indexes), bloom filters, and the record schema version in the footer.
    pub fn writer_properties(&self) -> WriterProperties {
        let mut b = self.common();
        // Raw frames are high-entropy: no dictionary, no statistics.
        let frame = ColumnPath::from("frame");
        b = b
            .set_column_dictionary_enabled(frame.clone(), false)
            .set_column_statistics_enabled(frame, EnabledStatistics::None);
        // Distinct on every row: a dictionary would only be tried and
        // dropped; DELTA_BINARY_PACKED stores a counter's small steps (read
        // by Trino, Spark and DuckDB in the tests; it costs 0.5% of the
        // packets' bytes at 1,000 ENIs, and no measurable collector CPU).
        let seq = ColumnPath::from("arrival_seq");
        b = b
            .set_column_dictionary_enabled(seq.clone(), false)
            .set_column_encoding(seq, Encoding::DELTA_BINARY_PACKED);
        // Nearly distinct on every row too (times, random sequence numbers):
        // PLAIN only, without a dictionary page and its indexes per row
        // group (the packets shrink from 1.110x to 1.104x the zstd pcap at
        // 1,000 ENIs, lake_bench).
        for c in ["ts", "tcp_seq", "tcp_ack"] {
            b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
        }
        for c in &self.bloom_filter_columns {
            b = self.bloom(b, c);
        }
        // Min/max statistics (chunk and page) only where queries filter and
        // the sort order makes them narrow: every query reads every footer,
        // and the other columns' statistics would take a fifth of it (at
        // 1,000 ENIs, lake_bench). `community_id` is a hash: its bloom
        // filter and dictionary prune, its min/max would not.
        if !self.statistics_columns.is_empty() {
            for c in mirrorlake_schema::columns::PACKET_COLUMNS {
                if !self.statistics_columns.iter().any(|s| s == c.name) {
                    b = b.set_column_statistics_enabled(
                        ColumnPath::from(c.name),
                        EnabledStatistics::None,
                    );
                }
            }
        }
        b.build()
    }

    /// Writer properties of `flows` files: the same encoding, with bloom
    /// filters on the endpoints and the Community ID, and the counters
    /// PLAIN: nearly every row's byte count is distinct, so a dictionary
    /// only adds its page and wide indexes (measured on the synthetic day of
    /// `flows_bench`: the four directional counters take 26% fewer bytes,
    /// which is what "top talkers" reads most). PLAIN is the one encoding
    /// every Parquet reader has (DELTA_BINARY_PACKED, which `arrival_seq`
    /// uses, is read by Trino (Athena v3's engine), DuckDB and Spark's vectorized
    /// reader since 3.3, which the tests run).
    pub fn flow_writer_properties(&self) -> WriterProperties {
        let mut b = self.common();
        for c in ["srcaddr", "dstaddr", "community_id", "mirror_source"] {
            b = self.bloom(b, c);
        }
        for c in FLOW_COUNTERS {
            b = b
                .set_column_dictionary_enabled(ColumnPath::from(c), false)
                .set_column_encoding(ColumnPath::from(c), Encoding::PLAIN);
        }
        b.build()
    }

    fn bloom(
        &self,
        b: parquet::file::properties::WriterPropertiesBuilder,
        column: &str,
    ) -> parquet::file::properties::WriterPropertiesBuilder {
        let c = ColumnPath::from(column);
        b.set_column_bloom_filter_enabled(c.clone(), true)
            .set_column_bloom_filter_fpp(c, self.bloom_filter_fpp)
    }

    fn common(&self) -> parquet::file::properties::WriterPropertiesBuilder {
        let level = ZstdLevel::try_new(self.zstd_level).unwrap_or_default();
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_data_page_row_count_limit(self.page_rows.max(1))
            .set_data_page_size_limit(self.page_bytes.max(1))
            .set_created_by(format!("mirrorlake version {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "mirrorlake.schema_version".to_owned(),
                SCHEMA_VERSION.to_string(),
            )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_packet_columns_skip_the_dictionary() {
        let p = FileConfig::default().writer_properties();
        let seq = ColumnPath::from("arrival_seq");
        assert!(!p.dictionary_enabled(&seq));
        assert_eq!(p.encoding(&seq), Some(Encoding::DELTA_BINARY_PACKED));
        for c in ["ts", "tcp_seq", "tcp_ack", "frame"] {
            let c = ColumnPath::from(c);
            assert!(!p.dictionary_enabled(&c), "{c}");
            assert_eq!(p.encoding(&c), None, "{c}: the default (PLAIN)");
        }
        for c in ["src_ip", "community_id", "mirror_source", "dst_port"] {
            assert!(p.dictionary_enabled(&ColumnPath::from(c)), "{c}");
        }
    }

    #[test]
    fn statistics_only_where_queries_filter() {
        let p = FileConfig::default().writer_properties();
        for c in ["mirror_source", "src_ip", "dst_ip", "ts", "dst_port"] {
            assert_eq!(
                p.statistics_enabled(&ColumnPath::from(c)),
                EnabledStatistics::Page,
                "{c}"
            );
        }
        for c in [
            "collector_id",
            "arrival_seq",
            "tcp_seq",
            "wire_len",
            "community_id",
            "frame",
        ] {
            assert_eq!(
                p.statistics_enabled(&ColumnPath::from(c)),
                EnabledStatistics::None,
                "{c}"
            );
        }
        let all = FileConfig {
            statistics_columns: Vec::new(),
            ..FileConfig::default()
        }
        .writer_properties();
        assert_eq!(
            all.statistics_enabled(&ColumnPath::from("tcp_seq")),
            EnabledStatistics::Page
        );
    }

    #[test]
    fn flow_counters_are_plain_and_the_rest_keeps_its_dictionary() {
        let p = FileConfig::default().flow_writer_properties();
        for c in FLOW_COUNTERS {
            let c = ColumnPath::from(c);
            assert!(!p.dictionary_enabled(&c), "{c}");
            assert_eq!(p.encoding(&c), Some(Encoding::PLAIN), "{c}");
        }
        for c in ["srcaddr", "dstaddr", "truncated_packets", "protocol"] {
            assert!(p.dictionary_enabled(&ColumnPath::from(c)), "{c}");
        }
        // Every counter is a column of the flows table.
        for c in FLOW_COUNTERS {
            assert!(
                mirrorlake_schema::FLOW_COLUMNS
                    .iter()
                    .any(|col| col.name == c),
                "{c}"
            );
        }
    }
}
