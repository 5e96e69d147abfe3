//! Output sinks. Records are metadata only; sinks never see payload bytes.

pub mod events;
pub mod jsonl;

pub use events::Event;
pub use jsonl::JsonlWriter;
