//! The README's demo: one Android phone on a NetworkManager hotspot talking to
//! WhatsApp/Meta (chat, media over TLS, graph API, QUIC, HTTP, a call) and to a
//! non-Meta site.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::apps::{self, Answer, DhcpClient, DhcpLease};
use crate::packets::{self, Dir, IpPacket, NANOS_PER_MILLI, NANOS_PER_SEC, Rng, TcpConn};
use crate::quic::{self, LongHeader};
use crate::tls::{self, ClientHelloSpec};

pub const PHONE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The hotspot host's Wi-Fi interface.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
/// NetworkManager's shared-connection defaults: 10.42.0.1/24, dnsmasq for DHCP/DNS.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
pub const PHONE: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 57);
const NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
const SUBNET_BROADCAST: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 255);
const LEASE_SECS: u32 = 3600;
const HOSTNAME: &str = "pixel-7";
const VENDOR_CLASS: &str = "android-dhcp-14";

// Server addresses: shaped like Meta's (157.240.0.0/16, 31.13.64.0/18), but chosen
// for this sample, not looked up. example.org gets a documentation address.
const CHAT_SERVER: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 54);
const MEDIA_SERVER: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 60);
const GRAPH_SERVER: Ipv4Addr = Ipv4Addr::new(31, 13, 71, 7);
const STATIC_SERVER: Ipv4Addr = Ipv4Addr::new(31, 13, 71, 49);
const CALL_RELAY: Ipv4Addr = Ipv4Addr::new(157, 240, 229, 62);
const EXAMPLE_ORG: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);

const DNS_PORT: u16 = 53;
const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;
const HTTP_PORT: u16 = 80;
const HTTPS_PORT: u16 = 443;
const WHATSAPP_CHAT_PORT: u16 = 5222;
const STUN_PORT: u16 = 3478;
const DNS_TTL: u32 = 60;

/// Round trips from the phone over the hotspot's uplink.
const RTT_META_NS: u64 = 28 * NANOS_PER_MILLI;
const RTT_EXAMPLE_NS: u64 = 95 * NANOS_PER_MILLI;
const RTT_DNS_NS: u64 = 18 * NANOS_PER_MILLI;

const WHATSAPP_USER_AGENT: &str = "WhatsApp/2.25.36.73 A";
const CALL_SECONDS: u64 = 60;
const RTP_PACKETS_PER_SEC: u64 = 50;
/// Opus at 48 kHz, 20 ms per packet.
const RTP_TICKS_PER_PACKET: u32 = 960;

fn at(secs: f64) -> u64 {
    (secs * NANOS_PER_SEC as f64).round() as u64
}

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// All packets of the sample, sorted by time, timestamps relative to `start_ns`.
pub fn packets(start_ns: u64) -> Vec<IpPacket> {
    let mut out = Vec::new();
    dhcp(at(0.0), &mut out);
    dns(at(1.0), &mut out);
    whatsapp_chat(at(1.5), &mut out);
    media_tls(at(2.0), &mut out);
    graph_tls(at(3.0), &mut out);
    static_quic(at(4.0), &mut out);
    http_get(at(5.0), &mut out);
    example_org_tls(at(6.0), &mut out);
    call(at(20.0), &mut out);
    for p in &mut out {
        p.ts_ns += start_ns;
    }
    out.sort_by_key(|p| p.ts_ns); // stable: same-time packets keep build order
    out
}

/// Link-layer framing for the sample: frames from the phone (or from 0.0.0.0
/// during DHCP) go to the gateway or to broadcast, the rest come from the gateway.
pub fn ethernet_frame(p: &IpPacket) -> Vec<u8> {
    let src_ip = p.tuple.src.ip();
    if src_ip == IpAddr::V4(PHONE) || src_ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        let dst = if p.tuple.dst.ip() == IpAddr::V4(Ipv4Addr::BROADCAST) {
            packets::BROADCAST_MAC
        } else {
            GATEWAY_MAC
        };
        packets::ethernet(PHONE_MAC, dst, &[], false, &p.bytes)
    } else {
        packets::ethernet(GATEWAY_MAC, PHONE_MAC, &[], false, &p.bytes)
    }
}

