//! The batcher: a sans-IO state machine that gathers rows and says when a
//! batch is due, by row count, bytes or age. Time is an argument (`now`),
//! never read from a clock, so it is tested with virtual time.

use crate::builder::{PacketBatchBuilder, RowMeta};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use mirrorlake_wire::Decoded;
use std::time::{Duration, Instant};

/// When a batch is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Flush when this many rows are pending.
    pub max_rows: usize,
    /// Flush when the pending rows hold about this many bytes.
    pub max_bytes: usize,
    /// Flush when the oldest pending row is this old.
    pub max_age: Duration,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_rows: 8192,
            max_bytes: 4 << 20,
            max_age: Duration::from_millis(1000),
        }
    }
}

/// Gathers rows into record batches.
#[derive(Debug)]
pub struct Batcher {
    config: BatcherConfig,
    builder: PacketBatchBuilder,
    opened_at: Option<Instant>,
    last_rows: u64,
}

impl Batcher {
    /// A batcher stamping `collector_id` on its rows.
    pub fn new(collector_id: &str, config: BatcherConfig) -> Self {
        let frame_bytes = config.max_bytes.min(64 << 20);
        Self {
            builder: PacketBatchBuilder::with_capacity(
                collector_id,
                config.max_rows.min(1 << 16),
                frame_bytes,
            ),
            config,
            opened_at: None,
            last_rows: 0,
        }
    }

    /// Appends a row; returns a batch when a row or byte limit is reached.
    pub fn push(
        &mut self,
        d: &Decoded<'_>,
        meta: RowMeta,
        now: Instant,
    ) -> Option<Result<RecordBatch, ArrowError>> {
        if self.builder.is_empty() {
            self.opened_at = Some(now);
        }
        self.builder.append(d, meta);
        if self.builder.len() >= self.config.max_rows
            || self.builder.bytes() >= self.config.max_bytes
        {
            return self.flush();
        }
        None
    }

    /// Returns a batch when the oldest pending row has reached `max_age`.
    pub fn poll_flush(&mut self, now: Instant) -> Option<Result<RecordBatch, ArrowError>> {
        match self.next_deadline() {
            Some(deadline) if now >= deadline => self.flush(),
            _ => None,
        }
    }

    /// When [`poll_flush`](Self::poll_flush) will next return a batch, if rows are pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.opened_at.map(|t| t + self.config.max_age)
    }

    /// Takes whatever is pending (shutdown, drain).
    pub fn flush(&mut self) -> Option<Result<RecordBatch, ArrowError>> {
        self.opened_at = None;
        self.last_rows = self.builder.len() as u64;
        self.builder.finish()
    }

    /// Rows of the batch cut last, whether or not it could be built (an
    /// `Err` loses them: the caller counts them as dropped).
    pub fn last_rows(&self) -> u64 {
        self.last_rows
    }

    /// Rows pending.
    pub fn pending_rows(&self) -> usize {
        self.builder.len()
    }

    /// Approximate bytes pending.
    pub fn pending_bytes(&self) -> usize {
        self.builder.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorlake_wire::decode_ethernet;

    const FRAME: [u8; 60] = {
        let mut f = [0u8; 60];
        f[12] = 0x08;
        f[13] = 0x06;
        f
    };

    fn row(b: &mut Batcher, now: Instant) -> Option<RecordBatch> {
        let d = decode_ethernet(&FRAME, None).expect("arp frame");
        b.push(&d, RowMeta::new(0, 0), now)
            .map(|r| r.expect("valid"))
    }

    #[test]
    fn flushes_on_rows() {
        let t0 = Instant::now();
        let mut b = Batcher::new(
            "c",
            BatcherConfig {
                max_rows: 3,
                max_bytes: usize::MAX,
                max_age: Duration::from_secs(60),
            },
        );
        assert!(row(&mut b, t0).is_none());
        assert!(row(&mut b, t0).is_none());
        assert_eq!(row(&mut b, t0).expect("full").num_rows(), 3);
        assert_eq!(b.pending_rows(), 0);
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn flushes_on_bytes() {
        let t0 = Instant::now();
        let per_row = FRAME.len() + crate::builder::ROW_OVERHEAD_BYTES;
        let mut b = Batcher::new(
            "c",
            BatcherConfig {
                max_rows: 1000,
                max_bytes: per_row * 2,
                max_age: Duration::from_secs(60),
            },
        );
        assert!(row(&mut b, t0).is_none());
        assert_eq!(row(&mut b, t0).expect("bytes reached").num_rows(), 2);
    }

    #[test]
    fn flushes_on_age_with_virtual_time() {
        let t0 = Instant::now();
        let age = Duration::from_millis(500);
        let mut b = Batcher::new(
            "c",
            BatcherConfig {
                max_rows: 1000,
                max_bytes: usize::MAX,
                max_age: age,
            },
        );
        assert!(
            b.poll_flush(t0 + Duration::from_secs(10)).is_none(),
            "nothing pending"
        );
        row(&mut b, t0);
        row(&mut b, t0 + Duration::from_millis(400));
        assert_eq!(
            b.next_deadline(),
            Some(t0 + age),
            "age counts from the oldest row"
        );
        assert!(b.poll_flush(t0 + Duration::from_millis(499)).is_none());
        assert_eq!(
            b.poll_flush(t0 + age)
                .expect("due")
                .expect("valid")
                .num_rows(),
            2
        );
        assert!(b.poll_flush(t0 + Duration::from_secs(5)).is_none());
        row(&mut b, t0 + Duration::from_secs(6));
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_secs(6) + age));
        assert_eq!(b.flush().expect("pending").expect("valid").num_rows(), 1);
    }
}
