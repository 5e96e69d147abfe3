//! The policy catalogue (`rules/policy.toml`): the data fields WhatsApp's privacy policy says it
//! shares with Meta, how observable each is from the network, and which observations count as
//! evidence. Data, compiled once, validated with `file:line` errors like the rules.

#![deny(missing_docs)]

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::record::Role;
use crate::record::exposure::ActivityKind;

const BUILTIN: &str = include_str!("../../rules/policy.toml");
/// File name of the catalogue (the rules loader, below this stage, defines it: it skips the file).
pub use crate::classify::rules::CATALOGUE_FILE;
const BUILTIN_NAME: &str = "rules/policy.toml";

/// The embedded catalogue, `(name, contents)` (for the provenance manifest's rules hash).
pub fn builtin_file() -> (&'static str, &'static str) {
    (BUILTIN_NAME, BUILTIN)
}

/// How much of a field a network observer can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Observability {
    /// The wire shows it reaching Meta.
    Observed,
    /// It follows from what the wire shows (timing, sizes, addresses).
    Inferred,
    /// Encrypted, or never on this network.
    NotObservable,
}

impl Observability {
    /// The catalogue's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Observability::Observed => "observed",
            Observability::Inferred => "inferred",
            Observability::NotObservable => "not_observable",
        }
    }
}

/// Kinds of device activity (the `activity` events), by name.
pub fn activity_kinds() -> String {
    ActivityKind::ALL.map(ActivityKind::as_str).join(", ")
}

/// A signal without argument: an observation the exposure stage makes and the catalogue grades
/// (`docs/exposure.md` describes each). The one list of them, shared by `policy` (parsing the
/// catalogue) and `exposure` (recording evidence), so the two cannot drift apart by a typo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plain {
    /// `meta_flow`.
    MetaFlow,
    /// `session`.
    Session,
    /// `public_address`.
    PublicAddress,
    /// `global_address`.
    GlobalAddress,
    /// `public_country`.
    PublicCountry,
    /// `mobile_carrier`.
    MobileCarrier,
    /// `server_region`.
    ServerRegion,
    /// `http_user_agent`.
    HttpUserAgent,
    /// `ja4`.
    Ja4,
    /// `protocol_version`.
    ProtocolVersion,
    /// `legacy_phone`.
    LegacyPhone,
    /// `legacy_platform`.
    LegacyPlatform,
    /// `legacy_app_version`.
    LegacyAppVersion,
    /// `ua_os`.
    UaOs,
    /// `ua_app_version`.
    UaAppVersion,
    /// `ua_device`.
    UaDevice,
    /// `id_cookie`.
    IdCookie,
    /// `lang_cookie`.
    LangCookie,
    /// `http_cookie`.
    HttpCookie,
    /// `dhcp_hostname`.
    DhcpHostname,
    /// `dhcp_vendor_class`.
    DhcpVendorClass,
    /// `dhcp_parameter_request_list`.
    DhcpParameterRequestList,
    /// `oui_vendor`.
    OuiVendor,
}

impl Plain {
    /// Every signal, in the order error messages list them: on the wire, in cleartext, LAN only.
    pub const ALL: [Plain; 23] = [
        Plain::MetaFlow,
        Plain::Session,
        Plain::PublicAddress,
        Plain::GlobalAddress,
        Plain::PublicCountry,
        Plain::MobileCarrier,
        Plain::ServerRegion,
        Plain::HttpUserAgent,
        Plain::Ja4,
        Plain::ProtocolVersion,
        Plain::LegacyPhone,
        Plain::LegacyPlatform,
        Plain::LegacyAppVersion,
        Plain::UaOs,
        Plain::UaAppVersion,
        Plain::UaDevice,
        Plain::IdCookie,
        Plain::LangCookie,
        Plain::HttpCookie,
        Plain::DhcpHostname,
        Plain::DhcpVendorClass,
        Plain::DhcpParameterRequestList,
        Plain::OuiVendor,
    ];

