//! `export`: packets of a time range back out of the lake as pcap or pcapng,
//! byte for byte as captured.
//!
//! The range is read one Hive hour partition at a time, in time order, so
//! output starts after the first hour is read and a sort never holds more
//! than one hour (DataFusion spills past `--memory-limit-mb`). Within an
//! hour the scan gets the time range and `--where` as Parquet predicates
//! (row-group and page statistics, bloom filters); `--filter` (tcpdump
//! syntax, libpcap's compiler) runs on each remaining frame. Rows are
//! ordered by (`ts`, `collector_id`, `arrival_seq`, `mirror_source`, `vni`):
//! packets in time order, each collector's packets of one microsecond in the
//! order they arrived, and an export of the same range is the same file every
//! time (files of schema v1, without `arrival_seq`, excepted: their packets
//! of one microsecond, source and VNI come in the order the scan read them).
//! The sort runs in one partition with small batches, so an hour larger than
//! `--memory-limit-mb` spills and merges within it.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{col, lit};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mirrorlake_bpf::BpfFilter;
use mirrorlake_lake::{HOUR_US, Lake, PartitionKey, TABLE_PACKETS};
use mirrorlake_pcap::{CaptureFormat, CaptureWriter, Interface};
use mirrorlake_schema::{FrameColumns, FrameRow, interface_names};
use object_store::path::Path;
use std::io::Write;

/// The order of exported packets (ties of `ts`: each collector's arrival
/// order). Not the frame: as a sort key its bytes would be copied into the
/// sort's row keys, doubling the memory an hour's sort needs.
const EXPORT_ORDER: [&str; 5] = ["ts", "collector_id", "arrival_seq", "mirror_source", "vni"];

/// Largest frame the exported files declare (pcap snap length).
pub const SNAPLEN: u32 = 262_144;

/// What to export.
#[derive(Debug)]
pub struct ExportRequest {
    /// First microsecond (inclusive).
    pub from_us: i64,
    /// End of the range (exclusive).
    pub to_us: i64,
    /// SQL predicate over the `packets` columns, pushed into the scan.
    pub where_sql: Option<String>,
    /// tcpdump filter applied to each frame.
    pub filter: Option<BpfFilter>,
    /// Memory for sorting one hour before spilling to disk.
    pub memory_limit: usize,
}

/// What an export did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportStats {
    /// Hour partitions with data in the range.
    pub hours: usize,
    /// Rows the scan returned (time range and `--where` applied).
    pub rows_read: u64,
    /// Packets written.
    pub written: u64,
    /// Rows `--filter` rejected.
    pub filtered_out: u64,
    /// Parquet bytes the scans read.
    pub bytes_scanned: u64,
}

