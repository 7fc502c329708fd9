//! `run`: receive mirror traffic into the lake (single node) or Kafka.

use super::lake_writer;
use crate::config::Config;
use crate::http;
use crate::pipeline::{self, Filters, Shared};
use anyhow::{Context, Result};
use clap::Args;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Flags of `run`; each overrides the config file, and has an environment variable.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// TOML config file (every flag below is also a key there).
    #[arg(long, env = "MIRRORLAKE_CONFIG")]
    pub config: Option<PathBuf>,
    /// UDP address to receive mirror traffic on [default: 0.0.0.0:4789].
    #[arg(long, env = "MIRRORLAKE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Also receive GENEVE from a Gateway Load Balancer here (e.g. 0.0.0.0:6081).
    #[arg(long, env = "MIRRORLAKE_GENEVE_LISTEN")]
    pub geneve_listen: Option<SocketAddr>,
    /// HTTP address for /healthz and /metrics [default: 0.0.0.0:9090].
    #[arg(long, env = "MIRRORLAKE_HTTP")]
    pub http: Option<SocketAddr>,
    /// Lake location: a path, file:// or s3://bucket/prefix [default: ./mirrorlake-lake].
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    pub lake: Option<String>,
    /// Id stamped on every row [default: host name].
    #[arg(long, env = "MIRRORLAKE_COLLECTOR_ID")]
    pub collector_id: Option<String>,
    /// Receive sockets (SO_REUSEPORT); 0 is one per core.
    #[arg(long, env = "MIRRORLAKE_SOCKETS")]
    pub sockets: Option<usize>,
    /// Threads encoding batches for Kafka in parallel; 0 is one per core.
    #[arg(long, env = "MIRRORLAKE_ENCODE_THREADS")]
    pub encode_threads: Option<usize>,
    /// Requested SO_RCVBUF per socket, bytes [default: 67108864].
    #[arg(long, env = "MIRRORLAKE_RCVBUF_BYTES")]
    pub rcvbuf_bytes: Option<usize>,
    /// Accept only these source CIDRs (comma-separated).
    #[arg(long, env = "MIRRORLAKE_ALLOWED_SOURCE_CIDRS", value_delimiter = ',')]
    pub allowed_source_cidrs: Option<Vec<IpNet>>,
    /// Accept only these VNIs (comma-separated).
    #[arg(long, env = "MIRRORLAKE_ALLOWED_VNIS", value_delimiter = ',')]
    pub allowed_vnis: Option<Vec<u32>>,
    /// After SIGTERM keep receiving this long with /healthz at 503, then flush.
    #[arg(long, env = "MIRRORLAKE_DRAIN_MS")]
    pub drain_ms: Option<u64>,
    /// Cut a record batch when its oldest row is this old.
    #[arg(long, env = "MIRRORLAKE_BATCH_MAX_AGE_MS")]
    pub batch_max_age_ms: Option<u64>,
    /// Close a lake file this long after it was opened.
    #[arg(long, env = "MIRRORLAKE_FILE_MAX_AGE_MS")]
    pub file_max_age_ms: Option<u64>,
    /// Cluster mode: publish batches to these Kafka brokers (HOST:PORT[,...])
    /// instead of writing a lake.
    #[arg(long, env = "MIRRORLAKE_KAFKA")]
    pub kafka: Option<String>,
    /// Kafka topic [default: mirrorlake.packets].
    #[arg(long, env = "MIRRORLAKE_TOPIC")]
    pub topic: Option<String>,
    /// A librdkafka option, KEY=VALUE (repeatable; e.g. security.protocol=SSL).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_option: Vec<String>,
    /// Cluster mode: spool to this directory what Kafka has not taken
    /// (replayed in order, exactly once, when it returns).
    #[arg(long, env = "MIRRORLAKE_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may hold [default: 10% of the free disk at start].
    #[arg(long, env = "MIRRORLAKE_SPOOL_MAX_BYTES")]
    pub spool_max_bytes: Option<u64>,
    #[command(flatten)]
    pub tail: mirrorlake_tail::TailArgs,
}

