//! `report --format csv`: one row per device, for spreadsheets: who it is, its Meta totals, and
//! one column per policy field with the grade this capture gave it.

use super::Report;
use crate::record::exposure::ActivityKind;

/// A CSV cell: quoted when it holds a separator, quote or line break; a text starting like a
/// formula (`=`, `+`, `-`, `@`) gets a leading `'` so that no spreadsheet evaluates a host name.
fn cell(s: &str) -> String {
    let s = match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// The CSV text, header first.
pub fn render(r: &Report) -> String {
    let mut fields: Vec<&str> = Vec::new();
    for e in &r.exposures {
        if !fields.contains(&e.field.as_str()) {
            fields.push(&e.field);
        }
    }
    let mut o = String::from(
        "device,mac,hostname,vendor,addresses,first_seen,last_seen,flows,meta_flows,meta_bytes_up,meta_bytes_down,services,sessions,calls",
    );
    for f in &fields {
        o.push(',');
        o.push_str(&cell(f));
    }
    o.push('\n');
    for d in &r.devices {
        let addrs: Vec<String> = d.addresses.iter().map(|a| a.to_string()).collect();
        let services: Vec<&str> = d.services.iter().map(|s| s.service.as_str()).collect();
        let calls = r.activities_of(&d.device).filter(|a| a.activity == ActivityKind::Call).count();
        let row = [
            cell(&d.device),
            cell(d.mac.as_deref().unwrap_or("")),
            cell(d.hostname.as_deref().unwrap_or("")),
            cell(d.oui_vendor.as_deref().unwrap_or("")),
            cell(&addrs.join(" ")),
            super::time(d.first_seen),
            super::time(d.last_seen),
            d.flows.to_string(),
            d.meta_flows.to_string(),
            d.meta_bytes_up.to_string(),
            d.meta_bytes_down.to_string(),
            cell(&services.join(" ")),
            d.sessions.count.to_string(),
            calls.to_string(),
        ];
        o.push_str(&row.join(","));
        for f in &fields {
            o.push(',');
            if let Some(e) = r.exposures_of(&d.device).find(|e| e.field == *f) {
                o.push_str(&cell(&e.status));
            }
        }
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_not_formulas() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("pixel-7"), "pixel-7");
    }
}
