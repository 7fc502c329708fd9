//! An ordered parallel map: a feeder thread pulls items, `n` worker threads
//! transform them, and the caller takes the results in the order the items
//! came. The sinks' encoding (CPU work) runs on it, so that it uses as many
//! cores as it is given while batches stay in arrival order.
//!
//! Item `i` goes to worker `i % n` and its result is read from that
//! worker's queue, so order needs no sequence numbers or reordering buffer.
//! Every queue holds one item: at most `3n` items are in flight (one queued,
//! one in work and one done per worker), which bounds the memory.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// The results of [`spawn`], in input order.
pub struct Ordered<O> {
    results: Vec<Receiver<O>>,
    next: usize,
    threads: Vec<JoinHandle<()>>,
}

/// What [`Ordered::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<O> {
    /// The next result.
    Item(O),
    /// None ready within the timeout.
    Idle,
    /// The feeder ended and every result was taken.
    Done,
}

/// Starts the feeder (calling `feed` until it returns `None`) and `workers`
/// threads running `work`, named `<name>-feed` and `<name>-<i>`.
pub fn spawn<I, O>(
    name: &str,
    workers: usize,
    mut feed: impl FnMut() -> Option<I> + Send + 'static,
    work: impl Fn(I) -> O + Send + Sync + 'static,
) -> std::io::Result<Ordered<O>>
where
    I: Send + 'static,
    O: Send + 'static,
{
    let workers = workers.max(1);
    let work = Arc::new(work);
    let mut inputs: Vec<SyncSender<I>> = Vec::with_capacity(workers);
    let mut results = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers + 1);
    for i in 0..workers {
        let (in_tx, in_rx) = sync_channel::<I>(1);
        let (out_tx, out_rx) = sync_channel::<O>(1);
        let work = Arc::clone(&work);
        threads.push(
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    for item in in_rx {
                        if out_tx.send(work(item)).is_err() {
                            return;
                        }
                    }
                })?,
        );
        inputs.push(in_tx);
        results.push(out_rx);
    }
    threads.push(
        std::thread::Builder::new()
            .name(format!("{name}-feed"))
            .spawn(move || {
                let mut i = 0;
                while let Some(item) = feed() {
                    if inputs[i].send(item).is_err() {
                        return;
                    }
                    i = (i + 1) % inputs.len();
                }
            })?,
    );
    Ok(Ordered {
        results,
        next: 0,
        threads,
    })
}

impl<O> std::fmt::Debug for Ordered<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("workers", &self.results.len())
            .field("next", &self.next)
            .finish()
    }
}

impl<O> Ordered<O> {
    /// The next result in input order, waiting up to `timeout` for it.
    pub fn next(&mut self, timeout: Duration) -> Next<O> {
        match self.results[self.next].recv_timeout(timeout) {
            Ok(o) => {
                self.next = (self.next + 1) % self.results.len();
                Next::Item(o)
            }
            Err(RecvTimeoutError::Timeout) => Next::Idle,
            Err(RecvTimeoutError::Disconnected) => Next::Done,
        }
    }

    /// Waits for the threads (after [`Next::Done`]).
    pub fn join(self) {
        drop(self.results);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(o: &mut Ordered<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        loop {
            match o.next(Duration::from_secs(10)) {
                Next::Item(v) => out.push(v),
                Next::Idle => panic!("stalled"),
                Next::Done => return out,
            }
        }
    }

    #[test]
    fn results_come_in_input_order_whatever_each_item_costs() {
        for workers in [1, 2, 3, 8] {
            let mut items = 0..200u64;
            let mut o = spawn(
                "t",
                workers,
                move || items.next(),
                |i| {
                    // Uneven work: later items often finish first.
                    std::thread::sleep(Duration::from_micros((i * 7919) % 300));
                    i * 2
                },
            )
            .expect("spawn");
            let got = collect(&mut o);
            o.join();
            assert_eq!(
                got,
                (0..200).map(|i| i * 2).collect::<Vec<_>>(),
                "{workers}"
            );
        }
    }

    #[test]
    fn work_runs_on_several_threads_at_once() {
        let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (b, m) = (Arc::clone(&busy), Arc::clone(&most));
        let mut items = 0..64u64;
        let mut o = spawn(
            "t",
            4,
            move || items.next(),
            move |i| {
                use std::sync::atomic::Ordering::SeqCst;
                let now = b.fetch_add(1, SeqCst) + 1;
                m.fetch_max(now, SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                b.fetch_sub(1, SeqCst);
                i
            },
        )
        .expect("spawn");
        assert_eq!(collect(&mut o).len(), 64);
        o.join();
        assert!(most.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    }

    #[test]
    fn an_empty_feed_is_done_at_once() {
        let mut o = spawn("t", 3, || None::<u64>, |i| i).expect("spawn");
        assert_eq!(o.next(Duration::from_secs(5)), Next::Done);
        o.join();
    }
}
