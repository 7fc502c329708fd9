//! The collector's disk spool: a bounded, crash-safe on-disk log of records
//! (encoded batches) waiting for a sink that is slow or away.
//!
//! - **Append** writes a record, with its sequence number, append time and
//!   CRC, to the active segment file in one `write` (a crash leaves at most a
//!   torn last record, cut off at the next open). Refused, not waited for,
//!   when the spool holds `max_bytes`.
//! - **Replay** hands records out in sequence order ([`Spool::next_unsent`]);
//!   one that failed is handed out again first ([`Spool::retry`]).
//! - **Ack** removes a record; acks arrive in any order. The cursor (every
//!   record below it acked), the records acked above it and a caller's note
//!   are persisted by [`Spool::commit`] (written aside, then renamed), after
//!   which segments wholly below the cursor are deleted.
//! - **Open** after a crash or a restart finds every record at or above the
//!   persisted cursor that was not acked: those acked after the last commit
//!   are replayed again, so a sink that must store each record once gives
//!   each record a stable id ([`Spool::id`] and the sequence number) and the
//!   caller the note to find what it already stored (the Kafka sink keeps
//!   per-partition offsets there).
//!
//! `fsync` policy: with `fsync_interval` zero every append and commit is
//! flushed to the disk before it returns; otherwise at most that long after.
//! A killed process loses nothing either way (the page cache survives it);
//! the interval bounds what a power loss may take.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MAGIC: u32 = 0x4d4c_5350; // "MLSP"
/// magic, seq, appended (ms since the epoch), meta length, body length, CRC.
const HEADER: usize = 4 + 8 + 8 + 4 + 4 + 4;
const CURSOR: &str = "cursor";
const ID: &str = "id";
const LOCK: &str = "lock";

/// Where and how much.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// Directory of the segments, the cursor and the spool's id.
    pub dir: PathBuf,
    /// Bytes of segment files at most; an append beyond is refused.
    pub max_bytes: u64,
    /// A segment is closed at about this size.
    pub segment_bytes: u64,
    /// Zero: flush each append and commit to the disk; else at most this
    /// long after.
    pub fsync_interval: Duration,
}

/// One record handed out for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number (unique for this spool's id, for ever).
    pub seq: u64,
    /// When it was appended, ms since the epoch.
    pub appended_ms: i64,
    /// The caller's small metadata (e.g. headers).
    pub meta: Vec<u8>,
    /// The record itself.
    pub body: Vec<u8>,
}

/// Why an append was refused.
#[derive(Debug)]
pub enum AppendError {
    /// The spool holds `max_bytes`.
    Full,
    /// The disk refused the write.
    Io(io::Error),
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => write!(f, "spool full"),
            Self::Io(e) => write!(f, "spool write failed: {e}"),
        }
    }
}

impl std::error::Error for AppendError {}

/// What `open` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Records not acked (to replay).
    pub pending: u64,
    /// Their bytes on disk.
    pub pending_bytes: u64,
    /// Bytes of torn or corrupt records cut off (a crash mid-write).
    pub truncated_bytes: u64,
    /// The note of the last commit (empty if none).
    pub note: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u64,
    appended_ms: i64,
}

