//! Compaction of closed hours. Light traffic leaves many small files per
//! hour partition (one per roll: `--file-max-age-ms`, or one per Kafka
//! offset range in cluster mode); `compact` merges the small files of each
//! closed hour into target-size ones and replaces them, packets and flows
//! together (the flows are rolled up again from the merged packets, so a
//! compacted hour has one flow row per flow and window instead of one per
//! input file).
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
//!    it again: see [`discard_compacted`]), delete the inputs (packets and
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
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use mirrorlake_lake::{
    FileConfig, HOUR_US, Lake, LakeWriter, PartitionKey, RollPolicy, SequenceNamer, TABLE_FLOWS,
    TABLE_PACKETS,
};
use mirrorlake_schema::packet_schema;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Another owner's lock older than this is taken over (its holder crashed).
/// An owner's own lock is taken over at once (see [`Options::owner`]).
const STALE_LOCK: Duration = Duration::from_secs(3600);

/// What `compact` does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only hours that ended at or before this time (µs since the epoch).
    pub closed_before_us: i64,
    /// Outputs are cut at about this size.
    pub target_file_bytes: usize,
    /// Files at or above this size are left alone.
    pub small_file_bytes: u64,
    /// Encoding of the outputs (the writers' defaults).
    pub files: FileConfig,
    /// Report what would be merged; change nothing.
    pub dry_run: bool,
    /// Test hook: stop (as if the process died) right after this step.
    pub stop_after: Option<Step>,
    /// Who compacts (written into locks and journals): one name per host,
    /// so that a run takes over the lock of its host's crashed run at once.
    pub owner: String,
}

impl Options {
    /// `compact`'s defaults: hours closed before `closed_before_us`, merged
    /// into files of about `target_file_bytes`; files under 3/4 of that are
    /// small and merged; the writers' encoding; no dry run.
    pub fn new(closed_before_us: i64, target_file_bytes: usize, owner: impl Into<String>) -> Self {
        Self {
            closed_before_us,
            target_file_bytes,
            small_file_bytes: (target_file_bytes as u64 * 3).div_ceil(4),
            files: FileConfig::default(),
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
        let small = small_files(lake, key, opts).await?;
        if small.len() >= 2 {
            report.inputs = small.len();
            report.input_bytes = small.iter().map(|m| m.size).sum();
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
        let _ = lake.store.delete(&lock).await;
    }
    result.map(|()| report)
}

async fn small_files(lake: &Lake, key: PartitionKey, opts: &Options) -> Result<Vec<ObjectMeta>> {
    Ok(data_files(lake, key, TABLE_PACKETS)
        .await?
        .into_iter()
        .filter(|m| m.size < opts.small_file_bytes)
        .collect())
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
                let held: Lock = match lake.store.get(lock).await {
                    Ok(r) => serde_json::from_slice(&r.bytes().await?)?,
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

    let inputs = small_files(lake, key, opts).await?;
    if inputs.len() < 2 {
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
        Box::new(SequenceNamer::new("compacted", started_us)),
    );
    let mut rows_in = 0u64;
    let mut closed = Vec::new();
    for m in &inputs {
        // One small input in memory at a time (below --small-file-mb).
        let bytes = lake.store.get(&m.location).await?.bytes().await?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .with_context(|| format!("read {}", m.location))?;
        rows_in += u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        for b in builder.with_batch_size(8192).build()? {
            let b = b?;
            // Same columns; the file's schema may carry other metadata.
            let b = RecordBatch::try_new(packet_schema(), b.columns().to_vec())
                .with_context(|| format!("{} does not hold packet schema v1", m.location))?;
            closed.extend(writer.write(&b, started).await?);
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

/// Drops, from a replayed Kafka range's open files, those that a compaction
/// already merged (their rows are in the lake under another name): the
/// replay must not publish them a second time. Returns how many.
pub async fn discard_compacted(lake: &Lake, writer: &mut LakeWriter) -> Result<usize> {
    let mut n = 0;
    for path in writer.open_paths() {
        let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_owned()).collect();
        let [.., dt, hour, name] = parts.as_slice() else {
            continue;
        };
        let Some(key) = partition_of_folders(dt, hour) else {
            continue;
        };
        if exists(lake, &tombstone(lake, key, name)).await? {
            writer.discard(&path);
            n += 1;
        }
    }
    Ok(n)
}

/// Lists every object under the lake (tests).
#[cfg(test)]
async fn all_objects(lake: &Lake) -> Vec<String> {
    let mut v: Vec<String> = lake
        .store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    v.sort();
    v
}

#[cfg(test)]
mod tests;
