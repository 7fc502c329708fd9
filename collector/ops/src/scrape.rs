//! The other side of [`serve`](crate::serve): reading a daemon's `/healthz`
//! and `/metrics`, for the benchmark harness and the integration tests.
//! Blocking std I/O, no HTTP client crate: one GET over loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `GET path` over a fresh connection: (status, body), or `None` when the
/// daemon does not answer within a few seconds.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: mirrorlake\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// The value of one series of a Prometheus text page, named with its labels
/// exactly as exposed (`name` or `name{label="value"}`).
pub fn series(text: &str, name_and_labels: &str) -> Option<u64> {
    text.lines()
        .find(|l| {
            l.strip_prefix(name_and_labels)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .and_then(value)
}

/// The sum of every series of metric `name`, whatever their labels; `None`
/// when the page has none.
pub fn total(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .map(value)
        .try_fold(None, |sum: Option<u64>, v| {
            Some(Some(sum.unwrap_or(0) + v?))
        })
        .flatten()
}

fn value(line: &str) -> Option<u64> {
    line.rsplit(' ')
        .next()?
        .parse::<f64>()
        .ok()
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# TYPE mirrorlake_packets_dropped_total counter\n\
        mirrorlake_packets_dropped_total{reason=\"oversize\"} 3\n\
        mirrorlake_packets_dropped_total{reason=\"backpressure\"} 4.0\n\
        mirrorlake_packets_dropped_totalx 100\n\
        mirrorlake_rows_written_total 12\n";

    #[test]
    fn series_and_totals() {
        let dropped = "mirrorlake_packets_dropped_total";
        assert_eq!(
            series(PAGE, &format!("{dropped}{{reason=\"oversize\"}}")),
            Some(3)
        );
        assert_eq!(series(PAGE, "mirrorlake_rows_written_total"), Some(12));
        assert_eq!(
            series(PAGE, dropped),
            None,
            "a labelled metric has no bare series"
        );
        assert_eq!(
            total(PAGE, dropped),
            Some(7),
            "another metric sharing the prefix is not added"
        );
        assert_eq!(total(PAGE, "mirrorlake_rows_written_total"), Some(12));
        assert_eq!(total(PAGE, "mirrorlake_absent_total"), None);
    }
}
