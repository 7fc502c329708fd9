//! `mirrorlake-aggregator run`: Kafka to Parquet, each record in exactly one
//! file. One thread polls the consumer and drives the lake writer (object
//! store calls run on the Tokio runtime through `Handle::block_on`), so a
//! rebalance callback and a file flush can never interleave.
//!
//! Per assigned partition there is at most one open *range*: the records
//! from `first` to `last` offset, written into one file per hour they touch
//! (names from topic, partition and `first`). A range ends by size, by age,
//! or where an existing manifest says it ends. Ending it: create the
//! manifest (conditional), complete the files (visible now), commit
//! `last + 1`. See ARCHITECTURE.md, "Exactly once", for why no crash,
//! replay or rebalance can produce a duplicate or a gap.

use crate::manifest::{self, Created, Manifest};
use crate::metrics::Metrics;
use anyhow::{Context as _, Result, bail};
use mirrorlake_kafka::Message;
use mirrorlake_kafka::{BaseConsumer, CommitMode, Consumer, Rebalance};
use mirrorlake_kafka::{Client, KafkaSettings};
use mirrorlake_kafka::{Offset, TopicPartitionList};
use mirrorlake_lake::{FileConfig, Lake, LakeWriter, OffsetRangeNamer, RollPolicy};
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::{HashMap, HashSet};
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

struct Range {
    first: i64,
    last: i64,
    /// Set when a manifest already decided where this range ends.
    decided_end: Option<i64>,
    opened: Instant,
    writer: LakeWriter,
}

struct Aggregator {
    cfg: RunConfig,
    lake: Lake,
    rt: Handle,
    m: Arc<Metrics>,
    consumer: BaseConsumer<Client<Ctx>>,
    ranges: HashMap<i32, Range>,
    assigned: HashSet<i32>,
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
    let mut a = Aggregator {
        cfg,
        lake,
        rt,
        m,
        consumer,
        ranges: HashMap::new(),
        assigned: HashSet::new(),
    };
    let result = a.poll_loop(&stop);
    // Graceful end: decide and publish what we hold; replays in progress are
    // left to the next owner (their manifest already says where they end).
    let parts: Vec<i32> = a.ranges.keys().copied().collect();
    for p in parts {
        if a.ranges.get(&p).is_some_and(|r| r.decided_end.is_none()) {
            if let Err(e) = a.end_range(p) {
                tracing::error!(partition = p, error = %e, "final flush failed; the range will be re-read");
            }
        } else {
            a.abort(p, "shutdown during replay");
        }
    }
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
    result
}

