//! The range protocol without a broker: single transitions, then a
//! simulated group (a log per partition, manifests with conditional
//! create, files, compaction tombstones, committed offsets, two consumers)
//! in which every crash point, failed write and rebalance order must leave
//! each record in exactly one visible file.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

const LIMITS: Limits = Limits {
    max_bytes: 300,
    max_age: Duration::from_millis(50),
};

fn drain(m: &mut RangeMachine) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

fn at(ms: u64) -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now) + Duration::from_millis(ms)
}

#[test]
fn a_range_opens_fills_and_ends_by_size() {
    let mut m = RangeMachine::new(LIMITS);
    assert!(!m.record(0, 10, at(0)), "not assigned yet");
    assert!(drain(&mut m).is_empty());
    m.assign(&[0]);
    assert!(m.record(0, 10, at(0)));
    assert_eq!(
        drain(&mut m),
        [
            Action::Open {
                partition: 0,
                first: 10
            },
            Action::Write {
                partition: 0,
                offset: 10
            }
        ]
    );
    m.opened(0, None);
    m.wrote(0, 10, 200);
    assert!(m.record(0, 12, at(1)));
    assert_eq!(
        drain(&mut m),
        [Action::Write {
            partition: 0,
            offset: 12
        }]
    );
    m.wrote(0, 12, 300);
    assert_eq!(
        drain(&mut m),
        [Action::Decide {
            partition: 0,
            first: 10,
            last: 12
        }]
    );
    m.decided(0, None);
    assert_eq!(
        drain(&mut m),
        [
            Action::Publish {
                partition: 0,
                first: 10,
                last: 12,
                replay: false
            },
            Action::Commit {
                partition: 0,
                offset: 13
            }
        ]
    );
    assert_eq!(m.open_ranges(), 0);
}

#[test]
fn an_undecided_range_ends_by_age_and_a_replay_does_not() {
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0, 1]);
    m.record(0, 0, at(0));
    m.record(1, 0, at(0));
    drain(&mut m);
    m.opened(0, None);
    m.wrote(0, 0, 1);
    m.opened(1, Some(5));
    m.wrote(1, 0, 1);
    assert_eq!(m.next_deadline(), Some(at(50)), "only the undecided range");
    m.tick(at(49));
    assert!(drain(&mut m).is_empty());
    m.tick(at(50));
    assert_eq!(
        drain(&mut m),
        [Action::Decide {
            partition: 0,
            first: 0,
            last: 0
        }]
    );
    m.tick(at(10_000));
    assert!(drain(&mut m).is_empty(), "the replay waits for offset 5");
}

#[test]
fn a_replay_ends_exactly_at_its_decided_offset_whatever_the_size() {
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0]);
    m.record(0, 100, at(0));
    drain(&mut m);
    m.opened(0, Some(102));
    m.wrote(0, 100, 10_000);
    m.record(0, 101, at(1));
    drain(&mut m);
    m.wrote(0, 101, 20_000);
    assert_eq!(m.open_ranges(), 1, "past the size limit, short of 102");
    m.record(0, 102, at(2));
    drain(&mut m);
    m.wrote(0, 102, 30_000);
    assert_eq!(
        drain(&mut m),
        [
            Action::Publish {
                partition: 0,
                first: 100,
                last: 102,
                replay: true
            },
            Action::Commit {
                partition: 0,
                offset: 103
            }
        ]
    );
}

/// The decided last record is gone from the topic (retention): the replay
/// ends before the first record after it, and publishes as a replay (the
/// shell keeps any file already out whole).
#[test]
fn a_replay_whose_end_was_deleted_ends_before_the_next_record() {
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0]);
    m.record(0, 100, at(0));
    drain(&mut m);
    m.opened(0, Some(105));
    m.wrote(0, 100, 1);
    m.record(0, 107, at(1));
    assert_eq!(
        drain(&mut m),
        [
            Action::Publish {
                partition: 0,
                first: 100,
                last: 100,
                replay: true
            },
            Action::Commit {
                partition: 0,
                offset: 101
            },
            Action::Open {
                partition: 0,
                first: 107
            },
            Action::Write {
                partition: 0,
                offset: 107
            }
        ]
    );
}

