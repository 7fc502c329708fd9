//! The exactly-once range protocol, without I/O: [`RangeMachine`] is told
//! what happened (records, rebalances, the clock, and the outcome of each
//! manifest read and conditional create) and answers with [`Action`]s for its
//! shell to carry out in order (`run.rs` over rdkafka and the object store;
//! the simulation in the tests over in-memory maps).
//!
//! Per assigned partition it holds at most one *range*: records `first` to
//! `last`, whose files are named from `first` only. A range ends by size, by
//! age, at the end a manifest already decided, or at shutdown; ending it is
//! decide (conditional manifest create), publish (complete the files), commit
//! (`last + 1`). ARCHITECTURE.md, "Exactly once", says why no crash, replay or
//! rebalance then loses or duplicates a record.
//!
//! The shell's contract: after each input, carry out every action that
//! [`RangeMachine::poll_action`] returns, in order, reporting `Open`,
//! `Write` and `Decide` through [`RangeMachine::opened`],
//! [`RangeMachine::wrote`] and [`RangeMachine::decided`] before polling the
//! next one. An action that fails is reported with [`RangeMachine::failed`]
//! instead, which drops the partition's later actions and its range.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// When an undecided range ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Its files reached about this many bytes.
    pub max_bytes: usize,
    /// This long after its first record.
    pub max_age: Duration,
}

/// Why a range is dropped unpublished (its records are read again by the
/// partition's next reader, from the committed offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// The partition was revoked.
    Revoked,
    /// The assignment was lost (rebalance error, rejoin).
    Lost,
    /// An I/O step failed.
    Failed,
    /// Another owner decided the range with a different end.
    Conflict,
    /// A record at or before the range's last offset: the partition's
    /// position moved back under us.
    OutOfOrder,
    /// Shutdown during a replay: a replay publishes only its whole decided
    /// range.
    Shutdown,
}

impl AbortReason {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Lost => "assignment lost",
            Self::Failed => "write failed",
            Self::Conflict => "decided differently by another owner",
            Self::OutOfOrder => "record out of order",
            Self::Shutdown => "shutdown during replay",
        }
    }
}

/// One step for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a range of `partition` at `first`: read the manifest of `first`
    /// and open a writer whose files are named from `first`. Report with
    /// [`RangeMachine::opened`].
    Open { partition: i32, first: i64 },
    /// Write the record just given to [`RangeMachine::record`] into the
    /// partition's writer. Report with [`RangeMachine::wrote`].
    Write { partition: i32, offset: i64 },
    /// Create the manifest of `first..=last`, conditionally (only if none
    /// exists). Report with [`RangeMachine::decided`].
    Decide {
        partition: i32,
        first: i64,
        last: i64,
    },
    /// Complete the writer's files. With `replay`, the range was decided
    /// before and its files may already be out: leave out each file that is
    /// already visible or that a compaction has replaced.
    Publish {
        partition: i32,
        first: i64,
        last: i64,
        replay: bool,
    },
    /// Commit `offset` (the published range's last + 1). A failed commit is
    /// only counted: the next reader replays the range onto the same names.
    Commit { partition: i32, offset: i64 },
    /// Drop the writer: nothing of it becomes visible.
    Abort {
        partition: i32,
        first: i64,
        last: i64,
        why: AbortReason,
    },
    /// Move the partition's position back to its committed offset.
    Rewind { partition: i32 },
}

impl Action {
    /// The partition the action is about.
    pub fn partition(&self) -> i32 {
        match *self {
            Self::Open { partition, .. }
            | Self::Write { partition, .. }
            | Self::Decide { partition, .. }
            | Self::Publish { partition, .. }
            | Self::Commit { partition, .. }
            | Self::Abort { partition, .. }
            | Self::Rewind { partition } => partition,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Taking records.
    Filling,
    /// Its `Decide` is out; waiting for [`RangeMachine::decided`].
    Deciding,
}

#[derive(Debug, Clone)]
struct Range {
    first: i64,
    /// `first - 1` until the first record is written.
    last: i64,
    /// Where a manifest says the range ends (a replay).
    decided_end: Option<i64>,
    opened: Instant,
    phase: Phase,
}

/// The range protocol of one consumer: see the module documentation.
#[derive(Debug)]
pub struct RangeMachine {
    limits: Limits,
    assigned: BTreeSet<i32>,
    ranges: BTreeMap<i32, Range>,
    actions: VecDeque<Action>,
}

impl RangeMachine {
    /// A consumer with no partitions yet.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            assigned: BTreeSet::new(),
            ranges: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Partitions this consumer holds.
    pub fn assigned(&self) -> &BTreeSet<i32> {
        &self.assigned
    }

    /// Partitions with a range open.
    pub fn open_ranges(&self) -> usize {
        self.ranges.len()
    }

    /// The group gave us `partitions`. A range still held of one of them
    /// (we missed its revocation) is dropped: the partition's position has
    /// moved to its committed offset.
    pub fn assign(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.abort(*p, AbortReason::Revoked);
            self.assigned.insert(*p);
        }
    }

    /// The group took `partitions` back: their ranges are dropped.
    pub fn revoke(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.assigned.remove(p);
            self.abort(*p, AbortReason::Revoked);
        }
    }

