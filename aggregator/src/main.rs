//! `mirrorlake-aggregator`: the lake side of mirrorlake: `run` (cluster
//! mode, Kafka to Parquet, each record in exactly one file), `query` (SQL
//! over the lake), `ddl` (the Athena/Glue table from the schema), `export`,
//! `tail` and `compact` (small files of closed hours merged).

mod compact;
mod config;
mod ddl;
mod export;
#[cfg(test)]
mod flows_bench;
#[cfg(test)]
mod lake_bench;
mod manifest;
mod metrics;
#[cfg(test)]
mod named_queries;
mod query;
mod run;
mod tail_feed;

use anyhow::{Context, Result};
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
    Export(ExportArgs),
    /// Stream packets as they arrive from a live tail server (QUIC) as pcapng.
    Tail(TailClientArgs),
    /// Merge the small files of closed hours into target-size files (packets and flows).
    Compact(CompactArgs),
}

#[derive(clap::Args, Debug)]
struct CompactArgs {
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    lake: String,
    /// Only hours that ended at least this long ago (late rows and Kafka
    /// replays land in the first minutes after an hour).
    #[arg(long, default_value_t = 120)]
    settle_minutes: u32,
    /// Cut the merged files at about this many MiB.
    #[arg(long, default_value_t = 128)]
    target_file_mb: usize,
    /// Files of at least this many MiB are left alone [default: 3/4 of --target-file-mb].
    #[arg(long)]
    small_file_mb: Option<u64>,
    /// Also rewrite, once, every file the collectors and aggregators wrote, whatever its
    /// size: heavy hours re-clustered by mirrored ENI (Trino/Athena needles then read
    /// about 1% of a day instead of 4-10%), at the CPU cost of re-encoding them
    /// (docs/sizing.md).
    #[arg(long)]
    all_files: bool,
    /// Print what would be merged; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// One JSON object per partition on stdout instead of text lines.
    #[arg(long)]
    json: bool,
    /// Test hook: stop as if killed right after this step.
    #[arg(long, value_enum, hide = true)]
    stop_after: Option<compact::Step>,
}

