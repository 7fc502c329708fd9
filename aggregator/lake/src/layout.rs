//! Hive layout of the lake.

use chrono::{DateTime, Datelike, Timelike};
use object_store::path::Path;

/// Name of the packet table's folder.
pub const TABLE_PACKETS: &str = mirrorlake_schema::PACKETS.name;

/// Name of the flow table's folder.
pub const TABLE_FLOWS: &str = mirrorlake_schema::FLOWS.name;

/// Microseconds in an hour.
pub const HOUR_US: i64 = 3_600_000_000;

/// One `dt=/hour=` partition, identified by hours since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// Hours since 1970-01-01T00:00Z.
    pub epoch_hour: i64,
}

impl PartitionKey {
    /// The partition of a timestamp in microseconds.
    pub fn of_us(ts_us: i64) -> Self {
        Self {
            epoch_hour: ts_us.div_euclid(HOUR_US),
        }
    }

    /// The `dt` partition value, `YYYY-MM-DD` (UTC).
    pub fn dt(&self) -> String {
        let t = self.start();
        format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
    }

    /// The `hour` partition value, `HH` (UTC).
    pub fn hour(&self) -> String {
        format!("{:02}", self.start().hour())
    }

    /// Its first instant, saturated to chrono's range: a bound far in the
    /// future (`i64::MAX` µs is past year 262,142) names the last day chrono
    /// knows, never 1970 (which once made `compact` with an open-ended bound
    /// find no closed hour at all).
    fn start(&self) -> DateTime<chrono::Utc> {
        DateTime::from_timestamp(self.epoch_hour.saturating_mul(3600), 0).unwrap_or(
            if self.epoch_hour < 0 {
                DateTime::<chrono::Utc>::MIN_UTC
            } else {
                DateTime::<chrono::Utc>::MAX_UTC
            },
        )
    }

    /// `dt=YYYY-MM-DD/hour=HH`.
    pub fn hive_path(&self) -> String {
        format!("dt={}/hour={}", self.dt(), self.hour())
    }

    /// The folder of this partition of `table` under `root`.
    pub fn folder(&self, root: &Path, table: &str) -> Path {
        let mut p = root.clone();
        for part in table.split('/').chain(self.hive_path().split('/')) {
            p = p.join(part);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_paths() {
        // 2024-03-05T07:59:59.999999Z and the next microsecond.
        let ts = 1_709_625_599_999_999;
        assert_eq!(PartitionKey::of_us(ts).hive_path(), "dt=2024-03-05/hour=07");
        assert_eq!(
            PartitionKey::of_us(ts + 1).hive_path(),
            "dt=2024-03-05/hour=08"
        );
        assert_eq!(PartitionKey::of_us(0).hive_path(), "dt=1970-01-01/hour=00");
        assert_eq!(PartitionKey::of_us(ts).dt(), "2024-03-05");
        assert_eq!(PartitionKey::of_us(ts).hour(), "07");
        let f = PartitionKey::of_us(ts).folder(&Path::from("lake"), TABLE_PACKETS);
        assert_eq!(f.as_ref(), "lake/packets/dt=2024-03-05/hour=07");
    }

    #[test]
    fn out_of_range_bounds_saturate() {
        let (far, past) = (PartitionKey::of_us(i64::MAX), PartitionKey::of_us(i64::MIN));
        assert_eq!(far.dt(), "262142-12-31"); // chrono's last day
        assert!(far.dt().as_str() > "2026-01-15" && past.dt().as_str() < "1970-01-01");
    }
}
