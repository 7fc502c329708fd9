//! Batches prepared for text output (JSON, CSV, tables).

use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// Rewrites timestamp columns zoned `"UTC"` as `"+00:00"`: the same instants,
/// but a zone Arrow's text writers format without the chrono-tz database.
pub fn for_display(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_named_utc(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        match f.data_type() {
            DataType::Timestamp(unit, Some(tz)) if tz.as_ref() == "UTC" => {
                let t = DataType::Timestamp(*unit, Some("+00:00".into()));
                columns.push(cast(c, &t)?);
                fields.push(Arc::new(Field::new(f.name(), t, f.is_nullable())));
            }
            _ => {
                columns.push(c.clone());
                fields.push(f.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

fn is_named_utc(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, Some(tz)) if tz.as_ref() == "UTC")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampMicrosecondArray;

    #[test]
    fn utc_timestamps_render_without_tz_database() {
        let a = TimestampMicrosecondArray::from(vec![1_700_000_000_000_001]).with_timezone("UTC");
        let b = RecordBatch::try_from_iter([("ts", Arc::new(a) as _)]).expect("batch");
        let d = for_display(&b).expect("cast");
        let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
        w.write(&d).expect("json");
        w.finish().expect("finish");
        let s = String::from_utf8(w.into_inner()).expect("utf8");
        assert!(s.contains("2023-11-14T22:13:20.000001"), "{s}");
    }
}
