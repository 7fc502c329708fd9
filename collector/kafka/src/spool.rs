//! The publisher's disk spool ([`mirrorlake_spool::Spool`]) and the rule that
//! keeps its replays exactly once across crashes.
//!
//! A replayed message carries the header `ml-spool: SPOOL-ID:SEQ`. The spool
//! forgets a record once the brokers acknowledged it, but persists that only
//! at its next commit, so after a crash some acknowledged records are still
//! in it. To find them without a broker-side index, the link persists with
//! each commit a lower bound of the offset, per partition, of every message
//! not yet acknowledged: the log end offset when replaying began in this
//! process, raised to one past each acknowledged offset (one idempotent
//! producer's messages keep their order within a partition, so anything
//! still unacknowledged lands above the last acknowledged one). Before the
//! first replay of a process, the gate reads each partition from the
//! recovered bound to its end and forgets the records it finds there with
//! this spool's id; then it persists the current log end offsets as the new
//! bounds, and only then lets replays go.

use crate::headers::BatchHeaders;
use crate::oauth::{Client, NoHooks};
use crate::settings::KafkaSettings;
use mirrorlake_spool::{AppendError, Recovery, Spool, SpoolConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const COMMIT_EVERY: Duration = Duration::from_millis(200);

struct State {
    spool: Spool,
    bounds: BTreeMap<i32, i64>,
    last_commit: Instant,
}

/// The spool shared by the sink (appends, replays) and librdkafka's
/// delivery thread (acks, failures).
pub struct SpoolLink {
    pub(crate) id: String,
    /// Message bytes awaiting the brokers' ack above which new messages go
    /// to the spool.
    pub(crate) inflight_limit: u64,
    state: Mutex<State>,
    ready: AtomicBool,
    already_stored: AtomicU64,
    /// The bounds of the previous process, when it may have replayed.
    recovered_bounds: BTreeMap<i32, i64>,
}

impl std::fmt::Debug for SpoolLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolLink").field("id", &self.id).finish()
    }
}

/// What the spool holds, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpoolStats {
    /// Bytes of segment files.
    pub bytes: u64,
    /// Records not acknowledged.
    pub records: u64,
    /// Age of the oldest of them.
    pub oldest_age: Duration,
    /// Records found already in Kafka after a restart (not replayed again).
    pub already_stored: u64,
    /// Replays may go (the gate ran).
    pub replaying: bool,
}

fn encode_bounds(b: &BTreeMap<i32, i64>) -> Vec<u8> {
    b.iter()
        .map(|(p, o)| format!("{p}={o}"))
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

fn decode_bounds(b: &[u8]) -> BTreeMap<i32, i64> {
    std::str::from_utf8(b)
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| {
            let (p, o) = kv.split_once('=')?;
            Some((p.parse().ok()?, o.parse().ok()?))
        })
        .collect()
}

impl SpoolLink {
    /// Opens the spool; replays wait for [`start_gate`](Self::start_gate).
    pub fn open(
        config: SpoolConfig,
        inflight_limit: u64,
    ) -> std::io::Result<(Arc<Self>, Recovery)> {
        let (spool, rec) = Spool::open(config)?;
        let recovered_bounds = decode_bounds(&rec.note);
        let link = Self {
            id: spool.id().to_owned(),
            inflight_limit,
            state: Mutex::new(State {
                spool,
                bounds: recovered_bounds.clone(),
                last_commit: Instant::now(),
            }),
            ready: AtomicBool::new(false),
            already_stored: AtomicU64::new(0),
            recovered_bounds,
        };
        Ok((Arc::new(link), rec))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.state().spool.is_empty()
    }

    pub(crate) fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn append(&self, meta: &[u8], body: &[u8]) -> Result<(), AppendError> {
        match self.state().spool.append(meta, body) {
            Ok(_) => Ok(()),
            Err(e) => {
                if let AppendError::Io(io) = &e {
                    tracing::error!(error = %io, "spool write failed");
                }
                Err(e)
            }
        }
    }