impl RunArgs {
    fn resolve(self) -> Result<Config> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = self.geneve_listen {
            c.geneve_listen = Some(v);
        }
        if let Some(v) = self.http {
            c.http = v;
        }
        if let Some(v) = self.lake {
            c.lake = v;
        }
        if let Some(v) = self.collector_id {
            c.collector_id = v;
        }
        if let Some(v) = self.sockets {
            c.sockets = v;
        }
        if let Some(v) = self.encode_threads {
            c.encode_threads = v;
        }
        if let Some(v) = self.rcvbuf_bytes {
            c.rcvbuf_bytes = v;
        }
        if let Some(v) = self.allowed_source_cidrs {
            c.allowed_source_cidrs = v;
        }
        if let Some(v) = self.allowed_vnis {
            c.allowed_vnis = v;
        }
        if let Some(v) = self.drain_ms {
            c.drain_ms = v;
        }
        if let Some(v) = self.batch_max_age_ms {
            c.batch.max_age_ms = v;
        }
        if let Some(v) = self.file_max_age_ms {
            c.files.max_file_age_ms = v;
        }
        if let Some(v) = self.kafka {
            c.kafka.brokers = v;
        }
        if let Some(v) = self.topic {
            c.kafka.topic = v;
        }
        if let Some(v) = self.spool_dir {
            c.spool.dir = v;
        }
        if let Some(v) = self.spool_max_bytes {
            c.spool.max_bytes = v;
        }
        for o in &self.kafka_option {
            let (k, v) = mirrorlake_kafka::parse_option(o).map_err(anyhow::Error::msg)?;
            c.kafka.options.insert(k, v);
        }
        self.tail.apply(&mut c.tail);
        c.validate()?;
        Ok(c)
    }
}

/// Cluster mode: checks (or creates) the topic, then builds the publisher.
/// An unreachable broker is not fatal (the collector never waits on Kafka);
/// a topic that cannot take our messages is.
async fn kafka_publisher(
    config: &Config,
    settings: &mirrorlake_kafka::KafkaSettings,
    shared: &Arc<Shared>,
    spool: Option<&Arc<mirrorlake_kafka::SpoolLink>>,
) -> Result<mirrorlake_kafka::Publisher> {
    let k = &config.kafka;
    let spec = mirrorlake_kafka::TopicSpec {
        partitions: k.partitions,
        replication: k.replication,
        max_message_bytes: k.max_message_bytes,
        create: true,
    };
    match mirrorlake_kafka::ensure_topic(
        settings,
        spec,
        Duration::from_millis(k.startup_timeout_ms),
    )
    .await
    {
        Ok(t) => tracing::info!(
            topic = %settings.topic, partitions = t.partitions, created = t.created,
            max_message_bytes = t.max_message_bytes, "kafka topic ready"
        ),
        Err(e @ mirrorlake_kafka::TopicError::Unreachable { .. }) => {
            tracing::warn!(error = %e, "kafka unreachable at start-up; running anyway, batches are dropped and counted while it stays away");
        }
        Err(e) => return Err(e.into()),
    }
    let observer = Arc::new(pipeline::KafkaObserver(shared.clone()));
    mirrorlake_kafka::Publisher::new(
        settings,
        &config.collector_id,
        k.max_message_bytes,
        k.zstd_level,
        k.queue_kbytes,
        observer,
        spool.cloned(),
    )
    .context("kafka producer")
}

/// The disk spool's settings when `spool.dir` is set (the directory made,
/// the default bound taken from its free space).
fn spool_config(config: &Config) -> Result<Option<mirrorlake_spool::SpoolConfig>> {
    let s = &config.spool;
    if s.dir.as_os_str().is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(&s.dir)
        .with_context(|| format!("spool.dir: create {}", s.dir.display()))?;
    let max_bytes = match s.max_bytes {
        0 => {
            mirrorlake_spool::free_bytes(&s.dir)
                .with_context(|| format!("spool.dir: free space of {}", s.dir.display()))?
                / 10
        }
        n => n,
    };
    Ok(Some(mirrorlake_spool::SpoolConfig {
        dir: s.dir.clone(),
        max_bytes,
        segment_bytes: (max_bytes / 16).clamp(1 << 20, 64 << 20),
        fsync_interval: Duration::from_millis(s.fsync_ms),
    }))
}

fn log_recovery(c: &mirrorlake_spool::SpoolConfig, rec: &mirrorlake_spool::Recovery) {
    tracing::info!(
        dir = %c.dir.display(), max_bytes = c.max_bytes, pending = rec.pending,
        pending_bytes = rec.pending_bytes, truncated_bytes = rec.truncated_bytes, "spool open"
    );
}

/// Cluster mode's spool, shared with the producer.
fn open_kafka_spool(config: &Config) -> Result<Option<Arc<mirrorlake_kafka::SpoolLink>>> {
    let Some(c) = spool_config(config)? else {
        return Ok(None);
    };
    let (link, rec) =
        mirrorlake_kafka::SpoolLink::open(c.clone(), config.spool.inflight_kbytes as u64 * 1024)
            .with_context(|| format!("spool.dir: open {}", c.dir.display()))?;
    log_recovery(&c, &rec);
    Ok(Some(link))
}

