//! The UDP side: sockets bound with SO_REUSEPORT, a large SO_RCVBUF, kernel
//! drop counters (SO_RXQ_OVFL), kernel receive timestamps (SO_TIMESTAMPNS),
//! and batched reads with `recvmmsg`.

mod recvmmsg;

pub use recvmmsg::{Datagram, RecvBatch};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A bound receive socket and what the kernel granted it.
#[derive(Debug)]
pub struct RecvSocket {
    /// The socket (blocking, with a read timeout so loops can stop).
    pub socket: UdpSocket,
    /// Effective receive buffer in bytes (as the kernel reports it).
    pub rcvbuf_bytes: usize,
}

/// The kernel's cap on SO_RCVBUF (`net.core.rmem_max`), when readable.
pub fn rmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A receive error that only means "nothing arrived in time" or "interrupted":
/// the loop goes on.
pub fn is_idle(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Opens one receive socket on `addr` with SO_REUSEPORT so several can share it.
pub fn bind(addr: SocketAddr, rcvbuf: usize, read_timeout: Duration) -> Result<RecvSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).context("create udp socket")?;
    s.set_reuse_port(true).context("set SO_REUSEPORT")?;
    if addr.is_ipv6() {
        // [::] receives IPv4 too, unless the system forbids it.
        let _ = s.set_only_v6(false);
    }
    // Ask for the buffer; as root, SO_RCVBUFFORCE may exceed rmem_max.
    let _ = s.set_recv_buffer_size(rcvbuf);
    // Linux reports twice the size set (bookkeeping overhead included).
    let granted = s.recv_buffer_size().unwrap_or(0) / 2;
    if granted < rcvbuf {
        recvmmsg::force_rcvbuf(&s, rcvbuf);
    }
    recvmmsg::enable_rxq_ovfl(&s).context("enable SO_RXQ_OVFL")?;
    // Without it every datagram falls back to the clock (counted).
    if let Err(e) = recvmmsg::enable_timestamps(&s) {
        tracing::warn!(error = %e, "SO_TIMESTAMPNS refused: arrival times from the clock");
    }
    s.set_read_timeout(Some(read_timeout))
        .context("set read timeout")?;
    s.bind(&addr.into())
        .with_context(|| format!("bind udp {addr}"))?;
    let rcvbuf_bytes = s.recv_buffer_size().unwrap_or(0) / 2;
    Ok(RecvSocket {
        socket: s.into(),
        rcvbuf_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drops the socket took after its last received datagram are counted
    /// without waiting for another one (SO_MEMINFO), and exactly: what was
    /// sent is what is read plus what the kernel dropped.
    #[test]
    fn drops_after_the_last_datagram_are_counted_when_idle() {
        let r = bind(
            "127.0.0.1:0".parse().expect("addr"),
            4096,
            Duration::from_millis(20),
        )
        .expect("bind");
        let to = r.socket.local_addr().expect("local addr");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("sender");
        const SENT: u32 = 200;
        for _ in 0..SENT {
            tx.send_to(&[0u8; 1400], to).expect("send");
        }
        let mut rb = RecvBatch::new(64);
        let mut read = 0u32;
        loop {
            match rb.recv(&r.socket) {
                Ok(n) => read += n as u32,
                Err(e) if is_idle(&e) => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
        // Whatever the datagrams carried, the last drops came after them.
        rb.refresh_drops(&r.socket).expect("SO_MEMINFO");
        assert!(
            read > 0 && rb.kernel_drops > 0,
            "read {read}, dropped {}",
            rb.kernel_drops
        );
        assert_eq!(read + rb.kernel_drops, SENT);
    }
}
