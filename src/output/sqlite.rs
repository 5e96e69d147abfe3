//! SQLite output (`--sqlite FILE`): tables `flows`, `events`, `devices`, `sessions`, `exposures`.
//! Rows are written in transactions of at most [`BATCH`] records, so an interrupted run leaves a
//! consistent database holding every batch committed before the interruption. Indexes make
//! "Meta contacts of a device per hour" an index range scan.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use super::create;
use super::error::OutputError;
use crate::record::events::Event;
use crate::record::sink::{RecordSink, SinkError};
use crate::record::{AppProto, FlowRecord};

/// Records per transaction.
pub const BATCH: usize = 10_000;

/// `PRAGMA application_id` of a leakscope database ("LKSP"): `--sqlite` replaces only a file that
/// carries it (or, from before it was set, has exactly leakscope's tables).
pub const APPLICATION_ID: i32 = 0x4c4b_5350;

/// leakscope's tables, sorted.
const TABLES: [&str; 5] = ["devices", "events", "exposures", "flows", "sessions"];

const SCHEMA: &str = "
PRAGMA synchronous = NORMAL;
PRAGMA application_id = 1280004944; -- APPLICATION_ID
CREATE TABLE flows (
  uid TEXT NOT NULL, ts REAL NOT NULL, hour INTEGER NOT NULL, device TEXT, proto TEXT NOT NULL,
  orig_h TEXT NOT NULL, orig_p INTEGER NOT NULL, resp_h TEXT NOT NULL, resp_p INTEGER NOT NULL,
  duration REAL NOT NULL, orig_pkts INTEGER NOT NULL, resp_pkts INTEGER NOT NULL,
  orig_bytes INTEGER NOT NULL, resp_bytes INTEGER NOT NULL, conn_state TEXT NOT NULL,
  end_reason TEXT NOT NULL, app_proto TEXT, server_name TEXT, service TEXT, endpoint TEXT,
  confidence TEXT, ja4 TEXT, resp_cc TEXT,
  app TEXT, app_uid INTEGER, -- the Android app (PCAPdroid captures that name it)
  record TEXT NOT NULL -- the flows.jsonl line
);
CREATE INDEX flows_meta_by_device_hour ON flows (device, hour, service) WHERE service IS NOT NULL;
CREATE INDEX flows_uid ON flows (uid);
CREATE INDEX flows_by_device_app ON flows (device, app, hour) WHERE app IS NOT NULL;
CREATE TABLE events (
  ts REAL NOT NULL, kind TEXT NOT NULL, device TEXT, uid TEXT, app TEXT,
  json TEXT NOT NULL -- the events.jsonl line
);
CREATE INDEX events_by_kind_device ON events (kind, device, ts);
CREATE TABLE devices (
  device TEXT PRIMARY KEY, mac TEXT, oui_vendor TEXT, hostname TEXT, vendor_class TEXT,
  addresses TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
  meta_flows INTEGER NOT NULL, meta_bytes_up INTEGER NOT NULL, meta_bytes_down INTEGER NOT NULL
);
CREATE TABLE sessions (
  session TEXT PRIMARY KEY, device TEXT NOT NULL, ts REAL NOT NULL, end REAL NOT NULL,
  duration REAL NOT NULL, bursts INTEGER NOT NULL, bytes_up INTEGER NOT NULL,
  bytes_down INTEGER NOT NULL, app TEXT, app_uid INTEGER
);
CREATE INDEX sessions_by_device ON sessions (device, ts);
CREATE TABLE exposures (
  device TEXT NOT NULL, field TEXT NOT NULL, observability TEXT NOT NULL, status TEXT NOT NULL,
  count INTEGER NOT NULL, bytes INTEGER NOT NULL, ts REAL NOT NULL, last REAL,
  evidence TEXT NOT NULL, apps TEXT, PRIMARY KEY (device, field)
);
";

/// Writes records into a fresh SQLite database.
pub struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    pending: usize,
    error: Option<OutputError>,
}

