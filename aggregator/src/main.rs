//! `mirrorlake-aggregator`: the lake side of mirrorlake. Today: `query`
//! (SQL over the lake). Cluster mode (`run`, Kafka to Parquet), `ddl`,
//! `export` and `tail` are tracked in their own issues.

mod query;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mirrorlake_lake::Lake;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "mirrorlake-aggregator",
    version,
    about = "Query and manage the mirrorlake packet lake"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
}

async fn main_async(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Query { lake, format, sql } => {
            let lake = Lake::open(&lake)?;
            let batches = query::run(&lake, &sql).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            query::render(&batches, format, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MIRRORLAKE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
