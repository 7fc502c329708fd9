//! The collector's configuration: one serde tree, defaults in one place,
//! `validate()` naming the bad field. Precedence: flag > environment > file > default.

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// `mirrorlake-collector run` configuration (TOML).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Id stamped on every row (default: the host name).
    pub collector_id: String,
    /// UDP address mirror traffic arrives on.
    pub listen: SocketAddr,
    /// UDP address GENEVE from a Gateway Load Balancer arrives on (port
    /// 6081; the mirror sessions' VXLAN inside), as well as `listen`.
    pub geneve_listen: Option<SocketAddr>,
    /// HTTP address of /healthz and /metrics.
    pub http: SocketAddr,
    /// Lake location: a path, file:// or s3:// URL (single-node mode).
    pub lake: String,
    /// Receive sockets bound with SO_REUSEPORT (0: one per core).
    pub sockets: usize,
    /// Datagrams read per recvmmsg call.
    pub recv_batch: usize,
    /// Requested SO_RCVBUF per socket, in bytes (capped by net.core.rmem_max).
    pub rcvbuf_bytes: usize,
    /// Only accept mirror traffic from these source CIDRs (empty: any).
    pub allowed_source_cidrs: Vec<IpNet>,
    /// Only accept these VNIs (empty: any).
    pub allowed_vnis: Vec<u32>,
    /// Batches that may wait for the sink before new ones are dropped.
    pub queue_batches: usize,
    /// Threads encoding batches for Kafka in parallel (0: one per core).
    pub encode_threads: usize,
    /// After SIGTERM, keep receiving (with /healthz at 503) this long before
    /// flushing: the NLB's deregistration delay.
    pub drain_ms: u64,
    /// Batching of rows into Arrow record batches.
    pub batch: BatchSection,
    /// Parquet files in the lake.
    pub files: FilesSection,
    /// Cluster mode: publish to Kafka instead of writing a lake.
    pub kafka: KafkaSection,
    /// The disk spool for what the sink (Kafka, or the lake writer) cannot
    /// take now.
    pub spool: SpoolSection,
    /// The live tail service (QUIC) of this collector's packets.
    pub tail: mirrorlake_tail::TailConfig,
}

/// `[kafka]`: cluster mode. Empty `brokers` means single-node mode (lake).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    /// Bootstrap brokers, `HOST:PORT[,...]`; set: publish to Kafka.
    pub brokers: String,
    /// Topic of packet batches.
    pub topic: String,
    /// Largest message sent; batches are split to stay under it. The topic's
    /// `max.message.bytes` must exceed it (checked at start-up).
    pub max_message_bytes: usize,
    /// ZSTD level of the messages (Arrow IPC body compression).
    pub zstd_level: i32,
    /// Bound of the producer's local queue, KiB (librdkafka's default is 1 GiB).
    pub queue_kbytes: usize,
    /// Partitions when the collector creates the topic (-1: broker default).
    pub partitions: i32,
    /// Replication factor when it creates the topic (-1: broker default).
    pub replication: i32,
    /// Wait this long at start-up for the topic check; when no broker
    /// answers by then the collector runs anyway (counting what it drops).
    pub startup_timeout_ms: u64,
    /// Any librdkafka option (TLS, SASL...), e.g. `"security.protocol" = "SSL"`.
    pub options: mirrorlake_kafka::KafkaOptions,
}

impl Default for KafkaSection {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: mirrorlake_kafka::DEFAULT_TOPIC.into(),
            max_message_bytes: mirrorlake_kafka::DEFAULT_MAX_MESSAGE_BYTES,
            zstd_level: 1,
            queue_kbytes: 128 * 1024,
            partitions: mirrorlake_kafka::DEFAULT_PARTITIONS,
            replication: -1,
            startup_timeout_ms: 10_000,
            options: Default::default(),
        }
    }
}

