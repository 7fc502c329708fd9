//! Capture files in and out.
//!
//! [`CaptureReader`] reads pcap (micro- and nanosecond, either byte order) and
//! pcapng (any interface timestamp resolution) into [`Record`]s through
//! `pcap-parser`; it reports a malformed file as an error instead of
//! panicking, after yielding every record read before the damage.
//! [`PcapWriter`] writes classic pcap with microsecond timestamps.
#![forbid(unsafe_code)]

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError};
use std::io::{self, Read, Write};

/// Ethernet link type (LINKTYPE_ETHERNET).
pub const LINKTYPE_ETHERNET: i32 = 1;

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link type of the packet's interface.
    pub linktype: i32,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
}

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// I/O error.
    #[error("read capture: {0}")]
    Io(#[from] io::Error),
    /// Not a pcap or pcapng file, or damaged.
    #[error("malformed capture at byte {offset}: {reason}")]
    Malformed {
        /// Approximate offset of the damage.
        offset: u64,
        /// What the parser said.
        reason: String,
    },
}

struct State {
    legacy_linktype: i32,
    legacy_nanos: bool,
    ifaces: Vec<Iface>,
}

impl State {
    fn on_block(&mut self, block: PcapBlockOwned<'_>) -> Option<Record> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.legacy_linktype = h.network.0;
                self.legacy_nanos = h.is_nanosecond_precision();
                None
            }
            PcapBlockOwned::Legacy(b) => {
                let frac = i64::from(b.ts_usec) * if self.legacy_nanos { 1 } else { 1000 };
                Some(Record {
                    ts_ns: i64::from(b.ts_sec) * 1_000_000_000 + frac,
                    linktype: self.legacy_linktype,
                    orig_len: b.origlen,
                    data: b.data[..(b.caplen as usize).min(b.data.len())].to_vec(),
                })
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                self.ifaces.clear();
                None
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                self.ifaces.push(Iface {
                    linktype: idb.linktype.0,
                    resolution: idb.ts_resolution().unwrap_or(1_000_000),
                    offset_s: idb.ts_offset(),
                });
                None
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let iface = self.ifaces.get(epb.if_id as usize);
                let (linktype, res, off) = iface
                    .map_or((Linktype::ETHERNET.0, 1_000_000, 0), |i| {
                        (i.linktype, i.resolution.max(1), i.offset_s)
                    });
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let secs = (ts / res) as i64 + off;
                let frac_ns = ((ts % res) as u128 * 1_000_000_000 / u128::from(res)) as i64;
                Some(Record {
                    ts_ns: secs.saturating_mul(1_000_000_000).saturating_add(frac_ns),
                    linktype,
                    orig_len: epb.origlen,
                    data: epb.data[..(epb.caplen as usize).min(epb.data.len())].to_vec(),
                })
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let linktype = self
                    .ifaces
                    .first()
                    .map_or(LINKTYPE_ETHERNET, |i| i.linktype);
                Some(Record {
                    ts_ns: 0,
                    linktype,
                    orig_len: spb.origlen,
                    data: spb.data.to_vec(),
                })
            }
            PcapBlockOwned::NG(_) => None,
        }
    }
}

struct Iface {
    linktype: i32,
    resolution: u64,
    offset_s: i64,
}

/// Reads records from a pcap or pcapng stream.
pub struct CaptureReader<R: Read> {
    inner: Box<dyn PcapReaderIterator + Send>,
    _r: std::marker::PhantomData<R>,
    state: State,
    consumed: u64,
    done: bool,
}

impl<R: Read> std::fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("consumed", &self.consumed)
            .finish()
    }
}

