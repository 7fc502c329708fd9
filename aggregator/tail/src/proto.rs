//! The tail protocol (sans-IO): one bidirectional QUIC stream per client.
//!
//! ```text
//! client → server   Hello    {token, filter, where}       (JSON)
//! server → client   Welcome  {error: null | "why"}        (JSON; an error ends the stream)
//! server → client   Interface{id, name, description}      before the first packet of an interface
//!                   Packet   {iface, ts_us, wire_len, frame}
//!                   Dropped  {total}                      packets this client missed so far
//! ```
//!
//! Every message is `length: u32 LE` (of what follows), `tag: u8`, body.
//! Integers are little endian. A message is at most [`MAX_MESSAGE_BYTES`].

use serde::{Deserialize, Serialize};

/// ALPN of the tail protocol (QUIC needs one; a version bump changes it).
pub const ALPN: &[u8] = b"mirrorlake-tail/1";

/// Largest message either side accepts (a frame is at most 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

const TAG_HELLO: u8 = 1;
const TAG_WELCOME: u8 = 2;
const TAG_INTERFACE: u8 = 3;
const TAG_PACKET: u8 = 4;
const TAG_DROPPED: u8 = 5;

/// What a client asks for.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    /// The shared secret.
    pub token: String,
    /// tcpdump filter expression, run on the server.
    pub filter: Option<String>,
    /// SQL predicate over the packet columns, run on the server.
    #[serde(rename = "where")]
    pub where_sql: Option<String>,
}

impl std::fmt::Debug for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Hello")
            .field("token", &"<redacted>")
            .field("filter", &self.filter)
            .field("where_sql", &self.where_sql)
            .finish()
    }
}

/// The server's answer to a Hello.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Welcome {
    /// Why the client was refused; `None` when accepted.
    pub error: Option<String>,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Client's request.
    Hello(Hello),
    /// Server's answer.
    Welcome(Welcome),
    /// A capture interface (mirror source and VNI) packets refer to by id.
    Interface {
        /// Id used by `Packet::iface`.
        id: u32,
        /// Short name.
        name: &'a str,
        /// Description.
        description: &'a str,
    },
    /// One packet.
    Packet {
        /// Interface id.
        iface: u32,
        /// Arrival time, µs since the epoch.
        ts_us: i64,
        /// Original length.
        wire_len: u32,
        /// Captured frame.
        frame: &'a [u8],
    },
    /// Packets the server dropped for this client so far (it read too slowly).
    Dropped {
        /// Running total.
        total: u64,
    },
}

/// A malformed message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// Longer than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    /// Unknown tag.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// Body shorter than its fields or not valid.
    #[error("malformed {0} message")]
    Malformed(&'static str),
}

fn frame(buf: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.push(tag);
    body(buf);
    let len = u32::try_from(buf.len() - start - 4).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

impl Message<'_> {
    /// Appends the encoded message to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Message::Hello(h) => frame(buf, TAG_HELLO, |b| {
                serde_json::to_writer(b, h).unwrap_or_default();
            }),
            Message::Welcome(w) => frame(buf, TAG_WELCOME, |b| {
                serde_json::to_writer(b, w).unwrap_or_default();
            }),
            Message::Interface {
                id,
                name,
                description,
            } => frame(buf, TAG_INTERFACE, |b| {
                b.extend_from_slice(&id.to_le_bytes());
                let name = &name.as_bytes()[..name.len().min(usize::from(u16::MAX))];
                b.extend_from_slice(&(name.len() as u16).to_le_bytes());
                b.extend_from_slice(name);
                b.extend_from_slice(description.as_bytes());
            }),
            Message::Packet {
                iface,
                ts_us,
                wire_len,
                frame: data,
            } => frame(buf, TAG_PACKET, |b| {
                b.extend_from_slice(&iface.to_le_bytes());
                b.extend_from_slice(&ts_us.to_le_bytes());
                b.extend_from_slice(&wire_len.to_le_bytes());
                b.extend_from_slice(data);
            }),
            Message::Dropped { total } => frame(buf, TAG_DROPPED, |b| {
                b.extend_from_slice(&total.to_le_bytes());
            }),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses the first message of `buf`: `Ok(None)` when more bytes are needed,
