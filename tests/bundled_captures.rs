//! The bundled, generated captures (`captures/`, `cargo run --example make-captures`): every link
//! type, fragments, port reuse, gzip and broken files give exactly the flows the generator built
//! (`captures/EXPECTED.tsv`, written by the generator from the packets themselves).

mod common;

use std::collections::BTreeMap;

type Flows = BTreeMap<(String, String, String, String, String), Vec<(u64, u64)>>;

fn expected() -> BTreeMap<String, Flows> {
    let text = std::fs::read_to_string(common::root().join("captures/EXPECTED.tsv")).unwrap();
    let mut by_file: BTreeMap<String, Flows> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let k = (f[1], f[2], f[3], f[4], f[5]);
        let k = (k.0.to_owned(), k.1.to_owned(), k.2.to_owned(), k.3.to_owned(), k.4.to_owned());
        let counts = (f[6].parse().unwrap(), f[7].parse().unwrap());
        by_file.entry(f[0].to_owned()).or_default().entry(k).or_default().push(counts);
    }
    by_file
}

#[test]
fn every_bundled_capture_gives_the_generated_flows() {
    let all = expected();
    assert!(all.len() >= 15, "EXPECTED.tsv lists {} files", all.len());
    for (file, want) in &all {
        let path = common::root().join("captures").join(file);
        let (outcome, _d, flows) = common::replay_to_temp(std::slice::from_ref(&path));
        let mut got = Flows::new();
        for r in &flows {
            let s = |k: &str| r[k].as_str().map(str::to_owned).unwrap_or_else(|| r[k].to_string());
            let k = (s("proto"), s("orig_h"), s("orig_p"), s("resp_h"), s("resp_p"));
            let counts = (r["orig_pkts"].as_u64().unwrap(), r["resp_pkts"].as_u64().unwrap());
            got.entry(k).or_default().push(counts);
        }
        assert_eq!(&got, want, "{file}: flows differ from EXPECTED.tsv");
        let broken = file.starts_with("broken/truncated");
        assert_eq!(!outcome.faults.is_empty(), broken, "{file}: faults {:?}", outcome.faults);
        // The zero-length record is counted as a frame too short for its link header.
        let want_errors = u64::from(file.starts_with("broken/zero-length"));
        assert_eq!(outcome.stats.packets.decode_errors.short_link_header, want_errors, "{file}");
        assert_eq!(outcome.stats.packets.decode_errors.total(), want_errors, "{file}");
    }
}

#[test]
fn gzip_copy_gives_the_same_records_as_the_original() {
    let root = common::root().join("captures");
    let (_, a, _) = common::replay_to_temp(&[root.join("sample-hotspot.pcap")]);
    let (_, b, _) = common::replay_to_temp(&[root.join("linktypes/sample-hotspot.pcap.gz")]);
    for f in ["flows.jsonl", "events.jsonl"] {
        // Flow records name their file (`source`): everything else is the same.
        let read = |d: &tempfile::TempDir| {
            let text = std::fs::read_to_string(d.path().join(f)).unwrap();
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v.as_object_mut().unwrap().remove("source");
                    v
                })
                .collect();
            lines
        };
        let (ra, rb) = (read(&a), read(&b));
        assert!(!ra.is_empty());
        assert!(ra == rb, "{f} differs between the pcap and its gzip copy");
    }
}

#[test]
fn sample_classifies_every_meta_flow() {
    let path = common::root().join("captures/sample-hotspot.pcap");
    let (_, _d, flows) = common::replay_to_temp(&[path]);
    let endpoint = |port: u64, proto: &str| {
        flows
            .iter()
            .find(|r| r["resp_p"] == port && r["proto"] == proto && r["endpoint"].is_string())
            .map(|r| (r["endpoint"].as_str().unwrap(), r["confidence"].as_str().unwrap()))
    };
    assert_eq!(endpoint(5222, "tcp"), Some(("whatsapp.chat", "signature")));
    assert_eq!(endpoint(3478, "udp"), Some(("whatsapp.calls", "signature")));
    let names: Vec<(&str, &str, &str)> = flows
        .iter()
        .filter_map(|r| {
            Some((r["server_name"].as_str()?, r["name_source"].as_str()?, r["endpoint"].as_str()?))
        })
        .collect();
    for want in [
        ("mmg.whatsapp.net", "tls_sni", "whatsapp.media"),
        ("graph.facebook.com", "tls_sni", "facebook.graph"),
        ("static.whatsapp.net", "quic_sni", "whatsapp.static"),
        ("mmg.whatsapp.net", "http_host", "whatsapp.media"),
        ("g.whatsapp.net", "dns", "whatsapp.chat"),
    ] {
        assert!(names.contains(&want), "{want:?} missing from {names:?}");
    }
    let example = flows.iter().find(|r| r["server_name"] == "www.example.org").unwrap();
    assert!(example["service"].is_null(), "example.org must not be Meta: {example}");
}
