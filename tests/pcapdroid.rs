//! PCAPdroid captures (`captures/pcapdroid/`, from `examples/make-captures/pcapdroid.rs`): the
//! same phone traffic as raw IP and as Ethernet with PCAPdroid's trailer, in pcap and pcapng.
//! The trailer adds `app`/`app_uid` and changes nothing else; bad trailers are counted, never
//! taken for apps.

mod builders;
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    common::root().join("captures/pcapdroid").join(name)
}

/// A record without its app fields.
fn without_app(r: &Value) -> Value {
    let mut r = r.clone();
    let m = r.as_object_mut().unwrap();
    m.remove("app");
    m.remove("app_uid");
    // The capture file a record came from differs by construction.
    m.remove("source");
    r
}

/// What the generator assigned: (resp_h, resp_p, orig_p for DNS) → (app, uid).
fn expected_app(r: &Value) -> (&'static str, i64) {
    const WA: (&str, i64) = ("com.whatsapp", 10_123);
    const FB: (&str, i64) = ("com.facebook.katana", 10_145);
    const FF: (&str, i64) = ("org.mozilla.firefox", 10_160);
    let resp = r["resp_h"].as_str().unwrap();
    if r["resp_p"] == 53 {
        return match r["orig_p"].as_u64().unwrap() {
            41_003 => FB,
            41_005 => FF,
            _ => WA,
        };
    }
    match resp {
        "31.13.71.7" => FB,
        "192.0.2.80" => FF,
        _ => WA,
    }
}

#[test]
fn trailer_gives_apps_and_changes_nothing_else() {
    let (raw_out, _d, raw) = common::replay_to_temp(&[capture("phone-raw.pcap")]);
    assert!(raw.len() >= 10, "{} flows", raw.len());
    assert!(raw.iter().all(|r| r.get("app").is_none() && r.get("app_uid").is_none()));
    let named = ["phone-trailer.pcap", "phone-trailer.pcapng", "phone-apps.pcapng"];
    for name in
        ["phone-raw.pcapng", "phone-trailer.pcap", "phone-trailer.pcapng", "phone-apps.pcapng"]
    {
        let (out, _d, flows) = common::replay_to_temp(&[capture(name)]);
        assert_eq!(flows.len(), raw.len(), "{name}");
        for (got, want) in flows.iter().zip(&raw) {
            assert_eq!(
                without_app(got),
                without_app(want),
                "{name}: records differ beyond the app fields"
            );
            if named.contains(&name) {
                let (app, uid) = expected_app(got);
                assert_eq!(
                    (got["app"].as_str(), got["app_uid"].as_i64()),
                    (Some(app), Some(uid)),
                    "{name}: {got}"
                );
            } else {
                assert!(got.get("app").is_none(), "{name}: {got}");
            }
            // One device, the phone's address: no MACs in a tunnel capture.
            assert_eq!(got["device"], "10.215.173.1", "{name}: {got}");
            assert!(got.get("orig_mac").is_none(), "{name}: {got}");
        }
        // Captured bytes as the pipeline counts them: the fake header and trailer never count.
        assert_eq!(out.stats.packets.packets, raw_out.stats.packets.packets, "{name}");
        assert_eq!(out.stats.packets.bytes, raw_out.stats.packets.bytes, "{name}");
        assert_eq!(out.stats.packets.decode_errors.total(), 0, "{name}");
    }
}

/// `events.jsonl` as JSON values, with the app keys taken off when `strip`.
fn events(dir: &std::path::Path, strip: bool) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if strip {
                let m = v.as_object_mut().unwrap();
                for k in ["app", "app_uid", "apps"] {
                    m.remove(k);
                }
                // The device's app list and the per-app evidence lines exist only with apps.
                if let Some(ev) = m.get_mut("evidence").and_then(Value::as_array_mut) {
                    ev.retain(|e| !e.as_str().unwrap().starts_with("app="));
                }
            }
            v
        })
        .collect()
}

