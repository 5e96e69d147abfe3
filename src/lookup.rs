//! `leakscope lookup HOST|ADDRESS`: how the rules would classify a name or an address, and
//! which rule decides (file and line), for people writing rules.

use std::net::IpAddr;

use crate::classify::{Geo, Ruleset};

/// One query's answer, as lines of text; `true` when a rule matched.
pub fn explain(rules: &Ruleset, geo: &Geo, query: &str) -> (Vec<String>, bool) {
    let q = query.trim();
    let at = |loc: Option<&crate::classify::rules::Location>| {
        loc.map_or_else(|| "location unknown".to_owned(), ToString::to_string)
    };
    let origins = rules.origins();
    let describe = |id| {
        let e = rules.endpoint(id);
        format!("{} ({})", e.name, e.display)
    };
    let addr = q.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(q);
    if let Ok(ip) = addr.parse::<IpAddr>() {
        let mut lines = Vec::new();
        let g = geo.lookup(ip);
        let mut matched = false;
        if let Some(m) = rules.match_ip(ip) {
            matched = true;
            lines.push(format!("{ip}: {}", describe(m.endpoint)));
            lines.push(format!(
                "  by prefix {} at {} (evidence `prefix:{}`, confidence `prefix`)",
                m.prefix,
                at(origins.and_then(|o| o.prefixes.get(&m.prefix))),
                m.prefix
            ));
        }
        match g.asn {
            Some(asn) => {
                let org = g.as_org.as_deref().unwrap_or("?");
                match rules.match_asn(asn) {
                    Some(id) => {
                        let how = if matched { "also" } else { "by" };
                        if !matched {
                            lines.push(format!("{ip}: {}", describe(id)));
                        }
                        matched = true;
                        lines.push(format!(
                            "  {how} AS{asn} ({org}) at {} (evidence `asn:AS{asn}`, confidence `asn`)",
                            at(origins.and_then(|o| o.asns.get(&asn)))
                        ));
                    }
                    None => lines.push(format!("  AS{asn} ({org}): no rule names it")),
                }
            }
            None => lines.push(
                "  no AS known (no ASN database given or found: see `leakscope geo status`)".into(),
            ),
        }
        if let Some(cc) = g.cc {
            lines.push(format!("  country {cc}"));
        }
        if !matched {
            lines.insert(
                0,
                format!(
                    "{ip}: no rule matches; a flow to it is labelled only by the name it carries (SNI, Host, DNS)"
                ),
            );
        }
        return (lines, matched);
    }
    match rules.match_host(q) {
        Some(m) => {
            let lines = vec![
                format!("{q}: {}", describe(m.endpoint)),
                format!(
                    "  by host pattern {} at {} (evidence `sni:{q}`, `http_host:{q}` or `dns:{q}`, by where the name was seen)",
                    m.pattern,
                    at(origins.and_then(|o| o.hosts.get(m.pattern)))
                ),
            ];
            (lines, true)
        }
        None => (
            vec![format!(
                "{q}: no host rule matches; a flow to it is labelled only by its server's address (prefix or AS)"
            )],
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_name_their_rule_and_line() {
        let rules = Ruleset::load_with_origins(&[], true).unwrap();
        let geo = Geo::default();
        let (lines, hit) = explain(&rules, &geo, "mmg.whatsapp.net");
        assert!(hit);
        assert!(lines[0].starts_with("mmg.whatsapp.net: whatsapp.media"), "{lines:?}");
        assert!(lines[1].contains("rules/whatsapp.toml:"), "{lines:?}");
        let (lines, hit) = explain(&rules, &geo, "example.org");
        assert!(!hit);
        assert!(lines[0].contains("no host rule"), "{lines:?}");
    }
}
