//! The lake writer: batches in, Parquet files out, one open file per
//! partition, rolled by size and by age. Time is passed in (`now`), so the
//! roll policy is tested with virtual time. Each packets file gets its
//! `flows` file (the [`FlowRollup`] of its rows, same partition and name),
//! completed right before it.

use crate::flows::FlowRollup;
use crate::layout::{PartitionKey, TABLE_FLOWS, TABLE_PACKETS};
use crate::{FileConfig, Lake, LakeError};
use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use mirrorlake_schema::{flow_schema, packet_schema};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// When files are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollPolicy {
    /// Close a file when it reaches about this many bytes.
    pub max_file_bytes: usize,
    /// Close a file this long after it was opened, so data becomes queryable.
    pub max_file_age: Duration,
}

impl Default for RollPolicy {
    fn default() -> Self {
        Self {
            max_file_bytes: 128 << 20,
            max_file_age: Duration::from_secs(50),
        }
    }
}

/// Names new files. Names must be unique in a partition, and deterministic
/// where replays must overwrite rather than duplicate (cluster mode).
pub trait FileNamer: Send {
    /// The file name (without folder) for a new file in `partition`.
    fn name(&mut self, partition: PartitionKey) -> String;
}

/// `s` with every character other than ASCII letters, digits, `-`, `_` and
/// `extra` replaced by `_`: safe in object names on every store.
fn name_part(s: &str, extra: &[char]) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || extra.contains(&c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<writer id>-<start time µs>-<sequence>.parquet`: unique per writer run.
#[derive(Debug, Clone)]
pub struct SequenceNamer {
    prefix: String,
    seq: u64,
}

impl SequenceNamer {
    /// Names files of writer `id` started at `start_us`.
    pub fn new(id: &str, start_us: i64) -> Self {
        let id = name_part(id, &[]);
        Self {
            prefix: format!("{id}-{start_us}"),
            seq: 0,
        }
    }
}

impl FileNamer for SequenceNamer {
    fn name(&mut self, _partition: PartitionKey) -> String {
        self.seq += 1;
        format!("{}-{:06}.parquet", self.prefix, self.seq)
    }
}

/// `<topic>-<partition>-<first offset>.parquet`: cluster mode's names. The
/// same Kafka offset range always gets the same names (one per hour it
/// touches), so a replay of the range overwrites rather than duplicates.
#[derive(Debug, Clone)]
pub struct OffsetRangeNamer {
    name: String,
}

impl OffsetRangeNamer {
    /// Names the files of the range of `partition` of `topic` that starts at
    /// `first_offset`.
    pub fn new(topic: &str, partition: i32, first_offset: i64) -> Self {
        // Kafka topic names may hold '.', which is safe in object names.
        let topic = name_part(topic, &['.']);
        Self {
            name: format!("{topic}-{partition:05}-{first_offset:020}.parquet"),
        }
    }
}

impl FileNamer for OffsetRangeNamer {
    fn name(&mut self, _partition: PartitionKey) -> String {
        self.name.clone()
    }
}

/// Rows held back to be sorted are written as row groups once their Arrow
/// memory reaches this size, whatever their row count: bounds the writer's
/// memory per open file (the collector's peak RSS, `loadtest bench`,
/// docs/benchmarks.md).
pub const MAX_ROW_GROUP_BYTES: usize = 32 << 20;

/// A file that was completed and is now visible in the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedFile {
    /// Object path.
    pub path: Path,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Time spent finishing and uploading it (and its flows file) at close.
    pub close_time: Duration,
    /// Rows of its `flows` file (0: no IP packet, no flows file).
    pub flow_rows: u64,
}

struct OpenFile {
    path: Path,
    /// The flows of its rows, written beside it at close.
    flows: FlowRollup,
    writer: AsyncArrowWriter<BufWriter>,
    opened_at: Instant,
    rows: u64,
    /// Rows of the next row group, held back to be sorted (only with `sort_by`).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// Bytes of the rows in `pending` (what row groups are sized by).
    pending_bytes: usize,
    /// Arrow memory of `pending` and `small` (what bounds the writer's memory).
    pending_memory: usize,
    /// Small batches not yet merged into one (see [`SMALL_BATCH_ROWS`]).
    small: Vec<RecordBatch>,
    small_rows: usize,
    /// Arrow memory of `small`.
    small_memory: usize,
}

/// Held-back batches of fewer rows than this are merged into batches of at
/// least twice as many: at light traffic (a batch a second of a few rows)
/// each array's fixed overhead is several times its rows' bytes, and would
/// fill the held-back memory with overhead instead of rows.
const SMALL_BATCH_ROWS: usize = 4096;

/// Small held-back batches are merged at the latest once their Arrow memory
/// (mostly per-batch overhead) reaches this.
const SMALL_BATCH_MEMORY: usize = 4 << 20;

impl OpenFile {
    fn bytes(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size() + self.pending_bytes
    }

    /// Holds `part` back to be sorted into the next row groups.
    fn hold(&mut self, part: RecordBatch) -> Result<(), LakeError> {
        let memory = part.get_array_memory_size();
        self.pending_rows += part.num_rows();
        self.pending_bytes += data_bytes(&part);
        self.pending_memory += memory;
        if part.num_rows() >= SMALL_BATCH_ROWS {
            self.pending.push(part);
            return Ok(());
        }
        self.small_rows += part.num_rows();
        self.small_memory += memory;
        self.small.push(part);
        if self.small_rows >= 2 * SMALL_BATCH_ROWS || self.small_memory >= SMALL_BATCH_MEMORY {
            self.merge_small()?;
        }
        Ok(())
    }

    /// Merges the small held-back batches into one.
    fn merge_small(&mut self) -> Result<(), LakeError> {
        if self.small.is_empty() {
            return Ok(());
        }
        let merged = arrow::compute::concat_batches(&packet_schema(), &self.small)?;
        self.small.clear();
        self.small_rows = 0;
        self.pending_memory = self.pending_memory - std::mem::take(&mut self.small_memory)
            + merged.get_array_memory_size();
        self.pending.push(merged);
        Ok(())
    }
}

/// Bytes of a batch's rows (its buffers' used lengths, not their capacity
/// or fixed overhead).
fn data_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
        .sum()
}

/// Writes record batches of the `packets` schema into the lake.
pub struct LakeWriter {
    lake: Lake,
    table: String,
    config: FileConfig,
    policy: RollPolicy,
    namer: Box<dyn FileNamer>,
    open: BTreeMap<PartitionKey, OpenFile>,
}

impl std::fmt::Debug for LakeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeWriter")
            .field("lake", &self.lake.url.as_str())
            .field("open", &self.open.len())
            .finish()
    }
}

impl LakeWriter {
    /// A writer of the `packets` table.
    pub fn new(
        lake: Lake,
        config: FileConfig,
        policy: RollPolicy,
        namer: Box<dyn FileNamer>,
    ) -> Self {
        Self {
            lake,
            table: TABLE_PACKETS.to_owned(),
            config,
            policy,
            namer,
            open: BTreeMap::new(),
        }
    }

    /// Files currently open.
    pub fn open_files(&self) -> usize {
        self.open.len()
    }

    /// Writes a batch, splitting it by partition; returns the files that
    /// reached their size limit and were closed.
    pub async fn write(
        &mut self,
        batch: &RecordBatch,
        now: Instant,
    ) -> Result<Vec<ClosedFile>, LakeError> {
        let mut closed = Vec::new();
        for (key, part) in split_by_partition(batch)? {
            if !self.open.contains_key(&key) {
                let path = key
                    .folder(&self.lake.root, &self.table)
                    .join(self.namer.name(key));
                // A multipart upload: the object appears only when completed.
                let object = BufWriter::new(self.lake.store.clone(), path.clone());
                let writer = AsyncArrowWriter::try_new(
                    object,
                    packet_schema(),
                    Some(self.config.writer_properties()),
                )?;
                self.open.insert(
                    key,
                    OpenFile {
                        path,
                        flows: FlowRollup::new(),
                        writer,
                        opened_at: now,
                        rows: 0,
                        pending: Vec::new(),
                        pending_rows: 0,
                        pending_bytes: 0,
                        pending_memory: 0,
                        small: Vec::new(),
                        small_rows: 0,
                        small_memory: 0,
                    },
                );
            }
            let Some(file) = self.open.get_mut(&key) else {
                continue;
            };
            file.rows += part.num_rows() as u64;
            file.flows.add(&part)?;
            if self.config.sort_by.is_empty() {
                file.writer.write(&part).await?;
                if file.writer.in_progress_size() >= MAX_ROW_GROUP_BYTES {
                    file.writer.flush().await?;
                }
            } else {
                file.hold(part)?;
                if file.pending_rows >= self.config.row_group_rows
                    || file.pending_memory >= MAX_ROW_GROUP_BYTES
                {
                    write_sorted(file, &self.config).await?;
                }
            }
            if file.bytes() >= self.policy.max_file_bytes {
                closed.push(self.close(key).await?);
            }
        }
        Ok(closed)
    }

    /// Bytes written or buffered in the open files.
    pub fn buffered_bytes(&self) -> usize {
        self.open.values().map(OpenFile::bytes).sum()
    }

    /// Rows in the open files.
    pub fn buffered_rows(&self) -> u64 {
        self.open.values().map(|f| f.rows).sum()
    }

    /// Object paths of the open files (not visible until closed).
    pub fn open_paths(&self) -> Vec<Path> {
        self.open.values().map(|f| f.path.clone()).collect()
    }

    /// Drops the open file at `path` without completing it (nothing of it,
    /// nor of its flows, ever becomes visible). False if no file is open there.
    pub fn discard(&mut self, path: &Path) -> bool {
        let key = self
            .open
            .iter()
            .find(|(_, f)| &f.path == path)
            .map(|(k, _)| *k);
        // Dropping the writer drops its multipart upload uncompleted.
        key.and_then(|k| self.open.remove(&k)).is_some()
    }

    /// Closes the files that reached their age limit.
    pub async fn poll(&mut self, now: Instant) -> Result<Vec<ClosedFile>, LakeError> {
        let due: Vec<PartitionKey> = self
            .open
            .iter()
            .filter(|(_, f)| now >= f.opened_at + self.policy.max_file_age)
            .map(|(k, _)| *k)
            .collect();
        let mut closed = Vec::with_capacity(due.len());
        for key in due {
            closed.push(self.close(key).await?);
        }
        Ok(closed)
    }

    /// When [`poll`](Self::poll) will next close a file.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .map(|f| f.opened_at + self.policy.max_file_age)
            .min()
    }

    /// Writes the rows held back in every open file as row groups now:
    /// rows written after this never share a row group with rows before.
    /// `compact` cuts after each range of mirrored ENIs it re-clusters.
    pub async fn cut(&mut self) -> Result<(), LakeError> {
        for file in self.open.values_mut() {
            write_sorted(file, &self.config).await?;
        }
        Ok(())
    }

    /// Closes every open file (shutdown, drain).
    pub async fn close_all(&mut self) -> Result<Vec<ClosedFile>, LakeError> {
        let keys: Vec<PartitionKey> = self.open.keys().copied().collect();
        let mut closed = Vec::with_capacity(keys.len());
        for key in keys {
            closed.push(self.close(key).await?);
        }
        Ok(closed)
    }

    async fn close(&mut self, key: PartitionKey) -> Result<ClosedFile, LakeError> {
        let Some(file) = self.open.remove(&key) else {
            return Err(LakeError::Location {
                location: key.hive_path(),
                reason: "no open file".into(),
            });
        };
        let started = Instant::now();
        let mut file = file;
        write_sorted(&mut file, &self.config).await?;
        // The flows file is completed first: a visible packets file always
        // has its flows (a Kafka replay leaves out the packets files already
        // out, `compact::discard_published`, and with them their flows).
        let flow_rows = match file.flows.finish()? {
            Some(flows) => {
                let name = file.path.filename().unwrap_or_default();
                let path = key.folder(&self.lake.root, TABLE_FLOWS).join(name);
                let object = BufWriter::new(self.lake.store.clone(), path);
                let mut w = AsyncArrowWriter::try_new(
                    object,
                    flow_schema(),
                    Some(self.config.flow_writer_properties()),
                )?;
                w.write(&flows).await?;
                w.close().await?;
                flows.num_rows() as u64
            }
            None => 0,
        };
        let mut writer = file.writer;
        writer.flush().await?;
        let bytes = writer.bytes_written() as u64;
        writer.close().await?;
        Ok(ClosedFile {
            path: file.path,
            rows: file.rows,
            bytes,
            close_time: started.elapsed(),
            flow_rows,
        })
    }
}

/// Sorts the held-back rows by `sort_by` and writes them as row groups of
/// whole ENIs or parts of one (see [`FileConfig::min_row_group_bytes`]).
async fn write_sorted(file: &mut OpenFile, config: &FileConfig) -> Result<(), LakeError> {
    /// Sorted rows are handed to the encoder this many at a time.
    const CHUNK_ROWS: usize = 8192;
    file.merge_small()?;
    if file.pending.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(&mut file.pending);
    let pending_bytes = std::mem::take(&mut file.pending_bytes);
    file.pending_rows = 0;
    file.pending_memory = 0;
    // Only the sort key columns are concatenated; the rows themselves go
    // from the pending batches to the encoder a chunk at a time, so sorting
    // never holds a second copy of the row group.
    let schema = packet_schema();
    let columns = config
        .sort_by
        .iter()
        .map(|c| {
            let at = schema.index_of(c).map_err(|_| LakeError::Location {
                location: "sort_by".into(),
                reason: format!("no column {c:?}"),
            })?;
            let parts: Vec<&dyn arrow::array::Array> =
                pending.iter().map(|b| b.column(at).as_ref()).collect();
            Ok(arrow::compute::SortColumn {
                values: arrow::compute::concat(&parts)?,
                options: None,
            })
        })
        .collect::<Result<Vec<_>, LakeError>>()?;
    let order = arrow::compute::lexsort_to_indices(&columns, None)?;
    let groups = row_groups(&columns, &order, pending_bytes, config.min_row_group_bytes)?;
    drop(columns);
    // Row n of the row group is row n - starts[b] of pending batch b.
    let mut starts = Vec::with_capacity(pending.len());
    let mut n = 0usize;
    for b in &pending {
        starts.push(n);
        n += b.num_rows();
    }
    let at: Vec<(usize, usize)> = order
        .values()
        .iter()
        .map(|&g| {
            let g = g as usize;
            let b = starts.partition_point(|&s| s <= g) - 1;
            (b, g - starts[b])
        })
        .collect();
    let batches: Vec<&RecordBatch> = pending.iter().collect();
    for group in groups {
        for chunk in at[group].chunks(CHUNK_ROWS) {
            let part = arrow::compute::interleave_record_batch(&batches, chunk)?;
            file.writer.write(&part).await?;
        }
        file.writer.flush().await?;
    }
    Ok(())
}

/// The row groups of rows sorted by `order`, as ranges of sorted positions,
/// each of `min_bytes` to twice that (rows are counted at the held-back
/// rows' mean size): runs of the first sort column (the mirrored ENI)
/// smaller than that share a group, cut where the ENI changes; a run larger
/// than twice that is split into parts of at most about twice that, cut
/// where the next two sort columns (`src_ip`, `dst_ip`) change, so that
/// their row-group statistics are narrow too. One group when there is no
/// sort column or `min_bytes` is 0.
fn row_groups(
    columns: &[arrow::compute::SortColumn],
    order: &arrow::array::UInt32Array,
    bytes: usize,
    min_bytes: usize,
) -> Result<Vec<std::ops::Range<usize>>, LakeError> {
    let rows = order.len();
    if columns.is_empty() || min_bytes == 0 || rows == 0 {
        return Ok(std::iter::once(0..rows).collect());
    }
    let sorted = columns
        .iter()
        .take(3)
        .map(|c| arrow::compute::take(c.values.as_ref(), order, None))
        .collect::<Result<Vec<_>, _>>()?;
    let runs = arrow::compute::kernels::partition::partition(&sorted[..1])?.ranges();
    // Where the (ENI, src_ip, dst_ip) key changes: where a large run may be cut.
    let cuts: Vec<usize> = arrow::compute::kernels::partition::partition(&sorted)?
        .ranges()
        .into_iter()
        .map(|r| r.end)
        .collect();
    let min_rows = (min_bytes as u128 * rows as u128).div_ceil(bytes.max(1) as u128);
    let min_rows = usize::try_from(min_rows).unwrap_or(usize::MAX).max(1);
    let max_rows = min_rows.saturating_mul(2);
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    // Closes a group of small runs; one under half a group joins the group before it.
    let close = |groups: &mut Vec<std::ops::Range<usize>>, g: std::ops::Range<usize>| {
        if g.is_empty() {
            return;
        }
        match groups.last_mut() {
            Some(last) if g.len() < min_rows / 2 => last.end = g.end,
            _ => groups.push(g),
        }
    };
    let mut start = 0;
    for run in runs {
        if run.len() > max_rows {
            close(&mut groups, start..run.start);
            let parts = run.len().div_ceil(max_rows);
            let mut from = run.start;
            for i in 1..parts {
                let target = run.start + run.len() * i / parts;
                let at = cuts[cuts.partition_point(|&c| c < target)];
                if at >= run.end {
                    break;
                }
                if at > from {
                    groups.push(from..at);
                    from = at;
                }
            }
            groups.push(from..run.end);
            start = run.end;
        } else if run.end - start >= min_rows {
            groups.push(start..run.end);
            start = run.end;
        }
    }
    close(&mut groups, start..rows);
    Ok(groups)
}

/// Splits a batch into one sub-batch per hour partition of its `ts` column.
fn split_by_partition(batch: &RecordBatch) -> Result<Vec<(PartitionKey, RecordBatch)>, LakeError> {
    let ts = batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| LakeError::Location {
            location: "batch".into(),
            reason: "no ts column of microsecond timestamps".into(),
        })?;
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<PartitionKey> = ts
        .values()
        .iter()
        .map(|&t| PartitionKey::of_us(t))
        .collect();
    let first = keys[0];
    if keys.iter().all(|k| *k == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let mut out = Vec::with_capacity(distinct.len());
    for key in distinct {
        let mask: BooleanArray = keys.iter().map(|k| Some(*k == key)).collect();
        out.push((key, filter_record_batch(batch, &mask)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use mirrorlake_schema::{PacketBatchBuilder, RowMeta};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(ts: &[i64]) -> RecordBatch {
        let mut frame = vec![0u8; 64];
        frame[12] = 0x08;
        frame[13] = 0x06;
        let d = mirrorlake_wire::decode_ethernet(&frame, None).expect("frame");
        let mut b = PacketBatchBuilder::with_capacity("t", ts.len(), 1024);
        for &t in ts {
            b.append(&d, RowMeta::new(t, t));
        }
        b.finish().expect("rows").expect("valid")
    }

    async fn files(lake: &Lake) -> Vec<Path> {
        let mut v: Vec<Path> = lake
            .store
            .list(None)
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .expect("list");
        v.sort();
        v
    }

    /// A writer into a fresh local lake (files named `s`, sequence 1).
    fn local_writer(cfg: FileConfig, policy: RollPolicy) -> (tempfile::TempDir, Lake, LakeWriter) {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        let w = LakeWriter::new(
            lake.clone(),
            cfg,
            policy,
            Box::new(SequenceNamer::new("s", 1)),
        );
        (dir, lake, w)
    }

    #[tokio::test]
    async fn splits_by_hour_rolls_by_age_and_reads_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        let policy = RollPolicy {
            max_file_bytes: usize::MAX,
            max_file_age: Duration::from_secs(10),
        };
        let mut w = LakeWriter::new(
            lake.clone(),
            FileConfig::default(),
            policy,
            Box::new(SequenceNamer::new("c/1", 5)),
        );
        let t0 = Instant::now();
        let h = crate::HOUR_US;
        let closed = w
            .write(&batch(&[10 * h + 1, 10 * h + 2, 11 * h]), t0)
            .await
            .expect("write");
        assert!(closed.is_empty());
        assert_eq!(w.open_files(), 2);
        assert!(
            files(&lake).await.is_empty(),
            "nothing visible before close"
        );
        assert_eq!(w.next_deadline(), Some(t0 + Duration::from_secs(10)));
        assert!(
            w.poll(t0 + Duration::from_secs(9))
                .await
                .expect("poll")
                .is_empty()
        );
        let closed = w.poll(t0 + Duration::from_secs(10)).await.expect("poll");
        assert_eq!(closed.iter().map(|c| c.rows).sum::<u64>(), 3);
        let listed = files(&lake).await;
        assert_eq!(
            listed
                .iter()
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>(),
            vec![
                "packets/dt=1970-01-01/hour=10/c_1-5-000001.parquet".to_owned(),
                "packets/dt=1970-01-01/hour=11/c_1-5-000002.parquet".to_owned()
            ]
        );
        let local = std::fs::canonicalize(dir.path())
            .expect("abs")
            .join(listed[0].as_ref());
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(local).expect("open"))
                .expect("parquet");
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        assert!(kv.iter().any(|k| k.key == "mirrorlake.schema_version"));
        let rows: usize = reader
            .build()
            .expect("reader")
            .map(|b| b.expect("batch").num_rows())
            .sum();
        assert_eq!(rows, 2);
    }

    fn ts_of(dir: &std::path::Path, lake: &Lake, path: &Path) -> (Vec<i64>, usize) {
        let _ = lake;
        let local = std::fs::canonicalize(dir).expect("abs").join(path.as_ref());
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(local).expect("open"))
                .expect("parquet");
        let groups = reader.metadata().num_row_groups();
        let ts = reader
            .build()
            .expect("reader")
            .flat_map(|b| {
                let b = b.expect("batch");
                b.column_by_name("ts")
                    .expect("ts")
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec()
            })
            .collect();
        (ts, groups)
    }

    #[tokio::test]
    async fn sorts_each_row_group() {
        for (group_rows, want, want_groups) in
            [(100, vec![1, 2, 3, 4, 5], 1), (3, vec![3, 4, 5, 1, 2], 2)]
        {
            let cfg = FileConfig {
                row_group_rows: group_rows,
                sort_by: vec!["ts".into()],
                ..FileConfig::default()
            };
            let (dir, lake, mut w) = local_writer(cfg, RollPolicy::default());
            let t0 = Instant::now();
            w.write(&batch(&[5, 3, 4]), t0).await.expect("write");
            w.write(&batch(&[2, 1]), t0).await.expect("write");
            let closed = w.close_all().await.expect("close");
            assert_eq!(closed.len(), 1);
            assert_eq!(closed[0].rows, 5);
            let (ts, groups) = ts_of(dir.path(), &lake, &closed[0].path);
            assert_eq!(
                (ts, groups),
                (want, want_groups),
                "row groups of {group_rows}"
            );
        }
    }

    /// Rows mirrored from `sources` (one row each, in this order).
    fn mirrored(sources: &[u8]) -> RecordBatch {
        let mut frame = vec![0u8; 64];
        frame[12] = 0x08;
        frame[13] = 0x06;
        let mut b = PacketBatchBuilder::with_capacity("t", sources.len(), 1024);
        let mut dgram = Vec::new();
        for (i, &s) in sources.iter().enumerate() {
            dgram.clear();
            mirrorlake_wire::emit_vxlan_payload(7, &frame, &mut dgram);
            let src = std::net::IpAddr::from([10, 0, 0, s]);
            let d = mirrorlake_wire::decode_vxlan_payload(&dgram, Some(src)).expect("frame");
            b.append(&d, RowMeta::new(i as i64, i as i64));
        }
        b.finish().expect("rows").expect("valid")
    }

    /// (min, max) of `mirror_source` in each row group of the file.
    fn source_ranges(dir: &std::path::Path, path: &Path) -> Vec<(String, String)> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::file::statistics::Statistics;
        let f = std::fs::File::open(dir.join(path.as_ref())).expect("file");
        let r = SerializedFileReader::new(f).expect("parquet");
        let at = packet_schema().index_of("mirror_source").expect("column");
        r.metadata()
            .row_groups()
            .iter()
            .map(|g| match g.column(at).statistics() {
                Some(Statistics::ByteArray(s)) => {
                    let text = |v: Option<&parquet::data_type::ByteArray>| {
                        String::from_utf8(v.expect("stat").data().to_vec()).expect("utf8")
                    };
                    (text(s.min_opt()), text(s.max_opt()))
                }
                other => panic!("mirror_source statistics: {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn row_groups_are_cut_where_the_mirror_source_changes() {
        // Four sources, interleaved over two batches; (min_row_group_bytes,
        // the row groups' mirror_source ranges).
        let one = |s: u8| (format!("10.0.0.{s}"), format!("10.0.0.{s}"));
        let range = |a: u8, b: u8| (format!("10.0.0.{a}"), format!("10.0.0.{b}"));
        let cases: [(usize, Vec<(String, String)>); 3] = [
            (1, vec![one(1), one(2), one(3), one(4)]),
            (0, vec![range(1, 4)]),
            (usize::MAX, vec![range(1, 4)]),
        ];
        for (min_bytes, want) in cases {
            let cfg = FileConfig {
                min_row_group_bytes: min_bytes,
                ..FileConfig::default()
            };
            let (dir, _lake, mut w) = local_writer(cfg, RollPolicy::default());
            let t0 = Instant::now();
            w.write(&mirrored(&[3, 1, 4, 1, 2]), t0)
                .await
                .expect("write");
            w.write(&mirrored(&[2, 4, 3, 3]), t0).await.expect("write");
            let closed = w.close_all().await.expect("close");
            assert_eq!(closed[0].rows, 9);
            assert_eq!(
                source_ranges(dir.path(), &closed[0].path),
                want,
                "min_row_group_bytes {min_bytes}"
            );
        }
        // Half the rows' bytes: groups of whole sources, never overlapping.
        let columns = [arrow::compute::SortColumn {
            values: std::sync::Arc::new(arrow::array::StringArray::from(vec![
                "a", "a", "b", "c", "c", "c", "d", "e",
            ])),
            options: None,
        }];
        let order = arrow::array::UInt32Array::from_iter_values(0..8);
        assert_eq!(
            row_groups(&columns, &order, 800, 300).expect("groups"),
            vec![0..3, 3..6, 6..8]
        );
        assert_eq!(
            row_groups(&columns, &order, 800, 500).expect("groups"),
            vec![0..6, 6..8]
        );
        assert_eq!(
            row_groups(&columns, &order, 800, 700).expect("groups"),
            vec![0..8]
        );
        let text = |v: &[&str]| arrow::compute::SortColumn {
            values: std::sync::Arc::new(arrow::array::StringArray::from(v.to_vec())),
            options: None,
        };
        // A source larger than twice a group is split where (src_ip,
        // dst_ip) changes, into parts of at most about twice a group.
        let columns = [
            text(&["a", "a", "a", "a", "a", "a", "b"]),
            text(&["x", "x", "y", "y", "z", "z", "w"]),
            text(&["p", "p", "p", "p", "p", "q", "p"]),
        ];
        let order = arrow::array::UInt32Array::from_iter_values(0..7);
        for (min_bytes, want) in [
            (300, vec![0..6, 6..7]),
            (150, vec![0..4, 4..6, 6..7]),
            (100, vec![0..2, 2..4, 4..6, 6..7]),
        ] {
            assert_eq!(
                row_groups(&columns, &order, 700, min_bytes).expect("groups"),
                want,
                "{min_bytes}"
            );
        }
        // One key throughout: nowhere to cut.
        let columns = [text(&["a"; 6]), text(&["x"; 6]), text(&["p"; 6])];
        let order = arrow::array::UInt32Array::from_iter_values(0..6);
        assert_eq!(
            row_groups(&columns, &order, 600, 100).expect("groups"),
            vec![0..6]
        );
    }

    #[tokio::test]
    async fn small_batches_are_merged_and_every_row_kept() {
        let (dir, _lake, mut w) = local_writer(FileConfig::default(), RollPolicy::default());
        let t0 = Instant::now();
        // More one-row batches than one merge takes (2 * SMALL_BATCH_ROWS).
        let n = 2 * SMALL_BATCH_ROWS + 100;
        for i in 0..n {
            w.write(&mirrored(&[(i % 4) as u8 + 1]), t0)
                .await
                .expect("write");
        }
        let closed = w.close_all().await.expect("close");
        assert_eq!(closed.len(), 1);
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let f = std::fs::File::open(dir.path().join(closed[0].path.as_ref())).expect("file");
        let r = SerializedFileReader::new(f).expect("parquet");
        assert_eq!(r.metadata().file_metadata().num_rows(), n as i64);
        // Four sources of about 300 KB of rows each: a row group each.
        let one = |s: u8| (format!("10.0.0.{s}"), format!("10.0.0.{s}"));
        assert_eq!(
            source_ranges(dir.path(), &closed[0].path),
            [one(1), one(2), one(3), one(4)]
        );
    }

    #[tokio::test]
    async fn a_discarded_file_never_appears() {
        let (_dir, lake, mut w) = local_writer(FileConfig::default(), RollPolicy::default());
        let h = crate::HOUR_US;
        w.write(&batch(&[h, 2 * h]), Instant::now())
            .await
            .expect("write");
        let open = w.open_paths();
        assert_eq!(open.len(), 2);
        assert!(w.discard(&open[0]));
        assert!(!w.discard(&open[0]), "already gone");
        let closed = w.close_all().await.expect("close");
        assert_eq!(closed.len(), 1);
        assert_eq!(files(&lake).await, vec![open[1].clone()]);
    }

    #[tokio::test]
    async fn rolls_by_size() {
        let policy = RollPolicy {
            max_file_bytes: 1,
            max_file_age: Duration::from_secs(3600),
        };
        let cfg = FileConfig {
            row_group_rows: 2,
            ..FileConfig::default()
        };
        let (_dir, lake, mut w) = local_writer(cfg, policy);
        let t0 = Instant::now();
        let c1 = w.write(&batch(&[1, 2]), t0).await.expect("write");
        let c2 = w.write(&batch(&[3, 4]), t0).await.expect("write");
        assert_eq!((c1.len(), c2.len()), (1, 1));
        assert_eq!(files(&lake).await.len(), 2);
        assert!(w.close_all().await.expect("close").is_empty());
    }
}
