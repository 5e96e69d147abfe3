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
    let (_, dir, flows) = common::replay_to_temp(&[shared.join("ndpi/meta/pcap"), sample]);
    let mut seen = BTreeSet::new();
    flows.iter().for_each(|f| keys(f, &mut seen));
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let mut kinds = BTreeSet::new();
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        kinds.insert(v["kind"].as_str().unwrap().to_owned());
        keys(&v, &mut seen);
    }
    for kind in &kinds {
        assert!(doc.contains(&format!("kind: \"{kind}\"")), "event kind {kind} not documented");
    }
    assert!(kinds.contains("dns") && kinds.contains("dhcp"), "{kinds:?}");
    let missing: Vec<_> = seen.iter().filter(|k| !doc.contains(&format!("| `{k}` |"))).collect();
    assert!(seen.len() >= 20, "too few keys seen: {seen:?}");
    assert!(missing.is_empty(), "fields missing from docs/schema.md: {missing:?}");
}