impl<R: Read + Send + 'static> CaptureReader<R> {
    /// Opens a capture stream (the format is detected from its magic).
    pub fn new(r: R) -> Result<Self, CaptureError> {
        let inner =
            pcap_parser::create_reader(1 << 20, r).map_err(|e| CaptureError::Malformed {
                offset: 0,
                reason: format!("not a pcap or pcapng file ({e:?})"),
            })?;
        Ok(Self {
            inner,
            _r: std::marker::PhantomData,
            state: State {
                legacy_linktype: LINKTYPE_ETHERNET,
                legacy_nanos: false,
                ifaces: Vec::new(),
            },
            consumed: 0,
            done: false,
        })
    }

    /// Bytes of the stream consumed so far (for progress).
    pub fn position(&self) -> u64 {
        self.consumed
    }

    fn next_record(&mut self) -> Result<Option<Record>, CaptureError> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.inner.next() {
                Ok((len, block)) => {
                    let rec = self.state.on_block(block);
                    self.inner.consume(len);
                    self.consumed += len as u64;
                    if let Some(r) = rec {
                        return Ok(Some(r));
                    }
                }
                Err(PcapError::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(PcapError::Incomplete(_)) => {
                    if let Err(e) = self.inner.refill() {
                        let reason = format!("{e:?}");
                        self.done = true;
                        return Err(self.malformed(reason));
                    }
                }
                Err(e) => {
                    let reason = format!("{e:?}");
                    self.done = true;
                    return Err(self.malformed(reason));
                }
            }
        }
    }

    fn malformed(&self, reason: String) -> CaptureError {
        CaptureError::Malformed {
            offset: self.consumed,
            reason,
        }
    }
}

impl<R: Read + Send + 'static> Iterator for CaptureReader<R> {
    type Item = Result<Record, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Writes a classic pcap file (microsecond timestamps).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header for the given link type and snap length.
    pub fn new(mut w: W, linktype: i32, snaplen: u32) -> io::Result<Self> {
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&0i32.to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        w.write_all(&snaplen.to_le_bytes())?;
        w.write_all(&linktype.to_le_bytes())?;
        Ok(Self { w })
    }

    /// Appends one record: timestamp in microseconds, original length, bytes.
    pub fn write(&mut self, ts_us: i64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let caplen = u32::try_from(data.len()).map_err(|_| io::Error::other("record too large"))?;
        let secs = ts_us.div_euclid(1_000_000);
        let usec = ts_us.rem_euclid(1_000_000);
        self.w
            .write_all(&u32::try_from(secs).unwrap_or(0).to_le_bytes())?;
        self.w.write_all(&(usec as u32).to_le_bytes())?;
        self.w.write_all(&caplen.to_le_bytes())?;
        self.w.write_all(&orig_len.max(caplen).to_le_bytes())?;
        self.w.write_all(data)
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Output capture format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap, microsecond timestamps, one link type.
    Pcap,
    /// pcapng, one interface per capture point (named), microsecond timestamps.
    Pcapng,
}

impl CaptureFormat {
    /// `.pcapng` (and `.ntar`) files are pcapng; everything else pcap.
    pub fn from_path(path: &str) -> Self {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".pcapng") || lower.ends_with(".ntar") {
            Self::Pcapng
        } else {
            Self::Pcap
        }
    }
}

/// Where a packet was captured: a pcapng interface (pcap has no such notion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface<'a> {
    /// Interface name (`if_name`); packets with the same name share an interface.
    pub name: &'a str,
    /// Longer description (`if_description`), written once with the interface.
    pub description: &'a str,
}

/// Writes Ethernet packets as pcap or pcapng with microsecond timestamps.
#[derive(Debug)]
pub struct CaptureWriter<W: Write> {
    inner: Inner<W>,
}

#[derive(Debug)]
enum Inner<W: Write> {
    Pcap(PcapWriter<W>),
    Pcapng(PcapngWriter<W>),
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header.
    pub fn new(w: W, format: CaptureFormat, snaplen: u32) -> io::Result<Self> {
        let inner = match format {
            CaptureFormat::Pcap => Inner::Pcap(PcapWriter::new(w, LINKTYPE_ETHERNET, snaplen)?),
            CaptureFormat::Pcapng => Inner::Pcapng(PcapngWriter::new(w, snaplen)?),
        };
        Ok(Self { inner })
    }

