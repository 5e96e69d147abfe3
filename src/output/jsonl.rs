//! JSON Lines writer: one serde-serialized record per line, buffered. The first write error is
//! kept and reported at the end, so a full disk is never silent; the file is then cut back to
//! its last complete line, so that a reader never meets half a record.
//!
//! A writer opened with [`JsonlWriter::open_live`] also reopens its file on request (SIGHUP after
//! logrotate) and rotates it by size or packet time (see [`super::rotate`]), always between two
//! records; the pipeline only ever calls [`JsonlWriter::write`].

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::create;
use super::error::{OutputError, again};
use super::rotate::{self, OutputOptions, Rotate};
use crate::capture::Timestamp;
use crate::record::SinkError;

/// Buffered bytes that trigger a write.
const BUFFER: usize = 1 << 16;

/// Where the lines go.
enum Dest {
    File(File),
    Stdout(io::Stdout),
}

/// A `.jsonl` sink (file or stdout).
pub struct JsonlWriter {
    dest: Dest,
    /// Whole records not written out yet.
    buf: Vec<u8>,
    /// Bytes the file holds up to the end of the last successful write: every one of them
    /// belongs to a complete line.
    committed: u64,
    path: PathBuf,
    records: u64,
    error: Option<io::Error>,
    /// Bytes written over the writer's life, all files together.
    bytes: u64,
    /// Set for long-running writers (live capture).
    live: Option<LiveFile>,
}

/// Reopen and rotation state of a live writer.
struct LiveFile {
    /// `dir/flows.jsonl`: what the file is called without rotation, the stem with it.
    base: PathBuf,
    opts: OutputOptions,
    /// Bytes in the current file.
    file_bytes: u64,
    /// Packet clock as last told.
    now: Timestamp,
    /// End of the current time period (`Rotate::Every`).
    period_end: Option<Timestamp>,
    /// Files closed by rotation so far.
    rotated: u64,
    gzip: Vec<std::thread::JoinHandle<()>>,
}

impl JsonlWriter {
    /// Creates (truncates) `path`; `-` writes to stdout.
    pub fn create(path: &Path) -> io::Result<Self> {
        let dest = if path == Path::new("-") {
            Dest::Stdout(io::stdout())
        } else {
            // Errors name the file; a link or a non-regular file there is refused.
            Dest::File(create::open(path, create::Mode::Truncate)?)
        };
        Ok(Self::from_dest(dest, 0, path.to_owned(), None))
    }

    fn from_dest(dest: Dest, committed: u64, path: PathBuf, live: Option<LiveFile>) -> Self {
        JsonlWriter {
            dest,
            buf: Vec::with_capacity(BUFFER + 4096),
            committed,
            path,
            records: 0,
            error: None,
            bytes: 0,
            live,
        }
    }

    /// A long-running writer for `base` (e.g. `dir/flows.jsonl`): appends, never truncates.
    /// Without rotation it writes `base`; with rotation `dir/flows-YYYYMMDDTHHMMSSZ.jsonl`, the
    /// stamp being the packet time `now` at which the file starts (the period start for
    /// time-based rotation).
    pub fn open_live(base: &Path, opts: &OutputOptions, now: Timestamp) -> io::Result<Self> {
        let mut live = LiveFile {
            base: base.to_owned(),
            opts: opts.clone(),
            file_bytes: 0,
            now,
            period_end: None,
            rotated: 0,
            gzip: Vec::new(),
        };
        let path = live.next_path(now);
        let file = rotate::open_append(&path)?;
        live.file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let committed = live.file_bytes;
        Ok(Self::from_dest(Dest::File(file), committed, path, Some(live)))
    }

    /// Appends one record. After a failure further records are dropped and counted as not
    /// written; [`finish`](Self::finish) reports the error.
    pub fn write<T: Serialize>(&mut self, record: &T) {
        self.write_with(|buf| serde_json::to_writer(buf, record));
    }

    /// Appends a flow record's line (the same bytes as [`Self::write`], faster).
    pub fn write_flow(&mut self, rec: &crate::record::FlowRecord) {
        self.write_with(|buf| super::flow_json::write(rec, buf));
    }

