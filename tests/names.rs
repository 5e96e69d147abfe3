//! Naming flows that carry no SNI of their own (issue 11): the TLS server certificate, gQUIC's
//! CHLO (cleartext before Q050, decrypted from Q050 on), SSLv2-format hellos, and names carried
//! across flows of one device.
//! Real captures where they exist (`../shared/captures`, skipped with a note when absent),
//! generated ones otherwise.

mod builders;
mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use builders::{Flags, Pcap, tcp, tcp_session, unhex};
use serde_json::Value;

/// The fixture's hex lines (one segment each).
fn fixture(rel: &str) -> Vec<Vec<u8>> {
    let path = common::root().join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(unhex)
        .collect()
}

fn replay(cap: &Pcap) -> (leakscope::replay::ReplayOutcome, tempfile::TempDir, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pcap");
    cap.write(&path);
    let out = common::replay_to_temp(&[path]);
    drop(dir);
    out
}

fn events(dir: &Path, kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn flow<'a>(flows: &'a [Value], resp: &str, orig_p: u16) -> &'a Value {
    flows
        .iter()
        .find(|r| r["resp_h"] == resp && r["orig_p"] == orig_p)
        .unwrap_or_else(|| panic!("no flow to {resp} from port {orig_p}"))
}

fn evidence(r: &Value) -> Vec<String> {
    r["evidence"]
        .as_array()
        .map(|v| v.iter().map(|e| e.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

const PHONE: Ipv4Addr = Ipv4Addr::new(10, 24, 82, 188);

/// Two KakaoTalk-style TLS flows without SNI to a Facebook address: the real SNI-less hello of
/// KakaoTalk_talk.pcap (10.24.82.188:32968 → 110.76.143.50:8080) answered by the real server
/// flight of facebook.pcap (66.220.156.68:443, leaf `*.facebook.com`). The second flow's server
/// bytes come in 97-byte segments, two of them swapped, so the leaf is reassembled.
#[test]
fn tls_without_sni_is_named_by_the_server_certificate() {
    let hello = fixture("cert/kakaotalk_client_hello.hex").concat();
    let flight = fixture("cert/facebook_server.hex");
    let fb = Ipv4Addr::new(173, 252, 97, 2);
    let mut cap = Pcap::ethernet();
    let whole: Vec<&[u8]> = flight.iter().map(Vec::as_slice).collect();
    tcp_session(&mut cap, 1_000_000, (PHONE, 40001), (fb, 443), &[&hello], &whole);
    // Flow 2 by hand: handshake, hello, then the flight in 97-byte segments, the 4th and 5th
    // arriving swapped.
    let (c, srv) = ((PHONE, 40002), (fb, 443));
    let f = |syn, ack, psh| Flags { syn, ack, psh, ..Default::default() };
    let mut t = 2_000_000;
    let mut rec = |cap: &mut Pcap, frame: Vec<u8>| {
        t += 1000;
        cap.record(t, &frame);
    };
    rec(&mut cap, tcp(c, srv, 100, 0, f(true, false, false), b""));
    rec(&mut cap, tcp(srv, c, 500, 101, f(true, true, false), b""));
    rec(&mut cap, tcp(c, srv, 101, 501, f(false, true, true), &hello));
    let joined = flight.concat();
    let mut segs: Vec<(u32, &[u8])> =
        joined.chunks(97).enumerate().map(|(i, d)| (501 + 97 * i as u32, d)).collect();
    segs.swap(3, 4);
    for (seq, d) in segs {
        rec(&mut cap, tcp(srv, c, seq, 101 + hello.len() as u32, f(false, true, true), d));
    }
    let (_, dir, flows) = replay(&cap);
    for port in [40001, 40002] {
        let r = flow(&flows, "173.252.97.2", port);
        assert_eq!(r["service"], "facebook", "{r}");
        assert_eq!(r["server_name"], "*.facebook.com", "{r}");
        assert_eq!(r["name_source"], "tls_cert", "{r}");
        assert_eq!(r["confidence"], "tls_cert", "{r}");
        assert_eq!(evidence(r)[0], "cert:*.facebook.com", "{r}");
    }
    let certs = events(dir.path(), "tls_cert");
    assert_eq!(certs.len(), 2, "{certs:?}");
    assert_eq!(certs[0]["issuer_org"], "DigiCert Inc");
    assert!(certs[0]["san_dns"].as_array().unwrap().iter().any(|s| s == "*.messenger.com"));
    assert_eq!(certs[0]["ja4x"], certs[1]["ja4x"]);
}

/// A Certificate message whose leaf runs past the 16 KiB per-flow cap: no name, counted.
#[test]
fn certificate_past_the_cap_is_counted_not_read() {
    let hello = fixture("cert/kakaotalk_client_hello.hex").concat();
    // A TLS 1.2 ServerHello, then a Certificate announcing a 40 000-byte leaf.
    let mut sh = vec![3, 3];
    sh.extend([7; 32]);
    sh.extend([0, 0x00, 0x2f, 0]);
    let mut msg = vec![2, 0, 0, sh.len() as u8];
    msg.extend(&sh);
    let leaf = 40_000usize;
    let u24 = |n: usize| [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    msg.push(11);
    msg.extend(u24(leaf + 6));
    msg.extend(u24(leaf + 3));
    msg.extend(u24(leaf));
    msg.extend(std::iter::repeat_n(0x30, 20_000));
    let mut stream = Vec::new();
    for part in msg.chunks(16_000) {
        stream.extend([22, 3, 3]);
        stream.extend((part.len() as u16).to_be_bytes());
        stream.extend(part);
    }
    let segs: Vec<&[u8]> = stream.chunks(1400).collect();
    let mut cap = Pcap::ethernet();
    tcp_session(
        &mut cap,
        1_000_000,
        (PHONE, 40003),
        (Ipv4Addr::new(173, 252, 97, 2), 443),
        &[&hello],
        &segs,
    );
    let (outcome, dir, flows) = replay(&cap);
    let r = flow(&flows, "173.252.97.2", 40003);
    assert!(r["server_name"].is_null(), "{r}");
    assert_eq!(r["app_proto"], "tls");
    assert!(events(dir.path(), "tls_cert").is_empty());
    assert!(outcome.stats.certs_capped >= 1, "{:?}", outcome.stats);
}

/// An SSLv2-format hello (as old clients sent it, TLS 1.0 offered): TLS, its cipher specs in JA3.
#[test]
fn sslv2_format_hello_is_tls_with_its_ciphers_in_ja3() {
    // version 0x0301; specs 0x0700c0, 0x020080 (SSLv2 kinds), 0x00002f, 0x000035; 16-byte challenge
    let mut m = vec![1, 3, 1, 0, 12, 0, 0, 0, 16];
    m.extend([0x07, 0x00, 0xc0, 0x02, 0x00, 0x80, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x35]);
    m.extend([0x5a; 16]);
    let mut hello = (0x8000 | m.len() as u16).to_be_bytes().to_vec();
    hello.extend(m);
    let mut cap = Pcap::ethernet();
    tcp_session(
        &mut cap,
        1_000_000,
        (PHONE, 40004),
        (Ipv4Addr::new(198, 51, 100, 7), 443),
        &[&hello],
        &[b"\x84\x02\x04\x00"],
    );
    let (_, _dir, flows) = replay(&cap);
    let r = flow(&flows, "198.51.100.7", 40004);
    assert_eq!(r["app_proto"], "tls", "{r}");
    // MD5 of "769,458944-131200-47-53,,," (Python's hashlib).
    assert_eq!(r["ja3"], "56c5370c09308a6ed27bdbfe798f994d", "{r}");
    assert!(r["server_name"].is_null());
}

fn shared(test: &str, rel: &str) -> Option<PathBuf> {
    Some(common::shared_captures(test)?.join(rel))
}

/// Real SNI-less TLS flows whose certificates tshark reads as `CN=*.world.waze.com` /
/// `*.waze.com` (waze.pcap, 10.8.0.1 → 46.51.173.182, 52.17.114.219, 176.34.*) and `Kakao.com`
/// (KakaoTalk_talk.pcap, 10.24.82.188 → 110.76.143.50:8080 and :9001): named, not Meta.
#[test]
fn certificate_names_on_real_captures() {
    let Some(waze) = shared("certificate_names_on_real_captures", "ndpi/meta/pcap/waze.pcap")
    else {
        return;
    };
    let (_, _d, flows) = common::replay_to_temp(&[waze]);
    let named: Vec<&Value> = flows.iter().filter(|r| r["name_source"] == "tls_cert").collect();
    assert_eq!(named.len(), 12, "{named:?}");
    for r in &named {
        let name = r["server_name"].as_str().unwrap();
        assert!(matches!(name, "*.world.waze.com" | "*.waze.com"), "{r}");
        assert!(r["service"].is_null(), "{r}");
    }
    assert_eq!(flow(&flows, "46.51.173.182", 36100)["server_name"], "*.world.waze.com");
    assert_eq!(flow(&flows, "176.34.103.105", 51050)["server_name"], "*.waze.com");

    let kakao = waze_sibling("KakaoTalk_talk.pcap");
    let (_, _d, flows) = common::replay_to_temp(&[kakao]);
    for port in [32968, 58857] {
        let r = flow(&flows, "110.76.143.50", port);
        assert_eq!(
            (&r["server_name"], &r["name_source"]),
            (&"Kakao.com".into(), &"tls_cert".into())
        );
        assert!(r["service"].is_null(), "{r}");
    }
}

fn waze_sibling(name: &str) -> PathBuf {
    common::shared_captures("certificate_names_on_real_captures")
        .unwrap()
        .join("ndpi/meta/pcap")
        .join(name)
}

/// gQUIC CHLOs in cleartext: Q046 (quic_q46.pcap, 172.29.42.236:38292 → 153.20.183.203:443)
/// and Q025 (http_ipv6.pcap, :45931 → [2a00:1450:4001:803::1017]:443); tshark and nDPI read the
/// same SNI.
#[test]
fn gquic_sni_on_real_captures() {
    let Some(dir) = common::shared_captures("gquic_sni_on_real_captures") else { return };
    for (file, resp, port, sni, version) in [
        ("negative/pcap/quic_q46.pcap", "153.20.183.203", 38292, "play.google.com", "0x51303436"),
        (
            "meta/pcap/http_ipv6.pcap",
            "2a00:1450:4001:803::1017",
            45931,
            "www.google.it",
            "0x51303235",
        ),
    ] {
        let (_, _d, flows) = common::replay_to_temp(&[dir.join("ndpi").join(file)]);
        let r = flow(&flows, resp, port);
        assert_eq!(r["server_name"], sni, "{r}");
        assert_eq!(r["name_source"], "gquic_sni", "{r}");
        assert_eq!(r["app_proto"], "quic", "{r}");
        assert_eq!(r["quic_version"], version, "{r}");
        assert!(r["service"].is_null(), "{r}");
    }
}

/// gQUIC with encrypted Initials (no real capture of them exists in `../shared/captures`):
/// `captures/gquic-q050.pcap`, built from public facts by `examples/make-captures/gquic.rs`.
/// tshark 4.0 and Debian's ndpiReader 4.2 decrypt the first and the third flow to the same names
/// (ndpiReader: the same JA3 for the T051 hello); neither reassembles the second flow's CHLO,
/// split over two Initials sent in reverse order (ndpiReader: `QUIC.Facebook` by address).
#[test]
fn gquic_q050_and_t051_on_the_generated_capture() {
    let path = common::root().join("captures/gquic-q050.pcap");
    let (_, _d, flows) = common::replay_to_temp(&[path]);
    assert_eq!(flows.len(), 3);
    for (port, sni, source, version, service) in [
        (50501, "graph.facebook.com", "gquic_sni", "0x51303530", "facebook"),
        (50502, "static.whatsapp.net", "gquic_sni", "0x51303530", "whatsapp"),
        (50503, "www.instagram.com", "quic_sni", "0x54303531", "instagram"),
    ] {
        let r = flow(&flows, "157.240.22.35", port);
        assert_eq!(r["server_name"], sni, "{r}");
        assert_eq!(r["name_source"], source, "{r}");
        assert_eq!(r["app_proto"], "quic", "{r}");
        assert_eq!(r["quic_version"], version, "{r}");
        assert_eq!(r["service"], service, "{r}");
        assert_eq!(r["confidence"], "sni", "{r}");
    }
}

/// A real flow split by the idle timeout (quic-mvfst-22.pcap, 10.0.2.15:35601 ↔ 31.13.86.8:443,
/// nDPI: QUIC.Facebook): its first record has the SNI `graph.facebook.com`, the tail record after
/// the split has none and carries the name.
#[test]
fn name_carried_to_the_tail_of_a_real_flow() {
    let Some(p) =
        shared("name_carried_to_the_tail_of_a_real_flow", "ndpi/meta/pcap/quic-mvfst-22.pcap")
    else {
        return;
    };
    let (_, _d, flows) = common::replay_to_temp(&[p]);
    let recs: Vec<&Value> = flows.iter().filter(|r| r["orig_p"] == 35601).collect();
    assert_eq!(recs.len(), 2);
    let tail = recs.iter().find(|r| r["server_name"].is_null()).unwrap();
    assert_eq!(tail["service"], "facebook", "{tail}");
    assert_eq!(tail["confidence"], "carried", "{tail}");
    assert_eq!(evidence(tail)[0], "carried:graph.facebook.com", "{tail}");
}

/// Generated: flows open before the capture (no handshake: data segments only) to Meta
/// addresses that other flows of the same device name by SNI.
#[test]
fn names_carried_across_flows_of_one_device() {
    let wa_hello = fixture("tls/whatsappfiles_s0.hex").concat(); // SNI mmg-fna.whatsapp.net
    let ig_hello = fixture("tls/tls_2_reasms_s0.hex").concat(); // SNI i.instagram.com
    let (wa, shared_addr) = (Ipv4Addr::new(157, 240, 9, 53), Ipv4Addr::new(31, 13, 70, 1));
    let laptop = Ipv4Addr::new(10, 24, 82, 189);
    let ack = Flags { ack: true, psh: true, ..Default::default() };
    let mid = |cap: &mut Pcap, t: u64, dev: Ipv4Addr, port: u16, server: Ipv4Addr| {
        for i in 0..3u32 {
            cap.record(
                t + u64::from(i) * 1000,
                &tcp((dev, port), (server, 443), 7000 + i * 100, 9000, ack, &[0x17; 100]),
            );
            cap.record(
                t + u64::from(i) * 1000 + 500,
                &tcp((server, 443), (dev, port), 9000, 7100 + i * 100, ack, &[0x17; 60]),
            );
        }
    };
    let s = 1_000_000u64;
    let mut cap = Pcap::ethernet();
    mid(&mut cap, 1_000 * s, PHONE, 50001, wa); // before the naming flow
    tcp_session(
        &mut cap,
        1_010 * s,
        (PHONE, 50002),
        (wa, 443),
        &[&wa_hello],
        &[b"\x16\x03\x03\x00\x01\x02"],
    );
    mid(&mut cap, 1_020 * s, laptop, 50003, wa); // another device: not carried
    // One address named for two services: not carried.
    tcp_session(&mut cap, 1_030 * s, (PHONE, 50004), (shared_addr, 443), &[&wa_hello], &[]);
    tcp_session(&mut cap, 1_031 * s, (PHONE, 50005), (shared_addr, 443), &[&ig_hello], &[]);
    mid(&mut cap, 1_032 * s, PHONE, 50006, shared_addr);
    mid(&mut cap, 9_000 * s, PHONE, 50007, wa); // two hours later: expired
    let (_, _d, flows) = replay(&cap);
    let named = flow(&flows, "157.240.9.53", 50002);
    let carried = flow(&flows, "157.240.9.53", 50001);
    assert_eq!(carried["service"], "whatsapp", "{carried}");
    assert_eq!(carried["endpoint"], named["endpoint"], "{carried}");
    assert_eq!(carried["confidence"], "carried");
    assert_eq!(evidence(carried)[0], "carried:mmg-fna.whatsapp.net");
    assert!(carried["server_name"].is_null(), "a carried name is evidence, not the flow's name");
    for (addr, port) in [("157.240.9.53", 50003), ("31.13.70.1", 50006), ("157.240.9.53", 50007)] {
        let r = flow(&flows, addr, port);
        assert!(evidence(r).iter().all(|e| !e.starts_with("carried:")), "{r}");
    }
}
