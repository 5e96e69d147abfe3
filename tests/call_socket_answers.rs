//! A call socket that answers (issue 11, item 2): the other party opens the direct media flow to
//! the device's call socket, learnt from its WhatsApp relay allocation, so the device is the
//! flow's responder. The flow is a WhatsApp call flow (`call_socket:` evidence on the device's
//! side) and its media makes the call answered, opened by the remote side.
//!
//! No shared capture has such a leg (every peer-to-peer leg in them, checked with tshark, is
//! opened by the device), so the capture is generated here: a relay allocation as seen in
//! `whatsapp_voice_and_message.pcap`, then the peer's ICE check and 3 s of RTP both ways.

mod builders;

use std::net::Ipv4Addr;

use builders::{Pcap, replay_bin, udp, udp_macs, unhex};
use serde_json::Value;

const DEV: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 168, 1, 20), 40000);
const RELAY: (Ipv4Addr, u16) = (Ipv4Addr::new(157, 240, 1, 1), 3478);
const PEER: (Ipv4Addr, u16) = (Ipv4Addr::new(203, 0, 113, 9), 50000);
const T0: u64 = 1_700_000_000_000_000;

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x6f];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&[0x5a; 100]);
    p
}

#[test]
fn peer_opened_media_flow_is_a_call_flow() {
    let mut relay_req = unhex("0800006a2112a4420000d160e0ec785eac996a6d40000066");
    relay_req.extend_from_slice(&[0xab; 102]);
    let txid = unhex("0102030405060708090a0b0c");
    let mut bind_req = unhex("000100002112a442");
    bind_req.extend_from_slice(&txid);
    let mut bind_ok = unhex("010100002112a442");
    bind_ok.extend_from_slice(&txid);

    let mut pcap = Pcap::ethernet();
    pcap.record(T0, &udp(DEV, RELAY, &relay_req));
    let from_peer = |p: &[u8]| udp_macs(builders::GW_MAC, builders::DEV_MAC, PEER, DEV, p);
    pcap.record(T0 + 1_000_000, &from_peer(&bind_req));
    pcap.record(T0 + 1_010_000, &udp(DEV, PEER, &bind_ok));
    // 3 s of voice, 50 packets a second each way.
    for i in 0..150u16 {
        let t = T0 + 1_100_000 + u64::from(i) * 20_000;
        pcap.record(t, &from_peer(&rtp(i)));
        pcap.record(t + 5_000, &udp(DEV, PEER, &rtp(i)));
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("answering.pcap");
    pcap.write(&input);
    let out = dir.path().join("out");
    let run = replay_bin(&out, &[&input], &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let lines = |f: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let flows = lines("flows.jsonl");
    let leg = flows.iter().find(|f| f["orig_h"] == PEER.0.to_string()).expect("the peer's flow");
    assert_eq!(leg["endpoint"], "whatsapp.calls", "{leg}");
    let ev: Vec<&str> =
        leg["evidence"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(ev.contains(&"call_socket:192.168.1.20:40000"), "{leg}");

    let events = lines("events.jsonl");
    let calls: Vec<&Value> =
        events.iter().filter(|e| e["kind"] == "activity" && e["activity"] == "call").collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = calls[0];
    assert_eq!(call["opened_by"], "remote", "{call}");
    assert_eq!(call["uids"].as_array().unwrap().len(), 2, "relay and peer flows: {call}");
    assert!((call["talk_secs"].as_f64().unwrap() - 3.0).abs() < 0.2, "{call}");
    assert!((call["ringing_secs"].as_f64().unwrap() - 1.1).abs() < 0.2, "{call}");
    assert_eq!(call["media"], "audio");
    // Both directions at ~50 packets of 112 bytes a second: ~90 kbit/s.
    assert!((60.0..120.0).contains(&call["bitrate_kbps"].as_f64().unwrap()), "{call}");
}