    /// Appends the line `encode` writes, then flushes or rotates as needed.
    fn write_with(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) {
        if self.error.is_some() {
            return;
        }
        let start = self.buf.len();
        if let Err(e) = encode(&mut self.buf) {
            self.buf.truncate(start); // a record goes out whole or not at all
            self.error = Some(e.into());
            return;
        }
        self.buf.push(b'\n');
        let len = (self.buf.len() - start) as u64;
        self.records += 1;
        self.bytes += len;
        if self.buf.len() >= BUFFER {
            self.write_out();
        }
        let Some(live) = self.live.as_mut() else { return };
        live.file_bytes += len;
        if let Some(Rotate::Size(limit)) = live.opts.rotate
            && live.file_bytes >= limit
        {
            let now = live.now;
            self.rotate_at(now);
        }
    }

    /// Writes the buffered records out. On a failure (a full disk) the file may end inside a
    /// record: it is cut back to its last complete line and the error kept.
    fn write_out(&mut self) {
        if self.buf.is_empty() || self.error.is_some() {
            return;
        }
        let res = match &mut self.dest {
            Dest::File(f) => f.write_all(&self.buf),
            Dest::Stdout(o) => o.write_all(&self.buf).and_then(|()| o.flush()),
        };
        match res {
            Ok(()) => self.committed += self.buf.len() as u64,
            Err(e) => {
                let cut = match &self.dest {
                    Dest::File(f) => self.cut_back(f),
                    Dest::Stdout(_) => None,
                };
                let msg = match cut {
                    Some(Ok(len)) => format!(
                        "{e}; the file was cut back to its last complete line ({len} bytes)"
                    ),
                    Some(Err(c)) => format!(
                        "{e}; cutting the file back to its last complete line failed too: {c}"
                    ),
                    None => e.to_string(),
                };
                self.error = Some(io::Error::new(e.kind(), msg));
            }
        }
        self.buf.clear();
    }

    /// Truncates `f` to the end of the last whole line of a partial write of `buf`.
    fn cut_back(&self, f: &File) -> Option<io::Result<u64>> {
        let len = f.metadata().ok()?.len();
        let written = (len.saturating_sub(self.committed) as usize).min(self.buf.len());
        let whole = self.buf[..written].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let keep = self.committed + whole as u64;
        Some(f.set_len(keep).map(|()| keep))
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes written so far, all rotated files together.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Files closed by rotation so far.
    pub fn rotated(&self) -> u64 {
        self.live.as_ref().map_or(0, |l| l.rotated)
    }

    /// Tells a live writer the packet clock: a time-based rotation happens here, between records.
    /// Other writers ignore it.
    pub fn set_clock(&mut self, now: Timestamp) {
        let Some(live) = self.live.as_mut() else { return };
        live.now = live.now.max(now);
        if let Some(end) = live.period_end
            && live.now >= end
        {
            let now = live.now;
            self.rotate_at(now);
        }
    }

    /// Flushes and reopens the current file by name (after logrotate moved it away). A writer
    /// not opened with [`open_live`](Self::open_live) only flushes.
    pub fn reopen(&mut self) -> Result<(), OutputError> {
        self.flush_checked()?;
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        let file = rotate::open_append(&self.path)
            .map_err(|source| OutputError::Open { what: "cannot reopen", source })?;
        live.file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.committed = live.file_bytes;
        self.dest = Dest::File(file);
        Ok(())
    }

    /// Closes the current file and starts the next one.
    fn rotate_at(&mut self, now: Timestamp) {
        self.write_out();
        if self.error.is_some() {
            return;
        }
        let live = self.live.as_mut().expect("rotation only on live writers");
        let path = live.next_path(now);
        match rotate::open_append(&path) {
            Ok(file) => {
                let old = std::mem::replace(&mut self.path, path);
                // Dropping the old file closes it (already written out).
                self.dest = Dest::File(file);
                self.committed = 0;
                let was_empty = live.file_bytes == 0;
                live.file_bytes = 0;
                live.rotated += 1;
                tracing::info!(closed = %old.display(), opened = %self.path.display(), "rotated");
                if was_empty {
                    // A silent period leaves no file behind.
                    let _ = std::fs::remove_file(&old);
                } else if live.opts.compress_rotated {
                    live.gzip.retain(|h| !h.is_finished());
                    live.gzip.push(rotate::compress_in_background(old));
                }
            }
            Err(e) => {
                self.error = Some(e); // names the file
            }
        }
    }

    /// Writes buffered records out (a daemon does this every second, so `tail -f` sees them);
    /// returns the first error met, naming the file.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        self.flush_checked()
    }

    fn flush_checked(&mut self) -> Result<(), OutputError> {
        self.write_out();
        match &self.error {
            None => Ok(()),
            // The error stays: later records are dropped, and each flush reports it again.
            Some(e) => Err(OutputError::io(&self.path, "write failed", again(e))),
        }
    }