fn dhcp(t: u64, out: &mut Vec<IpPacket>) {
    let client = DhcpClient {
        mac: PHONE_MAC,
        xid: 0x5eed_0001,
        hostname: HOSTNAME,
        vendor_class: VENDOR_CLASS,
    };
    let lease = DhcpLease {
        address: PHONE,
        server: GATEWAY,
        netmask: NETMASK,
        broadcast: SUBNET_BROADCAST,
        lease_secs: LEASE_SECS,
    };
    let unconfigured = sock(Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT);
    let all = sock(Ipv4Addr::BROADCAST, DHCP_SERVER_PORT);
    let server = sock(GATEWAY, DHCP_SERVER_PORT);
    let leased = sock(PHONE, DHCP_CLIENT_PORT);
    let step = 4 * NANOS_PER_MILLI;
    let discover = apps::dhcp_client_message(&client, apps::DHCP_DISCOVER, None);
    out.push(packets::udp(t, unconfigured, all, &discover));
    let offer = apps::dhcp_server_message(&client, apps::DHCP_OFFER, &lease);
    out.push(packets::udp(t + step, server, leased, &offer));
    let request = apps::dhcp_client_message(&client, apps::DHCP_REQUEST, Some((PHONE, GATEWAY)));
    out.push(packets::udp(t + 3 * step, unconfigured, all, &request));
    let ack = apps::dhcp_server_message(&client, apps::DHCP_ACK, &lease);
    out.push(packets::udp(t + 4 * step, server, leased, &ack));
}

fn dns(t: u64, out: &mut Vec<IpPacket>) {
    let lookups: [(&str, Vec<Answer>); 5] = [
        ("g.whatsapp.net", vec![Answer::A(CHAT_SERVER)]),
        ("mmg.whatsapp.net", vec![Answer::Cname("mmg.fna.whatsapp.net"), Answer::A(MEDIA_SERVER)]),
        (
            "graph.facebook.com",
            vec![Answer::Cname("star.c10r.facebook.com"), Answer::A(GRAPH_SERVER)],
        ),
        ("static.whatsapp.net", vec![Answer::A(STATIC_SERVER)]),
        ("www.example.org", vec![Answer::A(EXAMPLE_ORG)]),
    ];
    let resolver = sock(GATEWAY, DNS_PORT);
    for (i, (name, answers)) in lookups.iter().enumerate() {
        let ts = t + i as u64 * 50 * NANOS_PER_MILLI;
        let client = sock(PHONE, 41_001 + i as u16);
        let id = 0x1a00 + i as u16;
        out.push(packets::udp(ts, client, resolver, &apps::dns_query(id, name)));
        let response = apps::dns_response(id, name, DNS_TTL, answers);
        out.push(packets::udp(ts + RTT_DNS_NS, resolver, client, &response));
    }
}

/// Chat on TCP 5222: prologue and Noise handshake, then minutes of keepalives
/// with two message bursts, then an orderly close.
fn whatsapp_chat(t: u64, out: &mut Vec<IpPacket>) {
    const KEEPALIVE_EVERY_SECS: f64 = 45.0;
    const BURSTS_AT_SECS: [f64; 3] = [3.0, 60.0, 150.0];
    const CLOSE_AT_SECS: f64 = 290.0;
    let mut rng = Rng::new(0x5222);
    let mut conn = TcpConn::new(
        sock(PHONE, 43_210),
        sock(CHAT_SERVER, WHATSAPP_CHAT_PORT),
        RTT_META_NS,
        &mut rng,
    );
    let now = conn.open(t, out);
    apps::chat_handshake(&mut conn, now, &mut rng, out);

    // Sequence numbers follow build order, so events are built in time order.
    let keepalives =
        (1..).map(|i| i as f64 * KEEPALIVE_EVERY_SECS).take_while(|&s| s < CLOSE_AT_SECS);
    let mut schedule: Vec<(f64, bool)> = keepalives.map(|s| (s, false)).collect();
    schedule.extend(BURSTS_AT_SECS.iter().map(|&s| (s, true)));
    schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (secs, burst) in schedule {
        apps::chat_moment(&mut conn, t + at(secs), burst, &mut rng, out);
    }
    conn.close(t + at(CLOSE_AT_SECS), Dir::ToServer, out);
}