async fn compact_cmd(a: CompactArgs) -> Result<()> {
    anyhow::ensure!(a.target_file_mb > 0, "--target-file-mb must be at least 1");
    let lake = Lake::open(&a.lake)?;
    let now = chrono::Utc::now().timestamp_micros();
    // Per host: a run takes over the lock its host's previous (crashed) run
    // left; the timer's oneshot unit never runs twice at once.
    let owner = hostname::get()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let defaults = compact::Options::new(
        now - i64::from(a.settle_minutes) * 60_000_000,
        a.target_file_mb << 20,
        owner,
    );
    let opts = compact::Options {
        small_file_bytes: a
            .small_file_mb
            .map_or(defaults.small_file_bytes, |mb| mb << 20),
        all_files: a.all_files,
        dry_run: a.dry_run,
        stop_after: a.stop_after,
        ..defaults
    };
    let reports = compact::compact(&lake, &opts).await?;
    for r in &reports {
        if a.json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            println!(
                "{}: {} files ({} B) -> {} files ({} B), {} rows, {} flow rows; {} interrupted runs finished, {} staging folders removed",
                r.partition,
                r.inputs,
                r.input_bytes,
                r.outputs,
                r.output_bytes,
                r.rows,
                r.flow_rows,
                r.recovered,
                r.cleaned
            );
        }
    }
    eprintln!(
        "compact: {} partitions{}, {} files into {}, {} rows",
        reports.len(),
        if a.dry_run { " (dry run)" } else { "" },
        reports.iter().map(|r| r.inputs).sum::<usize>(),
        reports.iter().map(|r| r.outputs).sum::<usize>(),
        reports.iter().map(|r| r.rows).sum::<u64>()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
struct TailClientArgs {
    /// The tail server, HOST:PORT (an aggregator's or single-node collector's `--tail`).
    #[arg(long, env = "MIRRORLAKE_TAIL_SERVER")]
    server: String,
    /// Name the server certificate must carry [default: the host of --server].
    #[arg(long)]
    server_name: Option<String>,
    /// PEM certificate(s) to trust: the server's `tail.cert` (self-signed) or its CA.
    #[arg(long, env = "MIRRORLAKE_TAIL_CA")]
    ca: std::path::PathBuf,
    /// File holding the token [default: the MIRRORLAKE_TAIL_TOKEN variable].
    #[arg(long, env = "MIRRORLAKE_TAIL_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
    /// tcpdump filter expression, run on the server.
    #[arg(long, value_name = "EXPRESSION")]
    filter: Option<String>,
    /// SQL predicate over the packet columns, run on the server.
    #[arg(long = "where", value_name = "SQL")]
    where_sql: Option<String>,
    /// Output file or `-` for stdout (`| wireshark -k -i -`).
    #[arg(short = 'w', long = "write", value_name = "FILE", default_value = "-")]
    write: String,
    /// Output format, overriding the file name's (stdout: pcapng).
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,
    /// Stop after this many packets.
    #[arg(long)]
    count: Option<u64>,
}

async fn tail_cmd(a: TailClientArgs) -> Result<()> {
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

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    lake: String,
    /// Start of the range, inclusive: RFC 3339 or UTC `YYYY-MM-DD[ HH:MM[:SS]]`.
    #[arg(long)]
    from: String,
    /// End of the range, exclusive (same forms as --from).
    #[arg(long)]
    to: String,
    /// SQL predicate over the packets columns, pushed into the Parquet scan
    /// (e.g. "src_ip = '10.0.3.7' AND dst_port = 443").
    #[arg(long = "where", value_name = "SQL")]
    where_sql: Option<String>,
    /// tcpdump filter expression applied to each frame (libpcap's compiler).
    #[arg(long, value_name = "EXPRESSION")]
    filter: Option<String>,
    /// Output file (`.pcapng` → pcapng, else pcap) or `-` for stdout (pcapng).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: String,
    /// Output format, overriding the file name's.
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,
    /// Memory for sorting one hour of packets before spilling to disk, MiB.
    #[arg(long, default_value_t = 1024)]
    memory_limit_mb: usize,
}

/// Capture file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
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

async fn export_cmd(a: ExportArgs) -> Result<()> {
    let from_us = export::parse_time(&a.from).context("--from")?;
    let to_us = export::parse_time(&a.to).context("--to")?;
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
    let req = export::ExportRequest {
        from_us,
        to_us,
        where_sql: a.where_sql,
        filter,
        memory_limit: a.memory_limit_mb.max(16) << 20,
    };
    let format = export::format_for(&a.write, a.format.map(Into::into));
    let (output, w) = export::Output::open(&a.write)?;
    let mut out = mirrorlake_pcap::CaptureWriter::new(w, format, export::SNAPLEN)?;
    let stats = export::export(&lake, &req, &mut out).await?;
    drop(out.into_inner()?);
    output.commit()?;
    eprintln!(
        "exported {} packets from {} hour partitions ({} rows matched the time range and --where, {} rejected by --filter; {} Parquet bytes read)",
        stats.written, stats.hours, stats.rows_read, stats.filtered_out, stats.bytes_scanned
    );
    Ok(())
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
    #[command(flatten)]
    tail: mirrorlake_tail::TailArgs,
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
        self.tail.apply(&mut c.tail);
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
    let hub = mirrorlake_tail::Hub::new(c.tail.client_queue_batches, m.tail.clone());
    let tail = mirrorlake_tail::TailServer::start(&c.tail, hub.clone())?;
    let feed = match &tail {
        Some(_) => {
            let (kafka, id, stop) = (cfg.kafka.clone(), cfg.id.clone(), stop.clone());
            Some(
                std::thread::Builder::new()
                    .name("tail-feed".into())
                    .spawn(move || tail_feed::run(&kafka, &id, hub, stop))?,
            )
        }
        None => None,
    };
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
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = tail {
        t.close().await;
    }
    if let Some(f) = feed {
        match tokio::task::spawn_blocking(move || f.join()).await? {
            Ok(Err(e)) => tracing::warn!(error = %e, "tail feed"),
            Err(_) => tracing::warn!("tail feed thread panicked"),
            Ok(Ok(())) => {}
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
        Command::Export(a) => export_cmd(a).await,
        Command::Tail(a) => tail_cmd(a).await,
        Command::Compact(a) => compact_cmd(a).await,
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
