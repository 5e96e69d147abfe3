//! Reads a replay's or a live run's output back: an output directory (every `events*.jsonl` and
//! `flows*.jsonl`, rotated and gzipped ones included, in time order), one events file, or a SQLite
//! database written with `--sqlite`. Anything else is named for what it is, with what to do.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

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

/// One flow as the report shows it: the records of one `uid` added up, seen from its device.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    /// Flow id.
    pub uid: String,
    /// First packet.
    pub ts: f64,
    /// Last packet.
    pub end: f64,
    /// The flow's local device (`flows.jsonl`'s `device`), empty when none.
    pub device: String,
    /// `tcp`, `udp`, …
    pub proto: String,
    /// The other side's address.
    pub remote: String,
    /// The other side's port.
    pub port: u16,
    /// Server name, when known.
    pub server_name: Option<String>,
    /// Meta service, when the flow went to one.
    pub service: Option<String>,
    /// Endpoint role (`whatsapp.chat`).
    pub endpoint: Option<String>,
    /// Payload bytes the device sent.
    pub bytes_up: u64,
    /// Payload bytes the device received.
    pub bytes_down: u64,
    /// Remote country (ISO code), with `--country-db`.
    pub cc: Option<String>,
    /// Remote AS number, with `--asn-db`.
    pub asn: Option<u32>,
    /// Remote AS organisation, with `--asn-db`.
    pub as_org: Option<String>,
}

/// The fields of a `flows.jsonl` line the report needs; the others are skipped unparsed.
#[derive(serde::Deserialize)]
struct RawFlow {
    ts: f64,
    uid: String,
    #[serde(default)]
    proto: String,
    orig_h: String,
    #[serde(default)]
    orig_p: u16,
    resp_h: String,
    #[serde(default)]
    resp_p: u16,
    #[serde(default)]
    duration: f64,
    #[serde(default)]
    orig_bytes: u64,
    #[serde(default)]
    resp_bytes: u64,
    orig_mac: Option<String>,
    resp_mac: Option<String>,
    server_name: Option<String>,
    service: Option<String>,
    endpoint: Option<String>,
    resp_cc: Option<String>,
    resp_asn: Option<u32>,
    resp_as_org: Option<String>,
    device: Option<String>,
}

impl RawFlow {
    fn into_flow(self) -> Flow {
        let device = self.device.unwrap_or_default();
        // The device is the originator unless it names the responder.
        let reversed = !device.is_empty()
            && (device == self.resp_h || self.resp_mac.as_deref() == Some(&device))
            && device != self.orig_h
            && self.orig_mac.as_deref() != Some(&device);
        let (remote, port, up, down) = if reversed {
            (self.orig_h, self.orig_p, self.resp_bytes, self.orig_bytes)
        } else {
            (self.resp_h, self.resp_p, self.orig_bytes, self.resp_bytes)
        };
        Flow {
            uid: self.uid,
            ts: self.ts,
            end: self.ts + self.duration.max(0.0),
            device,
            proto: self.proto,
            remote,
            port,
            server_name: self.server_name,
            service: self.service,
            endpoint: self.endpoint,
            bytes_up: up,
            bytes_down: down,
            cc: self.resp_cc,
            asn: self.resp_asn,
            as_org: self.resp_as_org,
        }
    }
}

/// Everything a report shows.
#[derive(Debug, Default)]
pub struct Report {
    /// Devices, as written (sorted by id; the last record of a device wins).
    pub devices: Vec<DeviceEvent>,
    /// Sessions, in time order.
    pub sessions: Vec<SessionEvent>,
    /// Activities, in time order.
    pub activities: Vec<ActivityEvent>,
    /// Exposures, device then catalogue order.
    pub exposures: Vec<ExposureEvent>,
    /// Flows (records of one uid added up), in time order; empty when no flows file was found.
    pub flows: Vec<Flow>,
    /// Whether flow records were read (an output directory or database), as opposed to none
    /// being there.
    pub has_flows: bool,
    /// The files read, in order.
    pub sources: Vec<PathBuf>,
    /// The output directory's `manifest.json`: which program, rules and inputs made it.
    pub provenance: Option<Provenance>,
}

/// What a run's `manifest.json` says about where the output came from, for the report.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// `leakscope VERSION (COMMIT)`.
    pub program: String,
    /// `replay` or `capture`, and the interface for a capture.
    pub command: String,
    /// Wall-clock start and end, UTC.
    pub started: String,
    /// Wall-clock end, UTC.
    pub ended: String,
    /// Inputs: path, size in bytes, SHA-256 (hex, empty when it could not be read twice).
    pub inputs: Vec<(String, Option<u64>, String)>,
    /// SHA-256 over the rules and policy in force, and how many files they were.
    pub rules: (String, usize),
}

