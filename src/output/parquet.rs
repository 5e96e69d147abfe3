//! `--parquet DIR`: the records as Apache Parquet datasets, one per record kind (`flows/`,
//! `events/dns/`, `events/activity/`, …), hive-partitioned by the UTC date of `ts`
//! (`flows/date=2026-03-01/part-00000.parquet`), for DuckDB, Spark, pandas. `docs/parquet.md`
//! lists the columns.
//!
//! Columns come from the same serde serialisation the JSONL writer uses, read through a fixed
//! schema per kind ([`schema`]), so the two never disagree on a field: a field the schema does
//! not know is an error, not a silent drop (the test that compares both outputs finds it).
//! Timestamps become `Timestamp(µs, UTC)`, lists stay lists, nested objects become structs.
//!
//! Memory stays flat: rows wait in small batches (1 024), the writer caps row groups in rows
//! (64 k) and encoded bytes (16 MiB), files in rows, and only a few date partitions per
//! dataset are open at once. A file is written as
//! `part-NNNNN.parquet.tmp` and renamed when its footer is written (end of input, SIGTERM,
//! SIGHUP, or rotation), so readers globbing `*.parquet` never meet a file without a footer.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use super::create;
use super::error::{OutputError, ParquetError};
use crate::record::{Event, FlowRecord, RecordSink, SinkError};

use crate::record::civil;
mod columns;
pub mod schema;

use schema::Ty;

/// Rows held as JSON values before they are turned into Arrow arrays.
const BATCH_ROWS: usize = 1024;
/// Rows per row group.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Encoded bytes a row group may hold in memory before it is written out.
const ROW_GROUP_BYTES: usize = 16 << 20;
/// Rows per file; beyond, the file is closed and the next part begins (a long capture makes
/// readable files as it goes).
const FILE_ROWS: u64 = 4 << 20;
/// Date partitions open at once per dataset; the least recently written is closed beyond. An
/// open partition other than the newest holds no row group in memory (see `try_write`), so
/// this bounds open files, not memory: end-of-run summaries (devices, exposures) span every
/// date of the input and would otherwise be split into many small files.
const OPEN_DATES: usize = 16;

/// Writes every record kind to its dataset under one root directory.
pub struct ParquetSink {
    root: PathBuf,
    datasets: HashMap<&'static str, Dataset>,
    error: Option<ParquetError>,
    /// Writes so far, to order the partitions by last use.
    clock: u64,
    /// Rows per row group.
    row_group_rows: usize,
}

/// One record kind: its schema and its open date partitions.
struct Dataset {
    /// `flows` or `events/KIND`.
    dir: PathBuf,
    /// Column types, in schema order.
    columns: Vec<(&'static str, Ty)>,
    /// Column index by name.
    index: HashMap<&'static str, usize>,
    schema: arrow_schema::SchemaRef,
    open: Vec<Partition>,
    /// Next part number per date (scanned once from the directory, so nothing is overwritten).
    next_part: HashMap<String, u32>,
}

/// One open file of one date.
struct Partition {
    date: String,
    /// Rows not written yet, each its values in column order (`Null`: absent).
    rows: Vec<Vec<Value>>,
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    written: u64,
    last_use: u64,
}

impl ParquetSink {
    /// A sink writing under `root` (created if missing).
    pub fn create(root: &Path) -> Result<Self, OutputError> {
        Self::with_row_groups(root, ROW_GROUP_ROWS)
    }

    /// A sink whose row groups hold at most `rows` rows (and 16 MiB).
    pub fn with_row_groups(root: &Path, rows: usize) -> Result<Self, OutputError> {
        fs::create_dir_all(root)
            .map_err(|source| OutputError::ParquetDir { path: root.to_owned(), source })?;
        Ok(ParquetSink {
            root: root.to_owned(),
            datasets: HashMap::new(),
            error: None,
            clock: 0,
            row_group_rows: rows.max(1),
        })
    }

