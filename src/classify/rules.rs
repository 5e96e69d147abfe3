//! Rule files: `RawRole` mirrors a role table of the TOML; the loader validates and merges layers into a
//! `Ruleset`, the structure the hot path queries (built once).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};

use super::hosts::{FnvMap, HostMatch, HostMatcher, HostPattern};
use super::prefixes::{PrefixMatch, PrefixTable, parse_prefix};

/// Dissector signatures a rule may name. Dissectors emit these names; a rule naming anything else
/// could never match, so it is reported as a typo.
pub const KNOWN_SIGNATURES: &[&str] =
    &["whatsapp_preface", "stun_whatsapp_relay", "stun_realm_facebook"];

/// The default rules, embedded so the binary works without a rules directory.
/// `(path shown in messages, contents)`, in file-name order like a directory load; prefix files are
/// found here by file name.
const BUILTIN: &[(&str, &str)] = &[
    ("rules/facebook.toml", include_str!("../../rules/facebook.toml")),
    ("rules/instagram.toml", include_str!("../../rules/instagram.toml")),
    ("rules/messenger.toml", include_str!("../../rules/messenger.toml")),
    ("rules/meta-asn-prefixes.txt", include_str!("../../rules/meta-asn-prefixes.txt")),
    ("rules/meta.toml", include_str!("../../rules/meta.toml")),
    ("rules/threads.toml", include_str!("../../rules/threads.toml")),
    (
        "rules/whatsapp-server-addresses.txt",
        include_str!("../../rules/whatsapp-server-addresses.txt"),
    ),
    ("rules/whatsapp.toml", include_str!("../../rules/whatsapp.toml")),
];

/// The embedded rule files, `(name, contents)` (for the provenance manifest's rules hash).
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN
}

// ---------------------------------------------------------------------------------------------
// Raw form: mirrors the TOML. Spans give every error a line.
//
// A file is `[service.NAME]` tables with an optional `display` and `[service.NAME.role.ROLE]`
// tables. Those two outer levels are walked by hand over the parsed document so that a bad key in
// one role does not hide the problems of the others; each role table is deserialized into `RawRole`.

/// Keys allowed in a `[service.NAME]` table.
const SERVICE_KEYS: &str = "`display`, `role`";

/// One `[service.NAME.role.ROLE]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    /// Human name of the endpoint.
    display: Option<Spanned<String>>,
    /// Host patterns: exact, `.suffix` / `*.suffix`, `label-prefix*.domain`.
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    /// CIDR prefixes.
    #[serde(default)]
    prefixes: Vec<Spanned<String>>,
    /// Files of CIDRs (one a line, `#` comments), relative to the rule file.
    #[serde(default)]
    prefix_files: Vec<Spanned<String>>,
    /// `tcp/5222`, `udp/3478`, `udp/40000-40100`: hints, never evidence on their own.
    #[serde(default)]
    ports: Vec<Spanned<String>>,
    /// Dissector signature names (see `KNOWN_SIGNATURES`).
    #[serde(default)]
    signatures: Vec<Spanned<String>>,
    /// Autonomous system numbers whose addresses belong to this endpoint.
    #[serde(default)]
    asns: Vec<Spanned<i64>>,
}

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
    /// A host pattern does not parse.
    #[error("host {}: {reason}", quote(value))]
    BadHost {
        /// The pattern as written.
        value: String,
        /// Why.
        reason: String,
    },
    /// A prefix does not parse.
    #[error("prefix {}: {reason}", quote(value))]
    BadPrefix {
        /// The prefix as written.
        value: String,
        /// Why.
        reason: String,
    },
    /// A port spec does not parse.
    #[error("port {}: {reason}", quote(value))]
    BadPort {
        /// The spec as written.
        value: String,
        /// Why.
        reason: String,
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

/// Longest part of a bad value an error quotes: enough to find a typo, too short to echo a file
/// that is not a rule file (a prefix file pointing at `/etc/shadow`).
const QUOTE_MAX: usize = 32;

/// `value` in double quotes for a message: at most [`QUOTE_MAX`] characters, control characters,
/// quotes and backslashes escaped, `…` when cut.
pub fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == QUOTE_MAX {
            out.push('…');
            break;
        }
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

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

// ---------------------------------------------------------------------------------------------
// Compiled form

/// Index of a service in a `Ruleset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

/// Index of an endpoint (a service's role) in a `Ruleset`; carries its service, so a verdict knows
/// the service without the ruleset at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId {
    service: ServiceId,
    index: u16,
}

impl EndpointId {
    /// The service this endpoint belongs to.
    pub fn service(self) -> ServiceId {
        self.service
    }

    /// Position in `Ruleset::endpoints()`.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }

    #[cfg(test)]
    pub(crate) fn test(index: u16) -> EndpointId {
        EndpointId { service: ServiceId(0), index }
    }
}

/// Transport protocol of a port rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP (QUIC, STUN, ...).
    Udp,
}

/// A port or port range for one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// Transport.
    pub transport: Transport,
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    /// Parses `tcp/443`, `udp/3478`, `udp/40000-40100`.
    pub fn parse(text: &str) -> Result<PortRange, String> {
        let (proto, ports) = text.split_once('/').ok_or("expected tcp/PORT or udp/FIRST-LAST")?;
        let transport = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            _ => return Err(format!("unknown transport \"{proto}\" (tcp or udp)")),
        };
        let num =
            |s: &str| s.trim().parse::<u16>().map_err(|_| format!("invalid port number \"{s}\""));
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(ports)?, num(ports)?),
        };
        if first == 0 || first > last {
            return Err("empty or zero port range".into());
        }
        Ok(PortRange { transport, first, last })
    }

    /// Whether `port` over `transport` falls in this range.
    pub fn contains(&self, transport: Transport, port: u16) -> bool {
        self.transport == transport && (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        if self.first == self.last {
            write!(f, "{t}/{}", self.first)
        } else {
            write!(f, "{t}/{}-{}", self.first, self.last)
        }
    }
}

