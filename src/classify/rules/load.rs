//! The loader: the raw TOML form (spans give every error a line), validation, and the merge
//! of layers (builtin, directories) into a `Ruleset`.

use super::*;

// ---------------------------------------------------------------------------------------------
// Raw form: mirrors the TOML. Spans give every error a line.
//
// A file is `[service.NAME]` tables with an optional `display` and `[service.NAME.role.ROLE]`
// tables. Those two outer levels are walked by hand over the parsed document so that a bad key in
// one role does not hide the problems of the others; each role table is deserialized into `RawRole`.

/// Keys allowed in a `[service.NAME]` table.
pub(super) const SERVICE_KEYS: &str = "`display`, `role`";

/// One `[service.NAME.role.ROLE]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    /// Human name of the endpoint.
    pub(super) display: Option<Spanned<String>>,
    /// Host patterns: exact, `.suffix` / `*.suffix`, `label-prefix*.domain`.
    #[serde(default)]
    pub(super) hosts: Vec<Spanned<String>>,
    /// CIDR prefixes.
    #[serde(default)]
    pub(super) prefixes: Vec<Spanned<String>>,
    /// Files of CIDRs (one a line, `#` comments), relative to the rule file.
    #[serde(default)]
    pub(super) prefix_files: Vec<Spanned<String>>,
    /// `tcp/5222`, `udp/3478`, `udp/40000-40100`: hints, never evidence on their own.
    #[serde(default)]
    pub(super) ports: Vec<Spanned<String>>,
    /// Dissector signature names (see `KNOWN_SIGNATURES`).
    #[serde(default)]
    pub(super) signatures: Vec<Spanned<String>>,
    /// Autonomous system numbers whose addresses belong to this endpoint.
    #[serde(default)]
    pub(super) asns: Vec<Spanned<i64>>,
}

// ---------------------------------------------------------------------------------------------
// Loader

pub(super) enum Origin {
    Builtin,
    Dir(PathBuf),
    /// Files given in memory ([`Ruleset::from_texts`]); prefix files are looked up among them.
    Memory(Vec<(Arc<str>, String)>),
}

/// File name of the policy catalogue, which lives beside the rule files: loaders skip it.
pub const CATALOGUE_FILE: &str = "policy.toml";

/// The `*.toml` files of a rules directory (the policy catalogue aside), sorted.
pub(super) fn list_tomls(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.is_dir())
        // The policy catalogue lives beside the rules but is not a rule file.
        .filter(|p| p.file_name().is_none_or(|n| n != CATALOGUE_FILE))
        .collect();
    paths.sort(); // deterministic merge order
    Ok(paths)
}

/// Largest rules or prefix file read (the builtin rules are 20 KB; 40 000 host names ~1 MB).
pub const MAX_RULES_FILE: u64 = 16 << 20;

/// Why a rules or prefix file could not be read (never quoting its contents).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A directory, FIFO, device, ….
    #[error("not a regular file")]
    NotFile,
    /// Over [`MAX_RULES_FILE`] bytes (the size, when known before reading).
    #[error("{}more than the {MAX_RULES_FILE}-byte limit", .0.map(|n| format!("{n} bytes, ")).unwrap_or_default())]
    TooBig(Option<u64>),
    /// Not UTF-8 from this line and byte offset on.
    #[error("not UTF-8 text (line {line}, byte offset {at})")]
    NotUtf8 {
        /// 1-based line of the first bad byte.
        line: usize,
        /// Byte offset of the first bad byte.
        at: usize,
    },
}

