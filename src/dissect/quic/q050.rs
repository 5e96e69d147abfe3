//! Google QUIC Q050 and the TLS-based T050/T051 (facts: `quic-initial-facts.md`, nDPI's and
//! Wireshark's dissectors).
//!
//! Their client Initial is protected like an IETF draft Initial (long header with connection-id
//! length bytes, token, length, header protection, AES-128-GCM keys from "client in"/"quic key"/
//! "quic iv"/"quic hp") with Google's own salts, but the decrypted payload holds *gQUIC* frames:
//! the handshake travels in CRYPTO frames of type 0x08 (IETF QUIC: 0x06). Q050's handshake data
//! is a CHLO (tag/value map, the server name in its `SNI\0` tag); T050/T051 carry a TLS
//! ClientHello.
//!
//! Decryption and CRYPTO reassembly are [`QuicInitialState`](super::QuicInitialState)'s;
//! this module holds only what differs: the Q050 salt, the gQUIC frame walker and the CHLO
//! completeness check. Bounds are the same as for IETF QUIC (datagrams, reassembly length).

use super::{GquicHello, MAX_CRYPTO_LEN, MAX_DATAGRAMS, QuicFailure, QuicProgress, chlo_sni};
use crate::dissect::bytes::ByteReader;

/// "Q050": gQUIC crypto (CHLO), Initial protected with `SALT_Q050`.
pub const Q050: u32 = 0x5130_3530;
/// "T050": TLS 1.3 handshake over gQUIC frames.
pub const T050: u32 = 0x5430_3530;
/// "T051": as T050, with varint transport parameters.
pub const T051: u32 = 0x5430_3531;

/// Initial salt of Q050 (`quic-initial-facts.md`; the T05x salts are in `keys.rs`).
pub(super) const SALT_Q050: [u8; 20] = [
    0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94, 0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0,
    0xd3, 0xb5, 0x6b, 0x45,
];

/// Whether a version's Initial payload holds gQUIC frames rather than IETF frames.
pub fn uses_gquic_frames(version: u32) -> bool {
    matches!(version, Q050 | T050 | T051)
}

/// gQUIC frame types an Initial may carry (quiche `QuicFrameType`; ACK is `01nullmm`).
const PADDING: u8 = 0x00;
const PING: u8 = 0x07;
const CRYPTO: u8 = 0x08;

/// Walks the gQUIC frames of a decrypted Initial payload, handing CRYPTO data (offset, bytes)
/// to `crypto`. Stops at the first frame type an Initial should not hold or a truncated frame
/// (the rest of that packet is ignored), as the IETF frame walker does. Public for the fuzz target
/// (decrypted payloads are out of a fuzzer's reach behind the AEAD tag).
pub fn read_frames(
    payload: &[u8],
    mut crypto: impl FnMut(u64, &[u8]) -> Result<(), QuicFailure>,
) -> Result<(), QuicFailure> {
    let mut r = ByteReader::new(payload);
    while let Some(ty) = r.u8() {
        let ok = match ty {
            PADDING | PING => Some(()),
            CRYPTO => match read_crypto(&mut r) {
                Some((offset, data)) => crypto(offset, data).map(Some)?,
                None => None,
            },
            0x40..=0x7f => skip_ack(&mut r, ty),
            _ => None,
        };
        if ok.is_none() {
            break;
        }
    }
    Ok(())
}

/// CRYPTO: varint offset, varint length, data (the IETF layout behind another type byte).
fn read_crypto<'a>(r: &mut ByteReader<'a>) -> Option<(u64, &'a [u8])> {
    let offset = r.varint()?;
    let len = usize::try_from(r.varint()?).ok()?;
    Some((offset, r.take(len)?))
}

/// gQUIC ACK (Q046 and later): type bits `0b01n0llmm` — `n` more ack blocks, `ll` the length of
/// the largest acked, `mm` of each block length (1, 2, 4 or 6 bytes); then a 2-byte delay,
/// the blocks, and timestamps. A client's first Initial has none, a retransmission may.
fn skip_ack(r: &mut ByteReader<'_>, ty: u8) -> Option<()> {
    const LEN: [usize; 4] = [1, 2, 4, 6];
    let block_len = LEN[usize::from(ty & 0x03)];
    r.take(LEN[usize::from(ty >> 2 & 0x03)])?; // largest acked
    r.take(2)?; // ack delay (ufloat16)
    let blocks = if ty & 0x20 != 0 { usize::from(r.u8()?) } else { 0 };
    r.take(block_len)?; // first block
    for _ in 0..blocks {
        r.take(1 + block_len)?; // gap, block length
    }
    let timestamps = usize::from(r.u8()?);
    if timestamps > 0 {
        r.take(1 + 4)?; // delta from largest, time since the connection started
        for _ in 1..timestamps {
            r.take(1 + 2)?; // delta, time since the previous timestamp
        }
    }
    Some(())
}

