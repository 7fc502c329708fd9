//! The collector's publisher: one self-contained Arrow IPC message per batch
//! (split to fit the size limit), an idempotent producer with a bounded local
//! queue, and a call that never waits: when Kafka is slow or away the queue
//! fills and new batches are refused at once, so the caller counts them.
//! Every row handed over ends in exactly one observer call: `delivered` or
//! `failed` (a full queue is reported by `publish_encoded` itself).

use crate::headers::BatchHeaders;
use crate::oauth::{Client, Hooks, ProducerHooks};
use crate::settings::KafkaSettings;
use crate::spool::SpoolLink;
use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use mirrorlake_schema::SCHEMA_VERSION;
use mirrorlake_schema::message::{Codec, MessageError, encode_split};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::statistics::Statistics;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Receives the fate of published rows and librdkafka's statistics.
pub trait PublishObserver: Send + Sync + 'static {
    /// A message was acknowledged by the brokers (acks=all).
    fn delivered(&self, rows: u64, bytes: u64);
    /// A queued message failed for good (or was purged at shutdown).
    fn failed(&self, rows: u64, error: &KafkaError);
    /// librdkafka's periodic statistics.
    fn statistics(&self, stats: &Statistics);
    /// Rows written to the disk spool (the brokers slow or away).
    fn spooled(&self, _rows: u64) {}
    /// Rows of spooled messages the brokers acknowledged.
    fn replayed(&self, _rows: u64) {}
    /// Rows refused because the spool was full (or its disk failed).
    fn spool_full(&self, _rows: u64) {}
}

struct Context {
    observer: Arc<dyn PublishObserver>,
    inflight: Arc<AtomicU64>,
    spool: Option<Arc<SpoolLink>>,
}

/// Where a message in flight came from.
pub(crate) enum Origin {
    /// Sent at once; with a spool, its bytes are kept so that a failure
    /// (the shutdown purge) spools it instead of dropping it.
    Direct(Option<(Vec<u8>, Vec<u8>)>),
    /// Replayed from the spool: this record.
    Spooled(u64),
}

pub(crate) struct InFlight {
    rows: u64,
    bytes: u64,
    origin: Origin,
}

impl Hooks for Context {
    fn stats(&self, statistics: Statistics) {
        self.observer.statistics(&statistics);
    }
}

impl ProducerHooks for Context {
    type Opaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, m: Box<InFlight>) {
        self.inflight.fetch_sub(m.bytes, Ordering::Relaxed);
        let InFlight {
            rows,
            bytes,
            origin,
        } = *m;
        match (result, origin, &self.spool) {
            (Ok(msg), origin, spool) => {
                if let Some(link) = spool {
                    link.delivered(msg.partition(), msg.offset(), &origin);
                }
                self.observer.delivered(rows, bytes);
                if matches!(origin, Origin::Spooled(_)) {
                    self.observer.replayed(rows);
                }
            }
            // A replayed message stays in the spool: it is sent again.
            (Err(_), Origin::Spooled(seq), Some(link)) => link.retry(seq),
            (Err((e, _)), Origin::Direct(Some((meta, body))), Some(link)) => {
                match link.append(&meta, &body) {
                    Ok(()) => self.observer.spooled(rows),
                    Err(why) => {
                        tracing::warn!(error = %e, %why, rows, "kafka delivery failed and the spool refused the message");
                        self.observer.spool_full(rows);
                    }
                }
            }
            (Err((e, _)), _, _) => self.observer.failed(rows, e),
        }
    }
}

/// Rows `publish_encoded` could not hand to the producer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Refused because the bounded local queue was full (Kafka slow or away)
    /// and no spool took them.
    pub queue_full: u64,
    /// Refused for another reason (encoding, a row over the size limit...).
    pub error: u64,
    /// Refused because the spool was full (or its disk failed).
    pub spool_full: u64,
    /// Written to the spool (not refused: they are replayed).
    pub spooled: u64,
}

