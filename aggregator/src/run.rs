//! `mirrorlake-aggregator run`: Kafka to Parquet, each record in exactly one
//! file. This is the I/O shell of [`crate::range::RangeMachine`], which
//! decides when a range opens, ends, is published, committed or dropped: here
//! are rdkafka, the object store and the clock. One thread polls the consumer
//! and carries out the machine's actions (object store calls run on the
//! Tokio runtime through `Handle::block_on`), so a rebalance callback and a
//! file flush never interleave.

use crate::manifest::{self, Created, Manifest};
use crate::metrics::Metrics;
use crate::range::{Action, Limits, RangeMachine};
use anyhow::{Context as _, Result, bail};
use mirrorlake_kafka::Message;
use mirrorlake_kafka::{BaseConsumer, CommitMode, Consumer, Rebalance};
use mirrorlake_kafka::{Client, KafkaSettings};
use mirrorlake_kafka::{Offset, TopicPartitionList};
use mirrorlake_lake::{FileConfig, Lake, LakeWriter, OffsetRangeNamer, RollPolicy};
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// What `run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Brokers, topic, librdkafka options.
    pub kafka: KafkaSettings,
    /// Consumer group.
    pub group: String,
    /// This aggregator's id (client id, manifests).
    pub id: String,
    /// End a range when its files reach about this many bytes.
    pub max_range_bytes: usize,
    /// End a range this long after its first record (bounds time to queryable).
    pub max_range_age: Duration,
    /// Parquet encoding.
    pub files: FileConfig,
    /// Largest message the collectors send (topic limit check).
    pub max_message_bytes: usize,
}

enum Event {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
    Lost,
}

struct Ctx {
    topic: String,
    events: Mutex<Vec<Event>>,
}

impl Ctx {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect()
    }

    fn push(&self, e: Event) {
        if let Ok(mut v) = self.events.lock() {
            v.push(e);
        }
    }
}

impl mirrorlake_kafka::Hooks for Ctx {}

impl mirrorlake_kafka::ConsumerHooks for Ctx {
    fn pre_rebalance(&self, _c: &BaseConsumer<Client<Self>>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => self.push(Event::Assigned(self.partitions(tpl))),
            Rebalance::Revoke(tpl) => self.push(Event::Revoked(self.partitions(tpl))),
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "rebalance error: every partition is dropped");
                self.push(Event::Lost);
            }
        }
    }
}

struct Aggregator {
    cfg: RunConfig,
    lake: Lake,
    rt: Handle,
    m: Arc<Metrics>,
    consumer: BaseConsumer<Client<Ctx>>,
    machine: RangeMachine,
    /// The open range's writer of each partition the machine holds a range of.
    writers: HashMap<i32, LakeWriter>,
    backoff: Duration,
    stopping: bool,
}

/// Runs until `stop` is set; then ends every undecided range (files
/// visible, offsets committed) and leaves the group.
pub fn run(
    cfg: RunConfig,
    lake: Lake,
    rt: Handle,
    m: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let ctx = Ctx {
        topic: cfg.kafka.topic.clone(),
        events: Mutex::new(Vec::new()),
    };
    let consumer: BaseConsumer<Client<Ctx>> = cfg
        .kafka
        .consumer_config(&cfg.group, &cfg.id)
        .create_with_context(Client(ctx))
        .context("kafka consumer")?;
    consumer
        .subscribe(&[cfg.kafka.topic.as_str()])
        .context("subscribe")?;
    let machine = RangeMachine::new(Limits {
        max_bytes: cfg.max_range_bytes,
        max_age: cfg.max_range_age,
    });
    let mut a = Aggregator {
        cfg,
        lake,
        rt,
        m,
        consumer,
        machine,
        writers: HashMap::new(),
        backoff: INITIAL_BACKOFF,
        stopping: false,
    };
    a.poll_loop(&stop);
    a.stopping = true;
    a.machine.shutdown();
    a.drive(None);
    // Leave the group while polling: the revocation runs its callback here.
    // (Leaving it to the consumer's drop deadlocks librdkafka's close with
    // cooperative rebalancing: the callback's incremental unassign waits on
    // the closing consumer.)
    a.consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && a.consumer.assignment().is_ok_and(|t| t.count() > 0) {
        a.consumer.poll(Duration::from_millis(100));
        a.apply_events();
    }
    Ok(())
}

const INITIAL_BACKOFF: Duration = Duration::from_millis(250);