impl SqliteSink {
    /// Creates `path` with the schema. An existing file is replaced only if it is a leakscope
    /// database (or empty); a link, a device or any other file is refused.
    pub fn create(path: &Path) -> Result<Self, CreateError> {
        let io = |source| CreateError::Io { path: path.to_owned(), source };
        let fail = |source| CreateError::Sqlite { path: path.to_owned(), source };
        replaceable(path)?;
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", path.display()));
            // A link is removed, never followed.
            if std::fs::symlink_metadata(&p).is_ok() {
                std::fs::remove_file(&p).map_err(io)?;
            }
        }
        // Created here, exclusively: SQLite then opens the very file made for it.
        drop(create::open(path, create::Mode::New).map_err(CreateError::Open)?);
        let flags = OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        conn.execute_batch("BEGIN").map_err(fail)?;
        Ok(SqliteSink { conn, path: path.to_owned(), pending: 0, error: None })
    }

    fn failed(&self, what: &'static str, source: rusqlite::Error) -> OutputError {
        OutputError::Sqlite { path: self.path.clone(), what, source }
    }

    fn run(&mut self, f: impl FnOnce(&Connection) -> rusqlite::Result<()>) {
        if self.error.is_some() {
            return;
        }
        let res = f(&self.conn).and_then(|()| {
            self.pending += 1;
            if self.pending >= BATCH {
                self.pending = 0;
                self.conn.execute_batch("COMMIT; BEGIN")?;
            }
            Ok(())
        });
        if let Err(e) = res {
            self.error = Some(self.failed("write failed", e));
        }
    }
}

/// Why the database could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// An existing file that is not ours to replace (why not).
    #[error("{}: {why}", path.display())]
    Refused {
        /// The database path.
        path: PathBuf,
        /// What the file is.
        why: &'static str,
    },
    /// Looking at or removing the old file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The database path.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// Creating the file failed (the error names the path).
    #[error("{0}")]
    Open(std::io::Error),
    /// SQLite could not open it or write the schema.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The database path.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// Whether `path` may be replaced: missing, empty, or a leakscope database.
fn replaceable(path: &Path) -> Result<(), CreateError> {
    let refuse = |why: &'static str| Err(CreateError::Refused { path: path.to_owned(), why });
    let io = |source| CreateError::Io { path: path.to_owned(), source };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link: refusing to replace it");
    }
    if !meta.is_file() {
        return refuse("exists and is not a regular file: refusing to replace it");
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut head = [0u8; 100];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(io)?;
    if n < 100 || !head.starts_with(b"SQLite format 3\0") {
        return refuse("exists and is not a SQLite database: refusing to replace it");
    }
    if i32::from_be_bytes([head[68], head[69], head[70], head[71]]) == APPLICATION_ID {
        return Ok(());
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let tables = Connection::open_with_flags(path, flags).and_then(|c| {
        let mut st =
            c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
        st.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()
    });
    match tables {
        Ok(t) if t == TABLES => Ok(()),
        _ => refuse(
            "exists and is not a leakscope database: refusing to replace it (remove it, or \
             choose another name)",
        ),
    }
}

fn flow_row(c: &Connection, r: &FlowRecord) -> rusqlite::Result<()> {
    let json = serde_json::to_string(r).unwrap_or_default();
    c.prepare_cached(
        "INSERT INTO flows VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26)",
    )?
    .execute(params![
        r.uid,
        r.ts,
        (r.ts as i64).div_euclid(3600) * 3600,
        r.device.as_deref(),
        r.proto,
        r.orig_h.to_string(),
        r.orig_p,
        r.resp_h.to_string(),
        r.resp_p,
        r.duration,
        r.orig_pkts as i64,
        r.resp_pkts as i64,
        r.orig_bytes as i64,
        r.resp_bytes as i64,
        r.conn_state.as_str(),
        serde_json::to_value(r.end_reason).ok().and_then(|v| v.as_str().map(str::to_owned)),
        r.app_proto.map(AppProto::as_str),
        r.server_name.as_deref(),
        r.service.as_deref(),
        r.endpoint.as_deref(),
        r.confidence,
        r.ja4.as_deref(),
        r.resp_cc.as_deref(),
        r.app.as_deref(),
        r.app_uid,
        json,
    ])?;
    Ok(())
}

fn event_rows(c: &Connection, ev: &Event) -> rusqlite::Result<()> {
    let json = serde_json::to_value(ev).unwrap_or_default();
    let s = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let ts = json.get("ts").and_then(|v| v.as_f64()).unwrap_or(0.0);
    c.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![
        ts,
        s("kind"),
        s("device"),
        s("uid"),
        s("app"),
        json.to_string()
    ])?;
    match ev {
        Event::Device(d) => {
            let addrs = serde_json::to_string(&d.addresses).unwrap_or_default();
            c.prepare_cached(
                "INSERT OR REPLACE INTO devices VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
            )?
            .execute(params![
                d.device,
                d.mac,
                d.oui_vendor,
                d.hostname,
                d.vendor_class,
                addrs,
                d.first_seen,
                d.last_seen,
                d.meta_flows as i64,
                d.meta_bytes_up as i64,
                d.meta_bytes_down as i64
            ])?;
        }
        Event::Session(s) => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO sessions VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            )?
            .execute(params![
                s.session,
                s.device,
                s.ts,
                s.end,
                s.duration,
                s.bursts as i64,
                s.bytes_up as i64,
                s.bytes_down as i64,
                s.app,
                s.app_uid
            ])?;
        }
        Event::Exposure(e) => {
            let evidence = serde_json::to_string(&e.evidence).unwrap_or_default();
            let apps = (!e.apps.is_empty()).then(|| serde_json::to_string(&e.apps).ok());
            c.prepare_cached(
                "INSERT OR REPLACE INTO exposures VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            )?
            .execute(params![
                e.device,
                e.field,
                e.observability,
                e.status,
                e.count as i64,
                e.bytes as i64,
                e.ts,
                e.last,
                evidence,
                apps.flatten()
            ])?;
        }
        _ => {}
    }
    Ok(())
}