#[test]
fn a_range_decided_otherwise_is_dropped_and_reread_and_the_same_cut_is_a_replay() {
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0, 1]);
    for p in [0, 1] {
        m.record(p, 0, at(0));
        drain(&mut m);
        m.opened(p, None);
        m.wrote(p, 0, 1_000);
        drain(&mut m);
    }
    m.decided(0, Some(7));
    m.decided(1, Some(0));
    assert_eq!(
        drain(&mut m),
        [
            Action::Abort {
                partition: 0,
                first: 0,
                last: 0,
                why: AbortReason::Conflict
            },
            Action::Rewind { partition: 0 },
            Action::Publish {
                partition: 1,
                first: 0,
                last: 0,
                replay: true
            },
            Action::Commit {
                partition: 1,
                offset: 1
            }
        ]
    );
}

#[test]
fn a_failure_voids_the_partitions_later_actions_only() {
    // The shell reports a failure before it polls the next action: the
    // queue then still holds the rest of the failed partition's work.
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0, 1]);
    m.record(0, 0, at(0));
    m.record(1, 0, at(0));
    assert_eq!(
        m.poll_action(),
        Some(Action::Open {
            partition: 0,
            first: 0
        })
    );
    m.failed(0);
    assert_eq!(
        drain(&mut m),
        [
            Action::Open {
                partition: 1,
                first: 0
            },
            Action::Write {
                partition: 1,
                offset: 0
            },
            Action::Abort {
                partition: 0,
                first: 0,
                last: -1,
                why: AbortReason::Failed
            },
            Action::Rewind { partition: 0 },
        ]
    );
}

#[test]
fn revocation_loss_and_shutdown_drop_or_end_ranges() {
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0, 1, 2]);
    for (p, decided) in [(0, None), (1, Some(9)), (2, None)] {
        m.record(p, 0, at(0));
        drain(&mut m);
        m.opened(p, decided);
        m.wrote(p, 0, 1);
    }
    m.revoke(&[2]);
    assert_eq!(
        drain(&mut m),
        [Action::Abort {
            partition: 2,
            first: 0,
            last: 0,
            why: AbortReason::Revoked
        }]
    );
    assert!(!m.record(2, 1, at(1)), "revoked");
    m.shutdown();
    assert_eq!(
        drain(&mut m),
        [
            Action::Decide {
                partition: 0,
                first: 0,
                last: 0
            },
            Action::Abort {
                partition: 1,
                first: 0,
                last: 0,
                why: AbortReason::Shutdown
            }
        ]
    );
    m.decided(0, None);
    drain(&mut m);
    m.lose_all();
    assert!(m.assigned().is_empty());
    assert_eq!(m.open_ranges(), 0);
}

#[test]
fn a_record_behind_the_range_drops_it_and_rewinds() {
    let mut m = RangeMachine::new(LIMITS);
    m.assign(&[0]);
    m.record(0, 5, at(0));
    drain(&mut m);
    m.opened(0, None);
    m.wrote(0, 5, 1);
    assert!(!m.record(0, 5, at(1)));
    assert_eq!(
        drain(&mut m),
        [
            Action::Abort {
                partition: 0,
                first: 5,
                last: 5,
                why: AbortReason::OutOfOrder
            },
            Action::Rewind { partition: 0 }
        ]
    );
}

// ---- the simulated group ----

const PARTITIONS: i32 = 2;
const NODES: usize = 2;

#[derive(Debug, Clone, Copy)]
struct Rec {
    offset: i64,
    hour: u32,
}

