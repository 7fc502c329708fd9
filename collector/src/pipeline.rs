//! The running collector: receive threads (one per socket) decode and batch
//! without ever waiting on the sink; a bounded queue carries batches to the
//! sink task; a full queue drops the batch and counts it.

use crate::config::Config;
use crate::metrics::{Drop, Metrics};
use crate::udp::{self, Datagram, RecvBatch, RecvSocket};
use anyhow::Context as _;
use arrow::record_batch::RecordBatch;
use ipnet::IpNet;
use mirrorlake_lake::{ClosedFile, LakeWriter};
use mirrorlake_schema::{Batcher, RowMeta};
use mirrorlake_wire::{DecodeStats, Input, decode_geneve_payload, decode_vxlan_payload};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// State shared by the receive threads, the sink and the HTTP server.
#[derive(Debug, Default)]
pub struct Shared {
    /// Metrics.
    pub metrics: Metrics,
    /// Set on SIGTERM: /healthz answers 503 while receiving continues.
    pub draining: AtomicBool,
    /// Set when the receive threads must flush and stop.
    pub stop: AtomicBool,
    /// Cleared while the sink fails to write.
    pub sink_ok: AtomicBool,
    /// The next `arrival_seq`.
    pub arrival: ArrivalSeq,
    /// When a receive thread last went round its loop (µs since the epoch;
    /// 0 before the first): liveness.
    pub last_receive_us: AtomicI64,
}

/// A receive loop silent this long makes the collector not live.
const LIVE_WITHIN_US: i64 = 10_000_000;

/// The collector's receive order, the `arrival_seq` column: one counter for
/// every receive thread, taken once per `recvmmsg` call for all the
/// datagrams it returned, so each socket's datagrams are numbered in the
/// order the kernel queued them (and stamped them: within a socket, `ts` and
/// `arrival_seq` never disagree). Seeded with the clock in nanoseconds, so a
/// restarted collector keeps counting upwards (it would have to receive more
/// than 10^9 datagrams a second to catch up with the clock).
#[derive(Debug)]
pub struct ArrivalSeq(AtomicI64);

impl Default for ArrivalSeq {
    fn default() -> Self {
        Self(AtomicI64::new(now_us().saturating_mul(1000)))
    }
}

impl ArrivalSeq {
    /// The first of `n` consecutive numbers.
    pub fn take(&self, n: usize) -> i64 {
        self.0.fetch_add(n as i64, Ordering::Relaxed)
    }
}

impl Shared {
    /// Liveness (/livez): a receive thread went round its loop within 10 s
    /// (each does at least every 100 ms, traffic or not). An outage of Kafka
    /// or of the object store never makes the collector not live.
    pub fn live(&self) -> Result<(), &'static str> {
        let last = self.last_receive_us.load(Ordering::Relaxed);
        if last == 0 || now_us() - last <= LIVE_WITHIN_US {
            Ok(())
        } else {
            Err("receive threads stalled")
        }
    }

    /// Readiness (/healthz, /readyz): not draining, and the sink takes what
    /// arrives (a spool taking it counts).
    pub fn healthy(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Relaxed) {
            Err("draining")
        } else if !self.sink_ok.load(Ordering::Relaxed) {
            Err("sink failing")
        } else {
            Ok(())
        }
    }
}

/// What a receive socket takes: source and VNI allowlists (empty: allow
/// all), and its datagrams' shape ([`Input::VxlanPayload`], or
/// [`Input::GenevePayload`] from a Gateway Load Balancer).
#[derive(Debug, Clone)]
pub struct Filters {
    cidrs: Vec<IpNet>,
    vnis: Vec<u32>,
    input: Input,
}

impl Filters {
    /// From the config's allowlists, for VXLAN datagrams.
    pub fn new(cidrs: &[IpNet], vnis: &[u32]) -> Self {
        let mut vnis = vnis.to_vec();
        vnis.sort_unstable();
        Self {
            cidrs: cidrs.to_vec(),
            vnis,
            input: Input::VxlanPayload,
        }
    }

    /// The same filters for datagrams of `input`.
    pub fn receiving(self, input: Input) -> Self {
        Self { input, ..self }
    }

