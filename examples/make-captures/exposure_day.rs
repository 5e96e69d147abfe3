//! `exposure-day.pcap`: two hours of a hotspot with an Android phone that uses
//! WhatsApp (registration, chat sessions, media, telemetry, two calls, Facebook
//! graph, a cleartext HTTP request) and a laptop that only browses, so the
//! exposure map has known sessions, activities, devices and policy fields.
//! Every flow is shorter than the default 30-minute active timeout (one record
//! per flow, as EXPECTED.tsv lists them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::Generated;
use crate::apps::{self, Answer, DhcpClient, DhcpLease};
use crate::packets::{self, Dir, IpPacket, NANOS_PER_MILLI, NANOS_PER_SEC, Rng, TcpConn, Tuple};
use crate::tls::{self, ClientHelloSpec};
use crate::writer::{self, Record, TsResolution};

/// Google's OUI (00:1A:11), so the IEEE registry names the phone's vendor.
pub const PHONE_MAC: [u8; 6] = [0x00, 0x1a, 0x11, 0x00, 0x00, 0x0a];
/// A randomised (locally administered) MAC, as laptops use per network.
pub const LAPTOP_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
pub const PHONE: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 23);
pub const LAPTOP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 88);
/// The phone's IPv6 link-local address (EUI-64 of its MAC).
const PHONE_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x021a, 0x11ff, 0xfe00, 0x000a);
const MDNS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

const REGISTRATION: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 71);
const CHAT: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 54);
const MEDIA: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 60);
const MEDIA_CDN: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 61);
const TELEMETRY: Ipv4Addr = Ipv4Addr::new(157, 240, 27, 80);
const GRAPH: Ipv4Addr = Ipv4Addr::new(31, 13, 71, 7);
const FACEBOOK_WWW: Ipv4Addr = Ipv4Addr::new(31, 13, 71, 36);
const RELAY: Ipv4Addr = Ipv4Addr::new(157, 240, 229, 62);
const VIDEO_RELAY: Ipv4Addr = Ipv4Addr::new(157, 240, 229, 63);
/// The other party of the voice call, reached directly after a minute.
const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);
const EXAMPLE_ORG: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);

const RTT_NS: u64 = 28 * NANOS_PER_MILLI;
const WHATSAPP_USER_AGENT: &str = "WhatsApp/2.25.36.73 A";

/// Chat connections: (open, close, bursts), seconds after 10:00:00. A burst is a
/// message exchange; keepalives (20-byte frames) go every 60 s in between.
pub const CHATS: [(u64, u64, &[u64]); 3] =
    [(5, 1200, &[35, 90, 480]), (3600, 4500, &[3620, 3720, 3870]), (7500, 7920, &[7520, 7740])];
/// Voice call start, relay media seconds, then peer-to-peer media seconds.
pub const VOICE_CALL: (u64, u64, u64) = (5400, 40, 20);
/// Video call start and media seconds.
pub const VIDEO_CALL: (u64, u64) = (6600, 6);