#[test]
fn pcapdroid_pcapng_names_apps_as_the_trailer_does() {
    // Every name of the sample fits the trailer's 20 bytes: both ways give the same outputs.
    let (_, d_trailer, trailer) = common::replay_to_temp(&[capture("phone-trailer.pcap")]);
    let (_, d_ng, ng) = common::replay_to_temp(&[capture("phone-apps.pcapng")]);
    assert_eq!(
        ng.iter().map(without_source).collect::<Vec<_>>(),
        trailer.iter().map(without_source).collect::<Vec<_>>()
    );
    assert_eq!(events(d_ng.path(), false), events(d_trailer.path(), false));
}

fn without_source(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("source");
    r
}

#[test]
fn sessions_activities_and_exposures_name_the_app() {
    let (_, d_raw, _) = common::replay_to_temp(&[capture("phone-raw.pcap")]);
    let (_, d_app, _) = common::replay_to_temp(&[capture("phone-trailer.pcap")]);
    let with = events(d_app.path(), false);
    // Apart from the app keys, the same events as without apps: same sessions, same activities.
    assert_eq!(events(d_app.path(), true), events(d_raw.path(), true));
    assert!(events(d_raw.path(), false).iter().all(|e| e.get("app").is_none()));
    let of = |kind: &str| with.iter().filter(move |e| e["kind"] == kind).collect::<Vec<_>>();
    let (sessions, activities) = (of("session"), of("activity"));
    assert!(!sessions.is_empty() && activities.len() >= 3, "{sessions:?} {activities:?}");
    // The sample's chat, media and call are WhatsApp's.
    for e in sessions.iter().chain(&activities) {
        assert_eq!(
            (e["app"].as_str(), e["app_uid"].as_i64()),
            (Some("com.whatsapp"), Some(10_123)),
            "{e}"
        );
    }
    let kinds: std::collections::BTreeSet<&str> =
        activities.iter().map(|a| a["activity"].as_str().unwrap()).collect();
    assert!(kinds.contains("message_burst") && kinds.contains("media_upload"), "{kinds:?}");
    let exposure = |field: &str| {
        of("exposure")
            .into_iter()
            .find(|e| e["field"] == field)
            .unwrap_or_else(|| panic!("{field}"))
    };
    let apps = |e: &Value| e["apps"].as_array().cloned().unwrap_or_default();
    // Usage: the WhatsApp app's sessions and activities; other Meta services: the Facebook app.
    assert_eq!(apps(exposure("usage")), [Value::from("com.whatsapp")], "{}", exposure("usage"));
    assert!(apps(exposure("meta_services")).contains(&Value::from("com.facebook.katana")));
    // The report says which app was used when.
    let report = leakscope::report::load(d_app.path()).unwrap();
    let text = leakscope::report::text::render(&report);
    let line = text.lines().find(|l| l.contains("app com.whatsapp: 1 session(s)")).expect(&text);
    assert!(line.ends_with("call 1, media_download 1, media_upload 1, message_burst 3"), "{line}");
    let html = leakscope::report::html::render(&report);
    assert!(html.contains("app com.whatsapp · whatsapp.media"), "activity rows name the app");
    let raw = leakscope::report::text::render(&leakscope::report::load(d_raw.path()).unwrap());
    assert!(!raw.contains("app com.whatsapp"), "{raw}");
}

/// Raw IPv4 TCP 10.215.173.1:`port` ↔ 157.240.27.54:5222 with `payload`.
fn chat_ip(up: bool, port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let (phone, server) =
        (("10.215.173.1".parse().unwrap(), port), ("157.240.27.54".parse().unwrap(), 5222));
    let (s, d) = if up { (phone, server) } else { (server, phone) };
    let flags = builders::Flags { syn: false, ack: false, fin: false, psh: true };
    builders::tcp(s, d, seq, 0, flags, payload)[14..].to_vec()
}

