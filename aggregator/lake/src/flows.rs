//! The `flows` rollup: packet batches in, partial flow aggregates out (one
//! row per Community ID, VNI, mirror source, endpoints and one-minute
//! window). Sans-IO: the writer feeds it the rows of each packets file and
//! writes its rows beside that file, so flows follow the packets' layout and
//! exactly-once rules (a replayed range rebuilds the same rows).
//!
//! Orientation is a pure function of the endpoints, so every row of a flow
//! (other windows, other files, other aggregators) agrees on `srcaddr`:
//! the client is the endpoint with the higher port; with equal or no ports,
//! the address that sorts first as text.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int32Builder, Int64Array, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use mirrorlake_schema::{FLOW_WINDOW_US, flow_schema};
use std::collections::HashMap;
use std::sync::Arc;

/// Strings seen by a rollup, as small ids (a row's key holds no allocation).
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    window: i64,
    vni: Option<i32>,
    source: Option<u32>,
    community: Option<u32>,
    client: u32,
    server: u32,
    client_port: Option<i32>,
    server_port: Option<i32>,
    protocol: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
struct FlowAcc {
    start: i64,
    end: i64,
    src_packets: i64,
    src_bytes: i64,
    dst_packets: i64,
    dst_bytes: i64,
    flags: Option<i32>,
    flags_first: Option<i32>,
    truncated: i64,
}

fn or(a: Option<i32>, b: Option<i32>) -> Option<i32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a | b),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether the packet's sender is the flow's client (see the module docs).
pub fn sender_is_client(
    src: &str,
    src_port: Option<i32>,
    dst: &str,
    dst_port: Option<i32>,
) -> bool {
    match (src_port, dst_port) {
        (Some(s), Some(d)) if s != d => s > d,
        _ => src <= dst,
    }
}

/// Partial flow aggregates of the packet rows added so far.
#[derive(Debug, Default)]
pub struct FlowRollup {
    strings: Interner,
    flows: HashMap<FlowKey, FlowAcc>,
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ArrowError::SchemaError(format!("packets batch: no column {name:?}")))
}

fn opt_i32(a: &Int32Array, i: usize) -> Option<i32> {
    a.is_valid(i).then(|| a.value(i))
}