    fn source_ok(&self, ip: IpAddr) -> bool {
        self.cidrs.is_empty() || self.cidrs.iter().any(|n| n.contains(&ip))
    }

    fn vni_ok(&self, vni: Option<u32>) -> bool {
        self.vnis.is_empty() || vni.is_some_and(|v| self.vnis.binary_search(&v).is_ok())
    }
}

/// Wall-clock time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What one [`receive_step`] saw: datagrams and bytes received, the
/// decoder's verdicts, and the datagrams that became no row, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Datagrams received.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Cut by the receive buffer (larger than any AWS mirror datagram).
    pub oversize: u64,
    /// From a source outside the allowlist.
    pub bad_source: u64,
    /// With a VNI outside the allowlist.
    pub bad_vni: u64,
    /// Rows stamped with the clock: the kernel gave no receive time (a
    /// datagram that becomes no row is not counted here).
    pub clock_stamps: u64,
    /// The decoder's verdicts (rows, anomalies, drops by reason).
    pub decode: DecodeStats,
}

/// The pure part of receiving: filters, decodes, stamps and batches the
/// datagrams of one `recvmmsg` (arrival sequence numbers from `first_seq`;
/// `clock_us` stamps those the kernel gave no time); every batch the
/// batcher cuts goes to `out` with its row count. No I/O: tests call it
/// with datagrams of their own.
pub fn receive_step<'a>(
    datagrams: impl Iterator<Item = Datagram<'a>>,
    first_seq: i64,
    clock_us: i64,
    now: Instant,
    filters: &Filters,
    batcher: &mut Batcher,
    mut out: impl FnMut(Result<RecordBatch, arrow::error::ArrowError>, u64),
) -> StepCounts {
    let mut c = StepCounts::default();
    for (seq, dg) in (first_seq..).zip(datagrams) {
        c.packets += 1;
        c.bytes += dg.data.len() as u64;
        if dg.truncated {
            c.oversize += 1;
            continue;
        }
        if !filters.source_ok(dg.source) {
            c.bad_source += 1;
            continue;
        }
        // Behind a GWLB the datagram's source is the GWLB; the mirror
        // source is the inner VXLAN datagram's.
        let r = match filters.input {
            Input::GenevePayload => decode_geneve_payload(dg.data),
            _ => decode_vxlan_payload(dg.data, Some(dg.source)),
        };
        if let Ok(d) = &r
            && !filters.vni_ok(d.mirror.vni)
        {
            c.bad_vni += 1;
            continue;
        }
        c.decode.record(&r);
        let Ok(d) = r else {
            continue;
        };
        let ts_us = dg.kernel_ns.map_or_else(
            || {
                c.clock_stamps += 1;
                clock_us
            },
            |ns| ns.div_euclid(1000),
        );
        if let Some(b) = batcher.push(&d, RowMeta::new(ts_us, seq), now) {
            out(b, batcher.last_rows());
        }
    }
    c
}

/// Hands a batch to the sink without waiting; counts it as dropped when the
/// queue is full or closed.
fn emit(tx: &mpsc::Sender<RecordBatch>, shared: &Shared, batch: RecordBatch) {
    let rows = batch.num_rows() as u64;
    match tx.try_send(batch) {
        Ok(()) => {
            shared.metrics.batches.inc();
        }
        Err(_) => shared.metrics.drop(Drop::Backpressure, rows),
    }
}

