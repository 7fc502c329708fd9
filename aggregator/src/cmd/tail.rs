//! `tail`: a live tail server's packets as pcapng.

use super::OutputFormat;
use crate::export;
use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct TailClientArgs {
    /// The tail server, HOST:PORT (an aggregator's or single-node collector's `--tail`).
    #[arg(long, env = "MIRRORLAKE_TAIL_SERVER")]
    pub server: String,
    /// Name the server certificate must carry [default: the host of --server].
    #[arg(long)]
    pub server_name: Option<String>,
    /// PEM certificate(s) to trust: the server's `tail.cert` (self-signed) or its CA.
    #[arg(long, env = "MIRRORLAKE_TAIL_CA")]
    pub ca: std::path::PathBuf,
    /// File holding the token [default: the MIRRORLAKE_TAIL_TOKEN variable].
    #[arg(long, env = "MIRRORLAKE_TAIL_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// tcpdump filter expression, run on the server.
    #[arg(long, value_name = "EXPRESSION")]
    pub filter: Option<String>,
    /// SQL predicate over the packet columns, run on the server.
    #[arg(long = "where", value_name = "SQL")]
    pub where_sql: Option<String>,
    /// Output file or `-` for stdout (`| wireshark -k -i -`).
    #[arg(short = 'w', long = "write", value_name = "FILE", default_value = "-")]
    pub write: String,
    /// Output format, overriding the file name's (stdout: pcapng).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Stop after this many packets.
    #[arg(long)]
    pub count: Option<u64>,
}

/// Runs `tail`.
pub async fn tail(a: TailClientArgs) -> Result<()> {
    use std::net::ToSocketAddrs;
    let server = a
        .server
        .to_socket_addrs()
        .with_context(|| format!("--server {}", a.server))?
        .next()
        .with_context(|| format!("--server {}: no address", a.server))?;
    let host = a
        .server
        .rsplit_once(':')
        .map_or(a.server.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let token = mirrorlake_tail::load_token(a.token_file.as_deref())
        .context("--token-file")?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--token-file: a token is needed (a file, or {})",
                mirrorlake_tail::TOKEN_ENV
            )
        })?;
    let opts = mirrorlake_tail::client::ClientOptions {
        server,
        server_name: a.server_name.unwrap_or(host),
        ca: a.ca,
        hello: mirrorlake_tail::proto::Hello {
            token,
            filter: a.filter,
            where_sql: a.where_sql,
        },
        count: a.count,
    };
    let format = export::format_for(&a.write, a.format.map(Into::into));
    let (output, w) = export::Output::open(&a.write)?;
    let mut out = mirrorlake_pcap::CaptureWriter::new(w, format, export::SNAPLEN)?;
    let stop = async {
        let _ = mirrorlake_ops::shutdown_signal().await;
    };
    let summary = mirrorlake_tail::client::tail(&opts, &mut out, stop).await?;
    drop(out.into_inner()?);
    output.commit()?;
    eprintln!(
        "tail: {} packets; the server dropped {} for this client",
        summary.packets, summary.dropped
    );
    Ok(())
}
