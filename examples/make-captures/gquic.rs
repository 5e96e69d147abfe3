//! Google QUIC Q050 and T051 client Initials, built from public facts (no real Q050 capture was
//! at hand): the IETF long header (connection-id length bytes, token, length), packet protection
//! as RFC 9001 with Google's salts, and gQUIC frames inside — the handshake in CRYPTO frames of
//! type 0x08 (IETF: 0x06), ACK as `0b01n0llmm`. Q050's handshake message is a CHLO (tag/value
//! map, little-endian, tags in ascending order); T051's a TLS 1.3 ClientHello.

use std::net::{Ipv4Addr, SocketAddr};

use crate::packets::{self, IpPacket, NANOS_PER_MILLI, Rng};
use crate::quic::{self, LongHeader};
use crate::tls;
use crate::writer::{self, Record, TsResolution};
use crate::{Generated, START_NS};

const Q050: u32 = 0x5130_3530;
const T051: u32 = 0x5430_3531;
const SALT_Q050: [u8; 20] = [
    0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94, 0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0,
    0xd3, 0xb5, 0x6b, 0x45,
];
const SALT_T051: [u8; 20] = [
    0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc,
    0xda, 0x6e, 0x03, 0x3d,
];
const GQUIC_CRYPTO: u8 = 0x08;
/// gQUIC packets are at most 1350 bytes; Chrome pads its CHLO packets to that.
const GQUIC_PACKET: usize = 1350;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);
/// Shaped like Meta's edge (157.240.0.0/16), chosen for this file.
const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(157, 240, 22, 35)), 443);

/// A gQUIC CRYPTO frame (varint offset and length, as IETF's).
fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut out = vec![GQUIC_CRYPTO];
    quic::put_varint(&mut out, offset);
    quic::put_varint(&mut out, data.len() as u64);
    out.extend_from_slice(data);
    out
}

/// A server's gQUIC ACK of packet `largest` (1-byte fields, no more blocks, no timestamps).
fn ack_frame(largest: u8) -> Vec<u8> {
    vec![0x40, largest, 0x00, 0x00, largest + 1, 0x00]
}

/// A CHLO naming `sni`, with the tags an inchoate Chrome CHLO has (PAD, SNI, VER, UAID).
fn chlo(sni: &str, user_agent: &str) -> Vec<u8> {
    let entries: [(&[u8; 4], Vec<u8>); 4] = [
        (b"PAD\0", vec![b'-'; 600]),
        (b"SNI\0", sni.as_bytes().to_vec()),
        (b"VER\0", b"Q050".to_vec()),
        (b"UAID", user_agent.as_bytes().to_vec()),
    ];
    let mut out = b"CHLO".to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    let mut end = 0u32;
    for (tag, value) in &entries {
        end += value.len() as u32;
        out.extend_from_slice(*tag);
        out.extend_from_slice(&end.to_le_bytes());
    }
    for (_, value) in &entries {
        out.extend_from_slice(value);
    }
    out
}

struct Conn {
    version: u32,
    salt: &'static [u8; 20],
    port: u16,
    dcid: [u8; 8],
}

impl Conn {
    fn client(&self) -> SocketAddr {
        SocketAddr::new(CLIENT.into(), self.port)
    }

    /// A client Initial (packet number `pn`) with `frames`, padded to a full gQUIC packet.
    fn client_initial(&self, pn: u32, frames: &[u8]) -> Vec<u8> {
        let keys = quic::initial_keys_salted(self.salt, &self.dcid, false);
        let hdr = LongHeader { dcid: &self.dcid, scid: &[], packet_number: pn };
        quic::initial_packet_version(self.version, &keys, &hdr, frames, GQUIC_PACKET)
    }

    /// The server's Initial answering: an ACK (its REJ/ServerHello would follow; opaque here).
    fn server_initial(&self) -> Vec<u8> {
        let keys = quic::initial_keys_salted(self.salt, &self.dcid, true);
        let hdr = LongHeader { dcid: &[], scid: &self.dcid, packet_number: 0 };
        quic::initial_packet_version(self.version, &keys, &hdr, &ack_frame(0), 0)
    }
}

/// `gquic-q050.pcap`: three flows to one server (raw IP link type).
pub fn generate() -> Generated {
    let mut rng = Rng::new(0x0050_0050);
    let mut t = START_NS;
    let mut packets: Vec<IpPacket> = Vec::new();
    let mut send = |t: &mut u64, src: SocketAddr, dst: SocketAddr, payload: &[u8]| {
        *t += 15 * NANOS_PER_MILLI;
        packets.push(packets::udp(*t, src, dst, payload));
    };

    // 1. Q050, the whole CHLO in the first Initial.
    let q1 = Conn { version: Q050, salt: &SALT_Q050, port: 50501, dcid: rng.array() };
    let hello = chlo("graph.facebook.com", "Cronet/80.0.3987.0");
    send(&mut t, q1.client(), SERVER, &q1.client_initial(1, &crypto_frame(0, &hello)));
    send(&mut t, SERVER, q1.client(), &q1.server_initial());

    // 2. Q050, the CHLO split over two Initials sent in reverse order (retransmission order).
    let q2 = Conn { version: Q050, salt: &SALT_Q050, port: 50502, dcid: rng.array() };
    let hello = chlo("static.whatsapp.net", "Cronet/80.0.3987.0");
    let (head, tail) = hello.split_at(400);
    send(&mut t, q2.client(), SERVER, &q2.client_initial(2, &crypto_frame(400, tail)));
    send(&mut t, q2.client(), SERVER, &q2.client_initial(1, &crypto_frame(0, head)));
    send(&mut t, SERVER, q2.client(), &q2.server_initial());

    // 3. T051: a TLS 1.3 ClientHello in a gQUIC CRYPTO frame.
    let t1 = Conn { version: T051, salt: &SALT_T051, port: 50503, dcid: rng.array() };
    let params = quic::client_transport_parameters(&[]);
    let spec = tls::ClientHelloSpec {
        sni: "www.instagram.com",
        alpn: &["h3-T051"],
        quic_transport_parameters: Some(&params),
    };
    let hello = tls::client_hello(&spec, &mut rng);
    send(&mut t, t1.client(), SERVER, &t1.client_initial(1, &crypto_frame(0, &hello)));
    send(&mut t, SERVER, t1.client(), &t1.server_initial());

    let records: Vec<Record> = packets
        .iter()
        .map(|p| Record { ts_ns: p.ts_ns, data: p.bytes.clone(), interface: 0 })
        .collect();
    Generated {
        path: "gquic-q050.pcap".into(),
        about: "Google QUIC with encrypted Initials, built from public facts (LINKTYPE_RAW). \
                Q050 (Initial salt 504574ef…, gQUIC frames: CRYPTO type 0x08 holding a CHLO \
                with PAD, SNI, VER and UAID tags) from 192.168.1.20:50501 to 157.240.22.35:443, \
                SNI `graph.facebook.com`; Q050 from :50502 with the CHLO split over two \
                Initials sent in reverse order, SNI `static.whatsapp.net`; T051 (salt \
                7a4edef4…) from :50503 with a TLS 1.3 ClientHello in a gQUIC CRYPTO frame, SNI \
                `www.instagram.com`. Each client Initial is padded to 1350 bytes; the server \
                answers each flow with an Initial holding an ACK."
            .into(),
        bytes: writer::pcap_bytes(writer::LINKTYPE_RAW, TsResolution::Micros, &records),
        tuples: packets.iter().map(|p| p.tuple).collect(),
    }
}
