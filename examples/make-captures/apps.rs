//! Application payloads: DHCP, DNS, STUN, RTP, HTTP and WhatsApp chat framing.
//! Everything opaque is pseudo-random from the caller's `Rng`, never real content.

use std::net::{Ipv4Addr, SocketAddr};

use crate::packets::{Dir, IpPacket, Rng, TcpConn};

// ---------------------------------------------------------------- DHCP (RFC 2131)

pub const DHCP_DISCOVER: u8 = 1;
pub const DHCP_OFFER: u8 = 2;
pub const DHCP_REQUEST: u8 = 3;
pub const DHCP_ACK: u8 = 5;
const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const HTYPE_ETHERNET: u8 = 1;
const DHCP_MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// BOOTP messages are padded to the historical 300-byte minimum.
const BOOTP_MIN_LEN: usize = 300;
const OPT_SUBNET_MASK: u8 = 1;
const OPT_ROUTER: u8 = 3;
const OPT_DNS: u8 = 6;
const OPT_HOSTNAME: u8 = 12;
const OPT_BROADCAST: u8 = 28;
const OPT_REQUESTED_IP: u8 = 50;
const OPT_LEASE_TIME: u8 = 51;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_SERVER_ID: u8 = 54;
const OPT_PARAMETER_REQUEST_LIST: u8 = 55;
const OPT_MAX_MESSAGE_SIZE: u8 = 57;
const OPT_RENEWAL_TIME: u8 = 58;
const OPT_REBINDING_TIME: u8 = 59;
const OPT_VENDOR_CLASS: u8 = 60;
const OPT_CLIENT_ID: u8 = 61;
const OPT_END: u8 = 255;
/// What Android 14's DHCP client asks for (subnet, router, DNS, domain, MTU,
/// broadcast, lease/renewal/rebinding times, vendor info, captive portal).
const ANDROID_PARAMETER_REQUEST_LIST: [u8; 10] = [1, 3, 6, 15, 26, 28, 51, 58, 59, 43];

pub struct DhcpClient<'a> {
    pub mac: [u8; 6],
    pub xid: u32,
    pub hostname: &'a str,
    pub vendor_class: &'a str,
}