fn at(secs: f64) -> u64 {
    (secs * NANOS_PER_SEC as f64).round() as u64
}

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// The capture.
pub fn generate(start_ns: u64) -> Generated {
    let mut phone = Vec::new();
    dhcp(0.0, PHONE, PHONE_MAC, 0x0e00_0001, "galaxy-s23", "android-dhcp-14", &mut phone);
    let mut rng = Rng::new(0xda7);
    let mdns = apps::dns_query(0, "_googlecast._tcp.local");
    phone.push(packets::udp(
        at(1.0),
        SocketAddr::new(IpAddr::V6(PHONE_V6), 5353),
        SocketAddr::new(IpAddr::V6(MDNS_V6), 5353),
        &mdns,
    ));
    dns(at(2.0), PHONE, 41_101, "g.whatsapp.net", CHAT, &mut phone);
    let tls_to = |secs: f64,
                  port: u16,
                  server: Ipv4Addr,
                  sni: &str,
                  ex: &[(usize, usize)],
                  seed: u64,
                  out: &mut Vec<IpPacket>| {
        tls_session(at(secs), sock(PHONE, port), sock(server, 443), sni, ex, seed, out)
    };
    tls_to(3.0, 42_001, REGISTRATION, "v.whatsapp.net", &[(1_100, 900)], 0x7e91, &mut phone);
    for (i, &(open, close, bursts)) in CHATS.iter().enumerate() {
        chat(open, close, bursts, 42_100 + i as u16, 0x5222 + i as u64, &mut phone);
    }
    tls_to(95.0, 42_002, MEDIA, "mmg.whatsapp.net", &[(200_000, 300)], 0x3d1a, &mut phone);
    tls_to(120.0, 42_003, TELEMETRY, "dit.whatsapp.net", &[(3_000, 200)], 0x7e1e, &mut phone);
    tls_to(180.0, 42_004, GRAPH, "graph.facebook.com", &[(1_200, 3_000)], 0x6a9f, &mut phone);
    http_get(240.0, &mut rng, &mut phone);
    tls_to(
        3725.0,
        42_005,
        MEDIA_CDN,
        "media-fra3-1.cdn.whatsapp.net",
        &[(300, 300_000)],
        0xd0,
        &mut phone,
    );
    voice_call(&mut rng, &mut phone);
    video_call(&mut rng, &mut phone);

    let mut laptop = Vec::new();
    dhcp(30.0, LAPTOP, LAPTOP_MAC, 0x0e00_0002, "thinkpad-x1", "MSFT 5.0", &mut laptop);
    let l = |port| sock(LAPTOP, port);
    tls_session(
        at(40.0),
        l(50_001),
        sock(FACEBOOK_WWW, 443),
        "www.facebook.com",
        &[(800, 40_000)],
        0xfb,
        &mut laptop,
    );
    tls_session(
        at(45.0),
        l(50_002),
        sock(EXAMPLE_ORG, 443),
        "www.example.org",
        &[(500, 1_200)],
        0xe0,
        &mut laptop,
    );

    let mut framed: Vec<(u64, Vec<u8>, Option<Tuple>)> = Vec::new();
    for (packets, mac, ip) in [(phone, PHONE_MAC, PHONE), (laptop, LAPTOP_MAC, LAPTOP)] {
        for p in packets {
            framed.push((p.ts_ns, frame(&p, mac, ip), Some(p.tuple)));
        }
    }
    // The phone answers the gateway's ARP request for its address.
    framed.push((at(0.5), arp(1, GATEWAY_MAC, GATEWAY, [0; 6], PHONE), None));
    framed.push((at(0.5) + NANOS_PER_MILLI, arp(2, PHONE_MAC, PHONE, GATEWAY_MAC, GATEWAY), None));
    framed.sort_by_key(|f| f.0); // stable: same-time packets keep build order
    let records: Vec<Record> = framed
        .iter()
        .map(|(ts, data, _)| Record { ts_ns: ts + start_ns, data: data.clone(), interface: 0 })
        .collect();
    Generated {
        path: "exposure-day.pcap".into(),
        about: ABOUT.into(),
        bytes: writer::pcap_bytes(writer::LINKTYPE_ETHERNET, TsResolution::Micros, &records),
        tuples: framed.into_iter().filter_map(|f| f.2).collect(),
    }
}

const ABOUT: &str = "Two hours of a hotspot for the exposure map (Ethernet, µs pcap, 10:00:00 to \
12:12 UTC; `tests/exposure_day.rs` asserts what leakscope derives). An Android phone (MAC \
00:1a:11:00:00:0a, Google's OUI; DHCP host name `galaxy-s23`, vendor class `android-dhcp-14`; \
10.42.0.23 and IPv6 link-local fe80::21a:11ff:fe00:a from an mDNS query; it answers the gateway's \
ARP request): WhatsApp registration (TLS to v.whatsapp.net), three chat connections on TCP 5222 \
(10:00:05–10:20, 11:00–11:15, 12:05–12:12; keepalives of 20 bytes every 60 s; message bursts at \
10:00:35, 10:01:30, 10:08:00, 11:00:20, 11:02:00, 11:04:30, 12:05:20, 12:09:00, so four sessions \
with a 5-minute gap), a 200 kB media upload to mmg.whatsapp.net at 10:01:35, telemetry to \
dit.whatsapp.net at 10:02, graph.facebook.com at 10:03, a cleartext HTTP GET to mmg.whatsapp.net \
at 10:04 with a WhatsApp User-Agent and cookies `datr` and `wa_lang_pref`, a 300 kB media download \
at 11:02:05, a voice call at 11:30 (WhatsApp STUN to relay 157.240.229.62:3478, 40 s of small RTP \
packets, then 20 s of RTP straight to the peer 203.0.113.77 from the same socket) and a 6 s video \
call at 11:50 (large RTP packets via 157.240.229.63). A laptop (randomised MAC 02:00:00:00:00:0b, \
host name `thinkpad-x1`, vendor class `MSFT 5.0`, 10.42.0.88) only visits www.facebook.com and \
www.example.org.";