#[test]
fn two_apps_chatting_at_once_have_their_own_sessions() {
    // WhatsApp and WhatsApp Business, each a chat connection with a message exchange, ten
    // seconds apart: one device, two apps. Without apps that is one session of two bursts.
    let apps: [(i32, &[u8], u16, u64); 2] =
        [(10_123, b"com.whatsapp", 40_001, 0), (10_200, b"com.whatsapp.w4b", 40_002, 10)];
    let dir = tempfile::tempdir().unwrap();
    let mut named = builders::Pcap::ethernet();
    let mut bare = builders::Pcap::new(101, 262_144);
    let mut hello = vec![0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x20];
    hello.extend_from_slice(&[1; 32]);
    let t0 = 1_767_261_600_000_000u64;
    let mut frames = Vec::new();
    for (uid, name, port, at) in apps {
        let t = t0 + at * 1_000_000;
        for (dt, up, seq, payload) in [
            (0, true, 1, &hello[..]),
            (100_000, false, 1, &[0x55; 300][..]),
            (2_000_000, true, 100, &[0x66; 300][..]),
            (2_100_000, false, 400, &[0x77; 300][..]),
        ] {
            frames.push((t + dt, chat_ip(up, port, seq, payload), uid, name));
        }
    }
    frames.sort_by_key(|f| f.0);
    for (ts, ip, uid, name) in &frames {
        named.record(*ts, &fake_ethernet(ip, &trailer(0x0107_2021, *uid, name)));
        bare.record(*ts, ip);
    }
    let (p_named, p_bare) = (dir.path().join("named.pcap"), dir.path().join("bare.pcap"));
    named.write(&p_named);
    bare.write(&p_bare);
    let sessions = |p: &std::path::Path| {
        let (_, d, _) = common::replay_to_temp(&[p.to_path_buf()]);
        let ev = events(d.path(), false);
        ev.into_iter().filter(|e| e["kind"] == "session").collect::<Vec<_>>()
    };
    let one = sessions(&p_bare);
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!((one[0]["bursts"].as_u64(), one[0].get("app")), (Some(2), None));
    let two = sessions(&p_named);
    let got: Vec<(Option<&str>, Option<i64>, Option<u64>)> = two
        .iter()
        .map(|s| (s["app"].as_str(), s["app_uid"].as_i64(), s["bursts"].as_u64()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("com.whatsapp"), Some(10_123), Some(1)),
            (Some("com.whatsapp.w4b"), Some(10_200), Some(1))
        ]
    );
    // Together they cover the one session without apps.
    assert_eq!(two[0]["ts"], one[0]["ts"]);
    assert_eq!(two[1]["end"], one[0]["end"]);
}

#[test]
fn every_app_in_the_capture_is_named() {
    let (_, _d, flows) = common::replay_to_temp(&[capture("phone-trailer.pcap")]);
    let mut by_app: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &flows {
        *by_app.entry(r["app"].as_str().unwrap()).or_default() += 1;
    }
    let apps: Vec<_> = by_app.keys().copied().collect();
    assert_eq!(apps, ["com.facebook.katana", "com.whatsapp", "org.mozilla.firefox"]);
    let graph = flows.iter().find(|r| r["server_name"] == "graph.facebook.com").unwrap();
    assert_eq!(graph["app"], "com.facebook.katana");
    assert_eq!(graph["service"], "facebook");
}

/// IPv4 UDP 10.215.173.1:40000 → 157.240.27.54:443 with `payload`.
fn ip_packet(payload: &[u8]) -> Vec<u8> {
    let eth = builders::udp(
        ("10.215.173.1".parse().unwrap(), 40_000),
        ("157.240.27.54".parse().unwrap(), 443),
        payload,
    );
    eth[14..].to_vec()
}

fn trailer(magic: u32, uid: i32, name: &[u8]) -> Vec<u8> {
    let mut t = magic.to_be_bytes().to_vec();
    t.extend(uid.to_be_bytes());
    let mut n = [0u8; 20];
    n[..name.len()].copy_from_slice(name);
    t.extend(n);
    t.extend([0u8; 4]);
    t
}

fn fake_ethernet(ip: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f.extend(tail);
    f
}

#[test]
fn bad_trailers_are_never_apps() {
    let dir = tempfile::tempdir().unwrap();
    let ip = ip_packet(b"0123456789");
    let good = trailer(0x0107_2021, 10_123, b"com.whatsapp");
    let mut cap = builders::Pcap::ethernet();
    let frames: Vec<Vec<u8>> = vec![
        // Truncated trailers (a snaplen cut, a broken writer): trailing bytes, no app.
        fake_ethernet(&ip, &good[..31]),
        fake_ethernet(&ip, &good[..4]),
        // Wrong magic.
        fake_ethernet(&ip, &trailer(0x0107_2020, 10_123, b"com.whatsapp")),
        // Four bytes between packet and trailer: not PCAPdroid's layout.
        fake_ethernet(&ip, &[[0u8; 4].as_slice(), &good].concat()),
    ];
    for (i, f) in frames.iter().enumerate() {
        cap.record(1_000_000 + i as u64, f);
    }
    let path = dir.path().join("bad.pcap");
    cap.write(&path);
    let (out, _d, flows) = common::replay_to_temp(&[path]);
    assert_eq!(out.stats.packets.packets, 4);
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert!(flows[0].get("app").is_none(), "{}", flows[0]);
    assert_eq!(flows[0]["orig_pkts"], 4);
    // The IP length bounds the payload: trailing bytes are never payload.
    assert_eq!(flows[0]["orig_bytes"], 40);
}

