//! One test per crash found by fuzzing (see FUZZING.md): the input that crashed, replayed through
//! the same entry point. Inputs are hex of the fuzzer's artifact (first byte: the decode target's
//! link-type selector, where it applies).

mod builders;

use builders::unhex;
use leakscope::capture::{LinkType, Packet, PacketSink, Timestamp};
use leakscope::decode;
use leakscope::pipeline::Pipeline;

/// Decodes a frame and follows its tunnels, as `fuzz_targets/decode.rs` and the pipeline do.
fn decode_deep(linktype: LinkType, frame: &[u8]) {
    let pkt = Packet { ts: Timestamp(0), linktype, data: frame, wire_len: frame.len() as u32 };
    let mut d = decode::decode(&pkt);
    for _ in 0..4 {
        let Ok(outer) = d else { return };
        let Some(t) = outer.tunnel else { return };
        d = decode::decode_inner(&t);
    }
}

/// fuzz/decode crash-bc3ee85d: Ethernet / IPv4 / 6in4 / IPv6 whose extension chain is cut short.
/// etherparse 0.21's extension-header iterator read past the data (an unchecked slice: an
/// `unsafe` precondition abort in debug builds, an out-of-bounds read in release). Fixed by
/// walking the chain ourselves (`decode::ip::ipv6_fragment`).
#[test]
fn ipv6_in_ipv4_with_truncated_extension_chain() {
    let input = unhex(
        "01000024ce8134002290de3bd908004500007cc6594000f8 290d5fb869ff1aae0149186001ffff5e0000fc001c428e70 3108004500003251c100000100000000403a1153372604a8 800600000000000000000100200000004d",
    );
    let frame = &input[1..];
    decode_deep(LinkType::ETHERNET, frame);
    // And through the whole pipeline.
    let mut p = Pipeline::discarding(Default::default());
    p.packet(&Packet { ts: Timestamp(0), linktype: LinkType::ETHERNET, data: frame, wire_len: 0 });
    p.finish().expect("finish");
}

// ---- Issue 12 (hardening II): one test per item, each failing on the code before its fix. ----

/// Issue 12 item 15: a live flow cost ~880 B at 1 M flows. The inline part of a flow was 400 B
/// (168 of them an `AppInfo` most flows never fill); the index kept a second copy of every key.
/// `tests/flood.rs` measures the whole (RSS, < 512 B per flow); this pins the inline part.
#[test]
fn issue12_15_flow_inline_size() {
    let size = std::mem::size_of::<leakscope::flow::Flow<leakscope::pipeline::FlowData>>();
    assert!(size <= 256, "a live flow's inline state is {size} B");
}