/// A file's name: partition, the range's first offset, hour.
type Name = (i32, i64, u32);

/// What outlives a consumer: the topic, the store, the group.
#[derive(Debug, Default)]
struct World {
    log: Vec<Vec<Rec>>,
    /// (partition, first) → last: conditional create.
    manifests: HashMap<(i32, i64), i64>,
    /// Visible files and their records.
    files: BTreeMap<Name, Vec<i64>>,
    tombstones: BTreeSet<Name>,
    /// Records in compaction outputs.
    compacted: Vec<(i32, i64)>,
    committed: HashMap<i32, i64>,
    /// Which node the group gives each partition (whose commits it accepts).
    owner: HashMap<i32, usize>,
    clock: u64,
}

struct SimWriter {
    first: i64,
    rows: BTreeMap<u32, Vec<i64>>,
    count: usize,
}

/// One consumer process and its I/O shell.
struct Node {
    m: RangeMachine,
    writers: HashMap<i32, SimWriter>,
    /// Next offset each partition's fetch returns at or after.
    pos: HashMap<i32, i64>,
    /// Effects until the process dies (each file completed counts one).
    crash_in: Option<usize>,
    /// Effects until one fails.
    fail_in: Option<usize>,
    crashed: bool,
}

impl Node {
    fn new(limits: Limits) -> Self {
        Self {
            m: RangeMachine::new(limits),
            writers: HashMap::new(),
            pos: HashMap::new(),
            crash_in: None,
            fail_in: None,
            crashed: false,
        }
    }

    fn assign(&mut self, w: &World, p: i32) {
        self.pos
            .insert(p, w.committed.get(&p).copied().unwrap_or(0));
        self.m.assign(&[p]);
    }

    /// Counts one effect: `Err(true)` the process dies before it, `Err(false)`
    /// it fails.
    fn effect(&mut self) -> Result<(), bool> {
        for (slot, crash) in [(&mut self.crash_in, true), (&mut self.fail_in, false)] {
            match slot {
                Some(0) => {
                    *slot = None;
                    return Err(crash);
                }
                Some(n) => *n -= 1,
                None => {}
            }
        }
        Ok(())
    }

    fn drive(&mut self, w: &mut World, me: usize, rec: Option<Rec>) {
        while !self.crashed
            && let Some(a) = self.m.poll_action()
        {
            let p = a.partition();
            match self.execute(w, me, a, rec) {
                Ok(()) => {}
                Err(true) => self.crashed = true,
                Err(false) => self.m.failed(p),
            }
        }
    }

