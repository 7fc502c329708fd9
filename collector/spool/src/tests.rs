use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn config(dir: &Path, max_bytes: u64, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes,
        segment_bytes,
        fsync_interval: Duration::from_secs(1),
    }
}

fn body(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize + i) as u8).collect()
}

#[test]
fn records_replay_in_order_and_acks_in_any_order_free_the_disk() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut s, rec) = Spool::open(config(d.path(), 1 << 20, 1024)).expect("open");
    assert_eq!(rec, Recovery::default());
    for i in 0..10 {
        assert_eq!(s.append(b"m", &body(i, 300)).expect("append"), i);
    }
    assert!(s.bytes() > 3000 && s.segments.len() > 2, "rolled segments");
    let mut handed = Vec::new();
    while let Some(e) = s.next_unsent().expect("read") {
        assert_eq!(e.body, body(e.seq, 300));
        assert_eq!(e.meta, b"m");
        handed.push(e.seq);
    }
    assert_eq!(handed, (0..10).collect::<Vec<_>>());
    // Out of order: the cursor waits for 0.
    for seq in (1..10).rev() {
        s.ack(seq);
    }
    s.commit().expect("commit");
    assert_eq!(s.cursor(), 0);
    assert!(s.bytes() > 3000, "nothing deleted while 0 waits");
    s.ack(0);
    s.commit().expect("commit");
    assert_eq!(s.cursor(), 10);
    assert_eq!(s.bytes(), 0, "an idle spool holds nothing");
    assert!(s.is_empty());
    // Numbers never repeat, even after a restart.
    drop(s);
    let (mut s, rec) = Spool::open(config(d.path(), 1 << 20, 1024)).expect("reopen");
    assert_eq!(rec.pending, 0);
    assert_eq!(s.append(b"", b"x").expect("append"), 10);
}

#[test]
fn a_full_spool_refuses_at_once_and_takes_again_once_acked() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut s, _) = Spool::open(config(d.path(), 2000, 600)).expect("open");
    let mut n = 0;
    while s.append(b"", &body(n, 400)).is_ok() {
        n += 1;
    }
    assert_eq!(n, 4, "4 records of 432 bytes fit in 2000");
    assert!(matches!(
        s.append(b"", &body(n, 400)),
        Err(AppendError::Full)
    ));
    while let Some(e) = s.next_unsent().expect("read") {
        s.ack(e.seq);
    }
    s.commit().expect("commit");
    assert!(s.append(b"", &body(9, 400)).is_ok());
}

#[test]
fn a_retried_record_comes_first() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut s, _) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("open");
    for i in 0..3 {
        s.append(b"", &body(i, 10)).expect("append");
    }
    let a = s.next_unsent().expect("read").expect("0");
    let _b = s.next_unsent().expect("read").expect("1");
    s.retry(a.seq);
    assert_eq!(s.next_unsent().expect("read").map(|e| e.seq), Some(0));
    assert_eq!(s.next_unsent().expect("read").map(|e| e.seq), Some(2));
    assert_eq!(s.next_unsent().expect("read"), None);
    assert!(!s.has_unsent());
}

#[test]
fn a_torn_tail_is_cut_off_and_the_rest_replays() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut s, _) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("open");
    for i in 0..3 {
        s.append(b"meta", &body(i, 100)).expect("append");
    }
    drop(s);
    // A crash mid-write: half a fourth record, then garbage.
    let seg = segment_path(d.path(), 0);
    let whole = std::fs::metadata(&seg).expect("seg").len();
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    f.write_all(&MAGIC.to_le_bytes()).expect("write");
    f.write_all(&[7u8; 30]).expect("write");
    drop(f);
    let (mut s, rec) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("reopen");
    assert_eq!(rec.pending, 3);
    assert_eq!(rec.truncated_bytes, 34);
    assert_eq!(std::fs::metadata(&seg).expect("seg").len(), whole);
    // A flipped byte inside the second record: it and what follows are cut.
    drop(s);
    let mut b = std::fs::read(&seg).expect("read");
    let second = HEADER + 4 + 100;
    b[second + HEADER + 10] ^= 0xff;
    std::fs::write(&seg, &b).expect("write");
    let (mut s2, rec) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("reopen");
    assert_eq!(rec.pending, 1);
    assert_eq!(
        s2.next_unsent().expect("read").map(|e| e.body),
        Some(body(0, 100))
    );
    s = s2;
    assert_eq!(
        s.append(b"", b"y").expect("append"),
        1,
        "numbering resumes after the cut"
    );
}

