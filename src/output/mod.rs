//! Output sinks. Records are metadata only; sinks never see payload bytes.

pub mod jsonl;

pub use jsonl::JsonlWriter;