/// Ethernet framing: the device's packets (from its addresses or from 0.0.0.0)
/// go to the gateway or to broadcast/multicast; the rest come from the gateway.
fn frame(p: &IpPacket, mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let src = p.tuple.src.ip();
    let mine = src == IpAddr::V4(ip)
        || src == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        || src == IpAddr::V6(PHONE_V6);
    if mine {
        let dst = match p.tuple.dst.ip() {
            IpAddr::V4(v4) if v4.is_broadcast() => packets::BROADCAST_MAC,
            IpAddr::V6(v6) if v6.is_multicast() => [0x33, 0x33, 0, 0, 0, 0xfb],
            _ => GATEWAY_MAC,
        };
        packets::ethernet(mac, dst, &[], false, &p.bytes)
    } else {
        packets::ethernet(GATEWAY_MAC, mac, &[], false, &p.bytes)
    }
}

fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let dst = if op == 1 { packets::BROADCAST_MAC } else { tha };
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

fn dhcp(
    secs: f64,
    ip: Ipv4Addr,
    mac: [u8; 6],
    xid: u32,
    host: &str,
    vendor: &str,
    out: &mut Vec<IpPacket>,
) {
    let t = at(secs);
    let client = DhcpClient { mac, xid, hostname: host, vendor_class: vendor };
    let lease = DhcpLease {
        address: ip,
        server: GATEWAY,
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        broadcast: Ipv4Addr::new(10, 42, 0, 255),
        lease_secs: 3600,
    };
    let unconfigured = sock(Ipv4Addr::UNSPECIFIED, 68);
    let all = sock(Ipv4Addr::BROADCAST, 67);
    let (server, leased) = (sock(GATEWAY, 67), sock(ip, 68));
    let step = 4 * NANOS_PER_MILLI;
    out.push(packets::udp(
        t,
        unconfigured,
        all,
        &apps::dhcp_client_message(&client, apps::DHCP_DISCOVER, None),
    ));
    out.push(packets::udp(
        t + step,
        server,
        leased,
        &apps::dhcp_server_message(&client, apps::DHCP_OFFER, &lease),
    ));
    let request = apps::dhcp_client_message(&client, apps::DHCP_REQUEST, Some((ip, GATEWAY)));
    out.push(packets::udp(t + 3 * step, unconfigured, all, &request));
    out.push(packets::udp(
        t + 4 * step,
        server,
        leased,
        &apps::dhcp_server_message(&client, apps::DHCP_ACK, &lease),
    ));
}

fn dns(t: u64, client: Ipv4Addr, port: u16, name: &str, answer: Ipv4Addr, out: &mut Vec<IpPacket>) {
    let (c, r) = (sock(client, port), sock(GATEWAY, 53));
    out.push(packets::udp(t, c, r, &apps::dns_query(0x2b00, name)));
    let response = apps::dns_response(0x2b00, name, 300, &[Answer::A(answer)]);
    out.push(packets::udp(t + 18 * NANOS_PER_MILLI, r, c, &response));
}

/// A chat connection: prologue and handshake, keepalives every 60 s, message
/// bursts at the given times (3 frames up, 5 down), FIN at `close`.
fn chat(open: u64, close: u64, bursts: &[u64], port: u16, seed: u64, out: &mut Vec<IpPacket>) {
    let mut rng = Rng::new(seed);
    let mut conn = TcpConn::new(sock(PHONE, port), sock(CHAT, 5222), RTT_NS, &mut rng);
    let t = at(open as f64);
    let now = conn.open(t, out);
    apps::chat_handshake(&mut conn, now, &mut rng, out);
    let mut schedule: Vec<(u64, bool)> =
        (open + 60..close).step_by(60).map(|s| (s, false)).collect();
    schedule.retain(|(s, _)| bursts.iter().all(|b| s.abs_diff(*b) > 5));
    schedule.extend(bursts.iter().map(|&b| (b, true)));
    schedule.sort();
    for (secs, burst) in schedule {
        apps::chat_moment(&mut conn, at(secs as f64), burst, &mut rng, out);
    }
    conn.close(at(close as f64), Dir::ToServer, out);
}

/// TLS 1.3: handshake, (client bytes, server bytes) exchanges, client close.
fn tls_session(
    t: u64,
    client: SocketAddr,
    server: SocketAddr,
    sni: &str,
    exchanges: &[(usize, usize)],
    seed: u64,
    out: &mut Vec<IpPacket>,
) {
    let mut rng = Rng::new(seed);
    let mut conn = TcpConn::new(client, server, RTT_NS, &mut rng);
    let now = conn.open(t, out);
    let spec = ClientHelloSpec { sni, alpn: &["h2", "http/1.1"], quic_transport_parameters: None };
    tls::session(&mut conn, now, &spec, exchanges, &mut rng, out);
}