impl Provenance {
    /// Reads `dir/manifest.json`; `None` when there is none. A manifest that does not parse is
    /// reported and left out: the report of the records does not depend on it.
    fn read(dir: &Path) -> Option<Provenance> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).ok()?;
        let m: crate::manifest::Manifest = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{}: not a leakscope manifest ({e}); left out", path.display());
                return None;
            }
        };
        Some(Provenance {
            program: format!("leakscope {} ({})", m.leakscope.version, m.leakscope.commit),
            command: match &m.interface {
                Some(i) => format!("{} -i {i}", m.command),
                None => m.command.clone(),
            },
            started: m.started,
            ended: m.ended,
            inputs: m
                .inputs
                .into_iter()
                .map(|f| (f.path, f.size, f.sha256.unwrap_or_default()))
                .collect(),
            rules: (m.rules.sha256, m.rules.files.len()),
        })
    }
}

impl Report {
    /// The report with every string in its events (values and map keys, in every event, whatever
    /// the field) passed through `f`: the one place read-back values are made safe for a
    /// terminal. An event that no longer reads back (impossible: typed fields hold no character
    /// an escaper changes) is dropped. Flows are left out: no terminal output shows them (the
    /// page escapes in its template).
    pub fn map_strings(&self, f: impl Fn(&str) -> String) -> Report {
        Report {
            devices: map_all(&self.devices, &f),
            sessions: map_all(&self.sessions, &f),
            activities: map_all(&self.activities, &f),
            exposures: map_all(&self.exposures, &f),
            flows: Vec::new(),
            has_flows: self.has_flows,
            sources: self.sources.clone(),
            provenance: self.provenance.clone(),
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

    fn finish(&mut self, flows: HashMap<String, Flow>) {
        // A live run that rotated may write a device again: the last record has the totals.
        let mut by_id: HashMap<String, DeviceEvent> = HashMap::new();
        for d in self.devices.drain(..) {
            by_id.insert(d.device.clone(), d);
        }
        self.devices = by_id.into_values().collect();
        self.devices.sort_by(|a, b| a.device.cmp(&b.device));
        self.sessions.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        self.activities.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        self.flows = flows.into_values().collect();
        self.flows.sort_by(|a, b| a.ts.total_cmp(&b.ts).then_with(|| a.uid.cmp(&b.uid)));
    }

    fn add_flow(flows: &mut HashMap<String, Flow>, raw: RawFlow) {
        let f = raw.into_flow();
        match flows.get_mut(&f.uid) {
            // Records of a long flow (`active_timeout`) share its uid: one row.
            Some(g) => {
                g.ts = g.ts.min(f.ts);
                g.end = g.end.max(f.end);
                g.bytes_up += f.bytes_up;
                g.bytes_down += f.bytes_down;
            }
            None => {
                flows.insert(f.uid.clone(), f);
            }
        }
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
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// What a path given to `leakscope report` holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// An output directory: its events files and flows files, in order.
    Dir {
        /// `events.jsonl`, rotated ones (`events-YYYYMMDDTHHMMSSZ[-N].jsonl[.gz]`), oldest first.
        events: Vec<PathBuf>,
        /// The same for `flows`.
        flows: Vec<PathBuf>,
    },
    /// One events file (plain or gzipped); `flows` is the `flows.jsonl` beside an `events.jsonl`.
    Events {
        /// The file.
        events: PathBuf,
        /// Its flows, when it is the current `events.jsonl` of a directory that has them.
        flows: Vec<PathBuf>,
    },
    /// A `--sqlite` database.
    Sqlite(PathBuf),
}

/// The rotated files of stream `stem` in `dir`, oldest first: stamped names by (stamp, counter),
/// then the current `stem.jsonl` (a live run writes it last).
pub fn stream_files(dir: &Path, stem: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<((u8, String, u32), PathBuf)> = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let base = name.strip_suffix(".gz").unwrap_or(name);
        let Some(base) = base.strip_suffix(".jsonl") else { continue };
        let key = if base == stem {
            (1, String::new(), 0)
        } else if let Some(stamp) = base.strip_prefix(stem).and_then(|s| s.strip_prefix('-')) {
            // `20261201T052854Z` or `20261201T052854Z-2`.
            let (stamp, n) = match stamp.split_once('-') {
                Some((s, n)) => (s, n.parse().unwrap_or(u32::MAX)),
                None => (stamp, 0),
            };
            if stamp.len() != 16 || !stamp.ends_with('Z') {
                continue;
            }
            (0, stamp.to_string(), n)
        } else {
            continue;
        };
        found.push((key, e.path()));
    }
    // A file and its `.gz` twin cannot both be current; if they are, both are read.
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

fn is_capture_magic(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d] | [0x0a, 0x0d, 0x0d, 0x0a])
    )
}