    fn execute(
        &mut self,
        w: &mut World,
        me: usize,
        a: Action,
        rec: Option<Rec>,
    ) -> Result<(), bool> {
        match a {
            Action::Open { partition, first } => {
                self.effect()?;
                let decided = w.manifests.get(&(partition, first)).copied();
                self.writers.insert(
                    partition,
                    SimWriter {
                        first,
                        rows: BTreeMap::new(),
                        count: 0,
                    },
                );
                self.m.opened(partition, decided);
            }
            Action::Write { partition, offset } => {
                self.effect()?;
                let rec = rec.expect("a Write follows a record");
                assert_eq!(rec.offset, offset);
                let sw = self.writers.get_mut(&partition).expect("open writer");
                sw.rows.entry(rec.hour).or_default().push(offset);
                sw.count += 1;
                self.m.wrote(partition, offset, sw.count * 100);
            }
            Action::Decide {
                partition,
                first,
                last,
            } => {
                self.effect()?;
                let existing = match w.manifests.entry((partition, first)) {
                    std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(last);
                        None
                    }
                };
                self.m.decided(partition, existing);
            }
            Action::Publish {
                partition,
                first,
                last,
                replay,
            } => {
                let sw = self.writers.remove(&partition).expect("open writer");
                assert_eq!(sw.first, first);
                assert_eq!(
                    w.manifests.get(&(partition, first)),
                    Some(&last),
                    "published undecided"
                );
                for (hour, rows) in sw.rows {
                    let name = (partition, first, hour);
                    if replay && (w.files.contains_key(&name) || w.tombstones.contains(&name)) {
                        continue;
                    }
                    self.effect()?;
                    if let Some(old) = w.files.get(&name) {
                        assert_eq!(old, &rows, "{name:?} completed again with other rows");
                    }
                    assert!(
                        !w.tombstones.contains(&name),
                        "{name:?} published after its compaction"
                    );
                    w.files.insert(name, rows);
                }
            }
            Action::Commit { partition, offset } => {
                self.effect()?;
                if w.owner.get(&partition) == Some(&me) {
                    let c = w.committed.entry(partition).or_insert(0);
                    assert!(offset >= *c, "commit {offset} behind {c}");
                    *c = offset;
                }
            }
            Action::Abort { partition, .. } => {
                self.writers.remove(&partition);
            }
            Action::Rewind { partition } => {
                self.pos
                    .insert(partition, w.committed.get(&partition).copied().unwrap_or(0));
            }
        }
        Ok(())
    }

    /// Fetches and handles the next record of `p`, if any.
    fn deliver(&mut self, w: &mut World, me: usize, p: i32) {
        if !self.m.assigned().contains(&p) {
            return;
        }
        let pos = self.pos.get(&p).copied().unwrap_or(0);
        let Some(rec) = w.log[p as usize].iter().find(|r| r.offset >= pos).copied() else {
            return;
        };
        self.pos.insert(p, rec.offset + 1);
        self.m.record(p, rec.offset, at(w.clock));
        self.drive(w, me, Some(rec));
    }

    fn tick(&mut self, w: &mut World, me: usize) {
        self.m.tick(at(w.clock));
        self.drive(w, me, None);
    }
}

#[derive(Debug, Clone)]
enum Event {
    Deliver {
        node: usize,
        partition: i32,
    },
    Tick {
        ms: u64,
    },
    /// The group gives `partition` to `to`; unless `zombie`, its old owner
    /// hears of it.
    Move {
        partition: i32,
        to: usize,
        zombie: bool,
    },
    /// The process dies after this many effects, and restarts.
    Crash {
        node: usize,
        after: usize,
    },
    /// An effect of the node fails after this many.
    Fail {
        node: usize,
        after: usize,
    },
    /// Every visible file of the hour is merged.
    Compact {
        hour: u32,
    },
}

struct Sim {
    w: World,
    nodes: Vec<Node>,
    limits: Limits,
}

impl Sim {
    fn new(log: Vec<Vec<Rec>>, limits: Limits) -> Self {
        let mut s = Self {
            w: World {
                log,
                ..World::default()
            },
            nodes: (0..NODES).map(|_| Node::new(limits)).collect(),
            limits,
        };
        for p in 0..PARTITIONS {
            let n = p as usize % NODES;
            s.w.owner.insert(p, n);
            s.nodes[n].assign(&s.w, p);
        }
        s
    }

    fn restart_crashed(&mut self) {
        for n in 0..NODES {
            if self.nodes[n].crashed {
                self.nodes[n] = Node::new(self.limits);
                for p in 0..PARTITIONS {
                    if self.w.owner[&p] == n {
                        self.nodes[n].assign(&self.w, p);
                    }
                }
            }
        }
    }