/// Cleartext GET with WhatsApp's User-Agent and two cookies (pseudo-random values).
fn http_get(secs: f64, rng: &mut Rng, out: &mut Vec<IpPacket>) {
    let mut conn = TcpConn::new(sock(PHONE, 42_010), sock(MEDIA, 80), RTT_NS, rng);
    let mut now = conn.open(at(secs), out);
    let path = format!("/v/t62/{}.jpg?oh={}", apps::hex_token(8, rng), apps::hex_token(8, rng));
    let cookie = format!("datr={}; wa_lang_pref=en", apps::hex_token(12, rng));
    now = conn.send(
        now,
        Dir::ToServer,
        &apps::http_get("mmg.whatsapp.net", &path, WHATSAPP_USER_AGENT, &cookie),
        out,
    );
    let body = rng.bytes(2_000);
    now = conn.send(now, Dir::ToClient, &apps::http_response("image/jpeg", &body), out);
    conn.close(now + 300 * NANOS_PER_MILLI, Dir::ToServer, out);
}

/// WhatsApp STUN binding and relay messages from `client` to `relay`; returns
/// when media can start.
/// The hotspot's public (NAT) side, as STUN answers report it.
const PUBLIC: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 23)), 52_200);

fn call_setup(
    t: u64,
    client: SocketAddr,
    relay: SocketAddr,
    rng: &mut Rng,
    out: &mut Vec<IpPacket>,
) -> u64 {
    let public = PUBLIC;
    let token = rng.bytes(16);
    let mut ts = t;
    for kind in [apps::STUN_BINDING_REQUEST, apps::STUN_WHATSAPP_RELAY] {
        let txid: [u8; 12] = rng.array();
        let attrs = [(apps::ATTR_WHATSAPP_TOKEN, token.clone())];
        out.push(packets::udp(ts, client, relay, &apps::stun_message(kind, txid, &attrs)));
        let reply_kind =
            if kind == apps::STUN_BINDING_REQUEST { apps::STUN_BINDING_SUCCESS } else { kind };
        let reply = apps::stun_message(reply_kind, txid, &[apps::xor_mapped_address(public)]);
        out.push(packets::udp(ts + RTT_NS, relay, client, &reply));
        ts += 2 * RTT_NS;
    }
    ts + 100 * NANOS_PER_MILLI
}

/// RTP both ways at 50 packets/s for `secs`, payloads in `len`.
fn rtp(
    t: u64,
    secs: u64,
    a: SocketAddr,
    b: SocketAddr,
    len: (u64, u64),
    rng: &mut Rng,
    out: &mut Vec<IpPacket>,
) {
    let interval = NANOS_PER_SEC / 50;
    let ssrc = [rng.next_u32(), rng.next_u32()];
    for i in 0..secs * 50 {
        for (side, (src, dst, lag)) in [(a, b, 0), (b, a, RTT_NS / 2)].into_iter().enumerate() {
            let n = rng.range(len.0, len.1) as usize;
            let payload = rng.bytes(n);
            let packet = apps::rtp_packet(i as u16, i as u32 * 960, ssrc[side], &payload);
            out.push(packets::udp(t + i * interval + lag, src, dst, &packet));
        }
    }
}

fn voice_call(rng: &mut Rng, out: &mut Vec<IpPacket>) {
    let (start, relayed, direct) = VOICE_CALL;
    let client = sock(PHONE, 45_000);
    let media = call_setup(at(start as f64), client, sock(RELAY, 3478), rng, out);
    rtp(media, relayed, client, sock(RELAY, 3478), (60, 100), rng, out);
    // Then straight to the peer: plain STUN connectivity checks, then RTP.
    let peer = sock(PEER, 50_200);
    let mut ts = media + relayed * NANOS_PER_SEC;
    for _ in 0..2 {
        let txid: [u8; 12] = rng.array();
        out.push(packets::udp(
            ts,
            client,
            peer,
            &apps::stun_message(apps::STUN_BINDING_REQUEST, txid, &[]),
        ));
        let ok = apps::stun_message(
            apps::STUN_BINDING_SUCCESS,
            txid,
            &[apps::xor_mapped_address(PUBLIC)],
        );
        out.push(packets::udp(ts + RTT_NS, peer, client, &ok));
        ts += 2 * RTT_NS;
    }
    rtp(ts, direct, client, peer, (60, 100), rng, out);
}

fn video_call(rng: &mut Rng, out: &mut Vec<IpPacket>) {
    let (start, secs) = VIDEO_CALL;
    let client = sock(PHONE, 45_010);
    let relay = sock(VIDEO_RELAY, 3478);
    let media = call_setup(at(start as f64), client, relay, rng, out);
    rtp(media, secs, client, relay, (700, 1100), rng, out);
}
