//! Rule errors: every problem with its file and line, all of them reported at once.

use super::*;

// ---------------------------------------------------------------------------------------------
// Errors

/// Where a problem is: file and 1-based line (0 when it concerns the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File as given (`rules/whatsapp.toml` for the builtin rules).
    pub file: Arc<str>,
    /// 1-based line; 0 for the whole file.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// What is wrong, with the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleErrorKind {
    /// A file or directory could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// A rules directory holds no `*.toml` file.
    #[error("no *.toml rule files")]
    NoRuleFiles,
    /// TOML syntax error, unknown key or wrong value type.
    #[error("{0}")]
    Syntax(String),
    /// A service or role name is not `[a-z0-9_]+`.
    #[error("{what} name {}: use lower-case letters, digits and `_`", quote(value))]
    BadName {
        /// "service" or "role".
        what: &'static str,
        /// The name.
        value: String,
    },
    /// A role name that is not one of [`Role`](crate::record::Role)'s.
    #[error("role {}: unknown (known: {known})", quote(value))]
    UnknownRole {
        /// The name as written.
        value: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A host pattern does not parse.
    #[error("host {}: {reason}", quote(value))]
    BadHost {
        /// The pattern as written.
        value: String,
        /// Why.
        reason: crate::classify::hosts::PatternError,
    },
    /// A prefix does not parse.
    #[error("prefix {}: {reason}", quote(value))]
    BadPrefix {
        /// The prefix as written.
        value: String,
        /// Why.
        reason: crate::classify::prefixes::PrefixError,
    },
    /// A port spec does not parse.
    #[error("port {}: {reason}", quote(value))]
    BadPort {
        /// The spec as written.
        value: String,
        /// Why.
        reason: super::ruleset::PortError,
    },
    /// A signature name is unknown.
    #[error("signature {}: unknown (known: {known})", quote(value))]
    BadSignature {
        /// The name as written.
        value: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// An ASN is out of range.
    #[error("asn {value}: not a 32-bit AS number")]
    BadAsn {
        /// The number as written.
        value: i64,
    },
    /// The same key twice for the same endpoint within one layer.
    #[error("{what} {}: duplicate in {endpoint} (first at {first})", quote(value))]
    Duplicate {
        /// "host", "prefix", "signature", "asn" or "role".
        what: &'static str,
        /// Canonical value.
        value: String,
        /// `service.role`.
        endpoint: String,
        /// Where it was first given.
        first: Location,
    },
    /// The same key for two endpoints within one layer.
    #[error("{what} {}: claimed by {endpoint} and by {other} (at {first})", quote(value))]
    Conflict {
        /// "host", "prefix", "signature" or "asn".
        what: &'static str,
        /// Canonical value.
        value: String,
        /// Endpoint of this occurrence.
        endpoint: String,
        /// Endpoint of the first occurrence.
        other: String,
        /// Where it was first given.
        first: Location,
    },
}

pub use crate::classify::quote::{QUOTE_MAX, quote};

/// One problem in the rules, printed as `file:line: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct RuleError {
    /// Where.
    pub at: Location,
    /// What.
    pub kind: RuleErrorKind,
}

/// Every problem found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesErrors(pub Vec<RuleError>);

impl fmt::Display for RulesErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the rules:", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RulesErrors {}
