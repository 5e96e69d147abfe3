//! The command line as tcpdump and Zeek users expect it (issue 16): record fields shared with
//! other tools, tcpdump's options, CSV, provenance, lookup, logs, directory replay.

mod builders;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};

use builders::{Pcap, bin, udp};

fn leakscope() -> Command {
    Command::new(bin())
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("output file");
    text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

const DEV: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 5);
const SRV: Ipv4Addr = Ipv4Addr::new(157, 240, 1, 1);

/// Two files: a flow that starts in the first and goes on in the second, and one that starts in
/// the second.
fn two_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    let mut p = Pcap::ethernet();
    p.record(1_000_000, &udp((DEV, 40000), (SRV, 3478), b"x"));
    p.write(&a);
    let mut p = Pcap::ethernet();
    p.record(2_000_000, &udp((SRV, 3478), (DEV, 40000), b"y"));
    p.record(3_000_000, &udp((DEV, 40001), (SRV, 3478), b"z"));
    p.write(&b);
    (a, b)
}

#[test]
fn records_name_the_file_of_their_first_packet() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_files(tmp.path());
    let out = tmp.path().join("out");
    ok(&builders::replay_bin(&out, &[&a, &b], &[]));
    let flows = lines(&out.join("flows.jsonl"));
    let by_port = |p: u64| flows.iter().find(|f| f["orig_p"] == p).expect("flow");
    assert_eq!(by_port(40000)["source"], a.to_str().unwrap());
    assert_eq!(by_port(40000)["resp_pkts"], 1, "the flow spans both files");
    assert_eq!(by_port(40001)["source"], b.to_str().unwrap());
}

#[test]
fn community_ids_are_the_ones_wireshark_computes() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let theirs = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["--enable-protocol", "communityid", "-T", "fields", "-e", "communityid"])
        .output();
    let Some(theirs) = theirs.ok().filter(|o| o.status.success()) else {
        assert!(!builders::in_ci(), "tshark is needed in CI");
        eprintln!("SKIPPED community_ids_are_the_ones_wireshark_computes: no tshark");
        return;
    };
    let theirs: std::collections::BTreeSet<String> =
        String::from_utf8_lossy(&theirs.stdout).lines().map(str::to_owned).collect();
    let tmp = tempfile::tempdir().unwrap();
    ok(&builders::replay_bin(tmp.path(), &[&pcap], &[]));
    let ours: std::collections::BTreeSet<String> = lines(&tmp.path().join("flows.jsonl"))
        .iter()
        .map(|f| f["community_id"].as_str().expect("community_id").to_owned())
        .collect();
    assert!(ours.len() > 10, "{ours:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn anonymised_records_carry_the_community_id_of_their_pseudonyms() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let (plain, anon) = (tmp.path().join("plain"), tmp.path().join("anon"));
    ok(&builders::replay_bin(&plain, &[&pcap], &[]));
    ok(&builders::replay_bin(&anon, &[&pcap], &["--anonymize", "key"]));
    let (plain, anon) = (lines(&plain.join("flows.jsonl")), lines(&anon.join("flows.jsonl")));
    assert_eq!(plain.len(), anon.len());
    let mut changed = 0;
    for (p, a) in plain.iter().zip(&anon) {
        let proto = match a["proto"].as_str().unwrap() {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            other => other.parse().unwrap(),
        };
        let port = |k: &str| a[k].as_u64().unwrap() as u16;
        let addr = |k: &str| a[k].as_str().unwrap().parse().unwrap();
        let want = leakscope::flow::community_id::community_id(
            0,
            addr("orig_h"),
            port("orig_p"),
            addr("resp_h"),
            port("resp_p"),
            proto,
        );
        assert_eq!(a["community_id"], want.as_str());
        changed += usize::from(p["community_id"] != a["community_id"]);
    }
    assert!(changed > 10, "the real addresses' ids must not survive: {changed}");
}
