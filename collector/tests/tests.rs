//! The collector's integration tests (one test binary): real captures from
//! real programs compared with tshark, the tcpdump corpus, and the receive
//! path end to end into a lake queried through the aggregator, and cluster
//! mode through a real Kafka broker.

mod cluster;
mod corpus;
mod e2e;
mod support;
mod tshark;
