//! leakscope: watch what a phone's WhatsApp and other Meta apps send to Meta, from the network alone.
//!
//! One pipeline for live capture and replay:
//! `capture` (packet source) → `decode` (link/IP/L4 views) → `flow` (bidirectional flow table) +
//! `dissect` (per-protocol metadata parsers) → `classify` (rules → verdict) → `exposure` (the
//! exposure map, judged by `policy`) → `anonymize` → `output` (JSONL, SQLite, pcap). `pipeline`
//! drives one packet through the stages; `assembly` builds pipeline and sink chain, and owns the
//! shutdown order, for both `replay` and `live`; `report` reads what was written. The clock is
//! always the packet timestamp, so a replay is deterministic. `capture` is where packets come
//! from (file, interface, PCAPdroid's UDP stream); `live` is the `capture` command (daemon,
//! config file, privileges, screen, summary); the binary (`main.rs`, `cli_*.rs`) only turns
//! flags into options.
//!
//! Layering: a stage imports only itself and the stages below it, in this order —
//! `record` (the schema: flow records, events, `RecordSink`) and `term` < `capture` < `decode` <
//! `flow` < `dissect` < `classify` < `policy` < `exposure` < `output`, `anonymize` < `pipeline` <
//! `assembly` < `parallel` (`replay --threads`) < `replay` < `manifest`, `cli` < `live` <
//! `report`, `lookup` < the binary. Nothing calls back up: outputs, the exposure map and
//! anonymisation meet only in `record`. `tests/layering.rs` checks this on every `crate::` path
//! and fails on an upward import or a folder cycle.
#![deny(unsafe_code)]

pub mod anonymize;
pub mod assembly;
pub mod capture;
pub mod classify;
pub mod cli;
pub mod decode;
pub mod dissect;
pub mod exposure;
pub mod flow;
pub mod live;
pub mod lookup;
pub mod manifest;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod policy;
pub mod record;
pub mod replay;
pub mod report;
pub mod term;
#[cfg(test)]
mod testing;
