//! QUIC Initial decryption, client side only: recovers the TLS ClientHello a client sends in its
//! Initial packets (RFC 9000 §17.2.2, RFC 9001 §5, RFC 9369 for v2).
//!
//! Initial packets are protected with keys derived from public values (version salt and the
//! client's first Destination Connection ID), so any observer can remove the protection; this
//! is metadata extraction, not a break of QUIC security. Per flow the caller creates a
//! [`QuicInitialState`] when [`looks_like_quic_initial`] accepts a client datagram and feeds it
//! client datagrams until it reports [`QuicProgress::Done`] or [`QuicProgress::Failed`].
//!
//! Work is bounded: at most [`MAX_DATAGRAMS`] datagrams per flow, CRYPTO data reassembled up to
//! [`MAX_CRYPTO_LEN`] bytes, no allocation beyond one packet scratch buffer and that reassembly
//! buffer per flow. Google QUIC Q050/T050/T051 Initials are decrypted the same way; their gQUIC
//! frames and Q050's CHLO are read by [`q050`]. Q046 and older: [`gquic_client_hello`].

use aes::cipher::Array;
use aes_gcm::Tag;
use aes_gcm::aead::AeadInOut;
use thiserror::Error;

use super::tls::{ClientHello, ParseError, parse_client_hello_handshake};

mod crypto;
mod frames;
mod gquic;
mod header;
mod keys;
pub mod q050;

use crypto::CryptoAssembler;
use frames::read_frames;
pub(super) use gquic::chlo_sni;
pub use gquic::{GQUIC_Q046, GquicHello, gquic_client_hello};
pub use header::looks_like_quic_initial;
use header::{
    LongHeader, LongType, MAX_CID_LEN, decode_packet_number, long_header_version, parse_long_header,
};
pub use keys::QuicVersion;
use keys::{InitialKeys, SAMPLE_LEN, VersionParams};

/// Maximum client datagrams examined per flow before giving up.
pub const MAX_DATAGRAMS: u8 = 8;
/// Bound of the reassembled CRYPTO stream (the ClientHello must fit in it).
pub const MAX_CRYPTO_LEN: usize = 16 * 1024;
/// AES-128-GCM tag length.
const TAG_LEN: usize = 16;

/// Why a flow's Initial could not be decoded. Terminal for the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum QuicFailure {
    /// Not an IETF QUIC long-header Initial (short header, version negotiation, garbage).
    #[error("not a QUIC Initial")]
    NotQuicInitial,
    /// A QUIC version we have no Initial keys for (gQUIC Q0xx, reserved/greased, unknown).
    #[error("unsupported QUIC version {0:#010x}")]
    Unsupported(u32),
    /// AEAD authentication of the first Initial failed: wrong keys or corrupted packet.
    #[error("Initial packet failed authentication")]
    Decrypt,
    /// Header fields inconsistent with the datagram.
    #[error("malformed QUIC packet: {0}")]
    Malformed(&'static str),
    /// CRYPTO data beyond [`MAX_CRYPTO_LEN`] or too fragmented to track.
    #[error("CRYPTO stream exceeds reassembly bounds")]
    CryptoBounds,
    /// [`MAX_DATAGRAMS`] datagrams seen without a complete ClientHello.
    #[error("gave up after {MAX_DATAGRAMS} datagrams")]
    TooManyDatagrams,
    /// The reassembled CRYPTO data is not a valid ClientHello.
    #[error("bad ClientHello in CRYPTO data: {0}")]
    Tls(ParseError),
    /// The state already returned a final result.
    #[error("flow already finished")]
    Finished,
}

/// Result of feeding one client datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicProgress {
    /// The ClientHello is complete and parsed.
    Done(Box<ClientHello>),
    /// Google QUIC Q050: the CHLO is complete (see [`q050`]).
    Chlo(GquicHello),
    /// Feed the next client datagram of this flow.
    NeedMore,
    /// Stop trying on this flow.
    Failed(QuicFailure),
}

