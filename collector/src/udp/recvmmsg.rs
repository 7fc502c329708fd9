//! `recvmmsg(2)` with per-datagram source addresses and two control
//! messages: SO_RXQ_OVFL (the kernel's drop count) and SO_TIMESTAMPNS (the
//! kernel's receive time of each datagram, nanoseconds, `CLOCK_REALTIME`).
//! SO_RXQ_OVFL reports a socket's drops only with its next datagram, so an
//! idle receive loop reads the same count with `getsockopt(SO_MEMINFO)`.
//! The only unsafe code of the collector lives here.
#![allow(unsafe_code)]

use socket2::Socket;
use std::io;
use std::mem::{MaybeUninit, size_of, size_of_val, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::AsRawFd;

/// Receive buffer per datagram: AWS mirror datagrams are at most 9001 bytes
/// of IP (MTU); anything larger is counted as oversize.
pub const DATAGRAM_BUF: usize = 9216 + 256;

/// Control buffer per datagram: SO_RXQ_OVFL (CMSG_SPACE(4) = 24 bytes) and
/// SO_TIMESTAMPNS (CMSG_SPACE(16) = 32 bytes), with room to spare.
const CMSG_SPACE: usize = 128;

pub(super) fn enable_rxq_ovfl(s: &Socket) -> io::Result<()> {
    set_flag(s, libc::SO_RXQ_OVFL)
}

/// Asks the kernel for each datagram's receive time (software timestamp,
/// taken when the packet reached the socket layer).
pub(super) fn enable_timestamps(s: &Socket) -> io::Result<()> {
    set_flag(s, libc::SO_TIMESTAMPNS)
}

fn set_flag(s: &Socket, option: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(super) fn force_rcvbuf(s: &Socket, bytes: usize) {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: as above. Fails without CAP_NET_ADMIN, which is fine.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Sender (the mirrored ENI, through an NLB that preserves client IPs).
    pub source: IpAddr,
    /// Payload (VXLAN header and frame).
    pub data: &'a [u8],
    /// The datagram was larger than the buffer and was cut.
    pub truncated: bool,
    /// The kernel's receive time (ns since the Unix epoch), when it gave one.
    pub kernel_ns: Option<i64>,
}

/// Reusable buffers for `recvmmsg` of up to `n` datagrams.
pub struct RecvBatch {
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    cmsgs: Vec<[u8; CMSG_SPACE]>,
    hdrs: Vec<libc::mmsghdr>,
    lens: Vec<usize>,
    flags: Vec<i32>,
    stamps: Vec<Option<i64>>,
    received: usize,
    /// Latest cumulative kernel drop count seen (SO_RXQ_OVFL).
    pub kernel_drops: u32,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.addrs.len())
            .finish()
    }
}