    pub(crate) fn next_unsent(&self) -> Option<(u64, BatchHeaders, Vec<u8>)> {
        let mut st = self.state();
        loop {
            match st.spool.next_unsent() {
                Ok(Some(e)) => match BatchHeaders::from_lines(&e.meta) {
                    Some(h) => return Some((e.seq, h, e.body)),
                    None => {
                        tracing::error!(seq = e.seq, "spool record without headers; dropped");
                        st.spool.ack(e.seq);
                    }
                },
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(error = %e, "spool read failed");
                    return None;
                }
            }
        }
    }

    pub(crate) fn retry(&self, seq: u64) {
        self.state().spool.retry(seq);
    }

    pub(crate) fn drop_record(&self, seq: u64) {
        self.state().spool.ack(seq);
    }

    /// The brokers acknowledged a message at `offset` of `partition`.
    pub(crate) fn delivered(&self, partition: i32, offset: i64, origin: &crate::publisher::Origin) {
        let mut st = self.state();
        let b = st.bounds.entry(partition).or_insert(0);
        *b = (*b).max(offset + 1);
        if let crate::publisher::Origin::Spooled(seq) = origin {
            st.spool.ack(*seq);
        }
    }

    fn commit_locked(st: &mut State) {
        let note = encode_bounds(&st.bounds);
        st.spool.set_note(note);
        if let Err(e) = st.spool.commit() {
            tracing::error!(error = %e, "spool commit failed");
        }
        st.last_commit = Instant::now();
    }

    /// Persists the cursor and the bounds (at most every 200 ms).
    pub(crate) fn commit(&self) {
        let mut st = self.state();
        if st.last_commit.elapsed() >= COMMIT_EVERY {
            Self::commit_locked(&mut st);
        }
    }

    /// Persists the cursor and the bounds now.
    pub(crate) fn close(&self) {
        Self::commit_locked(&mut self.state());
    }

    /// What the spool holds.
    pub fn stats(&self) -> SpoolStats {
        let st = self.state();
        SpoolStats {
            bytes: st.spool.bytes(),
            records: st.spool.pending() as u64,
            oldest_age: st.spool.oldest_age().unwrap_or_default(),
            already_stored: self.already_stored.load(Ordering::Relaxed),
            replaying: self.ready(),
        }
    }

    /// Starts the gate on a thread of its own: until the brokers answer it
    /// retries; then it forgets the records a previous process replayed
    /// that the topic already holds, persists the new bounds and lets
    /// replays go. Stops early when `stop` is set.
    pub fn start_gate(
        self: &Arc<Self>,
        settings: KafkaSettings,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let link = self.clone();
        std::thread::Builder::new()
            .name("spool-gate".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match link.gate(&settings, &stop) {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "spool: cannot check the topic yet; replays wait");
                            std::thread::sleep(Duration::from_secs(2));
                        }
                    }
                }
            })
    }

    fn gate(&self, settings: &KafkaSettings, stop: &AtomicBool) -> Result<(), String> {
        let topic = settings.topic.as_str();
        let consumer: BaseConsumer<Client> = settings
            .consumer_config(
                &format!("mirrorlake-spool-{}", self.id),
                &format!("spool-{}", self.id),
            )
            .set("enable.partition.eof", "true")
            .create_with_context(Client(NoHooks))
            .map_err(|e| format!("consumer: {e}"))?;
        let timeout = Duration::from_secs(5);
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| format!("metadata: {e}"))?;
        let n = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map_or(0, |t| t.partitions().len());
        if n == 0 {
            return Err(format!("topic {topic} has no partitions"));
        }
        let mut ends = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for p in 0..n as i32 {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(|e| format!("watermarks of partition {p}: {e}"))?;
            ends.insert(p, high);
            if !self.recovered_bounds.is_empty() {
                let from = self
                    .recovered_bounds
                    .get(&p)
                    .copied()
                    .unwrap_or(low)
                    .max(low);
                if from < high {
                    tpl.add_partition_offset(topic, p, Offset::Offset(from))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        let mut found = BTreeSet::new();
        if tpl.count() > 0 {
            let want = tpl.count();
            consumer.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
            let mut done = BTreeSet::new();
            let deadline = Instant::now() + Duration::from_secs(300);
            let prefix = format!("{}:", self.id);
            while done.len() < want {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    return Err("reading back the spooled messages did not finish".into());
                }
                match consumer.poll(Duration::from_millis(500)) {
                    Some(Ok(m)) => {
                        let p = m.partition();
                        if m.offset() + 1 >= ends[&p] {
                            done.insert(p);
                        }
                        let Some(h) = m.headers() else { continue };
                        let seq = h
                            .iter()
                            .find(|x| x.key == "ml-spool")
                            .and_then(|x| x.value)
                            .and_then(|v| std::str::from_utf8(v).ok())
                            .and_then(|v| v.strip_prefix(prefix.as_str()))
                            .and_then(|s| s.parse::<u64>().ok());
                        if let Some(seq) = seq {
                            found.insert(seq);
                        }
                    }
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                        done.insert(p);
                    }
                    Some(Err(e)) => return Err(format!("reading back: {e}")),
                    None => {}
                }
            }
        }
        let mut st = self.state();
        let mut forgotten = 0u64;
        for seq in &found {
            forgotten += u64::from(st.spool.ack(*seq));
        }
        for (p, high) in ends {
            let b = st.bounds.entry(p).or_insert(0);
            *b = (*b).max(high);
        }
        Self::commit_locked(&mut st);
        drop(st);
        self.already_stored.fetch_add(forgotten, Ordering::Relaxed);
        tracing::info!(
            already_stored = forgotten,
            partitions_read = tpl.count(),
            "spool: replays may go"
        );
        self.ready.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_round_trip() {
        let b: BTreeMap<i32, i64> = [(0, 17), (3, 0), (11, 1 << 40)].into();
        assert_eq!(decode_bounds(&encode_bounds(&b)), b);
        assert!(decode_bounds(b"").is_empty());
        assert!(decode_bounds(b"garbage,1=x").is_empty());
    }
}
