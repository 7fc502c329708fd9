//! `import`: pcap/pcapng captures into the lake.

use super::lake_writer;
use crate::capture;
use crate::config::Config;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    pub lake: String,
    /// Id stamped on every row.
    #[arg(long, env = "MIRRORLAKE_COLLECTOR_ID", default_value = "import")]
    pub collector_id: String,
    /// Capture files (pcap or pcapng; tunnelled VXLAN or plain Ethernet).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `import`.
pub async fn import(args: ImportArgs) -> Result<()> {
    let config = Config {
        collector_id: args.collector_id.clone(),
        ..Config::default()
    };
    let (mut writer, lake_url) = lake_writer(&args.lake, &args.collector_id, &config)?;
    let total: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let pb = capture::progress(total);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let files = args.files.clone();
    let batcher = config.batcher();
    let id = args.collector_id.clone();
    let pb2 = pb.clone();
    let reader = tokio::task::spawn_blocking(move || -> Result<mirrorlake_wire::DecodeStats> {
        let mut all = mirrorlake_wire::DecodeStats::default();
        for f in &files {
            let stats = capture::for_each_batch(f, &id, batcher, &pb2, |b| {
                tx.blocking_send(b)
                    .map_err(|_| anyhow::anyhow!("lake writer stopped"))
            })?;
            all.merge(&stats);
        }
        Ok(all)
    });
    let mut rows = 0u64;
    while let Some(b) = rx.recv().await {
        rows += b.num_rows() as u64;
        writer.write(&b, Instant::now()).await?;
    }
    let closed = writer.close_all().await?;
    pb.finish_and_clear();
    let stats = reader.await??;
    capture::summary("import", &stats);
    eprintln!(
        "wrote {rows} rows in {} files to {}",
        closed.len(),
        lake_url
    );
    Ok(())
}
