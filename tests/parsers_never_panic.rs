//! Property tests: any bytes through the decoder (every link type) and every dissector never
//! panic; any truncation of a real input gives an error or a partial result, never a panic.

mod builders;

use leakscope::capture::{LinkType, Packet, PacketSink, Timestamp};
use leakscope::classify::{Geo, Ruleset};
use leakscope::decode;
use leakscope::dissect::quic::QuicInitialState;
use leakscope::dissect::{dhcp, dns, http, ja4, quic, stun, tls, wa_legacy, whatsapp};
use leakscope::flow::FlowConfig;
use leakscope::output::NullSink;
use leakscope::pipeline::{Pipeline, PipelineConfig};
use proptest::prelude::*;

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

fn decode_all(lt: LinkType, frame: &[u8]) {
    let pkt = Packet { ts: Timestamp(0), linktype: lt, data: frame, wire_len: frame.len() as u32 };
    let mut d = decode::decode(&pkt);
    for _ in 0..4 {
        let Ok(outer) = d else { return };
        let Some(t) = outer.tunnel else { return };
        d = decode::decode_inner(&t);
    }
}

fn dissect_all(data: &[u8]) {
    let _ = dns::looks_like_dns_response(data);
    if let Ok(m) = dns::parse(data) {
        let _ = dns::resolve_addresses(&m);
    }
    let _ = dns::parse_tcp(data);
    for ch in [tls::parse_client_hello_records(data), tls::parse_client_hello_handshake(data)]
        .into_iter()
        .flatten()
    {
        let _ = ja4::ja4(&ch, ja4::HelloTransport::Tcp);
        let _ = ja4::ja3_hash(&ch);
    }
    let _ = leakscope::dissect::cert::parse_server_certificate(data, 16 * 1024);
    let _ = quic::looks_like_quic_initial(data);
    let _ = quic::gquic_client_hello(data);
    let _ = QuicInitialState::new().feed_client_datagram(data);
    let _ = http::looks_like_http_request(data);
    let _ = http::parse_request(data);
    let _ = http::set_cookie_names(data);
    let _ = stun::classify(data);
    let _ = stun::looks_like_rtp(data);
    let _ = stun::looks_like_rtcp(data);
    let _ = dhcp::parse(data);
    let _ = whatsapp::detect_preface(data);
    let _ = wa_legacy::login(data);
}

/// A pipeline with dissection and (empty) classification on, writing nothing.
fn pipeline() -> Pipeline {
    Pipeline::new(PipelineConfig {
        flow: FlowConfig { max_flows: 8, max_fragments: 4, ..FlowConfig::default() },
        sink: Box::new(NullSink),
        classify: true,
        rules: Ruleset::load(&[], false).expect("empty rules"),
        geo: Geo::default(),
    })
}

/// Real payloads: fixtures of every dissector (read once).
fn real_inputs() -> &'static [Vec<u8>] {
    static INPUTS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    INPUTS.get_or_init(load_real_inputs)
}