/// The spool. Not shared: wrap it in a mutex to ack from another thread.
#[derive(Debug)]
pub struct Spool {
    config: SpoolConfig,
    id: String,
    _lock: File,
    /// First sequence number of each segment file, and its size.
    segments: BTreeMap<u64, u64>,
    active: Option<(u64, File)>,
    /// Records not acked.
    index: BTreeMap<u64, Loc>,
    /// Next record to hand out (the records below it were handed out).
    next_send: u64,
    retries: VecDeque<u64>,
    next_seq: u64,
    note: Vec<u8>,
    committed_cursor: u64,
    /// The cursor file as last written.
    committed: Vec<u8>,
    last_sync: Instant,
    dirty: bool,
    reader: Option<(u64, File)>,
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn crc(seq: u64, appended: i64, meta: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&appended.to_le_bytes());
    h.update(meta);
    h.update(body);
    h.finalize()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Bytes free on the file system of `dir` (to size a default bound).
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path; `s` is written by statvfs before
    // it is read, and only when it returns 0.
    let r = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

const CURSOR_MAGIC: &[u8; 4] = b"MLC1";

/// The cursor file: magic, cursor, the ranges `[a, b)` acknowledged above
/// it, the caller's note.
fn encode_cursor(cursor: u64, acked: &[(u64, u64)], note: &[u8]) -> Vec<u8> {
    let mut b = CURSOR_MAGIC.to_vec();
    b.extend_from_slice(&cursor.to_le_bytes());
    b.extend_from_slice(&(acked.len() as u32).to_le_bytes());
    for (a, z) in acked {
        b.extend_from_slice(&a.to_le_bytes());
        b.extend_from_slice(&z.to_le_bytes());
    }
    b.extend_from_slice(note);
    b
}

type Cursor = (u64, Vec<(u64, u64)>, Vec<u8>);

fn decode_cursor(b: &[u8]) -> Option<Cursor> {
    let rest = b.strip_prefix(CURSOR_MAGIC)?;
    let u64_at = |i: usize| Some(u64::from_le_bytes(rest.get(i..i + 8)?.try_into().ok()?));
    let cursor = u64_at(0)?;
    let n = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
    let mut acked = Vec::with_capacity(n.min(1 << 16));
    for k in 0..n {
        acked.push((u64_at(12 + 16 * k)?, u64_at(20 + 16 * k)?));
    }
    Some((cursor, acked, rest.get(12 + 16 * n..)?.to_vec()))
}

/// Reads one record at `offset` of `f`; `None` at a clean end, an error for a
/// torn or corrupt record.
fn read_record(f: &mut File, offset: u64) -> io::Result<Option<(Entry, u64)>> {
    f.seek(SeekFrom::Start(offset))?;
    let mut h = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        let n = f.read(&mut h[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got == 0 {
        return Ok(None);
    }
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    if got < HEADER {
        return Err(bad("torn header"));
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or_default());
    if u32_at(0) != MAGIC {
        return Err(bad("bad magic"));
    }
    let seq = u64_at(4);
    let appended_ms = u64_at(12) as i64;
    let (meta_len, body_len) = (u32_at(20) as usize, u32_at(24) as usize);
    let want = u32_at(28);
    let mut meta = vec![0u8; meta_len];
    let mut body = vec![0u8; body_len];
    f.read_exact(&mut meta).map_err(|_| bad("torn record"))?;
    f.read_exact(&mut body).map_err(|_| bad("torn record"))?;
    if crc(seq, appended_ms, &meta, &body) != want {
        return Err(bad("bad checksum"));
    }
    let len = (HEADER + meta_len + body_len) as u64;
    Ok(Some((
        Entry {
            seq,
            appended_ms,
            meta,
            body,
        },
        len,
    )))
}

impl Spool {
    /// Opens (creating) the spool in `config.dir`, taking its lock, cutting
    /// off a torn tail, and indexing every record not acked.
    pub fn open(config: SpoolConfig) -> io::Result<(Self, Recovery)> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is in use by another process", dir.display()),
            ));
        }
        let id = match std::fs::read_to_string(dir.join(ID)) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u128(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                h.write_u32(std::process::id());
                let id = format!("{:016x}", h.finish());
                let tmp = dir.join("id.tmp");
                std::fs::write(&tmp, &id)?;
                File::open(&tmp)?.sync_all()?;
                std::fs::rename(&tmp, dir.join(ID))?;
                sync_dir(&dir)?;
                id
            }
        };
        let (cursor, acked, note) = match std::fs::read(dir.join(CURSOR)) {
            Ok(b) => decode_cursor(&b).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a spool cursor", dir.join(CURSOR).display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, Vec::new(), Vec::new()),
            Err(e) => return Err(e),
        };
        let is_acked = |seq: u64| acked.iter().any(|&(a, b)| (a..b).contains(&seq));
        let mut firsts: Vec<u64> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                n.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut rec = Recovery {
            note: note.clone(),
            ..Recovery::default()
        };
        let mut segments = BTreeMap::new();
        let mut index = BTreeMap::new();
        let mut next_seq = cursor;
        for first in firsts {
            let path = segment_path(&dir, first);
            let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
            let size = f.metadata()?.len();
            let mut offset = 0u64;
            loop {
                match read_record(&mut f, offset) {
                    Ok(Some((e, len))) => {
                        if e.seq >= cursor && !is_acked(e.seq) {
                            index.insert(
                                e.seq,
                                Loc {
                                    segment: first,
                                    offset,
                                    len,
                                    appended_ms: e.appended_ms,
                                },
                            );
                            rec.pending += 1;
                            rec.pending_bytes += len;
                        }
                        next_seq = next_seq.max(e.seq + 1);
                        offset += len;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(segment = %path.display(), offset, error = %e, "spool: cutting off a torn or corrupt tail");
                        rec.truncated_bytes += size - offset;
                        f.set_len(offset)?;
                        f.sync_all()?;
                        break;
                    }
                }
            }
            segments.insert(first, offset);
        }
        let next_send = index.keys().next().copied().unwrap_or(next_seq);
        let mut spool = Self {
            config,
            id,
            _lock: lock,
            segments,
            active: None,
            index,
            next_send,
            retries: VecDeque::new(),
            next_seq,
            note: note.clone(),
            committed_cursor: cursor,
            committed: Vec::new(),
            last_sync: Instant::now(),
            dirty: false,
            reader: None,
        };
        spool.delete_acked_segments()?;
        Ok((spool, rec))
    }

    /// This spool's id: with a sequence number, a record's id for ever.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Bytes of segment files.
    pub fn bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    /// Records not acked.
    pub fn pending(&self) -> usize {
        self.index.len()
    }

    /// Nothing waits in the spool.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// A record waits to be handed out.
    pub fn has_unsent(&self) -> bool {
        !self.retries.is_empty() || self.index.range(self.next_send..).next().is_some()
    }

    /// Age of the oldest record not acked.
    pub fn oldest_age(&self) -> Option<Duration> {
        let ms = self.index.values().next()?.appended_ms;
        Some(Duration::from_millis(
            now_ms().saturating_sub(ms).max(0) as u64
        ))
    }

    /// Appends a record; refused at once when the spool is full.
    pub fn append(&mut self, meta: &[u8], body: &[u8]) -> Result<u64, AppendError> {
        let len = (HEADER + meta.len() + body.len()) as u64;
        if self.bytes() + len > self.config.max_bytes {
            return Err(AppendError::Full);
        }
        let seq = self.next_seq;
        let appended = now_ms();
        let mut rec = Vec::with_capacity(len as usize);
        rec.extend_from_slice(&MAGIC.to_le_bytes());
        rec.extend_from_slice(&seq.to_le_bytes());
        rec.extend_from_slice(&appended.to_le_bytes());
        rec.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc(seq, appended, meta, body).to_le_bytes());
        rec.extend_from_slice(meta);
        rec.extend_from_slice(body);
        let roll = match &self.active {
            Some((first, _)) => {
                self.segments.get(first).copied().unwrap_or(0) >= self.config.segment_bytes
            }
            None => true,
        };
        if roll {
            self.sync_active().map_err(AppendError::Io)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.config.dir, seq))
                .map_err(AppendError::Io)?;
            sync_dir(&self.config.dir).map_err(AppendError::Io)?;
            self.segments.insert(seq, 0);
            self.active = Some((seq, f));
        }
        let Some((first, f)) = &mut self.active else {
            return Err(AppendError::Io(io::Error::other("no active segment")));
        };
        let first = *first;
        let offset = self.segments.get(&first).copied().unwrap_or(0);
        if let Err(e) = f.write_all(&rec) {
            // Cut off whatever part of the record was written.
            let _ = f.set_len(offset);
            return Err(AppendError::Io(e));
        }
        self.segments.insert(first, offset + len);
        self.index.insert(
            seq,
            Loc {
                segment: first,
                offset,
                len,
                appended_ms: appended,
            },
        );
        self.next_seq += 1;
        self.dirty = true;
        if self.config.fsync_interval.is_zero() {
            self.sync_active().map_err(AppendError::Io)?;
        }
        Ok(seq)
    }

    fn sync_active(&mut self) -> io::Result<()> {
        if let Some((_, f)) = &self.active
            && self.dirty
        {
            f.sync_data()?;
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The next record to replay: a retried one first, then in order.
    pub fn next_unsent(&mut self) -> io::Result<Option<Entry>> {
        let seq = loop {
            match self.retries.pop_front() {
                Some(s) if self.index.contains_key(&s) => break Some(s),
                Some(_) => continue,
                None => break None,
            }
        };
        let seq = match seq {
            Some(s) => s,
            None => match self.index.range(self.next_send..).next() {
                Some((&s, _)) => {
                    self.next_send = s + 1;
                    s
                }
                None => return Ok(None),
            },
        };
        let Some(loc) = self.index.get(&seq).copied() else {
            return Ok(None);
        };
        let f = match &mut self.reader {
            Some((seg, f)) if *seg == loc.segment => f,
            _ => {
                let f = File::open(segment_path(&self.config.dir, loc.segment))?;
                &mut self.reader.insert((loc.segment, f)).1
            }
        };
        match read_record(f, loc.offset)? {
            Some((e, len)) if e.seq == seq && len == loc.len => Ok(Some(e)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("spool record {seq} changed on disk"),
            )),
        }
    }

    /// A handed-out record failed: hand it out again before the others.
    pub fn retry(&mut self, seq: u64) {
        if self.index.contains_key(&seq) {
            self.retries.push_back(seq);
        }
    }

    /// A record reached its sink (any order); unknown or repeated acks are
    /// ignored.
    pub fn ack(&mut self, seq: u64) -> bool {
        self.index.remove(&seq).is_some()
    }

    /// Every record below it is acked.
    pub fn cursor(&self) -> u64 {
        self.index.keys().next().copied().unwrap_or(self.next_seq)
    }

    /// Sets the note the next commit persists with the cursor.
    pub fn set_note(&mut self, note: Vec<u8>) {
        self.note = note;
    }

    /// Persists the cursor, the records acknowledged above it and the note
    /// (when they changed), then deletes the segments wholly below the
    /// cursor. Also flushes appends when the fsync interval has passed.
    /// After a crash, nothing acknowledged before the last commit comes back.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.dirty && self.last_sync.elapsed() >= self.config.fsync_interval {
            self.sync_active()?;
        }
        let cursor = self.cursor();
        // Acknowledged out of order: the gaps between the records waiting.
        let mut acked = Vec::new();
        let mut prev = cursor;
        for &seq in self.index.keys() {
            if seq > prev {
                acked.push((prev, seq));
            }
            prev = seq + 1;
        }
        if self.next_seq > prev {
            acked.push((prev, self.next_seq));
        }
        let b = encode_cursor(cursor, &acked, &self.note);
        if b == self.committed {
            return Ok(());
        }
        let tmp = self.config.dir.join("cursor.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&b)?;
            if self.config.fsync_interval.is_zero() {
                f.sync_all()?;
            }
        }
        std::fs::rename(&tmp, self.config.dir.join(CURSOR))?;
        self.committed_cursor = cursor;
        self.committed = b;
        self.delete_acked_segments()
    }

    /// Deletes segments whose records are all below the committed cursor;
    /// the active one too when everything is acked (an idle spool holds
    /// nothing).
    fn delete_acked_segments(&mut self) -> io::Result<()> {
        let cursor = self.committed_cursor;
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        let mut deleted = false;
        for (i, &first) in firsts.iter().enumerate() {
            let end = firsts.get(i + 1).copied().unwrap_or(self.next_seq);
            if end > cursor {
                break;
            }
            if let Some((a, _)) = &self.active
                && *a == first
            {
                self.active = None;
            }
            if let Some((r, _)) = &self.reader
                && *r == first
            {
                self.reader = None;
            }
            match std::fs::remove_file(segment_path(&self.config.dir, first)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.segments.remove(&first);
            deleted = true;
        }
        if deleted && self.config.fsync_interval.is_zero() {
            sync_dir(&self.config.dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
