//! Classification: rules (`rules/*.toml`) compiled once into a `Ruleset`, queried per flow.
//!
//! - [`rules`]: rule files → [`Ruleset`] (host matcher, prefix table, signatures, ASNs) and errors.
//! - [`verdict`]: evidence → [`Verdict`], the strongest evidence deciding.
//! - [`geo`]: IP → ASN and country from MaxMind DB files.

#![deny(missing_docs)]

pub mod geo;
pub mod hosts;
pub mod ids;
pub mod mark;
pub mod prefixes;
mod quote;
pub mod rules;
pub mod verdict;

pub use geo::{Geo, GeoInfo};
pub use hosts::{HostMatch, HostPattern};
pub use prefixes::PrefixMatch;
pub use rules::{
    Endpoint, EndpointId, KNOWN_SIGNATURES, Location, PortProto, PortRange, RuleError,
    RuleErrorKind, RulesErrors, Ruleset, Service, ServiceId, Summary, check,
};
pub use verdict::{Confidence, Evidence, Verdict, VerdictBuilder};

pub mod bounded;
pub mod carried;
pub mod engine;
pub mod names;

pub use engine::{Classification, Classifier, FlowFacts};
