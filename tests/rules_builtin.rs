//! The default rules: the files in `rules/` load from disk exactly as embedded, and they name every
//! Meta host that nDPI labels in the shared nDPI results.

mod support;

use std::path::PathBuf;

use leakscope::classify::{Ruleset, check};

#[test]
fn rules_dir_on_disk_matches_the_embedded_rules() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
    let disk = Ruleset::load(&[dir], false).unwrap_or_else(|e| panic!("{e}"));
    let (disk, builtin) = (disk.summary(), check(&[]).unwrap());
    assert_eq!(disk.roles, builtin.roles);
    assert_eq!(
        (disk.hosts, disk.prefixes, disk.asns),
        (builtin.hosts, builtin.prefixes, builtin.asns)
    );
}

/// nDPI protocol name → the service our rules must give (Meta's shared edge also passes).
fn expected_service(ndpi: &str) -> Option<&'static str> {
    Some(match ndpi {
        "WhatsApp" | "WhatsAppFiles" | "WhatsAppCall" => "whatsapp",
        "Facebook" | "FbookReelStory" | "FacebookVoip" => "facebook",
        "FacebookMessenger" | "Messenger" => "messenger",
        "Instagram" => "instagram",
        "Threads" => "threads",
        _ => return None,
    })
}

#[test]
fn every_meta_host_in_ndpi_results_is_covered() {
    let Some(data) = support::shared_data("../captures/ndpi/meta/result") else {
        return;
    };
    let rules = Ruleset::builtin();
    let mut checked = 0;
    let mut misses = Vec::new();
    for entry in std::fs::read_dir(data.join("../captures/ndpi/meta/result")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let (Some(proto), Some(host)) =
                (field(line, "[proto: "), field(line, "[Hostname/SNI: "))
            else {
                continue;
            };
            // "91.242/TLS.WhatsAppFiles" → "WhatsAppFiles"; STUN realms are not host names.
            let app = proto.rsplit(['/', '.']).next().unwrap_or(proto);
            let Some(want) = expected_service(app) else {
                continue;
            };
            if proto.contains("STUN") {
                continue;
            }
            checked += 1;
            let got =
                rules.match_host(host).map(|m| rules.endpoint(m.endpoint).service.to_string());
            if got.as_deref() != Some(want) && got.as_deref() != Some("meta") {
                misses.push(format!("{host}: nDPI {app}, ours {got:?}"));
            }
        }
    }
    assert!(checked >= 20, "only {checked} Meta hosts found in the nDPI results");
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

fn field<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    let rest = &line[line.find(tag)? + tag.len()..];
    Some(&rest[..rest.find(']')?])
}
