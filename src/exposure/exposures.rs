//! Judges each policy field for one device by its evidence: every signal the catalogue lists for
//! the field earns a grade (observed, inferred, lan_only) or is only related; the field's status
//! is the strongest grade seen, and its value is what Meta received, as far as the wire shows.

use crate::policy::{Catalogue, Field, Grade, Observability, Plain, Scope, Signal};

use super::device::{Device, OTHER, Tally};
use crate::record::exposure::ExposureEvent;

/// Most evidence strings and uids per exposure.
const MAX_EVIDENCE: usize = 12;

/// The note on a normally not observable field raised by a legacy client's cleartext.
pub const NOTE_LEGACY: &str = "seen in clear — legacy client";
/// The note on a normally not observable field raised by other cleartext (HTTP heads).
pub const NOTE_CLEAR: &str = "seen in clear";

/// Signals that describe the device as a whole, whatever service a flow went to.
fn device_wide(s: &Signal) -> bool {
    match s {
        Signal::Endpoint(_) => true,
        Signal::Plain(p) => {
            s.lan_only()
                || matches!(
                    *p,
                    Plain::PublicAddress
                        | Plain::GlobalAddress
                        | Plain::PublicCountry
                        | Plain::MobileCarrier
                        | Plain::ServerRegion
                )
        }
        Signal::Activity(_) => false,
    }
}

fn tallies<'d>(dev: &'d Device, scope: Scope, s: &Signal) -> Vec<(String, &'d Tally)> {
    match s {
        Signal::Endpoint(_) => dev
            .tallies
            .iter()
            .filter(|(k, _)| k.strip_prefix("endpoint:").is_some_and(|e| s.matches_endpoint(e)))
            .map(|(k, t)| (k.clone(), t))
            .collect(),
        _ => {
            let name = s.to_string();
            let key = match scope {
                Scope::OtherMeta if !device_wide(s) => format!("{OTHER}{name}"),
                _ => name.clone(),
            };
            dev.tallies.get(&key).map(|t| (name, t)).into_iter().collect()
        }
    }
}

/// The field's endpoint patterns that no rule's endpoint matches.
fn unnamed_endpoints<'f>(field: &'f Field, known: &[String]) -> Vec<&'f Signal> {
    field
        .graded()
        .map(|(s, _)| s)
        .filter(|s| matches!(s, Signal::Endpoint(_)))
        .filter(|s| !known.iter().any(|e| s.matches_endpoint(e)))
        .collect()
}

