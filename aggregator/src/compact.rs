//! Compaction of closed hours. Light traffic leaves many small files per
//! hour partition (one per roll: `--file-max-age-ms`, or one per Kafka
//! offset range in cluster mode), and the live writers cluster rows by
//! mirrored ENI only within what they hold at once (32 MiB), so at volume
//! an ENI's rows are spread over the hour. `compact` rewrites the small
//! files of each closed hour (with `--all-files`, every file the live
//! writers wrote) into target-size ones, re-clustered by mirrored ENI, and
//! replaces them, packets and flows together (the flows are rolled up again
//! from the merged packets, so a compacted hour has one flow row per flow
//! and window instead of one per input file).
//!
//! Re-clustering: the inputs' `mirror_source` columns give the bytes of
//! each ENI; consecutive ENIs are cut into ranges of about
//! [`Options::cluster_bytes`]; per range, the input row groups whose
//! statistics may hold it are read (by byte ranges), filtered to the range
//! and written, and the writer cuts its row groups at the range's end. Each
//! ENI's rows of the whole hour are then together, in row groups of their
//! own (or shared by small ENIs), which is what engines that prune by
//! row-group statistics alone (Trino, Athena) skip by.
//!
//! Per partition, under a lock object (created with `If-None-Match: *`):
//!
//! 1. **Stage**: the inputs' rows are written by an ordinary [`LakeWriter`]
//!    under `_mirrorlake/compaction/<dt>/<hour>/<id>/` (outside the table
//!    folders: no reader sees it). The row count must match the inputs'.
//! 2. **Decide**: the *journal* `_mirrorlake/compaction/<dt>/<hour>/<id>.json`
//!    names the inputs and the outputs. From here on the compaction only
//!    ever rolls forward.
//! 3. **Replace**: a tombstone `_mirrorlake/compacted/packets/<dt>/<hour>/<name>`
//!    for each input (so a Kafka replay of the input's range never publishes
//!    it again: see [`discard_published`]), delete the inputs (packets and
//!    flows), copy the outputs into the table folders, delete the staged
//!    outputs and the journal.
//!
//! A reader never sees a row twice: an output appears only after its inputs
//! are gone. Between the deletes and the copies (step 3, a few requests) the
//! partition's compacted rows are missing; a crash there leaves them missing
//! until the next `compact` run, which finds the journal and finishes step 3
//! first. A crash before the journal leaves only staged objects, deleted by
//! the next run.

use crate::export::{hours_with_data, partition_of_folders};
use anyhow::{Context, Result, bail, ensure};
use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use mirrorlake_lake::{
    FileConfig, HOUR_US, Lake, LakeWriter, PartitionKey, RollPolicy, SequenceNamer, TABLE_FLOWS,
    TABLE_PACKETS,
};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Another owner's lock older than this is taken over (its holder crashed).
/// An owner's own lock is taken over at once (see [`Options::owner`]).
const STALE_LOCK: Duration = Duration::from_secs(3600);

/// A running compaction renews its lock this often (well inside
/// [`STALE_LOCK`]), so that a long one is never taken over.
const RENEW_LOCK: Duration = Duration::from_secs(600);

/// Default of [`Options::cluster_bytes`]: half the memory at which the
/// writer sorts and writes what it holds (`MAX_ROW_GROUP_BYTES`, in Arrow
/// memory, which exceeds the rows' bytes), so a range is written at once.
const CLUSTER_BYTES: u64 = (mirrorlake_lake::MAX_ROW_GROUP_BYTES / 2) as u64;

