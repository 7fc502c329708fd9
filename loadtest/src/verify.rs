//! `verify`: reads a run back from the lake and accounts for every packet by
//! its id (the `MLLT` tag the generator put in its payload): stored, lost,
//! duplicated, per VNI and per mirror source.

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use mirrorlake_lake::Lake;
use serde::Serialize;
use std::collections::BTreeMap;

/// What `verify` found.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// The run.
    pub run_id: u32,
    /// Packets the generator sent (from its report).
    pub sent: u64,
    /// Rows of this run in the lake.
    pub stored: u64,
    /// Distinct ids among them.
    pub unique: u64,
    /// Ids in `0..sent` not found.
    pub lost: u64,
    /// Rows beyond the first of their id.
    pub duplicated: u64,
    /// Rows whose id is outside `0..sent`.
    pub unexpected: u64,
    /// Unique ids stored, per VNI.
    pub per_vni: BTreeMap<i32, u64>,
    /// Unique ids stored, per mirror source.
    pub per_source: BTreeMap<String, u64>,
}

/// Finds the run's tag in a frame: the generated id.
fn id_of(frame: &[u8], run_id: u32) -> Option<u64> {
    let mut needle = [0u8; 8];
    needle[..4].copy_from_slice(crate::traffic::TAG);
    needle[4..].copy_from_slice(&run_id.to_be_bytes());
    let at = frame.windows(8).position(|w| w == needle)?;
    let seq = frame.get(at + 8..at + 16)?;
    Some(u64::from_be_bytes(seq.try_into().ok()?))
}

/// Accounts for run `run_id` of `sent` packets in the lake.
pub async fn verify(lake: &str, run_id: u32, sent: u64) -> Result<Report> {
    let lake = Lake::open(lake).context("open lake")?;
    let batches =
        mirrorlake_lake::sql::query(&lake, "SELECT vni, mirror_source, frame FROM packets")
            .await
            .context("read the lake")?;
    let mut seen = vec![0u32; sent as usize];
    let mut r = Report {
        run_id,
        sent,
        ..Report::default()
    };
    for b in &batches {
        let vni = b.column(0).as_primitive::<Int32Type>();
        let source = b.column(1).as_string::<i32>();
        let frame = b.column(2).as_binary::<i32>();
        for i in 0..b.num_rows() {
            let Some(id) = id_of(frame.value(i), run_id) else {
                continue;
            };
            r.stored += 1;
            match seen.get_mut(id as usize) {
                Some(n) => {
                    *n += 1;
                    if *n == 1 {
                        r.unique += 1;
                        let v = if vni.is_null(i) { -1 } else { vni.value(i) };
                        *r.per_vni.entry(v).or_default() += 1;
                        *r.per_source.entry(source.value(i).to_owned()).or_default() += 1;
                    } else {
                        r.duplicated += 1;
                    }
                }
                None => r.unexpected += 1,
            }
        }
    }
    r.lost = sent - r.unique;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_id_of_its_run_only() {
        let mut frame = vec![0u8; 60];
        frame.extend_from_slice(b"MLLT");
        frame.extend_from_slice(&7u32.to_be_bytes());
        frame.extend_from_slice(&123_456u64.to_be_bytes());
        assert_eq!(id_of(&frame, 7), Some(123_456));
        assert_eq!(id_of(&frame, 8), None);
        assert_eq!(id_of(&frame[..70], 7), None, "tag cut by truncation");
    }
}