/// Publishes packet batches to the topic.
pub struct Publisher {
    producer: ThreadedProducer<Client<Context>>,
    topic: String,
    collector: String,
    max_message_bytes: usize,
    codec: Codec,
    seq: u64,
    inflight: Arc<AtomicU64>,
    spool: Option<Arc<SpoolLink>>,
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
    /// A publisher for `settings.topic`, of messages of at most
    /// `max_message_bytes` compressed with ZSTD at `zstd_level`, with a
    /// local queue of at most `queue_kbytes` KiB, and, given a spool,
    /// spilling to it what the brokers have not taken.
    pub fn new(
        settings: &KafkaSettings,
        collector: &str,
        max_message_bytes: usize,
        zstd_level: i32,
        queue_kbytes: usize,
        observer: Arc<dyn PublishObserver>,
        spool: Option<Arc<SpoolLink>>,
    ) -> Result<Self, KafkaError> {
        let inflight = Arc::new(AtomicU64::new(0));
        let producer = settings
            .producer_config(collector, queue_kbytes, max_message_bytes)
            .create_with_context(Client(Context {
                observer,
                inflight: inflight.clone(),
                spool: spool.clone(),
            }))?;
        Ok(Self {
            producer,
            topic: settings.topic.clone(),
            collector: collector.to_owned(),
            max_message_bytes,
            codec: Codec::Zstd(zstd_level),
            seq: 0,
            inflight,
            spool,
        })
    }