/// else the message and the bytes it used.
pub fn parse(buf: &[u8]) -> Result<Option<(Message<'_>, usize)>, ProtoError> {
    let Some(len) = u32_at(buf, 0) else {
        return Ok(None);
    };
    let len = len as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(ProtoError::TooLarge(len));
    }
    if len == 0 {
        return Err(ProtoError::Malformed("empty"));
    }
    let Some(msg) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let (tag, body) = (msg[0], &msg[1..]);
    let m = match tag {
        TAG_HELLO => Message::Hello(
            serde_json::from_slice(body).map_err(|_| ProtoError::Malformed("hello"))?,
        ),
        TAG_WELCOME => Message::Welcome(
            serde_json::from_slice(body).map_err(|_| ProtoError::Malformed("welcome"))?,
        ),
        TAG_INTERFACE => {
            let bad = || ProtoError::Malformed("interface");
            let id = u32_at(body, 0).ok_or_else(bad)?;
            let n = usize::from(u16::from_le_bytes(
                body.get(4..6)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            ));
            let name = body.get(6..6 + n).ok_or_else(bad)?;
            let description = &body[6 + n..];
            Message::Interface {
                id,
                name: std::str::from_utf8(name).map_err(|_| bad())?,
                description: std::str::from_utf8(description).map_err(|_| bad())?,
            }
        }
        TAG_PACKET => {
            let bad = || ProtoError::Malformed("packet");
            Message::Packet {
                iface: u32_at(body, 0).ok_or_else(bad)?,
                ts_us: u64_at(body, 4).ok_or_else(bad)? as i64,
                wire_len: u32_at(body, 12).ok_or_else(bad)?,
                frame: body.get(16..).ok_or_else(bad)?,
            }
        }
        TAG_DROPPED => Message::Dropped {
            total: u64_at(body, 0).ok_or(ProtoError::Malformed("dropped"))?,
        },
        t => return Err(ProtoError::UnknownTag(t)),
    };
    Ok(Some((m, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message<'static>> {
        vec![
            Message::Hello(Hello {
                token: "s3cret-token-0123456789".into(),
                filter: Some("tcp port 443".into()),
                where_sql: None,
            }),
            Message::Welcome(Welcome {
                error: Some("unauthorized".into()),
            }),
            Message::Welcome(Welcome { error: None }),
            Message::Interface {
                id: 7,
                name: "10.0.3.7 vni 42",
                description: "mirrored ENI",
            },
            Message::Packet {
                iface: 7,
                ts_us: 1_700_000_000_123_456,
                wire_len: 1500,
                frame: &[1, 2, 3, 4, 5],
            },
            Message::Packet {
                iface: 0,
                ts_us: -1,
                wire_len: 0,
                frame: &[],
            },
            Message::Dropped { total: 12345 },
        ]
    }

    #[test]
    fn round_trip_and_every_prefix_wants_more() {
        let mut buf = Vec::new();
        for m in all() {
            m.encode(&mut buf);
        }
        let mut at = 0;
        for want in all() {
            let (got, used) = parse(&buf[at..]).expect("parse").expect("whole");
            assert_eq!(got, want);
            for cut in 0..used {
                assert_eq!(parse(&buf[at..at + cut]), Ok(None), "prefix {cut}");
            }
            at += used;
        }
        assert_eq!(at, buf.len());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(
            parse(&[0xff, 0xff, 0xff, 0x7f, 1]),
            Err(ProtoError::TooLarge(0x7fff_ffff))
        );
        assert_eq!(parse(&[1, 0, 0, 0, 99]), Err(ProtoError::UnknownTag(99)));
        assert_eq!(
            parse(&[3, 0, 0, 0, TAG_PACKET, 1, 2]),
            Err(ProtoError::Malformed("packet"))
        );
        assert_eq!(
            parse(&[2, 0, 0, 0, TAG_HELLO, b'{']),
            Err(ProtoError::Malformed("hello"))
        );
    }

    #[test]
    fn hello_debug_hides_the_token() {
        let h = Hello {
            token: "s3cret-token-0123456789".into(),
            filter: None,
            where_sql: None,
        };
        assert!(!format!("{h:?}").contains("s3cret"));
    }
}
