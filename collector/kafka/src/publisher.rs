//! The collector's publisher: one self-contained Arrow IPC message per batch
//! (split to fit the size limit), an idempotent producer with a bounded local
//! queue, and a call that never waits: when Kafka is slow or away the queue
//! fills and new batches are refused at once, so the caller counts them.
//! Every row handed over ends in exactly one observer call: `delivered` or
//! `failed` (a full queue is reported by `publish` itself).

use crate::headers::BatchHeaders;
use crate::settings::KafkaSettings;
use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use mirrorlake_schema::SCHEMA_VERSION;
use mirrorlake_schema::message::{Codec, encode_split};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use std::sync::Arc;
use std::time::Duration;

/// Receives the fate of published rows and librdkafka's statistics.
pub trait PublishObserver: Send + Sync + 'static {
    /// A message was acknowledged by the brokers (acks=all).
    fn delivered(&self, rows: u64, bytes: u64);
    /// A queued message failed for good (or was purged at shutdown).
    fn failed(&self, rows: u64, error: &KafkaError);
    /// librdkafka's periodic statistics.
    fn statistics(&self, stats: &Statistics);
}

struct Context {
    observer: Arc<dyn PublishObserver>,
}

struct InFlight {
    rows: u64,
    bytes: u64,
}

impl ClientContext for Context {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        crate::oauth::token()
    }

    fn stats(&self, statistics: Statistics) {
        self.observer.statistics(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, m: Self::DeliveryOpaque) {
        match result {
            Ok(_) => self.observer.delivered(m.rows, m.bytes),
            Err((e, _)) => self.observer.failed(m.rows, e),
        }
    }
}

/// Rows `publish` could not hand to the producer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Refused because the bounded local queue was full (Kafka slow or away).
    pub queue_full: u64,
    /// Refused for another reason (encoding, a row over the size limit...).
    pub error: u64,
}

/// Publishes packet batches to the topic.
pub struct Publisher {
    producer: ThreadedProducer<Context>,
    topic: String,
    collector: String,
    max_message_bytes: usize,
    seq: u64,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.topic)
            .field("seq", &self.seq)
            .finish()
    }
}

impl Publisher {
    /// A publisher for `settings.topic`, with a local queue of at most
    /// `queue_kbytes` KiB.
    pub fn new(
        settings: &KafkaSettings,
        collector: &str,
        max_message_bytes: usize,
        queue_kbytes: usize,
        observer: Arc<dyn PublishObserver>,
    ) -> Result<Self, KafkaError> {
        let producer = settings
            .producer_config(collector, queue_kbytes, max_message_bytes)
            .create_with_context(Context { observer })?;
        Ok(Self {
            producer,
            topic: settings.topic.clone(),
            collector: collector.to_owned(),
            max_message_bytes,
            seq: 0,
        })
    }

    /// Hands a batch to the producer without waiting; returns the rows that
    /// were refused (the rest end in `delivered` or `failed`).
    pub fn publish(&mut self, batch: &RecordBatch) -> Rejected {
        self.seq += 1;
        let mut rejected = Rejected::default();
        let messages = match encode_split(batch, Codec::Zstd, self.max_message_bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, rows = batch.num_rows(), "encoding a batch failed");
                rejected.error += batch.num_rows() as u64;
                return rejected;
            }
        };
        for (part, m) in messages.iter().enumerate() {
            let (rows, msg) = (m.rows, &m.bytes);
            let (ts_min_us, ts_max_us) = ts_range(&batch.slice(m.offset, m.rows));
            let headers = BatchHeaders {
                schema_version: SCHEMA_VERSION,
                collector: self.collector.clone(),
                batch_seq: self.seq,
                part: part as u32,
                rows: rows as u64,
                ts_min_us,
                ts_max_us,
            };
            let record: BaseRecord<'_, (), [u8], Box<InFlight>> = BaseRecord::with_opaque_to(
                &self.topic,
                Box::new(InFlight {
                    rows: rows as u64,
                    bytes: msg.len() as u64,
                }),
            )
            .payload(msg.as_slice())
            .headers(headers.to_kafka());
            if let Err((e, _)) = self.producer.send(record) {
                if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) {
                    rejected.queue_full += rows as u64;
                } else {
                    tracing::warn!(error = %e, rows, "kafka refused a message");
                    rejected.error += rows as u64;
                }
            }
        }
        rejected
    }

    /// Waits up to `timeout` for queued messages to be delivered; what is
    /// still queued then is purged and reported as failed.
    pub fn close(self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, left = self.producer.in_flight_count(), "kafka flush at shutdown incomplete; the rest is counted as dropped");
        }
        // Dropping the producer purges what is left, through `delivery`.
    }
}

fn ts_range(batch: &RecordBatch) -> (i64, i64) {
    let Some(ts) = batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
    else {
        return (0, 0);
    };
    (
        arrow::compute::min(ts).unwrap_or(0),
        arrow::compute::max(ts).unwrap_or(0),
    )
}
