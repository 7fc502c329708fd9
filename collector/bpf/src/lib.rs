//! tcpdump filter expressions (`tcp port 443 and host 10.0.3.7`) compiled by
//! libpcap's own compiler and run by its own BPF interpreter, so a filter
//! means here exactly what it means to tcpdump and Wireshark.
//!
//! libpcap is loaded at run time (`libpcap.so.0.8`, Debian's `libpcap0.8`,
//! which tcpdump and tshark depend on): building mirrorlake needs no libpcap
//! headers, and a machine without libpcap gets a clear error only when a
//! filter is asked for. This crate holds the project's only FFI besides the
//! collector's socket calls; every unsafe block states why it is sound.
//!
//! A compiled [`BpfFilter`] is immutable: `pcap_offline_filter` reads the
//! program and the packet and keeps no state, so one filter is shared by
//! threads.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::sync::{Mutex, OnceLock};

/// Ethernet link type (DLT_EN10MB / LINKTYPE_ETHERNET).
pub const LINKTYPE_ETHERNET: c_int = 1;

/// Snap length the filter is compiled for (matches any frame we store).
const SNAPLEN: c_int = 262_144;
/// `PCAP_NETMASK_UNKNOWN`: `ip broadcast` is then refused, like tcpdump on an
/// interface without an address.
const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

/// Why a filter could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BpfError {
    /// libpcap is not installed (or not loadable).
    #[error("tcpdump filters need libpcap at run time (Debian: apt-get install libpcap0.8): {0}")]
    NoLibpcap(String),
    /// The expression does not compile.
    #[error("invalid filter {expression:?}: {message}")]
    Syntax {
        /// The expression as given.
        expression: String,
        /// libpcap's message.
        message: String,
    },
}

impl BpfError {
    /// Short stable code for metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            BpfError::NoLibpcap(_) => "no_libpcap",
            BpfError::Syntax { .. } => "syntax",
        }
    }
}

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut c_void,
}

#[repr(C)]
struct PcapPkthdr {
    ts_sec: libc_long,
    ts_usec: libc_long,
    caplen: u32,
    len: u32,
}

#[allow(non_camel_case_types)]
type libc_long = std::ffi::c_long;

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Close = unsafe extern "C" fn(*mut c_void);
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type OfflineFilter = unsafe extern "C" fn(*const BpfProgram, *const PcapPkthdr, *const u8) -> c_int;

struct Libpcap {
    // Keeps the library mapped for the program's lifetime (the functions below point into it).
    _lib: libloading::Library,
    open_dead: OpenDead,
    compile: Compile,
    geterr: GetErr,
    close: Close,
    freecode: FreeCode,
    offline_filter: OfflineFilter,
    /// libpcap before 1.8 had a global parser; compiling under a lock is
    /// correct for every version.
    compile_lock: Mutex<()>,
}

fn libpcap() -> Result<&'static Libpcap, BpfError> {
    static LIB: OnceLock<Result<Libpcap, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| BpfError::NoLibpcap(e.clone()))
}

fn load() -> Result<Libpcap, String> {
    let mut errors = Vec::new();
    for name in [
        "libpcap.so.0.8",
        "libpcap.so.1",
        "libpcap.so",
        "libpcap.dylib",
    ] {
        // SAFETY: loading libpcap runs its (trivial) initialisers; it is a
        // system library with no load-time side effects on our state.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return resolve(lib).map_err(|e| format!("{name}: {e}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(errors.join("; "))
}

fn resolve(lib: libloading::Library) -> Result<Libpcap, libloading::Error> {
    // SAFETY: the symbol types are the C prototypes of pcap/pcap.h (libpcap
    // ≥ 1.0 ABI, stable since): pcap_open_dead, pcap_compile, pcap_geterr,
    // pcap_close, pcap_freecode, pcap_offline_filter.
    unsafe {
        let open_dead = *lib.get::<OpenDead>(b"pcap_open_dead\0")?;
        let compile = *lib.get::<Compile>(b"pcap_compile\0")?;
        let geterr = *lib.get::<GetErr>(b"pcap_geterr\0")?;
        let close = *lib.get::<Close>(b"pcap_close\0")?;
        let freecode = *lib.get::<FreeCode>(b"pcap_freecode\0")?;
        let offline_filter = *lib.get::<OfflineFilter>(b"pcap_offline_filter\0")?;
        Ok(Libpcap {
            _lib: lib,
            open_dead,
            compile,
            geterr,
            close,
            freecode,
            offline_filter,
            compile_lock: Mutex::new(()),
        })
    }
}

/// A compiled tcpdump filter for Ethernet frames.
pub struct BpfFilter {
    lib: &'static Libpcap,
    program: BpfProgram,
    expression: String,
}

// SAFETY: the program is written once by pcap_compile and only read after
// (pcap_offline_filter takes it by const pointer and keeps no state); it is
// freed in Drop, which has exclusive access.
unsafe impl Send for BpfFilter {}
// SAFETY: see Send: concurrent readers of an immutable program.
unsafe impl Sync for BpfFilter {}

impl std::fmt::Debug for BpfFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfFilter")
            .field("expression", &self.expression)
            .field("instructions", &self.program.bf_len)
            .finish()
    }
}

