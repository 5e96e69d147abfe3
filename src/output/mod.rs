//! Output sinks. Records are metadata only; sinks never see payload bytes.

pub mod jsonl;
pub mod rotate;

pub use jsonl::JsonlWriter;
pub use rotate::{OutputOptions, Rotate};
