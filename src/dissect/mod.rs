//! Dissectors: bounded, panic-free parsers that turn the first bytes of a flow into metadata
//! observations (names, fingerprints, signatures). They never keep payload.

pub mod bytes;
pub mod cert;
pub mod dhcp;
pub mod dns;
pub mod http;
pub mod ja4;
pub mod quic;
pub mod rtp;
pub mod signature;
pub mod state;
pub mod stream;
pub mod stun;
pub mod tls;
pub mod wa_legacy;
pub mod whatsapp;

pub use signature::Signature;
pub use state::{AppInfo, Findings, FlowDissect, Observation};
