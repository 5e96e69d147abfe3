//! The record schema, at the bottom of the crate: what the pipeline hands to its sinks (flow
//! records and events) and the [`RecordSink`] trait they go through. Outputs, the exposure map,
//! anonymisation and the report all depend on this module, never on each other; it depends on
//! nothing else in the crate. Each producer builds its records (e.g. `DnsEvent::new` lives with
//! the DNS dissector), so the schema does not know the parsers.

pub mod activity;
pub mod app;
pub mod civil;
pub mod community_id;
pub mod events;
pub mod exposure;
pub mod flow;
pub mod hex;
pub mod observed;
pub mod role;
pub mod sink;

pub use app::{AppProto, NameSource};
pub use events::Event;
pub use flow::{ConnCode, EndReason, FlowRecord};
pub use role::Role;
pub use sink::{Fanout, NullSink, RecordSink, SinkError};
