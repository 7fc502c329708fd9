//! `mirrorlake-aggregator`: the lake side of mirrorlake: `run` (cluster
//! mode, Kafka to Parquet, each record in exactly one file), `query` (SQL
//! over the lake) and `ddl` (the Athena/Glue table from the schema).

mod config;
mod ddl;
#[cfg(test)]
mod lake_bench;
mod manifest;
mod metrics;
#[cfg(test)]
mod named_queries;
mod query;
mod run;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mirrorlake_lake::Lake;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    /// Consume packet batches from Kafka into the lake (cluster mode).
    Run(RunArgs),
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

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// TOML config file (every flag below is also a key there).
    #[arg(long, env = "MIRRORLAKE_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Kafka bootstrap brokers, HOST:PORT[,...] (`kafka.brokers`).
    #[arg(long, env = "MIRRORLAKE_KAFKA")]
    kafka: Option<String>,
    /// Topic of packet batches [default: mirrorlake.packets].
    #[arg(long, env = "MIRRORLAKE_TOPIC")]
    topic: Option<String>,
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    lake: Option<String>,
    /// Consumer group [default: mirrorlake-aggregator].
    #[arg(long, env = "MIRRORLAKE_GROUP")]
    group: Option<String>,
    /// HTTP address of /healthz and /metrics [default: 0.0.0.0:9091].
    #[arg(long, env = "MIRRORLAKE_HTTP")]
    http: Option<SocketAddr>,
    /// This aggregator's id [default: host name and pid].
    #[arg(long, env = "MIRRORLAKE_AGGREGATOR_ID")]
    id: Option<String>,
    /// A librdkafka option, KEY=VALUE (repeatable; `kafka.options`).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    kafka_option: Vec<String>,
    /// End an offset range (and its files) at about this many bytes [default: 134217728].
    #[arg(long, env = "MIRRORLAKE_MAX_FILE_BYTES")]
    max_file_bytes: Option<usize>,
    /// End an offset range this long after its first record, ms [default: 50000].
    #[arg(long, env = "MIRRORLAKE_FILE_MAX_AGE_MS")]
    file_max_age_ms: Option<u64>,
    /// Largest message the collectors send (their kafka.max_message_bytes;
    /// checked against the topic) [default: 921600].
    #[arg(long)]
    max_message_bytes: Option<usize>,
}

impl RunArgs {
    fn resolve(self) -> Result<config::Config> {
        let mut c = match &self.config {
            Some(p) => config::Config::from_file(p)?,
            None => config::Config::default(),
        };
        if let Some(v) = self.kafka {
            c.kafka.brokers = v;
        }
        if let Some(v) = self.topic {
            c.kafka.topic = v;
        }
        if let Some(v) = self.lake {
            c.lake = v;
        }
        if let Some(v) = self.group {
            c.kafka.group = v;
        }
        if let Some(v) = self.http {
            c.http = v;
        }
        if let Some(v) = self.id {
            c.id = v;
        }
        for o in &self.kafka_option {
            let (k, v) = mirrorlake_kafka::parse_option(o).map_err(anyhow::Error::msg)?;
            c.kafka.options.insert(k, v);
        }
        if let Some(v) = self.max_file_bytes {
            c.files.max_file_bytes = v;
        }
        if let Some(v) = self.file_max_age_ms {
            c.files.max_file_age_ms = v;
        }
        if let Some(v) = self.max_message_bytes {
            c.kafka.max_message_bytes = v;
        }
        c.validate()?;
        Ok(c)
    }
}

async fn run_cmd(a: RunArgs) -> Result<()> {
    let c = a.resolve()?;
    let id = if c.id.is_empty() {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "aggregator".into());
        format!("{host}-{}", std::process::id())
    } else {
        c.id.clone()
    };
    let kafka = mirrorlake_kafka::KafkaSettings {
        brokers: c.kafka.brokers.clone(),
        topic: c.kafka.topic.clone(),
        options: c.kafka.options.clone(),
    };
    let cfg = run::RunConfig {
        kafka,
        group: c.kafka.group.clone(),
        id,
        max_range_bytes: c.files.max_file_bytes,
        max_range_age: Duration::from_millis(c.files.max_file_age_ms),
        files: mirrorlake_lake::FileConfig::default(),
        max_message_bytes: c.kafka.max_message_bytes,
    };
    let lake = Lake::open(&c.lake)?;
    run::check_topic(&cfg).await?;
    let m = Arc::new(metrics::Metrics::new());
    let http = mirrorlake_ops::serve(c.http, m.clone()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Handle::current();
    tracing::info!(lake = %lake.url, group = %cfg.group, id = %cfg.id, "aggregator running");
    let worker = {
        let (m, stop) = (m.clone(), stop.clone());
        std::thread::Builder::new()
            .name("consume".into())
            .spawn(move || run::run(cfg, lake, rt, m, stop))?
    };
    let worker = tokio::task::spawn_blocking(move || worker.join());
    tokio::pin!(worker);
    tokio::select! {
        sig = mirrorlake_ops::shutdown_signal() => {
            tracing::info!(signal = sig?, "stopping: ending open ranges");
            stop.store(true, Ordering::Relaxed);
            worker.await?.map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
        }
        done = &mut worker => {
            done?.map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
        }
    }
    http.abort();
    tracing::info!(
        rows = m.rows_written.get(),
        files = m.files_written.get(),
        "stopped"
    );
    Ok(())
}

async fn main_async(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => run_cmd(a).await,
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
    mirrorlake_ops::init_tracing("warn");
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
