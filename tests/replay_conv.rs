//! Every TCP/UDP conversation of the real captures, with per-direction packet counts, must equal
//! what tshark reports (`tests/fixtures/tshark/conv`, made by `scripts/make-tshark-fixtures.sh`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

/// (proto, lower "addr:port", higher "addr:port") → packets from lower, packets from higher.
type Convs = BTreeMap<(String, String, String), (u64, u64)>;

fn add(convs: &mut Convs, proto: &str, a: String, b: String, a_to_b: u64, b_to_a: u64) {
    let (key, (x, y)) = if a <= b {
        ((proto.to_owned(), a, b), (a_to_b, b_to_a))
    } else {
        ((proto.to_owned(), b, a), (b_to_a, a_to_b))
    };
    let e = convs.entry(key).or_default();
    e.0 += x;
    e.1 += y;
}

fn tshark_convs(fixture: &Path) -> Convs {
    let mut convs = Convs::new();
    let text = std::fs::read_to_string(fixture).expect("fixture exists");
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let n = |i: usize| f[i].parse::<u64>().expect("count");
        add(
            &mut convs,
            f[0],
            format!("{}:{}", f[1], f[2]),
            format!("{}:{}", f[3], f[4]),
            n(5),
            n(6),
        );
    }
    convs
}

fn our_convs(flows: &[serde_json::Value]) -> Convs {
    let mut convs = Convs::new();
    for r in flows {
        let proto = r["proto"].as_str().unwrap();
        if proto != "tcp" && proto != "udp" {
            continue;
        }
        let ep = |h: &str, p: &str| format!("{}:{}", r[h].as_str().unwrap(), r[p]);
        // Records split by timeouts add up to one conversation, like tshark's rows.
        add(
            &mut convs,
            proto,
            ep("orig_h", "orig_p"),
            ep("resp_h", "resp_p"),
            r["orig_pkts"].as_u64().unwrap(),
            r["resp_pkts"].as_u64().unwrap(),
        );
    }
    convs
}

#[test]
fn conversations_match_tshark() {
    let Some(shared) = common::shared_captures("conversations_match_tshark") else { return };
    let fixtures = common::root().join("tests/fixtures/tshark/conv");
    let mut failures = Vec::new();
    let mut checked = 0;
    for group in ["meta", "negative"] {
        for capture in common::captures_in(&shared, group) {
            let name = capture.file_name().unwrap().to_string_lossy().into_owned();
            let expected = tshark_convs(&fixtures.join(group).join(format!("{name}.tsv")));
            let (_, _dir, flows) = common::replay_to_temp(std::slice::from_ref(&capture));
            let got = our_convs(&flows);
            checked += expected.len();
            for (k, v) in &expected {
                match got.get(k) {
                    Some(g) if g == v => {}
                    other => failures
                        .push(format!("{group}/{name}: {k:?}: tshark {v:?}, leakscope {other:?}")),
                }
            }
            for k in got.keys().filter(|k| !expected.contains_key(*k)) {
                failures.push(format!("{group}/{name}: {k:?}: not a tshark conversation"));
            }
        }
    }
    eprintln!("checked {checked} tshark conversations, {} mismatches", failures.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
