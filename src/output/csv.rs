//! `--csv FILE`: flow records as one CSV table for spreadsheets (RFC 4180: a header row, commas,
//! fields quoted when they hold a comma, quote or line break). The scalar fields of
//! `flows.jsonl`, plus `time` in UTC for people; lists are joined with spaces.
//!
//! Text that came off the network could start with `=`, `+`, `-` or `@` and be run as a
//! formula by a spreadsheet: such text fields get a leading `'` (OWASP's advice).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::create;
use super::error::OutputError;
use super::events::Event;
use super::sink::{RecordSink, SinkError};
use crate::flow::FlowRecord;
use crate::record::{AppProto, NameSource};

/// The columns, in order.
pub const COLUMNS: &[&str] = &[
    "time",
    "ts",
    "uid",
    "community_id",
    "source",
    "device",
    "proto",
    "orig_h",
    "orig_p",
    "resp_h",
    "resp_p",
    "duration",
    "orig_pkts",
    "resp_pkts",
    "orig_bytes",
    "resp_bytes",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "conn_state",
    "history",
    "end_reason",
    "orig_mac",
    "resp_mac",
    "app_proto",
    "server_name",
    "name_source",
    "alpn",
    "ja4",
    "ja3",
    "service",
    "endpoint",
    "confidence",
    "evidence",
    "resp_asn",
    "resp_as_org",
    "resp_cc",
];

/// Writes flow records to a CSV file; events are not tabular and are left out.
pub struct CsvSink {
    path: PathBuf,
    out: BufWriter<File>,
    row: String,
    error: Option<io::Error>,
}

impl CsvSink {
    /// Creates (truncates) `path` and writes the header. Never through a link, like every output.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out =
            BufWriter::with_capacity(1 << 16, create::open(path, create::Mode::Truncate)?);
        out.write_all(COLUMNS.join(",").as_bytes())?;
        out.write_all(b"\r\n")?;
        Ok(CsvSink { path: path.to_owned(), out, row: String::new(), error: None })
    }
}

/// Appends `text` as one text field: quoted when needed, formula characters defused.
fn text(row: &mut String, text: &str) {
    let defuse = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if defuse || text.contains([',', '"', '\n', '\r']) {
        row.push('"');
        if defuse {
            row.push('\'');
        }
        row.push_str(&text.replace('"', "\"\""));
        row.push('"');
    } else {
        row.push_str(text);
    }
}

/// Formats one record as a CSV row (with its line end).
pub fn row(r: &FlowRecord, out: &mut String) {
    use std::fmt::Write as _;
    let opt = |o: Option<&str>| o.unwrap_or("").to_owned();
    let end_reason = serde_json::to_value(r.end_reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let time = utc(r.ts);
    let fields: [String; 36] = [
        time,
        format!("{:.6}", r.ts),
        r.uid.clone(),
        r.community_id.to_string(),
        opt(r.source.as_deref()),
        opt(r.device.as_deref()),
        r.proto.clone(),
        r.orig_h.to_string(),
        r.orig_p.to_string(),
        r.resp_h.to_string(),
        r.resp_p.to_string(),
        format!("{:.6}", r.duration),
        r.orig_pkts.to_string(),
        r.resp_pkts.to_string(),
        r.orig_bytes.to_string(),
        r.resp_bytes.to_string(),
        r.orig_ip_bytes.to_string(),
        r.resp_ip_bytes.to_string(),
        r.conn_state.as_str().to_owned(),
        r.history.clone(),
        end_reason,
        opt(r.orig_mac.as_deref()),
        opt(r.resp_mac.as_deref()),
        opt(r.app_proto.map(AppProto::as_str)),
        opt(r.server_name.as_deref()),
        opt(r.name_source.map(NameSource::as_str)),
        opt(r.alpn.as_deref()),
        opt(r.ja4.as_deref()),
        opt(r.ja3.as_deref()),
        opt(r.service.as_deref()),
        opt(r.endpoint.as_deref()),
        opt(r.confidence),
        r.evidence.join(" "),
        r.resp_asn.map(|a| a.to_string()).unwrap_or_default(),
        opt(r.resp_as_org.as_deref()),
        opt(r.resp_cc.as_deref()),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        text(out, f);
    }
    let _ = write!(out, "\r\n");
}

/// `2026-01-01T10:00:02Z`: a form spreadsheets read as a date (packet time, whole seconds).
pub fn utc(ts: f64) -> String {
    let (date, time) = crate::record::civil::utc_parts(ts.floor() as i64);
    format!("{date}T{time}Z")
}

impl RecordSink for CsvSink {
    fn flow(&mut self, rec: &mut FlowRecord) {
        if self.error.is_some() {
            return;
        }
        self.row.clear();
        row(rec, &mut self.row);
        if let Err(e) = self.out.write_all(self.row.as_bytes()) {
            self.error = Some(e);
        }
    }

    fn event(&mut self, _: &Event) {}

    fn finish(&mut self) -> Result<(), SinkError> {
        let res = match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        };
        Ok(res.map_err(|e| OutputError::io(&self.path, "write failed", e))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut s = String::new();
        text(&mut s, "plain");
        s.push('|');
        text(&mut s, "a,b \"c\"");
        s.push('|');
        text(&mut s, "=HYPERLINK(\"x\")");
        assert_eq!(s, "plain|\"a,b \"\"c\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"");
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_767_261_602.5), "2026-01-01T10:00:02Z");
        assert_eq!(utc(951_782_400.0), "2000-02-29T00:00:00Z");
    }
}