    /// Every partition is gone (a rebalance error): every range is dropped.
    pub fn lose_all(&mut self) {
        self.assigned.clear();
        let ps: Vec<i32> = self.ranges.keys().copied().collect();
        for p in ps {
            self.abort(p, AbortReason::Lost);
        }
    }

    /// A record of `partition` at `offset` arrived. Returns whether it is
    /// ours to write (false for partitions not assigned to us).
    pub fn record(&mut self, partition: i32, offset: i64, now: Instant) -> bool {
        if !self.assigned.contains(&partition) {
            return false;
        }
        if let Some(r) = self.ranges.get(&partition) {
            if offset <= r.last {
                self.abort(partition, AbortReason::OutOfOrder);
                self.actions.push_back(Action::Rewind { partition });
                return false;
            }
            if r.decided_end.is_some_and(|end| offset > end) {
                // The decided last record is gone (retention): end before
                // this one with what there is.
                self.end(partition);
            }
        }
        if let std::collections::btree_map::Entry::Vacant(v) = self.ranges.entry(partition) {
            v.insert(Range {
                first: offset,
                last: offset - 1,
                decided_end: None,
                opened: now,
                phase: Phase::Filling,
            });
            self.actions.push_back(Action::Open {
                partition,
                first: offset,
            });
        }
        self.actions.push_back(Action::Write { partition, offset });
        true
    }

    /// `Open` done: `decided_end` is the last offset named by the manifest
    /// of the range's first offset, if one exists (the range is a replay).
    pub fn opened(&mut self, partition: i32, decided_end: Option<i64>) {
        if let Some(r) = self.ranges.get_mut(&partition) {
            r.decided_end = decided_end;
        }
    }

    /// `Write` of `offset` done; the writer now buffers `buffered_bytes`.
    pub fn wrote(&mut self, partition: i32, offset: i64, buffered_bytes: usize) {
        let Some(r) = self.ranges.get_mut(&partition) else {
            return;
        };
        r.last = offset;
        let full = match r.decided_end {
            Some(end) => offset >= end,
            None => buffered_bytes >= self.limits.max_bytes,
        };
        if full {
            self.end(partition);
        }
    }

    /// `Decide` done: `existing` is `None` when this consumer created the
    /// manifest, else the last offset of the manifest that was already there.
    pub fn decided(&mut self, partition: i32, existing: Option<i64>) {
        let Some(r) = self.ranges.get(&partition) else {
            return;
        };
        debug_assert_eq!(r.phase, Phase::Deciding);
        match existing {
            None => self.publish(partition, false),
            // Another owner cut the same range: its files may be out, and
            // even compacted already.
            Some(end) if end == r.last => self.publish(partition, true),
            Some(_) => {
                self.abort(partition, AbortReason::Conflict);
                self.actions.push_back(Action::Rewind { partition });
            }
        }
    }

    /// An action of `partition` failed: its later actions are void, its
    /// range is dropped, and it resumes from its committed offset.
    pub fn failed(&mut self, partition: i32) {
        self.actions.retain(|a| a.partition() != partition);
        self.abort(partition, AbortReason::Failed);
        self.actions.push_back(Action::Rewind { partition });
    }

    /// Ends every undecided range older than the age limit.
    pub fn tick(&mut self, now: Instant) {
        let due: Vec<i32> = self
            .ranges
            .iter()
            .filter(|(_, r)| {
                r.phase == Phase::Filling
                    && r.decided_end.is_none()
                    && now.saturating_duration_since(r.opened) >= self.limits.max_age
            })
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            self.end(p);
        }
    }

    /// The earliest time [`tick`](Self::tick) has something to end.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ranges
            .values()
            .filter(|r| r.phase == Phase::Filling && r.decided_end.is_none())
            .map(|r| r.opened + self.limits.max_age)
            .min()
    }

    /// Graceful stop: every undecided range ends (decide, publish, commit);
    /// replays in progress are dropped (the manifest already says where they
    /// end, for the next reader).
    pub fn shutdown(&mut self) {
        let ps: Vec<i32> = self.ranges.keys().copied().collect();
        for p in ps {
            if self.ranges.get(&p).is_some_and(|r| r.decided_end.is_none()) {
                self.end(p);
            } else {
                self.abort(p, AbortReason::Shutdown);
            }
        }
    }

    fn end(&mut self, partition: i32) {
        let Some(r) = self.ranges.get_mut(&partition) else {
            return;
        };
        if r.phase != Phase::Filling {
            return;
        }
        if r.last < r.first {
            // Nothing written (cannot happen through `record`; kept total).
            self.ranges.remove(&partition);
            return;
        }
        if r.decided_end.is_some() {
            self.publish(partition, true);
        } else {
            r.phase = Phase::Deciding;
            self.actions.push_back(Action::Decide {
                partition,
                first: r.first,
                last: r.last,
            });
        }
    }

    fn publish(&mut self, partition: i32, replay: bool) {
        let Some(r) = self.ranges.remove(&partition) else {
            return;
        };
        self.actions.push_back(Action::Publish {
            partition,
            first: r.first,
            last: r.last,
            replay,
        });
        self.actions.push_back(Action::Commit {
            partition,
            offset: r.last + 1,
        });
    }

    fn abort(&mut self, partition: i32, why: AbortReason) {
        if let Some(r) = self.ranges.remove(&partition) {
            self.actions.push_back(Action::Abort {
                partition,
                first: r.first,
                last: r.last,
                why,
            });
        }
    }
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;