    /// The name in the catalogue and in `exposure` evidence.
    pub fn name(self) -> &'static str {
        match self {
            Plain::MetaFlow => "meta_flow",
            Plain::Session => "session",
            Plain::PublicAddress => "public_address",
            Plain::GlobalAddress => "global_address",
            Plain::PublicCountry => "public_country",
            Plain::MobileCarrier => "mobile_carrier",
            Plain::ServerRegion => "server_region",
            Plain::HttpUserAgent => "http_user_agent",
            Plain::Ja4 => "ja4",
            Plain::ProtocolVersion => "protocol_version",
            Plain::LegacyPhone => "legacy_phone",
            Plain::LegacyPlatform => "legacy_platform",
            Plain::LegacyAppVersion => "legacy_app_version",
            Plain::UaOs => "ua_os",
            Plain::UaAppVersion => "ua_app_version",
            Plain::UaDevice => "ua_device",
            Plain::IdCookie => "id_cookie",
            Plain::LangCookie => "lang_cookie",
            Plain::HttpCookie => "http_cookie",
            Plain::DhcpHostname => "dhcp_hostname",
            Plain::DhcpVendorClass => "dhcp_vendor_class",
            Plain::DhcpParameterRequestList => "dhcp_parameter_request_list",
            Plain::OuiVendor => "oui_vendor",
        }
    }

    /// Seen only on the LAN: describes the device, but never reaches Meta.
    pub fn lan_only(self) -> bool {
        matches!(
            self,
            Plain::DhcpHostname
                | Plain::DhcpVendorClass
                | Plain::DhcpParameterRequestList
                | Plain::OuiVendor
        )
    }

    /// Read from cleartext a client sent to Meta (a legacy client's login, HTTP heads): the
    /// only signals that can raise a field that is normally not observable.
    pub fn in_clear(self) -> bool {
        matches!(
            self,
            Plain::LegacyPhone
                | Plain::LegacyPlatform
                | Plain::LegacyAppVersion
                | Plain::UaOs
                | Plain::UaAppVersion
                | Plain::UaDevice
                | Plain::IdCookie
                | Plain::LangCookie
                | Plain::HttpCookie
        )
    }
}

impl AsRef<str> for Plain {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names of the LAN-only signals, for messages.
/// Why a catalogue signal is not accepted where it is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// `endpoint:` without a valid pattern (the signal as written).
    #[error("signal {0:?}: expected endpoint:SERVICE.ROLE, SERVICE.* or *.ROLE")]
    Endpoint(String),
    /// `endpoint:` with a role that is not one of [`Role`]'s.
    #[error("signal {0:?}: unknown role (known: {known})", known = Role::known())]
    Role(String),
    /// `activity:` of an unknown kind.
    #[error("signal {0:?}: unknown activity, expected one of {kinds}", kinds = activity_kinds())]
    Activity(String),
    /// No such signal.
    #[error("signal {0:?}: unknown, expected one of {names}, endpoint:…, activity:…", names = Plain::ALL.map(Plain::name).join(", "))]
    Unknown(String),
    /// A LAN-only signal listed as seen on the wire.
    #[error("signal {0}: seen on the LAN only, list it in lan_only")]
    LanOnly(Signal),
    /// A wire signal listed under `lan_only`.
    #[error("signal {0}: not a LAN signal ({names})", names = lan_signal_names())]
    NotLan(Signal),
}

fn lan_signal_names() -> String {
    Plain::ALL.iter().filter(|p| p.lan_only()).map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

/// An observation that counts as evidence for a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A signal without argument, e.g. `meta_flow`, `ua_os`.
    Plain(Plain),
    /// A flow to an endpoint matching the pattern: `svc.role`, `svc.*`, `*.role`.
    Endpoint(EndpointPattern),
    /// An activity of this kind.
    Activity(ActivityKind),
}