/// A client message (DISCOVER or REQUEST) from an unconfigured client.
pub fn dhcp_client_message(
    client: &DhcpClient,
    kind: u8,
    requested: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Vec<u8> {
    let mut out = bootp_fixed(BOOTREQUEST, client.xid, client.mac, Ipv4Addr::UNSPECIFIED);
    put_option(&mut out, OPT_MESSAGE_TYPE, &[kind]);
    let mut client_id = vec![HTYPE_ETHERNET];
    client_id.extend_from_slice(&client.mac);
    put_option(&mut out, OPT_CLIENT_ID, &client_id);
    put_option(&mut out, OPT_MAX_MESSAGE_SIZE, &1500u16.to_be_bytes());
    put_option(&mut out, OPT_VENDOR_CLASS, client.vendor_class.as_bytes());
    put_option(&mut out, OPT_HOSTNAME, client.hostname.as_bytes());
    if let Some((address, server)) = requested {
        put_option(&mut out, OPT_REQUESTED_IP, &address.octets());
        put_option(&mut out, OPT_SERVER_ID, &server.octets());
    }
    put_option(&mut out, OPT_PARAMETER_REQUEST_LIST, &ANDROID_PARAMETER_REQUEST_LIST);
    finish_bootp(out)
}

pub struct DhcpLease {
    pub address: Ipv4Addr,
    pub server: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub broadcast: Ipv4Addr,
    pub lease_secs: u32,
}

/// A server reply (OFFER or ACK) as dnsmasq sends it for NetworkManager's hotspot.
pub fn dhcp_server_message(client: &DhcpClient, kind: u8, lease: &DhcpLease) -> Vec<u8> {
    let mut out = bootp_fixed(BOOTREPLY, client.xid, client.mac, lease.address);
    put_option(&mut out, OPT_MESSAGE_TYPE, &[kind]);
    put_option(&mut out, OPT_SERVER_ID, &lease.server.octets());
    put_option(&mut out, OPT_LEASE_TIME, &lease.lease_secs.to_be_bytes());
    put_option(&mut out, OPT_RENEWAL_TIME, &(lease.lease_secs / 2).to_be_bytes());
    put_option(&mut out, OPT_REBINDING_TIME, &(lease.lease_secs / 8 * 7).to_be_bytes());
    put_option(&mut out, OPT_SUBNET_MASK, &lease.netmask.octets());
    put_option(&mut out, OPT_BROADCAST, &lease.broadcast.octets());
    put_option(&mut out, OPT_ROUTER, &lease.server.octets());
    put_option(&mut out, OPT_DNS, &lease.server.octets());
    finish_bootp(out)
}

fn bootp_fixed(op: u8, xid: u32, mac: [u8; 6], yiaddr: Ipv4Addr) -> Vec<u8> {
    const HLEN: u8 = 6;
    let mut out = vec![op, HTYPE_ETHERNET, HLEN, 0];
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // secs, flags (unicast replies)
    out.extend_from_slice(&[0; 4]); // ciaddr
    out.extend_from_slice(&yiaddr.octets());
    out.extend_from_slice(&[0; 8]); // siaddr, giaddr
    out.extend_from_slice(&mac);
    out.extend_from_slice(&[0; 10 + 64 + 128]); // chaddr padding, sname, file
    out.extend_from_slice(&DHCP_MAGIC_COOKIE);
    out
}

fn finish_bootp(mut out: Vec<u8>) -> Vec<u8> {
    out.push(OPT_END);
    out.resize(out.len().max(BOOTP_MIN_LEN), 0);
    out
}

fn put_option(out: &mut Vec<u8>, code: u8, value: &[u8]) {
    out.push(code);
    out.push(u8::try_from(value.len()).expect("short option"));
    out.extend_from_slice(value);
}

// ---------------------------------------------------------------- DNS (RFC 1035)

const DNS_TYPE_A: u16 = 1;
const DNS_TYPE_CNAME: u16 = 5;
const DNS_CLASS_IN: u16 = 1;
const DNS_FLAGS_QUERY_RD: u16 = 0x0100;
const DNS_FLAGS_RESPONSE_RD_RA: u16 = 0x8180;
/// Pointer to the question name, which always starts right after the header.
const NAME_POINTER_TO_QUESTION: [u8; 2] = [0xc0, 0x0c];

pub enum Answer<'a> {
    A(Ipv4Addr),
    Cname(&'a str),
}

pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut out = dns_header(id, DNS_FLAGS_QUERY_RD, 0);
    put_question(&mut out, name);
    out
}