/// What `compact` does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only hours that ended at or before this time (µs since the epoch).
    pub closed_before_us: i64,
    /// Outputs are cut at about this size.
    pub target_file_bytes: usize,
    /// Files at or above this size are left alone (unless `all_files`).
    pub small_file_bytes: u64,
    /// Also rewrite, once, every file the collectors and aggregators wrote,
    /// whatever its size: re-clusters heavy hours by mirrored ENI, at the
    /// CPU cost of re-encoding them (docs/sizing.md).
    pub all_files: bool,
    /// Encoding of the outputs (the writers' defaults).
    pub files: FileConfig,
    /// Rows (bytes before compression) of the inputs re-clustered at a time:
    /// each range of mirrored ENIs holds at most about this much (one ENI
    /// larger than it is a range of its own), and is held in memory.
    pub cluster_bytes: u64,
    /// Report what would be merged; change nothing.
    pub dry_run: bool,
    /// Test hook: stop (as if the process died) right after this step.
    pub stop_after: Option<Step>,
    /// Who compacts (written into locks and journals): one name per host,
    /// so that a run takes over the lock of its host's crashed run at once.
    pub owner: String,
}

/// ZSTD level of the files `compact` writes: they are kept for months, so
/// a slower level than the live writers' pays (docs/benchmarks.md).
pub const ARCHIVE_ZSTD_LEVEL: i32 = 9;

impl Options {
    /// `compact`'s defaults: hours closed before `closed_before_us`, merged
    /// into files of about `target_file_bytes`; files under 3/4 of that are
    /// small and merged; the writers' encoding at [`ARCHIVE_ZSTD_LEVEL`]; no
    /// dry run.
    pub fn new(closed_before_us: i64, target_file_bytes: usize, owner: impl Into<String>) -> Self {
        Self {
            closed_before_us,
            target_file_bytes,
            small_file_bytes: (target_file_bytes as u64 * 3).div_ceil(4),
            files: FileConfig {
                zstd_level: ARCHIVE_ZSTD_LEVEL,
                ..FileConfig::default()
            },
            cluster_bytes: CLUSTER_BYTES,
            all_files: false,
            dry_run: false,
            stop_after: None,
            owner: owner.into(),
        }
    }
}

/// A step of a partition's compaction, for [`Options::stop_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// The outputs are staged, no journal yet.
    Stage,
    /// The journal is written.
    Journal,
    /// The inputs are deleted, the outputs not yet copied.
    Delete,
}

/// What happened to one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `dt=…/hour=…`.
    pub partition: String,
    /// Files merged.
    pub inputs: usize,
    /// Their bytes.
    pub input_bytes: u64,
    /// Files written.
    pub outputs: usize,
    /// Their bytes.
    pub output_bytes: u64,
    /// Packet rows moved.
    pub rows: u64,
    /// Flow rows of the outputs.
    pub flow_rows: u64,
    /// Interrupted compactions finished first.
    pub recovered: usize,
    /// Abandoned staging folders removed.
    pub cleaned: usize,
}

/// The decision record of one compaction (step 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Journal {
    id: String,
    partition: String,
    owner: String,
    /// File names (in the partition's folders) that are replaced.
    inputs: Vec<String>,
    /// File names of the outputs (staged, then in the partition's folders).
    outputs: Vec<String>,
    rows: u64,
}

fn compaction_dir(lake: &Lake, key: PartitionKey) -> Path {
    lake.root
        .clone()
        .join("_mirrorlake")
        .join("compaction")
        .join(format!("dt={}", key.dt()))
        .join(format!("hour={}", key.hour()))
}

fn tombstone(lake: &Lake, key: PartitionKey, name: &str) -> Path {
    key.folder(
        &lake.root.clone().join("_mirrorlake").join("compacted"),
        TABLE_PACKETS,
    )
    .join(name)
}

fn staging(lake: &Lake, key: PartitionKey, id: &str) -> Lake {
    Lake {
        store: lake.store.clone(),
        root: compaction_dir(lake, key).join(id),
        url: lake.url.clone(),
    }
}

/// The last part of an object path.
fn name_of(p: &Path) -> String {
    p.filename().unwrap_or_default().to_owned()
}