impl BpfFilter {
    /// Compiles `expression` (tcpdump syntax) for Ethernet frames, optimised.
    pub fn compile(expression: &str) -> Result<Self, BpfError> {
        let lib = libpcap()?;
        let syntax = |message: String| BpfError::Syntax {
            expression: expression.to_owned(),
            message,
        };
        let c_expr =
            CString::new(expression).map_err(|_| syntax("contains a NUL byte".to_owned()))?;
        let _guard = lib.compile_lock.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: pcap_open_dead allocates a handle that only carries the link
        // type and snap length; it is closed below on every path.
        let handle = unsafe { (lib.open_dead)(LINKTYPE_ETHERNET, SNAPLEN) };
        if handle.is_null() {
            return Err(syntax("pcap_open_dead failed".to_owned()));
        }
        let mut program = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        // SAFETY: handle is live, program is a valid out-parameter, c_expr is
        // NUL-terminated and outlives the call.
        let rc =
            unsafe { (lib.compile)(handle, &mut program, c_expr.as_ptr(), 1, NETMASK_UNKNOWN) };
        let result = if rc == 0 {
            Ok(Self {
                lib,
                program,
                expression: expression.to_owned(),
            })
        } else {
            // SAFETY: pcap_geterr returns the handle's NUL-terminated message
            // buffer, valid until the handle is closed; copied before that.
            let message = unsafe { CStr::from_ptr((lib.geterr)(handle)) }
                .to_string_lossy()
                .into_owned();
            Err(syntax(message))
        };
        // SAFETY: the handle is no longer used; the program does not refer to it.
        unsafe { (lib.close)(handle) };
        result
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Whether an Ethernet frame matches. `wire_len` is its original length
    /// (what `len`, `greater` and `less` test); `frame` may be a truncated copy.
    pub fn matches(&self, frame: &[u8], wire_len: u32) -> bool {
        let caplen = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let header = PcapPkthdr {
            ts_sec: 0,
            ts_usec: 0,
            caplen,
            len: wire_len.max(caplen),
        };
        // SAFETY: the program is a compiled, live program; the interpreter
        // reads at most caplen bytes of frame (it bounds-checks every load).
        unsafe { (self.lib.offline_filter)(&self.program, &header, frame.as_ptr()) != 0 }
    }
}

impl Drop for BpfFilter {
    fn drop(&mut self) {
        // SAFETY: the program was filled by pcap_compile and is freed once.
        unsafe { (self.lib.freecode)(&mut self.program) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/TCP frame 10.0.3.7:40000 → 10.0.0.1:443 (checksums zero).
    fn tcp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 54];
        f[12] = 0x08; // IPv4
        f[14] = 0x45;
        f[16..18].copy_from_slice(&40u16.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 3, 7]);
        f[30..34].copy_from_slice(&[10, 0, 0, 1]);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&443u16.to_be_bytes());
        f[46] = 0x50;
        f[47] = 0x02; // SYN
        f
    }

    fn filter(expr: &str) -> Option<BpfFilter> {
        match BpfFilter::compile(expr) {
            Ok(f) => Some(f),
            Err(BpfError::NoLibpcap(e)) => {
                eprintln!("SKIP: libpcap is not installed here ({e})");
                None
            }
            Err(e) => panic!("compile {expr}: {e}"),
        }
    }

    #[test]
    fn matches_like_tcpdump() {
        let f = tcp_frame();
        let cases = [
            ("tcp port 443", true),
            ("host 10.0.3.7 and dst port 443", true),
            ("src host 10.0.0.1", false),
            ("udp", false),
            ("tcp[tcpflags] & tcp-syn != 0", true),
            ("greater 1000", false),
            ("", true),
        ];
        for (expr, want) in cases {
            let Some(bpf) = filter(expr) else { return };
            assert_eq!(bpf.matches(&f, 54), want, "{expr}");
        }
        // `len` is the original length, not the captured one.
        let Some(big) = filter("greater 1000") else {
            return;
        };
        assert!(big.matches(&f, 1500));
    }

    #[test]
    fn truncated_frames_never_read_past_the_end() {
        let Some(bpf) = filter("tcp port 443") else {
            return;
        };
        let f = tcp_frame();
        for cut in 0..f.len() {
            // A load past caplen ends the program with "no match" (never a read
            // out of bounds); the ports end at byte 38.
            assert_eq!(bpf.matches(&f[..cut], 54), cut >= 38, "cut at {cut}");
        }
    }

    #[test]
    fn syntax_errors_name_the_expression() {
        match BpfFilter::compile("tcp prot 80") {
            Err(BpfError::NoLibpcap(_)) => eprintln!("SKIP: libpcap is not installed here"),
            Err(e @ BpfError::Syntax { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("tcp prot 80"), "{msg}");
                assert_eq!(e.code(), "syntax");
            }
            Ok(f) => panic!("compiled a bad filter: {f:?}"),
        }
    }

    #[test]
    fn shared_between_threads() {
        let Some(bpf) = filter("tcp") else { return };
        let bpf = std::sync::Arc::new(bpf);
        let f = tcp_frame();
        let all = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (bpf, f) = (bpf.clone(), f.clone());
                    s.spawn(move || (0..1000).all(|_| bpf.matches(&f, 54)))
                })
                .collect();
            threads.into_iter().all(|t| t.join().unwrap_or(false))
        });
        assert!(all);
    }
}
