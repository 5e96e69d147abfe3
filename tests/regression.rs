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

/// fuzz/tls crash-62439f3a: an SSLv2-format header announcing an empty message (`80 00`). The
/// length check indexed the 9 fixed bytes of a message that had none. Fixed by refusing a
/// message shorter than its fixed fields (`tls::check_sslv2_lengths`).
#[test]
fn sslv2_header_announcing_an_empty_message() {
    use leakscope::dissect::tls;
    let input = unhex("8000");
    assert!(matches!(tls::parse_client_hello_records(&input), Err(tls::ParseError::NotTls)));
}