/// Sub-folders of `prefix`, by name.
async fn folders(lake: &Lake, prefix: &Path) -> Result<Vec<String>> {
    let listed = lake.store.list_with_delimiter(Some(prefix)).await?;
    let mut v: Vec<String> = listed
        .common_prefixes
        .iter()
        .map(name_of)
        .filter(|n| !n.is_empty())
        .collect();
    v.sort();
    Ok(v)
}

/// The hour partitions that ended at or before `closed_before_us` and hold
/// packets files or an interrupted compaction (whose inputs may all be gone).
async fn closed_partitions(lake: &Lake, closed_before_us: i64) -> Result<Vec<PartitionKey>> {
    // Hours whose end is at or before the bound: their start is at or
    // before the bound less an hour.
    let to_us = closed_before_us.saturating_sub(HOUR_US).saturating_add(1);
    let mut keys = hours_with_data(lake, TABLE_PACKETS, 0, to_us).await?;
    keys.extend(hours_with_data(lake, "_mirrorlake/compaction", 0, to_us).await?);
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// The visible data files of one table folder of a partition.
async fn data_files(lake: &Lake, key: PartitionKey, table: &str) -> Result<Vec<ObjectMeta>> {
    let folder = key.folder(&lake.root, table);
    let mut v: Vec<ObjectMeta> = lake
        .store
        .list_with_delimiter(Some(&folder))
        .await?
        .objects
        .into_iter()
        .filter(|m| {
            let n = name_of(&m.location);
            n.ends_with(".parquet") && !n.starts_with(['_', '.'])
        })
        .collect();
    v.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(v)
}

/// Compacts every closed hour of the lake; one report per partition that
/// was changed (or, with `dry_run`, would be).
pub async fn compact(lake: &Lake, opts: &Options) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    for key in closed_partitions(lake, opts.closed_before_us).await? {
        let r = compact_partition(lake, key, opts)
            .await
            .with_context(|| format!("compact {}", key.hive_path()))?;
        if r.inputs > 0 || r.recovered > 0 || r.cleaned > 0 {
            reports.push(r);
        }
    }
    Ok(reports)
}

/// Compacts one partition under its lock.
pub async fn compact_partition(lake: &Lake, key: PartitionKey, opts: &Options) -> Result<Report> {
    let mut report = Report {
        partition: key.hive_path(),
        ..Report::default()
    };
    if opts.dry_run {
        let inputs = inputs(lake, key, opts).await?;
        if worth_compacting(&inputs, opts) {
            report.inputs = inputs.len();
            report.input_bytes = inputs.iter().map(|m| m.size).sum();
        }
        return Ok(report);
    }
    let lock = compaction_dir(lake, key).join("lock");
    if !take_lock(lake, &lock, &opts.owner).await? {
        tracing::warn!(partition = %key.hive_path(), "another compactor holds the partition; skipped");
        return Ok(report);
    }
    let result = locked(lake, key, opts, &mut report).await;
    if opts.stop_after.is_none() || result.is_err() {
        // A stop_after "crash" keeps its lock, like a dead process would;
        // the test then runs again as the same owner.
        let _ = release_lock(lake, &lock, &opts.owner).await;
    }
    result.map(|()| report)
}

/// Name prefix of the files `compact` writes.
const OUTPUT_PREFIX: &str = "compacted";

/// Whether `compact` wrote the file (its outputs' name prefix).
fn written_by_compact(m: &ObjectMeta) -> bool {
    name_of(&m.location).starts_with(OUTPUT_PREFIX)
}

/// The files of a partition that `compact` rewrites: those below
/// `small_file_bytes`, and with `all_files` every file the collectors or
/// aggregators wrote, whatever its size (the live writers sort only what
/// they hold at once, so at volume a mirrored ENI's rows are spread over
/// the hour).
async fn inputs(lake: &Lake, key: PartitionKey, opts: &Options) -> Result<Vec<ObjectMeta>> {
    Ok(data_files(lake, key, TABLE_PACKETS)
        .await?
        .into_iter()
        .filter(|m| m.size < opts.small_file_bytes || (opts.all_files && !written_by_compact(m)))
        .collect())
}