    fn send(
        &self,
        headers: &BatchHeaders,
        body: &[u8],
        rows: u64,
        origin: Origin,
    ) -> Result<(), (KafkaError, Box<InFlight>)> {
        let record: BaseRecord<'_, (), [u8], Box<InFlight>> = BaseRecord::with_opaque_to(
            &self.topic,
            Box::new(InFlight {
                rows,
                bytes: body.len() as u64,
                origin,
            }),
        )
        .payload(body)
        .headers(headers.to_kafka());
        self.inflight
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.producer.send(record).map_err(|(e, r)| {
            self.inflight
                .fetch_sub(body.len() as u64, Ordering::Relaxed);
            (e, r.delivery_opaque)
        })
    }

    /// How this publisher's batches are encoded, for encoder threads:
    /// [`EncodedBatch::encode`] with its codec and message size limit.
    pub fn encoder(&self) -> impl Fn(&RecordBatch) -> EncodedBatch + Send + Sync + 'static {
        let (codec, max) = (self.codec, self.max_message_bytes);
        move |b| EncodedBatch::encode(b, codec, max)
    }

    /// Hands an encoded batch to the producer without waiting; returns the
    /// rows that were refused or spooled (the rest end in `delivered` or
    /// `failed`). With a spool, a message goes to the brokers at once only
    /// while the spool is empty and less than the spool's in-flight bound
    /// awaits the brokers; otherwise to the spool, in order. Batches must
    /// come in the order they were received (their `batch_seq`).
    pub fn publish_encoded(&mut self, batch: EncodedBatch) -> Rejected {
        self.seq += 1;
        let mut rejected = Rejected::default();
        let messages = match batch.messages {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, rows = batch.rows, "encoding a batch failed");
                rejected.error += batch.rows;
                return rejected;
            }
        };
        for (part, m) in messages.into_iter().enumerate() {
            let rows = m.rows;
            let headers = BatchHeaders {
                schema_version: SCHEMA_VERSION,
                collector: self.collector.clone(),
                batch_seq: self.seq,
                part: part as u32,
                rows,
                ts_min_us: m.ts_min_us,
                ts_max_us: m.ts_max_us,
                spool: None,
            };
            let direct = self.spool.as_ref().is_none_or(|l| {
                l.is_empty() && self.inflight.load(Ordering::Relaxed) < l.inflight_limit
            });
            if direct {
                let keep = self
                    .spool
                    .as_ref()
                    .map(|_| (headers.to_lines(), m.bytes.clone()));
                match self.send(&headers, &m.bytes, rows, Origin::Direct(keep)) {
                    Ok(()) => continue,
                    Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                        if self.spool.is_none() {
                            rejected.queue_full += rows;
                            continue;
                        }
                    }
                    Err((e, _)) => {
                        tracing::warn!(error = %e, rows, "kafka refused a message");
                        rejected.error += rows;
                        continue;
                    }
                }
            }
            if let Some(link) = &self.spool {
                match link.append(&headers.to_lines(), &m.bytes) {
                    Ok(()) => rejected.spooled += rows,
                    Err(_) => rejected.spool_full += rows,
                }
            }
        }
        rejected
    }

    /// Replays spooled messages while fewer bytes than the spool's in-flight
    /// bound await the brokers, and persists the spool's cursor. Returns the
    /// rows of replayed messages the brokers refused for good (counted as
    /// errors: a message that can never be sent is not kept for ever).
    pub fn pump(&mut self) -> u64 {
        let Some(link) = self.spool.clone() else {
            return 0;
        };
        let mut refused = 0;
        while link.ready() && self.inflight.load(Ordering::Relaxed) < link.inflight_limit {
            let Some((seq, mut headers, body)) = link.next_unsent() else {
                break;
            };
            headers.spool = Some(format!("{}:{seq}", link.id));
            let rows = headers.rows;
            match self.send(&headers, &body, rows, Origin::Spooled(seq)) {
                Ok(()) => {}
                Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    link.retry(seq);
                    break;
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, rows, seq, "kafka refused a spooled message; dropped");
                    link.drop_record(seq);
                    refused += rows;
                }
            }
        }
        link.commit();
        refused
    }

    /// Waits up to `timeout` for queued messages to be delivered; what is
    /// still queued then is purged: spooled when there is a spool (a
    /// replayed message stays in it), else reported as failed.
    pub fn close(self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            let left = self.producer.in_flight_count();
            if self.spool.is_some() {
                tracing::warn!(error = %e, left, "kafka flush at shutdown incomplete; the rest stays in the spool");
            } else {
                tracing::warn!(error = %e, left, "kafka flush at shutdown incomplete; the rest is counted as dropped");
            }
        }
        let Self {
            producer, spool, ..
        } = self;
        // Dropping the producer purges what is left, through `delivery`.
        drop(producer);
        if let Some(link) = spool {
            link.close();
        }
    }
}

/// One message of an encoded batch.
#[derive(Debug)]
pub struct EncodedMessage {
    rows: u64,
    ts_min_us: i64,
    ts_max_us: i64,
    bytes: Vec<u8>,
}

/// A batch encoded as the topic's messages (Arrow IPC, ZSTD, split to the
/// size limit): the CPU work of publishing, done on any thread, so that
/// encoders can run in parallel while one thread publishes in order.
#[derive(Debug)]
pub struct EncodedBatch {
    rows: u64,
    messages: Result<Vec<EncodedMessage>, MessageError>,
}

impl EncodedBatch {
    /// Encodes `batch` with `codec` in messages of at most
    /// `max_message_bytes`.
    pub fn encode(batch: &RecordBatch, codec: Codec, max_message_bytes: usize) -> Self {
        let messages = encode_split(batch, codec, max_message_bytes).map(|parts| {
            parts
                .into_iter()
                .map(|m| {
                    let (ts_min_us, ts_max_us) = ts_range(&batch.slice(m.offset, m.rows));
                    EncodedMessage {
                        rows: m.rows as u64,
                        ts_min_us,
                        ts_max_us,
                        bytes: m.bytes,
                    }
                })
                .collect()
        });
        Self {
            rows: batch.num_rows() as u64,
            messages,
        }
    }

    /// Rows of the batch.
    pub fn rows(&self) -> u64 {
        self.rows
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
