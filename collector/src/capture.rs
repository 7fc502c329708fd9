//! Capture files as input: `decode` (JSON lines) and `import` (into the lake).
//! Both run the same decode and batch code as the receive path.

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use mirrorlake_pcap::{CaptureReader, LINKTYPE_ETHERNET, Record};
use mirrorlake_schema::{Batcher, BatcherConfig, RowMeta};
use mirrorlake_wire::{DecodeStats, DropReason, Input, decode};
use std::path::Path;
use std::time::Instant;

/// Decodes every record of a capture file, handing each batch to `sink`.
/// Returns the decode counters. A damaged file ends with an error after every
/// record before the damage was handed on.
pub fn for_each_batch(
    path: &Path,
    collector_id: &str,
    config: BatcherConfig,
    progress: &ProgressBar,
    mut sink: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<DecodeStats> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let reader = CaptureReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("read {}", path.display()))?;
    let mut batcher = Batcher::new(collector_id, config);
    let mut stats = DecodeStats::default();
    let now = Instant::now();
    let mut result = Ok(());
    for (index, rec) in (0i64..).zip(reader) {
        let rec: Record = match rec {
            Ok(r) => r,
            Err(e) => {
                result = Err(anyhow::Error::new(e).context(format!("read {}", path.display())));
                break;
            }
        };
        progress.inc(rec.data.len() as u64 + 16);
        let r = if rec.linktype == LINKTYPE_ETHERNET {
            decode(Input::Capture, &rec.data, Some(rec.orig_len))
        } else {
            Err(DropReason::UnsupportedLinkType)
        };
        stats.record(&r);
        if let Ok(d) = r
            && let Some(b) = batcher.push(&d, RowMeta::new(rec.ts_ns.div_euclid(1000), index), now)
        {
            sink(b?)?;
        }
    }
    if let Some(b) = batcher.flush() {
        sink(b?)?;
    }
    result.map(|()| stats)
}

/// A progress bar on stderr for `bytes` of input (hidden when not a terminal).
pub fn progress(bytes: u64) -> ProgressBar {
    let pb = ProgressBar::new(bytes);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Prints a summary of decode counters on stderr.
pub fn summary(what: &str, stats: &DecodeStats) {
    eprintln!(
        "{what}: {} decoded, {} dropped",
        stats.decoded,
        stats.dropped_total()
    );
    for (code, n) in stats.nonzero() {
        eprintln!("  {code}: {n}");
    }
}