impl FlowRollup {
    /// An empty rollup.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows (partial flows) held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Adds the IP packets of a `packets` batch (frames without both IP
    /// addresses have no flow and are skipped); returns how many were added.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<usize, ArrowError> {
        let ts = batch
            .column_by_name("ts")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| ArrowError::SchemaError("packets batch: no ts column".into()))?;
        let source: &StringArray = column(batch, "mirror_source")?;
        let vni: &Int32Array = column(batch, "vni")?;
        let src: &StringArray = column(batch, "src_ip")?;
        let dst: &StringArray = column(batch, "dst_ip")?;
        let src_port: &Int32Array = column(batch, "src_port")?;
        let dst_port: &Int32Array = column(batch, "dst_port")?;
        let protocol: &Int32Array = column(batch, "protocol")?;
        let flags: &Int32Array = column(batch, "tcp_flags")?;
        let wire_len: &Int32Array = column(batch, "wire_len")?;
        let truncated: &BooleanArray = column(batch, "truncated")?;
        let community: &StringArray = column(batch, "community_id")?;
        let mut added = 0;
        for i in 0..batch.num_rows() {
            if src.is_null(i) || dst.is_null(i) {
                continue;
            }
            added += 1;
            let (s, d) = (src.value(i), dst.value(i));
            let (sp, dp) = (opt_i32(src_port, i), opt_i32(dst_port, i));
            let forward = sender_is_client(s, sp, d, dp);
            let (client, client_port, server, server_port) = if forward {
                (s, sp, d, dp)
            } else {
                (d, dp, s, sp)
            };
            let t = ts.value(i);
            let key = FlowKey {
                window: t.div_euclid(FLOW_WINDOW_US) * FLOW_WINDOW_US,
                vni: opt_i32(vni, i),
                source: source.is_valid(i).then(|| self.strings.id(source.value(i))),
                community: community
                    .is_valid(i)
                    .then(|| self.strings.id(community.value(i))),
                client: self.strings.id(client),
                server: self.strings.id(server),
                client_port,
                server_port,
                protocol: opt_i32(protocol, i),
            };
            let f = opt_i32(flags, i);
            let len = i64::from(wire_len.value(i));
            let acc = self.flows.entry(key).or_insert(FlowAcc {
                start: t,
                end: t,
                src_packets: 0,
                src_bytes: 0,
                dst_packets: 0,
                dst_bytes: 0,
                flags: None,
                flags_first: f,
                truncated: 0,
            });
            if t < acc.start {
                acc.start = t;
                acc.flags_first = f;
            } else if t == acc.start && (acc.src_packets + acc.dst_packets) > 0 {
                acc.flags_first = or(acc.flags_first, f);
            }
            acc.end = acc.end.max(t);
            if forward {
                acc.src_packets += 1;
                acc.src_bytes += len;
            } else {
                acc.dst_packets += 1;
                acc.dst_bytes += len;
            }
            acc.flags = or(acc.flags, f);
            acc.truncated += i64::from(truncated.value(i));
        }
        Ok(added)
    }

    /// The rows of the `flows` table, ordered by mirror source, VNI,
    /// endpoints, window and Community ID (the same input always gives the
    /// same file); `None` when empty. The rollup is emptied.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.flows.is_empty() {
            return Ok(None);
        }
        let strings = std::mem::take(&mut self.strings);
        let name = |id: u32| strings.name(id);
        let mut rows: Vec<(FlowKey, FlowAcc)> = self.flows.drain().collect();
        // Addresses first: the columns "who talked to whom" reads compress
        // into long runs, and page statistics prune searches by address.
        rows.sort_by(|(a, _), (b, _)| {
            a.source
                .map(name)
                .cmp(&b.source.map(name))
                .then_with(|| a.vni.cmp(&b.vni))
                .then_with(|| name(a.client).cmp(name(b.client)))
                .then_with(|| name(a.server).cmp(name(b.server)))
                .then_with(|| a.window.cmp(&b.window))
                .then_with(|| a.community.map(name).cmp(&b.community.map(name)))
                .then_with(|| a.client_port.cmp(&b.client_port))
                .then_with(|| a.server_port.cmp(&b.server_port))
                .then_with(|| a.protocol.cmp(&b.protocol))
        });
        let n = rows.len();
        let ts = |f: &dyn Fn(&(FlowKey, FlowAcc)) -> i64| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(f))
                    .with_timezone("UTC"),
            )
        };
        let strs = |f: &dyn Fn(&(FlowKey, FlowAcc)) -> Option<u32>| -> ArrayRef {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            for r in &rows {
                b.append_option(f(r).map(name));
            }
            Arc::new(b.finish())
        };
        let ints = |f: &dyn Fn(&(FlowKey, FlowAcc)) -> Option<i32>| -> ArrayRef {
            let mut b = Int32Builder::with_capacity(n);
            for r in &rows {
                b.append_option(f(r));
            }
            Arc::new(b.finish())
        };
        let longs = |f: &dyn Fn(&FlowAcc) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, a)| f(a))))
        };
        let direction: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(
            |(k, _)| match k.source {
                Some(s) if s == k.server => "ingress",
                Some(s) if s == k.client => "egress",
                _ => "unknown",
            },
        )));
        let columns: Vec<ArrayRef> = vec![
            ts(&|(k, _)| k.window),
            ts(&|(_, a)| a.start),
            ts(&|(_, a)| a.end),
            strs(&|(k, _)| k.community),
            ints(&|(k, _)| k.vni),
            strs(&|(k, _)| k.source),
            strs(&|(k, _)| Some(k.client)),
            strs(&|(k, _)| Some(k.server)),
            ints(&|(k, _)| k.client_port),
            ints(&|(k, _)| k.server_port),
            ints(&|(k, _)| k.protocol),
            direction,
            longs(&|a| a.src_packets + a.dst_packets),
            longs(&|a| a.src_bytes + a.dst_bytes),
            longs(&|a| a.src_packets),
            longs(&|a| a.src_bytes),
            longs(&|a| a.dst_packets),
            longs(&|a| a.dst_bytes),
            ints(&|(_, a)| a.flags),
            ints(&|(_, a)| a.flags_first),
            longs(&|a| a.truncated),
        ];
        RecordBatch::try_new(flow_schema(), columns).map(Some)
    }
}

#[cfg(test)]
mod tests;
