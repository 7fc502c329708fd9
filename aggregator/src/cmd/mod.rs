//! The command line: one module per subcommand, each its arguments and
//! what it does.

mod compact;
mod export;
mod run;
mod tail;

use crate::{ddl, query};
use anyhow::Result;
use clap::{Parser, Subcommand};
use mirrorlake_lake::Lake;

#[derive(Parser, Debug)]
#[command(
    name = "mirrorlake-aggregator",
    version,
    about = "Query and manage the mirrorlake packet lake"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Consume packet batches from Kafka into the lake (cluster mode).
    Run(run::RunArgs),
    /// Run SQL over the lake (table `packets`, partition columns `dt`, `hour`).
    Query {
        /// Lake location: a path, file:// or s3://bucket/prefix.
        #[arg(long, env = "MIRRORLAKE_LAKE")]
        lake: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: query::Format,
        /// The SQL statement.
        sql: String,
    },
    /// Print the Athena tables of the lake, packets and flows (DDL with partition projection, or a Glue TableInput).
    Ddl {
        /// Lake location on S3: s3://bucket/prefix (the writers' --lake).
        #[arg(long)]
        location: String,
        /// Glue database to qualify the table with (default: unqualified).
        #[arg(long)]
        database: Option<String>,
        /// Only this table (packets or flows); every table when omitted (Athena DDL only).
        #[arg(long)]
        table: Option<String>,
        /// First day (yyyy-MM-dd, UTC) of the dt partition projection range.
        #[arg(long, default_value = "2024-01-01")]
        projection_start: String,
        /// Output: Athena DDL, or the Glue TableInput JSON (`aws glue create-table --table-input`).
        #[arg(long, value_enum, default_value = "athena")]
        format: ddl::Format,
    },
    /// Write the packets of a time range as pcap or pcapng, byte for byte as captured.
    Export(export::ExportArgs),
    /// Stream packets as they arrive from a live tail server (QUIC) as pcapng.
    Tail(tail::TailClientArgs),
    /// Merge the small files of closed hours into target-size files, re-clustered by mirrored ENI (packets and flows).
    Compact(compact::CompactArgs),
}

/// Capture file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Classic pcap (one link type, no interface names).
    Pcap,
    /// pcapng: one named interface per (mirror source, VNI).
    Pcapng,
}

impl From<OutputFormat> for mirrorlake_pcap::CaptureFormat {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Pcap => Self::Pcap,
            OutputFormat::Pcapng => Self::Pcapng,
        }
    }
}

/// Runs the command `cli` names.
pub async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Query { lake, format, sql } => {
            let lake = Lake::open(&lake)?;
            let batches = query::run(&lake, &sql).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            query::render(&batches, format, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Ddl {
            location,
            database,
            table,
            projection_start,
            format,
        } => {
            let tables = match (table, format) {
                (Some(t), _) => vec![t],
                (None, ddl::Format::Athena) => mirrorlake_schema::TABLES
                    .iter()
                    .map(|t| t.name.to_owned())
                    .collect(),
                (None, ddl::Format::GlueJson) => {
                    anyhow::bail!(
                        "--table: a Glue TableInput describes one table (packets or flows)"
                    )
                }
            };
            let mut out = Vec::new();
            for table in tables {
                let spec = ddl::TableSpec {
                    location: location.clone(),
                    database: database.clone(),
                    table,
                    projection_start: projection_start.clone(),
                };
                out.push(spec.render(format)?);
            }
            print!("{}", out.join("\n"));
            Ok(())
        }
        Command::Export(a) => export::export(a).await,
        Command::Tail(a) => tail::tail(a).await,
        Command::Compact(a) => compact::compact(a).await,
    }
}