impl Signal {
    /// Parses `name`, `endpoint:PATTERN` or `activity:KIND`.
    pub fn parse(text: &str) -> Result<Signal, SignalError> {
        if let Some(p) = text.strip_prefix("endpoint:") {
            let ok = p.split_once('.').is_some_and(|(s, r)| {
                let part = |x: &str| {
                    x == "*"
                        || (!x.is_empty()
                            && x.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
                };
                part(s) && part(r) && !(s == "*" && r == "*")
            });
            let Some((s, r)) = p.split_once('.').filter(|_| ok) else {
                return Err(SignalError::Endpoint(text.to_owned()));
            };
            let role = match r {
                "*" => None,
                r => Some(Role::parse(r).ok_or_else(|| SignalError::Role(text.to_owned()))?),
            };
            let service = (s != "*").then(|| s.into());
            return Ok(Signal::Endpoint(EndpointPattern { service, role }));
        }
        if let Some(k) = text.strip_prefix("activity:") {
            return ActivityKind::ALL
                .into_iter()
                .find(|a| a.as_str() == k)
                .map(Signal::Activity)
                .ok_or_else(|| SignalError::Activity(text.to_owned()));
        }
        Plain::ALL
            .into_iter()
            .find(|p| p.name() == text)
            .map(Signal::Plain)
            .ok_or_else(|| SignalError::Unknown(text.to_owned()))
    }

    /// Whether an endpoint name (`svc.role`) matches this signal's pattern.
    pub fn matches_endpoint(&self, endpoint: &str) -> bool {
        let Signal::Endpoint(p) = self else { return false };
        let Some((s, r)) = endpoint.split_once('.') else { return false };
        p.service.as_deref().is_none_or(|p| p == s) && p.role.is_none_or(|p| p.name() == r)
    }

    /// Whether the observation never leaves the LAN.
    pub fn lan_only(&self) -> bool {
        matches!(self, Signal::Plain(p) if p.lan_only())
    }

    /// Whether the observation is cleartext a client sent to Meta.
    pub fn in_clear(&self) -> bool {
        matches!(self, Signal::Plain(p) if p.in_clear())
    }
}

/// The pattern of an `endpoint:` signal: a service and a role, `None` where it says `*` (never
/// both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPattern {
    /// The service, or any.
    pub service: Option<Box<str>>,
    /// The role, or any.
    pub role: Option<Role>,
}

impl fmt::Display for EndpointPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = self.service.as_deref().unwrap_or("*");
        write!(f, "{service}.{}", self.role.map_or("*", Role::name))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Plain(p) => f.write_str(p.name()),
            Signal::Endpoint(p) => write!(f, "endpoint:{p}"),
            Signal::Activity(k) => write!(f, "activity:{k}"),
        }
    }
}

/// Which devices a field is judged for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Devices with WhatsApp traffic, on the evidence of their WhatsApp flows (device-wide
    /// facts such as the public address aside).
    #[default]
    Whatsapp,
    /// Devices that contacted Meta services other than WhatsApp, on those flows.
    OtherMeta,
}

/// One policy field.
#[derive(Clone, Debug)]
pub struct Field {
    /// Identifier, e.g. `ip_address`.
    pub id: String,
    /// Short label for reports, e.g. "Facebook SDK contact"; the id when absent.
    pub label: Option<String>,
    /// What the policy means by it.
    pub description: String,
    /// How observable it normally is from the network.
    pub observability: Observability,
    /// Why.
    pub why: String,
    /// Which devices it is judged for.
    pub scope: Scope,
    /// Evidence that the datum itself crossed the wire to a Meta-operated endpoint.
    pub observed: Vec<Signal>,
    /// Evidence it follows from (timing, sizes, fingerprints, address databases).
    pub inferred: Vec<Signal>,
    /// Evidence seen on the LAN only.
    pub lan_only: Vec<Signal>,
    /// Listed beside the evidence, never grading the field (e.g. the server region).
    pub related: Vec<Signal>,
    /// The field counts only when one of these is seen too.
    pub requires: Vec<Signal>,
    /// What Meta received when no evidence names a value, e.g. "the hotspot's public address
    /// (not in the capture)".
    pub fallback: Option<String>,
}

