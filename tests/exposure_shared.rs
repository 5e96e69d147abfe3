//! The exposure map on real captures (nDPI's test set): calls, call attempts, media items.

mod common;

use std::path::Path;

use serde_json::Value;

fn events(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn activities<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == "activity" && e["activity"] == kind).collect()
}

/// First and last packet time of the call flows (STUN/RTP to WhatsApp) in `flows.jsonl`.
fn call_span(flows: &[Value]) -> (f64, f64) {
    let calls: Vec<&Value> = flows
        .iter()
        .filter(|f| {
            f["service"] == "whatsapp" && matches!(f["app_proto"].as_str(), Some("stun" | "rtp"))
        })
        .collect();
    assert!(!calls.is_empty(), "no STUN/RTP flows");
    let start = calls.iter().map(|f| f["ts"].as_f64().unwrap()).fold(f64::MAX, f64::min);
    let end = calls
        .iter()
        .map(|f| f["ts"].as_f64().unwrap() + f["duration"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    (start, end)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// A declined call (2015): relays allocated on 8 servers, no media anywhere, torn down after
/// ~65 s. It is a `call_attempt` whose ringing time spans setup to teardown, never a `call`.
#[test]
fn unanswered_call_is_an_attempt_not_a_call() {
    let Some(shared) = common::shared_captures("unanswered_call") else { return };
    let file = shared.join("ndpi/meta/pcap/whatsapp_voice_and_message.pcap");
    let (_, dir, flows) = common::replay_to_temp(&[file]);
    let ev = events(dir.path());
    assert!(activities(&ev, "call").is_empty(), "{:?}", activities(&ev, "call"));
    let tries = activities(&ev, "call_attempt");
    assert_eq!(tries.len(), 1, "{tries:?}");
    let (start, end) = call_span(&flows);
    let a = tries[0];
    assert!((f(&a["setup"]) - start).abs() < 1e-3 && (f(&a["end"]) - end).abs() < 1e-3, "{a}");
    assert!((f(&a["ringing_secs"]) - (end - start)).abs() < 1e-3, "{a}");
    assert!(a["uids"].as_array().unwrap().len() >= 8, "relay flows merge: {a}");
}

/// A video call (2019): relays allocated at 5.3 s, a bandwidth probe, ringing, the answer at
/// 14.8 s (relay media, later peer-to-peer from the same socket), hang-up at 27.8 s.
#[test]
fn video_call_starts_at_the_answer() {
    let Some(shared) = common::shared_captures("video_call") else { return };
    let (_, dir, flows) = common::replay_to_temp(&[shared.join("ndpi/meta/pcap/wa_video.pcap")]);
    let ev = events(dir.path());
    let calls = activities(&ev, "call");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = calls[0];
    let (start, end) = call_span(&flows);
    assert_eq!(call["media"], "video", "{call}");
    assert!((f(&call["setup"]) - start).abs() < 1e-3, "{call}");
    assert!((f(&call["end"]) - end).abs() < 1e-3, "{call}");
    // Answer 9.5 s after the setup (the probe before ringing is not media); 13 s of talk.
    assert!((f(&call["ringing_secs"]) - 9.5).abs() < 1.0, "{call}");
    assert!((f(&call["talk_secs"]) - 13.0).abs() < 1.0, "{call}");
    assert_eq!(call["duration"], call["talk_secs"]);
    assert_eq!(call["opened_by"], "device");
    // The relayed media and the later peer-to-peer media (call_socket) are one call.
    assert!(call["bytes_up"].as_u64().unwrap() > 250_000, "{call}");
    assert!(activities(&ev, "call_attempt").is_empty());
}

/// Two uploads on one connection (159 kB, then 15 kB 17 s later) and one download: each item
/// on its own, with bytes no larger than its flow's.
#[test]
fn media_items_each_one() {
    let Some(shared) = common::shared_captures("media_transfers") else { return };
    let (_, dir, flows) =
        common::replay_to_temp(&[shared.join("ndpi/meta/pcap/whatsappfiles.pcap")]);
    let ev = events(dir.path());
    let media: Vec<&Value> = flows.iter().filter(|f| f["endpoint"] == "whatsapp.media").collect();
    assert_eq!(media.len(), 2);
    let up = activities(&ev, "media_upload");
    let down = activities(&ev, "media_download");
    assert_eq!((up.len(), down.len()), (2, 1), "{up:?} {down:?}");
    let flow_of = |a: &Value| {
        let uid = &a["uids"][0];
        *media.iter().find(|f| f["uid"] == *uid).expect("flow of the activity")
    };
    assert_eq!(flow_of(up[0])["uid"], flow_of(up[1])["uid"], "one connection");
    let sent: u64 = up.iter().map(|a| a["bytes_up"].as_u64().unwrap()).sum();
    let flow_up = flow_of(up[0])["orig_bytes"].as_u64().unwrap();
    assert!(sent <= flow_up && sent * 10 >= flow_up * 9, "{sent} of {flow_up}");
    assert!((f(&up[1]["ts"]) - f(&up[0]["end"])) > 10.0, "an idle gap splits the items");
    let got = down[0]["bytes_down"].as_u64().unwrap();
    let flow_down = flow_of(down[0])["resp_bytes"].as_u64().unwrap();
    assert!(got <= flow_down && got * 10 >= flow_down * 9, "{got} of {flow_down}");
    for a in up.iter().chain(&down) {
        assert_eq!(
            a["direction"],
            if a["activity"] == "media_upload" { "sent" } else { "received" }
        );
    }
}