    /// Appends one Ethernet frame captured at `iface`.
    pub fn write(
        &mut self,
        iface: Interface<'_>,
        ts_us: i64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        match &mut self.inner {
            Inner::Pcap(w) => w.write(ts_us, orig_len, data),
            Inner::Pcapng(w) => w.write(iface, ts_us, orig_len, data),
        }
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Pcap(w) => w.w.flush(),
            Inner::Pcapng(w) => w.w.flush(),
        }
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(self) -> io::Result<W> {
        match self.inner {
            Inner::Pcap(w) => w.into_inner(),
            Inner::Pcapng(mut w) => {
                w.w.flush()?;
                Ok(w.w)
            }
        }
    }
}

/// pcapng writer: one section, Ethernet interfaces declared on first use.
#[derive(Debug)]
struct PcapngWriter<W: Write> {
    w: W,
    snaplen: u32,
    interfaces: std::collections::HashMap<String, u32>,
    buf: Vec<u8>,
}

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_EPB: u32 = 6;
const OPT_END: u16 = 0;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn put_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    // Option values are at most 65535 bytes; longer names are cut.
    let value = &value[..value.len().min(usize::from(u16::MAX))];
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + pad4(value.len()), 0);
}

impl<W: Write> PcapngWriter<W> {
    fn new(w: W, snaplen: u32) -> io::Result<Self> {
        let mut s = Self {
            w,
            snaplen,
            interfaces: std::collections::HashMap::new(),
            buf: Vec::with_capacity(16 << 10),
        };
        let mut body = Vec::new();
        body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        let appl = format!("mirrorlake {}", env!("CARGO_PKG_VERSION"));
        put_option(&mut body, OPT_SHB_USERAPPL, appl.as_bytes());
        put_option(&mut body, OPT_END, &[]);
        s.block(PCAPNG_SHB, &body)?;
        Ok(s)
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        let total = u32::try_from(12 + body.len() + pad4(body.len()))
            .map_err(|_| io::Error::other("pcapng block too large"))?;
        self.buf.clear();
        self.buf.extend_from_slice(&kind.to_le_bytes());
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.buf.extend_from_slice(body);
        self.buf.resize(self.buf.len() + pad4(body.len()), 0);
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.w.write_all(&self.buf)
    }

