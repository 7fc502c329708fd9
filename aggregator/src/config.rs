//! `mirrorlake-aggregator run` configuration: an optional TOML file
//! (`--config`), overridden by flags and environment variables. Unknown keys
//! and invalid values stop the aggregator with a message naming the field.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

/// The file's tree (every key optional).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This aggregator's id (default: host name and pid).
    pub id: String,
    /// Lake location: a path, file:// or s3://bucket/prefix.
    pub lake: String,
    /// HTTP address of /healthz and /metrics.
    pub http: SocketAddr,
    /// Kafka.
    pub kafka: KafkaSection,
    /// Files.
    pub files: FilesSection,
    /// The live tail service (QUIC), fed by a Kafka reader of its own.
    pub tail: mirrorlake_tail::TailConfig,
}

/// `[kafka]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    /// Bootstrap brokers, `HOST:PORT[,...]`.
    pub brokers: String,
    /// Topic of packet batches.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Largest message the collectors send (their `kafka.max_message_bytes`).
    pub max_message_bytes: usize,
    /// Any librdkafka option (TLS, SASL, fetch sizes...).
    pub options: mirrorlake_kafka::KafkaOptions,
}

/// `[files]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// End an offset range (and its files) at about this many bytes.
    pub max_file_bytes: usize,
    /// End an offset range this long after its first record.
    pub max_file_age_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            id: String::new(),
            lake: String::new(),
            http: SocketAddr::from(([0, 0, 0, 0], 9091)),
            kafka: KafkaSection::default(),
            files: FilesSection::default(),
            tail: mirrorlake_tail::TailConfig::default(),
        }
    }
}

impl Default for KafkaSection {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: mirrorlake_kafka::DEFAULT_TOPIC.into(),
            group: "mirrorlake-aggregator".into(),
            max_message_bytes: mirrorlake_kafka::DEFAULT_MAX_MESSAGE_BYTES,
            options: Default::default(),
        }
    }
}

impl Default for FilesSection {
    fn default() -> Self {
        Self {
            max_file_bytes: 128 << 20,
            max_file_age_ms: 50_000,
        }
    }
}

impl Config {
    /// Reads a TOML file (unknown keys are errors naming the key).
    pub fn from_file(path: &Path) -> Result<Self> {
        mirrorlake_ops::read_toml(path)
    }

    /// Checks values; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let fail =
            |field: &str, why: &str| -> Result<()> { bail!("invalid config: {field}: {why}") };
        if self.lake.is_empty() {
            fail(
                "lake",
                "required (--lake, MIRRORLAKE_LAKE or `lake` in the file)",
            )?;
        }
        if self.kafka.brokers.is_empty() {
            fail(
                "kafka.brokers",
                "required (--kafka, MIRRORLAKE_KAFKA or `kafka.brokers` in the file)",
            )?;
        }
        if self.kafka.topic.is_empty() {
            fail("kafka.topic", "must not be empty")?;
        }
        if self.kafka.group.is_empty() {
            fail("kafka.group", "must not be empty")?;
        }
        if self.files.max_file_bytes < 1 << 20 {
            fail("files.max_file_bytes", "must be at least 1048576")?;
        }
        if self.files.max_file_age_ms == 0 {
            fail("files.max_file_age_ms", "must be at least 1")?;
        }
        self.tail.validate().context("invalid config")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_fields() {
        let c: Config = toml::from_str(
            r#"
            lake = "s3://b/p"
            [kafka]
            brokers = "b1:9092,b2:9092"
            options = { "security.protocol" = "SSL" }
            [files]
            max_file_age_ms = 60000
            "#,
        )
        .expect("valid");
        assert!(c.validate().is_ok());
        assert_eq!(c.kafka.topic, "mirrorlake.packets");
        let e = toml::from_str::<Config>("[kafka]\nbrokerz = \"x\"").expect_err("typo");
        assert!(e.to_string().contains("brokerz"), "{e}");
        let bad = Config {
            files: FilesSection {
                max_file_age_ms: 0,
                ..c.files.clone()
            },
            ..c
        };
        let e = bad.validate().expect_err("zero age").to_string();
        assert!(e.contains("files.max_file_age_ms"), "{e}");
        let e = Config::default()
            .validate()
            .expect_err("no lake")
            .to_string();
        assert!(e.contains("lake"), "{e}");
    }

    #[test]
    fn the_terraform_template_is_a_valid_config() {
        let path = mirrorlake_schema::manifest_dir!()
            .join("../terraform/modules/aggregators/templates/aggregator.toml.tftpl");
        let text = std::fs::read_to_string(path).expect("template");
        let rendered = mirrorlake_ops::render_template_placeholders(&text);
        let c: Config = toml::from_str(&rendered).expect("the template parses as a config");
        assert_eq!(c.kafka.brokers, "x");
        assert!(c.kafka.options.contains_key("fetch.max.bytes"));
        assert!(c.lake.starts_with("s3://"));
    }
}
