//! `decode`: one JSON object per packet of a capture.

use crate::capture;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Capture file (pcap or pcapng).
    pub file: PathBuf,
}

/// Runs `decode`.
pub fn decode(args: DecodeArgs) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    // Every schema field, nulls included; the frame as hex.
    let mut out =
        arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(std::io::BufWriter::new(stdout.lock()));
    let pb = indicatif::ProgressBar::hidden();
    let cfg = mirrorlake_schema::BatcherConfig {
        max_rows: 1024,
        ..Default::default()
    };
    let stats = capture::for_each_batch(&args.file, "decode", cfg, &pb, |b| {
        Ok(out.write(&mirrorlake_schema::display::for_display(&b)?)?)
    });
    out.finish()?;
    let mut inner = out.into_inner();
    inner.flush()?;
    let stats = stats?;
    capture::summary(&args.file.display().to_string(), &stats);
    Ok(())
}