impl Field {
    /// Every signal of the field with its grade (`None`: related).
    pub fn graded(&self) -> impl Iterator<Item = (&Signal, Option<Grade>)> {
        fn g(
            list: &[Signal],
            grade: Option<Grade>,
        ) -> impl Iterator<Item = (&Signal, Option<Grade>)> {
            list.iter().map(move |s| (s, grade))
        }
        g(&self.observed, Some(Grade::Observed))
            .chain(g(&self.inferred, Some(Grade::Inferred)))
            .chain(g(&self.lan_only, Some(Grade::LanOnly)))
            .chain(g(&self.related, None))
    }
}

/// The grade a piece of evidence earns, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// The datum itself reached Meta.
    Observed,
    /// It follows from what reached Meta.
    Inferred,
    /// Seen on the LAN only.
    LanOnly,
}

impl Grade {
    /// The status name.
    pub fn name(self) -> &'static str {
        match self {
            Grade::Observed => "observed",
            Grade::Inferred => "inferred",
            Grade::LanOnly => "lan_only",
        }
    }
}

/// Cookie names that say something: identifiers (device/account) and preferences.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieNames {
    /// Cookies that identify a browser, device or account (`datr`, `c_user`, …).
    #[serde(default)]
    pub identifying: Vec<String>,
    /// Language and locale preferences (`wa_lang_pref`, `locale`): device details.
    #[serde(default)]
    pub language: Vec<String>,
}

/// How a public address's autonomous system is recognised as a mobile carrier.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileCarriers {
    /// ASNs of mobile carriers.
    #[serde(default)]
    pub asns: Vec<u32>,
    /// Words in the AS organisation name (case-insensitive, whole words) that name a mobile
    /// carrier, e.g. "mobile", "wireless".
    #[serde(default)]
    pub org_words: Vec<String>,
}

impl MobileCarriers {
    /// Whether the AS is a mobile carrier's.
    pub fn matches(&self, asn: Option<u32>, org: Option<&str>) -> bool {
        asn.is_some_and(|a| self.asns.contains(&a))
            || org.is_some_and(|o| {
                o.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| self.org_words.iter().any(|x| x.eq_ignore_ascii_case(w)))
            })
    }
}

/// A TLS client stack recognised by the cipher-suite hash of its JA4 (part b).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsStack {
    /// JA4 part b: truncated SHA-256 of the sorted cipher suites, 12 hex digits.
    pub cipher_hash: String,
    /// The stack and the systems it runs on.
    pub family: String,
    /// Where the mapping comes from.
    pub source: String,
}

/// The compiled catalogue, in file order.
#[derive(Clone, Debug)]
pub struct Catalogue {
    /// The fields.
    pub fields: Vec<Field>,
    /// Cookie names that count as identifiers or device details.
    pub cookies: CookieNames,
    /// Mobile carriers' autonomous systems.
    pub mobile_carriers: MobileCarriers,
    /// TLS stacks by JA4 cipher hash.
    pub tls_stacks: Vec<TlsStack>,
}

impl Catalogue {
    /// The stack family a JA4 names, when the table knows its cipher hash.
    pub fn tls_stack(&self, ja4: &str) -> Option<&str> {
        let b = ja4.split('_').nth(1)?;
        self.tls_stacks.iter().find(|t| t.cipher_hash == b).map(|t| t.family.as_str())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    field: Vec<Spanned<RawField>>,
    #[serde(default)]
    cookies: CookieNames,
    #[serde(default)]
    mobile_carriers: MobileCarriers,
    #[serde(default)]
    tls_stack: Vec<Spanned<TlsStack>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    id: Spanned<String>,
    #[serde(default)]
    label: Option<String>,
    description: String,
    observability: Observability,
    why: String,
    #[serde(default)]
    scope: Scope,
    #[serde(default)]
    observed: Vec<Spanned<String>>,
    #[serde(default)]
    inferred: Vec<Spanned<String>>,
    #[serde(default)]
    lan_only: Vec<Spanned<String>>,
    #[serde(default)]
    related: Vec<Spanned<String>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    #[serde(default)]
    fallback: Option<String>,
}

/// Every problem found in a catalogue, each `file:line: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<String>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for PolicyErrors {}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Which list a signal sits in, for the LAN check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum List {
    Wire,
    Lan,
    Any,
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Catalogue {
        Catalogue::parse(BUILTIN_NAME, BUILTIN).expect("built-in policy catalogue is valid")
    }

