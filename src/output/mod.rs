//! Output sinks. Records are metadata only; sinks never see payload bytes. The exception is
//! the opt-in `--write-pcap` file ([`pcap`]), which holds whole packets of Meta flows.

pub mod create;
pub mod csv;
pub mod error;
pub mod flow_json;
pub mod jsonl;
pub mod owner;
pub mod parquet;
pub mod pcap;
pub mod rotate;
pub mod sqlite;

// The record schema moved to `crate::record`; these paths stay for one release.
pub use crate::record::{events, observed, sink};

pub use crate::record::{Fanout, NullSink, RecordSink};
pub use error::OutputError;
pub use events::Event;
pub use jsonl::{JsonlSink, JsonlWriter, LiveJsonlSink, LiveOutputs};
pub use rotate::{OutputOptions, Rotate};
