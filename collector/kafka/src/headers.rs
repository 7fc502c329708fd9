//! Kafka record headers of a packet-batch message: what a consumer, or a
//! human with `kafka-console-consumer --property print.headers=true`, can
//! learn without decoding the body. Values are ASCII decimal.

use rdkafka::message::{Header, Headers, OwnedHeaders};

/// The headers of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHeaders {
    /// Record schema version of the body.
    pub schema_version: u16,
    /// The producing collector.
    pub collector: String,
    /// Batch sequence number within the collector's run.
    pub batch_seq: u64,
    /// Part index when a batch was split to fit the message size limit.
    pub part: u32,
    /// Rows in this message.
    pub rows: u64,
    /// Smallest and largest `ts` (µs since the epoch) in this message.
    pub ts_min_us: i64,
    /// See `ts_min_us`.
    pub ts_max_us: i64,
    /// A message replayed from a collector's disk spool: `SPOOL-ID:SEQ`, the
    /// record's id for ever (how a restarted collector finds which of its
    /// spooled messages the brokers already hold).
    pub spool: Option<String>,
}

const SCHEMA: &str = "ml-schema-version";
const COLLECTOR: &str = "ml-collector";
const SEQ: &str = "ml-batch-seq";
const PART: &str = "ml-batch-part";
const ROWS: &str = "ml-rows";
const TS_MIN: &str = "ml-ts-min-us";
const TS_MAX: &str = "ml-ts-max-us";
const SPOOL: &str = "ml-spool";

impl BatchHeaders {
    /// As Kafka headers.
    pub fn to_kafka(&self) -> OwnedHeaders {
        let num = |h: OwnedHeaders, key: &str, v: String| {
            h.insert(Header {
                key,
                value: Some(v.as_bytes()),
            })
        };
        let h = OwnedHeaders::new_with_capacity(7);
        let h = num(h, SCHEMA, self.schema_version.to_string());
        let h = h.insert(Header {
            key: COLLECTOR,
            value: Some(self.collector.as_bytes()),
        });
        let h = num(h, SEQ, self.batch_seq.to_string());
        let h = num(h, PART, self.part.to_string());
        let h = num(h, ROWS, self.rows.to_string());
        let h = num(h, TS_MIN, self.ts_min_us.to_string());
        let h = num(h, TS_MAX, self.ts_max_us.to_string());
        match &self.spool {
            Some(id) => h.insert(Header {
                key: SPOOL,
                value: Some(id.as_bytes()),
            }),
            None => h,
        }
    }

    /// As `KEY=VALUE` lines (what the disk spool stores beside a message).
    pub fn to_lines(&self) -> Vec<u8> {
        let mut out = String::new();
        for (k, v) in [
            (SCHEMA, self.schema_version.to_string()),
            (COLLECTOR, self.collector.clone()),
            (SEQ, self.batch_seq.to_string()),
            (PART, self.part.to_string()),
            (ROWS, self.rows.to_string()),
            (TS_MIN, self.ts_min_us.to_string()),
            (TS_MAX, self.ts_max_us.to_string()),
        ] {
            out.push_str(k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Reads [`to_lines`](Self::to_lines) back.
    pub fn from_lines(b: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(b).ok()?;
        let get = |key: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        };
        Self::from_getter(get)
    }

    /// Reads them back; `None` when a header is missing or malformed.
    pub fn from_kafka(h: &impl Headers) -> Option<Self> {
        let get = |key: &str| -> Option<&str> {
            h.iter()
                .find(|x| x.key == key)
                .and_then(|x| x.value)
                .and_then(|v| std::str::from_utf8(v).ok())
        };
        let mut b = Self::from_getter(get)?;
        b.spool = get(SPOOL).map(str::to_owned);
        Some(b)
    }

    fn from_getter<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        Some(Self {
            schema_version: get(SCHEMA)?.parse().ok()?,
            collector: get(COLLECTOR)?.to_owned(),
            batch_seq: get(SEQ)?.parse().ok()?,
            part: get(PART)?.parse().ok()?,
            rows: get(ROWS)?.parse().ok()?,
            ts_min_us: get(TS_MIN)?.parse().ok()?,
            ts_max_us: get(TS_MAX)?.parse().ok()?,
            spool: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = BatchHeaders {
            schema_version: 1,
            collector: "c-1".into(),
            batch_seq: 42,
            part: 1,
            rows: 8192,
            ts_min_us: 1_700_000_000_000_000,
            ts_max_us: 1_700_000_000_500_000,
            spool: None,
        };
        assert_eq!(BatchHeaders::from_kafka(&b.to_kafka()), Some(b.clone()));
        assert_eq!(BatchHeaders::from_lines(&b.to_lines()), Some(b.clone()));
        let replayed = BatchHeaders {
            spool: Some("0123456789abcdef:42".into()),
            ..b
        };
        assert_eq!(
            BatchHeaders::from_kafka(&replayed.to_kafka()),
            Some(replayed)
        );
        assert_eq!(BatchHeaders::from_kafka(&OwnedHeaders::new()), None);
    }
}
