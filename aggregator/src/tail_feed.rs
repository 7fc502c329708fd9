//! Feeds the live tail in cluster mode: a Kafka reader of its own, apart
//! from the lake writer's consumer group. It assigns itself every partition
//! of the topic at the end (the tail starts at "now"), never joins the
//! group and never commits, so it cannot move the lake writer's offsets or
//! trigger a rebalance. Messages are decoded only while a client is attached.

use anyhow::{Context, Result};
use mirrorlake_kafka::KafkaSettings;
use mirrorlake_kafka::Message;
use mirrorlake_kafka::{BaseConsumer, Consumer};
use mirrorlake_kafka::{Offset, TopicPartitionList};
use mirrorlake_tail::Hub;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the topic's partition count is checked.
const METADATA_EVERY: Duration = Duration::from_secs(30);

/// Reads the topic from its end into `hub` until `stop`.
pub fn run(kafka: &KafkaSettings, id: &str, hub: Hub, stop: Arc<AtomicBool>) -> Result<()> {
    let consumer: BaseConsumer<mirrorlake_kafka::Client> = kafka
        .consumer_config(&format!("mirrorlake-tail-{id}"), &format!("{id}-tail"))
        .set("auto.offset.reset", "latest")
        .create_with_context(mirrorlake_kafka::Client::default())
        .context("tail: kafka consumer")?;
    let topic = kafka.topic.as_str();
    let mut partitions = 0usize;
    let mut checked: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if checked.is_none_or(|t| t.elapsed() >= METADATA_EVERY) {
            checked = Some(Instant::now());
            match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
                Ok(md) => {
                    let n = md
                        .topics()
                        .iter()
                        .find(|t| t.name() == topic)
                        .map_or(0, |t| t.partitions().len());
                    if n != partitions {
                        let mut tpl = TopicPartitionList::new();
                        for p in 0..n {
                            tpl.add_partition_offset(topic, p as i32, Offset::End)?;
                        }
                        consumer.assign(&tpl).context("tail: assign partitions")?;
                        tracing::info!(partitions = n, "live tail reading the topic from its end");
                        partitions = n;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "tail: kafka metadata"),
            }
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) if hub.has_clients() => {
                let Some(payload) = msg.payload() else {
                    continue;
                };
                match mirrorlake_schema::message::decode(payload) {
                    Ok(batches) => batches.iter().for_each(|b| hub.publish(b)),
                    Err(e) => tracing::debug!(error = %e, "tail: not a packet batch"),
                }
            }
            Some(Err(e)) => tracing::debug!(error = %e, "tail: kafka poll"),
            _ => {}
        }
    }
    Ok(())
}
