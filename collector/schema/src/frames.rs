//! Reading packets back out of rows: the columns a capture record needs
//! (`ts`, `mirror_source`, `vni`, `wire_len`, `frame`), found by name in any
//! batch that has them (a lake scan's projection or a whole packet batch),
//! and the capture interface a packet belongs to. Used by `export` and the
//! live tail, so both name interfaces the same way.

use arrow::array::{Array, AsArray, BinaryArray, Int32Array, StringArray};
use arrow::datatypes::{Int32Type, TimestampMicrosecondType};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// The capture-record columns of a batch.
#[derive(Debug)]
pub struct FrameColumns<'a> {
    ts: &'a arrow::array::TimestampMicrosecondArray,
    source: &'a StringArray,
    vni: &'a Int32Array,
    wire_len: &'a Int32Array,
    frame: &'a BinaryArray,
}

/// One packet as a capture record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRow<'a> {
    /// Arrival time, microseconds since the epoch.
    pub ts_us: i64,
    /// Mirrored ENI (outer source), if tunnelled.
    pub mirror_source: Option<&'a str>,
    /// Mirror session, if tunnelled.
    pub vni: Option<i32>,
    /// Original length of the frame.
    pub wire_len: u32,
    /// The captured frame.
    pub frame: &'a [u8],
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, ArrowError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name:?}")))
}

impl<'a> FrameColumns<'a> {
    /// Finds the columns by name; an error names a missing or mistyped one.
    pub fn of(batch: &'a RecordBatch) -> Result<Self, ArrowError> {
        let typed =
            |name: &str| ArrowError::SchemaError(format!("column {name:?} has the wrong type"));
        Ok(Self {
            ts: column(batch, "ts")?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or_else(|| typed("ts"))?,
            source: column(batch, "mirror_source")?
                .as_string_opt::<i32>()
                .ok_or_else(|| typed("mirror_source"))?,
            vni: column(batch, "vni")?
                .as_primitive_opt::<Int32Type>()
                .ok_or_else(|| typed("vni"))?,
            wire_len: column(batch, "wire_len")?
                .as_primitive_opt::<Int32Type>()
                .ok_or_else(|| typed("wire_len"))?,
            frame: column(batch, "frame")?
                .as_binary_opt::<i32>()
                .ok_or_else(|| typed("frame"))?,
        })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Row `i` (< `len()`).
    pub fn row(&self, i: usize) -> FrameRow<'a> {
        FrameRow {
            ts_us: self.ts.value(i),
            mirror_source: self.source.is_valid(i).then(|| self.source.value(i)),
            vni: self.vni.is_valid(i).then(|| self.vni.value(i)),
            wire_len: u32::try_from(self.wire_len.value(i)).unwrap_or(0),
            frame: self.frame.value(i),
        }
    }
}

/// The capture interface of a packet, one per (mirror source, VNI): a short
/// name (pcapng `if_name`, what Wireshark lists) and a description.
pub fn interface_names(source: Option<&str>, vni: Option<i32>) -> (String, String) {
    match (source, vni) {
        (Some(s), Some(v)) => (
            format!("{s} vni {v}"),
            format!("AWS traffic mirror: mirrored ENI {s}, mirror session VNI {v}"),
        ),
        (Some(s), None) => (s.to_owned(), format!("mirrored ENI {s}")),
        (None, Some(v)) => (format!("vni {v}"), format!("mirror session VNI {v}")),
        (None, None) => (
            "capture".to_owned(),
            "packets imported from a plain capture (no mirror tunnel)".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_tell_sources_apart() {
        let (a, _) = interface_names(Some("10.0.3.7"), Some(42));
        let (b, _) = interface_names(Some("10.0.3.7"), Some(43));
        let (c, d) = interface_names(None, None);
        assert_ne!(a, b);
        assert_eq!(a, "10.0.3.7 vni 42");
        assert_eq!(c, "capture");
        assert!(d.contains("plain capture"));
    }

    #[test]
    fn missing_columns_are_named() {
        let batch = RecordBatch::new_empty(std::sync::Arc::new(arrow::datatypes::Schema::empty()));
        let e = FrameColumns::of(&batch).expect_err("no columns");
        assert!(e.to_string().contains("\"ts\""), "{e}");
        let full = RecordBatch::new_empty(crate::packet_schema());
        assert!(FrameColumns::of(&full).expect("packet batch").is_empty());
    }
}
