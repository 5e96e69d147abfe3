//! `leakscope report`: the exposure map of a replay's output, read back from `events.jsonl` (or
//! the `--sqlite` database) and shown as a terminal summary or one self-contained HTML file.
//! Only the derived events are read (devices, sessions, activities, exposures), never the flows,
//! so a report costs a small fraction of the replay.

#![deny(missing_docs)]

pub mod html;
pub mod load;
pub mod text;

pub use load::{Report, load};

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

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
