//! Output sinks. Records are metadata only; sinks never see payload bytes.

pub mod events;
pub mod jsonl;
pub mod observed;
pub mod rotate;
pub mod sink;
pub mod sqlite;

pub use events::Event;
pub use jsonl::{JsonlSink, JsonlWriter, LiveJsonlSink, LiveOutputs};
pub use rotate::{OutputOptions, Rotate};
pub use sink::{Fanout, NullSink, RecordSink};
