//! The collector's integration tests (one test binary): real captures from
//! real programs compared with tshark, the tcpdump corpus, and the receive
//! path end to end into a lake queried through the aggregator, cluster mode
//! through a real Kafka broker, the lake on S3 (moto and Garage), read by DuckDB
//! and by Spark SQL with the generated Athena DDL.

mod cluster;
mod corpus;
mod duckdb;
mod e2e;
mod encode_bench;
mod export;
mod flows;
#[path = "../../aggregator/tests/forensic.rs"]
mod forensic;
mod loadtest;
mod malformed;
mod s3;
mod spark;
mod support;
mod tail;
mod trino;
mod tshark;
