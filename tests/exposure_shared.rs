//! The exposure map on real captures (nDPI's test set): calls, media transfers.

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

fn one_call(file: &str, test: &str) -> Option<(Value, (f64, f64))> {
    let shared = common::shared_captures(test)?;
    let (_, dir, flows) = common::replay_to_temp(&[shared.join("ndpi/meta/pcap").join(file)]);
    let ev = events(dir.path());
    let calls = activities(&ev, "call");
    assert_eq!(calls.len(), 1, "{file}: calls {calls:?}");
    Some((calls[0].clone(), call_span(&flows)))
}

fn assert_span(call: &Value, (start, end): (f64, f64)) {
    let (ts, dur) = (call["ts"].as_f64().unwrap(), call["duration"].as_f64().unwrap());
    assert!((ts - start).abs() <= 1.0, "call starts {ts}, flows {start}");
    assert!((dur - (end - start)).abs() <= 1.0, "call lasts {dur}, flows span {}", end - start);
}

#[test]
fn voice_call_is_one_call_activity() {
    let Some((call, span)) = one_call("whatsapp_voice_and_message.pcap", "voice_call") else {
        return;
    };
    assert_span(&call, span);
    assert_eq!(call["media"], "audio");
    assert!(call["uids"].as_array().unwrap().len() >= 8, "relay flows merge: {call}");
}

#[test]
fn video_call_is_one_video_call_activity() {
    let Some((call, span)) = one_call("wa_video.pcap", "video_call") else { return };
    assert_span(&call, span);
    assert_eq!(call["media"], "video", "{call}");
    // The relayed media and the later peer-to-peer media (call_socket) are one call.
    assert!(call["bytes_up"].as_u64().unwrap() > 250_000, "{call}");
}

#[test]
fn media_transfers_carry_their_byte_counts() {
    let Some(shared) = common::shared_captures("media_transfers") else { return };
    let (_, dir, flows) =
        common::replay_to_temp(&[shared.join("ndpi/meta/pcap/whatsappfiles.pcap")]);
    let ev = events(dir.path());
    let media: Vec<&Value> = flows.iter().filter(|f| f["endpoint"] == "whatsapp.media").collect();
    assert_eq!(media.len(), 2);
    let up = activities(&ev, "media_upload");
    let down = activities(&ev, "media_download");
    assert_eq!((up.len(), down.len()), (1, 1), "{up:?} {down:?}");
    let by_uid = |a: &Value| {
        let uid = &a["uids"][0];
        *media.iter().find(|f| f["uid"] == *uid).expect("flow of the activity")
    };
    assert_eq!(up[0]["bytes_up"], by_uid(up[0])["orig_bytes"]);
    assert_eq!(down[0]["bytes_down"], by_uid(down[0])["resp_bytes"]);
    assert_eq!(up[0]["bytes_up"], 178_544);
    assert_eq!(down[0]["bytes_down"], 225_649);
}