/// A service: an app or shared infrastructure (`whatsapp`, `meta`).
#[derive(Debug, Clone)]
pub struct Service {
    /// Rule name, e.g. "whatsapp".
    pub name: Box<str>,
    /// Human name, e.g. "WhatsApp".
    pub display: Box<str>,
}

/// An endpoint: one role of a service (`whatsapp.media`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its id.
    pub id: EndpointId,
    /// Service name, e.g. "whatsapp".
    pub service: Box<str>,
    /// Role name, e.g. "media".
    pub role: Box<str>,
    /// `service.role`, e.g. "whatsapp.media".
    pub name: Box<str>,
    /// Human name.
    pub display: Box<str>,
    /// Usual server ports: hints that corroborate, never evidence alone.
    pub ports: Vec<PortRange>,
}

impl Endpoint {
    /// Whether the server port is one this endpoint usually uses.
    pub fn uses_port(&self, transport: Transport, port: u16) -> bool {
        self.ports.iter().any(|p| p.contains(transport, port))
    }
}

/// The compiled rules the hot path queries. Built once; lookups do not allocate.
#[derive(Debug)]
pub struct Ruleset {
    services: Vec<Service>,
    endpoints: Vec<Endpoint>,
    hosts: HostMatcher,
    prefixes: PrefixTable,
    signatures: FnvMap<Box<str>, EndpointId>,
    asns: HashMap<u32, EndpointId>,
    files: Vec<Arc<str>>,
    /// Where each key was defined; kept only by [`Ruleset::load_with_origins`].
    origins: Option<Box<Origins>>,
}

/// Where each host pattern, prefix, signature and ASN of a ruleset was defined (for
/// `leakscope lookup`; the hot path never needs it).
#[derive(Debug, Default)]
pub struct Origins {
    /// By canonical pattern text (as [`HostMatch::pattern`] shows it).
    pub hosts: HashMap<String, Location>,
    /// By prefix.
    pub prefixes: HashMap<ipnet::IpNet, Location>,
    /// By ASN.
    pub asns: HashMap<u32, Location>,
}

impl Ruleset {
    /// [`load`](Self::load), also keeping where each rule was defined ([`Ruleset::origins`]).
    pub fn load_with_origins(
        dirs: &[PathBuf],
        include_builtin: bool,
    ) -> Result<Ruleset, RulesErrors> {
        Self::load_inner(dirs, include_builtin, true)
    }

    /// File and line of each rule, when loaded with [`load_with_origins`](Self::load_with_origins).
    pub fn origins(&self) -> Option<&Origins> {
        self.origins.as_deref()
    }

    /// The embedded default rules.
    ///
    /// # Panics
    /// Never in a released build: a test loads the builtin rules and requires zero problems.
    pub fn builtin() -> Ruleset {
        match Ruleset::load(&[], true) {
            Ok(r) => r,
            Err(e) => panic!("builtin rules are broken: {e}"),
        }
    }

    /// Loads the builtin rules (if `include_builtin`) and then each directory's `*.toml` files, in
    /// order. A later layer extends earlier ones and overrides them on the same host pattern, prefix,
    /// signature or ASN; within one layer such a repeat is an error. All problems are returned together.
    pub fn load(dirs: &[PathBuf], include_builtin: bool) -> Result<Ruleset, RulesErrors> {
        Self::load_inner(dirs, include_builtin, false)
    }

    fn load_inner(
        dirs: &[PathBuf],
        include_builtin: bool,
        keep_origins: bool,
    ) -> Result<Ruleset, RulesErrors> {
        let mut loader = Loader { keep_origins, ..Loader::default() };
        if include_builtin {
            loader.builtin_layer();
        }
        for dir in dirs {
            let at = Location { file: dir.display().to_string().into(), line: 0 };
            match list_tomls(dir) {
                Ok(paths) if paths.is_empty() => loader.error(at, RuleErrorKind::NoRuleFiles),
                Ok(paths) => {
                    let mut files = Vec::new();
                    for p in paths {
                        let name: Arc<str> = Arc::from(p.display().to_string());
                        match read_text(&p) {
                            Ok(text) => files.push((name, text)),
                            Err(e) => {
                                let at = Location { file: name, line: 0 };
                                loader.error(at, RuleErrorKind::Io(e));
                            }
                        }
                    }
                    loader.layer(files, &Origin::Dir(dir.clone()));
                }
                Err(e) => loader.error(at, RuleErrorKind::Io(e.to_string())),
            }
        }
        loader.finish()
    }

    /// Loads rule files given as `(name, text)` pairs, as one layer over the builtin rules (if
    /// `include_builtin`), without touching the file system: `prefix_file` names another given
    /// file. The same checks as [`load`](Self::load); used by fuzzing and tests.
    pub fn from_texts(
        files: &[(&str, &str)],
        include_builtin: bool,
    ) -> Result<Ruleset, RulesErrors> {
        let mut loader = Loader::default();
        if include_builtin {
            loader.builtin_layer();
        }
        let given: Vec<(Arc<str>, String)> =
            files.iter().map(|(n, t)| (Arc::from(*n), t.to_string())).collect();
        let tomls = given.iter().filter(|(n, _)| n.ends_with(".toml")).cloned().collect();
        loader.layer(tomls, &Origin::Memory(given));
        loader.finish()
    }

