//! `export`: the packets of a time range as pcap or pcapng.

use super::OutputFormat;
use anyhow::{Context, Result};
use mirrorlake_lake::Lake;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    pub lake: String,
    /// Start of the range, inclusive: RFC 3339 or UTC `YYYY-MM-DD[ HH:MM[:SS]]`.
    #[arg(long)]
    pub from: String,
    /// End of the range, exclusive (same forms as --from).
    #[arg(long)]
    pub to: String,
    /// SQL predicate over the packets columns, pushed into the Parquet scan
    /// (e.g. "src_ip = '10.0.3.7' AND dst_port = 443").
    #[arg(long = "where", value_name = "SQL")]
    pub where_sql: Option<String>,
    /// tcpdump filter expression applied to each frame (libpcap's compiler).
    #[arg(long, value_name = "EXPRESSION")]
    pub filter: Option<String>,
    /// Output file (`.pcapng` → pcapng, else pcap) or `-` for stdout (pcapng).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: String,
    /// Output format, overriding the file name's.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Memory for sorting one hour of packets before spilling to disk, MiB.
    #[arg(long, default_value_t = 1024)]
    pub memory_limit_mb: usize,
}

/// Runs `export`.
pub async fn export(a: ExportArgs) -> Result<()> {
    let from_us = crate::export::parse_time(&a.from).context("--from")?;
    let to_us = crate::export::parse_time(&a.to).context("--to")?;
    if to_us <= from_us {
        anyhow::bail!("--to must be after --from");
    }
    let filter = a
        .filter
        .as_deref()
        .map(mirrorlake_bpf::BpfFilter::compile)
        .transpose()
        .context("--filter")?;
    let lake = Lake::open(&a.lake).context("--lake")?;
    let req = crate::export::ExportRequest {
        from_us,
        to_us,
        where_sql: a.where_sql,
        filter,
        memory_limit: a.memory_limit_mb.max(16) << 20,
    };
    let format = crate::export::format_for(&a.write, a.format.map(Into::into));
    let (output, w) = crate::export::Output::open(&a.write)?;
    let mut out = mirrorlake_pcap::CaptureWriter::new(w, format, crate::export::SNAPLEN)?;
    let stats = crate::export::export(&lake, &req, &mut out).await?;
    drop(out.into_inner()?);
    output.commit()?;
    eprintln!(
        "exported {} packets from {} hour partitions ({} rows matched the time range and --where, {} rejected by --filter; {} Parquet bytes read)",
        stats.written, stats.hours, stats.rows_read, stats.filtered_out, stats.bytes_scanned
    );
    Ok(())
}
