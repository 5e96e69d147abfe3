//! The time scale of every chart: the span to draw (without the zero timestamps of a clock that
//! was not set), nice steps from seconds to weeks, and tick labels that carry the date where it
//! changes.

use crate::record::civil::civil_from_days;

/// Timestamps before 2000-01-01 are a clock that was not set (a zero timestamp in a capture):
/// left out of a span when later ones exist, so that one such packet does not stretch the axis
/// back to 1970. A capture made entirely before then still gets its own span.
pub const PLAUSIBLE_FROM: f64 = 946_684_800.0;

/// Nice steps, seconds: 1-2-5 seconds, minutes on the quarter and half, hours dividing a day,
/// days, weeks.
const STEPS: [f64; 22] = [
    1.0,
    2.0,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    10_800.0,
    21_600.0,
    43_200.0,
    86_400.0,
    172_800.0,
    604_800.0,
    1_209_600.0,
    2_419_200.0,
];
const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;
/// 1970-01-05, a Monday: weeks start on Mondays (ISO 8601).
const MONDAY: f64 = 4.0 * DAY;

/// The span of `ts`: (first, last, how many timestamps were left out as implausible). `None`
/// without a finite timestamp.
pub fn span(ts: impl IntoIterator<Item = f64>) -> Option<(f64, f64, usize)> {
    let (mut lo, mut hi, mut early_lo, mut early_hi, mut early) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY, 0);
    for t in ts.into_iter().filter(|t| t.is_finite()) {
        if t < PLAUSIBLE_FROM {
            (early_lo, early_hi, early) = (early_lo.min(t), early_hi.max(t), early + 1);
        } else {
            (lo, hi) = (lo.min(t), hi.max(t));
        }
    }
    if lo.is_finite() {
        Some((lo, hi, early))
    } else if early > 0 {
        Some((early_lo, early_hi, 0))
    } else {
        None
    }
}

/// The smallest nice step that cuts `span` seconds into at most `max` parts.
pub fn nice_step(span: f64, max: usize) -> f64 {
    let raw = span.max(1.0) / max.max(1) as f64;
    STEPS.iter().copied().find(|s| *s >= raw).unwrap_or_else(|| (raw / WEEK).ceil() * WEEK)
}

/// The start of the step-long bucket holding `t`: multiples of the step from the Unix epoch,
/// weeks from a Monday, so that buckets and ticks fall on whole minutes, hours and days.
pub fn floor_to(t: f64, step: f64) -> f64 {
    let origin = if step >= WEEK { MONDAY } else { 0.0 };
    ((t - origin) / step).floor() * step + origin
}

/// One tick of a time axis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tick {
    /// Epoch seconds.
    pub t: f64,
    /// Time of day (`10:05`, `10:05:30`), or the day (`12-01`) for steps of a day and more.
    pub label: String,
    /// The date (`2026-12-01`; the year for steps of a day and more) on the first tick and
    /// wherever it changes from the tick before.
    pub date: Option<String>,
}

/// Ticks for `t0..=t1`, at most `max` of them, on a nice step.
pub fn ticks(t0: f64, t1: f64, max: usize) -> Vec<Tick> {
    let t1 = t1.max(t0);
    let step = nice_step(t1 - t0, max.max(1));
    let mut out: Vec<Tick> = Vec::new();
    let mut t = floor_to(t0, step);
    if t < t0 {
        t += step;
    }
    let mut prev_date = String::new();
    while t <= t1 + 1e-6 {
        let (date, hms) = civil(t);
        let (label, key) = if step >= DAY {
            (date[5..].to_string(), date[..4].to_string())
        } else if step < 60.0 {
            (hms, date.clone())
        } else {
            (hms[..5].to_string(), date.clone())
        };
        let date = (key != prev_date).then(|| key.clone());
        prev_date = key;
        out.push(Tick { t, label, date });
        t += step;
    }
    out
}

/// Epoch seconds → (`YYYY-MM-DD`, `HH:MM:SS`), UTC.
fn civil(t: f64) -> (String, String) {
    let s = t.floor() as i64;
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 10:00:00 UTC.
    const T: f64 = 1_796_119_200.0;

    fn labels(ticks: &[Tick]) -> Vec<String> {
        ticks
            .iter()
            .map(|t| match &t.date {
                Some(d) => format!("{d} {}", t.label),
                None => t.label.clone(),
            })
            .collect()
    }

    #[test]
    fn thirty_seconds_in_five_second_steps() {
        let t = ticks(T + 1.0, T + 31.0, 8);
        assert_eq!(
            labels(&t),
            ["2026-12-01 10:00:05", "10:00:10", "10:00:15", "10:00:20", "10:00:25", "10:00:30"]
        );
    }

    #[test]
    fn five_minutes_get_more_than_one_label() {
        let t = ticks(T, T + 295.0, 8);
        assert_eq!(labels(&t), ["2026-12-01 10:00", "10:01", "10:02", "10:03", "10:04"]);
    }

    #[test]
    fn a_day_and_a_half_shows_the_date_where_it_changes() {
        let t = ticks(T, T + 36.0 * 3600.0, 8);
        assert_eq!(
            labels(&t),
            ["2026-12-01 12:00", "18:00", "2026-12-02 00:00", "06:00", "12:00", "18:00"]
        );
    }

    #[test]
    fn weeks_step_in_days_or_weeks_from_mondays() {
        let t = ticks(T, T + 3.0 * WEEK, 8);
        assert_eq!(t[0].date.as_deref(), Some("2026"));
        // Weekly from Mondays (2026-12-07 is one).
        assert_eq!(labels(&t), ["2026 12-07", "12-14", "12-21"]);
        let t = ticks(T, T + 10.0 * WEEK, 8);
        assert_eq!(labels(&t)[..3], ["2026 12-07", "12-21", "2027 01-04"]);
    }

    #[test]
    fn a_zero_timestamp_does_not_drag_the_span_to_1970() {
        assert_eq!(span([0.0, T, T + 60.0, f64::NAN]), Some((T, T + 60.0, 1)));
        // A capture whose clock was never set keeps its own span.
        assert_eq!(span([5.0, 65.0]), Some((5.0, 65.0, 0)));
        assert_eq!(span([]), None);
    }

    #[test]
    fn never_more_ticks_than_asked() {
        for span in [1.0, 7.0, 61.0, 3599.0, 86_401.0, 9e5, 4e6, 3e7] {
            for max in [2, 5, 8, 12] {
                let t = ticks(T + 0.5, T + 0.5 + span, max);
                assert!(t.len() <= max + 1 && !t.is_empty() || span < 2.0, "{span} {max}: {t:?}");
                assert!(t.windows(2).all(|w| w[1].t > w[0].t));
                assert!(t.iter().all(|k| k.t >= T + 0.5 && k.t <= T + 0.5 + span));
            }
        }
    }
}