/// Issue 12 item 14: DHCP was read only in a UDP flow's first 8 datagrams, and every phone's
/// DISCOVER shares one flow (0.0.0.0:68 → 255.255.255.255:67): of 12 phones joining 5 s apart,
/// 8 were named. Now every datagram of a DHCP flow is read.
#[test]
fn issue12_14_dhcp_read_on_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = builders::Pcap::ethernet();
    for i in 0..12u8 {
        let mac = [0x02, 0, 0, 0, 0x10, i];
        let name = format!("phone-{i:02}");
        let t = 1_700_000_000_000_000 + u64::from(i) * 5_000_000;
        cap.record(t, &builders::dhcp_discover_frame(mac, 0x1000 + u32::from(i), name.as_bytes()));
    }
    let pcap = dir.path().join("join.pcap");
    cap.write(&pcap);
    let out = dir.path().join("out");
    let run = builders::replay_bin(&out, &[&pcap], &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let flows = std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
    assert_eq!(flows.lines().count(), 1, "one shared flow");
    let mut names: Vec<String> = builders::events_of_kind(&out, "device")
        .iter()
        .filter_map(|d| d["hostname"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    let want: Vec<String> = (0..12).map(|i| format!("phone-{i:02}")).collect();
    assert_eq!(names, want);
    assert_eq!(builders::events_of_kind(&out, "dhcp").len(), 12);
}

/// Issue 12 item 3: devices were unbounded (100 000 MACs: ~470 MB whatever `--max-flows`).
/// Now at most `--max-devices` are held; the least recently seen are written and forgotten,
/// counted, and every device still gets its `device` event.
#[test]
fn issue12_3_devices_are_capped() {
    use std::net::Ipv4Addr;
    let dir = tempfile::tempdir().unwrap();
    let mut cap = builders::Pcap::ethernet();
    let n = 3000u32;
    for i in 0..n {
        let b = i.to_be_bytes();
        let mac = [0x02, 0, 0, b[1], b[2], b[3]];
        let src = (Ipv4Addr::new(10, 1, b[2], b[3]), 40000);
        let frame = builders::udp_macs(
            mac,
            builders::GW_MAC,
            src,
            (Ipv4Addr::new(157, 240, 1, 35), 443),
            b"x",
        );
        cap.record(1_700_000_000_000_000 + u64::from(i) * 1000, &frame);
    }
    let pcap = dir.path().join("macs.pcap");
    cap.write(&pcap);
    let out = dir.path().join("out");
    let run = builders::replay_bin(&out, &[&pcap], &["--max-devices", "100"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let devices = builders::events_of_kind(&out, "device");
    let mut ids: Vec<&str> = devices.iter().filter_map(|d| d["device"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((devices.len(), ids.len()), (n as usize, n as usize), "each device written once");
    let evicted: u64 = stderr
        .split("devices: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no eviction count in {stderr}"));
    assert!((u64::from(n) - 100..u64::from(n)).contains(&evicted), "{evicted} evicted");
}

/// Markup and terminal escapes put into every string of a real events file (the bundled
/// exposure-day capture's), `media` and host names included.
fn crafted_events(dir: &std::path::Path) -> std::path::PathBuf {
    const EVIL: &str =
        "<img src=x onerror=alert(1)>\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\nforged line";
    fn poison(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => s.push_str(EVIL),
            serde_json::Value::Array(a) => a.iter_mut().for_each(poison),
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    // Kinds of activity stay valid, so that each is drawn with its fields.
                    if !matches!(k.as_str(), "kind" | "addresses" | "activity") {
                        poison(x);
                    }
                }
            }
            _ => {}
        }
    }
    let pcap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/exposure-day.pcap");
    let out = dir.join("day");
    let run = builders::replay_bin(&out, &[&pcap], &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut text = String::new();
    for line in std::fs::read_to_string(out.join("events.jsonl")).unwrap().lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["kind"].as_str() {
            Some("activity") => v["media"] = "video".into(),
            Some("device") => {
                v["hostname"] = "alices-iphone".into();
                v["vendor_class"] = "android-dhcp-14".into();
                v["user_agents"] = serde_json::json!(["WhatsApp/2.24"]);
            }
            _ => {}
        }
        poison(&mut v);
        // The kind first, as leakscope writes it (the loader skips other lines unparsed).
        let kind = v.as_object_mut().unwrap().remove("kind").unwrap();
        let rest = v.to_string();
        text.push_str(&format!("{{\"kind\":{kind},{}\n", &rest[1..]));
    }
    let path = dir.join("crafted.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

/// Issue 12 item 6: `leakscope report` printed DHCP host names, vendor classes and User-Agents
/// raw: an ESC sequence in one cleared the screen or set the window title. Every control
/// character is now escaped, and no value can add a line.
#[test]
fn issue12_6_report_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let events = crafted_events(dir.path());
    let run =
        std::process::Command::new(builders::bin()).arg("report").arg(&events).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.contains("alices-iphone"), "{text}");
    assert!(text.contains("\\x1b]0;owned\\x07"), "escaped visibly: {text}");
    let bad: Vec<char> = text.chars().filter(|&c| c.is_control() && c != '\n').collect();
    assert!(bad.is_empty(), "control characters reach the terminal: {bad:?}");
    assert!(!text.lines().any(|l| l.starts_with("forged line")), "a value added a line");
}

/// Issue 12 item 7: values read back from events.jsonl (`media` among them) reached the HTML
/// report unescaped. Every value is now escaped, whatever its field.
#[test]
fn issue12_7_html_report_escapes_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let events = crafted_events(dir.path());
    let page = dir.path().join("r.html");
    let run = std::process::Command::new(builders::bin())
        .arg("report")
        .arg(&events)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("alices-iphone"));
    assert!(html.contains("video&lt;img src=x onerror=alert(1)&gt;"), "media shown, escaped");
    assert!(!html.contains("<img"), "markup from the events file reached the page");
    assert!(!html.contains("&amp;lt;"), "escaped twice");
}