struct TlsSession<'a> {
    client_port: u16,
    server: Ipv4Addr,
    rtt_ns: u64,
    sni: &'a str,
    alpn: &'a [&'a str],
    seed: u64,
}

/// TLS 1.3 over TCP: handshake, then `exchanges` of (client bytes, server bytes)
/// application data, then the client closes.
fn tls_session(t: u64, s: &TlsSession, exchanges: &[(usize, usize)], out: &mut Vec<IpPacket>) {
    let mut rng = Rng::new(s.seed);
    let mut conn =
        TcpConn::new(sock(PHONE, s.client_port), sock(s.server, HTTPS_PORT), s.rtt_ns, &mut rng);
    let now = conn.open(t, out);
    let spec = ClientHelloSpec { sni: s.sni, alpn: s.alpn, quic_transport_parameters: None };
    tls::session(&mut conn, now, &spec, exchanges, &mut rng, out);
}

/// Media: a photo download (~400 kB) then an upload (~150 kB) to mmg.
fn media_tls(t: u64, out: &mut Vec<IpPacket>) {
    let session = TlsSession {
        client_port: 43_212,
        server: MEDIA_SERVER,
        rtt_ns: RTT_META_NS,
        sni: "mmg.whatsapp.net",
        alpn: &["h2", "http/1.1"],
        seed: 0x3313,
    };
    tls_session(t, &session, &[(420, 400_000), (150_000, 310)], out);
}

fn graph_tls(t: u64, out: &mut Vec<IpPacket>) {
    let session = TlsSession {
        client_port: 43_214,
        server: GRAPH_SERVER,
        rtt_ns: RTT_META_NS,
        sni: "graph.facebook.com",
        alpn: &["h2", "http/1.1"],
        seed: 0x6a9f,
    };
    tls_session(t, &session, &[(1_200, 3_000)], out);
}

fn example_org_tls(t: u64, out: &mut Vec<IpPacket>) {
    let session = TlsSession {
        client_port: 43_220,
        server: EXAMPLE_ORG,
        rtt_ns: RTT_EXAMPLE_NS,
        sni: "www.example.org",
        alpn: &["h2", "http/1.1"],
        seed: 0xe0e0,
    };
    tls_session(t, &session, &[(520, 1_256)], out);
}

/// One QUIC connection's addresses and connection IDs.
struct QuicConn {
    client: SocketAddr,
    server: SocketAddr,
    /// The random Destination CID of the client's first Initial: the Initial keys
    /// of both sides derive from it.
    original_dcid: [u8; 8],
    client_cid: [u8; 8],
    server_cid: [u8; 8],
}

impl QuicConn {
    fn to_server(&self, ts: u64, datagram: &[u8]) -> IpPacket {
        packets::udp(ts, self.client, self.server, datagram)
    }

    fn to_client(&self, ts: u64, datagram: &[u8]) -> IpPacket {
        packets::udp(ts, self.server, self.client, datagram)
    }
}

/// QUIC v1 to static.whatsapp.net: a real (decryptable) client Initial with the
/// ClientHello, the server's Initial with its ServerHello, then opaque Handshake
/// and 1-RTT packets for a small download.
fn static_quic(t: u64, out: &mut Vec<IpPacket>) {
    let mut rng = Rng::new(0x0a1c);
    let conn = QuicConn {
        client: sock(PHONE, 43_216),
        server: sock(STATIC_SERVER, HTTPS_PORT),
        original_dcid: rng.array(),
        client_cid: rng.array(),
        server_cid: rng.array(),
    };
    let done = quic_handshake(t, &conn, &mut rng, out);
    quic_download(done, &conn, &mut rng, out);
}