/// Reads a rules or prefix file: a regular file (a FIFO would block, `/dev/zero` never end) of
/// at most [`MAX_RULES_FILE`] bytes, in UTF-8. Errors say why, without quoting the contents.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK) // opening a FIFO must not wait for a writer
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotFile);
    }
    if meta.len() > MAX_RULES_FILE {
        return Err(ReadError::TooBig(Some(meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may change under us: never read more than the cap.
    file.take(MAX_RULES_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RULES_FILE {
        return Err(ReadError::TooBig(None));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        ReadError::NotUtf8 { line, at }
    })
}

/// Line numbers of byte offsets in one text, each in O(log lines).
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn new(text: &str) -> Lines {
        let starts =
            std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Lines(starts.collect())
    }
    /// 1-based line of `offset`.
    pub(super) fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Bad lines after which a prefix file is given up.
pub(super) const MAX_BAD_PREFIX_LINES: usize = 5;

/// One keyed assignment (host pattern, prefix, signature, ASN) and where it came from.
pub(super) struct Claim {
    pub(super) endpoint: EndpointId,
    pub(super) at: Location,
    pub(super) layer: usize,
}

#[derive(Default)]
pub(super) struct Loader {
    pub(super) errors: Vec<RuleError>,
    pub(super) layer: usize,
    pub(super) files: Vec<Arc<str>>,
    pub(super) services: Vec<Service>,
    pub(super) endpoints: Vec<Endpoint>,
    /// Where each endpoint was defined, per layer: a role defined twice in one layer is an error.
    pub(super) role_defs: HashMap<(usize, EndpointId), Location>,
    /// Whether `ports` were already replaced in this layer (later layers replace, same layer extends).
    pub(super) ports_layer: HashMap<EndpointId, usize>,
    pub(super) hosts: BTreeMap<HostPattern, Claim>,
    pub(super) prefixes: BTreeMap<IpNet, Claim>,
    pub(super) signatures: BTreeMap<String, Claim>,
    pub(super) asns: BTreeMap<u32, Claim>,
    pub(super) keep_origins: bool,
}

/// Records `key → endpoint`: override across layers, report repeats within a layer.
pub(super) fn claim<K: Ord + Clone>(
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
    pub(super) fn error(&mut self, at: Location, kind: RuleErrorKind) {
        self.errors.push(RuleError { at, kind });
    }

    /// The rule files embedded in the binary, as the first layer.
    pub(super) fn builtin_layer(&mut self) {
        let files = BUILTIN
            .iter()
            .filter(|(name, _)| name.ends_with(".toml"))
            .map(|(name, text)| (Arc::from(*name), text.to_string()))
            .collect();
        self.layer(files, &Origin::Builtin);
    }

    pub(super) fn layer(&mut self, files: Vec<(Arc<str>, String)>, origin: &Origin) {
        self.layer += 1;
        for (file, text) in files {
            self.files.push(file.clone());
            self.file(&file, &text, origin);
        }
    }

    pub(super) fn file(&mut self, file: &Arc<str>, text: &str, origin: &Origin) {
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
                    let Some(role_id) = Role::parse(rname.get_ref()) else {
                        let value = rname.get_ref().to_string();
                        let kind = if valid_name(&value) {
                            RuleErrorKind::UnknownRole { value, known: Role::known() }
                        } else {
                            RuleErrorKind::BadName { what: "role", value }
                        };
                        self.error(role_at, kind);
                        continue;
                    };
                    let display = role.display.as_ref().map(|d| d.get_ref().as_str());
                    let id = self.endpoint_id(sid, role_id, display);
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
    pub(super) fn table<'a>(
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

    pub(super) fn role(
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

    pub(super) fn prefix(&mut self, id: EndpointId, text: &str, loc: Location) {
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
    pub(super) fn prefix_file(
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

    pub(super) fn service_id(&mut self, name: &str, display: Option<&str>) -> ServiceId {
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

    pub(super) fn endpoint_id(
        &mut self,
        service: ServiceId,
        role: Role,
        display: Option<&str>,
    ) -> EndpointId {
        let sname = self.services[usize::from(service.0)].name.clone();
        let i = match self.endpoints.iter().position(|e| e.service == sname && e.role == role) {
            Some(i) => i,
            None => {
                let name: Box<str> = format!("{sname}.{role}").into();
                let id = EndpointId::new(service, self.endpoints.len() as u16);
                self.endpoints.push(Endpoint {
                    id,
                    service: sname,
                    role,
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

    pub(super) fn finish(self) -> Result<Ruleset, RulesErrors> {
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