    fn apply(&mut self, e: &Event) {
        match *e {
            Event::Deliver { node, partition } => {
                self.nodes[node].deliver(&mut self.w, node, partition);
            }
            Event::Tick { ms } => {
                self.w.clock += ms;
                for n in 0..NODES {
                    self.nodes[n].tick(&mut self.w, n);
                }
            }
            Event::Move {
                partition,
                to,
                zombie,
            } => {
                let from = self.w.owner[&partition];
                if from != to {
                    self.w.owner.insert(partition, to);
                    if !zombie {
                        self.nodes[from].m.revoke(&[partition]);
                        self.nodes[from].drive(&mut self.w, from, None);
                    }
                    self.nodes[to].assign(&self.w, partition);
                }
            }
            Event::Crash { node, after } => self.nodes[node].crash_in = Some(after),
            Event::Fail { node, after } => self.nodes[node].fail_in = Some(after),
            Event::Compact { hour } => {
                let names: Vec<Name> = self
                    .w
                    .files
                    .keys()
                    .filter(|k| k.2 == hour)
                    .copied()
                    .collect();
                for name in names {
                    let rows = self.w.files.remove(&name).expect("listed");
                    self.w.tombstones.insert(name);
                    self.w
                        .compacted
                        .extend(rows.into_iter().map(|o| (name.0, o)));
                }
            }
        }
        self.restart_crashed();
    }

    /// Zombies hear of their loss, faults stop, and the owners read to the
    /// end of the log and then stop gracefully.
    fn heal(&mut self) {
        for n in 0..NODES {
            let node = &mut self.nodes[n];
            node.crash_in = None;
            node.fail_in = None;
            let stale: Vec<i32> = node
                .m
                .assigned()
                .iter()
                .copied()
                .filter(|p| self.w.owner[p] != n)
                .collect();
            node.m.revoke(&stale);
            node.drive(&mut self.w, n, None);
        }
        for _ in 0..10_000 {
            let done = (0..PARTITIONS).all(|p| {
                let end = self.w.log[p as usize].last().map_or(0, |r| r.offset + 1);
                self.w.committed.get(&p).copied().unwrap_or(0) >= end
            });
            if done {
                return;
            }
            for p in 0..PARTITIONS {
                let n = self.w.owner[&p];
                self.nodes[n].deliver(&mut self.w, n, p);
            }
            self.w.clock += 1;
            for n in 0..NODES {
                self.nodes[n].tick(&mut self.w, n);
            }
        }
        panic!("the owners never caught up: {:?}", self.w.committed);
    }

    /// Each record of the log in exactly one visible or compacted file.
    fn check(&self) {
        let mut seen: Vec<(i32, i64)> = self.w.compacted.clone();
        for ((p, _, _), rows) in &self.w.files {
            seen.extend(rows.iter().map(|o| (*p, *o)));
        }
        seen.sort_unstable();
        let mut want: Vec<(i32, i64)> = (0..PARTITIONS)
            .flat_map(|p| self.w.log[p as usize].iter().map(move |r| (p, r.offset)))
            .collect();
        want.sort_unstable();
        assert_eq!(seen, want, "files: {:?}", self.w.files);
    }

    fn run(log: Vec<Vec<Rec>>, limits: Limits, events: &[Event]) {
        let mut s = Self::new(log, limits);
        for e in events {
            s.apply(e);
        }
        s.heal();
        s.check();
    }
}

/// Offsets with gaps, 6 records per hour.
fn log_of(lens: &[usize], gap_every: usize) -> Vec<Vec<Rec>> {
    lens.iter()
        .map(|&n| {
            let mut off = 0;
            (0..n)
                .map(|i| {
                    if gap_every > 0 && i % gap_every == gap_every - 1 {
                        off += 2;
                    }
                    let r = Rec {
                        offset: off,
                        hour: (i / 6) as u32,
                    };
                    off += 1;
                    r
                })
                .collect()
        })
        .collect()
}

/// Both partitions read round by round, the clock moving.
fn steady(rounds: usize) -> Vec<Event> {
    let mut v = Vec::new();
    for i in 0..rounds {
        for p in 0..PARTITIONS {
            v.push(Event::Deliver {
                node: p as usize % NODES,
                partition: p,
            });
        }
        v.push(Event::Tick {
            ms: if i % 4 == 3 { 30 } else { 5 },
        });
        if i % 9 == 8 {
            v.push(Event::Compact {
                hour: (i / 12) as u32,
            });
        }
    }
    v
}