/// The `exposure` event of `field` for `dev`; `known_endpoints` are the rules' endpoint names.
pub fn judge(field: &Field, dev: &Device, known_endpoints: &[String]) -> ExposureEvent {
    let scope = field.scope;
    let required = field.requires.is_empty()
        || field.requires.iter().any(|r| !tallies(dev, scope, r).is_empty());
    let mut found: Vec<(Option<Grade>, &Signal, String, &Tally)> = Vec::new();
    if required {
        for (s, grade) in field.graded() {
            for (k, t) in tallies(dev, scope, s) {
                found.push((grade, s, k, t));
            }
        }
    }
    let best = found.iter().filter_map(|f| f.0).min();
    let status = match (best, field.observability) {
        (Some(g), _) => g.name(),
        (None, Observability::NotObservable) => "not_observable",
        (None, _) => "not_seen",
    };
    let raised = field.observability == Observability::NotObservable
        && matches!(best, Some(Grade::Observed | Grade::Inferred));
    let mut notes = Vec::new();
    if raised {
        let graded = found.iter().filter(|f| f.0 == best);
        let legacy = graded.clone().any(|f| {
            matches!(
                f.1,
                Signal::Plain(Plain::LegacyPhone | Plain::LegacyPlatform | Plain::LegacyAppVersion)
            )
        });
        if legacy {
            notes.push(NOTE_LEGACY.to_owned());
        } else if graded.clone().any(|f| f.1.in_clear()) {
            notes.push(NOTE_CLEAR.to_owned());
        }
    }
    for s in unnamed_endpoints(field, known_endpoints) {
        notes.push(format!("no rule names an endpoint matching {s}"));
    }
    // The value: the first datum of the strongest grade, in catalogue order (activities,
    // sessions and endpoints are evidence, not a datum); nothing for what stayed on the LAN.
    let reached = best.filter(|&g| g != Grade::LanOnly);
    let value = found
        .iter()
        .filter(|f| reached.is_some() && f.0 == reached && scope == Scope::Whatsapp)
        .filter(|f| matches!(f.1, Signal::Plain(p) if *p != Plain::Session))
        .find_map(|f| f.3.samples.first().cloned())
        .or_else(|| reached.and(field.fallback.clone()))
        .or_else(|| {
            // A contact line (other Meta services): the endpoints contacted.
            let eps: Vec<&str> = found
                .iter()
                .filter(|f| reached.is_some() && f.0 == reached)
                .filter_map(|f| f.2.strip_prefix("endpoint:"))
                .collect();
            (!eps.is_empty()).then(|| eps.join(", "))
        });
    let mut e = ExposureEvent {
        ts: found.iter().map(|f| f.3.first).reduce(f64::min).unwrap_or(dev.first_seen),
        device: dev.id.clone(),
        field: field.id.clone(),
        label: field.label.clone(),
        observability: field.observability.name().into(),
        status: status.into(),
        value,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        count: found.iter().map(|f| f.3.count).sum(),
        bytes: found.iter().map(|f| f.3.bytes).sum(),
        last: found.iter().map(|f| f.3.last).reduce(f64::max),
        evidence: Vec::new(),
        uids: Vec::new(),
        apps: Vec::new(),
    };
    for (grade, _, signal, t) in &found {
        let note = match grade {
            Some(Grade::LanOnly) => " (lan)",
            None => " (related)",
            _ => "",
        };
        if t.samples.is_empty() {
            e.evidence.push(format!("{signal} x{}{note}", t.count));
        }
        for s in &t.samples {
            e.evidence.push(format!("{signal}={s}{note}"));
        }
        for u in &t.uids {
            if e.uids.len() < MAX_EVIDENCE && !e.uids.contains(u) {
                e.uids.push(u.clone());
            }
        }
        for a in &t.apps {
            if let Err(i) = e.apps.binary_search(a) {
                e.apps.insert(i, a.clone());
            }
        }
    }
    // Which app reached which service, when the capture names apps (PCAPdroid's trailer).
    if matches!(field.id.as_str(), "cross_service" | "meta_services") && status != "not_seen" {
        let apps = dev.apps().iter().filter(|a| !a.services.is_empty());
        let lines: Vec<String> =
            apps.map(|a| format!("app={}: {}", a.app, a.services.join(", "))).collect();
        // First, so that the evidence cap never drops them.
        e.evidence.splice(0..0, lines);
    }
    e.evidence.truncate(MAX_EVIDENCE);
    e
}