fn first_bytes(path: &Path, n: usize) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = Vec::with_capacity(n);
    let mut r: Box<dyn Read> = Box::new(f);
    r.by_ref().take(2).read_to_end(&mut head)?;
    if head == GZIP_MAGIC {
        let f = std::fs::File::open(path)?;
        r = Box::new(flate2::read::MultiGzDecoder::new(f));
        head.clear();
    }
    r.take((n - head.len()) as u64).read_to_end(&mut head)?;
    Ok(head)
}

const WANT: &str = "give `leakscope report` the output directory of `leakscope replay` or \
`leakscope capture` (--out DIR), an events.jsonl in it, or a --sqlite database";

/// Tells what `path` is, or why it is not something a report can be made from.
pub fn detect(path: &Path) -> anyhow::Result<Input> {
    let shown = path.display();
    if path.is_dir() {
        let events = stream_files(path, "events")?;
        if events.is_empty() {
            let captures = std::fs::read_dir(path)?
                .flatten()
                .filter(|e| e.path().is_file())
                .any(|e| first_bytes(&e.path(), 4).is_ok_and(|h| is_capture_magic(&h)));
            if captures {
                bail!(
                    "{shown} holds captures, not a leakscope output: run `leakscope replay {shown} --out OUT` first, then `leakscope report OUT`"
                );
            }
            bail!("{shown} has no events.jsonl (nor rotated events-*.jsonl): {WANT}");
        }
        return Ok(Input::Dir { events, flows: stream_files(path, "flows")? });
    }
    let head = first_bytes(path, 4096)?;
    if head.starts_with(SQLITE_MAGIC) {
        return Ok(Input::Sqlite(path.to_owned()));
    }
    if is_capture_magic(&head) {
        bail!(
            "{shown} is a capture (pcap/pcapng), not a leakscope output: run `leakscope replay {shown} --out OUT` first, then `leakscope report OUT`"
        );
    }
    let text = String::from_utf8_lossy(&head);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let object = first.trim_start().starts_with('{');
    let flow_like = object && first.contains("\"uid\":") && first.contains("\"orig_h\":");
    if (object && first.contains("\"kind\":") && !flow_like)
        || (first.is_empty() && name.starts_with("events"))
    {
        let mut flows = Vec::new();
        if matches!(name, "events.jsonl" | "events.jsonl.gz") {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            flows = stream_files(dir, "flows")?;
        }
        return Ok(Input::Events { events: path.to_owned(), flows });
    }
    if flow_like {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        bail!(
            "{shown} holds flow records; the report reads the events beside them: run `leakscope report {}`",
            dir.display()
        );
    }
    if first.is_empty() {
        bail!("{shown} is empty: {WANT}");
    }
    bail!("{shown} is not a leakscope output: {WANT}");
}

/// Loads the report of `path`: an output directory, an events file, or a database.
pub fn load(path: &Path) -> anyhow::Result<Report> {
    let mut r = Report::default();
    let mut flows = HashMap::new();
    match detect(path)? {
        Input::Dir { events, flows: flow_files } => {
            r.provenance = Provenance::read(path);
            for f in &events {
                read_events(&mut r, f)?;
            }
            read_flow_files(&mut r, &mut flows, &flow_files)?;
        }
        Input::Events { events, flows: flow_files } => {
            read_events(&mut r, &events)?;
            read_flow_files(&mut r, &mut flows, &flow_files)?;
        }
        Input::Sqlite(file) => from_sqlite(&mut r, &mut flows, &file)?,
    }
    r.finish(flows);
    Ok(r)
}

fn read_flow_files(
    r: &mut Report,
    flows: &mut HashMap<String, Flow>,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    for f in files {
        r.has_flows = true;
        r.sources.push(f.clone());
        each_line(f, |i, line| {
            let raw: RawFlow = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: bad flow record", f.display(), i + 1))?;
            Report::add_flow(flows, raw);
            Ok(())
        })?;
    }
    Ok(())
}

