//! Range manifests: the record of a decided file boundary. Before the files
//! of a Kafka offset range become visible, the aggregator creates
//! `_mirrorlake/kafka/<topic>/<partition>/<first offset>.json` naming the
//! range's last offset; whoever consumes that partition from `first` again
//! (after a crash, a rebalance, a replay) reads it and cuts exactly the same
//! range, so it writes exactly the same files under the same names.
//! Creation is conditional (`If-None-Match: *`), so of two owners racing on
//! one range only one decides it. See ARCHITECTURE.md, "Exactly once".

use mirrorlake_lake::Lake;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

/// One decided range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Kafka topic.
    pub topic: String,
    /// Kafka partition.
    pub partition: i32,
    /// First offset of the range.
    pub first_offset: i64,
    /// Last offset of the range (inclusive).
    pub last_offset: i64,
    /// Rows in the range's files.
    pub rows: u64,
    /// The range's files (object paths).
    pub files: Vec<String>,
    /// The aggregator that decided it.
    pub writer: String,
}

/// The outcome of [`create`].
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// This call decided the range.
    New,
    /// The range was already decided; here is how.
    Existing(Manifest),
}

fn folder(lake: &Lake, topic: &str, partition: i32) -> Path {
    lake.root
        .clone()
        .join("_mirrorlake")
        .join("kafka")
        .join(topic)
        .join(format!("{partition:05}"))
}

fn path(lake: &Lake, topic: &str, partition: i32, first_offset: i64) -> Path {
    folder(lake, topic, partition).join(format!("{first_offset:020}.json"))
}

/// Where undecodable records of a partition are kept (never dropped).
pub fn dead_letter_path(lake: &Lake, topic: &str, partition: i32, offset: i64) -> Path {
    folder(lake, topic, partition)
        .join("dead-letter")
        .join(format!("{offset:020}.bin"))
}

/// The manifest of the range of `partition` starting at `first_offset`.
pub async fn get(
    lake: &Lake,
    topic: &str,
    partition: i32,
    first_offset: i64,
) -> anyhow::Result<Option<Manifest>> {
    match lake
        .store
        .get(&path(lake, topic, partition, first_offset))
        .await
    {
        Ok(r) => Ok(Some(serde_json::from_slice(&r.bytes().await?)?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records `m` unless its range was already decided.
pub async fn create(lake: &Lake, m: &Manifest) -> anyhow::Result<Created> {
    let p = path(lake, &m.topic, m.partition, m.first_offset);
    let body = PutPayload::from(serde_json::to_vec_pretty(m)?);
    let opts = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match lake.store.put_opts(&p, body, opts).await {
        Ok(_) => Ok(Created::New),
        Err(object_store::Error::AlreadyExists { .. }) => {
            match get(lake, &m.topic, m.partition, m.first_offset).await? {
                Some(existing) => Ok(Created::Existing(existing)),
                None => anyhow::bail!("manifest {p} exists and vanished"),
            }
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_decision_wins() {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        let m = Manifest {
            topic: "t".into(),
            partition: 3,
            first_offset: 100,
            last_offset: 199,
            rows: 5,
            files: vec!["a".into()],
            writer: "w1".into(),
        };
        assert_eq!(get(&lake, "t", 3, 100).await.expect("get"), None);
        assert_eq!(create(&lake, &m).await.expect("create"), Created::New);
        let other = Manifest {
            last_offset: 150,
            writer: "w2".into(),
            ..m.clone()
        };
        assert_eq!(
            create(&lake, &other).await.expect("create"),
            Created::Existing(m.clone())
        );
        assert_eq!(get(&lake, "t", 3, 100).await.expect("get"), Some(m));
    }
}