/// One receive thread: reads its socket until `stop`, then flushes.
pub fn receive_loop(
    sock: RecvSocket,
    config: Config,
    filters: Filters,
    tx: mpsc::Sender<RecordBatch>,
    shared: Arc<Shared>,
) {
    let mut rb = RecvBatch::new(config.recv_batch);
    let mut batcher = Batcher::new(&config.collector_id, config.batcher());
    let mut last_kernel_drops = 0u32;
    let mut meminfo_failed = false;
    while !shared.stop.load(Ordering::Relaxed) {
        shared.last_receive_us.store(now_us(), Ordering::Relaxed);
        match rb.recv(&sock.socket) {
            Ok(received) => {
                let first_seq = shared.arrival.take(received);
                let seen = receive_step(
                    rb.datagrams(),
                    first_seq,
                    now_us(),
                    Instant::now(),
                    &filters,
                    &mut batcher,
                    |b, rows| hand_over(&tx, &shared, b, rows),
                );
                shared.metrics.add_step(&seen);
            }
            // Drops after the last datagram: read now, not with the next one.
            Err(e) if udp::is_idle(&e) => refresh_drops(&mut rb, &sock, &mut meminfo_failed),
            Err(e) => {
                tracing::warn!(error = %e, "recvmmsg failed");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        count_kernel_drops(&rb, &mut last_kernel_drops, &shared.metrics);
        if let Some(b) = batcher.poll_flush(Instant::now()) {
            hand_over(&tx, &shared, b, batcher.last_rows());
        }
    }
    refresh_drops(&mut rb, &sock, &mut meminfo_failed);
    count_kernel_drops(&rb, &mut last_kernel_drops, &shared.metrics);
    // Shutdown: nothing accepted is lost, so the last batch may wait.
    match batcher.flush() {
        Some(Ok(b)) => {
            let rows = b.num_rows() as u64;
            if tx.blocking_send(b).is_ok() {
                shared.metrics.batches.inc();
            } else {
                shared.metrics.drop(Drop::Backpressure, rows);
            }
        }
        Some(Err(e)) => {
            let rows = batcher.last_rows();
            tracing::error!(error = %e, rows, "building the last record batch failed");
            shared.metrics.drop(Drop::BatchBuild, rows);
        }
        None => {}
    }
}

/// Adds the drops the kernel counted since `last` (its count wraps at 2^32).
fn count_kernel_drops(rb: &RecvBatch, last: &mut u32, m: &Metrics) {
    m.kernel_drops
        .inc_by(u64::from(rb.kernel_drops.wrapping_sub(*last)));
    *last = rb.kernel_drops;
}

/// Brings `rb.kernel_drops` up to the socket's count (SO_MEMINFO); a kernel
/// without it (before Linux 4.6) is logged once and leaves SO_RXQ_OVFL's.
fn refresh_drops(rb: &mut RecvBatch, sock: &RecvSocket, failed: &mut bool) {
    if let Err(e) = rb.refresh_drops(&sock.socket)
        && !std::mem::replace(failed, true)
    {
        tracing::warn!(error = %e, "SO_MEMINFO unreadable: kernel drops are counted only when the next datagram arrives");
    }
}

/// A batch the batcher cut: to the sink, or, when it could not be built,
/// its `rows` counted as dropped.
fn hand_over(
    tx: &mpsc::Sender<RecordBatch>,
    shared: &Shared,
    b: Result<RecordBatch, arrow::error::ArrowError>,
    rows: u64,
) {
    match b {
        Ok(b) => emit(tx, shared, b),
        Err(e) => {
            tracing::error!(error = %e, rows, "building a record batch failed");
            shared.metrics.drop(Drop::BatchBuild, rows);
        }
    }
}

/// Opens the receive sockets, each with what it receives (VXLAN on
/// `listen`; GENEVE on `geneve_listen` when set), logging clearly when the
/// kernel caps the buffer.
pub fn open_sockets(config: &Config) -> anyhow::Result<Vec<(RecvSocket, Input)>> {
    let mut out = Vec::new();
    let listens = std::iter::once((config.listen, Input::VxlanPayload))
        .chain(config.geneve_listen.map(|a| (a, Input::GenevePayload)));
    for (addr, input) in listens {
        for _ in 0..config.socket_count() {
            let s = udp::bind(addr, config.rcvbuf_bytes, Duration::from_millis(100))
                .with_context(|| format!("bind {addr}"))?;
            out.push((s, input));
        }
    }
    if let Some((s, _)) = out.first()
        && s.rcvbuf_bytes < config.rcvbuf_bytes
    {
        tracing::warn!(
            requested = config.rcvbuf_bytes,
            granted = s.rcvbuf_bytes,
            rmem_max = udp::rmem_max(),
            "SO_RCVBUF capped by the kernel: raise net.core.rmem_max (sysctl -w net.core.rmem_max={}) or run with CAP_NET_ADMIN, or expect kernel drops under bursts",
            config.rcvbuf_bytes
        );
    }
    Ok(out)
}

/// Cluster mode's observer of published rows: every row handed to Kafka ends
/// in exactly one of `rows_published` or a `kafka_*` drop reason.
#[derive(Debug)]
pub struct KafkaObserver(pub Arc<Shared>);

impl mirrorlake_kafka::PublishObserver for KafkaObserver {
    fn delivered(&self, rows: u64, bytes: u64) {
        let m = &self.0.metrics;
        m.rows_published.inc_by(rows);
        m.kafka_messages.inc();
        m.kafka_bytes.inc_by(bytes);
    }

    fn failed(&self, rows: u64, error: &mirrorlake_kafka::KafkaError) {
        tracing::warn!(%error, rows, "kafka delivery failed");
        self.0.metrics.drop(Drop::KafkaDeliveryFailed, rows);
    }

    fn statistics(&self, stats: &mirrorlake_kafka::Statistics) {
        self.0.metrics.kafka_statistics(stats);
    }

    fn spooled(&self, rows: u64) {
        self.0.metrics.spool_rows_written.inc_by(rows);
    }

    fn replayed(&self, rows: u64) {
        self.0.metrics.spool_rows_replayed.inc_by(rows);
    }

    fn spool_full(&self, rows: u64) {
        self.0.metrics.drop(Drop::SpoolFull, rows);
    }
}

/// What a sink thread's wait on the receive queue gave.
enum Next {
    Batch(RecordBatch),
    /// Nothing within the wait: time for the sink's own work.
    Idle,
    /// The receive threads are done.
    Closed,
}

/// The next batch of the receive queue, waiting at most `idle` (a sink
/// thread's loop: it also replays its spool between batches).
fn next_batch(
    rx: &mut mpsc::Receiver<RecordBatch>,
    runtime: &tokio::runtime::Handle,
    idle: Duration,
) -> Next {
    match rx.try_recv() {
        Ok(b) => Next::Batch(b),
        Err(mpsc::error::TryRecvError::Disconnected) => Next::Closed,
        Err(mpsc::error::TryRecvError::Empty) => {
            match runtime.block_on(tokio::time::timeout(idle, rx.recv())) {
                Ok(Some(b)) => Next::Batch(b),
                Ok(None) => Next::Closed,
                Err(_) => Next::Idle,
            }
        }
    }
}

/// Cluster mode's sink. A feeder thread takes batches off the receive queue
/// (and hands them to the live tail), `encoders` threads encode them (Arrow
/// IPC, ZSTD: the CPU work) in parallel, and this thread publishes them in
/// arrival order without waiting (to the spool when Kafka cannot take them
/// now), replays the spool as the brokers acknowledge, and at the end
/// (queue closed) flushes for up to `flush_timeout`: what is still queued
/// then goes to the spool, or without one is counted as dropped.
pub fn kafka_sink(
    rx: mpsc::Receiver<RecordBatch>,
    mut publisher: mirrorlake_kafka::Publisher,
    shared: Arc<Shared>,
    tail: mirrorlake_tail::Hub,
    encoders: usize,
    flush_timeout: Duration,
    spool: Option<Arc<mirrorlake_kafka::SpoolLink>>,
) -> anyhow::Result<()> {
    shared.sink_ok.store(true, Ordering::Relaxed);
    // Without a spool there is nothing to do between batches.
    let idle = if spool.is_some() {
        Duration::from_millis(20)
    } else {
        Duration::from_secs(3600)
    };
    let encode = publisher.encoder();
    let feed = {
        let shared = Arc::clone(&shared);
        let mut rx = rx;
        move || {
            let batch = rx.blocking_recv()?;
            shared.metrics.queue_batches.set(rx.len() as i64);
            tail.publish(&batch);
            Some(batch)
        }
    };
    let mut encoded =
        crate::ordered::spawn("encode", encoders, feed, move |b: RecordBatch| encode(&b))?;
    let m = &shared.metrics;
    let mut already_stored = 0;
    let mut spool_gauges = |link: &mirrorlake_kafka::SpoolLink| {
        let s = link.stats();
        m.set_spool(s.bytes, s.records, s.oldest_age);
        m.spool_already_stored
            .inc_by(s.already_stored.saturating_sub(already_stored));
        already_stored = s.already_stored;
    };
    loop {
        match encoded.next(idle) {
            crate::ordered::Next::Item(batch) => {
                let r = publisher.publish_encoded(batch);
                m.drop(Drop::KafkaQueueFull, r.queue_full);
                m.drop(Drop::KafkaRefused, r.error);
                m.drop(Drop::SpoolFull, r.spool_full);
                m.spool_rows_written.inc_by(r.spooled);
                shared.sink_ok.store(
                    r.queue_full + r.error + r.spool_full == 0,
                    Ordering::Relaxed,
                );
            }
            crate::ordered::Next::Idle => {}
            crate::ordered::Next::Done => break,
        }
        m.drop(Drop::KafkaRefused, publisher.pump());
        if let Some(link) = &spool {
            spool_gauges(link);
        }
    }
    encoded.join();
    publisher.close(flush_timeout);
    if let Some(link) = &spool {
        spool_gauges(link);
    }
    Ok(())
}

/// Single node with a spool: the stage between the receive queue and the
/// lake writer's short queue. A batch goes to the writer at once while the
/// spool is empty and the writer's queue has room; otherwise to the spool
/// (Arrow IPC, LZ4), from which it is replayed in order as the writer
/// catches up (a slow or frozen object store). A record leaves the spool
/// (acknowledged and committed) just before it is handed to the writer, so
/// a crash never hands it over twice; like every batch the writer holds, it
/// is lost if the process dies before its file is written. At the end
/// (receive queue closed) what is still spooled stays for the next start.
pub fn spool_stage(
    mut rx: mpsc::Receiver<RecordBatch>,
    tx: mpsc::Sender<RecordBatch>,
    mut spool: mirrorlake_spool::Spool,
    shared: Arc<Shared>,
) {
    use mirrorlake_schema::message::{Codec, decode, encode};
    let m = &shared.metrics;
    let runtime = tokio::runtime::Handle::current();
    let gauges = |spool: &mirrorlake_spool::Spool| {
        m.set_spool(
            spool.bytes(),
            spool.pending() as u64,
            spool.oldest_age().unwrap_or_default(),
        );
    };
    let to_spool = |spool: &mut mirrorlake_spool::Spool, batch: &RecordBatch| {
        let rows = batch.num_rows() as u64;
        let written = encode(batch, Codec::Lz4)
            .map_err(|e| e.to_string())
            .and_then(|body| spool.append(&[], &body).map_err(|e| e.to_string()));
        match written {
            Ok(_) => {
                m.spool_rows_written.inc_by(rows);
                shared.sink_ok.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, rows, "spool refused a batch");
                m.drop(Drop::SpoolFull, rows);
                shared.sink_ok.store(false, Ordering::Relaxed);
            }
        }
    };
    loop {
        let next = match next_batch(&mut rx, &runtime, Duration::from_millis(20)) {
            Next::Batch(b) => Some(b),
            Next::Idle => None,
            Next::Closed => break,
        };
        if let Some(batch) = next {
            if spool.is_empty() {
                match tx.try_send(batch) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(b)) => to_spool(&mut spool, &b),
                    Err(mpsc::error::TrySendError::Closed(b)) => {
                        tracing::error!("the lake writer stopped; spooling");
                        to_spool(&mut spool, &b);
                    }
                }
            } else {
                to_spool(&mut spool, &batch);
            }
        }
        while tx.capacity() > 0 && spool.has_unsent() {
            let entry = match spool.next_unsent() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "spool read failed");
                    break;
                }
            };
            spool.ack(entry.seq);
            if let Err(e) = spool.commit() {
                tracing::error!(error = %e, "spool commit failed");
            }
            match decode(&entry.body) {
                Ok(batches) => {
                    for b in batches {
                        let rows = b.num_rows() as u64;
                        if tx.try_send(b).is_err() {
                            m.drop(Drop::SinkError, rows);
                        } else {
                            m.spool_rows_replayed.inc_by(rows);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, seq = entry.seq, "spooled batch unreadable; dropped")
                }
            }
        }
        gauges(&spool);
    }
    if let Err(e) = spool.commit() {
        tracing::error!(error = %e, "spool commit failed");
    }
    gauges(&spool);
}

