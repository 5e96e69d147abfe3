//! Outputs are metadata only: a generated capture whose payloads carry unique markers (TLS
//! application data, HTTP query string, cookie values and body, DNS TXT, STUN USERNAME, plain
//! UDP, after a WhatsApp preface) is replayed at every verbosity; no output file, nor stdout or
//! stderr, holds any marker, in text or in hex.

mod builders;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use builders::{Pcap, bin, hex, tcp_session, udp, unhex};

const MARKERS: [&str; 9] = [
    "MRKtlsAPPDATA7781",
    "MRKsrvAPPDATA7782",
    "MRKhttpQUERY7783",
    "MRKcookieVAL7784",
    "MRKhttpBODY7785",
    "MRKdnsTXT7786",
    "MRKstunUSER7787",
    "MRKplainUDP7788",
    "MRKwaNOISE7789",
];
const COOKIE_NAME: &str = "sessionid";

fn dev(port: u16) -> (Ipv4Addr, u16) {
    (Ipv4Addr::new(192, 168, 1, 20), port)
}

fn dns_txt_response() -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(b"\x03txt\x07example\x03org\x00\x00\x10\x00\x01");
    let txt = MARKERS[5].as_bytes();
    m.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, (txt.len() + 1) as u8]);
    m.push(txt.len() as u8);
    m.extend_from_slice(txt);
    m
}

fn stun_with_username() -> Vec<u8> {
    let user = MARKERS[6].as_bytes();
    let pad = (4 - user.len() % 4) % 4;
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&((4 + user.len() + pad) as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[7; 12]);
    m.extend_from_slice(&[0x00, 0x06]);
    m.extend_from_slice(&(user.len() as u16).to_be_bytes());
    m.extend_from_slice(user);
    m.extend(std::iter::repeat_n(0, pad));
    m
}

fn capture(path: &Path) {
    let mut cap = Pcap::ethernet();
    let t0 = 1_700_000_000_000_000;
    // TLS: a real ClientHello, then application data both ways.
    let hello = unhex(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/facebook_s1.hex"),
        )
        .expect("fixture"),
    );
    let app = |m: &str| {
        let mut r = vec![0x17, 0x03, 0x03, 0, m.len() as u8];
        r.extend_from_slice(m.as_bytes());
        r
    };
    let (c_app, s_app) = (app(MARKERS[0]), app(MARKERS[1]));
    tcp_session(
        &mut cap,
        t0,
        dev(40001),
        (Ipv4Addr::new(157, 240, 1, 35), 443),
        &[&hello, &c_app],
        &[&s_app],
    );
    // HTTP with a query string, cookies and a body.
    let body = MARKERS[4];
    let req = format!(
        "POST /upload?token={} HTTP/1.1\r\nHost: graph.facebook.com\r\nUser-Agent: WhatsApp/2.23.1 A\r\nCookie: {COOKIE_NAME}={}; lang=en\r\nContent-Length: {}\r\n\r\n{body}",
        MARKERS[2],
        MARKERS[3],
        body.len()
    );
    tcp_session(
        &mut cap,
        t0 + 100_000,
        dev(40002),
        (Ipv4Addr::new(157, 240, 1, 1), 80),
        &[req.as_bytes()],
        &[b"HTTP/1.1 204 No Content\r\n\r\n"],
    );
    // WhatsApp chat preface, then Noise bytes with a marker.
    let mut wa = b"WA\x06\x03".to_vec();
    wa.extend_from_slice(&[0, 0, 0x20]);
    wa.extend_from_slice(MARKERS[8].as_bytes());
    tcp_session(
        &mut cap,
        t0 + 200_000,
        dev(40003),
        (Ipv4Addr::new(157, 240, 1, 53), 5222),
        &[&wa],
        &[],
    );
    let mut t = t0 + 300_000;
    let mut rec = |cap: &mut Pcap, f: Vec<u8>| {
        t += 1000;
        cap.record(t, &f);
    };
    let resolver = (Ipv4Addr::new(192, 168, 1, 1), 53);
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03txt\x07example\x03org\x00\x00\x10\x00\x01");
    rec(&mut cap, udp(dev(40004), resolver, &q));
    rec(&mut cap, udp(resolver, dev(40004), &dns_txt_response()));
    rec(&mut cap, udp(dev(40005), (Ipv4Addr::new(157, 240, 1, 60), 3478), &stun_with_username()));
    rec(&mut cap, udp(dev(40006), (Ipv4Addr::new(203, 0, 113, 9), 9999), MARKERS[7].as_bytes()));
    cap.write(path);
}

fn check(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let lower = text.to_ascii_lowercase();
    for m in MARKERS {
        assert!(!text.contains(m), "{what} contains marker {m}");
        assert!(!lower.contains(&hex(m.as_bytes())), "{what} contains marker {m} in hex");
        // A marker cut short still leaks: look for its distinctive middle too.
        assert!(!text.contains(&m[3..m.len() - 4]), "{what} contains part of {m}");
    }
}

#[test]
fn no_marker_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("markers.pcap");
    capture(&input);
    let runs: [(&str, &[&str], Option<&str>); 5] = [
        ("default", &[], None),
        ("-v", &["-v"], None),
        ("-vv", &["-vv"], None),
        ("RUST_LOG=trace", &[], Some("trace")),
        ("anonymized -vv", &["-vv", "--anonymize", "k"], Some("trace")),
    ];
    let mut saw_flows = false;
    for (i, (name, args, rust_log)) in runs.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut c = Command::new(bin());
        c.arg("replay").arg("-q").arg("--out").arg(&out).arg(&input).args(*args);
        match rust_log {
            Some(l) => c.env("RUST_LOG", l),
            None => c.env_remove("RUST_LOG"),
        };
        let o = c.output().expect("run");
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        check(&format!("{name}: stdout"), &o.stdout);
        check(&format!("{name}: stderr"), &o.stderr);
        for e in std::fs::read_dir(&out).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read(&p).unwrap();
            check(&format!("{name}: {}", p.display()), &text);
            if p.ends_with("flows.jsonl") {
                let t = String::from_utf8_lossy(&text);
                // The capture was understood: otherwise the test would prove nothing.
                saw_flows = t.contains("\"app_proto\":\"tls\"")
                    && t.contains("\"app_proto\":\"http\"")
                    && t.contains("\"app_proto\":\"stun\"");
                assert!(saw_flows, "{name}: dissectors did not see the generated flows:\n{t}");
            }
        }
    }
    assert!(saw_flows);
    // Flows on stdout too.
    let o = Command::new(bin())
        .args(["replay", "-q", "-vv", "--out", "-"])
        .arg(&input)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!o.stdout.is_empty());
    check("--out - stdout", &o.stdout);
    check("--out - stderr", &o.stderr);
    // The cookie's value never appears; its name may (names are metadata).
    let _ = COOKIE_NAME;
}
