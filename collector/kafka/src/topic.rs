//! The topic check both binaries run at start-up: create the topic with the
//! right limits when it is absent, and refuse to run against a topic whose
//! `max.message.bytes` is below what the collectors send.

use crate::oauth::{Client, Hooks, NoHooks, ProducerHooks};
use crate::settings::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The admin client's context: keeps librdkafka's last error report (such as
/// "SASL authentication error: ... invalid credentials"), so that a failed
/// start-up says why instead of only "broker transport failure".
#[derive(Debug, Default)]
struct LastError(Mutex<Reports>);

#[derive(Debug, Default)]
struct Reports {
    /// The first report that retrying cannot fix (credentials, TLS).
    fatal: Option<String>,
    /// The latest report.
    last: Option<String>,
}

impl Hooks for LastError {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka client error during the topic check");
        if let Ok(mut r) = self.0.lock() {
            if r.fatal.is_none() && is_fatal(reason) {
                r.fatal = Some(reason.to_owned());
            }
            r.last = Some(reason.to_owned());
        }
    }
}

/// The probe sends nothing: no delivery reports to handle.
impl ProducerHooks for LastError {
    type Opaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

impl LastError {
    /// (fatal report, latest report).
    fn get(&self) -> (Option<String>, Option<String>) {
        self.0
            .lock()
            .map(|r| (r.fatal.clone(), r.last.clone()))
            .unwrap_or_default()
    }
}

/// Whether librdkafka's report means retrying cannot help (credentials, TLS).
fn is_fatal(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    // "Failed to acquire SASL OAUTHBEARER token: ...": our MSK IAM token
    // source said why (no region, no credentials).
    [
        "authentication",
        "ssl handshake",
        "certificate verify",
        "oauthbearer token",
    ]
    .iter()
    .any(|s| r.contains(s))
}

/// Waits until a broker answers a metadata request (at most `timeout`),
/// serving librdkafka's events meanwhile: an authentication or TLS failure
/// ends the wait at once, in librdkafka's words (an admin client alone never
/// delivers them, so a wrong password looked like an unreachable broker).
fn reach_brokers(settings: &KafkaSettings, timeout: Duration) -> Result<(), TopicError> {
    let unreachable = |reason: String| TopicError::Unreachable {
        brokers: settings.brokers.clone(),
        reason,
    };
    let probe: BaseProducer<Client<LastError>> = settings
        .admin_config()
        .create_with_context(Client(LastError::default()))
        .map_err(|e| unreachable(format!("client: {e}")))?;
    let deadline = Instant::now() + timeout;
    loop {
        let err = match probe.client().fetch_metadata(None, Duration::from_secs(1)) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        probe.poll(Duration::from_millis(100));
        let (fatal, last) = probe.context().0.get();
        match (fatal, last) {
            (Some(why), _) => {
                return Err(TopicError::Refused {
                    brokers: settings.brokers.clone(),
                    reason: why,
                });
            }
            (None, last) if Instant::now() >= deadline => {
                return Err(unreachable(match last {
                    Some(why) => format!("{err}; librdkafka reported: {why}"),
                    None => err.to_string(),
                }));
            }
            _ => {}
        }
    }
}

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
    /// Create the topic when absent (collectors, whose `kafka.partitions`
    /// sizes it); else [`TopicError::Missing`] (aggregators).
    pub create: bool,
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
    /// A broker answered but refused us: credentials or TLS (retrying
    /// cannot help).
    #[error(
        "kafka brokers {brokers} refused the connection (check the SASL/TLS --kafka-option settings): {reason}"
    )]
    Refused {
        /// The bootstrap list.
        brokers: String,
        /// librdkafka's words.
        reason: String,
    },
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
    /// The topic does not exist and this caller does not create it.
    #[error(
        "kafka topic {topic} does not exist yet: the first collector creates it with its kafka.partitions (or create it by hand)"
    )]
    Missing {
        /// The topic.
        topic: String,
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
    reach_brokers(settings, timeout)?;
    let admin: AdminClient<Client> = settings
        .admin_config()
        .create_with_context(Client(NoHooks))
        .map_err(|e| admin_err(format!("client: {e}")))?;
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let partitions = |admin: &AdminClient<Client>| -> Result<usize, TopicError> {
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
    if found == 0 && !spec.create {
        return Err(TopicError::Missing {
            topic: topic.to_owned(),
        });
    }
    if spec.create && spec.partitions > 0 && found > 0 && found < spec.partitions as usize {
        // Adding partitions needs AlterTopic, which the collectors' role
        // does not have; the topic works as it is, with less parallelism.
        tracing::warn!(
            topic,
            partitions = found,
            wanted = spec.partitions,
            "kafka topic has fewer partitions than kafka.partitions: it is left as it is (aggregators beyond {found} sit idle); add partitions with kafka-topics.sh --alter --topic {topic} --partitions {}",
            spec.partitions
        );
    }
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
