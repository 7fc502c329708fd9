//! The aggregator's Prometheus metrics, declared in one place.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};

/// Counters of `mirrorlake-aggregator run`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Kafka records consumed.
    pub records: Counter,
    /// Rows written into closed files.
    pub rows_written: Counter,
    /// Files made visible.
    pub files_written: Counter,
    /// Rows of the `flows` files written beside them.
    pub flow_rows_written: Counter,
    /// Bytes of those files.
    pub bytes_written: Counter,
    /// Offset ranges committed.
    pub ranges_committed: Counter,
    /// Ranges cut again from an existing manifest (after a crash or rebalance).
    pub ranges_replayed: Counter,
    /// Ranges abandoned (revoked partition, write error); re-read from Kafka.
    pub ranges_aborted: Counter,
    /// Records that were not mirrorlake batches, kept as dead letters.
    pub dead_letters: Counter,
    /// Offset commits that failed (the next owner replays the manifest).
    pub commit_failures: Counter,
    /// Partitions currently assigned.
    pub partitions: Gauge,
    /// Cleared while writes to the lake fail.
    pub healthy: AtomicBool,
    /// The live tail service (its hub shares these).
    pub tail: mirrorlake_tail::TailMetrics,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mirrorlake_aggregator");
        let m = Self {
            registry: Registry::default(),
            tail: mirrorlake_tail::TailMetrics::default(),
            records: Counter::default(),
            rows_written: Counter::default(),
            files_written: Counter::default(),
            flow_rows_written: Counter::default(),
            bytes_written: Counter::default(),
            ranges_committed: Counter::default(),
            ranges_replayed: Counter::default(),
            ranges_aborted: Counter::default(),
            dead_letters: Counter::default(),
            commit_failures: Counter::default(),
            partitions: Gauge::default(),
            healthy: AtomicBool::new(true),
        };
        for (name, help, c) in [
            ("records", "Kafka records consumed", &m.records),
            (
                "rows_written",
                "Rows written into visible files",
                &m.rows_written,
            ),
            (
                "files_written",
                "Parquet files made visible",
                &m.files_written,
            ),
            (
                "flow_rows_written",
                "Rows of the flows files written beside them",
                &m.flow_rows_written,
            ),
            (
                "bytes_written",
                "Bytes of Parquet files made visible",
                &m.bytes_written,
            ),
            (
                "ranges_committed",
                "Kafka offset ranges committed",
                &m.ranges_committed,
            ),
            (
                "ranges_replayed",
                "Ranges cut again from an existing manifest",
                &m.ranges_replayed,
            ),
            (
                "ranges_aborted",
                "Ranges abandoned and re-read from Kafka",
                &m.ranges_aborted,
            ),
            (
                "dead_letters",
                "Records that were not mirrorlake batches (kept in the lake under _mirrorlake/)",
                &m.dead_letters,
            ),
            (
                "commit_failures",
                "Kafka offset commits that failed",
                &m.commit_failures,
            ),
        ] {
            registry.register(name, help, c.clone());
        }
        registry.register(
            "partitions",
            "Kafka partitions assigned",
            m.partitions.clone(),
        );
        m.tail.register(&mut registry);
        Self { registry, ..m }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl mirrorlake_ops::Probe for Metrics {
    fn health(&self) -> Result<(), &'static str> {
        if self.healthy.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("lake writes failing")
        }
    }

    fn metrics(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;
    use mirrorlake_ops::Probe;

    /// The README's table and `deploy/metrics/aggregator.json` are this
    /// registry's (`MIRRORLAKE_BLESS=1` rewrites them).
    #[test]
    fn the_metric_contract_is_this_registry() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let c = mirrorlake_ops::contract::check_generated(
            &root,
            "aggregator",
            &Metrics::new().metrics(),
        )
        .expect("generated");
        assert!(c.metrics.len() > 10, "{c:?}");
    }
}