    /// Flushes; returns the first error met, naming the file. Waits for background gzip jobs.
    pub fn finish(&mut self) -> Result<u64, OutputError> {
        self.flush_checked()?;
        if let Some(live) = self.live.as_mut() {
            for h in live.gzip.drain(..) {
                let _ = h.join();
            }
            // Like a silent period at rotation: an empty stamped file is not worth keeping.
            if live.opts.rotate.is_some() && live.file_bytes == 0 {
                let _ = std::fs::remove_file(&self.path);
            }
        }
        Ok(self.records)
    }
}

impl LiveFile {
    /// The file to write from `now` on; also arms the next time boundary.
    fn next_path(&mut self, now: Timestamp) -> PathBuf {
        match self.opts.rotate {
            None => self.base.clone(),
            Some(Rotate::Size(_)) => rotate::stamped_path(&self.base, now),
            Some(Rotate::Every(every)) => {
                let (start, end) = rotate::period(now, every);
                self.period_end = Some(end);
                rotate::stamped_path(&self.base, start)
            }
        }
    }
}

/// `flows.jsonl` and `events.jsonl` in a directory, or with `-` one stream on stdout: events as
/// they are (each has a `kind`) and flow records with `"kind":"flow"`, so a pipe loses nothing.
pub struct JsonlSink {
    dir: PathBuf,
    flows: JsonlWriter,
    events: Option<JsonlWriter>,
}

/// A flow record on the shared stdout stream.
#[derive(Serialize)]
struct StreamFlow<'a> {
    kind: &'static str,
    #[serde(flatten)]
    rec: &'a crate::flow::FlowRecord,
}

impl JsonlSink {
    /// Creates the directory and both files; `-` writes one stream to stdout.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let (flows, events) = Self::open(dir)?;
        Ok(JsonlSink { dir: dir.to_owned(), flows, events })
    }

    fn open(dir: &Path) -> io::Result<(JsonlWriter, Option<JsonlWriter>)> {
        if dir == Path::new("-") {
            return Ok((JsonlWriter::create(dir)?, None));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("{}: cannot create directory: {e}", dir.display()))
        })?;
        let flows = JsonlWriter::create(&dir.join("flows.jsonl"))?;
        let events = JsonlWriter::create(&dir.join("events.jsonl"))?;
        Ok((flows, Some(events)))
    }
}

impl crate::record::sink::RecordSink for JsonlSink {
    fn flow(&mut self, rec: &mut crate::record::FlowRecord) {
        match self.events {
            Some(_) => self.flows.write_flow(rec),
            None => self.flows.write(&StreamFlow { kind: "flow", rec }),
        }
    }
    fn event(&mut self, ev: &crate::record::events::Event) {
        self.events.as_mut().unwrap_or(&mut self.flows).write(ev);
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        let flows = self.flows.finish();
        let events = self.events.as_mut().map(|w| w.finish()).transpose();
        crate::record::sink::all_of([flows.map(drop), events.map(drop)])
    }
    fn reopen(&mut self) -> Result<(), SinkError> {
        self.finish()?;
        // Append is not needed: logrotate moved the old files away; new ones start empty.
        let (flows, events) = Self::open(&self.dir)
            .map_err(|e| OutputError::io(&self.dir, "cannot reopen outputs", e))?;
        self.flows = flows;
        self.events = events;
        Ok(())
    }
}

/// The output files of a live capture, `flows.jsonl` and `events.jsonl` (rotating, reopened on
/// SIGHUP), shared between the pipeline's sink and the daemon, which moves their clock, flushes
/// them every second and reads their counters.
pub struct LiveOutputs {
    /// Flow records.
    pub flows: JsonlWriter,
    /// Events.
    pub events: JsonlWriter,
}

impl LiveOutputs {
    /// Opens both files in `dir` (which must exist) with [`JsonlWriter::open_live`].
    pub fn open(dir: &Path, opts: &OutputOptions, now: Timestamp) -> io::Result<Self> {
        // Errors name the file.
        let open = |name: &str| JsonlWriter::open_live(&dir.join(name), opts, now);
        Ok(LiveOutputs { flows: open("flows.jsonl")?, events: open("events.jsonl")? })
    }

    /// Moves the packet clock of both (time-based rotation).
    pub fn set_clock(&mut self, now: Timestamp) {
        self.flows.set_clock(now);
        self.events.set_clock(now);
    }

