//! DNS responses on port 53 give one `dns` event each, with the query tshark shows
//! (`tests/fixtures/tshark/dns`) and answered addresses among tshark's (tshark's `dns.a`/`dns.aaaa`
//! also list glue from the authority and additional sections, which are not answers).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

/// (client, query) → the sorted address lists of its responses.
type Responses = BTreeMap<(IpAddr, String), Vec<Vec<IpAddr>>>;

#[test]
fn dns_events_equal_tshark_responses() {
    let Some(shared) = common::shared_captures("dns_events_equal_tshark_responses") else { return };
    let fixtures = common::root().join("tests/fixtures/tshark/dns");
    let (mut checked, mut failures) = (0, Vec::new());
    for group in ["meta", "negative"] {
        for capture in common::captures_in(&shared, group) {
            let name = capture.file_name().unwrap().to_string_lossy().into_owned();
            let text =
                std::fs::read_to_string(fixtures.join(group).join(format!("{name}.tsv"))).unwrap();
            let mut want = Responses::new();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let f: Vec<&str> = line.split('\t').collect();
                // mDNS/LLMNR (no question section) and malformed queries are not DNS to a resolver.
                if f[4] != "53" || f[5].is_empty() || f[5].contains(',') {
                    continue;
                }
                let mut answers: Vec<IpAddr> = if f[6] == "-" {
                    vec![]
                } else {
                    f[6].split(',').map(|a| a.parse().unwrap()).collect()
                };
                answers.sort();
                let query = f[5].to_lowercase();
                let query = if query == "<root>" { String::new() } else { query };
                want.entry((f[1].parse().unwrap(), query)).or_default().push(answers);
            }
            let (_, dir, _) = common::replay_to_temp(std::slice::from_ref(&capture));
            let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
            let mut got = Responses::new();
            for line in events.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if v["kind"] != "dns" {
                    continue;
                }
                let mut answers: Vec<IpAddr> = v["answers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["addr"].as_str().unwrap().parse().unwrap())
                    .collect();
                answers.sort();
                let key = (
                    v["client"].as_str().unwrap().parse().unwrap(),
                    v["query"].as_str().unwrap().to_owned(),
                );
                got.entry(key).or_default().push(answers);
            }
            checked += want.values().map(Vec::len).sum::<usize>();
            for (k, theirs) in &want {
                let ours = got.get(k).cloned().unwrap_or_default();
                // Same number of responses, each one's answers among tshark's addresses.
                let mut pairs_ok = ours.len() == theirs.len();
                for (o, t) in ours.iter().zip(theirs) {
                    pairs_ok &= o.iter().all(|a| t.contains(a));
                }
                if !pairs_ok {
                    failures.push(format!(
                        "{group}/{name}: {k:?}: tshark {theirs:?}, leakscope {ours:?}"
                    ));
                }
            }
        }
    }
    eprintln!("{checked} DNS responses checked against tshark, {} mismatches", failures.len());
    assert!(checked >= 50, "too few DNS responses: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