/// `[spool]`: the disk spool. With `dir` set, a batch the sink cannot take
/// now is written to the spool instead of being dropped, and replayed in
/// order when it can: in cluster mode when more than `inflight_kbytes` await
/// the brokers' ack (exactly once, also across a SIGKILL); in single-node
/// mode when the lake writer is behind (a slow or frozen object store).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSection {
    /// Directory of the spool (empty: no spool).
    pub dir: std::path::PathBuf,
    /// Bytes it may hold; beyond, batches are dropped and counted as
    /// `spool_full` (0: 10% of the file system's free space at start).
    pub max_bytes: u64,
    /// Flush appends and the cursor to the disk at most this long after
    /// they were written (0: before each returns). A killed process loses
    /// nothing either way; this bounds what a power loss may take.
    pub fsync_ms: u64,
    /// Message KiB awaiting the brokers' acknowledgement above which new
    /// batches go to the spool (what a SIGKILL can lose while Kafka is away).
    pub inflight_kbytes: usize,
}

impl Default for SpoolSection {
    fn default() -> Self {
        Self {
            dir: Default::default(),
            max_bytes: 0,
            fsync_ms: 1000,
            inflight_kbytes: 16 * 1024,
        }
    }
}

/// `[batch]`: when a record batch is cut.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// Rows per batch at most.
    pub max_rows: usize,
    /// Bytes per batch at most (frames plus row overhead).
    pub max_bytes: usize,
    /// A batch is cut when its oldest row is this old.
    pub max_age_ms: u64,
}

/// `[files]`: how lake files are written and rolled.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// Close a file at about this size.
    pub max_file_bytes: usize,
    /// Close a file this long after opening (bounds time to queryable).
    pub max_file_age_ms: u64,
    /// ZSTD level.
    pub zstd_level: i32,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            collector_id: hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "collector".into()),
            listen: SocketAddr::from(([0, 0, 0, 0], 4789)),
            geneve_listen: None,
            http: SocketAddr::from(([0, 0, 0, 0], 9090)),
            lake: "./mirrorlake-lake".into(),
            sockets: 0,
            recv_batch: 64,
            rcvbuf_bytes: 64 << 20,
            allowed_source_cidrs: Vec::new(),
            allowed_vnis: Vec::new(),
            queue_batches: 64,
            encode_threads: 0,
            drain_ms: 0,
            batch: BatchSection::default(),
            files: FilesSection::default(),
            kafka: KafkaSection::default(),
            spool: SpoolSection::default(),
            tail: mirrorlake_tail::TailConfig::default(),
        }
    }
}

impl Default for BatchSection {
    fn default() -> Self {
        let d = mirrorlake_schema::BatcherConfig::default();
        Self {
            max_rows: d.max_rows,
            max_bytes: d.max_bytes,
            max_age_ms: d.max_age.as_millis() as u64,
        }
    }
}

impl Default for FilesSection {
    fn default() -> Self {
        let p = mirrorlake_lake::RollPolicy::default();
        let f = mirrorlake_lake::FileConfig::default();
        Self {
            max_file_bytes: p.max_file_bytes,
            max_file_age_ms: p.max_file_age.as_millis() as u64,
            zstd_level: f.zstd_level,
            row_group_rows: f.row_group_rows,
        }
    }
}

impl Config {
    /// Threads that encode batches: `encode_threads`, or one per core.
    pub fn encoders(&self) -> usize {
        or_one_per_core(self.encode_threads)
    }

    /// Reads a TOML file (unknown keys are errors naming the key).
    pub fn from_file(path: &Path) -> Result<Self> {
        mirrorlake_ops::read_toml(path)
    }