/// A response whose first answer is for the question name (compressed pointer)
/// and later ones for the preceding CNAME target.
pub fn dns_response(id: u16, name: &str, ttl: u32, answers: &[Answer]) -> Vec<u8> {
    let mut out = dns_header(id, DNS_FLAGS_RESPONSE_RD_RA, answers.len() as u16);
    put_question(&mut out, name);
    let mut owner: Option<&str> = None;
    for answer in answers {
        match owner {
            None => out.extend_from_slice(&NAME_POINTER_TO_QUESTION),
            Some(alias) => put_name(&mut out, alias),
        }
        let (kind, rdata) = match answer {
            Answer::A(address) => (DNS_TYPE_A, address.octets().to_vec()),
            Answer::Cname(target) => {
                owner = Some(target);
                let mut rdata = Vec::new();
                put_name(&mut rdata, target);
                (DNS_TYPE_CNAME, rdata)
            }
        };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&DNS_CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

fn dns_header(id: u16, flags: u16, answers: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for field in [id, flags, 1, answers, 0, 0] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out
}

fn put_question(out: &mut Vec<u8>, name: &str) {
    put_name(out, name);
    out.extend_from_slice(&DNS_TYPE_A.to_be_bytes());
    out.extend_from_slice(&DNS_CLASS_IN.to_be_bytes());
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

// ---------------------------------------------------------------- STUN (RFC 5389)

pub const STUN_BINDING_REQUEST: u16 = 0x0001;
pub const STUN_BINDING_SUCCESS: u16 = 0x0101;
/// Message type WhatsApp's relays use for their own allocation exchange.
pub const STUN_WHATSAPP_RELAY: u16 = 0x0801;
const STUN_MAGIC_COOKIE: u32 = 0x2112_a442;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// WhatsApp-specific attributes live in the comprehension-required private range
/// starting at 0x4000.
pub const ATTR_WHATSAPP_TOKEN: u16 = 0x4000;
pub const ATTR_WHATSAPP_CALL_ID: u16 = 0x4002;
pub const ATTR_WHATSAPP_FLAGS: u16 = 0x4003;
const FAMILY_IPV4: u8 = 0x01;

pub fn stun_message(kind: u16, transaction_id: [u8; 12], attributes: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (attr, value) in attributes {
        body.extend_from_slice(&attr.to_be_bytes());
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&STUN_MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&transaction_id);
    out.extend_from_slice(&body);
    out
}

/// XOR-MAPPED-ADDRESS attribute value for an IPv4 address.
pub fn xor_mapped_address(addr: SocketAddr) -> (u16, Vec<u8>) {
    let SocketAddr::V4(v4) = addr else { panic!("IPv4 only") };
    let cookie = STUN_MAGIC_COOKIE.to_be_bytes();
    let mut value = vec![0, FAMILY_IPV4];
    value.extend_from_slice(&(v4.port() ^ (STUN_MAGIC_COOKIE >> 16) as u16).to_be_bytes());
    value.extend(v4.ip().octets().iter().zip(cookie).map(|(a, c)| a ^ c));
    (ATTR_XOR_MAPPED_ADDRESS, value)
}

// ---------------------------------------------------------------- RTP (RFC 3550)

const RTP_VERSION_2: u8 = 0x80;
/// Dynamic payload type WhatsApp uses for its Opus audio.
pub const RTP_PAYLOAD_TYPE: u8 = 120;

pub fn rtp_packet(seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![RTP_VERSION_2, RTP_PAYLOAD_TYPE];
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

// ---------------------------------------------------------------- WhatsApp chat

/// Client prologue of the WhatsApp chat protocol: "WA", protocol version 6,
/// dictionary version 3.
pub const WHATSAPP_PROLOGUE: [u8; 4] = [0x57, 0x41, 0x06, 0x03];

/// A WhatsApp frame: 3-byte big-endian length, then opaque (Noise-encrypted) bytes.
pub fn whatsapp_frame(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = (len as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&rng.bytes(len));
    out
}

// ---------------------------------------------------------------- HTTP

pub fn http_get(host: &str, path: &str, user_agent: &str, cookie: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\n\
         Accept: */*\r\nCookie: {cookie}\r\nConnection: keep-alive\r\n\r\n"
    )
    .into_bytes()
}

pub fn http_response(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: max-age=1209600\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Lower-case hex of pseudo-random bytes, for cookie values and paths.
pub fn hex_token(len: usize, rng: &mut Rng) -> String {
    rng.bytes(len).iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------- WhatsApp chat connection

/// Keepalive frame length on a chat connection.
pub const CHAT_KEEPALIVE_LEN: usize = 17;

/// A chat connection's start: the `WA` prologue with the client hello, the server's reply and
/// the client's finish.
pub fn chat_handshake(conn: &mut TcpConn, now: u64, rng: &mut Rng, out: &mut Vec<IpPacket>) {
    let mut hello = WHATSAPP_PROLOGUE.to_vec();
    hello.extend_from_slice(&whatsapp_frame(36, rng));
    let mut now = conn.send(now, Dir::ToServer, &hello, out);
    now = conn.send(now, Dir::ToClient, &whatsapp_frame(350, rng), out);
    now = conn.send(now, Dir::ToServer, &whatsapp_frame(280, rng), out);
    conn.send(now, Dir::ToClient, &whatsapp_frame(60, rng), out);
}

/// One scheduled moment of a chat connection: a message burst (3 frames up, 5 down) or a
/// keepalive exchange.
pub fn chat_moment(
    conn: &mut TcpConn,
    ts: u64,
    burst: bool,
    rng: &mut Rng,
    out: &mut Vec<IpPacket>,
) {
    let mut ts = ts;
    if burst {
        for _ in 0..3 {
            let len = rng.range(120, 600) as usize;
            ts = conn.send(ts, Dir::ToServer, &whatsapp_frame(len, rng), out);
        }
        for _ in 0..5 {
            let len = rng.range(100, 1400) as usize;
            ts = conn.send(ts, Dir::ToClient, &whatsapp_frame(len, rng), out);
        }
    } else {
        ts = conn.send(ts, Dir::ToServer, &whatsapp_frame(CHAT_KEEPALIVE_LEN, rng), out);
        conn.send(ts, Dir::ToClient, &whatsapp_frame(CHAT_KEEPALIVE_LEN, rng), out);
    }
}
