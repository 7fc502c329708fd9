//! `mirrorlake-aggregator`: the lake side of mirrorlake: `run` (cluster
//! mode, Kafka to Parquet, each record in exactly one file), `query` (SQL
//! over the lake), `ddl` (the Athena/Glue table from the schema), `export`,
//! `tail` and `compact` (closed hours merged and re-clustered by ENI). The
//! binary (`main.rs`) only parses the command line and runs [`cmd`].

pub mod cmd;
pub mod compact;
pub mod config;
pub mod ddl;
pub mod export;
pub mod manifest;
pub mod metrics;
pub mod query;
pub mod range;
pub mod run;
pub mod tail_feed;
