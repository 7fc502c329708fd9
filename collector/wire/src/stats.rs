//! Plain decode counters; binaries export them as metrics (per batch).

use crate::{Anomaly, Decoded, DropReason};

/// Counts of decoded packets, drops by reason and anomalies by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Inputs that became rows.
    pub decoded: u64,
    /// Inputs dropped, indexed by [`DropReason::index`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Kept rows with an anomaly, indexed by [`Anomaly::index`].
    pub anomalies: [u64; Anomaly::ALL.len()],
}

impl DecodeStats {
    /// Counts one decode result.
    pub fn record(&mut self, result: &Result<Decoded<'_>, DropReason>) {
        match result {
            Ok(d) => {
                self.decoded += 1;
                for a in d.anomalies.iter() {
                    self.anomalies[a.index()] += 1;
                }
            }
            Err(r) => self.dropped[r.index()] += 1,
        }
    }

    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &DecodeStats) {
        self.decoded += other.decoded;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped) {
            *a += b;
        }
        for (a, b) in self.anomalies.iter_mut().zip(other.anomalies) {
            *a += b;
        }
    }

    /// Non-zero counters as `(code, count)`: drops first, then anomalies.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (r.code(), self.dropped[r.index()]))
            .chain(
                Anomaly::ALL
                    .iter()
                    .map(|a| (a.code(), self.anomalies[a.index()])),
            )
            .filter(|(_, n)| *n > 0)
    }
}
