//! The command line: one module per subcommand, each its arguments and
//! what it does.

mod decode;
mod import;
mod run;

use crate::config::Config;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use mirrorlake_lake::{Lake, LakeWriter, SequenceNamer};
use std::net::SocketAddr;

#[derive(Parser, Debug)]
#[command(
    name = "mirrorlake-collector",
    version,
    about = "Receive AWS VPC Traffic Mirroring traffic into a queryable Parquet lake"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Receive mirror traffic (VXLAN over UDP 4789) and write the lake.
    Run(run::RunArgs),
    /// Write pcap/pcapng captures (tunnelled or plain) into the lake.
    Import(import::ImportArgs),
    /// Print one JSON object per packet of a capture; counts on stderr.
    Decode(decode::DecodeArgs),
    /// Receive and only count (run's sockets and recvmmsg, no decoding):
    /// the benchmark's baseline. Prints counts as JSON lines; exits when
    /// standard input closes.
    Sink(SinkArgs),
}

#[derive(Args, Debug)]
pub struct SinkArgs {
    /// UDP address to receive on.
    #[arg(long, default_value = "127.0.0.1:4789")]
    pub listen: SocketAddr,
}

/// Runs the command `cli` names.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Decode(a) => decode::decode(a),
        Command::Sink(a) => crate::sink::run(a.listen),
        command => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(async move {
                match command {
                    Command::Run(a) => run::run(a).await,
                    Command::Import(a) => import::import(a).await,
                    Command::Decode(_) | Command::Sink(_) => Ok(()),
                }
            }),
            Err(e) => Err(e.into()),
        },
    }
}

/// Opens the lake once; returns the writer and the lake's URL (for logs).
pub(crate) fn lake_writer(
    lake_url: &str,
    id: &str,
    config: &Config,
) -> Result<(LakeWriter, String)> {
    let lake = Lake::open(lake_url).context("open lake")?;
    let url = lake.url.to_string();
    let writer = LakeWriter::new(
        lake,
        config.file_config(),
        config.roll_policy(),
        Box::new(SequenceNamer::new(id, crate::pipeline::now_us())),
    );
    Ok((writer, url))
}