    /// Checks values; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let fail =
            |field: &str, why: &str| -> Result<()> { bail!("invalid config: {field}: {why}") };
        if self.collector_id.is_empty() {
            fail("collector_id", "must not be empty")?;
        }
        if self.recv_batch == 0 || self.recv_batch > 1024 {
            fail("recv_batch", "must be between 1 and 1024")?;
        }
        if self.queue_batches == 0 {
            fail("queue_batches", "must be at least 1")?;
        }
        if self.encode_threads > 256 {
            fail("encode_threads", "must be at most 256")?;
        }
        if self.rcvbuf_bytes < 4096 {
            fail("rcvbuf_bytes", "must be at least 4096")?;
        }
        if self
            .geneve_listen
            .is_some_and(|g| g.port() == self.listen.port())
        {
            // SO_REUSEPORT would bind both, and share the datagrams between
            // the VXLAN and the GENEVE decoders.
            fail("geneve_listen", "must be another port than listen")?;
        }
        if let Some(v) = self.allowed_vnis.iter().find(|v| **v > 0x00ff_ffff) {
            fail("allowed_vnis", &format!("{v} is not a 24-bit VNI"))?;
        }
        if self.batch.max_rows == 0 {
            fail("batch.max_rows", "must be at least 1")?;
        }
        if self.batch.max_bytes < 16 * 1024 {
            fail("batch.max_bytes", "must be at least 16384")?;
        }
        if self.batch.max_age_ms == 0 {
            fail("batch.max_age_ms", "must be at least 1")?;
        }
        if self.files.max_file_age_ms == 0 {
            fail("files.max_file_age_ms", "must be at least 1")?;
        }
        if !(1..=22).contains(&self.files.zstd_level) {
            fail("files.zstd_level", "must be between 1 and 22")?;
        }
        if self.files.row_group_rows == 0 {
            fail("files.row_group_rows", "must be at least 1")?;
        }
        let k = &self.kafka;
        if !k.brokers.is_empty() {
            if k.brokers.split(',').any(|b| b.trim().is_empty()) {
                fail("kafka.brokers", "an empty entry in the broker list")?;
            }
            if k.topic.is_empty() {
                fail("kafka.topic", "must not be empty")?;
            }
            if k.max_message_bytes < 64 * 1024 {
                fail("kafka.max_message_bytes", "must be at least 65536")?;
            }
            if !(1..=22).contains(&k.zstd_level) {
                fail("kafka.zstd_level", "must be between 1 and 22")?;
            }
            if k.queue_kbytes < k.max_message_bytes / 1024 * 4 {
                fail(
                    "kafka.queue_kbytes",
                    "must hold at least 4 messages of kafka.max_message_bytes",
                )?;
            }
            if k.partitions == 0 || k.partitions < -1 {
                fail(
                    "kafka.partitions",
                    "must be -1 (broker default) or at least 1",
                )?;
            }
            if k.replication == 0 || k.replication < -1 {
                fail(
                    "kafka.replication",
                    "must be -1 (broker default) or at least 1",
                )?;
            }
        }
        if !self.spool.dir.as_os_str().is_empty() {
            if !k.brokers.is_empty()
                && (self.spool.inflight_kbytes < k.max_message_bytes / 1024
                    || self.spool.inflight_kbytes > k.queue_kbytes)
            {
                fail(
                    "spool.inflight_kbytes",
                    "must be between kafka.max_message_bytes/1024 and kafka.queue_kbytes",
                )?;
            }
            if self.spool.max_bytes != 0 && self.spool.max_bytes < 4 * k.max_message_bytes as u64 {
                fail(
                    "spool.max_bytes",
                    "must hold at least 4 messages of kafka.max_message_bytes (or 0: 10% of the free disk)",
                )?;
            }
        }
        self.tail.validate().context("invalid config")?;
        Ok(())
    }

    /// Batcher settings.
    pub fn batcher(&self) -> mirrorlake_schema::BatcherConfig {
        mirrorlake_schema::BatcherConfig {
            max_rows: self.batch.max_rows,
            max_bytes: self.batch.max_bytes,
            max_age: Duration::from_millis(self.batch.max_age_ms),
        }
    }

    /// Lake file roll policy.
    pub fn roll_policy(&self) -> mirrorlake_lake::RollPolicy {
        mirrorlake_lake::RollPolicy {
            max_file_bytes: self.files.max_file_bytes,
            max_file_age: Duration::from_millis(self.files.max_file_age_ms),
        }
    }

    /// Parquet encoding.
    pub fn file_config(&self) -> mirrorlake_lake::FileConfig {
        mirrorlake_lake::FileConfig {
            zstd_level: self.files.zstd_level,
            row_group_rows: self.files.row_group_rows,
            ..mirrorlake_lake::FileConfig::default()
        }
    }

    /// Kafka client settings (cluster mode), when `kafka.brokers` is set.
    pub fn kafka_settings(&self) -> Option<mirrorlake_kafka::KafkaSettings> {
        (!self.kafka.brokers.is_empty()).then(|| mirrorlake_kafka::KafkaSettings {
            brokers: self.kafka.brokers.clone(),
            topic: self.kafka.topic.clone(),
            options: self.kafka.options.clone(),
        })
    }

    /// Number of receive sockets to open.
    pub fn socket_count(&self) -> usize {
        or_one_per_core(self.sockets)
    }
}