/// Per-flow state for recovering the client's ClientHello from its Initial packets.
pub struct QuicInitialState {
    /// QUIC version of the flow's first long-header packet (0 until one was seen).
    pub version: u32,
    params: Option<VersionParams>,
    keys: Option<InitialKeys>,
    /// DCID the current keys were derived from.
    key_dcid: ([u8; MAX_CID_LEN], usize),
    largest_pn: Option<u64>,
    crypto: CryptoAssembler,
    /// Reused buffer for unprotecting one packet (the input stays untouched).
    scratch: Vec<u8>,
    datagrams: u8,
    decrypted_any: bool,
    finished: bool,
}

impl Default for QuicInitialState {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for QuicInitialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicInitialState")
            .field("version", &format_args!("{:#010x}", self.version))
            .field("datagrams", &self.datagrams)
            .field("crypto_contiguous", &self.crypto.contiguous().len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl QuicInitialState {
    /// Fresh state for a new flow.
    pub fn new() -> Self {
        Self {
            version: 0,
            params: None,
            keys: None,
            key_dcid: ([0; MAX_CID_LEN], 0),
            largest_pn: None,
            crypto: CryptoAssembler::default(),
            scratch: Vec::new(),
            datagrams: 0,
            decrypted_any: false,
            finished: false,
        }
    }

    /// Feeds one client→server UDP payload. Coalesced packets are handled; non-Initial
    /// packets (0-RTT, Handshake) are skipped. After `Done` or `Failed`, returns
    /// `Failed(Finished)`.
    pub fn feed_client_datagram(&mut self, payload: &[u8]) -> QuicProgress {
        if self.finished {
            return QuicProgress::Failed(QuicFailure::Finished);
        }
        let progress = self.feed(payload);
        if !matches!(progress, QuicProgress::NeedMore) {
            self.finished = true;
        }
        progress
    }

    fn feed(&mut self, payload: &[u8]) -> QuicProgress {
        self.datagrams = self.datagrams.saturating_add(1);
        if let Err(f) = self.process_datagram(payload) {
            return QuicProgress::Failed(f);
        }
        let crypto = self.crypto.contiguous();
        if let Some(p) = q050::chlo_progress(self.version, crypto, self.datagrams) {
            return p;
        }
        match parse_client_hello_handshake(self.crypto.contiguous()) {
            Ok(ch) => QuicProgress::Done(Box::new(ch)),
            Err(ParseError::Incomplete { .. }) if self.datagrams >= MAX_DATAGRAMS => {
                QuicProgress::Failed(QuicFailure::TooManyDatagrams)
            }
            Err(ParseError::Incomplete { .. }) => QuicProgress::NeedMore,
            Err(e) => QuicProgress::Failed(QuicFailure::Tls(e)),
        }
    }

    /// Walks the coalesced packets of one datagram.
    fn process_datagram(&mut self, mut rest: &[u8]) -> Result<(), QuicFailure> {
        let Some(version) = long_header_version(rest) else {
            // A short header before any Initial: not the start of a QUIC connection we track.
            return match self.params {
                None => Err(QuicFailure::NotQuicInitial),
                Some(_) => Ok(()),
            };
        };
        if !self.check_version(version)? {
            return Ok(());
        }
        // Each iteration consumes ≥ 1 byte; padding or a short header ends the datagram.
        while long_header_version(rest) == Some(version) {
            let hdr = parse_long_header(rest)?;
            let (packet, tail) = rest.split_at(hdr.packet_len);
            if hdr.kind == LongType::Initial {
                self.process_initial(packet, &hdr)?;
            }
            rest = tail;
            if hdr.kind == LongType::Retry {
                break;
            }
        }
        Ok(())
    }

    /// Records the flow's version on first sight and rejects versions we cannot decrypt.
    /// Returns `false` for a later datagram of another version (e.g. after version
    /// negotiation), which is skipped rather than failing the flow.
    fn check_version(&mut self, version: QuicVersion) -> Result<bool, QuicFailure> {
        if self.params.is_some() {
            return Ok(version.0 == self.version);
        }
        if version.0 == 0 {
            return Err(QuicFailure::NotQuicInitial); // Version negotiation.
        }
        self.version = version.0;
        if version.is_reserved() {
            return Err(QuicFailure::Unsupported(version.0));
        }
        self.params = Some(VersionParams::for_version(version)?);
        Ok(true)
    }

    /// Unprotects and decrypts one Initial packet and feeds its CRYPTO frames.
    fn process_initial(&mut self, packet: &[u8], hdr: &LongHeader<'_>) -> Result<(), QuicFailure> {
        let params = self.params.ok_or(QuicFailure::NotQuicInitial)?;
        if self.keys.is_none() {
            self.set_keys(&params, hdr.dcid)?;
        }
        let mut ok = self.decrypt_into_scratch(packet, hdr.pn_offset)?;
        if ok.is_none() && hdr.dcid != self.key_dcid() {
            // After a Retry the client derives new keys from the server-chosen DCID.
            let old = self.keys.take();
            self.set_keys(&params, hdr.dcid)?;
            ok = self.decrypt_into_scratch(packet, hdr.pn_offset)?;
            if ok.is_none() {
                self.keys = old;
            }
        }
        let Some((pn, payload_start)) = ok else {
            // The first Initial must authenticate; later stray packets are just skipped.
            return if self.decrypted_any { Ok(()) } else { Err(QuicFailure::Decrypt) };
        };
        self.decrypted_any = true;
        self.largest_pn = Some(self.largest_pn.map_or(pn, |l| l.max(pn)));
        let end = self.scratch.len().saturating_sub(TAG_LEN);
        let payload = self.scratch.get(payload_start..end).unwrap_or_default();
        if q050::uses_gquic_frames(self.version) {
            let crypto = &mut self.crypto;
            return q050::read_frames(payload, |off, data| crypto.insert(off, data));
        }
        read_frames(payload, &mut self.crypto)
    }

    fn key_dcid(&self) -> &[u8] {
        self.key_dcid.0.get(..self.key_dcid.1).unwrap_or_default()
    }

    fn set_keys(&mut self, params: &VersionParams, dcid: &[u8]) -> Result<(), QuicFailure> {
        self.keys = Some(InitialKeys::derive(params, dcid)?);
        let n = dcid.len().min(MAX_CID_LEN);
        self.key_dcid.0[..n].copy_from_slice(&dcid[..n]);
        self.key_dcid.1 = n;
        Ok(())
    }

    /// Copies `packet` to the scratch buffer, removes header protection and decrypts the
    /// payload in place. Returns the packet number and payload offset, or `None` if the AEAD
    /// tag does not verify.
    fn decrypt_into_scratch(
        &mut self,
        packet: &[u8],
        pn_offset: usize,
    ) -> Result<Option<(u64, usize)>, QuicFailure> {
        const SHORT: QuicFailure = QuicFailure::Malformed("Initial too short for sample");
        let keys = self.keys.as_ref().ok_or(QuicFailure::NotQuicInitial)?;
        let sample_at = pn_offset + 4;
        let sample: [u8; SAMPLE_LEN] = packet
            .get(sample_at..sample_at + SAMPLE_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(SHORT)?;
        let mask = keys.hp_mask(sample);

        self.scratch.clear();
        self.scratch.extend_from_slice(packet);
        let buf = self.scratch.as_mut_slice();
        let first = buf.first_mut().ok_or(SHORT)?;
        *first ^= mask[0] & 0x0f; // Long header: 4 protected bits.
        let pn_len = usize::from(*first & 0x03) + 1;
        let mut truncated = 0u64;
        for (i, m) in mask[1..=pn_len].iter().enumerate() {
            let b = buf.get_mut(pn_offset + i).ok_or(SHORT)?;
            *b ^= m;
            truncated = truncated << 8 | u64::from(*b);
        }
        let pn = decode_packet_number(self.largest_pn, truncated, pn_len);
        let header_len = pn_offset + pn_len;
        if buf.len() < header_len + TAG_LEN {
            return Err(SHORT);
        }
        let (aad, body) = buf.split_at_mut(header_len);
        let (ciphertext, tag) = body.split_at_mut(body.len() - TAG_LEN);
        let tag = Tag::try_from(&*tag).map_err(|_| SHORT)?;
        let nonce = Array::from(keys.nonce(pn));
        let ok = keys.aead.decrypt_inout_detached(&nonce, aad, ciphertext.into(), &tag).is_ok();
        Ok(ok.then_some((pn, header_len)))
    }
}

#[cfg(test)]
mod tests {
    use super::crypto::*;
    use super::gquic::gquic_number;
    use super::keys::*;
    use super::*;
    use crate::dissect::ja4::{HelloTransport, ja4};
    use crate::dissect::tls::{decode_hex, fixture_lines};
    use aes_gcm::aead::AeadInOut;

    const RFC_DCID: &str = "8394c8f03e515708";
    /// RFC 9001 A.2 / RFC 9369 A.2: the CRYPTO frame of the sample client Initial.
    const RFC_CRYPTO_FRAME: &str = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868\
        04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578\
        616d706c652e636f6dff01000100000a00080006001d00170018001000070005\
        04616c706e000500050100000000003300260024001d00209370b2c9caa47fba\
        baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400\
        0d0010000e0403050306030203080408050806002d00020101001c0002400100\
        3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000\
        75300901100f088394c8f03e51570806048000ffff";

    fn derive(version: u32) -> InitialKeys {
        let params = VersionParams::for_version(QuicVersion(version)).unwrap();
        InitialKeys::derive(&params, &decode_hex(RFC_DCID)).unwrap()
    }

    /// Protects a packet the way a client does (test-only inverse of our decryption).
    fn protect(keys: &InitialKeys, header: &[u8], pn: u64, payload: &[u8]) -> Vec<u8> {
        let mut body = payload.to_vec();
        let nonce = Array::from(keys.nonce(pn));
        let tag =
            keys.aead.encrypt_inout_detached(&nonce, header, body.as_mut_slice().into()).unwrap();
        let mut pkt = [header, &body, tag.as_slice()].concat();
        let pn_offset = header.len() - 4;
        let sample: [u8; 16] = pkt[pn_offset + 4..pn_offset + 20].try_into().unwrap();
        let mask = keys.hp_mask(sample);
        pkt[0] ^= mask[0] & 0x0f;
        for i in 0..4 {
            pkt[pn_offset + i] ^= mask[1 + i];
        }
        pkt
    }

    fn rfc_payload() -> Vec<u8> {
        let mut p = decode_hex(RFC_CRYPTO_FRAME);
        p.resize(1162, 0); // PADDING
        p
    }

    #[test]
    fn rfc9001_a1_keys_and_hp_mask() {
        let secret =
            client_initial_secret(&SALT_V1, &decode_hex(RFC_DCID)).expect("secret derivation");
        assert_eq!(
            secret.to_vec(),
            decode_hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
        let keys = derive(1);
        assert_eq!(keys.iv.to_vec(), decode_hex("fa044b2f42a3fd3b46fb255c"));
        let sample: [u8; 16] = decode_hex("d1b1c98dd7689fb8ec11d242b123dc9b").try_into().unwrap();
        assert_eq!(keys.hp_mask(sample)[..5], decode_hex("437b9aec36")[..]);
    }

    /// Full RFC 9001 A.2 client Initial: our protection inverse reproduces the RFC's protected
    /// bytes (prefix with HP, suffix with the AEAD tag), and the state decodes it.
    #[test]
    fn rfc9001_a2_full_client_initial() {
        let keys = derive(1);
        let header = decode_hex("c300000001088394c8f03e5157080000449e00000002");
        let pkt = protect(&keys, &header, 2, &rfc_payload());
        assert_eq!(pkt.len(), 1200);
        assert_eq!(
            pkt[..32],
            decode_hex("c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11")[..]
        );
        assert_eq!(pkt[1184..], decode_hex("e221af44860018ab0856972e194cd934")[..]);
        assert!(looks_like_quic_initial(&pkt));
        let mut st = QuicInitialState::new();
        let QuicProgress::Done(ch) = st.feed_client_datagram(&pkt) else {
            panic!("RFC packet not decoded");
        };
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
        assert_eq!(ch.alpn, ["alpn"]);
        assert_eq!(st.version, 1);
        assert_eq!(st.feed_client_datagram(&pkt), QuicProgress::Failed(QuicFailure::Finished));

        // A flipped ciphertext bit must fail authentication.
        let mut bad = pkt.clone();
        bad[600] ^= 1;
        assert_eq!(
            QuicInitialState::new().feed_client_datagram(&bad),
            QuicProgress::Failed(QuicFailure::Decrypt)
        );
    }

    /// RFC 9369 A.1/A.2 (QUIC v2: other salt, labels and Initial type bits).
    #[test]
    fn rfc9369_v2_client_initial() {
        let secret = client_initial_secret(&SALT_V2, &decode_hex(RFC_DCID)).unwrap();
        assert_eq!(
            secret.to_vec(),
            decode_hex("14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b")
        );
        let keys = derive(0x6b33_43cf);
        assert_eq!(keys.iv.to_vec(), decode_hex("91f73e2351d8fa91660e909f"));
        let sample: [u8; 16] = decode_hex("ffe67b6abcdb4298b485dd04de806071").try_into().unwrap();
        assert_eq!(keys.hp_mask(sample)[..5], decode_hex("94a0c95e80")[..]);
        let header = decode_hex("d36b3343cf088394c8f03e5157080000449e00000002");
        let pkt = protect(&keys, &header, 2, &rfc_payload());
        assert_eq!(
            pkt[..32],
            decode_hex("d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485")[..]
        );
        assert_eq!(pkt[1184..], decode_hex("a18b2faa745b6fe189cf772a9f84cbfc")[..]);
        let mut st = QuicInitialState::new();
        let QuicProgress::Done(ch) = st.feed_client_datagram(&pkt) else {
            panic!("v2 packet not decoded");
        };
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
    }

    #[test]
    fn packet_number_decoding() {
        // RFC 9000 A.3 example.
        assert_eq!(decode_packet_number(Some(0xa82f30ea), 0x9b32, 2), 0xa82f9b32);
        assert_eq!(decode_packet_number(None, 2, 4), 2);
        assert_eq!(decode_packet_number(Some(0xff), 0x01, 1), 0x101);
    }

    #[test]
    fn crypto_reassembly_out_of_order_and_overlapping() {
        let mut a = CryptoAssembler::default();
        a.insert(10, b"klmno").unwrap();
        assert_eq!(a.contiguous(), b"");
        a.insert(3, b"defgh").unwrap();
        a.insert(0, b"abcd").unwrap(); // overlaps [3, 8)
        assert_eq!(a.contiguous(), b"abcdefgh");
        a.insert(7, b"hij").unwrap(); // bridges the gap
        assert_eq!(a.contiguous(), b"abcdefghijklmno");
        assert_eq!(a.n_ranges, 1);
        assert_eq!(a.insert(MAX_CRYPTO_LEN as u64, b"x"), Err(QuicFailure::CryptoBounds));
        assert_eq!(a.insert(u64::MAX, b"x"), Err(QuicFailure::CryptoBounds));
        // Too many holes.
        let mut b = CryptoAssembler::default();
        let res: Result<(), _> =
            (0..=MAX_RANGES as u64).try_for_each(|i| b.insert(i * 2 + 1, b"z"));
        assert_eq!(res, Err(QuicFailure::CryptoBounds));
    }

    /// CRYPTO frames out of order inside one packet and across two packets of the same DCID,
    /// with ACK, PING and PADDING in between.
    #[test]
    fn frames_out_of_order_across_packets() {
        let keys = derive(1);
        let hello = &decode_hex(RFC_CRYPTO_FRAME)[4..]; // strip frame type + offset + length
        let (a, rest) = hello.split_at(60);
        let (b, c) = rest.split_at(100);
        let crypto = |off: usize, d: &[u8]| {
            let mut f = vec![
                0x06,
                0x40 | (off >> 8) as u8,
                off as u8,
                0x40 | (d.len() >> 8) as u8,
                d.len() as u8,
            ];
            f.extend_from_slice(d);
            f
        };
        // Packet 1: c then a, with PING and an ACK frame.
        let mut p1 =
            [crypto(160, c), vec![0x01, 0x02, 0x00, 0x00, 0x00, 0x00], crypto(0, a)].concat();
        p1.resize(1100, 0);
        // Packet 2: b (the middle), then padding.
        let mut p2 = crypto(60, b);
        p2.resize(1100, 0);
        let hdr = |pn: u8| {
            let mut h = decode_hex("c300000001088394c8f03e5157080000");
            h.extend_from_slice(&(0x4000u16 | (1100 + 4 + 16)).to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, pn]);
            h
        };
        let pkt1 = protect(&keys, &hdr(0), 0, &p1);
        let pkt2 = protect(&keys, &hdr(1), 1, &p2);
        let mut st = QuicInitialState::new();
        assert_eq!(st.feed_client_datagram(&pkt1), QuicProgress::NeedMore);
        let QuicProgress::Done(ch) = st.feed_client_datagram(&pkt2) else {
            panic!("not reassembled");
        };
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
        // Same two packets coalesced in one datagram, second first.
        let mut st = QuicInitialState::new();
        let both = [pkt2.clone(), pkt1.clone()].concat();
        assert!(matches!(st.feed_client_datagram(&both), QuicProgress::Done(_)));
    }

    #[test]
    fn rejects_non_initial_and_gquic() {
        let q46 = fixture_lines("quic/q46_s0.hex").remove(0);
        assert!(!looks_like_quic_initial(&q46));
        assert_eq!(
            QuicInitialState::new().feed_client_datagram(&q46),
            QuicProgress::Failed(QuicFailure::Unsupported(0x5130_3436))
        );
        assert!(!looks_like_quic_initial(&[0x40; 1300]));
        assert_eq!(
            QuicInitialState::new().feed_client_datagram(&[0x40; 1300]),
            QuicProgress::Failed(QuicFailure::NotQuicInitial)
        );
        let reserved = [&[0xc0u8, 0x1a, 0x2a, 0x3a, 0x4a][..], &[0; 1300]].concat();
        assert_eq!(
            QuicInitialState::new().feed_client_datagram(&reserved),
            QuicProgress::Failed(QuicFailure::Unsupported(0x1a2a_3a4a))
        );
    }

    /// Real CHLOs: Q046 (quic_q46.pcap, 172.29.42.236:38292 → 153.20.183.203:443) and Q025
    /// (http_ipv6.pcap, port 45931 → [2a00:1450:4001:803::1017]:443); tshark reads the same SNI.
    #[test]
    fn gquic_cleartext_sni() {
        for (file, version, sni) in [
            ("quic/q46_s0.hex", GQUIC_Q046, "play.google.com"),
            ("quic/q25_s0.hex", 0x5130_3235, "www.google.it"),
        ] {
            let pkt = fixture_lines(file).remove(0);
            let h = gquic_client_hello(&pkt).unwrap();
            assert_eq!((h.version, h.sni.as_deref()), (version, Some(sni)));
            for cut in 0..pkt.len() {
                let _ = gquic_client_hello(&pkt[..cut]);
            }
        }
        // Q043 (public header, big-endian frames, no private flags), built from the Q046 packet:
        // flags 0x09 (version, 8-byte CID, 1-byte packet number), then the same hash and frame.
        let q46 = fixture_lines("quic/q46_s0.hex").remove(0);
        let mut q43 = vec![0x09];
        q43.extend(&q46[6..14]);
        q43.extend(b"Q043\x01");
        q43.extend(&q46[18..]);
        let h = gquic_client_hello(&q43).unwrap();
        assert_eq!((h.version, h.sni.as_deref()), (0x5130_3433, Some("play.google.com")));
        q43[0] = 0x0b; // a public reset is no CHLO
        assert_eq!(gquic_client_hello(&q43), None);
        let v2 = fixture_lines("quic/v2_s0.hex").remove(0);
        assert_eq!(gquic_client_hello(&v2), None);
        assert_eq!(gquic_number(0x5130_3530), Some(50));
        assert_eq!(gquic_number(0x5430_3530), None);
    }

    /// Feeds a fixture's datagrams until done; returns the hello.
    fn run_fixture(name: &str) -> (QuicInitialState, ClientHello) {
        let mut st = QuicInitialState::new();
        for dgram in fixture_lines(&format!("quic/{name}.hex")) {
            match st.feed_client_datagram(&dgram) {
                QuicProgress::Done(ch) => return (st, *ch),
                QuicProgress::NeedMore => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        panic!("{name}: ClientHello incomplete");
    }

    /// Real captures: the SNI nDPI and tshark report, and nDPI's JA4 where we agree.
    #[test]
    fn real_captures() {
        let cases: [(&str, u32, &str, Option<&str>); 8] = [
            (
                "mvfst22_s0",
                0xfaceb001,
                "graph.facebook.com",
                Some("q00d0109h5_0f2cb44170f4_01b7bde4a3dd"),
            ),
            (
                "mvfst_exp_s0",
                0xfaceb00e,
                "video.fmct2-3.fna.fbcdn.net",
                Some("q00d0108h5_0f2cb44170f4_f4b4187450f5"),
            ),
            ("craziness_s0", 0xff00001d, "update.googleapis.com", None),
            ("craziness_s2", 0xff00001d, "www.google.com", None),
            (
                "craziness_s103",
                0xff00001d,
                "media.fmct2-1.fna.whatsapp.net",
                Some("q13d0310h9_55b375c5d22e_b064f0e3421d"),
            ),
            ("v2_s0", 0x6b3343cf, "test", Some("q13d0310h3_55b375c5d22e_0a3b52e28cea")),
            ("draft28_0rtt_s0", 0xff00001c, "abcd", Some("q00d0310h2_55b375c5d22e_060ec1c6a056")),
            ("v1_0rtt_s1", 1, "ssl.gstatic.com", Some("q13d0312h3_55b375c5d22e_73e2d9e6cde6")),
        ];
        for (name, version, sni, want_ja4) in cases {
            let (st, ch) = run_fixture(name);
            assert_eq!(st.version, version, "{name}");
            assert_eq!(ch.sni.as_deref(), Some(sni), "{name}");
            assert!(
                ch.extensions.contains(&0x0039) || ch.extensions.contains(&0xffa5),
                "{name}: no transport params"
            );
            if let Some(want) = want_ja4 {
                assert_eq!(ja4(&ch, HelloTransport::Quic), want, "{name}");
            }
        }
    }

    /// Chrome's four Initials of this flow each carry the whole hello, scattered differently
    /// ("chaos protection"): each one alone, and all in reverse order, must decode the same.
    #[test]
    fn scattered_retransmissions_decode_alike() {
        let dgrams = fixture_lines("quic/craziness_s0.hex");
        assert_eq!(dgrams.len(), 4);
        let (_, reference) = run_fixture("craziness_s0");
        for d in dgrams.iter().rev() {
            let QuicProgress::Done(ch) = QuicInitialState::new().feed_client_datagram(d) else {
                panic!("retransmitted Initial not decoded");
            };
            assert_eq!(*ch, reference);
        }
    }

    #[test]
    fn never_panics_on_random_or_mutated_datagrams() {
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        let base = fixture_lines("quic/v2_s0.hex").remove(0);
        let mut runner = TestRunner::new(ProptestConfig::with_cases(300));
        let strategy = (
            proptest::collection::vec(any::<u8>(), 0..1400),
            proptest::collection::vec((0usize..1300, any::<u8>()), 0..6),
            0usize..1300,
        );
        runner
            .run(&strategy, |(random, flips, cut)| {
                let mut st = QuicInitialState::new();
                let _ = looks_like_quic_initial(&random);
                let _ = st.feed_client_datagram(&random);
                let mut m = base.clone();
                for (p, v) in flips {
                    if let Some(b) = m.get_mut(p) {
                        *b = v;
                    }
                }
                m.truncate(cut);
                let _ = looks_like_quic_initial(&m);
                let _ = QuicInitialState::new().feed_client_datagram(&m);
                Ok(())
            })
            .unwrap();
    }
}
