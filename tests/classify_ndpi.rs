//! Classification against nDPI's expected labels on the real captures
//! (`../shared/captures/ndpi/*/result/*.out`, nDPI commit 3b1286ab).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One nDPI flow line: protocol, endpoints (unordered key), application label, IP-list label.
struct NdpiFlow {
    key: (String, String, String),
    label: String,
    ip_label: String,
}

fn endpoint(s: &str) -> Option<String> {
    // "[2a00::1]:443" or "1.2.3.4:443" → "addr:port", the address in Rust's (RFC 5952) form;
    // nDPI prints a single zero group as "::", which RFC 5952 does not.
    let s = s.replace(['[', ']'], "");
    let (addr, port) = s.rsplit_once(':')?;
    let addr: std::net::IpAddr = addr.parse().ok()?;
    Some(format!("{addr}:{port}"))
}

fn parse_out(path: &Path) -> Vec<NdpiFlow> {
    let text = std::fs::read_to_string(path).expect(".out file");
    let mut flows = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(idx), Some(proto), Some(a), Some(_dir), Some(b)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if idx.parse::<u32>().is_err() || !line.starts_with('\t') {
            continue;
        }
        let field = |name: &str| {
            line.split(&format!("[{name}: "))
                .nth(1)
                .and_then(|r| r.split(']').next())
                .map(str::to_owned)
        };
        let (Some(label), Some(ip_label)) = (field("proto"), field("IP")) else { continue };
        let (Some(a), Some(b)) = (endpoint(a), endpoint(b)) else { continue };
        let key = if a <= b { (proto.to_lowercase(), a, b) } else { (proto.to_lowercase(), b, a) };
        flows.push(NdpiFlow { key, label, ip_label });
    }
    flows
}

/// "91.142/TLS.WhatsApp" → ("TLS", "WhatsApp"); "142/WhatsApp" → ("", "WhatsApp").
fn master_app(label: &str) -> (&str, &str) {
    let name = label.split('/').nth(1).unwrap_or("");
    match name.split_once('.') {
        Some((m, a)) => (m, a),
        None => ("", name),
    }
}

/// nDPI application → leakscope service family.
fn family(app: &str) -> Option<&'static str> {
    match app {
        "WhatsApp" | "WhatsAppCall" | "WhatsAppFiles" => Some("whatsapp"),
        "Facebook" | "FacebookVoip" | "FbookReelStory" => Some("facebook"),
        "Messenger" | "FacebookMessenger" => Some("messenger"),
        "Instagram" => Some("instagram"),
        "Threads" => Some("threads"),
        _ => None,
    }
}

type ConvKey = (String, String, String);
type Labels = BTreeMap<ConvKey, (Option<String>, Vec<String>)>;