/// Client Initial (ClientHello), server Initial (ServerHello) coalesced with its
/// Handshake packets, client Initial ACK and Handshake (Finished). Returns the time
/// the client can send 1-RTT data.
fn quic_handshake(t: u64, conn: &QuicConn, rng: &mut Rng, out: &mut Vec<IpPacket>) -> u64 {
    // Sizes of the server's certificate flight and the client's Finished.
    const SERVER_HANDSHAKE_LENS: [usize; 2] = [1_000, 1_150];
    const CLIENT_FINISHED_LEN: usize = 60;
    let client_keys = quic::initial_keys(&conn.original_dcid, false);
    let server_keys = quic::initial_keys(&conn.original_dcid, true);

    let params = quic::client_transport_parameters(&conn.client_cid);
    let spec = ClientHelloSpec {
        sni: "static.whatsapp.net",
        alpn: &["h3"],
        quic_transport_parameters: Some(&params),
    };
    let hello = quic::crypto_frame(0, &tls::client_hello(&spec, rng));
    let first = LongHeader { dcid: &conn.original_dcid, scid: &conn.client_cid, packet_number: 0 };
    let initial = quic::initial_packet(&client_keys, &first, &hello, quic::MIN_INITIAL_DATAGRAM);
    out.push(conn.to_server(t, &initial));

    let mut ts = t + RTT_META_NS;
    let server_hdr =
        LongHeader { dcid: &conn.client_cid, scid: &conn.server_cid, packet_number: 0 };
    let mut frames = quic::ack_frame(0, 0);
    frames.extend_from_slice(&quic::crypto_frame(0, &tls::server_hello(&[], rng)));
    let mut datagram = quic::initial_packet(&server_keys, &server_hdr, &frames, 0);
    for (pn, len) in SERVER_HANDSHAKE_LENS.into_iter().enumerate() {
        let hdr = LongHeader { packet_number: pn as u32, ..server_hdr };
        let packet = quic::opaque_handshake_packet(&hdr, len, rng);
        if pn == 0 {
            datagram.extend_from_slice(&packet); // coalesced with the Initial
            out.push(conn.to_client(ts, &datagram));
        } else {
            out.push(conn.to_client(ts, &packet));
        }
        ts += NANOS_PER_MILLI;
    }

    ts += NANOS_PER_MILLI;
    let client_hdr =
        LongHeader { dcid: &conn.server_cid, scid: &conn.client_cid, packet_number: 1 };
    let ack = quic::ack_frame(0, 0);
    let initial_ack =
        quic::initial_packet(&client_keys, &client_hdr, &ack, quic::MIN_INITIAL_DATAGRAM);
    out.push(conn.to_server(ts, &initial_ack));
    ts += NANOS_PER_MILLI;
    let hdr = LongHeader { packet_number: 0, ..client_hdr };
    out.push(conn.to_server(ts, &quic::opaque_handshake_packet(&hdr, CLIENT_FINISHED_LEN, rng)));
    ts
}

/// A 1-RTT request and a few full-size response packets, ACKed every second one.
fn quic_download(t: u64, conn: &QuicConn, rng: &mut Rng, out: &mut Vec<IpPacket>) {
    const REQUEST_LEN: usize = 90;
    const ACK_LEN: usize = 30;
    const DOWNLOAD_PACKETS: usize = 6;
    const FULL_PACKET_PAYLOAD: usize = 1_220;
    const PACKET_GAP_NS: u64 = 150_000;
    out.push(conn.to_server(t, &quic::opaque_short_packet(&conn.server_cid, REQUEST_LEN, rng)));
    let mut ts = t + RTT_META_NS;
    for i in 0..DOWNLOAD_PACKETS {
        let data = quic::opaque_short_packet(&conn.client_cid, FULL_PACKET_PAYLOAD, rng);
        out.push(conn.to_client(ts, &data));
        if i % 2 == 1 {
            let ack = quic::opaque_short_packet(&conn.server_cid, ACK_LEN, rng);
            out.push(conn.to_server(ts + RTT_META_NS / 2, &ack));
        }
        ts += PACKET_GAP_NS;
    }
}

/// Plain-HTTP media fetch with WhatsApp's User-Agent and a session cookie.
fn http_get(t: u64, out: &mut Vec<IpPacket>) {
    const BODY_LEN: usize = 2_400;
    let mut rng = Rng::new(0x4177);
    let mut conn =
        TcpConn::new(sock(PHONE, 43_218), sock(MEDIA_SERVER, HTTP_PORT), RTT_META_NS, &mut rng);
    let mut now = conn.open(t, out);
    let path = format!("/d/f/{}.enc", apps::hex_token(16, &mut rng));
    let cookie = format!("wa_lang_pref=en; wa_csrf={}", apps::hex_token(8, &mut rng));
    let request = apps::http_get("mmg.whatsapp.net", &path, WHATSAPP_USER_AGENT, &cookie);
    now = conn.send(now, Dir::ToServer, &request, out);
    let body = rng.bytes(BODY_LEN);
    now =
        conn.send(now, Dir::ToClient, &apps::http_response("application/octet-stream", &body), out);
    conn.close(now + 500 * NANOS_PER_MILLI, Dir::ToServer, out);
}