#[test]
fn odd_uids_and_names_are_kept_printable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = builders::Pcap::ethernet();
    let cases: [(i32, &[u8]); 4] =
        [(i32::MIN, b"neg"), (i32::MAX, b"\xc3\x28bad\x1b[31m"), (-1, b""), (0, b"root")];
    for (i, (uid, name)) in cases.iter().enumerate() {
        let ip = {
            let eth = builders::udp(
                ("10.215.173.1".parse().unwrap(), 40_000 + i as u16),
                ("192.0.2.1".parse().unwrap(), 443),
                b"abcd",
            );
            eth[14..].to_vec()
        };
        // The IPv4 packet is 32 bytes: 14 + 32 needs 2 bytes of padding.
        let tail = [vec![0u8; 2], trailer(0x0107_2021, *uid, name)].concat();
        cap.record(1_000_000 + i as u64, &fake_ethernet(&ip, &tail));
    }
    let path = dir.path().join("odd.pcap");
    cap.write(&path);
    let (_, _d, flows) = common::replay_to_temp(&[path]);
    let got: Vec<(Option<&str>, Option<i64>)> =
        flows.iter().map(|r| (r["app"].as_str(), r["app_uid"].as_i64())).collect();
    assert_eq!(
        got,
        [
            (Some("neg"), None),
            (Some("\u{fffd}(bad\u{fffd}[31m"), Some(i64::from(i32::MAX))),
            (None, None),
            (Some("root"), Some(0)),
        ]
    );
}

mod udp_receiver {
    use std::net::SocketAddr;

    use leakscope::capture::pcapdroid_udp::{UdpConfig, UdpSource};
    use leakscope::capture::{Packet, PacketSink};

    #[derive(Default)]
    struct Count(u64);
    impl PacketSink for Count {
        fn packet(&mut self, _: &Packet<'_>) {
            self.0 += 1;
        }
    }

    fn header() -> Vec<u8> {
        let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        h.extend([0u8; 8]);
        h.extend(65_535u32.to_le_bytes());
        h.extend(101u32.to_le_bytes());
        h
    }

    fn record(secs: u32) -> Vec<u8> {
        let ip = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 215, 173, 1, 1, 1, 1, 1];
        let mut r = secs.to_le_bytes().to_vec();
        r.extend(0u32.to_le_bytes());
        r.extend(20u32.to_le_bytes());
        r.extend(20u32.to_le_bytes());
        r.extend(ip);
        r
    }

    fn source(max_senders: usize) -> UdpSource {
        let mut cfg = UdpConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.max_senders = max_senders;
        UdpSource::open(&cfg).unwrap()
    }

    #[test]
    fn many_senders_are_bounded_and_counted() {
        let mut src = source(4);
        let mut sink = Count::default();
        for i in 0..1000u32 {
            let from: SocketAddr =
                format!("192.168.{}.{}:5000", i / 250, i % 250 + 1).parse().unwrap();
            src.datagram(&header(), from, &mut sink);
            src.datagram(&record(i), from, &mut sink);
        }
        let s = src.stats();
        let u = s.udp.unwrap();
        assert_eq!((u.senders, u.headers, sink.0, s.delivered), (4, 4, 4, 4));
        assert_eq!(u.over_sender_limit, 2 * 996);
        assert_eq!(s.dropped, 2 * 996);
    }

    #[test]
    fn strangers_and_floods_are_counted_never_delivered() {
        let mut src = source(16);
        let mut sink = Count::default();
        let phone: SocketAddr = "10.0.0.5:40000".parse().unwrap();
        let stranger: SocketAddr = "8.8.8.8:40000".parse().unwrap();
        src.datagram(&header(), stranger, &mut sink);
        src.datagram(&record(1), stranger, &mut sink);
        // Before any header: dropped (garbage) or taken up as a stream (one whole record).
        src.datagram(b"garbage", phone, &mut sink);
        src.datagram(&record(1), phone, &mut sink);
        // A flood of cut records and impossible lengths.
        let cut = record(2);
        let mut huge = record(3);
        huge[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        for i in 0..100_000usize {
            let d: &[u8] = if i % 2 == 0 { &cut[..(i % 35) + 1] } else { &huge };
            src.datagram(d, phone, &mut sink);
        }
        // Older than the last record: counted, delivered.
        src.datagram(&record(0), phone, &mut sink);
        let s = src.stats();
        let u = s.udp.unwrap();
        assert_eq!((u.refused, u.no_header, u.resynced), (2, 1, 1));
        assert_eq!(u.malformed, 100_000);
        assert_eq!((u.out_of_order, sink.0), (1, 2));
        assert_eq!(u.senders, 1);
    }
}

