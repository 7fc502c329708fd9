//! `run`: cluster mode, Kafka to the lake.

use crate::{config, metrics, tail_feed};
use anyhow::Result;
use mirrorlake_lake::Lake;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// TOML config file (every flag below is also a key there).
    #[arg(long, env = "MIRRORLAKE_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Kafka bootstrap brokers, HOST:PORT[,...] (`kafka.brokers`).
    #[arg(long, env = "MIRRORLAKE_KAFKA")]
    pub kafka: Option<String>,
    /// Topic of packet batches [default: mirrorlake.packets].
    #[arg(long, env = "MIRRORLAKE_TOPIC")]
    pub topic: Option<String>,
    /// Lake location: a path, file:// or s3://bucket/prefix.
    #[arg(long, env = "MIRRORLAKE_LAKE")]
    pub lake: Option<String>,
    /// Consumer group [default: mirrorlake-aggregator].
    #[arg(long, env = "MIRRORLAKE_GROUP")]
    pub group: Option<String>,
    /// HTTP address of /healthz and /metrics [default: 0.0.0.0:9091].
    #[arg(long, env = "MIRRORLAKE_HTTP")]
    pub http: Option<SocketAddr>,
    /// This aggregator's id [default: host name and pid].
    #[arg(long, env = "MIRRORLAKE_AGGREGATOR_ID")]
    pub id: Option<String>,
    /// A librdkafka option, KEY=VALUE (repeatable; `kafka.options`).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_option: Vec<String>,
    /// End an offset range (and its files) at about this many bytes [default: 134217728].
    #[arg(long, env = "MIRRORLAKE_MAX_FILE_BYTES")]
    pub max_file_bytes: Option<usize>,
    /// End an offset range this long after its first record, ms [default: 50000].
    #[arg(long, env = "MIRRORLAKE_FILE_MAX_AGE_MS")]
    pub file_max_age_ms: Option<u64>,
    /// Largest message the collectors send (their kafka.max_message_bytes;
    /// checked against the topic) [default: 921600].
    #[arg(long)]
    pub max_message_bytes: Option<usize>,
    #[command(flatten)]
    pub tail: mirrorlake_tail::TailArgs,
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

/// Runs `run`.
pub async fn run(a: RunArgs) -> Result<()> {
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
    let cfg = crate::run::RunConfig {
        kafka,
        group: c.kafka.group.clone(),
        id,
        max_range_bytes: c.files.max_file_bytes,
        max_range_age: Duration::from_millis(c.files.max_file_age_ms),
        files: mirrorlake_lake::FileConfig::default(),
        max_message_bytes: c.kafka.max_message_bytes,
    };
    let lake = Lake::open(&c.lake)?;
    crate::run::check_topic(&cfg).await?;
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
            .spawn(move || crate::run::run(cfg, lake, rt, m, stop))?
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
