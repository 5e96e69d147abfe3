//! The whole pipeline after the capture: decode → flow table → dissectors → classifier, fed a
//! sequence of packets. Input: records of `[linktype selector][len: u16 le][frame][dt: u8]`.
#![no_main]

use leakscope::capture::{LinkType, Packet, PacketSink, Timestamp};
use leakscope::classify::{Geo, Ruleset};
use leakscope::flow::FlowConfig;
use leakscope::output::NullSink;
use leakscope::pipeline::{Pipeline, PipelineConfig};
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [LinkType; 4] =
    [LinkType::ETHERNET, LinkType::RAW, LinkType::LINUX_SLL, LinkType::LINUX_SLL2];

fuzz_target!(|data: &[u8]| {
    // A tiny table so eviction, fragments and timeouts are reached with few packets.
    let flow = FlowConfig { max_flows: 8, max_fragments: 4, ..FlowConfig::default() };
    // Empty rules: loading the builtin set per input would dominate the run time.
    let rules = Ruleset::load(&[], false).expect("empty ruleset");
    let cfg = PipelineConfig {
        flow,
        sink: Box::new(NullSink),
        classify: true,
        rules,
        geo: Geo::default(),
    };
    let mut p = Pipeline::new(cfg);
    let mut ts: i64 = 1_700_000_000_000_000_000;
    let mut rest = data;
    while rest.len() >= 3 {
        let linktype = LINKTYPES[usize::from(rest[0]) % LINKTYPES.len()];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let frame = &rest[3..3 + len];
        rest = &rest[3 + len..];
        // Time steps up to 255 s: crosses UDP idle and close-linger timeouts.
        if let Some((&dt, tail)) = rest.split_first() {
            ts += i64::from(dt) * 1_000_000_000;
            rest = tail;
        }
        p.packet(&Packet { ts: Timestamp(ts), linktype, data: frame, wire_len: len as u32 });
    }
    let _ = p.finish();
});
