//! Judges each policy field for one device: which of the field's signals were seen, whether they
//! reached Meta or stayed on the LAN, and what that says given the field's observability.

use crate::policy::{Catalogue, Field, Observability, Signal};

use super::device::{Device, Tally};
use super::events::ExposureEvent;

/// Most evidence strings and uids per exposure.
const MAX_EVIDENCE: usize = 12;

fn tallies<'d>(dev: &'d Device, s: &Signal) -> Vec<(String, &'d Tally)> {
    match s {
        Signal::Endpoint(_) => dev
            .tallies
            .iter()
            .filter(|(k, _)| k.strip_prefix("endpoint:").is_some_and(|e| s.matches_endpoint(e)))
            .map(|(k, t)| (k.clone(), t))
            .collect(),
        _ => {
            let key = s.to_string();
            dev.tallies.get(&key).map(|t| (key, t)).into_iter().collect()
        }
    }
}

/// The `exposure` event of `field` for `dev`.
pub fn judge(field: &Field, dev: &Device) -> ExposureEvent {
    let required =
        field.requires.is_empty() || field.requires.iter().any(|r| !tallies(dev, r).is_empty());
    let mut meta: Vec<(String, &Tally)> = Vec::new();
    let mut lan: Vec<(String, &Tally)> = Vec::new();
    if required {
        for s in &field.signals {
            let found = tallies(dev, s);
            if s.lan_only() { lan.extend(found) } else { meta.extend(found) }
        }
    }
    let status = match (field.observability, meta.is_empty(), lan.is_empty()) {
        (Observability::NotObservable, _, _) => "not_observable",
        (Observability::Observed, false, _) => "observed",
        (Observability::Inferred, false, _) => "inferred",
        (_, true, false) => "lan_only",
        (_, true, true) => "not_seen",
    };
    let all: Vec<&(String, &Tally)> = meta.iter().chain(lan.iter()).collect();
    let mut e = ExposureEvent {
        ts: all.iter().map(|(_, t)| t.first).reduce(f64::min).unwrap_or(dev.first_seen),
        device: dev.id.clone(),
        field: field.id.clone(),
        observability: field.observability.name().into(),
        status: status.into(),
        count: all.iter().map(|(_, t)| t.count).sum(),
        bytes: all.iter().map(|(_, t)| t.bytes).sum(),
        last: all.iter().map(|(_, t)| t.last).reduce(f64::max),
        evidence: Vec::new(),
        uids: Vec::new(),
    };
    for (signal, t) in all {
        let lan_note = if lan.iter().any(|(k, _)| k == signal) { " (lan)" } else { "" };
        if t.samples.is_empty() {
            e.evidence.push(format!("{signal} x{}{lan_note}", t.count));
        }
        for s in &t.samples {
            e.evidence.push(format!("{signal}={s}{lan_note}"));
        }
        for u in &t.uids {
            if e.uids.len() < MAX_EVIDENCE && !e.uids.contains(u) {
                e.uids.push(u.clone());
            }
        }
    }
    e.evidence.truncate(MAX_EVIDENCE);
    e
}

/// Every field of the catalogue for `dev`, in catalogue order.
pub fn judge_all(cat: &Catalogue, dev: &Device) -> Vec<ExposureEvent> {
    cat.fields.iter().map(|f| judge(f, dev)).collect()
}