    fn write(&mut self, kind: &'static str, mut row: Value) {
        if self.error.is_some() {
            return;
        }
        self.clock += 1;
        if let Err(e) = self.try_write(kind, &mut row) {
            self.error = Some(e);
        }
    }

    fn try_write(&mut self, kind: &'static str, row: &mut Value) -> Result<(), ParquetError> {
        let ds = match self.datasets.get_mut(kind) {
            Some(ds) => ds,
            None => {
                let ty = schema::of(kind).ok_or(ParquetError::NoSchema(kind))?;
                let dir = if kind == "flows" {
                    self.root.join("flows")
                } else {
                    self.root.join("events").join(kind)
                };
                let schema = Arc::new(arrow_schema::Schema::new(ty.fields()));
                let Ty::Struct(columns) = ty else { unreachable!("rows are structs") };
                let index = columns.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
                let ds = Dataset {
                    dir,
                    columns,
                    index,
                    schema,
                    open: Vec::new(),
                    next_part: HashMap::new(),
                };
                self.datasets.entry(kind).or_insert(ds)
            }
        };
        let date = utc_date(row.get("ts").and_then(Value::as_f64).unwrap_or(0.0));
        let i = match ds.open.iter().position(|p| p.date == date) {
            Some(i) => i,
            None => {
                if ds.open.len() >= OPEN_DATES {
                    let lru = (0..ds.open.len()).min_by_key(|&i| ds.open[i].last_use).unwrap_or(0);
                    let p = ds.open.swap_remove(lru);
                    ds.close(p)?;
                }
                // A new date: the others get few rows from now on (records come in packet
                // time, bar the exposure map's end summaries), so their row groups are ended
                // rather than kept in memory beside the new one.
                for i in 0..ds.open.len() {
                    ds.flush_rows(i)?;
                    let p = &mut ds.open[i];
                    p.writer.flush().map_err(|e| writer(&p.tmp, e))?;
                }
                let p = ds.open_partition(date, self.row_group_rows)?;
                ds.open.push(p);
                ds.open.len() - 1
            }
        };
        ds.open[i].last_use = self.clock;
        // The row's values in column order: one hash lookup per field present, rather than
        // one search of the JSON object per column later.
        let Value::Object(obj) = std::mem::take(row) else { return Err(ParquetError::NotAnObject) };
        let mut values = vec![Value::Null; ds.columns.len()];
        for (k, v) in obj {
            match ds.index.get(k.as_str()) {
                Some(&c) => values[c] = v,
                None => return Err(ParquetError::UnknownField(k)),
            }
        }
        let p = &mut ds.open[i];
        p.rows.push(values);
        if p.rows.len() >= BATCH_ROWS {
            ds.flush_rows(i)?;
            if ds.open[i].written >= FILE_ROWS {
                let p = ds.open.swap_remove(i);
                ds.close(p)?;
            }
        }
        Ok(())
    }

