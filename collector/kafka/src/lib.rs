//! mirrorlake's Kafka edge, shared by the collector (producer) and the
//! aggregator (consumer): client settings with safe defaults and a door for
//! any librdkafka option ([`KafkaSettings`]), the topic check and creation
//! ([`ensure_topic`]), the batch headers ([`BatchHeaders`]), the bounded,
//! never-blocking publisher ([`Publisher`]) with its disk spool
//! ([`SpoolLink`]: replays exactly once across crashes), and Amazon MSK IAM tokens for
//! SASL/OAUTHBEARER ([`oauth_token`], every client context's token source).
//!
//! Messages themselves are framed by `mirrorlake_schema::message`.

mod headers;
pub mod msk_iam;
mod oauth;
mod publisher;
mod settings;
mod spool;
mod topic;

pub use headers::BatchHeaders;
pub use oauth::{Client, ConsumerHooks, Hooks, NoHooks, ProducerHooks, token as oauth_token};
pub use publisher::{EncodedBatch, PublishObserver, Publisher, Rejected};
// The rdkafka items the daemons use, and only those: the Kafka client stays
// behind this crate.
pub use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, Rebalance};
pub use rdkafka::error::KafkaError;
pub use rdkafka::message::Message;
pub use rdkafka::statistics::Statistics;
pub use rdkafka::{Offset, TopicPartitionList};
pub use settings::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PARTITIONS, DEFAULT_TOPIC, KafkaOptions, KafkaSettings,
    is_secret_option, parse_option,
};
pub use spool::{SpoolLink, SpoolStats};
pub use topic::{TopicError, TopicSpec, ensure_topic};