    /// Reads a catalogue file.
    pub fn load(path: &Path) -> Result<Catalogue, PolicyErrors> {
        // Like rule files: a regular file, size-capped, UTF-8 (the error names the file).
        let text = crate::classify::rules::read_text(path)
            .map_err(|e| PolicyErrors(vec![format!("{}: cannot read: {e}", path.display())]))?;
        Catalogue::parse(&path.display().to_string(), &text)
    }

    /// Parses catalogue text; `name` prefixes the errors. Reports every problem at once.
    pub fn parse(name: &str, text: &str) -> Result<Catalogue, PolicyErrors> {
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            PolicyErrors(vec![format!("{name}:{line}: {}", e.message())])
        })?;
        let mut errors = Vec::new();
        let at = |s: std::ops::Range<usize>| format!("{name}:{}", line_of(text, s.start));
        let mut fields: Vec<Field> = Vec::new();
        for spanned in raw.field {
            let f = spanned.into_inner();
            let id = f.id.get_ref().clone();
            let valid_id = !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_id {
                errors.push(format!("{}: field id {id:?}: expected [a-z0-9_]+", at(f.id.span())));
            } else if fields.iter().any(|x| x.id == id) {
                errors.push(format!("{}: field id {id:?}: duplicate", at(f.id.span())));
            }
            let mut signals = |list: Vec<Spanned<String>>, kind: List| -> Vec<Signal> {
                list.into_iter()
                    .filter_map(|s| {
                        let parsed = Signal::parse(s.get_ref()).and_then(|sig| {
                            match (kind, sig.lan_only()) {
                                (List::Wire, true) => Err(SignalError::LanOnly(sig)),
                                (List::Lan, false) => Err(SignalError::NotLan(sig)),
                                _ => Ok(sig),
                            }
                        });
                        parsed.map_err(|e| errors.push(format!("{}: {e}", at(s.span())))).ok()
                    })
                    .collect()
            };
            let observed = signals(f.observed, List::Wire);
            let inferred = signals(f.inferred, List::Wire);
            let lan_only = signals(f.lan_only, List::Lan);
            let related = signals(f.related, List::Any);
            let requires = signals(f.requires, List::Any);
            fields.push(Field {
                id,
                label: f.label,
                description: f.description,
                observability: f.observability,
                why: f.why,
                scope: f.scope,
                observed,
                inferred,
                lan_only,
                related,
                requires,
                fallback: f.fallback,
            });
        }
        let mut tls_stacks = Vec::new();
        for t in raw.tls_stack {
            let span = t.span();
            let t = t.into_inner();
            let hex = t.cipher_hash.len() == 12
                && t.cipher_hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if hex {
                tls_stacks.push(t);
            } else {
                errors.push(format!(
                    "{}: tls_stack cipher_hash {:?}: expected 12 lowercase hex digits",
                    at(span),
                    t.cipher_hash
                ));
            }
        }
        if errors.is_empty() {
            Ok(Catalogue {
                fields,
                cookies: raw.cookies,
                mobile_carriers: raw.mobile_carriers,
                tls_stacks,
            })
        } else {
            Err(PolicyErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_policy_fields() {
        let c = Catalogue::builtin();
        let ids: Vec<_> = c.fields.iter().map(|f| f.id.as_str()).collect();
        for id in [
            "phone_number",
            "account_info",
            "usage",
            "interactions",
            "ip_address",
            "cookies",
            "location",
            "cross_service",
        ] {
            assert!(ids.contains(&id), "{id} missing");
        }
        let mobile = c.fields.iter().find(|f| f.id == "mobile_network").unwrap();
        assert_eq!(mobile.observability, Observability::Inferred);
        // A JA4 only suggests an OS: inferred, never observed.
        let os = c.fields.iter().find(|f| f.id == "operating_system").unwrap();
        let ja4 = Signal::Plain(Plain::Ja4);
        assert!(os.inferred.contains(&ja4) && !os.observed.contains(&ja4));
        assert!(c.cookies.identifying.iter().any(|n| n == "datr"));
        assert!(!c.cookies.identifying.iter().any(|n| n.starts_with("wa_")));
        assert!(c.mobile_carriers.matches(Some(26615), Some("TIM S/A")));
        assert!(c.mobile_carriers.matches(Some(1), Some("T-Mobile USA, Inc.")));
        assert!(!c.mobile_carriers.matches(Some(32934), Some("Facebook, Inc.")));
        assert!(c.tls_stack("t13d1516h2_8daaf6152771_02713d6af862").is_some());
        assert!(c.tls_stack("t13d1516h2_000000000000_02713d6af862").is_none());
    }

    #[test]
    fn every_problem_has_file_and_line() {
        let text = "[[field]]\nid = \"a\"\ndescription = \"d\"\nobservability = \"observed\"\nwhy = \"w\"\nobserved = [\"meta_flow\",\n  \"bogus\", \"endpoint:x\"]\n\n[[field]]\nid = \"a\"\ndescription = \"d\"\nobservability = \"observed\"\nwhy = \"w\"\nrequires = [\"activity:dance\"]\ninferred = [\"oui_vendor\"]\nlan_only = [\"ja4\"]\n\n[[tls_stack]]\ncipher_hash = \"XYZ\"\nfamily = \"f\"\nsource = \"s\"\n";
        let e = Catalogue::parse("p.toml", text).unwrap_err().0;
        assert_eq!(e.len(), 7, "{e:?}");
        assert!(e[0].starts_with("p.toml:7: signal \"bogus\""), "{e:?}");
        assert!(e[1].starts_with("p.toml:7: signal \"endpoint:x\""), "{e:?}");
        assert!(e[2].starts_with("p.toml:10: field id \"a\": duplicate"), "{e:?}");
        assert!(e[3].starts_with("p.toml:15: signal oui_vendor: seen on the LAN only"), "{e:?}");
        assert!(e[4].starts_with("p.toml:16: signal ja4: not a LAN signal"), "{e:?}");
        assert!(e[5].starts_with("p.toml:14: signal \"activity:dance\""), "{e:?}");
        assert!(e[6].starts_with("p.toml:18: tls_stack cipher_hash \"XYZ\""), "{e:?}");
        let unknown =
            "[[field]]\nid = \"a\"\ndescription = \"d\"\nobservability = \"seen\"\nwhy = \"w\"\n";
        let e = Catalogue::parse("p.toml", unknown).unwrap_err().0;
        assert!(e[0].starts_with("p.toml:4:"), "{e:?}");
        let extra = "[[field]]\nid = \"a\"\ndescription = \"d\"\nobservability = \"observed\"\nwhy = \"w\"\ncolour = 1\n";
        let e = Catalogue::parse("p.toml", extra).unwrap_err().0;
        assert!(e[0].contains("unknown field `colour`"), "{e:?}");
    }

    #[test]
    fn endpoint_patterns() {
        let s = Signal::parse("endpoint:facebook.*").unwrap();
        assert!(s.matches_endpoint("facebook.graph") && !s.matches_endpoint("whatsapp.graph"));
        let r = Signal::parse("endpoint:*.payments").unwrap();
        assert!(r.matches_endpoint("whatsapp.payments"));
        assert!(Signal::parse("endpoint:*.*").is_err());
        assert_eq!(r.to_string(), "endpoint:*.payments");
        assert_eq!(
            Signal::parse("endpoint:whatsapp.gateway"),
            Err(SignalError::Role("endpoint:whatsapp.gateway".into()))
        );
    }
}