/// The fields of the catalogue that apply to `dev` (WhatsApp fields for devices with WhatsApp
/// traffic, `other_meta` fields for devices that reached other Meta services), in order.
pub fn judge_all(cat: &Catalogue, dev: &Device, known_endpoints: &[String]) -> Vec<ExposureEvent> {
    cat.fields
        .iter()
        .filter(|f| match f.scope {
            Scope::Whatsapp => dev.has_whatsapp(),
            Scope::OtherMeta => dev.has_other_meta(),
        })
        .map(|f| judge(f, dev, known_endpoints))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'c>(cat: &'c Catalogue, id: &str) -> &'c Field {
        cat.fields.iter().find(|f| f.id == id).expect("field")
    }

    fn device() -> Device {
        let mut d = Device::new("phone".into(), 0.0);
        d.meta_flow("whatsapp", "whatsapp.chat", 1.0, 10, 10);
        d.evidence("endpoint:whatsapp.chat", 1.0, 20, Some("g.whatsapp.net"), Some("C1"));
        d
    }

    #[test]
    fn cross_service_is_linkable_unless_a_whatsapp_flow_carries_an_identifier() {
        let cat = Catalogue::builtin();
        let f = field(&cat, "cross_service");
        let mut d = device();
        assert_eq!(judge(f, &d, &[]).status, "not_seen");
        d.meta_flow("facebook", "facebook.graph", 2.0, 5, 5);
        d.evidence("endpoint:facebook.graph", 2.0, 10, Some("graph.facebook.com"), Some("C2"));
        let e = judge(f, &d, &[]);
        assert_eq!(
            (e.status.as_str(), e.value.as_deref()),
            ("inferred", Some("linkable by address and time"))
        );
        // A datr cookie on a Facebook flow stays with the other services' line.
        d.flow_evidence(false, "id_cookie", 2.0, 0, Some("datr"), Some("C2"));
        assert_eq!(judge(f, &d, &[]).status, "inferred");
        let other = judge(field(&cat, "meta_services"), &d, &[]);
        assert_eq!(other.status, "observed");
        assert_eq!(other.value.as_deref(), Some("facebook.graph"));
        // On a WhatsApp flow it is carried: observed.
        d.flow_evidence(true, "id_cookie", 3.0, 0, Some("datr"), Some("C1"));
        let e = judge(f, &d, &[]);
        assert_eq!((e.status.as_str(), e.value.as_deref()), ("observed", Some("datr")));
    }

    #[test]
    fn status_is_the_strongest_evidence() {
        let cat = Catalogue::builtin();
        let os = field(&cat, "operating_system");
        let mut d = device();
        d.evidence("dhcp_vendor_class", 0.5, 0, Some("android-dhcp-14"), None);
        let e = judge(os, &d, &[]);
        assert_eq!((e.status.as_str(), e.value.as_deref()), ("lan_only", None));
        assert_eq!(e.evidence, ["dhcp_vendor_class=android-dhcp-14 (lan)"]);
        d.evidence("ja4", 1.0, 0, Some("t13d1516h2_8daaf6152771_02713d6af862 (BoringSSL)"), None);
        assert_eq!(judge(os, &d, &[]).status, "inferred", "a JA4 names a stack, not an OS");
        d.evidence("ua_os", 2.0, 0, Some("Android 14"), None);
        let e = judge(os, &d, &[]);
        assert_eq!((e.status.as_str(), e.value.as_deref()), ("observed", Some("Android 14")));
        assert_eq!(e.note, None, "operating_system is normally observable");
    }

    #[test]
    fn cleartext_raises_a_hidden_field_and_says_so() {
        let cat = Catalogue::builtin();
        let phone = field(&cat, "phone_number");
        let known = crate::exposure::endpoint_names(&crate::classify::Ruleset::builtin());
        let mut d = device();
        d.evidence("endpoint:whatsapp.registration", 1.0, 100, Some("v.whatsapp.net"), None);
        let e = judge(phone, &d, &known);
        assert_eq!(e.status, "not_observable", "a registration contact is no phone number");
        assert_eq!(e.evidence, ["endpoint:whatsapp.registration=v.whatsapp.net (related)"]);
        d.evidence("legacy_phone", 1.0, 0, Some("+55…10"), None);
        let e = judge(phone, &d, &known);
        assert_eq!((e.status.as_str(), e.value.as_deref()), ("observed", Some("+55…10")));
        assert_eq!(e.note.as_deref(), Some(NOTE_LEGACY));
        let pay = judge(field(&cat, "transaction_payment"), &d, &known);
        assert_eq!(
            pay.note.as_deref(),
            Some("no rule names an endpoint matching endpoint:*.payments")
        );
        let pay = judge(field(&cat, "transaction_payment"), &d, &["whatsapp.payments".into()]);
        assert_eq!(pay.note, None, "a rule names a payment endpoint");
    }

    #[test]
    fn only_whatsapp_devices_get_the_whatsapp_map() {
        let cat = Catalogue::builtin();
        let mut d = Device::new("laptop".into(), 0.0);
        d.meta_flow("instagram", "instagram.api", 1.0, 1, 1);
        let ids: Vec<String> = judge_all(&cat, &d, &[]).into_iter().map(|e| e.field).collect();
        assert_eq!(ids, ["meta_services"]);
        d.meta_flow("whatsapp", "whatsapp.chat", 2.0, 1, 1);
        assert!(judge_all(&cat, &d, &[]).len() > 10);
    }
}
