//! `order`: how faithfully a capture of a generated run (what `export`
//! wrote) keeps each flow's send order and timing, the way Wireshark judges
//! a capture: packets that come before one sent earlier in their flow,
//! consecutive packets of a flow that share a timestamp, and the time from
//! send (the tag) to the packet's timestamp.
//!
//! A flow is a Community ID; the generator sends each conversation from one
//! thread in id order, so within a flow, send order is id order. Fragments
//! are left out (a non-first fragment has no ports, so its Community ID is
//! the address pair's, which other flows share), as are untagged packets
//! (other runs, copies truncated before the tag).

use crate::verify::{Latency, tag_of};
use anyhow::{Context, Result};
use mirrorlake_pcap::{CaptureReader, LINKTYPE_ETHERNET};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// What `order` found.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct OrderReport {
    /// The run.
    pub run_id: u32,
    /// Records in the capture.
    pub records: u64,
    /// Tagged packets of the run that were judged.
    pub packets: u64,
    /// Left out: fragments, untagged or other runs' packets, non-Ethernet.
    pub skipped: u64,
    /// Flows (Community IDs) among the judged packets.
    pub flows: u64,
    /// Packets that come after a packet of their flow sent later.
    pub out_of_send_order: u64,
    /// Consecutive packet pairs within flows.
    pub flow_pairs: u64,
    /// Among them, pairs whose two timestamps are equal.
    pub same_ts_pairs: u64,
    /// `same_ts_pairs / flow_pairs`.
    pub same_ts_fraction: f64,
    /// Captures whose timestamps go backwards from one record to the next.
    pub ts_decreases: u64,
    /// Send (the tag's time) to the packet's timestamp.
    pub send_to_ts: Option<Latency>,
}

/// The last packet seen of a flow.
struct Last {
    id: u64,
    ts_ns: i64,
}

/// Judges the capture at `path` for run `run_id`.
pub fn order(path: &Path, run_id: u32) -> Result<OrderReport> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let reader = CaptureReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("read {}", path.display()))?;
    let mut r = OrderReport {
        run_id,
        ..OrderReport::default()
    };
    let mut flows: HashMap<String, Last> = HashMap::new();
    let mut latency = Vec::new();
    let mut prev_ts = i64::MIN;
    for rec in reader {
        let rec = rec.with_context(|| format!("read {}", path.display()))?;
        r.records += 1;
        if rec.ts_ns < prev_ts {
            r.ts_decreases += 1;
        }
        prev_ts = rec.ts_ns;
        let judged = (rec.linktype == LINKTYPE_ETHERNET)
            .then(|| mirrorlake_wire::decode_ethernet(&rec.data, Some(rec.orig_len)).ok())
            .flatten()
            .filter(|d| d.fragment.is_none())
            .and_then(|d| d.community_id())
            .zip(tag_of(&rec.data, run_id));
        let Some((cid, (id, sent_us))) = judged else {
            r.skipped += 1;
            continue;
        };
        r.packets += 1;
        latency.push(rec.ts_ns.div_euclid(1000) - sent_us);
        match flows.get_mut(cid.as_str()) {
            Some(last) => {
                r.flow_pairs += 1;
                if id < last.id {
                    r.out_of_send_order += 1;
                }
                if rec.ts_ns == last.ts_ns {
                    r.same_ts_pairs += 1;
                }
                // The highest id so far: a packet after it with a lower id
                // came out of send order.
                last.id = last.id.max(id);
                last.ts_ns = rec.ts_ns;
            }
            None => {
                flows.insert(
                    cid.as_str().to_owned(),
                    Last {
                        id,
                        ts_ns: rec.ts_ns,
                    },
                );
            }
        }
    }
    r.flows = flows.len() as u64;
    r.same_ts_fraction = if r.flow_pairs == 0 {
        0.0
    } else {
        r.same_ts_pairs as f64 / r.flow_pairs as f64
    };
    r.send_to_ts = Latency::of(latency);
    Ok(r)
}
