//! Link + IP + transport decode, for every supported link type, and the tunnelled inner packet.
//! First byte picks the link type; the rest is the frame.
#![no_main]

use leakscope::capture::{LinkType, Packet, Timestamp};
use leakscope::decode;
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [LinkType; 10] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let linktype = LINKTYPES[usize::from(sel) % LINKTYPES.len()];
    let pkt = Packet { ts: Timestamp(0), linktype, data: frame, wire_len: frame.len() as u32 };
    let mut d = decode::decode(&pkt);
    // Follow tunnels as the pipeline does (bounded).
    for _ in 0..4 {
        let Ok(outer) = d else { return };
        let Some(t) = outer.tunnel else { return };
        d = decode::decode_inner(&t);
    }
});
