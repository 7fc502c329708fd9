//! `mirrorlake-aggregator`: the lake side of mirrorlake. Today: `query`
//! (SQL over the lake) and `ddl` (the Athena/Glue table from the schema).
//! Cluster mode (`run`, Kafka to Parquet), `export` and `tail` are tracked in
//! their own issues.

mod ddl;
#[cfg(test)]
mod lake_bench;
#[cfg(test)]
mod named_queries;
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
    /// Print the Athena table of the lake (DDL with partition projection, or a Glue TableInput).
    Ddl {
        /// Lake location on S3: s3://bucket/prefix (the writers' --lake).
        #[arg(long)]
        location: String,
        /// Glue database to qualify the table with (default: unqualified).
        #[arg(long)]
        database: Option<String>,
        /// Table name (also its folder under the lake).
        #[arg(long, default_value = mirrorlake_lake::TABLE_PACKETS)]
        table: String,
        /// First day (yyyy-MM-dd, UTC) of the dt partition projection range.
        #[arg(long, default_value = "2024-01-01")]
        projection_start: String,
        /// Output: Athena DDL, or the Glue TableInput JSON (`aws glue create-table --table-input`).
        #[arg(long, value_enum, default_value = "athena")]
        format: ddl::Format,
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
        Command::Ddl {
            location,
            database,
            table,
            projection_start,
            format,
        } => {
            let spec = ddl::TableSpec {
                location,
                database,
                table,
                projection_start,
            };
            print!("{}", spec.render(format)?);
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
