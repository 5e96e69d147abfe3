//! `leakscope report`: the exposure map of a replay's or a live run's output, read back from its
//! events and flows files (or the `--sqlite` database) and shown as a terminal summary, JSON, CSV
//! or one self-contained HTML file. Only the derived events (devices, sessions, activities,
//! exposures) and a few fields of each flow record are read.

#![deny(missing_docs)]

pub mod csv;
pub mod filter;
pub mod html;
pub mod load;
pub mod scale;
pub mod text;

use crate::record::civil::civil_from_days;

pub use filter::{Filter, parse_time};
pub use load::{Report, load};

/// `report --format json`: the events the report is made of, as one JSON document
/// (`sources`, `devices`, `sessions`, `activities`, `exposures`; flows are left out).
pub fn json(r: &Report) -> String {
    let doc = serde_json::json!({
        "sources": r.sources,
        "devices": r.devices,
        "sessions": r.sessions,
        "activities": r.activities,
        "exposures": r.exposures,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// `1234567` → `1.2 MB`.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        _ if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        _ if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        _ if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        _ => format!("{n} B"),
    }
}

/// Epoch seconds → `2026-01-01 10:00:05` (UTC).
pub fn time(ts: f64) -> String {
    let secs = ts.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Addresses for display: the first `shown`, then how many more.
pub fn addresses(list: &[std::net::IpAddr], shown: usize) -> String {
    let mut s: Vec<String> = list.iter().take(shown).map(|a| a.to_string()).collect();
    if list.len() > shown {
        s.push(format!("… {} more", list.len() - shown));
    }
    s.join(", ")
}

/// Seconds → `1h 02m`, `3m 05s`, `12.3 s`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as i64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(time(1_767_261_605.9), "2026-01-01 10:00:05");
        assert_eq!(time(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(duration(65.0), "1m 05s");
    }
}