/// A voice call through a WhatsApp relay: STUN binding and relay (0x0801)
/// exchanges, then RTP both ways on the same 5-tuple.
fn call(t: u64, out: &mut Vec<IpPacket>) {
    let mut rng = Rng::new(0xca11);
    let client = sock(PHONE, 43_222);
    let relay = sock(CALL_RELAY, STUN_PORT);
    // The NAT'd address the relay reports back: the hotspot host's public side.
    let public = sock(Ipv4Addr::new(198, 51, 100, 23), 52_118);
    let token = rng.bytes(16);
    let call_id = rng.bytes(8);
    let mut ts = t;
    for _ in 0..2 {
        let txid: [u8; 12] = rng.array();
        let request = apps::stun_message(
            apps::STUN_BINDING_REQUEST,
            txid,
            &[
                (apps::ATTR_WHATSAPP_TOKEN, token.clone()),
                (apps::ATTR_WHATSAPP_FLAGS, vec![0, 0, 0, 1]),
            ],
        );
        out.push(packets::udp(ts, client, relay, &request));
        let response = apps::stun_message(
            apps::STUN_BINDING_SUCCESS,
            txid,
            &[apps::xor_mapped_address(public)],
        );
        out.push(packets::udp(ts + RTT_META_NS, relay, client, &response));
        ts += 2 * RTT_META_NS;
    }
    for _ in 0..3 {
        let txid: [u8; 12] = rng.array();
        let attrs = [
            (apps::ATTR_WHATSAPP_TOKEN, token.clone()),
            (apps::ATTR_WHATSAPP_CALL_ID, call_id.clone()),
        ];
        out.push(packets::udp(
            ts,
            client,
            relay,
            &apps::stun_message(apps::STUN_WHATSAPP_RELAY, txid, &attrs),
        ));
        let reply =
            [apps::xor_mapped_address(public), (apps::ATTR_WHATSAPP_CALL_ID, call_id.clone())];
        out.push(packets::udp(
            ts + RTT_META_NS,
            relay,
            client,
            &apps::stun_message(apps::STUN_WHATSAPP_RELAY, txid, &reply),
        ));
        ts += 2 * RTT_META_NS;
    }
    rtp_both_ways(ts + 100 * NANOS_PER_MILLI, client, relay, &mut rng, out);
}

fn rtp_both_ways(
    t: u64,
    client: SocketAddr,
    relay: SocketAddr,
    rng: &mut Rng,
    out: &mut Vec<IpPacket>,
) {
    let interval = NANOS_PER_SEC / RTP_PACKETS_PER_SEC;
    let ssrc = [rng.next_u32(), rng.next_u32()];
    let mut seq = [rng.next_u32() as u16, rng.next_u32() as u16];
    let mut stamp = [rng.next_u32(), rng.next_u32()];
    for i in 0..CALL_SECONDS * RTP_PACKETS_PER_SEC {
        // Both directions tick at 50 Hz; the relay's side lags by half a round trip
        // plus jitter, so the streams interleave like a real capture.
        let send = t + i * interval;
        for (side, (src, dst, offset)) in
            [(client, relay, 0), (relay, client, RTT_META_NS / 2 + rng.range(0, 3_000_000))]
                .into_iter()
                .enumerate()
        {
            let len = rng.range(100, 200) as usize;
            let payload = rng.bytes(len);
            let rtp = apps::rtp_packet(seq[side], stamp[side], ssrc[side], &payload);
            out.push(packets::udp(send + offset, src, dst, &rtp));
            seq[side] = seq[side].wrapping_add(1);
            stamp[side] = stamp[side].wrapping_add(RTP_TICKS_PER_PACKET);
        }
    }
}
