//! The aggregator's integration tests (one binary): compaction, the named
//! queries on a fixture lake, and the ignored benchmarks `lake_bench` and
//! `flows_bench` (`cargo test --release -p mirrorlake-aggregator -- --ignored
//! --nocapture lake_bench`, docs/benchmarks.md), over the library's API.

mod compact;
mod fixture;
mod flows_bench;
mod forensic;
mod lake_bench;
mod named_queries;
