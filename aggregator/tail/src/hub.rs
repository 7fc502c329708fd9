//! Where the pipeline hands batches to the tail: [`Hub::publish`] never
//! waits. Each attached client has a bounded queue; a full queue drops the
//! batch for that client only and counts its rows.

use arrow::record_batch::RecordBatch;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The tail's metrics (registered into the daemon's registry).
#[derive(Debug, Clone, Default)]
pub struct TailMetrics {
    /// Clients attached now.
    pub clients: Gauge,
    /// Clients accepted.
    pub accepted: Counter,
    /// Clients refused, by reason (`unauthorized`, `bad_request`, `busy`, `handshake`).
    pub refused: Family<Vec<(String, String)>, Counter>,
    /// Packets sent to clients.
    pub packets_sent: Counter,
    /// Packets dropped for slow clients.
    pub packets_dropped: Counter,
}

/// Why a live tail client is refused: the `reason` label's values.
pub const REFUSAL_REASONS: [&str; 4] = ["unauthorized", "bad_request", "busy", "handshake"];

impl TailMetrics {
    /// Registers the metrics as `tail_*` in `registry`, every refusal
    /// reason at zero.
    pub fn register(&self, registry: &mut Registry) {
        for reason in REFUSAL_REASONS {
            let _ = self
                .refused
                .get_or_create(&vec![("reason".to_owned(), reason.to_owned())]);
        }
        registry.register(
            "tail_clients",
            "Live tail clients attached",
            self.clients.clone(),
        );
        registry.register(
            "tail_clients_accepted",
            "Live tail clients accepted",
            self.accepted.clone(),
        );
        registry.register(
            "tail_clients_refused",
            "Live tail clients refused, by reason",
            self.refused.clone(),
        );
        registry.register(
            "tail_packets_sent",
            "Packets sent to live tail clients",
            self.packets_sent.clone(),
        );
        registry.register(
            "tail_packets_dropped",
            "Packets a slow live tail client missed (dropped for it alone)",
            self.packets_dropped.clone(),
        );
    }

    /// Counts a refused client (`reason`: one of [`REFUSAL_REASONS`]).
    pub fn refuse(&self, reason: &'static str) {
        debug_assert!(REFUSAL_REASONS.contains(&reason), "{reason}");
        self.refused
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc();
    }
}

/// One attached client as the hub sees it.
#[derive(Debug)]
pub(crate) struct Slot {
    tx: mpsc::Sender<RecordBatch>,
    /// Rows dropped for this client.
    pub(crate) dropped: AtomicU64,
    pub(crate) closed: AtomicBool,
}

/// The fan-out point between the pipeline and the tail clients.
#[derive(Debug, Clone)]
pub struct Hub {
    slots: Arc<Mutex<Vec<Arc<Slot>>>>,
    attached: Arc<AtomicU64>,
    /// The tail's metrics.
    pub metrics: TailMetrics,
    queue_batches: usize,
}

impl Hub {
    /// A hub whose clients each queue up to `queue_batches` batches,
    /// counting into `metrics` (the daemon registered them).
    pub fn new(queue_batches: usize, metrics: TailMetrics) -> Self {
        Self {
            slots: Arc::default(),
            attached: Arc::default(),
            metrics,
            queue_batches: queue_batches.max(1),
        }
    }

    /// Whether any client is attached (publishers may skip work when not).
    pub fn has_clients(&self) -> bool {
        self.attached.load(Ordering::Relaxed) > 0
    }

    /// Offers `batch` to every client without waiting.
    pub fn publish(&self, batch: &RecordBatch) {
        if !self.has_clients() || batch.num_rows() == 0 {
            return;
        }
        let rows = batch.num_rows() as u64;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| !s.closed.load(Ordering::Relaxed));
        self.attached.store(slots.len() as u64, Ordering::Relaxed);
        for s in slots.iter() {
            if s.tx.try_send(batch.clone()).is_err() {
                s.dropped.fetch_add(rows, Ordering::Relaxed);
                self.metrics.packets_dropped.inc_by(rows);
            }
        }
    }

    /// Attaches a client: its slot and the receiving end of its queue.
    pub(crate) fn attach(&self) -> (Arc<Slot>, mpsc::Receiver<RecordBatch>) {
        let (tx, rx) = mpsc::channel(self.queue_batches);
        let slot = Arc::new(Slot {
            tx,
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.push(slot.clone());
        self.attached.store(slots.len() as u64, Ordering::Relaxed);
        (slot, rx)
    }

    /// Detaches a client (its slot is removed at the next publish).
    pub(crate) fn detach(&self, slot: &Slot) {
        slot.closed.store(true, Ordering::Relaxed);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| !s.closed.load(Ordering::Relaxed));
        self.attached.store(slots.len() as u64, Ordering::Relaxed);
    }

    /// Clients attached now.
    pub fn clients(&self) -> usize {
        self.attached.load(Ordering::Relaxed) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: usize) -> RecordBatch {
        let a: arrow::array::ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![1; rows]));
        RecordBatch::try_from_iter([("x", a)]).expect("batch")
    }

    #[test]
    fn a_full_client_queue_drops_for_that_client_only() {
        let hub = Hub::new(2, TailMetrics::default());
        assert!(!hub.has_clients());
        hub.publish(&batch(5)); // nobody listening: nothing counted
        let (slow, _slow_rx) = hub.attach();
        let (fast, mut fast_rx) = hub.attach();
        for _ in 0..5 {
            hub.publish(&batch(10));
            while fast_rx.try_recv().is_ok() {}
        }
        assert_eq!(slow.dropped.load(Ordering::Relaxed), 30);
        assert_eq!(fast.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(hub.metrics.packets_dropped.get(), 30);
        hub.detach(&slow);
        assert_eq!(hub.clients(), 1);
        hub.detach(&fast);
        assert!(!hub.has_clients());
    }
}