// SAFETY: the raw pointers inside point into the batch's own vectors and are
// rebuilt before every call; nothing is shared across threads.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Buffers for `n` datagrams.
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Self {
            bufs: vec![0; n * DATAGRAM_BUF],
            // SAFETY: sockaddr_storage and mmsghdr are plain C structs for
            // which all-zero bytes are valid.
            addrs: vec![unsafe { zeroed() }; n],
            iovs: Vec::with_capacity(n),
            cmsgs: vec![[0; CMSG_SPACE]; n],
            hdrs: Vec::with_capacity(n),
            lens: vec![0; n],
            flags: vec![0; n],
            stamps: vec![None; n],
            received: 0,
            kernel_drops: 0,
        }
    }

    /// Blocks until at least one datagram arrives (or the socket's read
    /// timeout passes), then takes every datagram already queued, up to the
    /// batch size. Returns how many were received.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let n = self.addrs.len();
        self.iovs.clear();
        self.hdrs.clear();
        for i in 0..n {
            self.iovs.push(libc::iovec {
                iov_base: self.bufs[i * DATAGRAM_BUF..].as_mut_ptr().cast(),
                iov_len: DATAGRAM_BUF,
            });
        }
        for i in 0..n {
            // SAFETY: zeroed msghdr is valid; pointers set below outlive the call.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.cmsgs[i].as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = CMSG_SPACE as _;
            self.hdrs.push(h);
        }
        // SAFETY: hdrs holds n valid mmsghdr whose buffers live in self.
        let rc = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            self.received = 0;
            return Err(io::Error::last_os_error());
        }
        let got = rc as usize;
        for i in 0..got {
            self.lens[i] = self.hdrs[i].msg_len as usize;
            self.flags[i] = self.hdrs[i].msg_hdr.msg_flags;
            let (drops, stamp) = read_cmsgs(&self.hdrs[i].msg_hdr);
            if let Some(d) = drops {
                self.kernel_drops = d;
            }
            self.stamps[i] = stamp;
        }
        self.received = got;
        Ok(got)
    }

    /// Reads the socket's cumulative drop count (`sk_drops`, the counter
    /// SO_RXQ_OVFL reports) with `getsockopt(SO_MEMINFO)`: drops after the
    /// last datagram received reach `kernel_drops` without waiting for the
    /// next one. The count only grows (modulo 2^32), so a stale read never
    /// lowers it.
    pub fn refresh_drops(&mut self, socket: &UdpSocket) -> io::Result<()> {
        // SK_MEMINFO_VARS is 9 today; room for fields later kernels add.
        let mut info = [0u32; 16];
        let mut len = size_of_val(&info) as libc::socklen_t;
        // SAFETY: a valid fd; the kernel writes at most `len` bytes to
        // `info` and sets `len` to what it wrote.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let drops = libc::SK_MEMINFO_DROPS as usize;
        if (len as usize) < (drops + 1) * size_of::<u32>() {
            return Err(io::Error::other("SO_MEMINFO has no drop count"));
        }
        // Wrapping difference: a newer count than the last one seen.
        if info[drops].wrapping_sub(self.kernel_drops) < 1 << 31 {
            self.kernel_drops = info[drops];
        }
        Ok(())
    }

    /// The datagrams of the last [`recv`](Self::recv).
    pub fn datagrams(&self) -> impl Iterator<Item = Datagram<'_>> {
        (0..self.received).filter_map(move |i| {
            let source = sockaddr_ip(&self.addrs[i])?;
            let len = self.lens[i].min(DATAGRAM_BUF);
            Some(Datagram {
                source,
                data: &self.bufs[i * DATAGRAM_BUF..i * DATAGRAM_BUF + len],
                truncated: self.flags[i] & libc::MSG_TRUNC != 0,
                kernel_ns: self.stamps[i],
            })
        })
    }
}

/// The SO_RXQ_OVFL drop count and the SO_TIMESTAMPNS receive time (ns)
/// of one received message, where the kernel attached them.
fn read_cmsgs(h: &libc::msghdr) -> (Option<u32>, Option<i64>) {
    let (mut drops, mut stamp) = (None, None);
    // SAFETY: CMSG_* walk the control buffer the kernel filled, bounded by
    // msg_controllen; each payload is copied out only when its length holds
    // the type read (unaligned reads through copy_nonoverlapping).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let len = (*c).cmsg_len as usize;
            let data_len = len.saturating_sub(libc::CMSG_LEN(0) as usize);
            if (*c).cmsg_level == libc::SOL_SOCKET {
                if (*c).cmsg_type == libc::SO_RXQ_OVFL && data_len >= 4 {
                    let mut v = MaybeUninit::<u32>::uninit();
                    std::ptr::copy_nonoverlapping(
                        libc::CMSG_DATA(c),
                        v.as_mut_ptr().cast::<u8>(),
                        4,
                    );
                    drops = Some(v.assume_init());
                } else if (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                    && data_len >= size_of::<libc::timespec>()
                {
                    let mut t = MaybeUninit::<libc::timespec>::uninit();
                    std::ptr::copy_nonoverlapping(
                        libc::CMSG_DATA(c),
                        t.as_mut_ptr().cast::<u8>(),
                        size_of::<libc::timespec>(),
                    );
                    let t = t.assume_init();
                    // All zeros: no timestamp was taken for this packet.
                    if t.tv_sec != 0 || t.tv_nsec != 0 {
                        // time_t and c_long are i64 on the 64-bit targets we build for.
                        stamp = Some(t.tv_sec * 1_000_000_000 + t.tv_nsec);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    (drops, stamp)
}

fn sockaddr_ip(s: &libc::sockaddr_storage) -> Option<IpAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            // IPv4 senders on a dual-stack socket arrive as ::ffff:a.b.c.d.
            Some(ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4))
        }
        _ => None,
    }
}
