//! Every Prometheus metric of the collector, declared in one place. Labels are
//! bounded (`reason`, `anomaly`); never an address. Updated per batch of
//! datagrams, not per packet.

use mirrorlake_wire::{Anomaly, DecodeStats, DropReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Why the collector dropped a packet (decode reasons plus its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// The packet could not be decoded.
    Decode(DropReason),
    /// Source address not in `allowed_source_cidrs`.
    SourceNotAllowed,
    /// VNI not in `allowed_vnis`.
    VniNotAllowed,
    /// The sink was behind and the batch queue full.
    Backpressure,
    /// A datagram larger than the receive buffer.
    Oversize,
    /// The sink failed to write the batch (after the store's retries).
    SinkError,
    /// A record batch could not be built from the decoded rows.
    BatchBuild,
    /// Cluster mode: the producer's bounded queue was full (Kafka slow or away).
    KafkaQueueFull,
    /// Cluster mode: the producer refused a message (not for a full queue).
    KafkaRefused,
    /// Cluster mode: a queued message failed for good, or was still queued
    /// when the shutdown flush timed out (without a spool).
    KafkaDeliveryFailed,
    /// Cluster mode: the disk spool was full (or its disk failed).
    SpoolFull,
}

impl Drop {
    /// The `reason` label.
    pub fn code(self) -> &'static str {
        match self {
            Drop::Decode(r) => r.code(),
            Drop::SourceNotAllowed => "source_not_allowed",
            Drop::VniNotAllowed => "vni_not_allowed",
            Drop::Backpressure => "backpressure",
            Drop::Oversize => "oversize",
            Drop::SinkError => "sink_error",
            Drop::BatchBuild => "batch_build",
            Drop::KafkaQueueFull => "kafka_queue_full",
            Drop::KafkaRefused => "kafka_refused",
            Drop::KafkaDeliveryFailed => "kafka_delivery_failed",
            Drop::SpoolFull => "spool_full",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnomalyLabel {
    anomaly: &'static str,
}

/// The collector's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Datagrams received.
    pub packets_received: Counter,
    /// Datagram bytes received.
    pub bytes_received: Counter,
    dropped: Family<Reason, Counter>,
    anomalies: Family<AnomalyLabel, Counter>,
    /// Datagrams the kernel dropped (SO_RXQ_OVFL, all sockets).
    pub kernel_drops: Counter,
    /// Rows stamped from the clock because the kernel gave no receive time.
    pub timestamp_fallbacks: Counter,
    /// Effective SO_RCVBUF per socket.
    pub socket_rcvbuf_bytes: Gauge,
    /// Record batches cut.
    pub batches: Counter,
    /// Rows in the packets files completed in the lake.
    pub rows_written: Counter,
    /// Files written to the lake.
    pub files_written: Counter,
    /// Rows of the `flows` files written beside the packets files.
    pub flow_rows_written: Counter,
    /// Bytes of files written to the lake.
    pub bytes_written: Counter,
    /// Time to finish and upload a file.
    pub flush_seconds: Histogram,
    /// Batches waiting for the sink.
    pub queue_batches: Gauge,
    /// 1 while the sink writes successfully.
    pub sink_healthy: Gauge,
    /// Cluster mode: rows acknowledged by Kafka.
    pub rows_published: Counter,
    /// Cluster mode: messages acknowledged by Kafka.
    pub kafka_messages: Counter,
    /// Cluster mode: message bytes acknowledged by Kafka.
    pub kafka_bytes: Counter,
    /// librdkafka: messages in the producer queue (statistics `msg_cnt`).
    pub kafka_queue_messages: Gauge,
    /// librdkafka: bytes in the producer queue (statistics `msg_size`).
    pub kafka_queue_bytes: Gauge,
    /// librdkafka: brokers in state UP.
    pub kafka_brokers_up: Gauge,
    /// librdkafka: largest average broker round trip, µs.
    pub kafka_rtt_us: Gauge,
    /// librdkafka: request retries, all brokers (cumulative).
    pub kafka_retries: Gauge,
    /// librdkafka: transmit errors, all brokers (cumulative).
    pub kafka_tx_errors: Gauge,
    /// Spool: bytes of segment files.
    pub spool_bytes: Gauge,
    /// Spool: messages waiting (not acknowledged by Kafka).
    pub spool_records: Gauge,
    /// Spool: age of the oldest waiting message, seconds.
    pub spool_oldest_age_seconds: Gauge,
    /// Spool: rows written to it.
    pub spool_rows_written: Counter,
    /// Spool: rows replayed from it and acknowledged by Kafka.
    pub spool_rows_replayed: Counter,
    /// Spool: messages found already in Kafka after a restart (not replayed).
    pub spool_already_stored: Counter,
    /// The live tail service (its hub shares these).
    pub tail: mirrorlake_tail::TailMetrics,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mirrorlake");
        let m = Self {
            packets_received: Counter::default(),
            bytes_received: Counter::default(),
            dropped: Family::default(),
            anomalies: Family::default(),
            kernel_drops: Counter::default(),
            timestamp_fallbacks: Counter::default(),
            socket_rcvbuf_bytes: Gauge::default(),
            batches: Counter::default(),
            rows_written: Counter::default(),
            files_written: Counter::default(),
            flow_rows_written: Counter::default(),
            bytes_written: Counter::default(),
            flush_seconds: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            queue_batches: Gauge::default(),
            sink_healthy: Gauge::default(),
            rows_published: Counter::default(),
            kafka_messages: Counter::default(),
            kafka_bytes: Counter::default(),
            kafka_queue_messages: Gauge::default(),
            kafka_queue_bytes: Gauge::default(),
            kafka_brokers_up: Gauge::default(),
            kafka_rtt_us: Gauge::default(),
            kafka_retries: Gauge::default(),
            kafka_tx_errors: Gauge::default(),
            spool_bytes: Gauge::default(),
            spool_records: Gauge::default(),
            spool_oldest_age_seconds: Gauge::default(),
            spool_rows_written: Counter::default(),
            spool_rows_replayed: Counter::default(),
            spool_already_stored: Counter::default(),
            registry: Registry::default(),
            tail: mirrorlake_tail::TailMetrics::default(),
        };
        registry.register(
            "packets_received",
            "Mirror datagrams received",
            m.packets_received.clone(),
        );
        registry.register(
            "bytes_received",
            "Mirror datagram bytes received",
            m.bytes_received.clone(),
        );
        registry.register(
            "packets_dropped",
            "Packets dropped, by reason",
            m.dropped.clone(),
        );
        registry.register(
            "decode_anomalies",
            "Kept packets with a decode anomaly, by kind",
            m.anomalies.clone(),
        );
        registry.register(
            "kernel_drops",
            "Datagrams dropped by the kernel (socket buffer full)",
            m.kernel_drops.clone(),
        );
        registry.register(
            "timestamp_fallbacks",
            "Rows stamped from the clock: the kernel gave no receive time (SO_TIMESTAMPNS)",
            m.timestamp_fallbacks.clone(),
        );
        registry.register(
            "socket_rcvbuf_bytes",
            "Effective SO_RCVBUF per receive socket",
            m.socket_rcvbuf_bytes.clone(),
        );
        registry.register(
            "batches",
            "Arrow record batches handed to the sink",
            m.batches.clone(),
        );
        registry.register(
            "rows_written",
            "Rows of completed packets files (what reached the lake)",
            m.rows_written.clone(),
        );
        registry.register(
            "files_written",
            "Parquet files written to the lake",
            m.files_written.clone(),
        );
        registry.register(
            "flow_rows_written",
            "Rows of the flows files written beside the packets files",
            m.flow_rows_written.clone(),
        );
        registry.register(
            "bytes_written",
            "Bytes of Parquet files written to the lake",
            m.bytes_written.clone(),
        );
        registry.register(
            "flush_seconds",
            "Time to finish and upload one file",
            m.flush_seconds.clone(),
        );
        registry.register(
            "queue_batches",
            "Record batches waiting for the sink",
            m.queue_batches.clone(),
        );
        registry.register(
            "sink_healthy",
            "1 while the sink writes and the collector is not draining",
            m.sink_healthy.clone(),
        );
        for (name, help, metric) in [
            (
                "rows_published",
                "Rows acknowledged by Kafka (cluster mode)",
                &m.rows_published,
            ),
            (
                "kafka_messages",
                "Messages acknowledged by Kafka",
                &m.kafka_messages,
            ),
            (
                "kafka_bytes",
                "Message bytes acknowledged by Kafka",
                &m.kafka_bytes,
            ),
            (
                "spool_rows_written",
                "Rows written to the disk spool (Kafka slow or away)",
                &m.spool_rows_written,
            ),
            (
                "spool_rows_replayed",
                "Rows replayed from the disk spool and acknowledged by Kafka",
                &m.spool_rows_replayed,
            ),
            (
                "spool_already_stored",
                "Spooled messages found already in Kafka after a restart (not replayed again)",
                &m.spool_already_stored,
            ),
        ] {
            registry.register(name, help, metric.clone());
        }
        for (name, help, metric) in [
            (
                "kafka_queue_messages",
                "librdkafka statistics (every 5 s): messages in the producer queue",
                &m.kafka_queue_messages,
            ),
            (
                "kafka_queue_bytes",
                "librdkafka statistics (every 5 s): bytes in the producer queue",
                &m.kafka_queue_bytes,
            ),
            (
                "kafka_brokers_up",
                "librdkafka statistics (every 5 s): brokers in state UP",
                &m.kafka_brokers_up,
            ),
            (
                "kafka_rtt_us",
                "librdkafka statistics (every 5 s): largest average broker round trip (us)",
                &m.kafka_rtt_us,
            ),
            (
                "kafka_retries",
                "librdkafka statistics (every 5 s): request retries, all brokers",
                &m.kafka_retries,
            ),
            (
                "kafka_tx_errors",
                "librdkafka statistics (every 5 s): transmit errors, all brokers",
                &m.kafka_tx_errors,
            ),
            ("spool_bytes", "Bytes the disk spool holds", &m.spool_bytes),
            (
                "spool_records",
                "Messages waiting in the disk spool",
                &m.spool_records,
            ),
            (
                "spool_oldest_age_seconds",
                "Age of the oldest message waiting in the disk spool",
                &m.spool_oldest_age_seconds,
            ),
        ] {
            registry.register(name, help, metric.clone());
        }
        // Every label value exists from the start, so dashboards see zeros.
        for r in DropReason::ALL {
            m.drop(Drop::Decode(r), 0);
        }
        for d in [
            Drop::SourceNotAllowed,
            Drop::VniNotAllowed,
            Drop::Backpressure,
            Drop::Oversize,
            Drop::SinkError,
            Drop::BatchBuild,
            Drop::KafkaQueueFull,
            Drop::KafkaRefused,
            Drop::KafkaDeliveryFailed,
            Drop::SpoolFull,
        ] {
            m.drop(d, 0);
        }
        for a in Anomaly::ALL {
            let _ = m
                .anomalies
                .get_or_create(&AnomalyLabel { anomaly: a.code() });
        }
        m.tail.register(&mut registry);
        Self { registry, ..m }
    }

    /// The spool's gauges: bytes held, messages waiting, age of the oldest.
    pub fn set_spool(&self, bytes: u64, records: u64, oldest: std::time::Duration) {
        self.spool_bytes.set(bytes as i64);
        self.spool_records.set(records as i64);
        self.spool_oldest_age_seconds.set(oldest.as_secs() as i64);
    }

    /// Counts `n` drops for `reason`.
    pub fn drop(&self, reason: Drop, n: u64) {
        self.dropped
            .get_or_create(&Reason {
                reason: reason.code(),
            })
            .inc_by(n);
    }

    /// Adds what one receive step saw.
    pub fn add_step(&self, s: &crate::pipeline::StepCounts) {
        self.packets_received.inc_by(s.packets);
        self.bytes_received.inc_by(s.bytes);
        self.add_decode(&s.decode);
        self.drop(Drop::Oversize, s.oversize);
        self.drop(Drop::SourceNotAllowed, s.bad_source);
        self.drop(Drop::VniNotAllowed, s.bad_vni);
        self.timestamp_fallbacks.inc_by(s.clock_stamps);
    }

    /// Adds a batch of decode counters.
    pub fn add_decode(&self, s: &DecodeStats) {
        for r in DropReason::ALL {
            let n = s.dropped(r);
            if n > 0 {
                self.drop(Drop::Decode(r), n);
            }
        }
        for a in Anomaly::ALL {
            let n = s.anomalies[a.index()];
            if n > 0 {
                self.anomalies
                    .get_or_create(&AnomalyLabel { anomaly: a.code() })
                    .inc_by(n);
            }
        }
    }

    /// Copies librdkafka's statistics into the gauges.
    pub fn kafka_statistics(&self, s: &mirrorlake_kafka::Statistics) {
        let brokers = s.brokers.values().filter(|b| b.nodeid >= 0);
        self.kafka_queue_messages.set(s.msg_cnt as i64);
        self.kafka_queue_bytes.set(s.msg_size as i64);
        self.kafka_brokers_up
            .set(brokers.clone().filter(|b| b.state == "UP").count() as i64);
        self.kafka_rtt_us.set(
            brokers
                .clone()
                .filter_map(|b| b.rtt.as_ref().map(|w| w.avg))
                .max()
                .unwrap_or(0),
        );
        self.kafka_retries
            .set(brokers.clone().map(|b| b.txretries as i64).sum());
        self.kafka_tx_errors
            .set(brokers.map(|b| b.txerrs as i64).sum());
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    /// The README's table and `deploy/metrics/collector.json` are this
    /// registry's (`MIRRORLAKE_BLESS=1` rewrites them).
    #[test]
    fn the_metric_contract_is_this_registry() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let c =
            mirrorlake_ops::contract::check_generated(&root, "collector", &Metrics::new().encode())
                .expect("generated");
        assert!(c.metrics.len() > 20, "{c:?}");
    }
}
