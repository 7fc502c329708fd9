//! `compact`: merge and re-cluster the files of closed hours.

use anyhow::Result;
use mirrorlake_lake::Lake;

#[derive(clap::Args, Debug)]
pub struct CompactArgs {
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    pub lake: String,
    /// Only hours that ended at least this long ago (late rows and Kafka
    /// replays land in the first minutes after an hour).
    #[arg(long, default_value_t = 120)]
    pub settle_minutes: u32,
    /// Cut the merged files at about this many MiB.
    #[arg(long, default_value_t = 128)]
    pub target_file_mb: usize,
    /// Files of at least this many MiB are left alone [default: 3/4 of --target-file-mb].
    #[arg(long)]
    pub small_file_mb: Option<u64>,
    /// Also rewrite, once, every file the collectors and aggregators wrote, whatever its
    /// size: heavy hours re-clustered by mirrored ENI (Trino/Athena needles then read
    /// about 1% of a day instead of 4-10%), at the CPU cost of re-encoding them
    /// (docs/sizing.md).
    #[arg(long)]
    pub all_files: bool,
    /// ZSTD level of the merged files (the live writers use a faster one).
    #[arg(long, default_value_t = crate::compact::ARCHIVE_ZSTD_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
    /// Print what would be merged; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per partition on stdout instead of text lines.
    #[arg(long)]
    pub json: bool,
    /// Test hook: stop as if killed right after this step.
    #[arg(long, value_enum, hide = true)]
    pub stop_after: Option<crate::compact::Step>,
}

/// Runs `compact`.
pub async fn compact(a: CompactArgs) -> Result<()> {
    anyhow::ensure!(a.target_file_mb > 0, "--target-file-mb must be at least 1");
    let lake = Lake::open(&a.lake)?;
    let now = chrono::Utc::now().timestamp_micros();
    // Per host: a run takes over the lock its host's previous (crashed) run
    // left; the timer's oneshot unit never runs twice at once.
    let owner = hostname::get()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let defaults = crate::compact::Options::new(
        now - i64::from(a.settle_minutes) * 60_000_000,
        a.target_file_mb << 20,
        owner,
    );
    let opts = crate::compact::Options {
        small_file_bytes: a
            .small_file_mb
            .map_or(defaults.small_file_bytes, |mb| mb << 20),
        all_files: a.all_files,
        files: mirrorlake_lake::FileConfig {
            zstd_level: a.zstd_level,
            ..defaults.files.clone()
        },
        dry_run: a.dry_run,
        stop_after: a.stop_after,
        ..defaults
    };
    let reports = crate::compact::compact(&lake, &opts).await?;
    for r in &reports {
        if a.json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            println!(
                "{}: {} files ({} B) -> {} files ({} B), {} rows, {} flow rows; {} interrupted runs finished, {} staging folders removed",
                r.partition,
                r.inputs,
                r.input_bytes,
                r.outputs,
                r.output_bytes,
                r.rows,
                r.flow_rows,
                r.recovered,
                r.cleaned
            );
        }
    }
    eprintln!(
        "compact: {} partitions{}, {} files into {}, {} rows",
        reports.len(),
        if a.dry_run { " (dry run)" } else { "" },
        reports.iter().map(|r| r.inputs).sum::<usize>(),
        reports.iter().map(|r| r.outputs).sum::<usize>(),
        reports.iter().map(|r| r.rows).sum::<u64>()
    );
    Ok(())
}
