//! `sink`: the receive loop of `run` and nothing else: the same socket
//! settings and `recvmmsg` batches, counting datagrams and bytes. The
//! benchmark's baseline (`mirrorlake-loadtest bench`): what receiving alone
//! costs on this machine, the physical limit of any collector.
//!
//! Prints `{"received":N,"bytes":B,"kernel_drops":K}` every 100 ms and a last
//! time when its standard input closes, then exits.

use crate::config::Config;
use crate::udp::{self, RecvBatch};
use anyhow::Result;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Counts what arrives on `listen` until standard input closes.
pub fn run(listen: SocketAddr) -> Result<()> {
    let defaults = Config::default();
    let s = udp::bind(listen, defaults.rcvbuf_bytes, Duration::from_millis(50))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut rb = RecvBatch::new(defaults.recv_batch);
    let (mut received, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    let mut out = std::io::stdout().lock();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        match rb.recv(&s.socket) {
            Ok(_) => {
                for d in rb.datagrams() {
                    received += 1;
                    bytes += d.data.len() as u64;
                }
            }
            // Drops after the last datagram: read now, not with the next one.
            Err(e) if udp::is_idle(&e) => {
                let _ = rb.refresh_drops(&s.socket);
            }
            Err(e) => return Err(e.into()),
        }
        if stopping || last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            writeln!(
                out,
                "{{\"received\":{received},\"bytes\":{bytes},\"kernel_drops\":{}}}",
                rb.kernel_drops
            )?;
            out.flush()?;
        }
        if stopping {
            return Ok(());
        }
    }
}
