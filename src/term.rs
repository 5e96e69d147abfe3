//! Text for a terminal or a log: every control character escaped, and writes that never fail.
//!
//! Values in the outputs come from the network (DHCP host names, User-Agents, server names) or
//! from files someone else may have written: printed raw, an ESC sequence clears the screen or
//! sets the window title, a newline forges a log line. And a daemon whose stderr pipe was closed
//! must go on: `eprintln!` panics on a failed write (exit 101, nothing flushed), so messages go
//! through [`say`] and the log writer [`Stderr`], which drop what cannot be written.

use std::borrow::Cow;
use std::io::Write;

/// Whether `c` must not reach a terminal as is: C0 and C1 controls, DEL, and the Unicode
/// bidirectional overrides and isolates (which reorder what is shown).
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written as `\n`, `\t`, `\x1b` or `\u{202e}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x100 => o.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unsafe(c) => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

/// `text` escaped line by line: its own line breaks kept, every other control escaped.
pub fn escape_lines(text: &str) -> String {
    let mut o = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            o.push('\n');
        }
        o.push_str(&escape(line));
    }
    o
}

/// Set by `--log-format json`: messages go out as JSON lines too, like the log records.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes [`say`] write JSON lines (`--log-format json`).
pub fn set_json(on: bool) {
    JSON.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Writes one line to stderr, escaped; a closed or full stderr is ignored. Under
/// `--log-format json`, a JSON object shaped like a log record (level INFO).
pub fn say(line: &str) {
    say_at("INFO", line);
}

/// [`say`] at a log level (`ERROR` for the message a failed command ends with).
pub fn say_at(level: &str, line: &str) {
    let mut e = std::io::stderr().lock();
    if JSON.load(std::sync::atomic::Ordering::Relaxed) {
        let rec = serde_json::json!({
            "timestamp": now_utc(),
            "level": level,
            "fields": { "message": line.strip_prefix("leakscope: ").unwrap_or(line) },
            "target": "leakscope",
        });
        let _ = writeln!(e, "{rec}");
    } else {
        let _ = writeln!(e, "{}", escape_lines(line));
    }
}

/// The log writer: stderr, each record's control characters escaped (its final newline kept),
/// write errors dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (&*text, ""),
        };
        // A newline inside the record is escaped too: a value cannot forge a log line.
        let _ = write!(std::io::stderr().lock(), "{}{end}", escape(body));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Wall-clock now, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn now_utc() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (date, time) = crate::record::civil::utc_parts(d.as_secs() as i64);
    format!("{date}T{time}.{:03}Z", d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("pixel-7"), "pixel-7");
        assert_eq!(escape("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(escape("x\ny\u{9b}2J\u{202e}"), "x\\ny\\x9b2J\\u{202e}");
        assert_eq!(escape_lines("a\x1b[2J\nb"), "a\\x1b[2J\nb");
    }
}
