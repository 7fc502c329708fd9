//! `mirrorlake-collector`: receives AWS VPC Traffic Mirroring traffic, decodes
//! it, batches rows into Arrow and writes the Parquet lake (single-node mode)
//! or Kafka (cluster mode). Also decodes and imports capture files through
//! the same code. The binary (`main.rs`) only parses the command line and
//! runs [`cmd`].

pub mod capture;
pub mod cmd;
pub mod config;
pub mod http;
pub mod metrics;
pub mod ordered;
pub mod pipeline;
pub mod sink;
pub mod udp;