/// Parses a time: RFC 3339 (`2024-03-05T07:00:00Z`, any offset), or UTC
/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` instead of the space
/// works too). Returns microseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros());
    }
    bail!("invalid time {s:?}: use RFC 3339 (2024-03-05T07:00:00Z) or UTC YYYY-MM-DD[ HH:MM[:SS]]")
}

/// The hour partitions of `table` that exist between `from_us` and `to_us`
/// (exclusive), in time order. Lists one folder per day in range, not
/// every object.
pub async fn hours_with_data(
    lake: &Lake,
    table: &str,
    from_us: i64,
    to_us: i64,
) -> Result<Vec<PartitionKey>> {
    if to_us <= from_us {
        return Ok(Vec::new());
    }
    let first = PartitionKey::of_us(from_us);
    let last = PartitionKey::of_us(to_us - 1);
    let table_root = table
        .split('/')
        .fold(lake.root.clone(), |p, part| p.join(part));
    let listing = lake
        .store
        .list_with_delimiter(Some(&table_root))
        .await
        .with_context(|| format!("list {}", lake.table_url(table)))?;
    let (first_dt, last_dt) = (first.dt(), last.dt());
    let mut out = Vec::new();
    let mut days: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename()?.strip_prefix("dt=").map(str::to_owned))
        .filter(|d| *d >= first_dt && *d <= last_dt)
        .collect();
    days.sort();
    for day in days {
        let folder: Path = table_root.clone().join(format!("dt={day}"));
        let hours = lake
            .store
            .list_with_delimiter(Some(&folder))
            .await
            .with_context(|| format!("list {folder}"))?;
        let dt = format!("dt={day}");
        for p in &hours.common_prefixes {
            let Some(key) = p.filename().and_then(|h| partition_of_folders(&dt, h)) else {
                continue;
            };
            if key >= first && key <= last {
                out.push(key);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The partition of Hive folder names `dt=YYYY-MM-DD` and `hour=HH`.
pub fn partition_of_folders(dt: &str, hour: &str) -> Option<PartitionKey> {
    let day = NaiveDate::parse_from_str(dt.strip_prefix("dt=")?, "%Y-%m-%d").ok()?;
    let hour: i64 = hour.strip_prefix("hour=")?.parse().ok()?;
    if !(0..24).contains(&hour) {
        return None;
    }
    let day_hour = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() / 3600;
    Some(PartitionKey {
        epoch_hour: day_hour + hour,
    })
}

/// A progress bar over hour partitions on stderr (hidden when not a terminal).
fn progress(hours: usize) -> ProgressBar {
    let pb = ProgressBar::new(hours as u64);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} hours {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Exports the request's packets from `lake` to `out`.
pub async fn export<W: Write>(
    lake: &Lake,
    req: &ExportRequest,
    out: &mut CaptureWriter<W>,
) -> Result<ExportStats> {
    let ctx = mirrorlake_lake::sql::session_with(lake, Some(req.memory_limit)).await?;
    let hours = hours_with_data(lake, TABLE_PACKETS, req.from_us, req.to_us).await?;
    let mut stats = ExportStats {
        hours: hours.len(),
        ..ExportStats::default()
    };
    let pb = progress(hours.len());
    let ts = |us: i64| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(us),
            Some("UTC".into()),
        ))
    };
    for hour in hours {
        let path = hour.hive_path();
        let (dt, hh) = (hour.dt(), hour.hour());
        let lo = req.from_us.max(hour.epoch_hour * HOUR_US);
        let hi = req.to_us.min((hour.epoch_hour + 1) * HOUR_US);
        let mut df = ctx
            .table(TABLE_PACKETS)
            .await?
            .filter(col("dt").eq(lit(dt)).and(col("hour").eq(lit(hh))))?
            .filter(col("ts").gt_eq(ts(lo)).and(col("ts").lt(ts(hi))))?;
        if let Some(w) = &req.where_sql {
            let e = df.parse_sql_expr(w).context("--where")?;
            df = df.filter(e).context("--where")?;
        }
        let df = df
            .select_columns(&[&EXPORT_ORDER[..], &["wire_len", "frame"]].concat())?
            .sort(EXPORT_ORDER.map(|c| col(c).sort(true, true)).to_vec())?;
        let task = df.task_ctx();
        let plan = df.create_physical_plan().await?;
        let mut stream = execute_stream(plan.clone(), std::sync::Arc::new(task))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.with_context(|| format!("read {path}"))?;
            write_batch(&batch, req.filter.as_ref(), out, &mut stats)?;
        }
        stats.bytes_scanned += mirrorlake_lake::sql::metric_sum(&plan, "bytes_scanned") as u64;
        pb.inc(1);
        pb.set_message(format!("{} packets", stats.written));
    }
    pb.finish_and_clear();
    out.flush()?;
    Ok(stats)
}

fn write_batch<W: Write>(
    batch: &arrow::record_batch::RecordBatch,
    filter: Option<&BpfFilter>,
    out: &mut CaptureWriter<W>,
    stats: &mut ExportStats,
) -> Result<()> {
    let rows = FrameColumns::of(batch)?;
    let mut names = InterfaceCache::default();
    for i in 0..rows.len() {
        stats.rows_read += 1;
        let r = rows.row(i);
        if filter.is_some_and(|f| !f.matches(r.frame, r.wire_len)) {
            stats.filtered_out += 1;
            continue;
        }
        out.write(names.of(&r), r.ts_us, r.wire_len, r.frame)?;
        stats.written += 1;
    }
    Ok(())
}

/// The interface of the last row (consecutive rows mostly share it).
#[derive(Default)]
struct InterfaceCache {
    key: Option<(Option<String>, Option<i32>)>,
    name: String,
    description: String,
}

impl InterfaceCache {
    fn of(&mut self, r: &FrameRow<'_>) -> Interface<'_> {
        let key = (r.mirror_source, r.vni);
        if self
            .key
            .as_ref()
            .is_none_or(|(s, v)| (s.as_deref(), *v) != key)
        {
            (self.name, self.description) = interface_names(r.mirror_source, r.vni);
            self.key = Some((r.mirror_source.map(str::to_owned), r.vni));
        }
        Interface {
            name: &self.name,
            description: &self.description,
        }
    }
}

/// Opens the output: `-` is stdout; a file is written under a temporary name
/// and renamed when complete (a failed export leaves no partial file).
pub struct Output {
    target: Option<(tempfile::NamedTempFile, std::path::PathBuf)>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("file", &self.target.as_ref().map(|(_, p)| p))
            .finish()
    }
}

impl Output {
    /// The writer for `path` (`-` for stdout).
    pub fn open(path: &str) -> Result<(Self, Box<dyn Write>)> {
        if path == "-" {
            let w: Box<dyn Write> = Box::new(std::io::BufWriter::with_capacity(
                1 << 20,
                std::io::stdout(),
            ));
            return Ok((Self { target: None }, w));
        }
        let dest = std::path::PathBuf::from(path);
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".mirrorlake-export-")
            .tempfile_in(dir)
            .with_context(|| format!("create a file in {}", dir.display()))?;
        let w: Box<dyn Write> = Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            tmp.reopen().context("open the output")?,
        ));
        Ok((
            Self {
                target: Some((tmp, dest)),
            },
            w,
        ))
    }

    /// Moves a file output to its final name (after the writer was flushed and dropped).
    pub fn commit(self) -> Result<()> {
        if let Some((tmp, dest)) = self.target {
            tmp.persist(&dest)
                .with_context(|| format!("write {}", dest.display()))?;
        }
        Ok(())
    }
}

/// The capture format for `-w PATH`, unless given.
pub fn format_for(path: &str, format: Option<CaptureFormat>) -> CaptureFormat {
    format.unwrap_or(if path == "-" {
        CaptureFormat::Pcapng
    } else {
        CaptureFormat::from_path(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = 1_709_625_600_000_000; // 2024-03-05T08:00:00Z
        assert_eq!(parse_time("2024-03-05T08:00:00Z").expect("rfc3339"), t);
        assert_eq!(parse_time("2024-03-05T09:00:00+01:00").expect("offset"), t);
        assert_eq!(parse_time("2024-03-05 08:00").expect("minutes"), t);
        assert_eq!(
            parse_time("2024-03-05T08:00:00.5").expect("frac"),
            t + 500_000
        );
        assert_eq!(
            parse_time("2024-03-05").expect("date"),
            t - 8 * 3_600_000_000
        );
        let e = parse_time("yesterday").expect_err("bad");
        assert!(e.to_string().contains("yesterday"), "{e}");
    }

    #[test]
    fn partition_folder_names_parse_back() {
        let k = PartitionKey::of_us(1_768_435_200_000_000 + 5 * 3_600_000_000);
        assert_eq!(
            partition_of_folders(&format!("dt={}", k.dt()), &format!("hour={}", k.hour())),
            Some(k)
        );
        assert_eq!(partition_of_folders("dt=2026-01-15", "hour=24"), None);
        assert_eq!(partition_of_folders("day=2026-01-15", "hour=01"), None);
    }

    #[test]
    fn output_format() {
        assert_eq!(format_for("-", None), CaptureFormat::Pcapng);
        assert_eq!(format_for("x.pcap", None), CaptureFormat::Pcap);
        assert_eq!(
            format_for("x.pcap", Some(CaptureFormat::Pcapng)),
            CaptureFormat::Pcapng
        );
    }
}
