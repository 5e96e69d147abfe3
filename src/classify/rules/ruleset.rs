//! The compiled form the hot path queries: services, endpoints, host matcher, prefix table,
//! signatures, ASNs.

use super::*;
use crate::dissect::Signature;

// ---------------------------------------------------------------------------------------------
// Compiled form

pub use crate::classify::ids::{EndpointId, ServiceId};

/// Transport protocol of a port rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortProto {
    /// TCP.
    Tcp,
    /// UDP (QUIC, STUN, ...).
    Udp,
}

/// A port or port range for one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    /// Transport.
    pub transport: PortProto,
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

/// Why a port spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// No `/`.
    #[error("expected tcp/PORT or udp/FIRST-LAST")]
    Syntax,
    /// Neither `tcp` nor `udp`.
    #[error("unknown transport \"{0}\" (tcp or udp)")]
    Proto(String),
    /// Not a number up to 65535.
    #[error("invalid port number \"{0}\"")]
    Number(String),
    /// Zero, or first after last.
    #[error("empty or zero port range")]
    Empty,
}

impl PortRange {
    /// Parses `tcp/443`, `udp/3478`, `udp/40000-40100`.
    pub fn parse(text: &str) -> Result<PortRange, PortError> {
        let (proto, ports) = text.split_once('/').ok_or(PortError::Syntax)?;
        let transport = match proto.to_ascii_lowercase().as_str() {
            "tcp" => PortProto::Tcp,
            "udp" => PortProto::Udp,
            _ => return Err(PortError::Proto(proto.to_owned())),
        };
        let num = |s: &str| s.trim().parse::<u16>().map_err(|_| PortError::Number(s.to_owned()));
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(ports)?, num(ports)?),
        };
        if first == 0 || first > last {
            return Err(PortError::Empty);
        }
        Ok(PortRange { transport, first, last })
    }

    /// Whether `port` over `transport` falls in this range.
    pub fn contains(&self, transport: PortProto, port: u16) -> bool {
        self.transport == transport && (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.transport {
            PortProto::Tcp => "tcp",
            PortProto::Udp => "udp",
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
    /// Role, e.g. [`Role::Media`].
    pub role: Role,
    /// `service.role`, e.g. "whatsapp.media".
    pub name: Box<str>,
    /// Human name.
    pub display: Box<str>,
    /// Usual server ports: hints that corroborate, never evidence alone.
    pub ports: Vec<PortRange>,
}

impl Endpoint {
    /// Whether the server port is one this endpoint usually uses.
    pub fn uses_port(&self, transport: PortProto, port: u16) -> bool {
        self.ports.iter().any(|p| p.contains(transport, port))
    }
}

/// The compiled rules the hot path queries. Built once; lookups do not allocate.
#[derive(Debug)]
pub struct Ruleset {
    pub(super) services: Vec<Service>,
    pub(super) endpoints: Vec<Endpoint>,
    pub(super) hosts: HostMatcher,
    pub(super) prefixes: PrefixTable,
    pub(super) signatures: FnvMap<Box<str>, EndpointId>,
    pub(super) asns: HashMap<u32, EndpointId>,
    pub(super) files: Vec<Arc<str>>,
    /// Where each key was defined; kept only by [`Ruleset::load_with_origins`].
    pub(super) origins: Option<Box<Origins>>,
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
                                loader.error(at, RuleErrorKind::Io(e.to_string()));
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
    pub fn match_signature(&self, sig: Signature) -> Option<EndpointId> {
        self.signatures.get(sig.name()).copied()
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

    /// The endpoint of `service` with `role`, e.g. `whatsapp` and [`Role::Chat`].
    pub fn endpoint_of(&self, service: &str, role: Role) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.role == role && &*e.service == service)
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
