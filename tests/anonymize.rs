//! `--anonymize`: same key → identical outputs; another key → other pseudonyms; prefix relations
//! between device addresses hold; no original device address, MAC or host name is left in any
//! output; server addresses stay.

mod builders;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use builders::replay_bin;
use serde_json::Value;

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/sample-hotspot.pcap")
}

/// Inputs: the bundled capture, and a real WhatsApp capture when the shared captures are here.
fn inputs() -> Vec<PathBuf> {
    let mut v = vec![bundled()];
    let shared = std::env::var_os("LEAKSCOPE_SHARED_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures"));
    for name in ["whatsapp_login_chat.pcap", "lru_ipv6_caches.pcapng"] {
        let p = shared.join("ndpi/meta/pcap").join(name);
        if p.is_file() {
            v.push(p);
        }
    }
    v
}

struct Out {
    flows: String,
    events: String,
    _dir: tempfile::TempDir,
}

fn run(key: Option<&str>, input: &Path) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args: Vec<&str> = key.map(|k| vec!["--anonymize", k]).unwrap_or_default();
    let o = replay_bin(&out, &[input], &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    Out { flows: read("flows.jsonl"), events: read("events.jsonl"), _dir: dir }
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn is_device(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_link_local() || a.is_loopback(),
        IpAddr::V6(a) => {
            (a.segments()[0] & 0xfe00) == 0xfc00 || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether a server name or Host is a device's address literal (`192.168.1.1`, with a port, or
/// `[fe80::1]`).
fn device_literal(s: &str) -> bool {
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|sa| sa.ip()))
        .or_else(|| s.strip_prefix('[')?.strip_suffix(']')?.parse().ok());
    ip.is_some_and(is_device)
}

/// Every string in the outputs that names a device: private addresses, MACs (unicast), DHCP
/// host names and client ids, and name fields: DNS names answered with a device address,
/// server names and Hosts that are device address literals, MAC vendor names.
fn device_identifiers(o: &Out) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for v in lines(&o.flows).iter().chain(lines(&o.events).iter()) {
        let answers_device = v["answers"].as_array().is_some_and(|a| {
            a.iter().any(|x| x["addr"].as_str().and_then(|s| s.parse().ok()).is_some_and(is_device))
        });
        if v["kind"] == "dns" && answers_device {
            ids.extend(v["query"].as_str().map(str::to_owned));
            ids.extend(
                v["cnames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str())
                    .map(str::to_owned),
            );
        }
        for k in ["server_name", "host"] {
            if let Some(s) = v[k].as_str()
                && device_literal(s)
            {
                ids.insert(s.to_owned());
            }
        }
        if let Some(s) = v["oui_vendor"].as_str() {
            ids.insert(s.to_owned());
        }
        for k in ["orig_h", "resp_h", "client", "server", "requested_ip", "assigned_ip"] {
            if let Some(ip) = v[k].as_str().and_then(|s| s.parse::<IpAddr>().ok())
                && is_device(ip)
                && !ip.is_unspecified()
            {
                ids.insert(ip.to_string());
            }
        }
        for k in ["orig_mac", "resp_mac", "mac"] {
            if let Some(m) = v[k].as_str()
                && !m.starts_with("ff:ff")
                && u8::from_str_radix(&m[..2], 16).is_ok_and(|b| b & 1 == 0)
            {
                ids.insert(m.to_owned());
            }
        }
        for k in ["hostname", "client_id"] {
            if let Some(s) = v[k].as_str() {
                ids.insert(s.to_owned());
            }
        }
    }
    ids
}

/// All string values and, for `tag:value` strings, the value and its address.
fn tokens(text: &str) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => {
                out.insert(s.clone());
                if let Some((_, rest)) = s.split_once(':') {
                    out.insert(rest.to_owned());
                    if let Ok(sa) = rest.parse::<std::net::SocketAddr>() {
                        out.insert(sa.ip().to_string());
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for v in lines(text) {
        walk(&v, &mut out);
    }
    out
}

#[test]
fn same_key_same_output_other_key_other_output() {
    let input = bundled();
    let (a, b, c) = (run(Some("k1"), &input), run(Some("k1"), &input), run(Some("k2"), &input));
    assert_eq!(a.flows, b.flows);
    assert_eq!(a.events, b.events);
    assert_ne!(a.flows, c.flows);
    assert_ne!(a.events, c.events);
}

#[test]
fn no_original_device_identifier_left() {
    for input in inputs() {
        let plain = run(None, &input);
        let ids = device_identifiers(&plain);
        assert!(!ids.is_empty(), "{}: no device identifiers to hide?", input.display());
        let anon = run(Some("research-share-2026"), &input);
        let seen: BTreeSet<String> =
            tokens(&anon.flows).union(&tokens(&anon.events)).cloned().collect();
        let left: Vec<_> = ids.intersection(&seen).collect();
        assert!(left.is_empty(), "{}: left in the output: {left:?}", input.display());
        // Raw text too (host names inside other strings).
        for id in ids.iter().filter(|s| s.len() >= 6 && !s.contains('.')) {
            assert!(
                !anon.flows.contains(id.as_str()) && !anon.events.contains(id.as_str()),
                "{id}"
            );
        }
        // Same number of records, and server addresses kept.
        assert_eq!(plain.flows.lines().count(), anon.flows.lines().count());
        let servers = |t: &str| -> BTreeSet<String> {
            lines(t)
                .iter()
                .filter_map(|v| v["resp_h"].as_str().map(str::to_owned))
                .filter(|s| !is_device(s.parse().unwrap()))
                .collect()
        };
        assert_eq!(servers(&plain.flows), servers(&anon.flows), "{}", input.display());
    }
}

/// Joined on uid: the pseudonym of each device address, then every pair's common prefix length
/// is the same before and after (Crypto-PAn), so one /24 stays one /24.
#[test]
fn prefix_relations_hold_across_records() {
    for input in inputs() {
        let (plain, anon) = (run(None, &input), run(Some("k"), &input));
        let mut map: BTreeMap<IpAddr, IpAddr> = BTreeMap::new();
        for (p, a) in lines(&plain.flows).iter().zip(lines(&anon.flows).iter()) {
            assert_eq!(p["uid"], a["uid"]);
            for k in ["orig_h", "resp_h"] {
                let (x, y): (IpAddr, IpAddr) = (
                    p[k].as_str().unwrap().parse().unwrap(),
                    a[k].as_str().unwrap().parse().unwrap(),
                );
                if let Some(prev) = map.insert(x, y) {
                    assert_eq!(prev, y, "{x} got two pseudonyms");
                }
                if is_device(x) && !x.is_unspecified() {
                    assert_ne!(x, y, "device address {x} kept");
                }
            }
        }
        let bits = |a: IpAddr, b: IpAddr| match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)).leading_zeros(),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)).leading_zeros(),
            _ => 0,
        };
        let devices: Vec<_> = map.iter().filter(|(k, _)| is_device(**k)).collect();
        if devices.len() < 2 {
            // Global IPv6 phones only (they need --anonymize-local PREFIX): nothing to compare.
            assert_ne!(input, bundled(), "the bundled capture has two device addresses");
            continue;
        }
        for (x1, y1) in &devices {
            for (x2, y2) in &devices {
                if x1.is_ipv4() == x2.is_ipv4() {
                    assert_eq!(bits(**x1, **x2), bits(**y1, **y2), "{x1} {x2} → {y1} {y2}");
                }
            }
        }
    }
}