/// Calls `f` with each line of `file` (gzipped or not). A last line without its newline is a
/// record still being written by a live run: skipped when it does not parse.
fn each_line(
    file: &Path,
    mut f: impl FnMut(usize, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let open =
        || std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()));
    let mut magic = Vec::new();
    open()?.take(2).read_to_end(&mut magic)?;
    let reader: Box<dyn BufRead> = if magic == GZIP_MAGIC {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(open()?)))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, open()?))
    };
    let mut reader = reader;
    let mut line = String::new();
    let mut i = 0;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("{}:{}: cannot read", file.display(), i + 1))?;
        if n == 0 {
            return Ok(());
        }
        let complete = line.ends_with('\n');
        let text = line.trim_end();
        if !text.is_empty() {
            match f(i, text) {
                Err(_) if !complete => return Ok(()),
                other => other?,
            }
        }
        i += 1;
    }
}

fn read_events(r: &mut Report, file: &Path) -> anyhow::Result<()> {
    r.sources.push(file.to_owned());
    each_line(file, |i, line| {
        // leakscope writes the kind first (serde writes the tag first): the other kinds are
        // skipped unparsed. A line whose keys were reordered (jq -S, a hand edit) is asked.
        let kind = match line.strip_prefix("{\"kind\":\"") {
            Some(rest) => {
                KINDS.iter().find(|k| rest.starts_with(**k) && rest[k.len()..].starts_with('"'))
            }
            None if line.contains("\"kind\"") => {
                #[derive(serde::Deserialize)]
                struct Kind {
                    kind: String,
                }
                let k: Kind = serde_json::from_str(line)
                    .with_context(|| format!("{}:{}: not an event", file.display(), i + 1))?;
                KINDS.iter().find(|x| **x == k.kind)
            }
            None => None,
        };
        let Some(kind) = kind else { return Ok(()) };
        r.line(kind, line)
            .with_context(|| format!("{}:{}: bad {kind} event", file.display(), i + 1))
    })
}

fn from_sqlite(
    r: &mut Report,
    flows: &mut HashMap<String, Flow>,
    file: &Path,
) -> anyhow::Result<()> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(file, flags)
        .with_context(|| format!("cannot open {}", file.display()))?;
    r.sources.push(file.to_owned());
    let mut stmt = conn
        .prepare("SELECT kind, json FROM events WHERE kind IN ('device','session','activity','exposure') ORDER BY rowid")
        .with_context(|| format!("{}: not a leakscope database", file.display()))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (kind, json): (String, String) = (row.get(0)?, row.get(1)?);
        r.line(&kind, &json).with_context(|| format!("{}: bad {kind} event", file.display()))?;
    }
    if let Ok(mut stmt) = conn.prepare("SELECT record FROM flows ORDER BY rowid") {
        r.has_flows = true;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let json: String = row.get(0)?;
            let raw: RawFlow = serde_json::from_str(&json)
                .with_context(|| format!("{}: bad flow record", file.display()))?;
            Report::add_flow(flows, raw);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_in_time_order_current_last() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "events.jsonl",
            "events-20261201T052854Z-1.jsonl",
            "events-20261201T052854Z.jsonl.gz",
            "events-20261130T235959Z.jsonl",
            "events-notastamp.jsonl",
            "flows-20261201T052854Z.jsonl",
            "README.md",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let names: Vec<String> = stream_files(dir.path(), "events")
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "events-20261130T235959Z.jsonl",
                "events-20261201T052854Z.jsonl.gz",
                "events-20261201T052854Z-1.jsonl",
                "events.jsonl"
            ]
        );
    }

    #[test]
    fn says_what_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("a.pcap"), [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]).unwrap();
        std::fs::write(p("README.md"), "# hello\n").unwrap();
        std::fs::write(
            p("flows.jsonl"),
            "{\"ts\":1.0,\"uid\":\"C1\",\"proto\":\"tcp\",\"orig_h\":\"10.0.0.1\"}\n",
        )
        .unwrap();
        let err = |path: &Path| format!("{:#}", detect(path).unwrap_err());
        assert!(err(&p("a.pcap")).contains("is a capture"), "{}", err(&p("a.pcap")));
        assert!(err(&p("README.md")).contains("not a leakscope output"));
        assert!(err(&p("flows.jsonl")).contains("holds flow records"));
        assert!(err(dir.path()).contains("holds captures"), "{}", err(dir.path()));
        // Keys reordered (jq -S): still events.
        std::fs::write(p("sorted.jsonl"), "{\"client\":\"10.0.0.2\",\"kind\":\"dns\"}\n").unwrap();
        assert!(matches!(detect(&p("sorted.jsonl")).unwrap(), Input::Events { .. }));
        std::fs::write(p("events.jsonl"), "{\"kind\":\"dns\"}\n").unwrap();
        match detect(dir.path()).unwrap() {
            Input::Dir { events, flows } => {
                assert_eq!(events, [p("events.jsonl")]);
                assert_eq!(flows, [p("flows.jsonl")]);
            }
            other => panic!("{other:?}"),
        }
    }
}
