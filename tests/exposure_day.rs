//! The exposure map of the generated `captures/exposure-day.pcap` (see its entry in
//! `captures/README.md` and `examples/make-captures/exposure_day.rs`): exact sessions,
//! activities, device attributes and policy-field exposures.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

/// 2026-01-01T10:00:00Z.
const T0: f64 = 1_767_261_600.0;
const PHONE: &str = "00:1a:11:00:00:0a";
const LAPTOP: &str = "02:00:00:00:00:0b";

struct Out {
    flows: Vec<Value>,
    events: Vec<Value>,
}

fn replay() -> Out {
    let path = common::root().join("captures/exposure-day.pcap");
    let (_, dir, flows) = common::replay_to_temp(&[path]);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let events = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Out { flows, events }
}

impl Out {
    fn of(&self, kind: &str, device: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["kind"] == kind && e["device"] == device).collect()
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn flows_carry_their_device() {
    let out = replay();
    for r in &out.flows {
        let want = match r["orig_h"].as_str().unwrap() {
            "10.42.0.23" | "fe80::21a:11ff:fe00:a" => PHONE,
            "10.42.0.88" => LAPTOP,
            "10.42.0.1" => "02:00:00:00:00:fe",
            "0.0.0.0" => r["orig_mac"].as_str().unwrap(),
            other => panic!("unexpected originator {other}"),
        };
        assert_eq!(r["device"], want, "{r}");
    }
}

#[test]
fn sessions_are_the_chat_bursts_split_by_five_quiet_minutes() {
    let out = replay();
    let sessions = out.of("session", PHONE);
    // (start, last burst start, bursts), seconds after 10:00:00.
    let want = [(35.0, 90.0, 2), (480.0, 480.0, 1), (3620.0, 3870.0, 3), (7520.0, 7740.0, 2)];
    assert_eq!(sessions.len(), want.len(), "{sessions:?}");
    for (i, (s, (start, last, bursts))) in sessions.iter().zip(want).enumerate() {
        assert_eq!(s["session"], format!("S{}", i + 1));
        assert!((f(&s["ts"]) - (T0 + start)).abs() < 1e-3, "{s}");
        // A burst is 3 frames up and 5 down with their ACKs: well under a second.
        let end = f(&s["end"]) - (T0 + last);
        assert!((0.0..1.0).contains(&end), "{s}");
        assert_eq!(s["bursts"], bursts);
        assert!((f(&s["duration"]) - (f(&s["end"]) - f(&s["ts"]))).abs() < 1e-5);
    }
    assert!(out.of("session", LAPTOP).is_empty());
    let bursts = out
        .of("activity", PHONE)
        .into_iter()
        .filter(|a| a["activity"] == "message_burst")
        .map(|a| (f(&a["ts"]) - T0).round() as i64)
        .collect::<Vec<_>>();
    assert_eq!(bursts, [35, 90, 480, 3620, 3720, 3870, 7520, 7740]);
}

#[test]
fn activities_of_the_phone() {
    let out = replay();
    let mut by_kind: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for a in out.of("activity", PHONE) {
        by_kind.entry(a["activity"].as_str().unwrap().to_owned()).or_default().push(a);
    }
    let counts: BTreeMap<&str, usize> =
        by_kind.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    let want = [
        ("call", 2),
        ("media_download", 1),
        ("media_upload", 1),
        ("message_burst", 8),
        ("registration", 1),
        ("telemetry", 1),
    ];
    assert_eq!(counts, want.into_iter().collect());
    let flow = |uid: &Value| out.flows.iter().find(|r| r["uid"] == *uid).unwrap();
    let up = by_kind["media_upload"][0];
    assert_eq!(up["bytes_up"], flow(&up["uids"][0])["orig_bytes"]);
    assert!((f(&up["ts"]) - (T0 + 95.0)).abs() < 1.0 && up["bytes_up"].as_u64().unwrap() > 200_000);
    let down = by_kind["media_download"][0];
    assert_eq!(down["bytes_down"], flow(&down["uids"][0])["resp_bytes"]);
    assert!((f(&down["ts"]) - (T0 + 3725.0)).abs() < 1.0);
    assert_eq!(by_kind["registration"][0]["endpoint"], "whatsapp.registration");
    assert_eq!(by_kind["telemetry"][0]["endpoint"], "whatsapp.telemetry");

    let calls = &by_kind["call"];
    // Voice: relay STUN + 40 s RTP, then 20 s straight to the peer from the same socket.
    let voice = calls[0];
    assert_eq!(voice["media"], "audio");
    assert_eq!(voice["uids"].as_array().unwrap().len(), 2, "relay and peer flows merge");
    assert!((f(&voice["ts"]) - (T0 + 5400.0)).abs() < 1e-3);
    assert!((f(&voice["duration"]) - 60.3).abs() < 0.5, "{voice}");
    let kbps = f(&voice["bitrate_kbps"]);
    assert!((40.0..120.0).contains(&kbps), "{voice}");
    let video = calls[1];
    assert_eq!(video["media"], "video");
    assert!((f(&video["ts"]) - (T0 + 6600.0)).abs() < 1e-3);
    assert!((f(&video["duration"]) - 6.2).abs() < 0.5, "{video}");
}

#[test]
fn devices_describe_themselves() {
    let out = replay();
    let phone = out.of("device", PHONE);
    let p = phone[0];
    assert_eq!(p["addresses"], serde_json::json!(["10.42.0.23", "fe80::21a:11ff:fe00:a"]));
    assert_eq!(
        (p["hostname"].as_str(), p["vendor_class"].as_str()),
        (Some("galaxy-s23"), Some("android-dhcp-14"))
    );
    assert_eq!(
        p["parameter_request_list"],
        serde_json::json!([1, 3, 6, 15, 26, 28, 51, 58, 59, 43])
    );
    assert_eq!(f(&p["first_seen"]), T0);
    assert!((f(&p["last_seen"]) - (T0 + 7920.0)).abs() < 1.0);
    if std::path::Path::new("/usr/share/ieee-data/oui.txt").is_file() {
        assert_eq!(p["oui_vendor"], "Google, Inc.");
    } else {
        eprintln!("no ieee-data: OUI vendor not checked");
    }
    assert_eq!(p["meta_flows"], 12);
    let services: Vec<&str> =
        p["services"].as_array().unwrap().iter().map(|s| s["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["facebook", "whatsapp"]);
    let hours: Vec<i64> =
        p["hours"].as_array().unwrap().iter().map(|h| h["hour"].as_i64().unwrap()).collect();
    assert_eq!(hours, [T0 as i64, T0 as i64 + 3600, T0 as i64 + 7200]);
    let s = &p["sessions"];
    assert_eq!(s["count"], 4);
    assert_eq!(s["by_hour"][10], 2);
    assert_eq!(s["by_hour"][11], 1);
    assert_eq!(s["by_hour"][12], 1);
    assert_eq!(p["user_agents"], serde_json::json!(["WhatsApp/2.25.36.73 A"]));
    let l = out.of("device", LAPTOP)[0];
    assert_eq!(l["hostname"], "thinkpad-x1");
    assert_eq!(l["oui_vendor"], "locally administered (randomised)");
    assert_eq!(l["meta_flows"], 1);
}

#[test]
fn policy_fields_per_device() {
    let out = replay();
    let status = |device: &str| -> BTreeMap<String, String> {
        out.of("exposure", device)
            .iter()
            .map(|e| {
                (e["field"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let mut want_phone = vec![
        ("phone_number", "not_observable"),
        ("account_info", "not_observable"),
        ("usage", "inferred"),
        ("interactions", "inferred"),
        ("device_identifiers", "observed"),
        ("operating_system", "observed"),
        ("app_version", "observed"),
        ("device_details", "observed"),
        ("ip_address", "observed"),
        ("mobile_network", "not_seen"),
        ("transaction_payment", "not_observable"),
        ("cookies", "observed"),
        ("location", "inferred"),
        ("cross_service", "observed"),
    ];
    want_phone.push(("meta_services", "observed"));
    let got = status(PHONE);
    assert_eq!(got, want_phone.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect());
    let laptop = status(LAPTOP);
    // Facebook without WhatsApp: no WhatsApp policy map, its own line.
    assert_eq!(laptop.keys().collect::<Vec<_>>(), ["meta_services"]);
    assert_eq!(laptop["meta_services"], "observed");

    let phone = out.of("exposure", PHONE);
    let field = |id: &str| *phone.iter().find(|e| e["field"] == id).unwrap();
    let ev = |id: &str| -> Vec<String> {
        field(id)["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ev("cookies"), ["http_cookie=datr", "http_cookie=wa_lang_pref"]);
    assert_eq!(ev("app_version"), ["ua_app_version=2.25.36.73", "protocol_version=6.3 (related)"]);
    assert_eq!(field("app_version")["value"], "2.25.36.73");
    assert_eq!(ev("device_identifiers"), ["id_cookie=datr"], "wa_lang_pref identifies nobody");
    assert!(ev("device_details").contains(&"lang_cookie=wa_lang_pref".to_owned()));
    assert_eq!(field("operating_system")["value"], "Android", "the User-Agent names it");
    assert!(ev("device_details").contains(&"dhcp_hostname=galaxy-s23 (lan)".to_owned()));
    // The datr cookie rides on a WhatsApp flow: the link is carried, not only address and time.
    assert_eq!(
        ev("cross_service"),
        ["id_cookie=datr", "endpoint:facebook.graph=graph.facebook.com"]
    );
    // The hotspot's public address, as Meta's STUN relays reported it (not the peer's leg).
    assert_eq!(field("ip_address")["value"], "198.51.100.23");
    assert_eq!(ev("ip_address"), ["public_address=198.51.100.23", "meta_flow x11"]);
    // TEST-NET addresses have no country: unknown, never the server's.
    assert!(field("location")["value"].as_str().unwrap().starts_with("unknown ("));
    assert!(ev("location").iter().all(|e| !e.contains("192.168.")));
    assert_eq!(field("phone_number")["count"], 1, "the registration contact is listed");
    assert_eq!(field("phone_number")["status"], "not_observable", "a contact is no number");
    let other = field("meta_services");
    assert_eq!(
        (other["status"].as_str(), other["value"].as_str()),
        (Some("observed"), Some("facebook.graph"))
    );
    assert_eq!(field("usage")["count"], 5, "4 sessions and 1 telemetry upload");
    assert_eq!(field("interactions")["count"], 12, "8 bursts, 2 media, 2 calls");
    assert_eq!(
        field("ip_address")["count"],
        11 + 2,
        "every WhatsApp flow, 2 answers of Meta's STUN servers"
    );
}

#[test]
fn no_payload_in_any_output() {
    let path = common::root().join("captures/exposure-day.pcap");
    let (_, dir, _) = common::replay_to_temp(&[path]);
    for file in ["flows.jsonl", "events.jsonl"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        // The cookie value and the URL query of the cleartext request never appear.
        assert!(!text.contains("datr="), "{file} has a cookie value");
        assert!(!text.contains("?oh=") && !text.contains("/v/t62/"), "{file} has a URL");
    }
}