    /// Closes every open file (footers written, renamed to `.parquet`).
    fn close_all(&mut self) -> Result<(), ParquetError> {
        let mut first = None;
        for ds in self.datasets.values_mut() {
            for p in std::mem::take(&mut ds.open) {
                if let Err(e) = ds.close(p) {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Dataset {
    fn open_partition(
        &mut self,
        date: String,
        group_rows: usize,
    ) -> Result<Partition, ParquetError> {
        let dir = self.dir.join(format!("date={date}"));
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let n = match self.next_part.get(&date) {
            Some(&n) => n,
            None => first_free_part(&dir),
        };
        self.next_part.insert(date.clone(), n + 1);
        let tmp = dir.join(format!("part-{n:05}.parquet.tmp"));
        let file = create::open(&tmp, create::Mode::New).map_err(|e| io(&tmp, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(group_rows))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_created_by(format!("leakscope {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(props))
            .map_err(|e| writer(&tmp, e))?;
        Ok(Partition { date, rows: Vec::new(), writer, tmp, written: 0, last_use: 0 })
    }

    /// Turns the held rows of partition `i` into a batch and hands it to the writer.
    fn flush_rows(&mut self, i: usize) -> Result<(), ParquetError> {
        let p = &mut self.open[i];
        if p.rows.is_empty() {
            return Ok(());
        }
        let mut arrays = Vec::with_capacity(self.columns.len());
        let mut column: Vec<Option<&Value>> = Vec::with_capacity(p.rows.len());
        for (c, (name, ty)) in self.columns.iter().enumerate() {
            column.clear();
            column.extend(p.rows.iter().map(|r| Some(&r[c])));
            let a = columns::build(ty, &column).map_err(|source| ParquetError::Column {
                path: self.dir.clone(),
                column: name,
                source,
            })?;
            arrays.push(a);
        }
        drop(column);
        let n = p.rows.len() as u64;
        p.rows.clear();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .map_err(|source| ParquetError::Batch { path: self.dir.clone(), source })?;
        p.writer.write(&batch).map_err(|e| writer(&p.tmp, e))?;
        p.written += n;
        Ok(())
    }

    /// Writes the footer and gives the file its final name.
    fn close(&mut self, p: Partition) -> Result<(), ParquetError> {
        self.open.push(p);
        let i = self.open.len() - 1;
        let r = self.flush_rows(i);
        let p = self.open.pop().expect("pushed above");
        let tmp = p.tmp.clone();
        let closed = p.writer.close().map(drop).map_err(|e| writer(&tmp, e));
        r.and(closed)?;
        let done = tmp.with_extension(""); // `part-N.parquet.tmp` → `part-N.parquet`
        fs::rename(&tmp, &done).map_err(|e| io(&done, e))
    }
}

fn io(path: &Path, source: std::io::Error) -> ParquetError {
    ParquetError::Io { path: path.to_owned(), source }
}

fn writer(path: &Path, source: parquet::errors::ParquetError) -> ParquetError {
    ParquetError::Writer { path: path.to_owned(), source }
}

/// The first part number not taken in `dir` (a second run into the same directory adds parts).
fn first_free_part(dir: &Path) -> u32 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let n = name.strip_prefix("part-")?.split('.').next()?.parse::<u32>().ok()?;
            Some(n + 1)
        })
        .max()
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of epoch seconds, UTC.
fn utc_date(secs: f64) -> String {
    let (y, m, d) = civil::civil_from_days((secs / 86_400.0).floor() as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

impl RecordSink for ParquetSink {
    fn flow(&mut self, rec: &mut FlowRecord) {
        match serde_json::to_value(&*rec) {
            Ok(v) => self.write("flows", v),
            Err(e) => self.error = self.error.take().or(Some(e.into())),
        }
    }

    fn event(&mut self, ev: &Event) {
        let mut v = match serde_json::to_value(ev) {
            Ok(v) => v,
            Err(e) => {
                self.error = self.error.take().or(Some(e.into()));
                return;
            }
        };
        // The dataset names the kind; the column would repeat it on every row.
        let kind = v.as_object_mut().and_then(|o| o.remove("kind"));
        match kind.as_ref().and_then(Value::as_str).and_then(schema::kind_name) {
            Some(kind) => self.write(kind, v),
            None => self.error = self.error.take().or(Some(ParquetError::EventKind(kind))),
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let closed = self.close_all();
        match self.error.take() {
            Some(e) => Err(OutputError::from(e).into()),
            None => Ok(closed.map_err(OutputError::from)?),
        }
    }

    /// SIGHUP: close the open files, so that each is complete and can be moved; writing goes on
    /// in new parts.
    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(self.close_all().map_err(OutputError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_date(0.0), "1970-01-01");
        assert_eq!(utc_date(1_700_000_000.5), "2023-11-14");
        assert_eq!(utc_date(-1.0), "1969-12-31");
    }

    #[test]
    fn part_numbers_continue() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(first_free_part(d.path()), 0);
        fs::write(d.path().join("part-00003.parquet"), b"").unwrap();
        fs::write(d.path().join("part-00001.parquet.tmp"), b"").unwrap();
        assert_eq!(first_free_part(d.path()), 4);
    }
}