/// For a Q050 flow, what its reassembled CRYPTO data (contiguous from offset 0) amounts to so
/// far; `None` for every other version (their data is a TLS ClientHello). Public for the fuzz
/// target.
pub fn chlo_progress(version: u32, crypto: &[u8], datagrams: u8) -> Option<QuicProgress> {
    if version != Q050 {
        return None;
    }
    Some(match chlo_len(crypto) {
        Ok(Some(len)) => {
            let msg = crypto.get(..len).unwrap_or_default();
            QuicProgress::Chlo(GquicHello { version, sni: chlo_sni(msg).map(str::to_owned) })
        }
        Ok(None) if datagrams >= MAX_DATAGRAMS => {
            QuicProgress::Failed(QuicFailure::TooManyDatagrams)
        }
        Ok(None) => QuicProgress::NeedMore,
        Err(f) => QuicProgress::Failed(f),
    })
}

/// Length of the CHLO at the start of `data` once all of it is there (`Ok(None)` until then).
/// Layout: "CHLO", u16 entry count, u16 padding, entries of (tag, u32 end offset), values; all
/// little-endian, the last entry's end offset is the length of the values.
fn chlo_len(data: &[u8]) -> Result<Option<usize>, QuicFailure> {
    const HDR: usize = 8;
    const TAG: &[u8] = b"CHLO";
    let head = data.get(..TAG.len()).unwrap_or(data);
    if !TAG.starts_with(head) {
        return Err(QuicFailure::Malformed("Q050 handshake data is not a CHLO"));
    }
    let [_, _, _, _, n0, n1, ..] = *data else {
        return Ok(None);
    };
    let table_end = HDR + 8 * usize::from(u16::from_le_bytes([n0, n1]));
    let Some(table) = data.get(..table_end) else {
        return if table_end > MAX_CRYPTO_LEN { Err(QuicFailure::CryptoBounds) } else { Ok(None) };
    };
    let values = match table.get(table_end.saturating_sub(4)..).filter(|_| table_end > HDR) {
        Some(&[a, b, c, d]) => usize::try_from(u32::from_le_bytes([a, b, c, d]))
            .map_err(|_| QuicFailure::CryptoBounds)?,
        _ => 0,
    };
    let total = table_end.checked_add(values).filter(|&t| t <= MAX_CRYPTO_LEN);
    match total {
        None => Err(QuicFailure::CryptoBounds),
        Some(t) if t <= data.len() => Ok(Some(t)),
        Some(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CHLO with the given (tag, value) entries, in the order given.
    fn chlo(entries: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut out = b"CHLO".to_vec();
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend([0, 0]);
        let mut end = 0u32;
        for (tag, value) in entries {
            end += value.len() as u32;
            out.extend(*tag);
            out.extend(end.to_le_bytes());
        }
        for (_, value) in entries {
            out.extend(*value);
        }
        out
    }

    #[test]
    fn chlo_length_and_sni() {
        let msg = chlo(&[
            (b"PAD\0", &[0x2d; 20]),
            (b"SNI\0", b"graph.facebook.com"),
            (b"VER\0", b"Q050"),
        ]);
        assert_eq!(chlo_len(&msg), Ok(Some(msg.len())));
        for cut in 0..msg.len() {
            assert_eq!(chlo_len(&msg[..cut]), Ok(None), "cut at {cut}");
        }
        let mut longer = msg.clone();
        longer.extend(b"trailing");
        assert_eq!(chlo_len(&longer), Ok(Some(msg.len())));
        let Some(QuicProgress::Chlo(h)) = chlo_progress(Q050, &longer, 1) else {
            panic!("no CHLO");
        };
        assert_eq!((h.version, h.sni.as_deref()), (Q050, Some("graph.facebook.com")));
        assert_eq!(chlo_progress(T051, &msg, 1), None);
        assert_eq!(chlo_progress(Q050, &msg[..30], 1), Some(QuicProgress::NeedMore));
        assert_eq!(
            chlo_progress(Q050, &msg[..30], MAX_DATAGRAMS),
            Some(QuicProgress::Failed(QuicFailure::TooManyDatagrams))
        );
        assert_eq!(chlo_len(b"CHLO\0\0\0\0"), Ok(Some(8)));
        assert!(chlo_len(b"SHLO").is_err());
        assert!(chlo_len(b"\x16\x03").is_err()); // a TLS record is no CHLO
    }

    #[test]
    fn chlo_lengths_beyond_the_bounds_fail() {
        let mut msg = chlo(&[(b"SNI\0", b"a.example")]);
        msg[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(chlo_len(&msg), Err(QuicFailure::CryptoBounds));
        let many = [b'C', b'H', b'L', b'O', 0xff, 0xff, 0, 0];
        assert_eq!(chlo_len(&many), Err(QuicFailure::CryptoBounds));
    }

    /// The UDP payloads of `captures/gquic-q050.pcap` (LINKTYPE_RAW, IPv4, written by
    /// `examples/make-captures/gquic.rs`; tshark 4.0 decrypts the same SNI from datagrams 1 and 6).
    fn generated_datagrams() -> Vec<Vec<u8>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/gquic-q050.pcap");
        let file = std::fs::read(path).unwrap();
        let mut out = Vec::new();
        let mut rest = &file[24..];
        while rest.len() >= 16 {
            let len = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
            let ip = &rest[16..16 + len];
            out.push(ip[20 + 8..].to_vec());
            rest = &rest[16 + len..];
        }
        out
    }

    fn sni_of(p: QuicProgress) -> Option<String> {
        match p {
            QuicProgress::Chlo(h) => h.sni,
            QuicProgress::Done(ch) => ch.sni,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn generated_q050_and_t051_initials() {
        use crate::dissect::quic::{QuicInitialState, looks_like_quic_initial};
        let d = generated_datagrams();
        assert_eq!(d.len(), 7);
        for (i, client) in [(0, true), (1, false), (2, true), (3, true), (5, true), (6, false)] {
            assert_eq!(looks_like_quic_initial(&d[i]), client, "datagram {i}");
        }
        let mut st = QuicInitialState::new();
        assert_eq!(sni_of(st.feed_client_datagram(&d[0])).as_deref(), Some("graph.facebook.com"));
        assert_eq!(st.version, Q050);
        // The CHLO's second half first: nothing until the first half arrives.
        let mut st = QuicInitialState::new();
        assert_eq!(st.feed_client_datagram(&d[2]), QuicProgress::NeedMore);
        assert_eq!(sni_of(st.feed_client_datagram(&d[3])).as_deref(), Some("static.whatsapp.net"));
        let mut st = QuicInitialState::new();
        assert_eq!(sni_of(st.feed_client_datagram(&d[5])).as_deref(), Some("www.instagram.com"));
        assert_eq!(st.version, T051);
        // A flipped ciphertext byte fails authentication; cuts and flips never panic.
        let mut bad = d[0].clone();
        bad[600] ^= 1;
        assert_eq!(
            QuicInitialState::new().feed_client_datagram(&bad),
            QuicProgress::Failed(QuicFailure::Decrypt)
        );
        for cut in (0..d[0].len()).step_by(7) {
            let _ = QuicInitialState::new().feed_client_datagram(&d[0][..cut]);
        }
    }

    #[test]
    fn frames_padding_ack_crypto() {
        let mut payload = vec![0x00, 0x00, PING];
        // ACK with blocks: largest (2 bytes), delay, 1 more block, first block, gap + block,
        // 2 timestamps.
        payload.extend([0x64, 0x00, 0x05, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x02]);
        payload.extend([0x01, 0, 0, 0, 0, 0x01, 0, 0]);
        payload.extend([CRYPTO, 0x05, 0x03, b'a', b'b', b'c']);
        payload.extend([CRYPTO, 0x00, 0x02, b'x', b'y']);
        payload.extend([0x02, 0xaa]); // CONNECTION_CLOSE: the walk stops here
        payload.extend([CRYPTO, 0x09, 0x01, b'z']);
        let mut got = Vec::new();
        read_frames(&payload, |off, data| {
            got.push((off, data.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [(5, b"abc".to_vec()), (0, b"xy".to_vec())]);
        // Every truncation ends the walk without a panic; the callback's error is passed on.
        for cut in 0..payload.len() {
            let _ = read_frames(&payload[..cut], |_, _| Ok(()));
        }
        assert_eq!(
            read_frames(&payload, |_, _| Err(QuicFailure::CryptoBounds)),
            Err(QuicFailure::CryptoBounds)
        );
    }
}
