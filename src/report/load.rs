//! Reads the derived events back: from an output directory (`events.jsonl`), an `events.jsonl`
//! file, or a SQLite database written with `--sqlite`.

use std::path::Path;

use anyhow::Context;

use crate::record::exposure::{ActivityEvent, DeviceEvent, ExposureEvent, SessionEvent};

fn map_all<T: serde::Serialize + serde::de::DeserializeOwned>(
    items: &[T],
    f: &impl Fn(&str) -> String,
) -> Vec<T> {
    fn walk(v: serde_json::Value, f: &impl Fn(&str) -> String) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(f(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| walk(x, f)).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, x)| (f(&k), walk(x, f))).collect())
            }
            other => other,
        }
    }
    items
        .iter()
        .filter_map(|x| serde_json::to_value(x).ok())
        .filter_map(|v| serde_json::from_value(walk(v, f)).ok())
        .collect()
}

/// Everything a report shows.
#[derive(Debug, Default)]
pub struct Report {
    /// Devices, as written (sorted by id).
    pub devices: Vec<DeviceEvent>,
    /// Sessions, in time order.
    pub sessions: Vec<SessionEvent>,
    /// Activities, in time order.
    pub activities: Vec<ActivityEvent>,
    /// Exposures, device then catalogue order.
    pub exposures: Vec<ExposureEvent>,
}

impl Report {
    /// The report with every string in it (values and map keys, in every event, whatever the
    /// field) passed through `f`: the one place read-back values are made safe for a page or a
    /// terminal. An event that no longer reads back (impossible: typed fields hold no character
    /// an escaper changes) is dropped.
    pub fn map_strings(&self, f: impl Fn(&str) -> String) -> Report {
        Report {
            devices: map_all(&self.devices, &f),
            sessions: map_all(&self.sessions, &f),
            activities: map_all(&self.activities, &f),
            exposures: map_all(&self.exposures, &f),
        }
    }

    fn line(&mut self, kind: &str, json: &str) -> anyhow::Result<()> {
        match kind {
            "device" => self.devices.push(serde_json::from_str(json)?),
            "session" => self.sessions.push(serde_json::from_str(json)?),
            "activity" => self.activities.push(serde_json::from_str(json)?),
            "exposure" => self.exposures.push(serde_json::from_str(json)?),
            _ => {}
        }
        Ok(())
    }

    fn sort(&mut self) {
        self.sessions.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        self.activities.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    }

    /// Sessions of a device.
    pub fn sessions_of<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a SessionEvent> {
        self.sessions.iter().filter(move |s| s.device == device)
    }

    /// Activities of a device.
    pub fn activities_of<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a ActivityEvent> {
        self.activities.iter().filter(move |a| a.device == device)
    }

    /// Exposures of a device.
    pub fn exposures_of<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a ExposureEvent> {
        self.exposures.iter().filter(move |e| e.device == device)
    }
}

const KINDS: [&str; 4] = ["device", "session", "activity", "exposure"];
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Loads the report of `path`: an output directory, an `events.jsonl`, or a database.
pub fn load(path: &Path) -> anyhow::Result<Report> {
    let file = if path.is_dir() { path.join("events.jsonl") } else { path.to_owned() };
    let mut head = [0u8; 16];
    let is_db = std::fs::File::open(&file)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| head == SQLITE_MAGIC);
    let mut r = if is_db { from_sqlite(&file)? } else { from_jsonl(&file)? };
    r.sort();
    Ok(r)
}

fn from_jsonl(file: &Path) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut r = Report::default();
    for (i, line) in text.lines().enumerate() {
        // Every line starts with its kind (serde writes the tag first): skip the others unparsed.
        let Some(rest) = line.strip_prefix("{\"kind\":\"") else { continue };
        let Some(kind) =
            KINDS.iter().find(|k| rest.starts_with(**k) && rest[k.len()..].starts_with('"'))
        else {
            continue;
        };
        r.line(kind, line)
            .with_context(|| format!("{}:{}: bad {kind} event", file.display(), i + 1))?;
    }
    Ok(r)
}

fn from_sqlite(file: &Path) -> anyhow::Result<Report> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(file, flags)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let mut stmt = conn
        .prepare("SELECT kind, json FROM events WHERE kind IN ('device','session','activity','exposure') ORDER BY rowid")
        .with_context(|| format!("{}: not a leakscope database", file.display()))?;
    let mut rows = stmt.query([])?;
    let mut r = Report::default();
    while let Some(row) = rows.next()? {
        let (kind, json): (String, String) = (row.get(0)?, row.get(1)?);
        r.line(&kind, &json).with_context(|| format!("{}: bad {kind} event", file.display()))?;
    }
    Ok(r)
}
