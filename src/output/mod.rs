//! Output sinks. Records are metadata only; sinks never see payload bytes. The exception is
//! the opt-in `--write-pcap` file ([`pcap`]), which holds whole packets of Meta flows.

pub mod create;
pub mod csv;
pub mod events;
pub mod jsonl;
pub mod observed;
pub mod owner;
pub mod pcap;
pub mod rotate;
pub mod sink;
pub mod sqlite;

pub use events::Event;
pub use jsonl::{JsonlSink, JsonlWriter, LiveJsonlSink, LiveOutputs};
pub use rotate::{OutputOptions, Rotate};
pub use sink::{Fanout, NullSink, RecordSink};
