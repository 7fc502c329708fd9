//! The live tail: packets as they arrive, streamed over QUIC (quinn, TLS 1.3)
//! to authenticated clients, filtered on the server, so an analyst can run
//! `mirrorlake-aggregator tail ... -w - | wireshark -k -i -` against a fleet
//! behind a load balancer.
//!
//! - [`Hub`]: where the pipeline offers batches (the single-node collector's
//!   lake sink; the aggregator's own Kafka reader). `publish` never waits;
//!   each client has a bounded queue and a slow client loses packets alone,
//!   counted and told to it.
//! - [`TailServer`]: the QUIC endpoint; token authentication (compared in
//!   constant time), `--filter` (tcpdump syntax) and `--where` (SQL over the
//!   packet columns) compiled per client and run on the server.
//! - [`client::tail`]: the client side, writing pcap/pcapng.
//! - [`proto`]: the sans-IO message framing both sides share.

mod args;
pub mod client;
mod config;
mod hub;
pub mod proto;
mod server;

pub use args::TailArgs;
pub use config::{MIN_TOKEN_BYTES, TOKEN_ENV, TailConfig, load_token};
pub use hub::{Hub, TailMetrics};
pub use server::TailServer;