#[test]
fn the_exposure_map_names_the_apps() {
    let (_, dir, _) = common::replay_to_temp(&[capture("phone-trailer.pcap")]);
    let devices = builders::events_of_kind(dir.path(), "device");
    assert_eq!(devices.len(), 1, "one device: the phone");
    let apps: Vec<(&str, i64, u64, Vec<&str>)> = devices[0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let services = a["services"]
                .as_array()
                .map_or_else(Vec::new, |s| s.iter().map(|x| x.as_str().unwrap()).collect());
            (
                a["app"].as_str().unwrap(),
                a["app_uid"].as_i64().unwrap(),
                a["meta_flows"].as_u64().unwrap(),
                services,
            )
        })
        .collect();
    assert_eq!(
        apps,
        [
            ("com.facebook.katana", 10_145, 1, vec!["facebook"]),
            ("com.whatsapp", 10_123, 5, vec!["whatsapp"]),
            ("org.mozilla.firefox", 10_160, 0, vec![]),
        ]
    );
    let exposures = builders::events_of_kind(dir.path(), "exposure");
    let cross = exposures.iter().find(|e| e["field"] == "cross_service").unwrap();
    let evidence: Vec<&str> =
        cross["evidence"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(evidence[..2], ["app=com.facebook.katana: facebook", "app=com.whatsapp: whatsapp"]);
    // Without the trailer: no apps anywhere.
    let (_, dir, _) = common::replay_to_temp(&[capture("phone-raw.pcap")]);
    let devices = builders::events_of_kind(dir.path(), "device");
    assert!(devices[0].get("apps").is_none(), "{}", devices[0]);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(!text.contains("app="), "app evidence without a trailer");
}

#[test]
fn device_name_makes_one_device() {
    let dir = tempfile::tempdir().unwrap();
    let input = capture("phone-trailer.pcap");
    let out = builders::replay_bin(dir.path(), &[&input], &["--device-name", "pixel-7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("flows.jsonl")).unwrap();
    let flows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(flows.len() >= 10 && flows.iter().all(|r| r["device"] == "pixel-7"));
    let devices = builders::events_of_kind(dir.path(), "device");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["device"], "pixel-7");
    assert_eq!(devices[0]["addresses"], serde_json::json!(["10.215.173.1"]));
}

#[test]
fn events_of_a_flow_carry_its_app() {
    let (_, dir, _) = common::replay_to_temp(&[capture("phone-trailer.pcap")]);
    let dns = builders::events_of_kind(dir.path(), "dns");
    assert_eq!(dns.len(), 5);
    for e in &dns {
        let want = match e["query"].as_str().unwrap() {
            "graph.facebook.com" => "com.facebook.katana",
            "www.example.org" => "org.mozilla.firefox",
            _ => "com.whatsapp",
        };
        assert_eq!(e["app"], want, "{e}");
    }
    let http = builders::events_of_kind(dir.path(), "http");
    assert!(!http.is_empty() && http.iter().all(|e| e["app"] == "com.whatsapp"), "{http:?}");
    let (_, dir, _) = common::replay_to_temp(&[capture("phone-raw.pcap")]);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(!text.contains("\"app\":"), "an app in events without a trailer");
}