fn load_real_inputs() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for f in [
        "dns/payloads.tsv",
        "http/requests.tsv",
        "stun/udp_payloads.tsv",
        "stun/tcp_client_bytes.tsv",
        "dhcp/payloads.tsv",
        "whatsapp/first_client_bytes.tsv",
    ] {
        v.extend(builders::fixture_payloads(f).into_iter().take(40));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    for e in std::fs::read_dir(dir).expect("tls fixtures") {
        v.push(builders::unhex(&std::fs::read_to_string(e.expect("entry").path()).expect("hex")));
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoder_never_panics(lt in 0usize..LINKTYPES.len(), frame in proptest::collection::vec(any::<u8>(), 0..200)) {
        decode_all(LINKTYPES[lt], &frame);
    }

    /// IPv4/IPv6-looking frames reach deeper than uniform random bytes.
    #[test]
    fn decoder_never_panics_on_ip_like(v6 in any::<bool>(), proto in prop::sample::select(vec![1u8, 4, 6, 17, 41, 44, 47, 58, 0, 43, 60]), rest in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut f = if v6 { vec![0x60, 0, 0, 0, 0, 40, proto, 64] } else { vec![0x45, 0, 0, 60, 0, 1, 0x20, 0, 64, proto, 0, 0] };
        f.extend_from_slice(&rest);
        decode_all(LinkType::RAW, &f);
    }

    #[test]
    fn dissectors_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        dissect_all(&data);
    }

    /// Plausible headers in front of random bytes: TLS record + handshake, DNS header, STUN
    /// header with the magic cookie, QUIC long header, DHCP with the cookie.
    #[test]
    fn dissectors_never_panic_on_plausible_headers(kind in 0u8..5, rest in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut d = match kind {
            0 => vec![0x16, 0x03, 0x01, (rest.len() >> 8) as u8, rest.len() as u8, 0x01, 0, (rest.len() >> 8) as u8, rest.len() as u8, 3, 3],
            1 => vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0],
            2 => vec![0x00, 0x01, (rest.len() >> 8) as u8, rest.len() as u8, 0x21, 0x12, 0xa4, 0x42],
            3 => vec![0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x41, 0x00],
            _ => { let mut h = vec![1u8, 1, 6, 0]; h.resize(236, 0); h.extend_from_slice(&[99, 130, 83, 99]); h }
        };
        d.extend_from_slice(&rest);
        dissect_all(&d);
    }

    #[test]
    fn pipeline_never_panics(pkts in proptest::collection::vec((0usize..LINKTYPES.len(), proptest::collection::vec(any::<u8>(), 0..120), 0i64..200), 0..40)) {
        let mut p = pipeline();
        let mut ts = 1_700_000_000_000_000_000i64;
        for (lt, frame, dt) in &pkts {
            ts += dt * 1_000_000_000;
            p.packet(&Packet { ts: Timestamp(ts), linktype: LINKTYPES[*lt], data: frame, wire_len: frame.len() as u32 });
        }
        prop_assert!(p.finish().is_ok());
    }

    /// One bit flipped in a real input: parsers meet nearly valid data.
    #[test]
    fn bit_flips_of_real_inputs_never_panic(pick in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let inputs = real_inputs();
        let mut d = pick.get(inputs).clone();
        if !d.is_empty() {
            let i = bit.index(d.len() * 8);
            d[i / 8] ^= 1 << (i % 8);
        }
        dissect_all(&d);
    }
}

/// Every prefix of every real input: an error or a partial result, never a panic. A ClientHello
/// cut short is never reported as complete.
#[test]
fn truncations_of_real_inputs() {
    for input in real_inputs() {
        let whole_hello = tls::parse_client_hello_records(input).is_ok();
        for n in 0..input.len() {
            let cut = &input[..n];
            dissect_all(cut);
            if whole_hello {
                assert!(
                    tls::parse_client_hello_records(cut).is_err(),
                    "a hello cut to {n} of {} bytes parsed as whole",
                    input.len()
                );
            }
        }
    }
}

/// Every truncation of real frames through the pipeline (and the decoder for each link type).
#[test]
fn truncated_frames_through_the_pipeline() {
    let mut cap = builders::Pcap::ethernet();
    builders::tcp_session(
        &mut cap,
        1_700_000_000_000_000,
        ("192.168.1.20".parse().unwrap(), 40000),
        ("157.240.1.53".parse().unwrap(), 443),
        &[b"\x16\x03\x01\x00\x05hello"],
        &[b"world"],
    );
    let frames: Vec<Vec<u8>> = {
        let b = &cap.bytes;
        cap.offsets
            .iter()
            .map(|&o| {
                let n = u32::from_le_bytes(b[o + 8..o + 12].try_into().unwrap()) as usize;
                b[o + 16..o + 16 + n].to_vec()
            })
            .collect()
    };
    let mut p = pipeline();
    let mut ts = 1_700_000_000_000_000_000i64;
    for f in &frames {
        for n in 0..=f.len() {
            for lt in LINKTYPES {
                decode_all(lt, &f[..n]);
            }
            ts += 1_000_000;
            p.packet(&Packet {
                ts: Timestamp(ts),
                linktype: LinkType::ETHERNET,
                data: &f[..n],
                wire_len: f.len() as u32,
            });
        }
    }
    p.finish().expect("finish");
}
