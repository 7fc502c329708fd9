//! The Parquet lake: where it lives ([`Lake`], local paths and `s3://` through
//! one `object_store` code path), how it is laid out (Hive partitions
//! `<table>/dt=YYYY-MM-DD/hour=HH/`), and how files are written and rolled
//! ([`LakeWriter`]). Objects appear under their final name only when complete
//! (object_store multipart upload, or a staged file renamed on the local
//! filesystem), so readers never see half a file.

pub mod flows;
mod layout;
mod props;
pub mod sql;
mod store;
mod writer;

pub use flows::FlowRollup;
pub use layout::{HOUR_US, PartitionKey, TABLE_FLOWS, TABLE_PACKETS};
pub use props::FileConfig;
pub use store::{Lake, LakeError, S3Options};
pub use writer::{
    ClosedFile, FileNamer, LakeWriter, MAX_ROW_GROUP_BYTES, OffsetRangeNamer, RollPolicy,
    SequenceNamer,
};
