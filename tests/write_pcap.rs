//! `--write-pcap` keeps exactly the packets of Meta-labelled flows, decided by each flow's verdict
//! (SNI, DNS name, signature, relay, prefix), not by address: replaying the file it wrote gives
//! the same Meta records as the run that wrote it, and nothing else but the DNS answers that
//! named Meta hosts.

mod common;

use std::path::{Path, PathBuf};

use leakscope::output::pcap::PcapKeep;
use leakscope::replay::{ReplayOptions, replay};
use serde_json::Value;

struct Run {
    flows: Vec<Value>,
    written: u64,
}

fn run(input: &Path, dir: &Path, name: &str, pcap: Option<&Path>) -> Run {
    let out = dir.join(name);
    let mut opts = ReplayOptions::new(vec![input.to_owned()], Some(out.clone()));
    opts.write_pcap = pcap.map(|p| (p.to_owned(), PcapKeep::Meta));
    let o = replay(&opts).expect("replay runs");
    let text = std::fs::read_to_string(out.join("flows.jsonl")).expect("flows.jsonl");
    let flows = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    Run { flows, written: o.pcap.map_or(0, |p| p.written) }
}

/// A record without its uid (a counter over all flows, so it differs when flows are left out).
/// A flow that ended `idle` may end `end_of_input` instead: the packet clock that expired it
/// was driven by packets of other flows, which the file leaves out.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().expect("record");
    o.remove("uid");
    o.remove("source"); // the file replayed
    if o["end_reason"] == "idle" {
        o["end_reason"] = "end_of_input".into();
    }
    v
}

/// Whether all the record's evidence was learnt from other flows (relay, call socket, ASN).
fn learnt_later(v: &Value) -> bool {
    let inherited = |e: &Value| {
        e.as_str()
            .is_some_and(|s| ["relay:", "call_socket:", "asn:"].iter().any(|k| s.starts_with(k)))
    };
    v["evidence"].as_array().is_some_and(|e| e.iter().all(inherited))
}

fn packets(v: &Value) -> u64 {
    v["orig_pkts"].as_u64().unwrap() + v["resp_pkts"].as_u64().unwrap()
}

/// Checks one capture; returns (Meta flows round-tripped, packets written, Meta flows named only
/// by evidence learnt later).
fn check(input: &Path) -> (usize, u64, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("meta.pcap");
    let first = run(input, dir.path(), "first", Some(&pcap));
    let again = run(&pcap, dir.path(), "again", None);
    let name = input.file_name().unwrap().to_string_lossy();

    let meta = |r: &Run| -> Vec<Value> {
        r.flows.iter().filter(|f| !f["service"].is_null()).map(comparable).collect()
    };
    let (want, got) = (meta(&first), meta(&again));
    let mut missing = 0;
    for w in &want {
        if got.contains(w) {
            continue;
        }
        // Known limit: a flow named only at its end by evidence learnt later from another
        // flow (a call relay) had its packets judged before that, as not Meta's.
        assert!(learnt_later(w), "{name}: a Meta flow changed through --write-pcap: {w}");
        missing += 1;
    }
    assert_eq!(got.len() + missing, want.len(), "{name}: Meta flows after the round trip");
    // Besides Meta flows, only DNS conversations (the answers naming Meta hosts) are kept, and
    // the tunnels (GTP-U, VXLAN) that carry Meta flows: their packets are the same frames.
    let carrier = |f: &Value| {
        f["proto"] == "udp" && f["resp_p"].as_u64().is_some_and(|p| [2152, 4789].contains(&p))
    };
    let mut dns_packets = 0;
    for f in again.flows.iter().filter(|f| f["service"].is_null() && !carrier(f)) {
        assert_eq!(f["app_proto"], "dns", "{name}: a non-Meta flow was written: {f}");
        dns_packets += packets(f);
    }
    let meta_packets: u64 = got.iter().map(packets).sum();
    assert_eq!(first.written, meta_packets + dns_packets, "{name}: packets written");
    (got.len(), first.written, missing)
}

#[test]
fn bundled_captures_round_trip_their_meta_flows() {
    for name in ["sample-hotspot.pcap", "exposure-day.pcap"] {
        let (flows, written, missing) = check(&common::root().join("captures").join(name));
        assert_eq!(missing, 0, "{name}");
        assert!(flows >= 6 && written > 1000, "{name}: {flows} Meta flows, {written} packets");
    }
}

/// Flows labelled by SNI or DNS name on addresses outside every Meta prefix (nDPI's captures have
/// them, e.g. QUIC to WhatsApp media on a rewritten address) are kept whole, handshake included:
/// an address predicate would miss them.
#[test]
fn a_flow_named_by_sni_alone_is_kept_from_its_first_packet() {
    let shared = match common::shared_captures("a_flow_named_by_sni_alone_is_kept") {
        Some(s) => s,
        None => return,
    };
    let mut by_sni_only = 0;
    for input in common::captures_in(&shared, "meta") {
        let dir = tempfile::tempdir().expect("tempdir");
        let pcap = dir.path().join("meta.pcap");
        let first = run(&input, dir.path(), "first", Some(&pcap));
        let again = run(&pcap, dir.path(), "again", None);
        for f in first.flows.iter().filter(|f| f["confidence"] == "sni" || f["confidence"] == "dns")
        {
            let prefix = f["evidence"].as_array().is_some_and(|e| {
                e.iter().any(|e| e.as_str().is_some_and(|s| s.starts_with("prefix")))
            });
            if prefix {
                continue;
            }
            by_sni_only += 1;
            let want = comparable(f);
            assert!(
                again.flows.iter().any(|g| comparable(g) == want),
                "{}: flow named without a Meta prefix lost: {f}",
                input.display()
            );
        }
    }
    assert!(by_sni_only > 0, "no flow in the corpus is named by SNI/DNS alone");
    eprintln!("{by_sni_only} flows named by SNI or DNS without a Meta prefix kept whole");
}

#[test]
fn shared_meta_captures_round_trip_their_meta_flows() {
    let Some(shared) = common::shared_captures("shared_meta_captures_round_trip") else { return };
    let inputs: Vec<PathBuf> = common::captures_in(&shared, "meta");
    let (mut flows, mut written, mut later) = (0, 0, 0);
    for input in &inputs {
        let (f, w, m) = check(input);
        flows += f;
        later += m;
        written += w;
    }
    eprintln!(
        "{} captures: {flows} Meta flows, {written} packets round-tripped; {later} named only by a relay learnt later, not kept",
        inputs.len()
    );
    assert!(flows > 100, "{flows} Meta flows");
}