/// `n`, or the number of cores when `n` is 0.
fn or_one_per_core(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let e = toml::from_str::<Config>("listne = \"0.0.0.0:1\"").expect_err("typo");
        assert!(e.to_string().contains("listne"), "{e}");
        let e = toml::from_str::<Config>("[batch]\nmax_rowz = 1").expect_err("typo");
        assert!(e.to_string().contains("max_rowz"), "{e}");
    }

    #[test]
    fn validate_names_the_field() {
        let mut c = Config {
            allowed_vnis: vec![1 << 24],
            ..Config::default()
        };
        assert!(
            c.validate()
                .expect_err("bad")
                .to_string()
                .contains("allowed_vnis")
        );
        c.allowed_vnis.clear();
        c.geneve_listen = Some(c.listen);
        assert!(
            c.validate()
                .expect_err("same port")
                .to_string()
                .contains("geneve_listen")
        );
        c.geneve_listen = None;
        c.files.zstd_level = 99;
        assert!(
            c.validate()
                .expect_err("bad")
                .to_string()
                .contains("files.zstd_level")
        );
        c.files.zstd_level = 3;
        c.spool.dir = "/var/spool/mirrorlake".into();
        c.spool.max_bytes = 1000;
        let e = c.validate().expect_err("tiny spool").to_string();
        assert!(e.contains("spool.max_bytes"), "{e}");
        c.spool.max_bytes = 0;
        assert!(c.validate().is_ok());
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn parses_a_full_file() {
        let c: Config = toml::from_str(
            r#"
            collector_id = "c1"
            listen = "[::]:4789"
            allowed_source_cidrs = ["10.0.0.0/8", "fd00::/8"]
            allowed_vnis = [1, 2]
            [batch]
            max_age_ms = 200
            [files]
            max_file_age_ms = 5000
            [kafka]
            brokers = "127.0.0.1:9092"
            options = { "security.protocol" = "SSL" }
            "#,
        )
        .expect("valid");
        assert_eq!(c.collector_id, "c1");
        assert_eq!(c.allowed_source_cidrs.len(), 2);
        assert_eq!(c.batch.max_age_ms, 200);
        assert_eq!(c.batch.max_rows, BatchSection::default().max_rows);
        let k = c.kafka_settings().expect("cluster mode");
        assert_eq!(k.options["security.protocol"], "SSL");
        assert_eq!(k.topic, "mirrorlake.packets");
        assert!(c.validate().is_ok());
        let bad = Config {
            kafka: KafkaSection {
                queue_kbytes: 1,
                ..c.kafka.clone()
            },
            ..c
        };
        assert!(
            bad.validate()
                .expect_err("tiny queue")
                .to_string()
                .contains("kafka.queue_kbytes")
        );
    }

    #[test]
    fn the_terraform_template_is_a_valid_config() {
        let path = mirrorlake_schema::manifest_dir!()
            .join("../terraform/modules/collectors/templates/collector.toml.tftpl");
        let text = std::fs::read_to_string(path).expect("template");
        let rendered = mirrorlake_ops::render_template_placeholders(&text);
        let c: Config = toml::from_str(&rendered).expect("the template parses as a config");
        // Placeholders make values meaningless; the keys are what is checked.
        assert!(c.kafka_settings().is_some(), "cluster mode");
        assert_eq!(c.kafka.topic, "x");
    }
}
