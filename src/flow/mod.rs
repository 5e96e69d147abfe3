//! Flow stage: bidirectional 5-tuple flows with Zeek-style state, history and records.

pub mod activity;
pub mod community_id;
mod index;
pub mod key;
mod lru;
pub mod record;
pub mod state;
pub mod table;

pub use key::{Endpoint, FlowKey};
pub use record::{EndReason, FlowRecord};
pub use table::{Flow, FlowConfig, FlowHandler, FlowTable, PacketCtx, TableStats};