/// Whether rewriting `inputs` changes anything: two files or more become
/// fewer, or (with `all_files`) one live file larger than a range is
/// re-clustered.
fn worth_compacting(inputs: &[ObjectMeta], opts: &Options) -> bool {
    match inputs {
        [] => false,
        [one] => opts.all_files && !written_by_compact(one) && one.size > opts.cluster_bytes,
        _ => true,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Lock {
    owner: String,
    taken_us: i64,
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Creates the lock object; false when someone else holds a fresh one.
async fn take_lock(lake: &Lake, lock: &Path, owner: &str) -> Result<bool> {
    let body = serde_json::to_vec(&Lock {
        owner: owner.to_owned(),
        taken_us: now_us(),
    })?;
    for _ in 0..2 {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match lake
            .store
            .put_opts(lock, PutPayload::from(body.clone()), opts)
            .await
        {
            Ok(_) => return Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let held = match read_lock(lake, lock).await {
                    Ok(l) => l,
                    Err(object_store::Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e.into()),
                };
                let age = now_us().saturating_sub(held.taken_us);
                if held.owner == owner || age > STALE_LOCK.as_micros() as i64 {
                    tracing::warn!(lock = %lock, holder = %held.owner, age_s = age / 1_000_000, "taking over a stale compaction lock");
                    lake.store.delete(lock).await?;
                    continue;
                }
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// The lock object's content.
async fn read_lock(lake: &Lake, lock: &Path) -> object_store::Result<Lock> {
    let bytes = lake.store.get(lock).await?.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| object_store::Error::Generic {
        store: "compaction lock",
        source: Box::new(e),
    })
}

/// Renews `owner`'s lock (a fresh `taken_us`); fails when another owner
/// holds it now (it judged ours stale), and the run then stops before
/// deciding anything.
async fn renew_lock(lake: &Lake, lock: &Path, owner: &str) -> Result<()> {
    let held = read_lock(lake, lock)
        .await
        .with_context(|| format!("read the compaction lock {lock}"))?;
    ensure!(
        held.owner == owner,
        "the compaction lock {lock} is held by {} now; this run stops",
        held.owner
    );
    let body = serde_json::to_vec(&Lock {
        owner: owner.to_owned(),
        taken_us: now_us(),
    })?;
    lake.store.put(lock, PutPayload::from(body)).await?;
    Ok(())
}

/// Deletes the lock if `owner` still holds it (never another owner's).
async fn release_lock(lake: &Lake, lock: &Path, owner: &str) -> Result<()> {
    if read_lock(lake, lock).await?.owner == owner {
        lake.store.delete(lock).await?;
    }
    Ok(())
}

async fn locked(lake: &Lake, key: PartitionKey, opts: &Options, report: &mut Report) -> Result<()> {
    // Finish what an interrupted run decided; remove what it only staged.
    let dir = compaction_dir(lake, key);
    let listed = lake.store.list_with_delimiter(Some(&dir)).await?;
    for m in &listed.objects {
        if name_of(&m.location).ends_with(".json") {
            let j: Journal =
                serde_json::from_slice(&lake.store.get(&m.location).await?.bytes().await?)
                    .with_context(|| format!("journal {}", m.location))?;
            tracing::info!(journal = %m.location, "finishing an interrupted compaction");
            replace(lake, key, &j, None).await?;
            report.recovered += 1;
        }
    }
    for id in folders(lake, &dir).await? {
        let staged = dir.clone().join(id.as_str());
        let objects: Vec<Path> = lake
            .store
            .list(Some(&staged))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for p in objects {
            delete_if_present(lake, &p).await?;
        }
        report.cleaned += 1;
    }

    let inputs = inputs(lake, key, opts).await?;
    if !worth_compacting(&inputs, opts) {
        return Ok(());
    }
    let started_us = now_us();
    let id = format!("compacted-{started_us}");
    let stage = staging(lake, key, &id);
    let started = Instant::now();
    let mut writer = LakeWriter::new(
        stage.clone(),
        opts.files.clone(),
        RollPolicy {
            max_file_bytes: opts.target_file_bytes,
            max_file_age: Duration::from_secs(365 * 86_400),
        },
        Box::new(SequenceNamer::new(OUTPUT_PREFIX, started_us)),
    );
    let mut closed = Vec::new();
    let mut planned = Vec::with_capacity(inputs.len());
    for m in &inputs {
        planned.push(Input::open(lake, m).await?);
    }
    let rows_in: u64 = planned.iter().map(|i| i.rows).sum();
    // The hour re-clustered by mirrored ENI: one pass per range of ENIs,
    // each reading only the input row groups that may hold the range; the
    // writer's row groups are cut at the end of each range.
    let lock = dir.clone().join("lock");
    let mut renewed = Instant::now();
    for range in ranges(&planned, opts.cluster_bytes) {
        for input in &planned {
            for b in input.read(lake, &range).await? {
                closed.extend(writer.write(&b, started).await?);
            }
        }
        writer.cut().await?;
        if renewed.elapsed() >= RENEW_LOCK {
            renew_lock(lake, &lock, &opts.owner).await?;
            renewed = Instant::now();
        }
    }
    closed.extend(writer.close_all().await?);
    let rows_out: u64 = closed.iter().map(|c| c.rows).sum();
    let outputs: Vec<String> = closed.iter().map(|c| name_of(&c.path)).collect();
    let foreign = closed.iter().find(|c| {
        c.path.as_ref()
            != key
                .folder(&stage.root, TABLE_PACKETS)
                .join(name_of(&c.path))
                .as_ref()
    });
    if rows_out != rows_in || foreign.is_some() {
        for c in &closed {
            delete_if_present(lake, &c.path).await?;
        }
        bail!(
            "staged {rows_out} rows for {rows_in} input rows{}; nothing replaced",
            foreign.map_or(String::new(), |c| format!(
                " ({} is outside the partition)",
                c.path
            ))
        );
    }
    if opts.stop_after == Some(Step::Stage) {
        return Ok(());
    }
    // Still ours at the decision (not taken over as stale meanwhile).
    renew_lock(lake, &lock, &opts.owner).await?;
    let journal = Journal {
        id: id.clone(),
        partition: key.hive_path(),
        owner: opts.owner.clone(),
        inputs: inputs.iter().map(|m| name_of(&m.location)).collect(),
        outputs,
        rows: rows_in,
    };
    let jpath = dir.clone().join(format!("{id}.json"));
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    lake.store
        .put_opts(
            &jpath,
            PutPayload::from(serde_json::to_vec_pretty(&journal)?),
            create,
        )
        .await
        .with_context(|| format!("journal {jpath}"))?;
    if opts.stop_after == Some(Step::Journal) {
        return Ok(());
    }
    replace(lake, key, &journal, opts.stop_after).await?;
    report.inputs = inputs.len();
    report.input_bytes = inputs.iter().map(|m| m.size).sum();
    report.outputs = closed.len();
    report.output_bytes = closed.iter().map(|c| c.bytes).sum();
    report.rows = rows_out;
    report.flow_rows = closed.iter().map(|c| c.flow_rows).sum();
    tracing::info!(partition = %key.hive_path(), inputs = report.inputs, outputs = report.outputs, rows = report.rows, secs = started.elapsed().as_secs_f64(), "compacted");
    Ok(())
}

/// A Parquet file in the lake's store, read by ranges.
struct StoreFile {
    store: std::sync::Arc<dyn ObjectStore>,
    meta: ObjectMeta,
}

impl StoreFile {
    fn new(lake: &Lake, meta: &ObjectMeta) -> Self {
        Self {
            store: lake.store.clone(),
            meta: meta.clone(),
        }
    }
}

impl AsyncFileReader for StoreFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move {
            self.store
                .get_range(&self.meta.location, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        Box::pin(async move {
            self.store
                .get_ranges(&self.meta.location, &ranges)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<'a, parquet::errors::Result<std::sync::Arc<ParquetMetaData>>>
    {
        Box::pin(async move {
            let size = self.meta.size;
            let md = ParquetMetaDataReader::new()
                .load_and_finish(self, size)
                .await?;
            Ok(std::sync::Arc::new(md))
        })
    }
}

/// One input file: its footer, per row group the range of `mirror_source`
/// values it holds (from its statistics), and the bytes of each mirrored
/// ENI's rows (its `mirror_source` column read, at the file's mean row size).
struct Input {
    meta: ObjectMeta,
    arrow: ArrowReaderMetadata,
    rows: u64,
    groups: Vec<Span>,
    weights: std::collections::BTreeMap<String, u64>,
}

/// A row group's `mirror_source` values and size.
struct Span {
    values: Values,
    /// Holds rows without a mirrored ENI (read by the first pass).
    nulls: bool,
    /// Bytes of its rows before compression.
    bytes: u64,
}

/// What a row group's statistics say of its `mirror_source` values.
enum Values {
    /// No statistics: read by every pass.
    Unknown,
    /// No value, only rows without a mirrored ENI.
    None,
    /// The least and the greatest value.
    Between(String, String),
}

/// A range of `mirror_source` values, `[from, to)`: `None` is unbounded.
/// The first range also takes the rows without one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EniRange {
    from: Option<String>,
    to: Option<String>,
}

impl EniRange {
    fn may_hold(&self, span: &Span) -> bool {
        match &span.values {
            Values::Unknown => true,
            Values::None => self.from.is_none(),
            Values::Between(min, max) => {
                (span.nulls && self.from.is_none())
                    || (self.from.as_ref().is_none_or(|f| max >= f)
                        && self.to.as_ref().is_none_or(|t| min < t))
            }
        }
    }
}

impl Input {
    async fn open(lake: &Lake, meta: &ObjectMeta) -> Result<Self> {
        let mut reader = StoreFile::new(lake, meta);
        let arrow = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
            .await
            .with_context(|| format!("read the footer of {}", meta.location))?;
        let md = arrow.metadata();
        let rows = u64::try_from(md.file_metadata().num_rows()).unwrap_or(0);
        let at = md
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "mirror_source");
        let groups: Vec<Span> = md
            .row_groups()
            .iter()
            .map(|rg| {
                let stats = at.and_then(|i| rg.column(i).statistics());
                let nulls = stats.map(|s| s.null_count_opt());
                let values = match stats {
                    _ if nulls == Some(Some(rg.num_rows() as u64)) => Values::None,
                    Some(Statistics::ByteArray(s)) => s
                        .min_opt()
                        .zip(s.max_opt())
                        .and_then(|(a, b)| {
                            Some(Values::Between(
                                a.as_utf8().ok()?.to_owned(),
                                b.as_utf8().ok()?.to_owned(),
                            ))
                        })
                        .unwrap_or(Values::Unknown),
                    _ => Values::Unknown,
                };
                Span {
                    values,
                    nulls: nulls != Some(Some(0)),
                    bytes: u64::try_from(rg.total_byte_size()).unwrap_or(0),
                }
            })
            .collect();
        let row_bytes = groups.iter().map(|g| g.bytes).sum::<u64>() / rows.max(1);
        let mut weights = std::collections::BTreeMap::<String, u64>::new();
        if let Some(at) = at {
            let only = ProjectionMask::leaves(md.file_metadata().schema_descr(), [at]);
            let mut stream =
                ParquetRecordBatchStreamBuilder::new_with_metadata(reader, arrow.clone())
                    .with_projection(only)
                    .with_batch_size(8192)
                    .build()?;
            while let Some(b) = stream.try_next().await? {
                let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
                for v in c.as_string::<i32>().iter().flatten() {
                    match weights.get_mut(v) {
                        Some(w) => *w += row_bytes,
                        None => {
                            weights.insert(v.to_owned(), row_bytes);
                        }
                    }
                }
            }
        }
        Ok(Self {
            meta: meta.clone(),
            arrow,
            rows,
            groups,
            weights,
        })
    }

    /// The rows of `range`, from the row groups that may hold it.
    async fn read(&self, lake: &Lake, range: &EniRange) -> Result<Vec<RecordBatch>> {
        let wanted: Vec<usize> = (0..self.groups.len())
            .filter(|&g| range.may_hold(&self.groups[g]))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let reader = StoreFile::new(lake, &self.meta);
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, self.arrow.clone())
            .with_row_groups(wanted)
            .with_batch_size(8192)
            .build()?;
        let batches: Vec<RecordBatch> = stream
            .try_collect()
            .await
            .with_context(|| format!("read {}", self.meta.location))?;
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            // By name: an older file lacks the newer columns (null), and
            // the file's schema may carry other metadata.
            let b = mirrorlake_schema::upgrade_packet_batch(&b).with_context(|| {
                format!("{} does not hold the packet schema", self.meta.location)
            })?;
            let keep = range.mask(b.column_by_name("mirror_source").context("mirror_source")?)?;
            let b = arrow::compute::filter_record_batch(&b, &keep)?;
            if b.num_rows() > 0 {
                out.push(b);
            }
        }
        Ok(out)
    }
}

impl EniRange {
    /// Which rows of a `mirror_source` column are in the range.
    fn mask(&self, column: &arrow::array::ArrayRef) -> Result<arrow::array::BooleanArray> {
        use arrow::array::{BooleanArray, StringArray};
        use arrow::compute::kernels::cmp::{gt_eq, lt};
        let mut keep = BooleanArray::from(vec![true; column.len()]);
        if let Some(f) = &self.from {
            keep = arrow::compute::and(&keep, &gt_eq(column, &StringArray::new_scalar(f))?)?;
        }
        if let Some(t) = &self.to {
            keep = arrow::compute::and(&keep, &lt(column, &StringArray::new_scalar(t))?)?;
        }
        if self.from.is_none() {
            keep = arrow::compute::or_kleene(&arrow::compute::is_null(column)?, &keep)?;
        }
        Ok(keep)
    }
}

/// The ranges of mirrored ENIs an hour is re-clustered by: consecutive
/// ENIs (in `mirror_source` order) whose rows hold about `budget` bytes
/// together. One unbounded range when there is at most one ENI.
fn ranges(inputs: &[Input], budget: u64) -> Vec<EniRange> {
    let mut weight: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (eni, w) in inputs.iter().flat_map(|i| &i.weights) {
        *weight.entry(eni.as_str()).or_default() += w;
    }
    let mut starts: Vec<Option<String>> = vec![None];
    let mut held = 0u64;
    for (eni, w) in weight {
        if held > 0 && held + w > budget {
            starts.push(Some(eni.to_owned()));
            held = 0;
        }
        held += w;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, from) in starts.iter().enumerate() {
        out.push(EniRange {
            from: from.clone(),
            to: starts.get(i + 1).cloned().flatten(),
        });
    }
    out
}

async fn delete_if_present(lake: &Lake, p: &Path) -> Result<()> {
    match lake.store.delete(p).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn exists(lake: &Lake, p: &Path) -> Result<bool> {
    match lake.store.head(p).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Step 3, idempotent: every step may already have been done by an
/// interrupted run.
async fn replace(lake: &Lake, key: PartitionKey, j: &Journal, stop: Option<Step>) -> Result<()> {
    for name in &j.inputs {
        lake.store
            .put(&tombstone(lake, key, name), PutPayload::from(j.id.clone()))
            .await?;
    }
    for name in &j.inputs {
        for table in [TABLE_PACKETS, TABLE_FLOWS] {
            delete_if_present(lake, &key.folder(&lake.root, table).join(name.as_str())).await?;
        }
    }
    if stop == Some(Step::Delete) {
        return Ok(());
    }
    let stage = staging(lake, key, &j.id);
    for name in &j.outputs {
        for table in [TABLE_PACKETS, TABLE_FLOWS] {
            let from = key.folder(&stage.root, table).join(name.as_str());
            let to = key.folder(&lake.root, table).join(name.as_str());
            match lake.store.copy(&from, &to).await {
                Ok(()) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    // Copied by the interrupted run, or (flows) an output
                    // without IP packets; a packets output must be somewhere.
                    ensure!(
                        table == TABLE_FLOWS || exists(lake, &to).await?,
                        "compaction {}: output {name} is neither staged nor in place",
                        j.id
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    for name in &j.outputs {
        for table in [TABLE_PACKETS, TABLE_FLOWS] {
            delete_if_present(lake, &key.folder(&stage.root, table).join(name.as_str())).await?;
        }
    }
    delete_if_present(
        lake,
        &compaction_dir(lake, key).join(format!("{}.json", j.id)),
    )
    .await
}

/// Drops, from a replayed Kafka range's open files, those already out: a
/// file an earlier owner of the range published (it holds the same rows) or
/// one a compaction merged since (its rows are in the lake under another
/// name). A replay therefore never publishes a row twice, and never replaces
/// a published file with fewer rows (records the topic's retention removed
/// since). Returns how many.
pub async fn discard_published(lake: &Lake, writer: &mut LakeWriter) -> Result<usize> {
    let mut n = 0;
    for path in writer.open_paths() {
        // The file first, then its tombstone: a compaction writes the
        // tombstone before it deletes the file, so a file gone at the first
        // check has its tombstone by the second, if it was ever out.
        let out = exists(lake, &path).await? || {
            let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_owned()).collect();
            match parts.as_slice() {
                [.., dt, hour, name] => match partition_of_folders(dt, hour) {
                    Some(key) => exists(lake, &tombstone(lake, key, name)).await?,
                    None => false,
                },
                _ => false,
            }
        };
        if out {
            writer.discard(&path);
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn held(lake: &Lake, lock: &Path) -> Lock {
        let b = lake.store.get(lock).await.expect("lock");
        serde_json::from_slice(&b.bytes().await.expect("bytes")).expect("json")
    }

    /// A run renews its own lock, stops once another owner holds it, and
    /// then leaves that owner's lock in place.
    #[tokio::test]
    async fn a_taken_over_lock_stops_the_run_and_stays() {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        let lock = Path::from("_mirrorlake/compaction/lock");
        assert!(take_lock(&lake, &lock, "a").await.expect("take"));
        let first = held(&lake, &lock).await.taken_us;
        std::thread::sleep(Duration::from_millis(2));
        renew_lock(&lake, &lock, "a").await.expect("renew");
        assert!(held(&lake, &lock).await.taken_us > first);
        // b judged it stale and took it over.
        let b = serde_json::to_vec(&Lock {
            owner: "b".into(),
            taken_us: now_us(),
        })
        .expect("json");
        lake.store
            .put(&lock, PutPayload::from(b))
            .await
            .expect("put");
        let e = renew_lock(&lake, &lock, "a").await.expect_err("not ours");
        assert!(e.to_string().contains("held by b"), "{e}");
        release_lock(&lake, &lock, "a").await.expect("release");
        assert_eq!(held(&lake, &lock).await.owner, "b");
        release_lock(&lake, &lock, "b").await.expect("release");
        assert!(lake.store.get(&lock).await.is_err());
    }
}
