//! JSON Lines writer: one serde-serialized record per line, buffered. The first write error is
//! kept and reported at the end, so a full disk is never silent.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A `.jsonl` sink (file or stdout).
pub struct JsonlWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    path: PathBuf,
    records: u64,
    error: Option<io::Error>,
}

impl JsonlWriter {
    /// Creates (truncates) `path`; `-` writes to stdout.
    pub fn create(path: &Path) -> io::Result<Self> {
        let sink: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            // The OS error alone does not say which file: name it.
            Box::new(File::create(path).map_err(|e| {
                io::Error::new(e.kind(), format!("{}: cannot create: {e}", path.display()))
            })?)
        };
        Ok(JsonlWriter {
            out: BufWriter::with_capacity(1 << 16, sink),
            path: path.to_owned(),
            records: 0,
            error: None,
        })
    }

    /// Appends one record. After a failure further records are dropped and counted as not
    /// written; [`finish`](Self::finish) reports the error.
    pub fn write<T: Serialize>(&mut self, record: &T) {
        if self.error.is_some() {
            return;
        }
        let res = serde_json::to_writer(&mut self.out, record)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        match res {
            Ok(()) => self.records += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// The output's name for messages: the path, or `standard output` for `-`.
    fn name(&self) -> String {
        if self.path == Path::new("-") {
            "standard output".into()
        } else {
            self.path.display().to_string()
        }
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes; returns the first error met, naming the file.
    pub fn finish(&mut self) -> Result<u64, String> {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
        match &self.error {
            None => Ok(self.records),
            Some(e) => Err(format!("{}: write failed: {e}", self.name())),
        }
    }
}

/// `flows.jsonl` and `events.jsonl` in a directory (or flows on stdout with `-`).
pub struct JsonlSink {
    dir: PathBuf,
    flows: JsonlWriter,
    events: Option<JsonlWriter>,
}

impl JsonlSink {
    /// Creates the directory and both files; `-` writes flows to stdout and no events.
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

impl super::sink::RecordSink for JsonlSink {
    fn flow(&mut self, rec: &crate::flow::FlowRecord) {
        self.flows.write(rec);
    }
    fn event(&mut self, ev: &super::events::Event) {
        if let Some(w) = self.events.as_mut() {
            w.write(ev);
        }
    }
    fn finish(&mut self) -> Result<(), String> {
        let flows = self.flows.finish();
        let events = self.events.as_mut().map(|w| w.finish()).transpose();
        flows.and(events).map(|_| ())
    }
    fn reopen(&mut self) -> Result<(), String> {
        self.finish()?;
        // Append is not needed: logrotate moved the old files away; new ones start empty.
        let (flows, events) = Self::open(&self.dir)
            .map_err(|e| format!("{}: cannot reopen outputs: {e}", self.dir.display()))?;
        self.flows = flows;
        self.events = events;
        Ok(())
    }
}