impl Aggregator {
    fn poll_loop(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let polled = match self.consumer.poll(Duration::from_millis(200)) {
                None => None,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka poll");
                    None
                }
                Some(Ok(msg)) => Some((
                    msg.partition(),
                    msg.offset(),
                    msg.payload().map(<[u8]>::to_vec),
                )),
            };
            self.apply_events();
            if let Some((p, off, payload)) = polled
                && self.machine.record(p, off, Instant::now())
            {
                self.m.records.inc();
                self.drive(Some((off, payload.as_deref())));
            }
            self.machine.tick(Instant::now());
            self.drive(None);
            if self.m.healthy.load(Ordering::Relaxed) {
                self.backoff = INITIAL_BACKOFF;
            }
        }
    }

    /// Carries out the machine's actions; `record` is the offset and
    /// payload of the record just given to it (a `None` payload: a record
    /// without one).
    fn drive(&mut self, record: Option<(i64, Option<&[u8]>)>) {
        while let Some(action) = self.machine.poll_action() {
            let p = action.partition();
            if let Err(e) = self.execute(action, record) {
                tracing::error!(partition = p, error = %format!("{e:#}"), "lake write failed; resuming from the committed offset");
                self.m.healthy.store(false, Ordering::Relaxed);
                self.machine.failed(p);
            }
        }
    }

    fn execute(&mut self, action: Action, record: Option<(i64, Option<&[u8]>)>) -> Result<()> {
        match action {
            Action::Open { partition, first } => self.open(partition, first),
            Action::Write { partition, offset } => match record {
                Some((at, payload)) if at == offset => self.write(partition, offset, payload),
                _ => bail!("no record at offset {offset} to write"),
            },
            Action::Decide {
                partition,
                first,
                last,
            } => self.decide(partition, first, last),
            Action::Publish {
                partition,
                first,
                last,
                replay,
            } => self.publish(partition, first, last, replay),
            Action::Commit { partition, offset } => {
                self.commit(partition, offset);
                Ok(())
            }
            Action::Abort {
                partition,
                first,
                last,
                why,
            } => {
                self.writers.remove(&partition);
                self.m.ranges_aborted.inc();
                tracing::info!(
                    partition,
                    first,
                    last,
                    why = why.as_str(),
                    "range abandoned"
                );
                Ok(())
            }
            Action::Rewind { partition } => {
                self.rewind(partition);
                Ok(())
            }
        }
    }

    /// Moves the partition back to its committed offset (everything before
    /// it is in the lake; ranges after it are replayed onto the same names
    /// through their manifests), after a pause that doubles up to 30 s.
    fn rewind(&mut self, p: i32) {
        if self.stopping {
            return;
        }
        let topic = self.cfg.kafka.topic.clone();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, p);
        let committed = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .map(|t| {
                t.find_partition(&topic, p)
                    .map_or(Offset::Invalid, |e| e.offset())
            });
        let target = match committed {
            Ok(Offset::Offset(o)) => Ok(Offset::Offset(o)),
            Ok(_) => Ok(Offset::Beginning),
            Err(e) => Err(e),
        };
        tracing::info!(partition = p, to = ?target, retry_in_ms = self.backoff.as_millis() as u64, "resuming from the committed offset");
        let sought = target.and_then(|t| self.consumer.seek(&topic, p, t, Duration::from_secs(10)));
        if let Err(e) = sought {
            tracing::warn!(partition = p, error = %e, "seek back failed; leaving the group to restart from the committed offsets");
            self.machine.lose_all();
            self.consumer.unsubscribe();
            let _ = self.consumer.subscribe(&[topic.as_str()]);
        }
        std::thread::sleep(self.backoff);
        self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
    }

    fn apply_events(&mut self) {
        let events = std::mem::take(
            &mut *self
                .consumer
                .context()
                .0
                .events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for e in events {
            match e {
                Event::Assigned(ps) => {
                    tracing::info!(partitions = ?ps, "assigned");
                    self.machine.assign(&ps);
                }
                Event::Revoked(ps) => {
                    tracing::info!(partitions = ?ps, "revoked");
                    self.machine.revoke(&ps);
                }
                Event::Lost => self.machine.lose_all(),
            }
            self.drive(None);
        }
        self.m.partitions.set(self.machine.assigned().len() as i64);
    }

    fn writer(&mut self, p: i32) -> Result<&mut LakeWriter> {
        self.writers
            .get_mut(&p)
            .with_context(|| format!("no open range for partition {p}"))
    }

    fn open(&mut self, p: i32, first: i64) -> Result<()> {
        let topic = &self.cfg.kafka.topic;
        let decided = self
            .rt
            .block_on(manifest::get(&self.lake, topic, p, first))
            .context("read range manifest")?;
        if let Some(m) = &decided {
            tracing::info!(
                partition = p,
                first,
                last = m.last_offset,
                "replaying a decided range"
            );
            self.m.ranges_replayed.inc();
        }
        let writer = LakeWriter::new(
            self.lake.clone(),
            self.cfg.files.clone(),
            RollPolicy {
                max_file_bytes: usize::MAX,
                max_file_age: Duration::from_secs(365 * 86_400),
            },
            Box::new(OffsetRangeNamer::new(topic, p, first)),
        );
        self.writers.insert(p, writer);
        self.machine.opened(p, decided.map(|m| m.last_offset));
        Ok(())
    }

    fn write(&mut self, p: i32, off: i64, payload: Option<&[u8]>) -> Result<()> {
        match payload.map(mirrorlake_schema::message::decode) {
            Some(Ok(batches)) => {
                let rt = self.rt.clone();
                let w = self.writer(p)?;
                for b in &batches {
                    rt.block_on(w.write(b, Instant::now()))?;
                }
            }
            other => {
                let why = match other {
                    Some(Err(e)) => e.to_string(),
                    _ => "empty record".to_owned(),
                };
                let path = manifest::dead_letter_path(&self.lake, &self.cfg.kafka.topic, p, off);
                tracing::warn!(partition = p, offset = off, %why, %path, "not a mirrorlake batch; kept as a dead letter");
                let body = PutPayload::from(payload.unwrap_or_default().to_vec());
                self.rt.block_on(self.lake.store.put(&path, body))?;
                self.m.dead_letters.inc();
            }
        }
        let bytes = self.writer(p)?.buffered_bytes();
        self.machine.wrote(p, off, bytes);
        Ok(())
    }

    fn decide(&mut self, p: i32, first: i64, last: i64) -> Result<()> {
        let topic = self.cfg.kafka.topic.clone();
        let id = self.cfg.id.clone();
        let w = self.writer(p)?;
        let m = Manifest {
            topic,
            partition: p,
            first_offset: first,
            last_offset: last,
            rows: w.buffered_rows(),
            files: w.open_paths().iter().map(ToString::to_string).collect(),
            writer: id,
        };
        let existing = match self.rt.block_on(manifest::create(&self.lake, &m))? {
            Created::New => None,
            Created::Existing(other) => {
                if other.last_offset != last {
                    tracing::warn!(
                        partition = p,
                        first,
                        last,
                        decided_by = %other.writer,
                        decided_last = other.last_offset,
                        "range decided differently by another owner; re-reading it"
                    );
                }
                Some(other.last_offset)
            }
        };
        self.machine.decided(p, existing);
        Ok(())
    }

    fn publish(&mut self, p: i32, first: i64, last: i64, replay: bool) -> Result<()> {
        let mut w = self
            .writers
            .remove(&p)
            .with_context(|| format!("no open range for partition {p}"))?;
        if replay {
            let out = self
                .rt
                .block_on(crate::compact::discard_published(&self.lake, &mut w))?;
            if out > 0 {
                tracing::info!(
                    partition = p,
                    first,
                    files = out,
                    "replayed range: files already out (published or compacted) are not published again"
                );
            }
        }
        let closed = self.rt.block_on(w.close_all())?;
        for f in &closed {
            self.m.files_written.inc();
            self.m.rows_written.inc_by(f.rows);
            self.m.flow_rows_written.inc_by(f.flow_rows);
            self.m.bytes_written.inc_by(f.bytes);
            tracing::debug!(path = %f.path, rows = f.rows, bytes = f.bytes, "file written");
        }
        self.m.healthy.store(true, Ordering::Relaxed);
        tracing::info!(
            partition = p,
            first,
            last,
            files = closed.len(),
            "range published"
        );
        Ok(())
    }

    fn commit(&mut self, p: i32, offset: i64) {
        let mut tpl = TopicPartitionList::new();
        let added = tpl.add_partition_offset(&self.cfg.kafka.topic, p, Offset::Offset(offset));
        match added.and_then(|()| self.consumer.commit(&tpl, CommitMode::Sync)) {
            Ok(()) => {
                self.m.ranges_committed.inc();
            }
            Err(e) => {
                // The files are complete and the manifest says so: the next
                // owner replays the same range onto the same names.
                self.m.commit_failures.inc();
                tracing::warn!(partition = p, offset, error = %e, "offset commit failed");
            }
        }
    }
}

