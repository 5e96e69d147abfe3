//! Flow stage: bidirectional 5-tuple flows with Zeek-style state, history and records.

pub mod activity;
mod index;
pub mod key;
mod lru;
pub use crate::record::flow as record;
pub mod state;
pub mod table;

pub use crate::record::{EndReason, FlowRecord};
pub use key::{FlowKey, HostPort};
pub use table::{Flow, FlowConfig, FlowHandler, FlowTable, PacketCtx, TableStats};