    fn interface(&mut self, iface: Interface<'_>) -> io::Result<u32> {
        if let Some(&id) = self.interfaces.get(iface.name) {
            return Ok(id);
        }
        let id = u32::try_from(self.interfaces.len())
            .map_err(|_| io::Error::other("too many pcapng interfaces"))?;
        let mut body = Vec::new();
        body.extend_from_slice(&(LINKTYPE_ETHERNET as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&self.snaplen.to_le_bytes());
        put_option(&mut body, OPT_IF_NAME, iface.name.as_bytes());
        if !iface.description.is_empty() {
            put_option(&mut body, OPT_IF_DESCRIPTION, iface.description.as_bytes());
        }
        // if_tsresol is left at its default, 10^-6: microseconds.
        put_option(&mut body, OPT_END, &[]);
        self.block(PCAPNG_IDB, &body)?;
        self.interfaces.insert(iface.name.to_owned(), id);
        Ok(id)
    }

    fn write(
        &mut self,
        iface: Interface<'_>,
        ts_us: i64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let id = self.interface(iface)?;
        let caplen = u32::try_from(data.len()).map_err(|_| io::Error::other("record too large"))?;
        let ts = u64::try_from(ts_us).unwrap_or(0);
        let total = u32::try_from(32 + data.len() + pad4(data.len()))
            .map_err(|_| io::Error::other("record too large"))?;
        self.buf.clear();
        self.buf.extend_from_slice(&PCAPNG_EPB.to_le_bytes());
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf
            .extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        self.buf.extend_from_slice(&(ts as u32).to_le_bytes());
        self.buf.extend_from_slice(&caplen.to_le_bytes());
        self.buf
            .extend_from_slice(&orig_len.max(caplen).to_le_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(self.buf.len() + pad4(data.len()), 0);
        self.buf.extend_from_slice(&total.to_le_bytes());
        self.w.write_all(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_round_trip_with_interfaces() {
        let mut w = CaptureWriter::new(Vec::new(), CaptureFormat::Pcapng, 65535).expect("header");
        let a = Interface {
            name: "10.0.3.7 vni 42",
            description: "mirror source 10.0.3.7, VNI 42",
        };
        let b = Interface {
            name: "capture",
            description: "",
        };
        w.write(a, 1_700_000_000_123_456, 1500, &[1, 2, 3])
            .expect("rec");
        w.write(b, 1_700_000_000_123_457, 5, &[4, 5, 6, 7, 8])
            .expect("rec");
        w.write(a, 1_700_000_001_000_000, 4, &[9; 4]).expect("rec");
        let bytes = w.into_inner().expect("flush");
        assert_eq!(bytes.len() % 4, 0);
        let recs: Vec<Record> = CaptureReader::new(std::io::Cursor::new(bytes.clone()))
            .expect("open")
            .collect::<Result<_, _>>()
            .expect("read");
        let got: Vec<(i64, u32, Vec<u8>)> = recs
            .into_iter()
            .map(|r| (r.ts_ns, r.orig_len, r.data))
            .collect();
        assert_eq!(
            got,
            vec![
                (1_700_000_000_123_456_000, 1500, vec![1, 2, 3]),
                (1_700_000_000_123_457_000, 5, vec![4, 5, 6, 7, 8]),
                (1_700_000_001_000_000_000, 4, vec![9; 4]),
            ]
        );
        // Each interface declared once, its name in the file.
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("10.0.3.7 vni 42").count(), 1);
        assert_eq!(text.matches("capture").count(), 1);
    }

    #[test]
    fn format_from_path() {
        assert_eq!(CaptureFormat::from_path("x.pcapng"), CaptureFormat::Pcapng);
        assert_eq!(CaptureFormat::from_path("X.PCAPNG"), CaptureFormat::Pcapng);
        assert_eq!(CaptureFormat::from_path("x.pcap"), CaptureFormat::Pcap);
        assert_eq!(CaptureFormat::from_path("-"), CaptureFormat::Pcap);
    }

    #[test]
    fn pcap_round_trip() {
        let mut w = PcapWriter::new(Vec::new(), LINKTYPE_ETHERNET, 65535).expect("header");
        w.write(1_700_000_000_123_456, 100, &[1, 2, 3])
            .expect("rec");
        w.write(1_700_000_001_000_000, 4, &[4, 5, 6, 7])
            .expect("rec");
        let bytes = w.into_inner().expect("flush");
        let recs: Vec<Record> = CaptureReader::new(std::io::Cursor::new(bytes))
            .expect("open")
            .collect::<Result<_, _>>()
            .expect("read");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].ts_ns, 1_700_000_000_123_456_000);
        assert_eq!(
            (recs[0].orig_len, &recs[0].data[..]),
            (100, &[1u8, 2, 3][..])
        );
        assert_eq!(recs[1].linktype, LINKTYPE_ETHERNET);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(CaptureReader::new(std::io::Cursor::new(vec![0u8; 10])).is_err());
        let mut w = PcapWriter::new(Vec::new(), 1, 65535).expect("header");
        w.write(0, 10, &[0; 10]).expect("rec");
        let mut bytes = w.into_inner().expect("flush");
        bytes.extend_from_slice(&[0xff; 7]); // a cut record header
        let r: Vec<_> = CaptureReader::new(std::io::Cursor::new(bytes))
            .expect("open")
            .collect();
        assert!(r[0].is_ok());
    }
}
