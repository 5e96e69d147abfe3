//! `-c N` and `--duration`: where a replay or capture stops, as tcpdump's `-c` and tshark's
//! `-a duration:` do. Checked once per packet: a counter and a comparison.

use super::Timestamp;

/// Stop after `count` packets (counted after the BPF filter, like tcpdump) or once the packets
/// reach `duration` nanoseconds past the first one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limit {
    /// Any bound set: without one, [`Limit::admit`] is a single test.
    active: bool,
    count: Option<u64>,
    duration: Option<i64>,
    seen: u64,
    end: Option<Timestamp>,
    reached: bool,
}

impl Limit {
    /// A limit; `None` for each bound not set.
    pub fn new(count: Option<u64>, duration: Option<std::time::Duration>) -> Self {
        let duration = duration.map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
        Limit { active: count.is_some() || duration.is_some(), count, duration, ..Limit::default() }
    }

    /// Whether the packet at `ts` is still inside the limit (and counts it). The first packet
    /// outside sets [`reached`](Self::reached) and is not processed.
    #[inline]
    pub fn admit(&mut self, ts: Timestamp) -> bool {
        !self.active || self.admit_bounded(ts)
    }

    fn admit_bounded(&mut self, ts: Timestamp) -> bool {
        if self.reached {
            return false;
        }
        if let Some(d) = self.duration {
            let end = *self.end.get_or_insert(Timestamp(ts.nanos().saturating_add(d)));
            if ts >= end {
                self.reached = true;
                return false;
            }
        }
        if self.count.is_some_and(|c| self.seen >= c) {
            self.reached = true;
            return false;
        }
        self.seen += 1;
        // The last counted packet already ends the run: nothing more is read.
        if self.count.is_some_and(|c| self.seen >= c) {
            self.reached = true;
        }
        true
    }

    /// No more packets are wanted.
    pub fn reached(&self) -> bool {
        self.reached
    }
}

/// A `--duration` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duration {text:?}: {why}")]
pub struct DurationError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: DurationWhy,
}

/// What is wrong with a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationWhy {
    /// No leading number.
    #[error("expected a number and a unit, e.g. 90s or 5m")]
    NotANumber,
    /// A unit not known.
    #[error("unknown unit {0:?} (s, m, h, d)")]
    UnknownUnit(String),
    /// Zero, negative or absurd.
    #[error("must be more than 0")]
    NotPositive,
}

/// Parses `--duration`: seconds (`90`), or a number with `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, DurationError> {
    let bad = |why| DurationError { text: text.to_owned(), why };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad(DurationWhy::NotANumber))?;
    let mult = match unit {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(bad(DurationWhy::UnknownUnit(unit.to_owned()))),
    };
    let secs = n * mult;
    if !(secs > 0.0 && secs < 1e10) {
        return Err(bad(DurationWhy::NotPositive));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn count_admits_exactly_n() {
        let mut l = Limit::new(Some(2), None);
        assert!(l.admit(Timestamp(0)));
        assert!(!l.reached());
        assert!(l.admit(Timestamp(1)));
        assert!(l.reached());
        assert!(!l.admit(Timestamp(2)));
    }

    #[test]
    fn duration_is_packet_time_from_the_first_packet() {
        let mut l = Limit::new(None, Some(std::time::Duration::from_secs(10)));
        assert!(l.admit(Timestamp(100 * S)));
        assert!(l.admit(Timestamp(109 * S)));
        assert!(!l.admit(Timestamp(110 * S)));
        assert!(l.reached());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("1.5h").unwrap().as_secs(), 5400);
        assert!(parse_duration("0").is_err());
        assert_eq!(
            parse_duration("5 parsecs").unwrap_err().to_string(),
            r#"duration "5 parsecs": unknown unit " parsecs" (s, m, h, d)"#
        );
    }
}
