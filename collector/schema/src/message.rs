//! Self-contained Kafka message framing: one Arrow IPC stream (schema, one
//! record batch, end-of-stream) behind an 8-byte header that names the
//! framing and the record schema version, so a consumer may start anywhere.
//!
//! ```text
//! 0..4  magic "MLAB"
//! 4..6  record schema version (u16, big endian)
//! 6     IPC body compression: 0 none, 1 LZ4 frame, 2 ZSTD
//! 7     reserved (0)
//! 8..   Arrow IPC stream
//! ```

use crate::columns::SCHEMA_VERSION;
use arrow::error::ArrowError;
use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::record_batch::RecordBatch;

const MAGIC: &[u8; 4] = b"MLAB";
const HEADER_LEN: usize = 8;

/// Body compression of the IPC stream (compress once: Kafka compression off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// No compression.
    None,
    /// LZ4 frame.
    Lz4,
    /// Zstandard, at this level.
    Zstd(i32),
}

impl Codec {
    fn byte(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Lz4 => 1,
            Codec::Zstd(_) => 2,
        }
    }
}

/// Why a message could not be framed or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Not a mirrorlake message (bad magic or too short).
    #[error("not a mirrorlake Arrow message")]
    NotOurs,
    /// A record schema version this build does not read.
    #[error(
        "record schema version {found} is not supported (this build reads {OLDEST_READABLE_VERSION} to {SCHEMA_VERSION})"
    )]
    Version {
        /// The version in the message.
        found: u16,
    },
    /// A batch that does not fit under the size limit even as one row.
    #[error("a single row needs {bytes} bytes, over the message limit of {limit}")]
    RowTooLarge {
        /// Encoded size of the row.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Arrow IPC failure.
    #[error("arrow ipc: {0}")]
    Arrow(#[from] ArrowError),
}

/// Encodes one batch as one message.
pub fn encode(batch: &RecordBatch, codec: Codec) -> Result<Vec<u8>, MessageError> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 2 + 1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SCHEMA_VERSION.to_be_bytes());
    out.extend_from_slice(&[codec.byte(), 0]);
    let options = match codec {
        Codec::None => IpcWriteOptions::default(),
        Codec::Lz4 => {
            IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?
        }
        Codec::Zstd(level) => IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::ZSTD))?
            .try_with_compression_level(Some(level))?,
    };
    let mut w = StreamWriter::try_new_with_options(&mut out, &batch.schema(), options)?;
    w.write(batch)?;
    w.finish()?;
    drop(w);
    Ok(out)
}

/// One message of a split batch: rows `offset..offset + rows` of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// First row of the batch in this message.
    pub offset: usize,
    /// Rows in this message.
    pub rows: usize,
    /// The framed message.
    pub bytes: Vec<u8>,
}

/// Encodes a batch as one or more messages, each at most `max_bytes` long,
/// splitting the batch by rows where needed; messages come in row order.
pub fn encode_split(
    batch: &RecordBatch,
    codec: Codec,
    max_bytes: usize,
) -> Result<Vec<Encoded>, MessageError> {
    let mut out = Vec::new();
    // (offset, rows) still to encode, last to do first.
    let mut todo = vec![(0, batch.num_rows())];
    while let Some((offset, rows)) = todo.pop() {
        let bytes = encode(&batch.slice(offset, rows), codec)?;
        if bytes.len() <= max_bytes {
            out.push(Encoded {
                offset,
                rows,
                bytes,
            });
        } else if rows <= 1 {
            return Err(MessageError::RowTooLarge {
                bytes: bytes.len(),
                limit: max_bytes,
            });
        } else {
            let half = rows / 2;
            // Pushed in reverse so the first half is encoded first.
            todo.push((offset + half, rows - half));
            todo.push((offset, half));
        }
    }
    Ok(out)
}

/// The record schema version of a message, from its header alone.
pub fn version(msg: &[u8]) -> Result<u16, MessageError> {
    if msg.len() < HEADER_LEN || &msg[..4] != MAGIC {
        return Err(MessageError::NotOurs);
    }
    Ok(u16::from_be_bytes([msg[4], msg[5]]))
}

/// The oldest record schema version [`decode`] reads.
pub const OLDEST_READABLE_VERSION: u16 = 1;

