//! The terminal summary: per device, services and endpoints contacted, bytes, sessions, calls,
//! and the policy-field table.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Report, bytes, duration, time};
use crate::record::exposure::{ActivityKind, DeviceEvent};

/// The summary as text.
pub fn render(r: &Report) -> String {
    // Every value read back is escaped here, once (host names, User-Agents, anything a crafted
    // events file holds): no control character reaches the terminal, no value adds a line.
    let escaped = r.map_strings(|s| crate::term::escape(s).into_owned());
    let r = &escaped;
    let mut o = String::new();
    let meta: Vec<&DeviceEvent> = r.devices.iter().filter(|d| d.meta_flows > 0).collect();
    // A zero timestamp (a clock not set) does not make the span start in 1970.
    let span = super::scale::span(r.devices.iter().flat_map(|d| [d.first_seen, d.last_seen]));
    let _ = write!(o, "{} device(s), {} with Meta contacts", r.devices.len(), meta.len());
    if let Some((a, b, _)) = span {
        let _ = write!(o, ", {} – {} UTC", time(a), time(b));
    }
    o.push('\n');
    for d in &meta {
        device(&mut o, r, d);
    }
    let others: Vec<String> = r
        .devices
        .iter()
        .filter(|d| d.meta_flows == 0)
        .map(|d| match d.addresses.first() {
            Some(a) => format!("{} ({a})", d.device),
            None => d.device.clone(),
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(o, "\nwithout Meta contacts: {}", others.join(", "));
    }
    if !meta.is_empty() {
        o.push_str("\nin principle: whether the field can be seen in traffic at all (policy catalogue); this capture: what this device's traffic showed\n");
    }
    if let Some(p) = &r.provenance {
        provenance(&mut o, p);
    }
    o
}

/// Where the output came from (`manifest.json`); `leakscope verify DIR` checks the inputs still
/// match.
fn provenance(o: &mut String, p: &super::load::Provenance) {
    let esc = |s: &str| crate::term::escape(s).into_owned();
    let _ = writeln!(
        o,
        "\nprovenance: {}, {} from {} to {}; rules and policy sha256 {} ({} files)",
        esc(&p.program),
        esc(&p.command),
        esc(&p.started),
        esc(&p.ended),
        esc(short_hash(&p.rules.0)),
        p.rules.1
    );
    for (path, size, sha) in &p.inputs {
        let size = size.map_or_else(String::new, |s| format!(", {s} bytes"));
        let sha = if sha.is_empty() { "not hashed".to_owned() } else { esc(short_hash(sha)) };
        let _ = writeln!(o, "   input {}{size}, sha256 {sha}", esc(path));
    }
}

/// The first 16 hex digits: enough to tell files apart by eye (the manifest has them whole).
fn short_hash(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

fn device(o: &mut String, r: &Report, d: &DeviceEvent) {
    let _ = write!(o, "\n== {}", d.device);
    for v in [&d.hostname, &d.oui_vendor, &d.vendor_class].into_iter().flatten() {
        let _ = write!(o, "  {v}");
    }
    o.push('\n');
    let _ = writeln!(o, "   addresses: {}", super::addresses(&d.addresses, 6));
    let _ = writeln!(o, "   seen: {} – {}", time(d.first_seen), time(d.last_seen));
    let _ = writeln!(
        o,
        "   Meta: {} flow(s), {} up, {} down",
        d.meta_flows,
        bytes(d.meta_bytes_up),
        bytes(d.meta_bytes_down)
    );
    for s in &d.services {
        let eps: Vec<String> =
            s.endpoints.iter().map(|e| format!("{} ({})", e.endpoint, e.flows)).collect();
        let _ = writeln!(
            o,
            "     {:<10} {:>5} flow(s) {:>10} up {:>10} down   {}",
            s.service,
            s.flows,
            bytes(s.bytes_up),
            bytes(s.bytes_down),
            eps.join(", ")
        );
    }
    for a in &d.apps {
        let uid = a.app_uid.map(|u| format!(" (uid {u})")).unwrap_or_default();
        let meta = if a.services.is_empty() {
            "no Meta contact".to_owned()
        } else {
            format!(
                "Meta: {} flow(s) to {}, {} up, {} down",
                a.meta_flows,
                a.services.join(", "),
                bytes(a.meta_bytes_up),
                bytes(a.meta_bytes_down)
            )
        };
        let _ = writeln!(o, "   app {}{uid}: {} flow(s); {meta}", a.app, a.flows);
    }
    let st = &d.sessions;
    let calls: Vec<_> =
        r.activities_of(&d.device).filter(|a| a.activity == ActivityKind::Call).collect();
    let media = |m: &str| calls.iter().filter(|c| c.media.as_deref() == Some(m)).count();
    let call_secs = calls.iter().map(|c| c.duration).fold(0.0, |a, b| a + b);
    let _ = writeln!(
        o,
        "   sessions: {} (total {}, longest {}); calls: {} ({} audio, {} video, {})",
        st.count,
        duration(st.total_secs),
        duration(st.longest_secs),
        calls.len(),
        media("audio"),
        media("video"),
        duration(call_secs)
    );
    if !d.activities.is_empty() {
        let acts: Vec<String> = d.activities.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(o, "   activities: {}", acts.join(", "));
    }
    // PCAPdroid captures: which app was used when, and what it did.
    let mut by_app: std::collections::BTreeMap<&str, (Vec<String>, BTreeMap<&str, u64>)> =
        std::collections::BTreeMap::new();
    for s in r.sessions_of(&d.device) {
        if let Some(app) = s.app.as_deref() {
            let span = format!("{} – {}", time(s.ts), time(s.end));
            by_app.entry(app).or_default().0.push(span);
        }
    }
    for a in r.activities_of(&d.device) {
        if let Some(app) = a.app.as_deref() {
            *by_app.entry(app).or_default().1.entry(a.activity.as_str()).or_default() += 1;
        }
    }
    for (app, (spans, acts)) in &by_app {
        const SHOWN: usize = 4;
        let mut used = spans.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if spans.len() > SHOWN {
            used.push_str(&format!(" and {} more", spans.len() - SHOWN));
        }
        let acts: Vec<String> = acts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            o,
            "   app {app}: {} session(s){}{}; {}",
            spans.len(),
            if used.is_empty() { "" } else { " " },
            used,
            if acts.is_empty() { "no activity".to_owned() } else { acts.join(", ") }
        );
    }
    let _ = writeln!(
        o,
        "   {:<20} {:<15} {:<15} {:>6}  what Meta got / evidence",
        "policy field", "in principle", "this capture", "count"
    );
    for e in r.exposures_of(&d.device) {
        let ev = e.evidence.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        let value = e.value.as_deref().map_or_else(String::new, |v| format!("{v} · "));
        let _ = writeln!(
            o,
            "   {:<20} {:<15} {:<15} {:>6}  {value}{ev}",
            e.label.as_deref().unwrap_or(&e.field),
            e.observability,
            e.status,
            e.count
        );
        if let Some(n) = &e.note {
            let _ = writeln!(o, "   {:<20} ({n})", "");
        }
    }
}