/// Start-up checks: the topic exists (waiting for the first collector to
/// create it: its `kafka.partitions` sizes it, not a built-in count here)
/// and can carry the collectors' messages, and this consumer can fetch them.
pub async fn check_topic(cfg: &RunConfig) -> Result<()> {
    let spec = mirrorlake_kafka::TopicSpec {
        partitions: -1,
        replication: -1,
        max_message_bytes: cfg.max_message_bytes,
        create: false,
    };
    let mut waiting = None;
    let info = loop {
        match mirrorlake_kafka::ensure_topic(&cfg.kafka, spec, Duration::from_secs(30)).await {
            Err(e @ mirrorlake_kafka::TopicError::Missing { .. }) => {
                if waiting.is_none_or(|t: std::time::Instant| t.elapsed() > Duration::from_secs(60))
                {
                    tracing::warn!(error = %e, "waiting for the topic");
                    waiting = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            r => break r?,
        }
    };
    let consumer = cfg.kafka.consumer_config(&cfg.group, &cfg.id);
    for key in ["fetch.max.bytes", "max.partition.fetch.bytes"] {
        let v: usize = consumer.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
        if v < info.max_message_bytes {
            bail!(
                "kafka option {key} = {v} is below the topic's max.message.bytes = {}: raise it with --kafka-option {key}={}",
                info.max_message_bytes,
                info.max_message_bytes
            );
        }
    }
    tracing::info!(topic = %cfg.kafka.topic, partitions = info.partitions, "kafka topic ready");
    Ok(())
}
