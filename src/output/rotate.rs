//! Output rotation for long-running capture: a `.jsonl` stream is closed at a size or packet-time
//! boundary and a new timestamped file started, always between two records.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::error::{RotateError, RotateWhy};
use crate::capture::Timestamp;

const SEC: i64 = 1_000_000_000;

/// When to start a new file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotate {
    /// After the file reaches this many bytes (checked after each record).
    Size(u64),
    /// At each multiple of this many nanoseconds of packet time (`1h` rotates on the hour).
    Every(i64),
}

impl Rotate {
    /// Parses `100M`, `512K`, `2G`, `1000` (bytes) or `30s`, `15m`, `1h`, `1d`.
    pub fn parse(text: &str) -> Result<Rotate, RotateError> {
        let bad = |why| RotateError { text: text.to_owned(), why };
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| bad(RotateWhy::NotANumber))?;
        if n == 0 {
            return Err(bad(RotateWhy::Zero));
        }
        let size = |mult: u64| n.checked_mul(mult).map(Rotate::Size);
        let every = |mult: i64| (n as i64).checked_mul(mult).map(Rotate::Every);
        let r = match unit {
            "" | "B" => size(1),
            "K" | "k" | "KB" | "KiB" => size(1 << 10),
            "M" | "MB" | "MiB" => size(1 << 20),
            "G" | "GB" | "GiB" => size(1 << 30),
            "s" => every(SEC),
            "m" | "min" => every(60 * SEC),
            "h" => every(3600 * SEC),
            "d" => every(86400 * SEC),
            _ => return Err(bad(RotateWhy::UnknownUnit(unit.to_owned()))),
        };
        r.ok_or_else(|| bad(RotateWhy::TooLarge))
    }
}

impl fmt::Display for Rotate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rotate::Size(b) => write!(f, "every {b} bytes"),
            Rotate::Every(ns) => write!(f, "every {} s of packet time", ns / SEC),
        }
    }
}

/// How a long-running writer opens and rotates its files.
#[derive(Clone, Debug, Default)]
pub struct OutputOptions {
    /// Rotation; `None` writes one file.
    pub rotate: Option<Rotate>,
    /// Gzip files closed by rotation (`flows-….jsonl.gz`), in a background thread.
    pub compress_rotated: bool,
}

/// UTC `YYYYMMDDTHHMMSSZ` of a packet timestamp (civil-from-days, proleptic Gregorian).
pub fn utc_stamp(ts: Timestamp) -> String {
    let secs = ts.nanos().div_euclid(SEC);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's days → civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `dir/flows.jsonl` + stamp → `dir/flows-STAMP.jsonl`, with `-N` added if that file exists.
pub fn stamped_path(base: &Path, ts: Timestamp) -> PathBuf {
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    let ext = base.extension().and_then(|s| s.to_str()).unwrap_or("jsonl");
    let stamp = utc_stamp(ts);
    let mut n = 0;
    loop {
        let name = match n {
            0 => format!("{stem}-{stamp}.{ext}"),
            n => format!("{stem}-{stamp}-{n}.{ext}"),
        };
        let p = base.with_file_name(name);
        let gz = p.with_extension(format!("{ext}.gz"));
        if !p.exists() && !gz.exists() {
            return p;
        }
        n += 1;
    }
}

/// Opens `path` for appending, creating it: a restarted daemon or a SIGHUP after logrotate never
/// truncates what is there.
pub fn open_append(path: &Path) -> io::Result<File> {
    super::create::open(path, super::create::Mode::Append)
}

/// Compresses `path` to `path.gz` and removes `path`, on a background thread so that the
/// pipeline never waits for gzip. Failures are logged; the uncompressed file then stays.
pub fn compress_in_background(path: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Err(e) = compress(&path) {
            tracing::warn!("{}: gzip after rotation failed: {e}", path.display());
        }
    })
}

fn compress(path: &Path) -> io::Result<()> {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let gz_path = PathBuf::from(gz_name);
    let mut input = BufReader::new(File::open(path)?);
    let out = BufWriter::new(super::create::open(&gz_path, super::create::Mode::New)?);
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    io::copy(&mut input, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::remove_file(path)
}

/// Start of the rotation period holding `now`, and the start of the next one.
pub fn period(now: Timestamp, every: i64) -> (Timestamp, Timestamp) {
    let start = now.nanos().div_euclid(every) * every;
    (Timestamp(start), Timestamp(start.saturating_add(every)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_durations() {
        assert_eq!(Rotate::parse("100M"), Ok(Rotate::Size(100 << 20)));
        assert_eq!(Rotate::parse("512k"), Ok(Rotate::Size(512 << 10)));
        assert_eq!(Rotate::parse("1h"), Ok(Rotate::Every(3600 * SEC)));
        assert_eq!(Rotate::parse("30s"), Ok(Rotate::Every(30 * SEC)));
        let e = Rotate::parse("1x").unwrap_err();
        assert_eq!(e.why, RotateWhy::UnknownUnit("x".into()));
        assert_eq!(
            e.to_string(),
            r#"rotation "1x": unknown unit "x" (sizes: K, M, G; durations: s, m, h, d)"#
        );
        assert!(Rotate::parse("h").is_err());
        assert!(Rotate::parse("0M").is_err());
    }

    #[test]
    fn stamps_are_utc() {
        assert_eq!(utc_stamp(Timestamp(0)), "19700101T000000Z");
        // 2026-01-01T10:00:00Z
        assert_eq!(utc_stamp(Timestamp(1_767_261_600 * SEC)), "20260101T100000Z");
        // 2024-02-29T23:59:59Z (leap day)
        assert_eq!(utc_stamp(Timestamp(1_709_251_199 * SEC + 999)), "20240229T235959Z");
    }

    #[test]
    fn periods_align_to_multiples() {
        let (s, e) = period(Timestamp(1_767_261_600 * SEC + 1234), 3600 * SEC);
        assert_eq!(s, Timestamp(1_767_261_600 * SEC));
        assert_eq!(e, Timestamp(1_767_265_200 * SEC));
    }
}