#[test]
fn key_file_and_keep_oui() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k1").unwrap();
    let out = dir.path().join("out");
    let keyfile = key.to_str().unwrap();
    let o =
        replay_bin(&out, &[&bundled()], &["--anonymize-key-file", keyfile, "--anonymize-keep-oui"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let flows = std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
    // Same key as --anonymize k1: the same addresses.
    let a = run(Some("k1"), &bundled());
    let orig = |t: &str| lines(t).iter().map(|v| v["orig_h"].clone()).collect::<Vec<_>>();
    assert_eq!(orig(&flows), orig(&a.flows));
    // The OUI (02:00:00) is kept, the rest replaced.
    let macs: Vec<String> =
        lines(&flows).iter().filter_map(|v| v["orig_mac"].as_str().map(str::to_owned)).collect();
    assert!(
        macs.iter().all(|m| m.starts_with("02:00:00:") && m != "02:00:00:00:00:01"),
        "{macs:?}"
    );
    let o = replay_bin(&out, &[&bundled()], &["--anonymize-key-file", "/nonexistent/key"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/key"));
}

/// Every output key has been reviewed for what it reveals about a device. A new key fails here
/// until `AnonymizeSink` decides on it and the key is added to this list.
#[test]
fn every_output_key_was_reviewed() {
    const REVIEWED: &[&str] = &[
        // flows.jsonl
        "ts",
        "uid",
        "proto",
        "orig_h",
        "orig_p",
        "resp_h",
        "resp_p",
        "duration",
        "orig_pkts",
        "resp_pkts",
        "orig_ip_bytes",
        "resp_ip_bytes",
        "orig_bytes",
        "resp_bytes",
        "conn_state",
        "history",
        "end_reason",
        "orig_mac",
        "resp_mac",
        "vlan",
        "tunnel",
        "fragments",
        "app_proto",
        "server_name",
        "name_source",
        "alpn",
        "ja4",
        "ja3",
        "quic_version",
        "protocol_version",
        // Legacy clients' build (platform and version: the finding) kept; the masked phone
        // number is removed.
        "wa_client",
        "wa_phone",
        // Cookie names set by the server: names only, kept like the request's cookie names.
        "set_cookie_names",
        "service",
        "endpoint",
        "confidence",
        "evidence",
        "resp_asn",
        "resp_as_org",
        "resp_cc",
        // events.jsonl
        "kind",
        "client",
        "server",
        "query",
        "qtype",
        "rcode",
        "answers",
        "addr",
        "ttl",
        "cnames",
        "mac",
        "msg_type",
        "hostname",
        "vendor_class",
        "parameter_request_list",
        "requested_ip",
        "assigned_ip",
        "client_id",
        // flows.jsonl and exposure events: the device id (MAC or local address) is rewritten.
        "device",
        // arp events: mac and addresses rewritten, op kept.
        "op",
        "ip",
        "target_ip",
        // http events: host via the DNS-name rule; method, user agent, cookie *names* kept.
        "method",
        "host",
        "user_agent",
        "cookie_names",
        // stun events: the public (NAT) address is replaced whole.
        "mapped_address",
        // device events: mac, addresses, hostname rewritten; the OUI vendor dropped (kept with
        // --anonymize-keep-oui); counts, timing, Meta services and fingerprints kept (they are
        // the finding, not an identity).
        "addresses",
        "oui_vendor",
        "first_seen",
        "last_seen",
        "flows",
        "meta_flows",
        "meta_bytes_up",
        "meta_bytes_down",
        "services",
        "endpoints",
        "hours",
        "hour",
        "sessions",
        "count",
        "total_secs",
        "longest_secs",
        "first",
        "last",
        "by_hour",
        "activities",
        "user_agents",
        "message_burst",
        "media_upload",
        "media_download",
        "call",
        // session, activity and exposure events: device rewritten, evidence values that identify
        // the device (host names, addresses, public address) rewritten; flow uids kept.
        "session",
        "end",
        "bursts",
        "bytes_up",
        "bytes_down",
        "uids",
        "activity",
        "packets",
        "bitrate_kbps",
        "media",
        // bursts, media items, calls: timing, direction and client kind, nothing identifying.
        "call_attempt",
        "clients",
        "direction",
        "opened_by",
        "ringing_secs",
        "setup",
        "talk_secs",
        "field",
        "label",
        "observability",
        "status",
        // The value Meta got: public addresses get their pseudonym, the phone number goes;
        // countries, carriers, versions stay. Notes are fixed texts.
        "value",
        "note",
        "bytes",
        // Community ID: recomputed from the pseudonymised addresses. Source: the capture file
        // as the user named it.
        "community_id",
        "source",
    ];
    fn keys(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.insert(k.clone());
                    keys(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    for input in inputs() {
        let o = run(Some("k"), &input);
        for v in lines(&o.flows).iter().chain(lines(&o.events).iter()) {
            keys(v, &mut seen);
        }
    }
    let new: Vec<_> = seen.iter().filter(|k| !REVIEWED.contains(&k.as_str())).collect();
    assert!(new.is_empty(), "output keys not reviewed for anonymisation: {new:?}");
}

/// The masked phone number of a legacy login is in the plain output and nowhere under
/// `--anonymize`: not in flows, evidence or values.
#[test]
fn masked_phone_number_is_removed() {
    let Some(input) = inputs().into_iter().find(|p| p.ends_with("whatsapp_login_chat.pcap")) else {
        eprintln!("skipped: shared captures not found");
        return;
    };
    let plain = run(None, &input);
    assert!(plain.flows.contains("\"wa_phone\":\"+39…68\""), "the dissector reads the login");
    assert!(plain.events.contains("legacy_phone=+39…68"));
    let anon = run(Some("k"), &input);
    for text in [&anon.flows, &anon.events] {
        assert!(!text.contains("…68") && !text.contains("wa_phone"), "phone number left");
        assert!(!text.contains("legacy_phone"), "phone evidence left");
    }
    // The build is the finding: kept.
    assert!(anon.flows.contains("iPhone-2.12.2-5222"));
    let phone = lines(&anon.events)
        .into_iter()
        .find(|e| e["kind"] == "exposure" && e["field"] == "phone_number")
        .expect("phone_number exposure");
    assert_eq!(phone["status"], "observed", "the grade stays, the value goes");
    assert!(phone.get("value").is_none(), "{phone}");
}
