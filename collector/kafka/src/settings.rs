//! Client settings: the brokers, the topic, mirrorlake's defaults for
//! librdkafka, and any librdkafka option the user passes (TLS, SASL, ...).

use rdkafka::ClientConfig;
use std::collections::BTreeMap;

/// The default topic of packet batches.
pub const DEFAULT_TOPIC: &str = "mirrorlake.packets";

/// Partitions of the topic when a collector or aggregator creates it.
pub const DEFAULT_PARTITIONS: i32 = 12;

/// Messages are cut below this many bytes by default: under the broker's
/// default `message.max.bytes` (1 MiB) with room for the record overhead.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 900 * 1024;

/// Parses one `key=value` librdkafka option. The error names the key but
/// never shows a value (it may be a password).
pub fn parse_option(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        Some(_) => Err("--kafka-option: the key before '=' is empty (expected KEY=VALUE)".into()),
        None => Err(
            "--kafka-option: expected KEY=VALUE, found no '=' (the text is not shown: it may be a secret)"
                .into(),
        ),
    }
}

/// Whether a librdkafka option holds a secret: its value is never shown.
pub fn is_secret_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "sasl.oauthbearer.config",
        "jaas",
        "ssl.key.pem",
        "token",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// librdkafka options set by the user (`--kafka-option`, `[kafka.options]`).
/// Its `Debug` shows `<redacted>` for every value that may be a secret, so a
/// settings or config dump in a log never prints a password.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct KafkaOptions(pub BTreeMap<String, String>);

impl std::ops::Deref for KafkaOptions {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KafkaOptions {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret_option(k) { "<redacted>" } else { v };
                (k, shown)
            }))
            .finish()
    }
}

/// Where and how to reach Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `HOST:PORT[,...]`.
    pub brokers: String,
    /// Topic of packet batches.
    pub topic: String,
    /// librdkafka options set by the user; they win over mirrorlake's defaults.
    pub options: KafkaOptions,
}

impl KafkaSettings {
    /// Settings for `brokers` and `topic` with no extra options.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            options: KafkaOptions::default(),
        }
    }

    /// Adds `key=value` librdkafka options (from `--kafka-option`).
    pub fn with_option_args(mut self, args: &[String]) -> Result<Self, String> {
        for a in args {
            let (k, v) = parse_option(a)?;
            self.options.insert(k, v);
        }
        Ok(self)
    }

    fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in self.options.iter() {
            c.set(k, v);
        }
        c
    }

    /// Producer configuration: idempotent (acks=all), no Kafka compression
    /// (the Arrow IPC body is compressed already), a bounded local queue
    /// (librdkafka's default is 1 GiB), and no message timeout: a message
    /// leaves the queue only delivered, or counted as dropped at shutdown.
    /// When the brokers are away the queue fills and new batches are refused
    /// (and counted) at once.
    /// `batch.size` holds one message of `max_message_bytes`: the broker
    /// checks its limit against a whole producer batch, not one message.
    pub fn producer_config(
        &self,
        client_id: &str,
        queue_kbytes: usize,
        max_message_bytes: usize,
    ) -> ClientConfig {
        let queue = queue_kbytes.to_string();
        let batch = (max_message_bytes + crate::topic::RECORD_OVERHEAD_BYTES).to_string();
        self.config(&[
            ("client.id", client_id),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.type", "none"),
            ("linger.ms", "20"),
            ("queue.buffering.max.kbytes", &queue),
            ("queue.buffering.max.messages", "100000"),
            ("message.timeout.ms", "0"),
            ("message.max.bytes", "16777216"),
            ("batch.size", &batch),
            ("statistics.interval.ms", "5000"),
        ])
    }

    /// Consumer configuration: manual commits (only after the file is in the
    /// lake), cooperative rebalancing, from the earliest record when the group
    /// has no offset yet.
    pub fn consumer_config(&self, group: &str, client_id: &str) -> ClientConfig {
        self.config(&[
            ("group.id", group),
            ("client.id", client_id),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("isolation.level", "read_committed"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("max.poll.interval.ms", "300000"),
            ("fetch.max.bytes", "52428800"),
            ("max.partition.fetch.bytes", "16777216"),
            ("queued.max.messages.kbytes", "65536"),
        ])
    }

    /// Configuration for admin calls (topic checks).
    pub fn admin_config(&self) -> ClientConfig {
        self.config(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_in_debug_or_errors() {
        let s = KafkaSettings::new("127.0.0.1:1", DEFAULT_TOPIC)
            .with_option_args(&[
                "sasl.password=hunter2".into(),
                "sasl.oauthbearer.config=principal=x secret=hunter3".into(),
                "ssl.key.password=hunter4".into(),
                "sasl.username=alice".into(),
            ])
            .expect("valid");
        let shown = format!("{s:?} {:#?}", s.options);
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("alice") && shown.contains("<redacted>"),
            "{shown}"
        );
        for bad in ["hunter5", "=hunter6"] {
            let e = parse_option(bad).expect_err("not KEY=VALUE");
            assert!(!e.contains("hunter"), "{e}");
            assert!(e.contains("--kafka-option"), "{e}");
        }
    }

    #[test]
    fn user_options_win_over_defaults() {
        let s = KafkaSettings::new("127.0.0.1:1", DEFAULT_TOPIC)
            .with_option_args(&["linger.ms=5".into(), "security.protocol = SSL".into()])
            .expect("valid");
        let c = s.producer_config("c1", 1024, 900 * 1024);
        assert_eq!(c.get("linger.ms"), Some("5"));
        assert_eq!(c.get("security.protocol"), Some("SSL"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("queue.buffering.max.kbytes"), Some("1024"));
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:1"));
    }

    #[test]
    fn bad_option_is_named() {
        let e = KafkaSettings::new("b", "t")
            .with_option_args(&["nonsense".into()])
            .expect_err("no =");
        assert!(
            e.contains("--kafka-option") && e.contains("KEY=VALUE"),
            "{e}"
        );
        assert!(!e.contains("nonsense"), "the text may be a secret: {e}");
    }
}
