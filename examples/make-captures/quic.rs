//! QUIC v1 Initial packets protected exactly as RFC 9001 §5 says, so that any
//! decoder (tshark, leakscope) can remove the protection and read the ClientHello.
//! Later packets (Handshake, 1-RTT) would need keys from a real key exchange: they
//! are opaque pseudo-random bytes behind correct headers, as seen on the wire by
//! anyone without the keys.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, Payload};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::packets::Rng;

pub const QUIC_V1: u32 = 0x0000_0001;
/// RFC 9001 §5.2 initial salt for QUIC v1.
const INITIAL_SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// Clients pad datagrams carrying Initial packets to at least this (RFC 9000 §14.1).
pub const MIN_INITIAL_DATAGRAM: usize = 1200;
const AEAD_TAG_LEN: usize = 16;
const HP_SAMPLE_LEN: usize = 16;
/// We always encode packet numbers on 4 bytes: simplest, and the sample offset
/// (RFC 9001 §5.4.2) then starts right after the packet number.
const PN_LEN: usize = 4;
const LONG_HEADER_FIXED_BITS: u8 = 0xc0;
const SHORT_HEADER_FIXED_BIT: u8 = 0x40;
const LONG_TYPE_INITIAL: u8 = 0;
const LONG_TYPE_HANDSHAKE: u8 = 2;

const FRAME_PADDING: u8 = 0x00;
const FRAME_ACK: u8 = 0x02;
const FRAME_CRYPTO: u8 = 0x06;

pub struct Keys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

/// Initial keys for one side, derived from the client's first Destination CID.
pub fn initial_keys(client_dcid: &[u8], server_side: bool) -> Keys {
    initial_keys_salted(&INITIAL_SALT_V1, client_dcid, server_side)
}

/// Initial keys of a version with its own salt (drafts, Google's Q050/T05x) and v1's labels.
pub fn initial_keys_salted(salt: &[u8; 20], client_dcid: &[u8], server_side: bool) -> Keys {
    let (initial_secret, _) = Hkdf::<Sha256>::extract(Some(salt), client_dcid);
    let label = if server_side { "server in" } else { "client in" };
    let secret = expand_label(&initial_secret, label, 32);
    Keys {
        key: expand_label(&secret, "quic key", 16).try_into().expect("16"),
        iv: expand_label(&secret, "quic iv", 12).try_into().expect("12"),
        hp: expand_label(&secret, "quic hp", 16).try_into().expect("16"),
    }
}

/// TLS 1.3 HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
fn expand_label(secret: &[u8], label: &str, len: usize) -> Vec<u8> {
    let full_label = format!("tls13 {label}");
    let mut info = Vec::new();
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full_label.len() as u8);
    info.extend_from_slice(full_label.as_bytes());
    info.push(0); // empty context
    let hkdf = Hkdf::<Sha256>::from_prk(secret).expect("PRK is a SHA-256 output");
    let mut out = vec![0u8; len];
    hkdf.expand(&info, &mut out).expect("short output");
    out
}

/// A CRYPTO frame at `offset` carrying `data`.
pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut out = vec![FRAME_CRYPTO];
    put_varint(&mut out, offset);
    put_varint(&mut out, data.len() as u64);
    out.extend_from_slice(data);
    out
}

/// An ACK frame acknowledging exactly packet `largest` (no gaps).
pub fn ack_frame(largest: u64, delay: u64) -> Vec<u8> {
    let mut out = vec![FRAME_ACK];
    put_varint(&mut out, largest);
    put_varint(&mut out, delay);
    put_varint(&mut out, 0); // range count
    put_varint(&mut out, 0); // first range: only `largest`
    out
}

pub struct LongHeader<'a> {
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub packet_number: u32,
}

/// A protected Initial packet. `min_len` pads the packet (with PADDING frames,
/// inside the encryption) up to that size.
pub fn initial_packet(keys: &Keys, hdr: &LongHeader, frames: &[u8], min_len: usize) -> Vec<u8> {
    initial_packet_version(QUIC_V1, keys, hdr, frames, min_len)
}

/// As [`initial_packet`], for another version with the IETF long header.
pub fn initial_packet_version(
    version: u32,
    keys: &Keys,
    hdr: &LongHeader,
    frames: &[u8],
    min_len: usize,
) -> Vec<u8> {
    let mut header = long_header_prefix(LONG_TYPE_INITIAL, hdr);
    header[1..5].copy_from_slice(&version.to_be_bytes());
    put_varint(&mut header, 0); // token length: no token
    let header_len_without_length = header.len() + 2 + PN_LEN;
    let mut plaintext = frames.to_vec();
    let wanted = min_len.saturating_sub(header_len_without_length + AEAD_TAG_LEN);
    plaintext.resize(plaintext.len().max(wanted), FRAME_PADDING);
    put_varint2(&mut header, (PN_LEN + plaintext.len() + AEAD_TAG_LEN) as u64);
    let pn_offset = header.len();
    header.extend_from_slice(&hdr.packet_number.to_be_bytes());
    protect(keys, header, pn_offset, hdr.packet_number, &plaintext)
}