/// Single node's spool, owned by the spool stage.
fn open_lake_spool(config: &Config) -> Result<Option<mirrorlake_spool::Spool>> {
    let Some(c) = spool_config(config)? else {
        return Ok(None);
    };
    let (spool, rec) = mirrorlake_spool::Spool::open(c.clone())
        .with_context(|| format!("spool.dir: open {}", c.dir.display()))?;
    log_recovery(&c, &rec);
    Ok(Some(spool))
}

enum Sink {
    Lake(
        tokio::task::JoinHandle<Result<()>>,
        Option<tokio::task::JoinHandle<()>>,
    ),
    Kafka(tokio::task::JoinHandle<Result<()>>),
}

/// Runs `run`.
pub async fn run(args: RunArgs) -> Result<()> {
    let config = args.resolve()?;
    let shared = Arc::new(Shared::default());
    let hub = mirrorlake_tail::Hub::new(
        config.tail.client_queue_batches,
        shared.metrics.tail.clone(),
    );
    let tail = mirrorlake_tail::TailServer::start(&config.tail, hub.clone())?;
    // Bound first: while the sink starts (the Kafka topic check may wait for
    // a broker that is away), the kernel holds what arrives.
    let sockets = pipeline::open_sockets(&config)?;
    shared
        .metrics
        .socket_rcvbuf_bytes
        .set(sockets.first().map_or(0, |(s, _)| s.rcvbuf_bytes as i64));
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue_batches);
    let gate_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sink, destination) = match config.kafka_settings() {
        Some(settings) => {
            let spool = open_kafka_spool(&config)?;
            if let Some(link) = &spool {
                link.start_gate(settings.clone(), gate_stop.clone())
                    .context("spool gate thread")?;
            }
            let publisher = kafka_publisher(&config, &settings, &shared, spool.as_ref()).await?;
            let shared = shared.clone();
            let flush = Duration::from_secs(10);
            let encoders = config.encoders();
            (
                Sink::Kafka(tokio::task::spawn_blocking(move || {
                    pipeline::kafka_sink(rx, publisher, shared, hub, encoders, flush, spool)
                })),
                format!("kafka {} topic {}", settings.brokers, settings.topic),
            )
        }
        None => {
            let (writer, lake_url) = lake_writer(&config.lake, &config.collector_id, &config)?;
            // With a spool, the writer gets a short queue of its own: when
            // the object store is slow it fills, and the stage spools.
            let (rx, stage) = match open_lake_spool(&config)? {
                Some(spool) => {
                    let (tx2, rx2) = tokio::sync::mpsc::channel(4);
                    let shared = shared.clone();
                    let stage = tokio::task::spawn_blocking(move || {
                        pipeline::spool_stage(rx, tx2, spool, shared)
                    });
                    (rx2, Some(stage))
                }
                None => (rx, None),
            };
            (
                Sink::Lake(
                    tokio::spawn(pipeline::lake_sink(rx, writer, shared.clone(), hub)),
                    stage,
                ),
                format!("lake {lake_url}"),
            )
        }
    };
    let http =
        mirrorlake_ops::serve(config.http, Arc::new(http::CollectorProbe(shared.clone()))).await?;
    let filters = Filters::new(&config.allowed_source_cidrs, &config.allowed_vnis);
    let threads: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, (s, input))| {
            let (config, filters, tx, shared) =
                (config.clone(), filters.clone(), tx.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("recv-{i}"))
                .spawn(move || {
                    pipeline::receive_loop(s, config, filters.receiving(input), tx, shared)
                })
        })
        .collect::<std::io::Result<_>>()
        .context("spawn receive threads")?;
    drop(tx);
    tracing::info!(
        listen = %config.listen, geneve_listen = ?config.geneve_listen, http = %config.http, to = %destination, sockets = threads.len(),
        collector_id = %config.collector_id, "collector running"
    );
    let sig = mirrorlake_ops::shutdown_signal().await?;
    let started = Instant::now();
    shared.draining.store(true, Ordering::Relaxed);
    tracing::info!(
        signal = sig,
        drain_ms = config.drain_ms,
        "draining: /healthz now 503, still receiving"
    );
    tokio::time::sleep(Duration::from_millis(config.drain_ms)).await;
    shared.stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await?;
    gate_stop.store(true, Ordering::Relaxed);
    match sink {
        Sink::Lake(t, stage) => {
            if let Some(stage) = stage {
                stage.await.context("spool stage")?;
            }
            t.await.context("sink task")??
        }
        Sink::Kafka(t) => t.await.context("sink task")??,
    }
    if let Some(t) = tail {
        t.close().await;
    }
    http.abort();
    let m = &shared.metrics;
    tracing::info!(
        received = m.packets_received.get(),
        rows_written = m.rows_written.get(),
        rows_published = m.rows_published.get(),
        files = m.files_written.get(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "stopped: everything flushed"
    );
    Ok(())
}