/// Decodes a message into its record batches (one, for messages we write),
/// in the current schema: a message of an older version (a collector not yet
/// upgraded) gets nulls in the columns it lacks.
pub fn decode(msg: &[u8]) -> Result<Vec<RecordBatch>, MessageError> {
    let found = version(msg)?;
    if !(OLDEST_READABLE_VERSION..=SCHEMA_VERSION).contains(&found) {
        return Err(MessageError::Version { found });
    }
    let reader = StreamReader::try_new(&msg[HEADER_LEN..], None)?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    if found == SCHEMA_VERSION {
        return Ok(batches);
    }
    batches
        .iter()
        .map(|b| crate::columns::upgrade_packet_batch(b).map_err(Into::into))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{PacketBatchBuilder, RowMeta};
    use mirrorlake_wire::decode_ethernet;

    fn batch(rows: usize) -> RecordBatch {
        let mut b = PacketBatchBuilder::with_capacity("c", rows, rows * 100);
        for i in 0..rows {
            let mut f = vec![(i % 251) as u8; 100];
            f[12] = 0x88;
            f[13] = 0xb5;
            let d = decode_ethernet(&f, None).expect("frame");
            b.append(&d, RowMeta::new(i as i64, i as i64));
        }
        b.finish().expect("rows").expect("valid")
    }

    #[test]
    fn round_trip_each_codec() {
        let b = batch(100);
        for codec in [Codec::None, Codec::Lz4, Codec::Zstd(1), Codec::Zstd(3)] {
            let msg = encode(&b, codec).expect("encode");
            assert_eq!(version(&msg).expect("ours"), SCHEMA_VERSION);
            assert_eq!(decode(&msg).expect("decode"), vec![b.clone()]);
        }
    }

    #[test]
    fn split_keeps_every_row_in_order_under_the_limit() {
        let b = batch(1000);
        let whole = encode(&b, Codec::None).expect("encode").len();
        let msgs = encode_split(&b, Codec::None, whole / 5).expect("split");
        assert!(msgs.len() >= 5);
        let mut rows = Vec::new();
        let mut next = 0;
        for m in &msgs {
            assert!(m.bytes.len() <= whole / 5);
            assert_eq!(m.offset, next);
            next += m.rows;
            let part = decode(&m.bytes).expect("decode");
            assert_eq!(part.iter().map(|b| b.num_rows()).sum::<usize>(), m.rows);
            rows.extend(part);
        }
        assert_eq!(next, b.num_rows());
        let joined = arrow::compute::concat_batches(&b.schema(), &rows).expect("concat");
        assert_eq!(joined, b);
        assert!(matches!(
            encode_split(&batch(1), Codec::None, 10),
            Err(MessageError::RowTooLarge { .. })
        ));
    }

    /// A collector not yet upgraded still publishes an older schema (v1: no
    /// `arrival_seq` nor `gwlb_endpoint`; v2: no `gwlb_endpoint`): its rows
    /// arrive in the current schema, those columns null.
    #[test]
    fn reads_older_messages_into_the_current_schema() {
        use arrow::array::Array as _;
        let b = batch(3);
        for (version, lacks) in [
            (1u16, &["arrival_seq", "gwlb_endpoint"][..]),
            (2, &["gwlb_endpoint"][..]),
        ] {
            let keep: Vec<usize> = (0..b.num_columns())
                .filter(|&i| !lacks.contains(&b.schema().field(i).name().as_str()))
                .collect();
            let old = b.project(&keep).expect("project");
            let mut msg = encode(&old, Codec::Zstd(1)).expect("encode");
            msg[4..6].copy_from_slice(&version.to_be_bytes());
            let got = decode(&msg).expect("decode").remove(0);
            assert_eq!(got.schema(), crate::columns::packet_schema());
            for c in lacks {
                assert_eq!(got.column_by_name(c).expect("column").null_count(), 3);
            }
            assert_eq!(got.project(&keep).expect("project"), old);
            // Version 0 never existed.
            msg[4..6].copy_from_slice(&0u16.to_be_bytes());
            assert!(matches!(
                decode(&msg),
                Err(MessageError::Version { found: 0 })
            ));
        }
    }

    #[test]
    fn rejects_foreign_and_future_messages() {
        assert!(matches!(decode(b"hello"), Err(MessageError::NotOurs)));
        let mut msg = encode(&batch(1), Codec::Zstd(1)).expect("encode");
        msg[5] = 99;
        assert!(matches!(
            decode(&msg),
            Err(MessageError::Version { found: 99 })
        ));
        let mut msg = encode(&batch(1), Codec::Zstd(1)).expect("encode");
        msg.truncate(msg.len() / 2);
        assert!(decode(&msg).is_err());
    }
}