/// A Handshake packet whose payload is opaque bytes (we hold no handshake keys).
pub fn opaque_handshake_packet(hdr: &LongHeader, payload_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = long_header_prefix(LONG_TYPE_HANDSHAKE, hdr);
    put_varint2(&mut out, (PN_LEN + payload_len) as u64);
    out.extend_from_slice(&rng.bytes(PN_LEN + payload_len));
    out
}

/// A 1-RTT (short header) packet: fixed bit, protected bits, DCID, opaque rest.
pub fn opaque_short_packet(dcid: &[u8], payload_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![SHORT_HEADER_FIXED_BIT | (rng.next_u32() as u8 & 0x3f)];
    out.extend_from_slice(dcid);
    out.extend_from_slice(&rng.bytes(PN_LEN + payload_len));
    out
}

fn long_header_prefix(packet_type: u8, hdr: &LongHeader) -> Vec<u8> {
    let mut out = vec![LONG_HEADER_FIXED_BITS | (packet_type << 4) | (PN_LEN as u8 - 1)];
    out.extend_from_slice(&QUIC_V1.to_be_bytes());
    out.push(hdr.dcid.len() as u8);
    out.extend_from_slice(hdr.dcid);
    out.push(hdr.scid.len() as u8);
    out.extend_from_slice(hdr.scid);
    out
}

/// AEAD-encrypt the payload with the header as associated data, then apply header
/// protection (RFC 9001 §5.3 and §5.4).
fn protect(
    keys: &Keys,
    mut header: Vec<u8>,
    pn_offset: usize,
    pn: u32,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = keys.iv;
    for (n, p) in nonce[12 - 8..].iter_mut().zip(u64::from(pn).to_be_bytes()) {
        *n ^= p;
    }
    let aead = Aes128Gcm::new_from_slice(&keys.key).expect("16-byte key");
    let ciphertext =
        aead.encrypt(&nonce.into(), Payload { msg: plaintext, aad: &header }).expect("encrypt");

    // The sample starts 4 bytes after the start of the packet number field, i.e.
    // at 4 - PN_LEN into the ciphertext.
    const SAMPLE_AT: usize = 4 - PN_LEN;
    let sample: [u8; HP_SAMPLE_LEN] =
        ciphertext[SAMPLE_AT..SAMPLE_AT + HP_SAMPLE_LEN].try_into().expect("sample");
    let hp = Aes128::new_from_slice(&keys.hp).expect("16-byte key");
    let mut mask = sample.into();
    hp.encrypt_block(&mut mask);
    let block: [u8; HP_SAMPLE_LEN] = mask.into();
    header[0] ^= block[0] & 0x0f; // long header: low 4 bits protected
    for (b, m) in header[pn_offset..pn_offset + PN_LEN].iter_mut().zip(&block[1..]) {
        *b ^= m;
    }
    header.extend_from_slice(&ciphertext);
    header
}

/// QUIC transport parameters (RFC 9000 §18) a mobile client would send.
pub fn client_transport_parameters(scid: &[u8]) -> Vec<u8> {
    const MAX_IDLE_TIMEOUT: u64 = 0x01;
    const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    const INITIAL_MAX_DATA: u64 = 0x04;
    const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
    const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
    const INITIAL_SOURCE_CONNECTION_ID: u64 = 0x0f;
    let mut out = Vec::new();
    for (id, value) in [
        (MAX_IDLE_TIMEOUT, 30_000),
        (MAX_UDP_PAYLOAD_SIZE, 1_472),
        (INITIAL_MAX_DATA, 15_728_640),
        (INITIAL_MAX_STREAM_DATA_BIDI_LOCAL, 6_291_456),
        (INITIAL_MAX_STREAMS_BIDI, 100),
    ] {
        let mut v = Vec::new();
        put_varint(&mut v, value);
        put_varint(&mut out, id);
        put_varint(&mut out, v.len() as u64);
        out.extend_from_slice(&v);
    }
    put_varint(&mut out, INITIAL_SOURCE_CONNECTION_ID);
    put_varint(&mut out, scid.len() as u64);
    out.extend_from_slice(scid);
    out
}

/// RFC 9000 §16 variable-length integer, shortest encoding.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x3f => out.push(v as u8),
        0x40..=0x3fff => out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes()),
        _ => out.extend_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes()),
    }
}

/// Two-byte varint, used for the Length field so its size is known up front.
fn put_varint2(out: &mut Vec<u8>, v: u64) {
    assert!(v <= 0x3fff, "length fits in 2-byte varint");
    out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9001 Appendix A.1 key derivation test vector.
    #[test]
    fn rfc9001_client_initial_keys() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let keys = initial_keys(&dcid, false);
        assert_eq!(hex(&keys.key), "1f369613dd76d5467730efcbe3b1a22d");
        assert_eq!(hex(&keys.iv), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(hex(&keys.hp), "9f50449e04a0e810283a1e9933adedd2");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
