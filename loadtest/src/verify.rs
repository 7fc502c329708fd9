//! `verify`: reads a run back from the lake and accounts for every packet.
//!
//! Generated runs are checked by id (the tag the generator put in each
//! payload): stored, lost, duplicated, per VNI and per mirror source, and
//! the time from send to arrival (the collector's stamp) and to queryable
//! (the first poll that listed the packet's file). A replayed capture is
//! checked frame by frame: each distinct frame must be in the lake as many
//! times as the capture holds it (times the loops).
//!
//! The packets table's files are read directly (only the columns needed), and
//! each file once: `--follow` polls for new files until everything sent is
//! found or the time is up, so verify can run beside a send.

use crate::send::Replay;
use crate::traffic::{TAG, now_us, parse_tag};
use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use futures::TryStreamExt;
use mirrorlake_lake::Lake;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Percentiles of a latency, milliseconds.
#[derive(Debug, Default, Serialize, PartialEq, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Latency {
    pub(crate) fn of(mut us: Vec<i64>) -> Option<Self> {
        if us.is_empty() {
            return None;
        }
        us.sort_unstable();
        let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        Some(Self {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

/// What `verify` found.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// The run (generated traffic).
    pub run_id: Option<u32>,
    /// Packets sent (generated: from `send`'s report; replay: frames × loops).
    pub sent: u64,
    /// Rows of this run in the lake.
    pub stored: u64,
    /// Distinct packets among them.
    pub unique: u64,
    /// Packets sent but not found.
    pub lost: u64,
    /// Rows beyond the first of their packet.
    pub duplicated: u64,
    /// Rows tagged with this run whose id is outside `0..sent`.
    pub unexpected: u64,
    /// Distinct packets stored, per VNI.
    pub per_vni: BTreeMap<i32, u64>,
    /// Distinct packets stored, per mirror source.
    pub per_source: BTreeMap<String, u64>,
    /// Send to the collector's arrival stamp (generated traffic).
    pub send_to_arrival: Option<Latency>,
    /// Send to the first poll that found the packet's file (`--follow`).
    pub send_to_queryable: Option<Latency>,
    /// Files of the packets table read.
    pub files: u64,
    /// With `--expect-ids`: listed ids not found in the lake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_missing: Option<u64>,
    /// With `--order`: pairs of a flow's packets (one collector, one mirror
    /// source, one Community ID) whose `ts` order and `arrival_seq` order
    /// disagree, counted between neighbours in `arrival_seq` order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_arrival_inversions: Option<u64>,
}

/// What to account for.
#[derive(Debug)]
pub enum Expect {
    /// Generated run `run_id` of `sent` packets.
    Run {
        /// Run id.
        run_id: u32,
        /// Packets sent.
        sent: u64,
    },
    /// A replayed capture, sent `loops` times.
    Replay {
        /// The capture's frames.
        replay: Replay,
        /// Loops of `send --replay`.
        loops: u32,
    },
}

fn frame_hash(frame: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    frame.hash(&mut h);
    h.finish()
}

/// Running account of one verify.
struct Account {
    report: Report,
    /// Generated: times each id was found.
    seen: Vec<u32>,
    run_id: u32,
    /// Replay: frame hash -> (expected, found).
    frames: HashMap<u64, (u64, u64)>,
    follow: bool,
    arrival: Vec<i64>,
    queryable: Vec<i64>,
    /// With `--order`: (flow, arrival_seq, ts) of each generated row.
    order: Option<Vec<(u64, i64, i64)>>,
}

impl Account {
    fn new(expect: &Expect, follow: bool, order: bool) -> Self {
        let mut a = Self {
            report: Report::default(),
            seen: Vec::new(),
            run_id: 0,
            frames: HashMap::new(),
            follow,
            arrival: Vec::new(),
            queryable: Vec::new(),
            order: order.then(Vec::new),
        };
        match expect {
            Expect::Run { run_id, sent } => {
                a.report.run_id = Some(*run_id);
                a.report.sent = *sent;
                a.run_id = *run_id;
                a.seen = vec![0; *sent as usize];
            }
            Expect::Replay { replay, loops } => {
                for f in &replay.frames {
                    a.frames.entry(frame_hash(f)).or_default().0 += u64::from(*loops);
                }
                a.report.sent = replay.frames.len() as u64 * u64::from(*loops);
            }
        }
        a
    }

    fn complete(&self) -> bool {
        self.report.unique >= self.report.sent
    }

    /// Accounts for the rows of a file listed at `listed_us`.
    fn add(&mut self, b: &RecordBatch, listed_us: i64) -> Result<()> {
        let col = |name: &str| {
            b.column_by_name(name)
                .with_context(|| format!("no column {name}"))
        };
        let vni = col("vni")?.as_primitive::<Int32Type>();
        let source = col("mirror_source")?.as_string::<i32>();
        let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
        let frame = col("frame")?.as_binary::<i32>();
        let order = match self.order {
            Some(_) => Some((
                col("collector_id")?.as_string::<i32>(),
                col("community_id")?.as_string::<i32>(),
                col("arrival_seq")?.as_primitive::<Int64Type>(),
            )),
            None => None,
        };
        for i in 0..b.num_rows() {
            let first = if self.frames.is_empty() {
                let Some((id, sent_us)) = tag_of(frame.value(i), self.run_id) else {
                    continue;
                };
                self.report.stored += 1;
                if let (Some(rows), Some((collector, cid, seq))) = (&mut self.order, order)
                    && !seq.is_null(i)
                {
                    let mut h = std::hash::DefaultHasher::new();
                    (collector.value(i), source.value(i), cid.value(i)).hash(&mut h);
                    rows.push((h.finish(), seq.value(i), ts.value(i)));
                }
                let Some(n) = self.seen.get_mut(id as usize) else {
                    self.report.unexpected += 1;
                    continue;
                };
                *n += 1;
                if *n == 1 {
                    self.arrival.push(ts.value(i) - sent_us);
                    if self.follow {
                        self.queryable.push(listed_us - sent_us);
                    }
                }
                *n == 1
            } else {
                let Some((want, found)) = self.frames.get_mut(&frame_hash(frame.value(i))) else {
                    continue;
                };
                self.report.stored += 1;
                *found += 1;
                *found <= *want
            };
            if first {
                self.report.unique += 1;
                let v = if vni.is_null(i) { -1 } else { vni.value(i) };
                *self.report.per_vni.entry(v).or_default() += 1;
                match self.report.per_source.get_mut(source.value(i)) {
                    Some(n) => *n += 1,
                    None => {
                        self.report.per_source.insert(source.value(i).to_owned(), 1);
                    }
                }
            } else {
                self.report.duplicated += 1;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Report {
        self.report.lost = self.report.sent.saturating_sub(self.report.unique);
        self.report.send_to_arrival = Latency::of(std::mem::take(&mut self.arrival));
        self.report.send_to_queryable = Latency::of(std::mem::take(&mut self.queryable));
        self.report.ts_arrival_inversions = self.order.take().map(inversions);
        self.report
    }

    /// Of `ids`, those not found.
    fn missing(&self, ids: &[u64]) -> u64 {
        ids.iter()
            .filter(|&&id| self.seen.get(id as usize).is_none_or(|&n| n == 0))
            .count() as u64
    }
}

/// Neighbours in (flow, `arrival_seq`) order whose `ts` goes backwards.
fn inversions(mut rows: Vec<(u64, i64, i64)>) -> u64 {
    rows.sort_unstable();
    rows.windows(2)
        .filter(|w| w[0].0 == w[1].0 && w[1].2 < w[0].2)
        .count() as u64
}

/// The id and send time of run `run_id`'s tag in a frame.
pub(crate) fn tag_of(frame: &[u8], run_id: u32) -> Option<(u64, i64)> {
    let mut needle = [0u8; 8];
    needle[..4].copy_from_slice(TAG);
    needle[4..].copy_from_slice(&run_id.to_be_bytes());
    let at = frame.windows(8).position(|w| w == needle)?;
    let (_, id, sent) = parse_tag(&frame[at..])?;
    Some((id, sent))
}

/// Reads the files of the packets table not read yet.
async fn read_new_files(
    lake: &Lake,
    done: &mut HashSet<ObjectPath>,
    account: &mut Account,
) -> Result<()> {
    let mut columns = vec!["vni", "mirror_source", "ts", "frame"];
    if account.order.is_some() {
        columns.extend(["collector_id", "community_id", "arrival_seq"]);
    }
    let prefix = lake.root.clone().join(mirrorlake_lake::TABLE_PACKETS);
    let listed_us = now_us();
    let metas: Vec<_> = lake
        .store
        .list(Some(&prefix))
        .try_filter(|m| {
            let fresh = m.location.as_ref().ends_with(".parquet") && !done.contains(&m.location);
            futures::future::ready(fresh)
        })
        .try_collect()
        .await
        .context("list the packets table")?;
    for meta in metas {
        let what = || format!("read {}", meta.location);
        // Whole files: the frames, which verify needs, are most of the bytes.
        let bytes = lake
            .store
            .get(&meta.location)
            .await
            .with_context(what)?
            .bytes()
            .await
            .with_context(what)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).with_context(what)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        for b in builder.with_projection(mask).build().with_context(what)? {
            account.add(&b.with_context(what)?, listed_us)?;
        }
        done.insert(meta.location);
        account.report.files += 1;
    }
    Ok(())
}

/// Accounts for what `expect` says was sent. With `follow`, polls every
/// `poll` until everything is found or `follow` has passed.
pub async fn verify(
    lake: &str,
    expect: &Expect,
    follow: Option<Duration>,
    poll: Duration,
    order: bool,
    must_have: Option<&[u64]>,
) -> Result<Report> {
    let lake = Lake::open(lake).context("open lake")?;
    let mut account = Account::new(expect, follow.is_some(), order);
    let mut done = HashSet::new();
    let deadline = Instant::now() + follow.unwrap_or_default();
    loop {
        read_new_files(&lake, &mut done, &mut account).await?;
        if account.complete() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    let missing = must_have.map(|ids| account.missing(ids));
    let mut report = account.finish();
    report.listed_missing = missing;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_id_of_its_run_only() {
        let mut frame = vec![0u8; 60];
        frame.extend_from_slice(b"MLLT");
        frame.extend_from_slice(&7u32.to_be_bytes());
        frame.extend_from_slice(&123_456u64.to_be_bytes());
        frame.extend_from_slice(&99i64.to_be_bytes());
        assert_eq!(tag_of(&frame, 7), Some((123_456, 99)));
        assert_eq!(tag_of(&frame, 8), None);
        assert_eq!(tag_of(&frame[..80], 7), None, "tag cut by truncation");
    }

    #[test]
    fn inversions_count_within_a_flow_only() {
        // Flow 1 in arrival order: ts 10, 12, 11 (one inversion); flow 2's
        // earlier ts does not count against flow 1.
        let rows = vec![(1, 3, 11), (2, 0, 5), (1, 1, 10), (1, 2, 12), (2, 1, 6)];
        assert_eq!(inversions(rows), 1);
        assert_eq!(
            inversions(vec![(1, 1, 10), (1, 2, 10)]),
            0,
            "ties are in order"
        );
    }

    #[test]
    fn percentiles() {
        let l = Latency::of((1..=100).map(|v| v * 1000).collect()).expect("some");
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (51.0, 99.0, 100.0));
        assert_eq!(Latency::of(Vec::new()), None);
    }
}
