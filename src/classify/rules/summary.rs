//! `leakscope rules check`: counts of the loaded rules.

use super::*;

/// Counts for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleSummary {
    /// `service.role`.
    pub endpoint: String,
    /// Human name.
    pub display: String,
    /// Host patterns.
    pub hosts: usize,
    /// Prefixes (inline and from files).
    pub prefixes: usize,
    /// Signatures.
    pub signatures: usize,
    /// ASNs.
    pub asns: usize,
    /// Port ranges.
    pub ports: usize,
}

/// What a load produced: files read and counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rule files read, in order.
    pub files: Vec<String>,
    /// Number of services.
    pub services: usize,
    /// Counts per endpoint.
    pub roles: Vec<RoleSummary>,
    /// Host patterns in total.
    pub hosts: usize,
    /// Prefixes in total.
    pub prefixes: usize,
    /// Signatures in total.
    pub signatures: usize,
    /// ASNs in total.
    pub asns: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>6} {:>8} {:>5} {:>5} {:>5}",
            "endpoint", "hosts", "prefixes", "sigs", "asns", "ports"
        )?;
        for r in &self.roles {
            writeln!(
                f,
                "{:<28} {:>6} {:>8} {:>5} {:>5} {:>5}",
                r.endpoint, r.hosts, r.prefixes, r.signatures, r.asns, r.ports
            )?;
        }
        write!(
            f,
            "{} file(s), {} service(s), {} endpoint(s), {} host pattern(s), {} prefix(es), {} signature(s), {} ASN(s)",
            self.files.len(),
            self.services,
            self.roles.len(),
            self.hosts,
            self.prefixes,
            self.signatures,
            self.asns
        )
    }
}

/// Validates the builtin rules extended by `dirs` and returns their counts: what
/// `leakscope rules check [DIR]` runs (only the loader, no capture).
pub fn check(dirs: &[PathBuf]) -> Result<Summary, RulesErrors> {
    Ruleset::load(dirs, true).map(|r| r.summary())
}