/// How many effects node 0 carries out in the steady scenario.
fn effects_of_node0(log: &[Vec<Rec>], events: &[Event]) -> usize {
    let mut s = Sim::new(log.to_vec(), LIMITS);
    s.nodes[0].crash_in = Some(usize::MAX);
    for e in events {
        s.apply(e);
    }
    usize::MAX - s.nodes[0].crash_in.expect("no crash")
}

#[test]
fn every_crash_point_of_a_consumer_loses_and_duplicates_nothing() {
    let log = log_of(&[40, 40], 5);
    let base = steady(45);
    let effects = effects_of_node0(&log, &base);
    assert!(effects > 60, "{effects}");
    for k in 0..effects {
        let mut events = vec![Event::Crash { node: 0, after: k }];
        events.extend(base.iter().cloned());
        Sim::run(log.clone(), LIMITS, &events);
    }
}

#[test]
fn every_failed_write_is_retried_from_the_committed_offset() {
    let log = log_of(&[40, 40], 5);
    let base = steady(45);
    let effects = effects_of_node0(&log, &base);
    for k in 0..effects {
        let mut events = vec![Event::Fail { node: 0, after: k }];
        events.extend(base.iter().cloned());
        Sim::run(log.clone(), LIMITS, &events);
    }
}

/// A rebalance at every point, each order: the old owner hears of it, or
/// is a zombie that keeps reading and racing the new owner for manifests.
#[test]
fn every_rebalance_point_with_or_without_a_zombie_loses_and_duplicates_nothing() {
    let log = log_of(&[40, 40], 5);
    let base = steady(45);
    for i in 0..=base.len() {
        for zombie in [false, true] {
            let mut events = Vec::new();
            for (j, e) in base.iter().enumerate() {
                if j == i {
                    events.push(Event::Move {
                        partition: 0,
                        to: 1,
                        zombie,
                    });
                }
                events.push(e.clone());
                // From the move on, the new owner reads partition 0 too,
                // twice as fast as a zombie old owner, which keeps reading
                // it: their ranges start and end at different records.
                if j >= i && matches!(e, Event::Deliver { partition: 0, .. }) {
                    for _ in 0..2 {
                        events.push(Event::Deliver {
                            node: 1,
                            partition: 0,
                        });
                    }
                }
            }
            // Ranges end by age, so the two owners cut them differently.
            let by_age = Limits {
                max_bytes: 1_000,
                ..LIMITS
            };
            Sim::run(log.clone(), by_age, &events);
        }
    }
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0..NODES, 0..PARTITIONS).prop_map(|(node, partition)| Event::Deliver { node, partition }),
        3 => (0u64..40).prop_map(|ms| Event::Tick { ms }),
        1 => (0..PARTITIONS, 0..NODES, any::<bool>())
            .prop_map(|(partition, to, zombie)| Event::Move { partition, to, zombie }),
        1 => (0..NODES, 0usize..8).prop_map(|(node, after)| Event::Crash { node, after }),
        1 => (0..NODES, 0usize..8).prop_map(|(node, after)| Event::Fail { node, after }),
        1 => (0u32..8).prop_map(|hour| Event::Compact { hour }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any interleaving of reads, clock, rebalances (zombies included),
    /// crashes, failed writes and compactions.
    #[test]
    fn any_schedule_leaves_each_record_in_exactly_one_file(
        lens in proptest::collection::vec(1usize..45, PARTITIONS as usize),
        gap_every in 0usize..6,
        max_records in 1usize..10,
        events in proptest::collection::vec(event(), 0..300),
    ) {
        let limits = Limits {
            max_bytes: max_records * 100,
            ..LIMITS
        };
        Sim::run(log_of(&lens, gap_every), limits, &events);
    }
}