impl Aggregator {
    fn poll_loop(&mut self, stop: &AtomicBool) -> Result<()> {
        let mut backoff = Duration::from_millis(250);
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
                && let Err(e) = self.record(p, off, payload.as_deref())
            {
                self.retry(p, &e, &mut backoff);
                continue;
            }
            let due: Vec<i32> = self
                .ranges
                .iter()
                .filter(|(_, r)| {
                    r.decided_end.is_none() && r.opened.elapsed() >= self.cfg.max_range_age
                })
                .map(|(p, _)| *p)
                .collect();
            for p in due {
                if let Err(e) = self.end_range(p) {
                    self.retry(p, &e, &mut backoff);
                }
            }
            if self.m.healthy.load(Ordering::Relaxed) {
                backoff = Duration::from_millis(250);
            }
        }
        Ok(())
    }

    /// A write failed: drop what we hold of the partition and resume from
    /// its committed offset (everything before it is in the lake; ranges
    /// after it are replayed onto the same names through their manifests),
    /// after a pause that doubles up to 30 s.
    fn retry(&mut self, p: i32, e: &anyhow::Error, backoff: &mut Duration) {
        tracing::error!(partition = p, error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "lake write failed; resuming from the committed offset");
        self.m.healthy.store(false, Ordering::Relaxed);
        if self.ranges.remove(&p).is_some() {
            self.m.ranges_aborted.inc();
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
        let sought = target.and_then(|t| self.consumer.seek(&topic, p, t, Duration::from_secs(10)));
        if let Err(e) = sought {
            tracing::warn!(partition = p, error = %e, "seek back failed; leaving the group to restart from the committed offsets");
            self.ranges.clear();
            self.consumer.unsubscribe();
            let _ = self.consumer.subscribe(&[topic.as_str()]);
        }
        std::thread::sleep(*backoff);
        *backoff = (*backoff * 2).min(Duration::from_secs(30));
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
                    self.assigned.extend(ps);
                }
                Event::Revoked(ps) => {
                    tracing::info!(partitions = ?ps, "revoked");
                    for p in ps {
                        self.assigned.remove(&p);
                        self.abort(p, "revoked");
                    }
                }
                Event::Lost => {
                    self.assigned.clear();
                    let ps: Vec<i32> = self.ranges.keys().copied().collect();
                    for p in ps {
                        self.abort(p, "assignment lost");
                    }
                }
            }
        }
        self.m.partitions.set(self.assigned.len() as i64);
    }

    /// Drops a range: nothing of it is visible, its records are read again
    /// by whoever consumes the partition next.
    fn abort(&mut self, p: i32, why: &str) {
        if let Some(r) = self.ranges.remove(&p) {
            tracing::info!(
                partition = p,
                first = r.first,
                last = r.last,
                why,
                "range abandoned"
            );
            self.m.ranges_aborted.inc();
        }
    }

    fn record(&mut self, p: i32, off: i64, payload: Option<&[u8]>) -> Result<()> {
        if !self.assigned.contains(&p) {
            return Ok(());
        }
        self.m.records.inc();
        if self
            .ranges
            .get(&p)
            .is_some_and(|r| r.decided_end.is_some_and(|end| off > end))
        {
            // The decided last record is gone (retention): end before this one.
            self.end_range(p)?;
        }
        if !self.ranges.contains_key(&p) {
            self.open_range(p, off)?;
        }
        let decoded = payload.map(mirrorlake_schema::message::decode);
        let Some(r) = self.ranges.get_mut(&p) else {
            bail!("no range for partition {p}");
        };
        match decoded {
            Some(Ok(batches)) => {
                for b in &batches {
                    self.rt.block_on(r.writer.write(b, Instant::now()))?;
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
        r.last = off;
        let end = match r.decided_end {
            Some(end) => off >= end,
            None => r.writer.buffered_bytes() >= self.cfg.max_range_bytes,
        };
        if end {
            self.end_range(p)?;
        }
        Ok(())
    }

    fn open_range(&mut self, p: i32, first: i64) -> Result<()> {
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
        self.ranges.insert(
            p,
            Range {
                first,
                last: first - 1,
                decided_end: decided.map(|m| m.last_offset),
                opened: Instant::now(),
                writer,
            },
        );
        Ok(())
    }

    /// Ends a range: manifest (unless replaying one), files, commit.
    fn end_range(&mut self, p: i32) -> Result<()> {
        let Some(mut r) = self.ranges.remove(&p) else {
            return Ok(());
        };
        if r.last < r.first {
            return Ok(());
        }
        let topic = self.cfg.kafka.topic.clone();
        if r.decided_end.is_none() {
            let m = Manifest {
                topic: topic.clone(),
                partition: p,
                first_offset: r.first,
                last_offset: r.last,
                rows: r.writer.buffered_rows(),
                files: r
                    .writer
                    .open_paths()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                writer: self.cfg.id.clone(),
            };
            match self.rt.block_on(manifest::create(&self.lake, &m))? {
                Created::New => {}
                Created::Existing(other) if other.last_offset == r.last => {}
                Created::Existing(other) => {
                    // Another owner decided this range differently while we
                    // held it: its files win; ours are never made visible.
                    self.m.ranges_aborted.inc();
                    bail!(
                        "range {}..={} of partition {p} was decided by {} as ..={}; re-reading it",
                        r.first,
                        r.last,
                        other.writer,
                        other.last_offset
                    );
                }
            }
        }
        if r.decided_end.is_some() {
            // A replay: files of this range that a compaction already
            // merged must not appear a second time.
            let merged = self
                .rt
                .block_on(crate::compact::discard_compacted(&self.lake, &mut r.writer))?;
            if merged > 0 {
                tracing::info!(
                    partition = p,
                    first = r.first,
                    files = merged,
                    "replayed range: files already compacted are not published again"
                );
            }
        }
        let closed = self.rt.block_on(r.writer.close_all())?;
        for f in &closed {
            self.m.files_written.inc();
            self.m.rows_written.inc_by(f.rows);
            self.m.flow_rows_written.inc_by(f.flow_rows);
            self.m.bytes_written.inc_by(f.bytes);
            tracing::debug!(path = %f.path, rows = f.rows, bytes = f.bytes, "file written");
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, p, Offset::Offset(r.last + 1))?;
        match self.consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.m.ranges_committed.inc();
            }
            Err(e) => {
                // The files are complete and the manifest says so: the next
                // owner replays the same range onto the same names.
                self.m.commit_failures.inc();
                tracing::warn!(partition = p, error = %e, "offset commit failed");
            }
        }
        self.m.healthy.store(true, Ordering::Relaxed);
        tracing::info!(
            partition = p,
            first = r.first,
            last = r.last,
            files = closed.len(),
            "range committed"
        );
        Ok(())
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