#[test]
fn acks_out_of_order_survive_a_crash() {
    let d = tempfile::tempdir().expect("tmp");
    let (mut s, _) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("open");
    for i in 0..6 {
        s.append(b"", &body(i, 10)).expect("append");
    }
    for seq in [1, 2, 4] {
        s.ack(seq);
    }
    s.commit().expect("commit");
    s.ack(5);
    drop(s);
    let (mut s, rec) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("reopen");
    let mut back = Vec::new();
    while let Some(e) = s.next_unsent().expect("read") {
        back.push(e.seq);
    }
    assert_eq!(
        back,
        vec![0, 3, 5],
        "1, 2 and 4 were committed as acked; 5 was not"
    );
    assert_eq!(rec.pending, 3);
    assert_eq!(
        decode_cursor(&encode_cursor(7, &[(1, 3), (9, 12)], b"n")),
        Some((7, vec![(1, 3), (9, 12)], b"n".to_vec()))
    );
    assert_eq!(decode_cursor(b"junk"), None);
}

#[test]
fn one_process_per_spool() {
    let d = tempfile::tempdir().expect("tmp");
    let (s, _) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("open");
    let e = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect_err("locked");
    assert!(e.to_string().contains("in use"), "{e}");
    let id = s.id().to_owned();
    drop(s);
    let (s, _) = Spool::open(config(d.path(), 1 << 20, 1 << 20)).expect("reopen");
    assert_eq!(s.id(), id, "the id is the spool's, for ever");
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Send,
    /// Ack the k-th (mod) handed-out, unacked record.
    Ack(usize),
    Retry(usize),
    Commit,
    /// Process dies (no commit) and the spool is opened again.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..600).prop_map(Op::Append),
        4 => Just(Op::Send),
        4 => (0usize..8).prop_map(Op::Ack),
        1 => (0usize..8).prop_map(Op::Retry),
        2 => Just(Op::Commit),
        1 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the order of appends, replays, acks, commits and crashes:
    /// every record appended and not acked is handed out again after a
    /// crash (nothing lost), its bytes intact; nothing acked before a commit
    /// comes back, in order or not; and the bytes held stay under the bound.
    #[test]
    fn nothing_appended_is_lost_across_crashes(ops in proptest::collection::vec(op(), 1..120)) {
        let d = tempfile::tempdir().expect("tmp");
        let cfg = config(d.path(), 16 * 1024, 2048);
        let (mut s, _) = Spool::open(cfg.clone()).expect("open");
        let mut lens = BTreeMap::new();
        let mut acked = BTreeSet::new();
        let mut committed_acked = BTreeSet::new();
        let mut handed: Vec<u64> = Vec::new();
        for op in ops {
            match op {
                Op::Append(len) => match s.append(&[len as u8], &body(s.next_seq, len)) {
                    Ok(seq) => { lens.insert(seq, len); }
                    Err(AppendError::Full) => {}
                    Err(e) => panic!("{e}"),
                },
                Op::Send => {
                    if let Some(e) = s.next_unsent().expect("read") {
                        prop_assert_eq!(&e.body, &body(e.seq, lens[&e.seq]));
                        prop_assert!(!acked.contains(&e.seq));
                        handed.push(e.seq);
                    }
                }
                Op::Ack(k) => {
                    if !handed.is_empty() {
                        let seq = handed.remove(k % handed.len());
                        s.ack(seq);
                        acked.insert(seq);
                    }
                }
                Op::Retry(k) => {
                    if !handed.is_empty() {
                        let seq = handed.remove(k % handed.len());
                        s.retry(seq);
                    }
                }
                Op::Commit => {
                    s.commit().expect("commit");
                    committed_acked.extend(acked.iter().copied());
                }
                Op::Crash => {
                    drop(s);
                    let (s2, rec) = Spool::open(cfg.clone()).expect("reopen");
                    s = s2;
                    handed.clear();
                    let mut back = BTreeSet::new();
                    while let Some(e) = s.next_unsent().expect("read") {
                        prop_assert_eq!(&e.body, &body(e.seq, lens[&e.seq]));
                        back.insert(e.seq);
                        handed.push(e.seq);
                    }
                    prop_assert_eq!(rec.pending as usize, back.len());
                    for &seq in lens.keys() {
                        if !acked.contains(&seq) {
                            prop_assert!(back.contains(&seq), "record {} lost", seq);
                        }
                        if committed_acked.contains(&seq) {
                            prop_assert!(!back.contains(&seq), "record {} acked and committed came back", seq);
                        }
                    }
                    // Acks after the last commit are forgotten: the model too.
                    acked.retain(|a| committed_acked.contains(a));
                }
            }
            prop_assert!(s.bytes() <= cfg.max_bytes);
        }
    }
}
