//! The policy catalogue (`rules/policy.toml`): the data fields WhatsApp's privacy policy says it
//! shares with Meta, how observable each is from the network, and which observations count as
//! evidence. Data, compiled once, validated with `file:line` errors like the rules.

#![deny(missing_docs)]

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

const BUILTIN: &str = include_str!("../../rules/policy.toml");
/// File name of the catalogue; rule loaders skip it when reading a rules directory.
pub const CATALOGUE_FILE: &str = "policy.toml";
const BUILTIN_NAME: &str = "rules/policy.toml";

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

/// Kinds of device activity (the `activity` events).
pub const ACTIVITY_KINDS: &[&str] = &[
    "message_burst",
    "media_upload",
    "media_download",
    "call",
    "call_attempt",
    "registration",
    "telemetry",
];

/// Signals seen only on the LAN: they describe the device, but never reach Meta.
pub const LAN_SIGNALS: &[&str] =
    &["dhcp_hostname", "dhcp_vendor_class", "dhcp_parameter_request_list", "oui_vendor"];

const PLAIN_SIGNALS: &[&str] = &[
    "meta_flow",
    "session",
    "http_user_agent",
    "http_cookie",
    "ja4",
    "wa_version",
    "server_country",
    "public_address",
    "dhcp_hostname",
    "dhcp_vendor_class",
    "dhcp_parameter_request_list",
    "oui_vendor",
];

/// An observation that counts as evidence for a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A signal without argument, e.g. `meta_flow`, `http_cookie` (one of the documented names).
    Plain(&'static str),
    /// A flow to an endpoint matching the pattern: `svc.role`, `svc.*`, `*.role`.
    Endpoint(String),
    /// An activity of this kind.
    Activity(&'static str),
}

impl Signal {
    /// Parses `name`, `endpoint:PATTERN` or `activity:KIND`.
    pub fn parse(text: &str) -> Result<Signal, String> {
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
            return if ok {
                Ok(Signal::Endpoint(p.to_owned()))
            } else {
                Err(format!("signal {text:?}: expected endpoint:SERVICE.ROLE, SERVICE.* or *.ROLE"))
            };
        }
        if let Some(k) = text.strip_prefix("activity:") {
            return ACTIVITY_KINDS
                .iter()
                .find(|&&a| a == k)
                .map(|&a| Signal::Activity(a))
                .ok_or_else(|| {
                    format!(
                        "signal {text:?}: unknown activity, expected one of {}",
                        ACTIVITY_KINDS.join(", ")
                    )
                });
        }
        PLAIN_SIGNALS.iter().find(|&&s| s == text).map(|&s| Signal::Plain(s)).ok_or_else(|| {
            format!(
                "signal {text:?}: unknown, expected one of {}, endpoint:…, activity:…",
                PLAIN_SIGNALS.join(", ")
            )
        })
    }

    /// Whether an endpoint name (`svc.role`) matches this signal's pattern.
    pub fn matches_endpoint(&self, endpoint: &str) -> bool {
        let Signal::Endpoint(p) = self else { return false };
        let (Some((ps, pr)), Some((es, er))) = (p.split_once('.'), endpoint.split_once('.')) else {
            return false;
        };
        (ps == "*" || ps == es) && (pr == "*" || pr == er)
    }

    /// Whether the observation never leaves the LAN.
    pub fn lan_only(&self) -> bool {
        matches!(self, Signal::Plain(s) if LAN_SIGNALS.contains(s))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Plain(s) => f.write_str(s),
            Signal::Endpoint(p) => write!(f, "endpoint:{p}"),
            Signal::Activity(k) => write!(f, "activity:{k}"),
        }
    }
}

/// One policy field.
#[derive(Clone, Debug)]
pub struct Field {
    /// Identifier, e.g. `ip_address`.
    pub id: String,
    /// What the policy means by it.
    pub description: String,
    /// How observable it is from the network.
    pub observability: Observability,
    /// Why.
    pub why: String,
    /// Observations that count as evidence.
    pub signals: Vec<Signal>,
    /// The field counts only when one of these is seen too.
    pub requires: Vec<Signal>,
}

/// The compiled catalogue, in file order.
#[derive(Clone, Debug)]
pub struct Catalogue {
    /// The fields.
    pub fields: Vec<Field>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    field: Vec<Spanned<RawField>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    id: Spanned<String>,
    description: String,
    observability: Observability,
    why: String,
    #[serde(default)]
    signals: Vec<Spanned<String>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
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

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Catalogue {
        Catalogue::parse(BUILTIN_NAME, BUILTIN).expect("built-in policy catalogue is valid")
    }

    /// Reads a catalogue file.
    pub fn load(path: &Path) -> Result<Catalogue, PolicyErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyErrors(vec![format!("{}: {e}", path.display())]))?;
        Catalogue::parse(&path.display().to_string(), &text)
    }

    /// Parses catalogue text; `name` prefixes the errors. Reports every problem at once.
    pub fn parse(name: &str, text: &str) -> Result<Catalogue, PolicyErrors> {
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            PolicyErrors(vec![format!("{name}:{line}: {}", e.message())])
        })?;
        let mut errors = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        for spanned in raw.field {
            let f = spanned.into_inner();
            let at = |s: std::ops::Range<usize>| format!("{name}:{}", line_of(text, s.start));
            let id = f.id.get_ref().clone();
            let valid_id = !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_id {
                errors.push(format!("{}: field id {id:?}: expected [a-z0-9_]+", at(f.id.span())));
            } else if fields.iter().any(|x| x.id == id) {
                errors.push(format!("{}: field id {id:?}: duplicate", at(f.id.span())));
            }
            let mut signals = |list: Vec<Spanned<String>>| -> Vec<Signal> {
                list.into_iter()
                    .filter_map(|s| {
                        Signal::parse(s.get_ref())
                            .map_err(|e| errors.push(format!("{}: {e}", at(s.span()))))
                            .ok()
                    })
                    .collect()
            };
            let sigs = signals(f.signals);
            let requires = signals(f.requires);
            fields.push(Field {
                id,
                description: f.description,
                observability: f.observability,
                why: f.why,
                signals: sigs,
                requires,
            });
        }
        if errors.is_empty() { Ok(Catalogue { fields }) } else { Err(PolicyErrors(errors)) }
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
        assert_eq!(mobile.observability, Observability::NotObservable);
    }

    #[test]
    fn every_problem_has_file_and_line() {
        let text = "[[field]]\nid = \"a\"\ndescription = \"d\"\nobservability = \"observed\"\nwhy = \"w\"\nsignals = [\"meta_flow\",\n  \"bogus\", \"endpoint:x\"]\n\n[[field]]\nid = \"a\"\ndescription = \"d\"\nobservability = \"observed\"\nwhy = \"w\"\nrequires = [\"activity:dance\"]\n";
        let e = Catalogue::parse("p.toml", text).unwrap_err().0;
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].starts_with("p.toml:7: signal \"bogus\""), "{e:?}");
        assert!(e[1].starts_with("p.toml:7: signal \"endpoint:x\""), "{e:?}");
        assert!(e[2].starts_with("p.toml:10: field id \"a\": duplicate"), "{e:?}");
        assert!(e[3].starts_with("p.toml:14: signal \"activity:dance\""), "{e:?}");
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
    }
}