/// leakscope's records by conversation key: (service, evidence) of the first labelled record.
fn ours(flows: &[serde_json::Value]) -> Labels {
    let mut m = Labels::new();
    for r in flows {
        let ep = |h: &str, p: &str| format!("{}:{}", r[h].as_str().unwrap(), r[p]);
        let (a, b) = (ep("orig_h", "orig_p"), ep("resp_h", "resp_p"));
        let proto = r["proto"].as_str().unwrap().to_owned();
        let key = if a <= b { (proto, a, b) } else { (proto, b, a) };
        let service = r["service"].as_str().map(str::to_owned);
        let evidence = r["evidence"]
            .as_array()
            .map(|v| v.iter().map(|e| e.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let e = m.entry(key).or_default();
        if e.0.is_none() {
            *e = (service, evidence);
        }
    }
    m
}

/// Disagreements that remain, each with the reason. The test fails when this list and the
/// actual disagreements differ, so a fix or a regression both show up.
const KNOWN_DISAGREEMENTS: &[(&str, &str, &str)] = &[];

#[test]
fn meta_flows_agree_with_ndpi() {
    let Some(shared) = common::shared_captures("meta_flows_agree_with_ndpi") else { return };
    let (mut total, mut agree) = (0usize, 0usize);
    let mut disagreements = BTreeSet::new();
    let mut plain_meta = (0usize, 0usize);
    for capture in common::captures_in(&shared, "meta") {
        let name = capture.file_name().unwrap().to_string_lossy().into_owned();
        let expected = parse_out(&shared.join("ndpi/meta/result").join(format!("{name}.out")));
        let (_, _d, flows) = common::replay_to_temp(std::slice::from_ref(&capture));
        let got = ours(&flows);
        let (mut n, mut ok) = (0, 0);
        for f in &expected {
            let (master, app) = master_app(&f.label);
            let (service, evidence) = got.get(&f.key).cloned().unwrap_or_default();
            // Plain TLS/QUIC/Unknown that nDPI's IP list puts in Meta's networks.
            let plain = matches!(app, "TLS" | "QUIC" | "Unknown") && master.is_empty();
            if plain
                && family(
                    master_app(&format!("0/{}", f.ip_label.split('/').nth(1).unwrap_or(""))).1,
                )
                .is_some()
            {
                plain_meta.0 += 1;
                if service.is_some() && evidence.iter().any(|e| e.starts_with("prefix:")) {
                    plain_meta.1 += 1;
                } else {
                    disagreements.insert((
                        name.clone(),
                        format!("{:?}", f.key),
                        format!("plain {app}, Meta IP, got {service:?}"),
                    ));
                }
            }
            // DNS queries about Meta names sent to a resolver are not traffic to Meta.
            let Some(fam) = family(app) else { continue };
            if master == "DNS" {
                continue;
            }
            n += 1;
            if service.as_deref() == Some(fam) {
                ok += 1;
            } else {
                disagreements.insert((
                    name.clone(),
                    format!("{:?}", f.key),
                    format!("nDPI {fam}, leakscope {service:?} {evidence:?}"),
                ));
            }
        }
        if n > 0 {
            eprintln!("{name}: {ok}/{n} Meta flows agree");
        }
        total += n;
        agree += ok;
    }
    let pct = 100.0 * agree as f64 / total.max(1) as f64;
    eprintln!("total: {agree}/{total} agree ({pct:.1} %)");
    eprintln!(
        "plain TLS/QUIC/Unknown flows to Meta addresses labelled by leakscope: {}/{}",
        plain_meta.1, plain_meta.0
    );
    for d in &disagreements {
        eprintln!("disagreement: {d:?}");
    }
    assert!(total >= 130, "too few Meta flows compared: {total}");
    assert!(plain_meta.0 >= 5, "too few plain TLS/QUIC flows to Meta addresses: {plain_meta:?}");
    assert!(pct >= 99.0, "agreement {pct:.1} % is under 99 %");
    let known: BTreeSet<(String, String, String)> = KNOWN_DISAGREEMENTS
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    let actual_keys: BTreeSet<_> =
        disagreements.iter().map(|(a, b, _)| (a.clone(), b.clone())).collect();
    let known_keys: BTreeSet<_> = known.iter().map(|(a, b, _)| (a.clone(), b.clone())).collect();
    assert_eq!(
        actual_keys, known_keys,
        "disagreements changed; update KNOWN_DISAGREEMENTS with reasons"
    );
}

#[test]
fn no_meta_label_in_negative_captures() {
    let Some(shared) = common::shared_captures("no_meta_label_in_negative_captures") else {
        return;
    };
    let mut labelled = Vec::new();
    let mut n = 0;
    for capture in common::captures_in(&shared, "negative") {
        let (_, _d, flows) = common::replay_to_temp(std::slice::from_ref(&capture));
        n += flows.len();
        for r in flows.iter().filter(|r| r["service"].is_string()) {
            labelled.push(format!("{}: {r}", capture.display()));
        }
    }
    eprintln!("{n} flows in negative captures, {} labelled Meta", labelled.len());
    assert!(n > 100);
    assert!(labelled.is_empty(), "false positives:\n{}", labelled.join("\n"));
}