/// The sink: writes batches to the lake, closes files by age, and at the end
/// (queue closed) closes every file.
pub async fn lake_sink(
    mut rx: mpsc::Receiver<RecordBatch>,
    mut writer: LakeWriter,
    shared: Arc<Shared>,
    tail: mirrorlake_tail::Hub,
) -> anyhow::Result<()> {
    shared.sink_ok.store(true, Ordering::Relaxed);
    let m = &shared.metrics;
    let record = |files: Vec<ClosedFile>| {
        for f in files {
            m.rows_written.inc_by(f.rows);
            m.files_written.inc();
            m.bytes_written.inc_by(f.bytes);
            m.flow_rows_written.inc_by(f.flow_rows);
            m.flush_seconds.observe(f.close_time.as_secs_f64());
            tracing::debug!(path = %f.path, rows = f.rows, bytes = f.bytes, "file written");
        }
    };
    // A write or a close that fails loses the rows of the file it was
    // finishing (and the batch being written): counted as `sink_error`.
    let failed = |e: &mirrorlake_lake::LakeError, lost: u64, what: &str| {
        shared.sink_ok.store(false, Ordering::Relaxed);
        m.drop(Drop::SinkError, lost);
        tracing::error!(error = %e, rows = lost, "{what}");
    };
    loop {
        let deadline = writer.next_deadline().map(tokio::time::Instant::from_std);
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                None => Some(rx.recv().await),
            }
        };
        match next.await {
            Some(Some(batch)) => {
                m.queue_batches.set(rx.len() as i64);
                tail.publish(&batch);
                let held = writer.buffered_rows() + batch.num_rows() as u64;
                match writer.write(&batch, Instant::now()).await {
                    Ok(files) => {
                        record(files);
                        shared.sink_ok.store(true, Ordering::Relaxed);
                    }
                    Err(e) => failed(
                        &e,
                        held.saturating_sub(writer.buffered_rows()),
                        "lake write failed",
                    ),
                }
            }
            Some(None) => break,
            None => {}
        }
        let held = writer.buffered_rows();
        match writer.poll(Instant::now()).await {
            Ok(files) => record(files),
            Err(e) => failed(
                &e,
                held.saturating_sub(writer.buffered_rows()),
                "closing a lake file failed",
            ),
        }
    }
    record(writer.close_all().await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use mirrorlake_wire::{DropReason, FrameRepr, TransportRepr, emit_vxlan_payload};

    fn mirror_payload(vni: u32) -> Vec<u8> {
        let mut frame = Vec::new();
        FrameRepr {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            vlans: [None, None],
            src: "10.0.3.7".parse().expect("ip"),
            dst: "10.0.9.9".parse().expect("ip"),
            ttl: 64,
            transport: TransportRepr::Udp {
                src_port: 5353,
                dst_port: 53,
            },
            payload: b"query",
        }
        .emit(&mut frame)
        .expect("frame");
        let mut out = Vec::new();
        emit_vxlan_payload(vni, &frame, &mut out);
        out
    }

    /// One receive step, without sockets: every datagram is counted once,
    /// as a row or under the reason it is not one; rows carry the kernel's
    /// time (or the clock's, counted) and their arrival sequence number.
    #[test]
    fn a_receive_step_counts_every_datagram_once() {
        let eni: IpAddr = "10.0.3.7".parse().expect("ip");
        let (ok, other_vni) = (mirror_payload(7), mirror_payload(9));
        let dg = |source: IpAddr, data: &'static [u8], truncated, kernel_ns| Datagram {
            source,
            data,
            truncated,
            kernel_ns,
        };
        let ok: &'static [u8] = ok.leak();
        let other_vni: &'static [u8] = other_vni.leak();
        let datagrams = [
            dg(eni, ok, false, Some(1_700_000_000_123_456_789)),
            dg(eni, ok, false, None),
            dg(eni, ok, true, None),
            dg("192.168.1.1".parse().expect("ip"), ok, false, None),
            dg(eni, other_vni, false, None),
            dg(eni, &[8, 0, 0], false, None),
        ];
        let filters = Filters::new(&["10.0.0.0/8".parse().expect("cidr")], &[7]);
        let mut batcher = Batcher::new("c1", Config::default().batcher());
        let mut cut = 0;
        let seen = receive_step(
            datagrams.into_iter(),
            100,
            1_800_000_000_000_000,
            Instant::now(),
            &filters,
            &mut batcher,
            |_, _| cut += 1,
        );
        assert_eq!(cut, 0, "two rows cut no batch");
        let mut decode = DecodeStats {
            decoded: 2,
            ..DecodeStats::default()
        };
        decode.dropped[DropReason::ALL
            .iter()
            .position(|r| *r == DropReason::VxlanTooShort)
            .expect("reason")] = 1;
        assert_eq!(
            seen,
            StepCounts {
                packets: 6,
                bytes: datagrams.iter().map(|d| d.data.len() as u64).sum(),
                oversize: 1,
                bad_source: 1,
                bad_vni: 1,
                clock_stamps: 1,
                decode,
            }
        );
        let rows = batcher.flush().expect("rows").expect("batch");
        assert_eq!(rows.num_rows(), 2);
        let col = |name: &str| {
            arrow::compute::cast(
                rows.column_by_name(name).expect("column"),
                &arrow::datatypes::DataType::Int64,
            )
            .expect("int")
        };
        let ts = col("ts");
        let seq = col("arrival_seq");
        let (ts, seq) = (
            ts.as_primitive::<arrow::datatypes::Int64Type>(),
            seq.as_primitive::<arrow::datatypes::Int64Type>(),
        );
        assert_eq!(
            (ts.value(0), ts.value(1)),
            (1_700_000_000_123_456, 1_800_000_000_000_000)
        );
        assert_eq!((seq.value(0), seq.value(1)), (100, 101));
    }

    /// A socket receiving GENEVE from a GWLB: the row's mirror source is the
    /// mirrored ENI inside (not the GWLB that sent the datagram), and what
    /// is not a mirror is counted under its reason.
    #[test]
    fn a_geneve_receive_step_takes_the_mirror_source_from_inside() {
        use mirrorlake_wire::geneve::emit_geneve_payload;
        use mirrorlake_wire::{FrameRepr, GwlbOptions, TransportRepr};
        let eni: IpAddr = "10.0.3.7".parse().expect("ip");
        let gwlb: IpAddr = "10.9.0.5".parse().expect("ip");
        let vxlan = mirror_payload(7);
        let mut ip_packet = Vec::new();
        FrameRepr {
            src_mac: [2; 6],
            dst_mac: [3; 6],
            vlans: [None, None],
            src: eni,
            dst: "10.9.0.9".parse().expect("ip"),
            ttl: 64,
            transport: TransportRepr::Udp {
                src_port: 50000,
                dst_port: mirrorlake_wire::VXLAN_PORT,
            },
            payload: &vxlan,
        }
        .emit(&mut ip_packet)
        .expect("frame");
        let mut good = Vec::new();
        let aws = GwlbOptions {
            endpoint_id: Some(42),
            ..GwlbOptions::default()
        };
        emit_geneve_payload(&aws, 0x0800, &ip_packet[14..], &mut good);
        let good: &'static [u8] = good.leak();
        let datagrams = [good, &good[..6]].map(|data| Datagram {
            source: gwlb,
            data,
            truncated: false,
            kernel_ns: Some(1),
        });
        let filters = Filters::new(&[], &[]).receiving(Input::GenevePayload);
        let mut batcher = Batcher::new("c1", Config::default().batcher());
        let seen = receive_step(
            datagrams.into_iter(),
            0,
            0,
            Instant::now(),
            &filters,
            &mut batcher,
            |_, _| {},
        );
        assert_eq!(seen.decode.decoded, 1);
        assert_eq!(seen.decode.dropped[DropReason::GeneveTooShort.index()], 1);
        let rows = batcher.flush().expect("rows").expect("batch");
        let source = rows.column_by_name("mirror_source").expect("column");
        assert_eq!(
            arrow::util::display::array_value_to_string(source, 0).expect("value"),
            "10.0.3.7"
        );
    }
}