/// Issue 12 item 11, without root: a replay whose stderr pipe is closed panicked (exit 101) on
/// its summary line. Messages now go through a writer that drops what cannot be written.
#[test]
fn issue12_11_closed_stderr_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/exposure-day.pcap");
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(builders::bin())
        .args(["replay", "-q", "-o"])
        .arg(&out)
        .arg(&pcap)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // nobody reads stderr any more
    let st = child.wait().unwrap();
    assert!(st.success(), "replay exit {st}");
    assert!(std::fs::read_to_string(out.join("flows.jsonl")).unwrap().lines().count() > 0);
}

/// Issue 12 item 8: `--anonymize` kept an SNI/Host that is a device's address literal, device
/// names under suffixes outside a fixed list (`.fritz.box`, `.router`, `.station`), and the OUI
/// vendor name. Names are now judged by what they are: a DHCP host name's names, names DNS
/// answered with a device address, address literals; the vendor goes without
/// `--anonymize-keep-oui`.
#[test]
fn issue12_8_anonymize_device_names_literals_and_vendor() {
    use builders::{Flags, GW_MAC};
    use std::net::Ipv4Addr;
    let phone = Ipv4Addr::new(192, 168, 178, 23);
    let router = Ipv4Addr::new(192, 168, 178, 1);
    let mac = [0x3c, 0x22, 0xfb, 0x12, 0x34, 0x56]; // an Apple OUI
    let mut cap = builders::Pcap::ethernet();
    let t0 = 1_700_000_000_000_000u64;
    cap.record(t0, &builders::dhcp_discover_frame(mac, 7, b"alices-iphone"));
    let answers = [
        ("alices-iphone.fritz.box", None),
        ("alices-iphone.router", None),
        ("nas.station", Some(Ipv4Addr::new(192, 168, 178, 10))),
    ];
    for (i, (name, addr)) in answers.into_iter().enumerate() {
        let resp = builders::dns_response(i as u16, name, addr);
        let frame = builders::udp_macs(GW_MAC, mac, (router, 53), (phone, 40000 + i as u16), &resp);
        cap.record(t0 + 1_000_000 + i as u64 * 1000, &frame);
    }
    let get = b"GET / HTTP/1.1\r\nHost: 192.168.178.1:8080\r\nUser-Agent: x\r\n\r\n";
    builders::tcp_session(&mut cap, t0 + 2_000_000, (phone, 41000), (router, 8080), &[get], &[]);
    let hello = builders::tcp(
        (phone, 42000),
        (Ipv4Addr::new(157, 240, 1, 35), 443),
        1,
        0,
        Flags { syn: true, ..Default::default() },
        b"",
    );
    cap.record(t0 + 3_000_000, &hello);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("names.pcap");
    cap.write(&pcap);

    let plain = dir.path().join("plain");
    assert!(builders::replay_bin(&plain, &[&pcap], &[]).status.success());
    let plain_text = std::fs::read_to_string(plain.join("events.jsonl")).unwrap()
        + &std::fs::read_to_string(plain.join("flows.jsonl")).unwrap();
    let secrets =
        ["alices-iphone", "nas.station", "192.168.178.1:8080", "192.168.178.23", "3c:22:fb"];
    for s in secrets {
        assert!(plain_text.contains(s), "the capture shows {s} without --anonymize");
    }

    let out = dir.path().join("anon");
    let run = builders::replay_bin(&out, &[&pcap], &["--anonymize", "k"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(out.join("events.jsonl")).unwrap()
        + &std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
    for s in secrets {
        assert!(!text.to_ascii_lowercase().contains(s), "{s} left in:\n{text}");
    }
    assert!(text.contains("157.240.1.35"), "server addresses stay");
    for d in builders::events_of_kind(&out, "device") {
        assert!(d.get("oui_vendor").is_none(), "vendor kept without --anonymize-keep-oui: {d}");
    }
}
