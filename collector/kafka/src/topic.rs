//! The topic check both binaries run at start-up: create the topic with the
//! right limits when it is absent, and refuse to run against a topic whose
//! `max.message.bytes` is below what the collectors send.

use crate::settings::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::time::Duration;

/// Room for the record-batch framing and headers around one message.
pub const RECORD_OVERHEAD_BYTES: usize = 16 * 1024;

/// What the topic must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    /// Partitions when created (-1: the broker's `num.partitions`).
    pub partitions: i32,
    /// Replication factor when created (-1: the broker's default).
    pub replication: i32,
    /// Largest message the collectors send (`kafka.max_message_bytes`).
    pub max_message_bytes: usize,
}

impl TopicSpec {
    /// The topic's `max.message.bytes` needed for these messages.
    pub fn needed_topic_bytes(&self) -> usize {
        self.max_message_bytes + RECORD_OVERHEAD_BYTES
    }
}

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    /// Partitions of the topic.
    pub partitions: usize,
    /// Its `max.message.bytes`.
    pub max_message_bytes: usize,
    /// Whether this call created it.
    pub created: bool,
}

/// Why the topic cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// No broker answered.
    #[error("kafka brokers {brokers} unreachable: {reason}")]
    Unreachable {
        /// The bootstrap list.
        brokers: String,
        /// librdkafka's words.
        reason: String,
    },
    /// Creating or describing the topic failed.
    #[error("kafka topic {topic}: {reason}")]
    Admin {
        /// The topic.
        topic: String,
        /// What failed.
        reason: String,
    },
    /// The topic's message limit is below the collectors' messages.
    #[error(
        "kafka topic {topic}: max.message.bytes is {configured}, but messages of up to kafka.max_message_bytes = {ours} need at least {needed}: raise the topic's max.message.bytes (kafka-configs --alter --entity-type topics --entity-name {topic} --add-config max.message.bytes={needed}) or lower kafka.max_message_bytes"
    )]
    MessageLimit {
        /// The topic.
        topic: String,
        /// Its max.message.bytes.
        configured: usize,
        /// Our message cap.
        ours: usize,
        /// What it needs.
        needed: usize,
    },
}

/// Checks (and if absent creates) `settings.topic`.
pub async fn ensure_topic(
    settings: &KafkaSettings,
    spec: TopicSpec,
    timeout: Duration,
) -> Result<TopicInfo, TopicError> {
    let topic = settings.topic.as_str();
    let admin_err = |reason: String| TopicError::Admin {
        topic: topic.to_owned(),
        reason,
    };
    let admin: AdminClient<DefaultClientContext> = settings
        .admin_config()
        .create()
        .map_err(|e| admin_err(format!("client: {e}")))?;
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let partitions = |admin: &AdminClient<DefaultClientContext>| -> Result<usize, TopicError> {
        let md = admin
            .inner()
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| TopicError::Unreachable {
                brokers: settings.brokers.clone(),
                reason: e.to_string(),
            })?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len()))
    };
    let mut found = partitions(&admin)?;
    let mut created = false;
    if found == 0 {
        let needed = spec.needed_topic_bytes().to_string();
        let new = NewTopic::new(
            topic,
            spec.partitions,
            TopicReplication::Fixed(spec.replication),
        )
        .set("max.message.bytes", &needed);
        let results = admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| admin_err(format!("create: {e}")))?;
        for r in results {
            match r {
                Ok(_) => created = true,
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(admin_err(format!("create: {code}"))),
            }
        }
        // Metadata reaches every broker shortly after creation.
        for _ in 0..50 {
            found = partitions(&admin)?;
            if found > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if found == 0 {
            return Err(admin_err("created, but no partitions visible".into()));
        }
        tracing::info!(topic, partitions = found, "kafka topic created");
    }
    let configs = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await
        .map_err(|e| admin_err(format!("describe: {e}")))?;
    let configured = configs
        .into_iter()
        .filter_map(Result::ok)
        .find_map(|r| {
            r.get("max.message.bytes")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<usize>().ok())
        })
        .ok_or_else(|| admin_err("describe: no max.message.bytes".into()))?;
    if configured < spec.needed_topic_bytes() {
        return Err(TopicError::MessageLimit {
            topic: topic.to_owned(),
            configured,
            ours: spec.max_message_bytes,
            needed: spec.needed_topic_bytes(),
        });
    }
    Ok(TopicInfo {
        partitions: found,
        max_message_bytes: configured,
        created,
    })
}
