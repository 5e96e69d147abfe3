//! leakscope: watch what a phone's WhatsApp and other Meta apps send to Meta, from the network alone.
//!
//! One pipeline for live capture and replay:
//! `capture` (packet source) → `decode` (link/IP/L4 views) → `flow` (bidirectional flow table) +
//! `dissect` (per-protocol metadata parsers) → `classify` (rules → verdict) → `output` (sinks).
//! The clock is always the packet timestamp, so a replay is deterministic.
#![forbid(unsafe_code)]

pub mod anonymize;
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
pub mod pipeline;
pub mod policy;
pub mod replay;
pub mod report;
pub mod term;
