//! `--device`, `--since`, `--until`: which devices and which time window a report shows.
//!
//! Sessions, activities and flows are kept when their time span overlaps the window; exposures
//! when their evidence (first to last) does; devices when they were seen in it. A device's own
//! totals (Meta flows, bytes, sessions) are those of the whole input: they are written once, at
//! the end, and are not cut; the flow table, endpoints, charts and Meta share follow the window.

use anyhow::bail;

use super::Report;

/// What to keep.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Devices by id, MAC, DHCP host name or any of their addresses; empty: all.
    pub devices: Vec<String>,
    /// Window start, epoch seconds.
    pub since: Option<f64>,
    /// Window end, epoch seconds.
    pub until: Option<f64>,
}

impl Filter {
    fn overlaps(&self, a: f64, b: f64) -> bool {
        self.since.is_none_or(|s| b.max(a) >= s) && self.until.is_none_or(|u| a <= u)
    }

    /// Applies the filter. A `--device` that matches no device is an error naming the devices
    /// there are.
    pub fn apply(&self, mut r: Report) -> anyhow::Result<Report> {
        if !self.devices.is_empty() {
            let keep: Vec<String> = r
                .devices
                .iter()
                .filter(|d| {
                    self.devices.iter().any(|w| {
                        d.device.eq_ignore_ascii_case(w)
                            || d.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(w))
                            || d.hostname.as_deref() == Some(w.as_str())
                            || d.addresses.iter().any(|a| a.to_string() == *w)
                    })
                })
                .map(|d| d.device.clone())
                .collect();
            if keep.is_empty() {
                let known: Vec<String> = r
                    .devices
                    .iter()
                    .take(12)
                    .map(|d| match &d.hostname {
                        Some(h) => format!("{} ({h})", d.device),
                        None => d.device.clone(),
                    })
                    .collect();
                bail!(
                    "no device matches {}: the devices are {}{}",
                    self.devices.join(", "),
                    known.join(", "),
                    if r.devices.len() > 12 { ", …" } else { "" }
                );
            }
            let k = |d: &str| keep.iter().any(|x| x == d);
            r.devices.retain(|d| k(&d.device));
            r.sessions.retain(|s| k(&s.device));
            r.activities.retain(|a| k(&a.device));
            r.exposures.retain(|e| k(&e.device));
            r.flows.retain(|f| k(&f.device));
        }
        if self.since.is_some() || self.until.is_some() {
            r.devices.retain(|d| self.overlaps(d.first_seen, d.last_seen));
            r.sessions.retain(|s| self.overlaps(s.ts, s.end));
            r.activities.retain(|a| self.overlaps(a.ts, a.end));
            r.exposures.retain(|e| self.overlaps(e.ts, e.last.unwrap_or(e.ts)));
            r.flows.retain(|f| self.overlaps(f.ts, f.end));
        }
        Ok(r)
    }
}

/// `--since`/`--until` values: epoch seconds, or a UTC date and time `2026-12-01`,
/// `2026-12-01T10:00`, `2026-12-01 10:00:05` (a trailing `Z` is allowed).
pub fn parse_time(s: &str) -> anyhow::Result<f64> {
    let t = s.trim();
    if let Ok(v) = t.parse::<f64>()
        && v.is_finite()
    {
        return Ok(v);
    }
    let bad =
        || anyhow::anyhow!("{s:?}: not a time (epoch seconds, or UTC like 2026-12-01T10:00:05)");
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, clock) = match t.split_once(['T', ' ']) {
        Some((d, c)) => (d, c),
        None => (t, "00:00:00"),
    };
    let num = |x: &str| x.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let c: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || !(2..=3).contains(&c.len()) {
        return Err(bad());
    }
    let (y, m, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (hh, mm) = (num(c[0])?, num(c[1])?);
    let ss: f64 = c.get(2).map_or(Ok(0.0), |x| x.parse::<f64>().map_err(|_| bad()))?;
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || hh > 23
        || mm > 59
        || !(0.0..61.0).contains(&ss)
    {
        return Err(bad());
    }
    Ok((days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60) as f64 + ss)
}

/// (year, month, day) → days since 1970-01-01 (H. Hinnant's algorithm, the inverse of
/// `civil_from_days`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1767261605").unwrap(), 1_767_261_605.0);
        assert_eq!(parse_time("2026-01-01 10:00:05").unwrap(), 1_767_261_605.0);
        assert_eq!(parse_time("2026-01-01T10:00:05Z").unwrap(), 1_767_261_605.0);
        assert_eq!(parse_time("2026-01-01T10:00").unwrap(), 1_767_261_600.0);
        assert_eq!(parse_time("2000-02-29").unwrap(), 951_782_400.0);
        assert_eq!(super::super::time(parse_time("2026-12-01").unwrap()), "2026-12-01 00:00:00");
        for bad in ["yesterday", "2026-13-01", "2026-01-01 25:00", "NaN", ""] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
