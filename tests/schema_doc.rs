//! Every key that appears in an output record is documented in `docs/schema.md`.

mod common;

use std::collections::BTreeSet;

fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let Some(map) = v.as_object() {
        out.extend(map.keys().cloned());
    }
}

#[test]
fn every_flow_field_is_documented() {
    let Some(shared) = common::shared_captures("every_flow_field_is_documented") else { return };
    let doc = std::fs::read_to_string(common::root().join("docs/schema.md")).unwrap();
    let sample = common::root().join("captures/sample-hotspot.pcap");
    let day = common::root().join("captures/exposure-day.pcap");
    let phone = common::root().join("captures/pcapdroid/phone-trailer.pcap");
    let inputs = [shared.join("ndpi/meta/pcap"), sample, day, phone];
    let (_, dir, flows) = common::replay_to_temp(&inputs);
    let mut seen = BTreeSet::new();
    flows.iter().for_each(|f| keys(f, &mut seen));
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let mut kinds = BTreeSet::new();
    let mut nested = BTreeSet::new();
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        kinds.insert(v["kind"].as_str().unwrap().to_owned());
        keys(&v, &mut seen);
        // Objects inside events (device services, hours, sessions; DNS answers) are documented
        // in their parent's row as `"key"`.
        for inner in v.as_object().unwrap().values() {
            let items = inner.as_array().cloned().unwrap_or_else(|| vec![inner.clone()]);
            for item in items.iter().filter(|i| i.is_object()) {
                keys(item, &mut nested);
                for deeper in item.as_object().unwrap().values().filter_map(|d| d.as_array()) {
                    deeper.iter().for_each(|d| keys(d, &mut nested));
                }
            }
        }
    }
    let undocumented: Vec<_> =
        nested.iter().filter(|k| !doc.contains(&format!("\"{k}\""))).collect();
    assert!(undocumented.is_empty(), "nested keys missing from docs/schema.md: {undocumented:?}");
    for kind in &kinds {
        assert!(doc.contains(&format!("kind: \"{kind}\"")), "event kind {kind} not documented");
    }
    for kind in ["dns", "dhcp", "arp", "http", "device", "session", "activity", "exposure"] {
        assert!(kinds.contains(kind), "no {kind} event: {kinds:?}");
    }
    let missing: Vec<_> = seen.iter().filter(|k| !doc.contains(&format!("| `{k}` |"))).collect();
    assert!(seen.len() >= 20, "too few keys seen: {seen:?}");
    assert!(missing.is_empty(), "fields missing from docs/schema.md: {missing:?}");
}