impl RecordSink for SqliteSink {
    fn flow(&mut self, rec: &mut FlowRecord) {
        self.run(|c| flow_row(c, rec));
    }
    fn event(&mut self, ev: &Event) {
        self.run(|c| event_rows(c, ev));
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        if self.error.is_none()
            && let Err(e) = self.conn.execute_batch("COMMIT; BEGIN")
        {
            self.error = Some(self.failed("commit failed", e));
        }
        self.pending = 0;
        self.error.take().map_or(Ok(()), |e| Err(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EndReason;
    use crate::record::flow::ConnCode;

    fn record(i: usize) -> FlowRecord {
        let (a, b) = ("10.0.0.2".parse().unwrap(), "157.240.1.1".parse().unwrap());
        let ts = (1_767_261_600 + i) as f64 + 0.5;
        FlowRecord {
            duration: 1.0,
            orig_pkts: 1,
            resp_pkts: 1,
            orig_ip_bytes: 40,
            resp_ip_bytes: 40,
            conn_state: ConnCode::Sf,
            history: "ShADadFf".into(),
            end_reason: EndReason::Fin,
            service: Some("whatsapp".into()),
            endpoint: Some("whatsapp.chat".into()),
            role: Some(crate::record::Role::Chat),
            device: Some("10.0.0.2".into()),
            ..FlowRecord::bare(ts, format!("C{i}"), "tcp", (a, 40000), (b, 443))
        }
    }

    #[test]
    fn an_interrupted_run_keeps_every_committed_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.db");
        {
            let mut sink = SqliteSink::create(&path).unwrap();
            for i in 0..BATCH + 7 {
                sink.flow(&mut record(i));
            }
            // Dropped without finish(): the process was interrupted mid-batch.
        }
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn.query_row("SELECT count(*) FROM flows", [], |r| r.get(0)).unwrap();
        assert_eq!(n, BATCH as i64);
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn meta_contacts_per_hour_use_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.db");
        let mut sink = SqliteSink::create(&path).unwrap();
        sink.flow(&mut record(0));
        sink.finish().unwrap();
        let conn = Connection::open(&path).unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT hour, count(*) FROM flows WHERE device = ?1 AND service IS NOT NULL GROUP BY hour",
                ["10.0.0.2"],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("flows_meta_by_device_hour"), "{plan}");
    }

    #[test]
    fn replaces_only_a_leakscope_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.db");
        SqliteSink::create(&path).unwrap().finish().unwrap();
        let head = std::fs::read(&path).unwrap();
        assert_eq!(i32::from_be_bytes(head[68..72].try_into().unwrap()), APPLICATION_ID);
        SqliteSink::create(&path).unwrap().finish().unwrap(); // ours: replaced

        let notes = dir.path().join("notes.db");
        std::fs::write(&notes, "precious").unwrap();
        let e = SqliteSink::create(&notes).err().unwrap().to_string();
        assert!(e.contains("not a SQLite database"), "{e}");
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let e = SqliteSink::create(&other).err().unwrap().to_string();
        assert!(e.contains("not a leakscope database"), "{e}");
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&notes, &link).unwrap();
        let e = SqliteSink::create(&link).err().unwrap().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&notes).unwrap(), "precious");
    }
}
