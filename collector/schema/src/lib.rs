//! The packet record schema (v2) and everything that turns decoded packets into
//! Arrow: the column table ([`columns`]), the batch builder ([`builder`]), the
//! sans-IO batcher ([`batcher`]) and the self-contained Kafka message framing
//! ([`message`]).
//!
//! [`columns::PACKET_COLUMNS`] is the single source of truth: the Arrow schema,
//! the Parquet files, the Athena DDL, the Glue table in Terraform and
//! `docs/schema.md` are all derived from it, and tests fail on drift.
#![forbid(unsafe_code)]

/// The package folder, for tests that read repository files: the
/// `CARGO_MANIFEST_DIR` cargo sets when it runs a test, else the one the
/// calling crate was compiled in. A test binary that cargo reuses from
/// another checkout sharing the target directory (workspace crates are
/// fingerprinted by relative path) then still reads this checkout's files.
#[macro_export]
macro_rules! manifest_dir {
    () => {
        ::std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || ::std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            ::std::path::PathBuf::from,
        )
    };
}

pub mod batcher;
pub mod builder;
pub mod columns;
pub mod display;
mod flow_cache;
pub mod frames;
pub mod message;

pub use batcher::{Batcher, BatcherConfig};
pub use builder::{PacketBatchBuilder, RowMeta};
pub use columns::{
    Column, FLOW_COLUMNS, FLOW_WINDOW_US, FLOWS, Kind, PACKET_COLUMNS, PACKETS, SCHEMA_VERSION,
    TABLES, Table, flow_schema, packet_schema, upgrade_packet_batch,
};
pub use frames::{FrameColumns, FrameRow, interface_names};
