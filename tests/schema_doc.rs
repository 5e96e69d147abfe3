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
    let (_, _d, flows) = common::replay_to_temp(&[shared.join("ndpi/meta/pcap")]);
    let mut seen = BTreeSet::new();
    flows.iter().for_each(|f| keys(f, &mut seen));
    let missing: Vec<_> = seen.iter().filter(|k| !doc.contains(&format!("| `{k}` |"))).collect();
    assert!(seen.len() >= 20, "too few keys seen: {seen:?}");
    assert!(missing.is_empty(), "fields missing from docs/schema.md: {missing:?}");
}
