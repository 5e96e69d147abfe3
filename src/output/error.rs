//! What an output failed at. Every error names the file (or `standard output`) and keeps its
//! cause (io, SQLite, Parquet/Arrow) as the source; the messages are the ones users and tests
//! have always seen.

use std::io;
use std::path::{Path, PathBuf};

use crate::record::SinkError;

/// An output file that could not be created, written, flushed or reopened.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file operation failed; `what` says which (`write failed`, `cannot write pcap`, …).
    #[error("{}: {what}: {source}", shown(path))]
    Io {
        /// The file (`-`: standard output).
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Opening failed; the cause already names the file (see `create::open`).
    #[error("{what}: {source}")]
    Open {
        /// What was being done.
        what: &'static str,
        /// The cause, naming the file.
        #[source]
        source: io::Error,
    },
    /// SQLite refused a row or the commit.
    #[error("{}: {what}: {source}", path.display())]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A Parquet dataset could not be written.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// The Parquet directory could not be created.
    #[error("{}: {source}", path.display())]
    ParquetDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl OutputError {
    /// A failed operation `what` on `path`.
    pub fn io(path: &Path, what: &'static str, source: io::Error) -> Self {
        OutputError::Io { path: path.to_owned(), what, source }
    }
}

/// Why a Parquet file (or directory, or column) could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// A file or directory operation.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The Parquet writer.
    #[error("{}: {source}", path.display())]
    Writer {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Assembling a batch of columns.
    #[error("{}: {source}", path.display())]
    Batch {
        /// The dataset's directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A column's values do not fit the schema.
    #[error("{}: column {column}: {source}", path.display())]
    Column {
        /// The dataset's directory.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// The cause.
        #[source]
        source: ColumnError,
    },
    /// A record could not be turned into JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A record kind without a Parquet schema.
    #[error("no schema for `{0}`")]
    NoSchema(&'static str),
    /// An event whose kind has no dataset.
    #[error("event kind {0:?}")]
    EventKind(Option<serde_json::Value>),
    /// A record that is not a JSON object.
    #[error("not an object")]
    NotAnObject,
    /// A record field the schema does not know (the schema fell behind the record types).
    #[error("field `{0}` is not in the Parquet schema")]
    UnknownField(String),
}

/// Why JSON values did not make an Arrow column.
#[derive(Debug, thiserror::Error)]
pub enum ColumnError {
    /// A value of another type than the schema says (`found` is cut to 80 bytes).
    #[error("expected {want}, found {found}")]
    Mismatch {
        /// The schema's type.
        want: &'static str,
        /// The value found.
        found: String,
    },
    /// A list column past `i32` offsets.
    #[error("list too long")]
    ListTooLong,
    /// An object key the schema does not know.
    #[error("field `{0}` is not in the Parquet schema")]
    UnknownField(String),
    /// Arrow refused the arrays.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// The same error again (an io::Error is not `Clone`): the OS code, or kind and message.
pub(super) fn again(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// The file's name in messages: its path, or `standard output` for `-`.
fn shown(path: &Path) -> String {
    if path == Path::new("-") { "standard output".into() } else { path.display().to_string() }
}

impl From<OutputError> for SinkError {
    fn from(e: OutputError) -> Self {
        SinkError::Output(Box::new(e))
    }
}

/// A value that does not parse as `--rotate`'s size or duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rotation {text:?}: {why}")]
pub struct RotateError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: RotateWhy,
}

/// What is wrong with a rotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotateWhy {
    /// No leading number.
    #[error("expected a number and a unit, e.g. 100M or 1h")]
    NotANumber,
    /// Zero.
    #[error("must be more than 0")]
    Zero,
    /// A unit not known.
    #[error("unknown unit {0:?} (sizes: K, M, G; durations: s, m, h, d)")]
    UnknownUnit(String),
    /// Past 64 bits.
    #[error("too large")]
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::output::pcap::{PcapKeep, PcapOut};
    use crate::record::sink::all_of;

    #[test]
    fn a_full_disk_names_the_file_and_keeps_the_cause() {
        let full = Path::new("/dev/full");
        let mut w = PcapOut::create(full, LinkType::ETHERNET, PcapKeep::All).unwrap();
        let e = w.finish(None).unwrap_err();
        assert_eq!(e.to_string(), "/dev/full: write failed: No space left on device (os error 28)");
        let OutputError::Io { path, what, source } = &e else { panic!("{e:?}") };
        assert_eq!((path.as_path(), *what), (Path::new("/dev/full"), "write failed"));
        assert_eq!(source.raw_os_error(), Some(28));
        // Through the sink trait the cause can still be reached.
        let two = all_of([
            Err::<(), _>(e),
            Err(OutputError::Open { what: "cannot reopen", source: io::Error::other("x: gone") }),
        ])
        .unwrap_err();
        let SinkError::Several(each) = &two else { panic!("{two:?}") };
        let SinkError::Output(first) = &each[0] else { panic!("{two:?}") };
        assert!(matches!(first.downcast_ref::<OutputError>(), Some(OutputError::Io { .. })));
        assert_eq!(
            two.to_string(),
            "/dev/full: write failed: No space left on device (os error 28)\ncannot reopen: x: gone"
        );
    }
}
