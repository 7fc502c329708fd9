//! `sendmmsg(2)` on a connected UDP socket: one system call per batch.
#![allow(unsafe_code)]

use std::io;
use std::mem::zeroed;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Sends every datagram of `batch`; returns how many the kernel took.
pub fn send_batch(socket: &UdpSocket, batch: &[Vec<u8>]) -> io::Result<usize> {
    let mut iovs: Vec<libc::iovec> = batch
        .iter()
        .map(|d| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero mmsghdr is valid; the iovec outlives the call.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut sent = 0;
    while sent < hdrs.len() {
        // SAFETY: hdrs[sent..] are valid headers pointing at live buffers.
        let rc = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                hdrs[sent..].as_mut_ptr(),
                (hdrs.len() - sent) as libc::c_uint,
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // ECONNREFUSED reports an earlier datagram's ICMP port
            // unreachable (a collector restarting): that one is lost, as it
            // would be behind an NLB; this call sent nothing, so send again.
            if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
            ) {
                continue;
            }
            return Err(e);
        }
        sent += rc as usize;
    }
    Ok(sent)
}