    /// Flushes both; the first error.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        let flows = self.flows.flush();
        crate::record::sink::all_of([flows, self.events.flush()])
    }

    /// Bytes written to both.
    pub fn bytes(&self) -> u64 {
        self.flows.bytes() + self.events.bytes()
    }
}

/// The pipeline's [`RecordSink`](crate::record::sink::RecordSink) in live capture: writes into shared
/// [`LiveOutputs`]. The lock is taken per record (not per packet) and is never contended: the
/// daemon calls the pipeline and the outputs from one place at a time.
pub struct LiveJsonlSink(pub std::sync::Arc<std::sync::Mutex<LiveOutputs>>);

impl LiveJsonlSink {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveOutputs> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl crate::record::sink::RecordSink for LiveJsonlSink {
    fn flow(&mut self, rec: &mut crate::record::FlowRecord) {
        self.lock().flows.write_flow(rec);
    }
    fn event(&mut self, ev: &crate::record::events::Event) {
        self.lock().events.write(ev);
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        let mut o = self.lock();
        let flows = o.flows.finish();
        crate::record::sink::all_of([flows, o.events.finish()])
    }
    fn reopen(&mut self) -> Result<(), SinkError> {
        let mut o = self.lock();
        let flows = o.flows.reopen();
        crate::record::sink::all_of([flows, o.events.reopen()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[derive(Serialize)]
    struct Rec {
        n: u32,
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_on_packet_time_between_records() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OutputOptions { rotate: Some(Rotate::Every(3600 * SEC)), ..Default::default() };
        let t0 = Timestamp(1_767_261_600 * SEC + 5 * SEC); // 2026-01-01T10:00:05Z
        let mut w = JsonlWriter::open_live(&dir.path().join("flows.jsonl"), &opts, t0).unwrap();
        w.write(&Rec { n: 1 });
        w.set_clock(Timestamp(t0.nanos() + 3000 * SEC));
        w.write(&Rec { n: 2 });
        w.set_clock(Timestamp(t0.nanos() + 3600 * SEC));
        w.write(&Rec { n: 3 });
        w.finish().unwrap();
        assert_eq!(
            files(dir.path()),
            ["flows-20260101T100000Z.jsonl", "flows-20260101T110000Z.jsonl"]
        );
        let first =
            std::fs::read_to_string(dir.path().join("flows-20260101T100000Z.jsonl")).unwrap();
        assert_eq!(first, "{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(w.rotated(), 1);
        assert_eq!(w.bytes(), 24);
    }

    #[test]
    fn rotates_on_size_and_compresses() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OutputOptions { rotate: Some(Rotate::Size(16)), compress_rotated: true };
        let t0 = Timestamp(1_767_261_600 * SEC);
        let mut w = JsonlWriter::open_live(&dir.path().join("flows.jsonl"), &opts, t0).unwrap();
        for n in 0..5 {
            w.write(&Rec { n }); // 8 bytes each: rotates after every second record
        }
        w.finish().unwrap();
        assert_eq!(
            files(dir.path()),
            [
                "flows-20260101T100000Z-1.jsonl.gz",
                "flows-20260101T100000Z-2.jsonl",
                "flows-20260101T100000Z.jsonl.gz"
            ]
        );
        let last = dir.path().join("flows-20260101T100000Z-2.jsonl");
        assert_eq!(std::fs::read_to_string(last).unwrap(), "{\"n\":4}\n");
    }

    #[test]
    fn silent_periods_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OutputOptions { rotate: Some(Rotate::Every(60 * SEC)), compress_rotated: true };
        let t0 = Timestamp(1_767_261_600 * SEC);
        let mut w = JsonlWriter::open_live(&dir.path().join("flows.jsonl"), &opts, t0).unwrap();
        w.write(&Rec { n: 1 });
        for m in 1..4 {
            w.set_clock(Timestamp(t0.nanos() + m * 60 * SEC));
        }
        w.finish().unwrap();
        assert_eq!(files(dir.path()), ["flows-20260101T100000Z.jsonl.gz"]);
    }

    #[test]
    fn reopen_follows_a_moved_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("flows.jsonl");
        let mut w = JsonlWriter::open_live(&base, &OutputOptions::default(), Timestamp(0)).unwrap();
        w.write(&Rec { n: 1 });
        w.reopen().unwrap();
        std::fs::rename(&base, dir.path().join("flows.jsonl.1")).unwrap();
        w.reopen().unwrap();
        w.write(&Rec { n: 2 });
        w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&base).unwrap(), "{\"n\":2}\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("flows.jsonl.1")).unwrap(),
            "{\"n\":1}\n"
        );
    }
}