    /// Most specific host pattern matching `name` (SNI, HTTP Host, DNS name); case-insensitive,
    /// a trailing dot is ignored.
    pub fn match_host(&self, name: &str) -> Option<HostMatch<'_>> {
        self.hosts.find(name)
    }

    /// Most specific prefix holding `ip` (a WhatsApp /32 beats a Meta /17).
    pub fn match_ip(&self, ip: IpAddr) -> Option<PrefixMatch> {
        self.prefixes.find(ip)
    }

    /// Endpoint named by a dissector signature.
    pub fn match_signature(&self, sig: &str) -> Option<EndpointId> {
        self.signatures.get(sig).copied()
    }

    /// Endpoint for addresses announced by this autonomous system.
    pub fn match_asn(&self, asn: u32) -> Option<EndpointId> {
        self.asns.get(&asn).copied()
    }

    /// The endpoint with this id.
    ///
    /// # Panics
    /// If `id` comes from another `Ruleset`.
    pub fn endpoint(&self, id: EndpointId) -> &Endpoint {
        &self.endpoints[id.index()]
    }

    /// The service with this id.
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[usize::from(id.0)]
    }

    /// All endpoints, in definition order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Endpoint by `service.role` name, e.g. "whatsapp.media".
    pub fn endpoint_by_name(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| &*e.name == name)
    }

    /// Counts per service and role, for `leakscope rules check`.
    pub fn summary(&self) -> Summary {
        let mut roles: Vec<RoleSummary> = self
            .endpoints
            .iter()
            .map(|e| RoleSummary {
                endpoint: e.name.to_string(),
                display: e.display.to_string(),
                ports: e.ports.len(),
                ..RoleSummary::default()
            })
            .collect();
        for id in self.hosts.endpoints() {
            roles[id.index()].hosts += 1;
        }
        for id in self.prefixes.endpoints() {
            roles[id.index()].prefixes += 1;
        }
        for id in self.signatures.values() {
            roles[id.index()].signatures += 1;
        }
        for id in self.asns.values() {
            roles[id.index()].asns += 1;
        }
        Summary {
            files: self.files.iter().map(|f| f.to_string()).collect(),
            services: self.services.len(),
            roles,
            hosts: self.hosts.len(),
            prefixes: self.prefixes.len(),
            signatures: self.signatures.len(),
            asns: self.asns.len(),
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Loader

enum Origin {
    Builtin,
    Dir(PathBuf),
    /// Files given in memory ([`Ruleset::from_texts`]); prefix files are looked up among them.
    Memory(Vec<(Arc<str>, String)>),
}

/// The `*.toml` files of a rules directory (the policy catalogue aside), sorted.
fn list_tomls(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.is_dir())
        // The policy catalogue lives beside the rules but is not a rule file.
        .filter(|p| p.file_name().is_none_or(|n| n != crate::policy::CATALOGUE_FILE))
        .collect();
    paths.sort(); // deterministic merge order
    Ok(paths)
}

/// Largest rules or prefix file read (the builtin rules are 20 KB; 40 000 host names ~1 MB).
pub const MAX_RULES_FILE: u64 = 16 << 20;

/// Reads a rules or prefix file: a regular file (a FIFO would block, `/dev/zero` never end) of
/// at most [`MAX_RULES_FILE`] bytes, in UTF-8. Errors say why, without quoting the contents.
pub fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK) // opening a FIFO must not wait for a writer
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_RULES_FILE {
        return Err(format!("{} bytes, more than the {MAX_RULES_FILE}-byte limit", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may change under us: never read more than the cap.
    file.take(MAX_RULES_FILE + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_RULES_FILE {
        return Err(format!("more than the {MAX_RULES_FILE}-byte limit"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        format!("not UTF-8 text (line {line}, byte offset {at})")
    })
}

/// Line numbers of byte offsets in one text, each in O(log lines).
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let starts =
            std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Lines(starts.collect())
    }
    /// 1-based line of `offset`.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Bad lines after which a prefix file is given up.
const MAX_BAD_PREFIX_LINES: usize = 5;

/// One keyed assignment (host pattern, prefix, signature, ASN) and where it came from.
struct Claim {
    endpoint: EndpointId,
    at: Location,
    layer: usize,
}

#[derive(Default)]
struct Loader {
    errors: Vec<RuleError>,
    layer: usize,
    files: Vec<Arc<str>>,
    services: Vec<Service>,
    endpoints: Vec<Endpoint>,
    /// Where each endpoint was defined, per layer: a role defined twice in one layer is an error.
    role_defs: HashMap<(usize, EndpointId), Location>,
    /// Whether `ports` were already replaced in this layer (later layers replace, same layer extends).
    ports_layer: HashMap<EndpointId, usize>,
    hosts: BTreeMap<HostPattern, Claim>,
    prefixes: BTreeMap<IpNet, Claim>,
    signatures: BTreeMap<String, Claim>,
    asns: BTreeMap<u32, Claim>,
    keep_origins: bool,
}

/// Records `key → endpoint`: override across layers, report repeats within a layer.
fn claim<K: Ord + Clone>(
    map: &mut BTreeMap<K, Claim>,
    key: K,
    shown: impl FnOnce() -> String,
    what: &'static str,
    new: Claim,
    endpoints: &[Endpoint],
) -> Option<RuleError> {
    if let Some(old) = map.get(&key)
        && old.layer == new.layer
    {
        let value = shown();
        let endpoint = endpoints[new.endpoint.index()].name.to_string();
        let first = old.at.clone();
        let kind = if old.endpoint == new.endpoint {
            RuleErrorKind::Duplicate { what, value, endpoint, first }
        } else {
            let other = endpoints[old.endpoint.index()].name.to_string();
            RuleErrorKind::Conflict { what, value, endpoint, other, first }
        };
        return Some(RuleError { at: new.at, kind });
    }
    map.insert(key, new);
    None
}

impl Loader {
    fn error(&mut self, at: Location, kind: RuleErrorKind) {
        self.errors.push(RuleError { at, kind });
    }

    /// The rule files embedded in the binary, as the first layer.
    fn builtin_layer(&mut self) {
        let files = BUILTIN
            .iter()
            .filter(|(name, _)| name.ends_with(".toml"))
            .map(|(name, text)| (Arc::from(*name), text.to_string()))
            .collect();
        self.layer(files, &Origin::Builtin);
    }

    fn layer(&mut self, files: Vec<(Arc<str>, String)>, origin: &Origin) {
        self.layer += 1;
        for (file, text) in files {
            self.files.push(file.clone());
            self.file(&file, &text, origin);
        }
    }

    fn file(&mut self, file: &Arc<str>, text: &str, origin: &Origin) {
        // One index per file: a line number per value in O(log lines), so that a list of
        // 40 000 hosts loads in linear time.
        let lines = Lines::new(text);
        let at = |offset: usize| Location { file: file.clone(), line: lines.of(offset) };
        let syntax = |e: &toml::de::Error, fallback: usize| {
            let line = lines.of(e.span().map_or(fallback, |s| s.start));
            let msg = e.message().trim_end().replace('\n', " ");
            (Location { file: file.clone(), line }, RuleErrorKind::Syntax(msg))
        };
        let root = match DeTable::parse(text) {
            Ok(root) => root,
            Err(e) => {
                let (loc, kind) = syntax(&e, 0);
                return self.error(loc, kind);
            }
        };
        for (key, value) in root.get_ref() {
            let Some(services) = self.table(key, value, &at, "`service`", |k| k == "service")
            else {
                continue;
            };
            for (sname, svc) in services {
                let Some(svc) = self.table(sname, svc, &at, "", |_| true) else {
                    continue;
                };
                let sname_at = at(sname.span().start);
                if !valid_name(sname.get_ref()) {
                    let value = sname.get_ref().to_string();
                    self.error(sname_at.clone(), RuleErrorKind::BadName { what: "service", value });
                }
                let mut display = None;
                let mut roles = Vec::new();
                for (k, v) in svc {
                    match k.get_ref().as_ref() {
                        "display" => match v.get_ref().as_str() {
                            Some(d) => display = Some(d),
                            None => self.error(
                                at(v.span().start),
                                RuleErrorKind::Syntax(
                                    "invalid type for `display`, expected a string".into(),
                                ),
                            ),
                        },
                        "role" => {
                            if let Some(t) = self.table(k, v, &at, SERVICE_KEYS, |_| true) {
                                roles.extend(t.iter());
                            }
                        }
                        other => self.error(
                            at(k.span().start),
                            RuleErrorKind::Syntax(format!(
                                "unknown field `{other}`, expected one of {SERVICE_KEYS}"
                            )),
                        ),
                    }
                }
                let sid = self.service_id(sname.get_ref(), display);
                for (rname, rvalue) in roles {
                    let role_at = at(rname.span().start);
                    let role = match RawRole::deserialize(ValueDeserializer::from(rvalue.clone())) {
                        Ok(role) => role,
                        Err(e) => {
                            let (loc, kind) = syntax(&e, rvalue.span().start);
                            self.error(loc, kind);
                            continue;
                        }
                    };
                    if !valid_name(rname.get_ref()) {
                        let value = rname.get_ref().to_string();
                        self.error(role_at.clone(), RuleErrorKind::BadName { what: "role", value });
                    }
                    let display = role.display.as_ref().map(|d| d.get_ref().as_str());
                    let id = self.endpoint_id(sid, rname.get_ref(), display);
                    if let Some(first) = self.role_defs.get(&(self.layer, id)) {
                        let kind = RuleErrorKind::Duplicate {
                            what: "role",
                            value: rname.get_ref().to_string(),
                            endpoint: self.endpoints[id.index()].name.to_string(),
                            first: first.clone(),
                        };
                        self.error(role_at, kind);
                    } else {
                        self.role_defs.insert((self.layer, id), role_at);
                    }
                    self.role(id, role, &at, origin, file);
                }
            }
        }
    }

    /// `value` as a table, when `key` is allowed (`allowed`) and it is one; else reports why.
    fn table<'a>(
        &mut self,
        key: &Spanned<DeString<'a>>,
        value: &'a Spanned<DeValue<'a>>,
        at: &dyn Fn(usize) -> Location,
        expected: &str,
        allowed: impl Fn(&str) -> bool,
    ) -> Option<&'a DeTable<'a>> {
        if !allowed(key.get_ref()) {
            let msg = format!("unknown field `{}`, expected {expected}", key.get_ref());
            self.error(at(key.span().start), RuleErrorKind::Syntax(msg));
            return None;
        }
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                let msg = format!("invalid type for `{}`, expected a table", key.get_ref());
                self.error(at(value.span().start), RuleErrorKind::Syntax(msg));
                None
            }
        }
    }

    fn role(
        &mut self,
        id: EndpointId,
        role: RawRole,
        at: &dyn Fn(usize) -> Location,
        origin: &Origin,
        file: &Arc<str>,
    ) {
        let layer = self.layer;
        for h in role.hosts {
            let loc = at(h.span().start);
            match HostPattern::parse(h.get_ref()) {
                Ok(p) => {
                    let shown = p.to_string();
                    let c = Claim { endpoint: id, at: loc, layer };
                    if let Some(e) = claim(&mut self.hosts, p, || shown, "host", c, &self.endpoints)
                    {
                        self.errors.push(e);
                    }
                }
                Err(reason) => {
                    self.error(loc, RuleErrorKind::BadHost { value: h.into_inner(), reason })
                }
            }
        }
        for p in role.prefixes {
            let loc = at(p.span().start);
            self.prefix(id, p.get_ref(), loc);
        }
        for pf in role.prefix_files {
            let loc = at(pf.span().start);
            self.prefix_file(id, pf.get_ref(), loc, origin, file);
        }
        let mut ports = Vec::new();
        for p in role.ports {
            match PortRange::parse(p.get_ref()) {
                Ok(r) => ports.push(r),
                Err(reason) => self.error(
                    at(p.span().start),
                    RuleErrorKind::BadPort { value: p.into_inner(), reason },
                ),
            }
        }
        if !ports.is_empty() {
            let ep = &mut self.endpoints[id.index()];
            if self.ports_layer.insert(id, layer) != Some(layer) {
                ep.ports.clear(); // a later layer replaces the port list
            }
            ep.ports.extend(ports);
            ep.ports.sort();
            ep.ports.dedup();
        }
        for s in role.signatures {
            let loc = at(s.span().start);
            let name = s.into_inner();
            if !KNOWN_SIGNATURES.contains(&name.as_str()) {
                self.error(
                    loc,
                    RuleErrorKind::BadSignature { value: name, known: KNOWN_SIGNATURES.join(", ") },
                );
                continue;
            }
            let shown = name.clone();
            let c = Claim { endpoint: id, at: loc, layer };
            if let Some(e) =
                claim(&mut self.signatures, name, || shown, "signature", c, &self.endpoints)
            {
                self.errors.push(e);
            }
        }
        for a in role.asns {
            let loc = at(a.span().start);
            let v = *a.get_ref();
            match u32::try_from(v) {
                Ok(asn) if asn != 0 => {
                    let c = Claim { endpoint: id, at: loc, layer };
                    if let Some(e) =
                        claim(&mut self.asns, asn, || format!("AS{asn}"), "asn", c, &self.endpoints)
                    {
                        self.errors.push(e);
                    }
                }
                _ => self.error(loc, RuleErrorKind::BadAsn { value: v }),
            }
        }
    }

    fn prefix(&mut self, id: EndpointId, text: &str, loc: Location) {
        match parse_prefix(text) {
            Ok(net) => {
                let c = Claim { endpoint: id, at: loc, layer: self.layer };
                if let Some(e) =
                    claim(&mut self.prefixes, net, || net.to_string(), "prefix", c, &self.endpoints)
                {
                    self.errors.push(e);
                }
            }
            Err(reason) => {
                self.error(loc, RuleErrorKind::BadPrefix { value: text.to_string(), reason })
            }
        }
    }

    /// Reads a CIDR list: one a line, blank lines and `#` comments skipped; errors name its line.
    fn prefix_file(
        &mut self,
        id: EndpointId,
        rel: &str,
        loc: Location,
        origin: &Origin,
        file: &Arc<str>,
    ) {
        let (name, text) = match origin {
            Origin::Builtin => {
                let want = format!("rules/{rel}");
                match BUILTIN.iter().find(|(n, _)| *n == want) {
                    Some((n, t)) => (Arc::<str>::from(*n), t.to_string()),
                    None => {
                        return self.error(loc, RuleErrorKind::Io(format!("{want}: not embedded")));
                    }
                }
            }
            Origin::Memory(files) => match files.iter().find(|(n, _)| &**n == rel) {
                Some((n, t)) => (n.clone(), t.clone()),
                None => {
                    return self.error(loc, RuleErrorKind::Io(format!("{rel}: not given")));
                }
            },
            Origin::Dir(dir) => {
                // Relative to the rule file's directory.
                let base = Path::new(&**file).parent().unwrap_or(dir);
                let path = base.join(rel);
                match read_text(&path) {
                    Ok(t) => (Arc::from(path.display().to_string()), t),
                    Err(e) => {
                        return self
                            .error(loc, RuleErrorKind::Io(format!("{}: {e}", path.display())));
                    }
                }
            }
        };
        self.files.push(name.clone());
        let mut bad = 0;
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let before = self.errors.len();
            let at = Location { file: name.clone(), line: i + 1 };
            if entry.bytes().all(|b| b.is_ascii_hexdigit() || b".:/".contains(&b)) {
                self.prefix(id, entry, at);
            } else {
                // Not even address characters: a wrong file, whose lines are not quoted.
                let reason = format!("not a CIDR prefix ({} characters, not quoted)", entry.len());
                self.error(at, RuleErrorKind::Syntax(reason));
            }
            bad += usize::from(self.errors.len() > before);
            // A file that is not a prefix list (a wrong path) is not echoed line by line.
            if bad == MAX_BAD_PREFIX_LINES {
                let at = Location { file: name.clone(), line: i + 1 };
                let msg =
                    format!("{bad} bad lines so far: not a prefix list? The rest is not read");
                return self.error(at, RuleErrorKind::Syntax(msg));
            }
        }
    }

    fn service_id(&mut self, name: &str, display: Option<&str>) -> ServiceId {
        let i = match self.services.iter().position(|s| &*s.name == name) {
            Some(i) => i,
            None => {
                self.services.push(Service { name: name.into(), display: name.into() });
                self.services.len() - 1
            }
        };
        if let Some(d) = display {
            self.services[i].display = d.into(); // later files and layers win
        }
        ServiceId(i as u16)
    }

    fn endpoint_id(&mut self, service: ServiceId, role: &str, display: Option<&str>) -> EndpointId {
        let sname = self.services[usize::from(service.0)].name.clone();
        let i = match self.endpoints.iter().position(|e| e.service == sname && &*e.role == role) {
            Some(i) => i,
            None => {
                let name: Box<str> = format!("{sname}.{role}").into();
                let id = EndpointId { service, index: self.endpoints.len() as u16 };
                self.endpoints.push(Endpoint {
                    id,
                    service: sname,
                    role: role.into(),
                    display: name.clone(),
                    name,
                    ports: Vec::new(),
                });
                self.endpoints.len() - 1
            }
        };
        if let Some(d) = display {
            self.endpoints[i].display = d.into();
        }
        self.endpoints[i].id
    }

    fn finish(self) -> Result<Ruleset, RulesErrors> {
        if !self.errors.is_empty() {
            return Err(RulesErrors(self.errors));
        }
        let origins = self.keep_origins.then(|| {
            Box::new(Origins {
                hosts: self.hosts.iter().map(|(p, c)| (p.to_string(), c.at.clone())).collect(),
                prefixes: self.prefixes.iter().map(|(n, c)| (*n, c.at.clone())).collect(),
                asns: self.asns.iter().map(|(a, c)| (*a, c.at.clone())).collect(),
            })
        });
        let hosts = HostMatcher::build(self.hosts.iter().map(|(p, c)| (p, c.endpoint)));
        let prefixes =
            PrefixTable::build(self.prefixes.iter().map(|(n, c)| (*n, c.endpoint)).collect());
        Ok(Ruleset {
            services: self.services,
            endpoints: self.endpoints,
            hosts,
            prefixes,
            signatures: self
                .signatures
                .into_iter()
                .map(|(k, c)| (k.into_boxed_str(), c.endpoint))
                .collect(),
            asns: self.asns.into_iter().map(|(k, c)| (k, c.endpoint)).collect(),
            files: self.files,
            origins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(r: &Ruleset, host: &str) -> Option<String> {
        r.match_host(host).map(|m| r.endpoint(m.endpoint).name.to_string())
    }

    #[test]
    fn builtin_hosts_land_on_their_endpoints() {
        let r = Ruleset::builtin();
        for (host, want) in [
            ("g.whatsapp.net", "whatsapp.chat"),
            ("c.whatsapp.net", "whatsapp.chat"),
            ("e1.whatsapp.net", "whatsapp.chat"),
            ("e16.whatsapp.net", "whatsapp.chat"),
            ("whatsapp-chatd-edge-shv-01-fra3.facebook.com", "whatsapp.chat"),
            ("v.whatsapp.net", "whatsapp.registration"),
            ("mmg.whatsapp.net", "whatsapp.media"),
            ("MMG-FNA.whatsapp.net.", "whatsapp.media"),
            ("mms.whatsapp.net", "whatsapp.media"),
            ("media-fra3-1.cdn.whatsapp.net", "whatsapp.media"),
            ("x.cdn.whatsapp.net", "whatsapp.media"),
            ("media.fmct2-1.fna.whatsapp.net", "whatsapp.media"),
            ("whatsapp-cdn-shv-01-fra3.fbcdn.net", "whatsapp.media"),
            ("pps.whatsapp.net", "whatsapp.profile_pictures"),
            ("static.whatsapp.net", "whatsapp.static"),
            ("crashlogs.whatsapp.net", "whatsapp.crashlogs"),
            ("dit.whatsapp.net", "whatsapp.telemetry"),
            ("web.whatsapp.com", "whatsapp.web"),
            ("graph.whatsapp.com", "whatsapp.graph"),
            ("graph.whatsapp.net", "whatsapp.graph"),
            ("e17.whatsapp.net", "whatsapp.other"),
            ("whatsapp.com", "whatsapp.other"),
            ("wa.me", "whatsapp.other"),
            ("graph.facebook.com", "facebook.graph"),
            ("b-graph.facebook.com", "facebook.graph"),
            ("scontent-fra3-1.fbcdn.net", "facebook.cdn"),
            ("video.fmct2-3.fna.fbcdn.net", "facebook.video"),
            ("fbcdn-profile-a.akamaihd.net", "facebook.cdn"),
            ("s-static.ak.facebook.com", "facebook.cdn"),
            ("connect.facebook.net", "facebook.analytics"),
            ("an.facebook.com", "facebook.analytics"),
            ("www.facebook.com", "facebook.other"),
            ("facebook.com", "facebook.other"),
            ("fb.me", "facebook.other"),
            ("fbsbx.com", "facebook.cdn"),
            ("fbwat.ch", "facebook.other"),
            ("edge-mqtt.facebook.com", "messenger.chat"),
            ("mqtt-mini.facebook.com", "messenger.chat"),
            ("mqtt.facebook.com", "facebook.other"),
            ("www.messenger.com", "messenger.other"),
            ("m.me", "messenger.other"),
            ("i.instagram.com", "instagram.api"),
            ("www.instagram.com", "instagram.other"),
            ("scontent-fra3-1.cdninstagram.com", "instagram.cdn"),
            ("z-m-scontent.cdninstagram.com", "instagram.cdn"),
            ("instagram.faae1-1.fna.fbcdn.net", "instagram.cdn"),
            ("igcdn-photos-a-a.akamaihd.net", "instagram.cdn"),
            ("instagr.am", "instagram.other"),
            ("www.threads.net", "threads.other"),
            ("threads.com", "threads.other"),
            ("star.c10r.facebook.com", "meta.edge"),
            ("star-mini.c10r.facebook.com", "meta.edge"),
            ("scontent.xx.fbcdn.net", "meta.edge"),
            ("about.meta.com", "meta.other"),
        ] {
            assert_eq!(ep(&r, host).as_deref(), Some(want), "{host}");
        }
        for host in ["example.com", "notwhatsapp.net", "whatsapp.net.example.com", "fb.example"] {
            assert_eq!(ep(&r, host), None, "{host}");
        }
    }

    #[test]
    fn builtin_addresses_signatures_and_asns() {
        let r = Ruleset::builtin();
        let ip = |s: &str| {
            r.match_ip(s.parse().unwrap())
                .map(|m| (r.endpoint(m.endpoint).name.to_string(), m.prefix.to_string()))
        };
        // A WhatsApp /32 beats Meta's /17.
        assert_eq!(ip("157.240.2.53"), Some(("whatsapp.other".into(), "157.240.2.53/32".into())));
        assert_eq!(ip("157.240.2.55"), Some(("meta.network".into(), "157.240.0.0/17".into())));
        assert_eq!(ip("157.240.0.61"), Some(("whatsapp.other".into(), "157.240.0.60/31".into())));
        assert_eq!(ip("2a03:2880:f0ff::1"), Some(("meta.network".into(), "2a03:2880::/32".into())));
        assert_eq!(ip("8.8.8.8"), None);
        let sig = |s: &str| r.match_signature(s).map(|e| r.endpoint(e).name.to_string());
        assert_eq!(sig("whatsapp_preface").as_deref(), Some("whatsapp.chat"));
        assert_eq!(sig("stun_whatsapp_relay").as_deref(), Some("whatsapp.calls"));
        assert_eq!(sig("stun_realm_facebook").as_deref(), Some("facebook.calls"));
        assert_eq!(sig("nope"), None);
        for asn in [32934, 63293, 54115, 34825] {
            assert_eq!(
                r.match_asn(asn).map(|e| r.endpoint(e).name.to_string()).as_deref(),
                Some("meta.network")
            );
        }
        assert_eq!(r.match_asn(15169), None);
        let chat = r.endpoint_by_name("whatsapp.chat").unwrap();
        assert!(chat.uses_port(Transport::Tcp, 5222) && chat.uses_port(Transport::Tcp, 443));
        assert!(!chat.uses_port(Transport::Udp, 5222));
        assert!(r.endpoint_by_name("whatsapp.calls").unwrap().uses_port(Transport::Udp, 3478));
        let wa = r.endpoint_by_name("whatsapp.media").unwrap();
        assert_eq!(r.service(wa.id.service()).display.as_ref(), "WhatsApp");
        assert_eq!(wa.service.as_ref(), "whatsapp");
        assert_eq!(wa.role.as_ref(), "media");
    }

    #[test]
    fn every_rules_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if (name.ends_with(".toml") || name.ends_with(".txt"))
                && name != crate::policy::CATALOGUE_FILE
            {
                let want = format!("rules/{name}");
                assert!(BUILTIN.iter().any(|(n, _)| *n == want), "{want} is not in BUILTIN");
            }
        }
    }

    /// Writes `files` into a fresh directory and loads it (without the builtin rules unless asked).
    fn load_files(
        files: &[(&str, &str)],
        builtin: bool,
    ) -> (tempfile::TempDir, Result<Ruleset, RulesErrors>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let r = Ruleset::load(&[dir.path().to_path_buf()], builtin);
        (dir, r)
    }

    /// The error lines with the temp dir replaced by `D`.
    fn errors(files: &[(&str, &str)], builtin: bool) -> Vec<String> {
        let (dir, r) = load_files(files, builtin);
        let d = dir.path().display().to_string();
        r.expect_err("should fail").0.iter().map(|e| e.to_string().replace(&d, "D")).collect()
    }

    #[test]
    fn every_problem_is_reported_with_file_and_line() {
        let bad = r#"[service.whatsapp]
display = "WhatsApp"

[service.whatsapp.role.chat]
hosts = [
  "g.whatsapp.net",
  "a..whatsapp.net",
  "g.whatsapp.net",
]
prefixes = ["157.240.0.0/33", "157.240.1.0/16", "2a03:2880::/32"]
ports = ["tcp/5222", "sctp/1", "udp/9-1"]
signatures = ["whatsapp_prefase"]
asns = [32934, -1]

[service.whatsapp.role.other]
hosts = ["G.whatsapp.net", "*.*.whatsapp.net"]
prefixes = ["2a03:2880::/32"]
asns = [32934]

[service.Bad.role."x y"]
hosts = ["ok.example"]
"#;
        let got = errors(&[("whatsapp.toml", bad)], false);
        let want = [
            r#"D/whatsapp.toml:7: host "a..whatsapp.net": empty label"#,
            r#"D/whatsapp.toml:8: host "g.whatsapp.net": duplicate in whatsapp.chat (first at D/whatsapp.toml:6)"#,
            r#"D/whatsapp.toml:10: prefix "157.240.0.0/33": invalid prefix length"#,
            r#"D/whatsapp.toml:10: prefix "157.240.1.0/16": host bits set (the network is 157.240.0.0/16)"#,
            r#"D/whatsapp.toml:11: port "sctp/1": unknown transport "sctp" (tcp or udp)"#,
            r#"D/whatsapp.toml:11: port "udp/9-1": empty or zero port range"#,
            r#"D/whatsapp.toml:12: signature "whatsapp_prefase": unknown (known: whatsapp_preface, stun_whatsapp_relay, stun_realm_facebook)"#,
            r#"D/whatsapp.toml:13: asn -1: not a 32-bit AS number"#,
            r#"D/whatsapp.toml:16: host "g.whatsapp.net": claimed by whatsapp.other and by whatsapp.chat (at D/whatsapp.toml:6)"#,
            r#"D/whatsapp.toml:16: host "*.*.whatsapp.net": `*` only as the whole first label (`*.d`) or at the end of the first label (`p*.d`)"#,
            r#"D/whatsapp.toml:17: prefix "2a03:2880::/32": claimed by whatsapp.other and by whatsapp.chat (at D/whatsapp.toml:10)"#,
            r#"D/whatsapp.toml:18: asn "AS32934": claimed by whatsapp.other and by whatsapp.chat (at D/whatsapp.toml:13)"#,
        ];
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing {w}\ngot:\n{}", got.join("\n"));
        }
        assert!(
            got.iter()
                .any(|g| g.starts_with("D/whatsapp.toml:") && g.contains("service name \"Bad\"")),
            "{got:?}"
        );
        assert!(got.iter().any(|g| g.contains("role name \"x y\"")), "{got:?}");
    }

    #[test]
    fn syntax_and_unknown_keys_name_the_line() {
        let a = "[service.x.role.y]\nhosts = [\"a.example\"]\nhostz = [\"b.example\"]\n\n\
                 [service.x.role.z]\nprefixes = [\"10.0.0.0/33\"]\n";
        let got = errors(
            &[
                ("a.toml", a),
                ("b.toml", "[service.z]\ndisplay = \"Z\"\ncolour = 3\n[services.q]\n"),
                ("c.toml", "[service.q.role.r]\nhosts = [\"a.example\"\n"),
                ("d.toml", "[service.q.role.s]\nprefixes = \"1.2.3.0/24\"\n"),
                ("e.toml", "service = 3\n"),
            ],
            false,
        );
        assert_eq!(got.len(), 7, "{got:#?}");
        assert!(got[0].starts_with("D/a.toml:3: unknown field `hostz`"), "{got:?}");
        // The bad key in role y hides nothing in role z.
        assert_eq!(got[1], r#"D/a.toml:6: prefix "10.0.0.0/33": invalid prefix length"#);
        assert_eq!(got[2], "D/b.toml:3: unknown field `colour`, expected one of `display`, `role`");
        assert_eq!(got[3], "D/b.toml:4: unknown field `services`, expected `service`");
        assert!(got[4].starts_with("D/c.toml:"), "{got:?}");
        assert!(got[5].starts_with("D/d.toml:2: invalid type"), "{got:?}");
        assert_eq!(got[6], "D/e.toml:1: invalid type for `service`, expected a table");
    }

    #[test]
    fn prefix_files_report_their_own_lines() {
        let toml = "[service.x.role.y]\nprefix_files = [\"nets.txt\", \"missing.txt\"]\n";
        let nets =
            "# header kept\n10.0.0.0/8\n\n10.1.0.0/16 # comment\n10.0.0.0/33\n10.0.0.300\nbogus\n";
        let got = errors(&[("x.toml", toml), ("nets.txt", nets)], false);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], r#"D/nets.txt:5: prefix "10.0.0.0/33": invalid prefix length"#);
        assert_eq!(got[1], r#"D/nets.txt:6: prefix "10.0.0.300": invalid IP address"#);
        assert_eq!(got[2], "D/nets.txt:7: not a CIDR prefix (5 characters, not quoted)");
        assert!(got[3].starts_with("D/x.toml:2: cannot read: D/missing.txt:"), "{got:?}");
    }

    #[test]
    fn bad_values_are_quoted_short_and_escaped() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\u{1b}[2J"), r#""\u{1b}[2J""#);
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(QUOTE_MAX)));
    }

    #[test]
    fn only_regular_utf8_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_text(Path::new("/dev/zero")).unwrap_err(), "not a regular file");
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_text(&fifo).unwrap_err(), "not a regular file");
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"10.0.0.0/8\n# caf\xe9\n").unwrap();
        assert_eq!(read_text(&latin1).unwrap_err(), "not UTF-8 text (line 2, byte offset 16)");
        let big = dir.path().join("big.txt");
        std::fs::File::create(&big).unwrap().set_len(MAX_RULES_FILE + 1).unwrap();
        assert!(read_text(&big).unwrap_err().contains("limit"));
        // A file that is not a prefix list is given up after a few lines, none quoted.
        let toml = "[service.x.role.y]\nprefix_files = [\"shadow\"]\n";
        let shadow = "root:$6$salt$hash:19000:0:99999:7:::\n".repeat(50);
        let got = errors(&[("x.toml", toml), ("shadow", &shadow)], false);
        assert_eq!(got.len(), MAX_BAD_PREFIX_LINES + 1, "{got:?}");
        assert!(got.iter().all(|g| !g.contains("salt")), "{got:?}");
    }

    #[test]
    fn missing_or_empty_dirs_are_errors() {
        let got = errors(&[("readme.md", "no rules here")], false);
        assert_eq!(got, ["D: no *.toml rule files"]);
        let e = Ruleset::load(&[PathBuf::from("/nonexistent/leakscope-rules")], false).unwrap_err();
        assert!(
            e.0[0].to_string().starts_with("/nonexistent/leakscope-rules: cannot read:"),
            "{e}"
        );
    }

    #[test]
    fn role_defined_twice_in_one_layer_is_reported() {
        let a = "[service.x.role.y]\nhosts = [\"a.example\"]\n";
        let b = "[service.x.role.y]\nhosts = [\"b.example\"]\n";
        let got = errors(&[("a.toml", a), ("b.toml", b)], false);
        assert_eq!(got, [r#"D/b.toml:1: role "y": duplicate in x.y (first at D/a.toml:1)"#]);
    }

    #[test]
    fn user_layer_extends_and_overrides_builtin() {
        let user = r#"
[service.whatsapp.role.media]
display = "WhatsApp media (mine)"
hosts = ["mmg2.whatsapp.net"]
ports = ["tcp/443"]

# Moves g.whatsapp.net from whatsapp.chat to a new role; no error across layers.
[service.whatsapp.role.gateway]
hosts = ["g.whatsapp.net"]
prefixes = ["157.240.2.53/32"]

[service.acme]
display = "Acme"
[service.acme.role.api]
hosts = [".acme.example"]
"#;
        let (_dir, r) = load_files(&[("user.toml", user)], true);
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ep(&r, "g.whatsapp.net").as_deref(), Some("whatsapp.gateway"));
        assert_eq!(ep(&r, "mmg2.whatsapp.net").as_deref(), Some("whatsapp.media"));
        assert_eq!(ep(&r, "mmg.whatsapp.net").as_deref(), Some("whatsapp.media"), "builtin kept");
        assert_eq!(ep(&r, "api.acme.example").as_deref(), Some("acme.api"));
        let m = r.match_ip("157.240.2.53".parse().unwrap()).unwrap();
        assert_eq!(&*r.endpoint(m.endpoint).name, "whatsapp.gateway");
        let media = r.endpoint_by_name("whatsapp.media").unwrap();
        assert_eq!(&*media.display, "WhatsApp media (mine)");
        assert_eq!(media.ports, [PortRange::parse("tcp/443").unwrap()]);
        // Later dirs override earlier ones the same way.
        let d2 = tempfile::tempdir().unwrap();
        std::fs::write(
            d2.path().join("z.toml"),
            "[service.acme.role.web]\nhosts = [\"api.acme.example\"]\n",
        )
        .unwrap();
        let d1 = tempfile::tempdir().unwrap();
        std::fs::write(d1.path().join("u.toml"), user).unwrap();
        let r = Ruleset::load(&[d1.path().into(), d2.path().into()], true).unwrap();
        assert_eq!(ep(&r, "api.acme.example").as_deref(), Some("acme.web"));
        assert_eq!(ep(&r, "www.acme.example").as_deref(), Some("acme.api"));
    }

    #[test]
    fn check_returns_counts() {
        let s = check(&[]).unwrap();
        assert_eq!(s.services, 6);
        let chat = s.roles.iter().find(|r| r.endpoint == "whatsapp.chat").unwrap();
        assert_eq!((chat.hosts, chat.signatures, chat.ports), (19, 1, 4));
        assert!(s.to_string().contains("whatsapp.chat"));
    }

    #[test]
    fn ports_parse() {
        assert_eq!(PortRange::parse("UDP/40000-40100").unwrap().to_string(), "udp/40000-40100");
        assert_eq!(PortRange::parse("tcp/5222").unwrap().to_string(), "tcp/5222");
        assert!(PortRange::parse("5222").is_err());
        assert!(PortRange::parse("tcp/70000").is_err());
        assert!(PortRange::parse("tcp/0").is_err());
    }

    #[test]
    fn builtin_rules_load_without_problems() {
        let r = Ruleset::load(&[], true).unwrap_or_else(|e| panic!("{e}"));
        let s = r.summary();
        println!("{s}");
        assert!(s.hosts > 50 && s.prefixes > 300, "{s}");
        assert_eq!(s.asns, 4);
        assert_eq!(s.signatures, KNOWN_SIGNATURES.len());
    }
}
