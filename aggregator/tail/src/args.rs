//! The tail flags both daemons take (`--tail ...`), over `[tail]` of their config.

use crate::TailConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Live tail service flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TailArgs {
    /// Serve the live tail (QUIC) on this UDP address (`tail.listen`).
    #[arg(long = "tail", env = "MIRRORLAKE_TAIL", value_name = "ADDR")]
    pub tail: Option<SocketAddr>,
    /// File with the token tail clients must present (`tail.token_file`; else MIRRORLAKE_TAIL_TOKEN).
    #[arg(long = "tail-token-file", value_name = "FILE")]
    pub tail_token_file: Option<PathBuf>,
    /// TLS certificate (PEM) of the tail; generated self-signed with the key when both are missing (`tail.cert`).
    #[arg(long = "tail-cert", value_name = "FILE")]
    pub tail_cert: Option<PathBuf>,
    /// TLS private key (PEM) of the tail (`tail.key`).
    #[arg(long = "tail-key", value_name = "FILE")]
    pub tail_key: Option<PathBuf>,
}

impl TailArgs {
    /// Flags override the config file.
    pub fn apply(self, c: &mut TailConfig) {
        if let Some(v) = self.tail {
            c.listen = Some(v);
        }
        if let Some(v) = self.tail_token_file {
            c.token_file = Some(v);
        }
        if let Some(v) = self.tail_cert {
            c.cert = v;
        }
        if let Some(v) = self.tail_key {
            c.key = v;
        }
    }
}
