//! Where records go. The pipeline hands every flow record and event to one [`RecordSink`];
//! sinks compose (a fan-out to several formats; wrappers that derive or rewrite records), so new
//! outputs plug in without touching the pipeline.

use super::flow::FlowRecord;

use super::events::Event;

/// Why a sink could not write its records. The schema sits below the outputs, so it cannot name
/// their error types: an output's own error (`output::OutputError`, which names the file and
/// carries the io/SQLite/Parquet cause) travels boxed, and can be downcast.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// One output failed.
    #[error(transparent)]
    Output(Box<dyn std::error::Error + Send + Sync>),
    /// Several outputs failed (a full disk fails each of them): one line each.
    #[error("{}", lines(.0))]
    Several(Vec<SinkError>),
}

fn lines(errors: &[SinkError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A consumer of the pipeline's records. Implementations keep write errors and report them from
/// [`finish`](RecordSink::finish), so a full disk is never silent.
pub trait RecordSink: Send {
    /// One flow record. Wrappers may rewrite it in place before passing it on (the pipeline
    /// does not read it afterwards), which spares a copy per flow; sinks that only write it
    /// leave it as it is, so that every sink of a [`Fanout`] sees the same record.
    fn flow(&mut self, rec: &mut FlowRecord);
    /// One event.
    fn event(&mut self, ev: &Event);
    /// Where the next flow record falls in the single-threaded order: what a merge of several
    /// pipelines' records needs (`replay --threads`); other sinks ignore it.
    #[inline]
    fn order(&mut self, _: &FlowOrder) {}
    /// End of input: write what is pending, flush, and report the first error.
    fn finish(&mut self) -> Result<(), SinkError>;
    /// Reopen output files (after logrotate moved them).
    fn reopen(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Where a flow record falls in the order one pipeline writes records, beyond the packet at
/// which it is written: within an idle sweep, flows go by idle list then by the tick of the
/// packet that last moved them in it; at the end of input, by first packet time then id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowOrder {
    /// (idle list, tick): the order of an idle sweep.
    pub expiry: (u8, u64),
    /// (first packet time in ns, flow id): the order of the end-of-input flush.
    pub flush: (i64, u64),
}

/// Sends every record to each of several sinks.
#[derive(Default)]
pub struct Fanout(pub Vec<Box<dyn RecordSink>>);

impl RecordSink for Fanout {
    fn flow(&mut self, rec: &mut FlowRecord) {
        for s in &mut self.0 {
            s.flow(rec);
        }
    }
    fn event(&mut self, ev: &Event) {
        self.0.iter_mut().for_each(|s| s.event(ev));
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        // Finish all, even after a failure, then report every error.
        all_of(self.0.iter_mut().map(|s| s.finish()).collect::<Vec<_>>())
    }
    fn reopen(&mut self) -> Result<(), SinkError> {
        all_of(self.0.iter_mut().map(|s| s.reopen()).collect::<Vec<_>>())
    }
}

/// Every error of `results`, one a line (a full disk fails each output: say so for each).
pub fn all_of<T, E: Into<SinkError>>(
    results: impl IntoIterator<Item = Result<T, E>>,
) -> Result<(), SinkError> {
    let mut errors: Vec<SinkError> =
        results.into_iter().filter_map(|r| r.err()).map(Into::into).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.swap_remove(0)),
        _ => Err(SinkError::Several(errors)),
    }
}

/// Discards everything (benchmarks).
pub struct NullSink;

impl RecordSink for NullSink {
    fn flow(&mut self, _: &mut FlowRecord) {}
    fn event(&mut self, _: &Event) {}
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A boxed sink is a sink, so wrappers (`AnonymizeSink<Box<dyn RecordSink>>`) compose.
impl RecordSink for Box<dyn RecordSink> {
    fn flow(&mut self, rec: &mut FlowRecord) {
        (**self).flow(rec)
    }
    fn event(&mut self, ev: &Event) {
        (**self).event(ev)
    }
    fn order(&mut self, o: &FlowOrder) {
        (**self).order(o)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        (**self).finish()
    }
    fn reopen(&mut self) -> Result<(), SinkError> {
        (**self).reopen()
    }
}
