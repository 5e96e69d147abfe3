//! Google QUIC Q0xx before Q050: the CHLO travels in cleartext (NULL encryption with a 12-byte
//! FNV-1a hash) in a STREAM frame of stream 1.

use super::header::LONG_HEADER_FORM;
use crate::dissect::bytes::ByteReader;

/// Google QUIC version "Q046" (IETF-invariant long header, cleartext CHLO).
pub const GQUIC_Q046: u32 = 0x5130_3436;
/// gQUIC versions from this one on use the long header; earlier ones the public header.
pub(super) const GQUIC_FIRST_LONG_HEADER: u16 = 44;
/// gQUIC versions before this one have a private-flags byte after the hash (removed in Q034).
pub(super) const GQUIC_FIRST_WITHOUT_PRIVATE_FLAGS: u16 = 34;
/// gQUIC versions before this one write frame fields little-endian (big-endian from Q039).
pub(super) const GQUIC_FIRST_BIG_ENDIAN: u16 = 39;
/// gQUIC versions from this one on encrypt the Initial (Q050: IETF-style keys, `q050`).
pub(super) const GQUIC_FIRST_ENCRYPTED: u16 = 50;

/// The number of a gQUIC version `Q0nn` (e.g. 46), if `v` is one.
pub(super) fn gquic_number(v: u32) -> Option<u16> {
    let [q, d0, d1, d2] = v.to_be_bytes();
    let digit = |d: u8| d.is_ascii_digit().then(|| u16::from(d - b'0'));
    (q == b'Q').then_some(())?;
    Some(digit(d0)? * 100 + digit(d1)? * 10 + digit(d2)?)
}

/// A gQUIC client packet carrying a cleartext CHLO (Q025 … Q046).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GquicHello {
    /// Version as on the wire, e.g. 0x51303436 for "Q046".
    pub version: u32,
    /// The CHLO's `SNI` tag, if it holds a valid host name.
    pub sni: Option<String>,
}

/// Reads the cleartext CHLO of a gQUIC client packet, in either header format: the public
/// header (versions up to Q043: flags, 8-byte connection id, version, packet number) or the
/// Q044–Q046 long header. `None` if the packet is not a gQUIC client packet with a CHLO in its
/// first STREAM frame; Q050 and later (encrypted Initial) are not read.
pub fn gquic_client_hello(payload: &[u8]) -> Option<GquicHello> {
    let mut c = ByteReader::new(payload);
    let first = c.u8()?;
    let (version, number) = if first & LONG_HEADER_FORM != 0 {
        let version = c.u32()?;
        let number = gquic_number(version).filter(|&n| n >= GQUIC_FIRST_LONG_HEADER)?;
        // One byte holds both CID lengths as nibbles, each 0 or 3 + value (pre-IETF encoding).
        let cil = c.u8()?;
        let cid_len = |n: u8| if n == 0 { 0 } else { usize::from(n) + 3 };
        c.take(cid_len(cil >> 4) + cid_len(cil & 0x0f))?;
        c.take(usize::from(first & 0x03) + 1)?; // packet number
        (version, number)
    } else {
        // Public flags: 0x01 version present, 0x02 reset, 0x08 (8-byte) connection id; bits
        // 0x30 the packet number length. A client's first packets carry the version.
        if first & 0x03 != 0x01 || first & 0x08 == 0 {
            return None;
        }
        c.take(8)?;
        let version = c.u32()?;
        let number = gquic_number(version).filter(|&n| n < GQUIC_FIRST_LONG_HEADER)?;
        c.take([1, 2, 4, 6][usize::from(first >> 4 & 0x03)])?;
        (version, number)
    };
    if number >= GQUIC_FIRST_ENCRYPTED {
        return None;
    }
    c.take(12)?; // message authentication hash (FNV-1a 128 truncated)
    if number < GQUIC_FIRST_WITHOUT_PRIVATE_FLAGS {
        c.u8()?;
    }
    let data = gquic_stream_frame(&mut c, number >= GQUIC_FIRST_BIG_ENDIAN)?;
    if data.get(..4)? != b"CHLO" {
        return None;
    }
    Some(GquicHello { version, sni: chlo_sni(data).map(str::to_owned) })
}

/// Reads one gQUIC STREAM frame (`1fdooo ss`) of stream 1 (the handshake stream) and returns
/// its data.
pub(super) fn gquic_stream_frame<'a>(c: &mut ByteReader<'a>, big_endian: bool) -> Option<&'a [u8]> {
    let ty = c.u8()?;
    if ty & 0x80 == 0 {
        return None;
    }
    let stream_id_len = usize::from(ty & 0x03) + 1;
    let ooo = usize::from((ty >> 2) & 0x07);
    let offset_len = if ooo == 0 { 0 } else { ooo + 1 };
    let id = c.take(stream_id_len)?;
    let id = if big_endian {
        id.iter().fold(0u32, |n, &b| n << 8 | u32::from(b))
    } else {
        id.iter().rev().fold(0u32, |n, &b| n << 8 | u32::from(b))
    };
    if id != 1 {
        return None;
    }
    c.take(offset_len)?;
    if ty & 0x20 != 0 {
        let len = c.take(2)?;
        let len = [*len.first()?, *len.get(1)?];
        let len = if big_endian { u16::from_be_bytes(len) } else { u16::from_le_bytes(len) };
        c.take(usize::from(len))
    } else {
        c.take(c.remaining())
    }
}

/// Finds the `SNI\0` value of a CHLO handshake message (tag/value map, little-endian offsets).
pub(crate) fn chlo_sni(msg: &[u8]) -> Option<&str> {
    const HDR: usize = 8; // "CHLO", u16 entry count, u16 padding
    if msg.get(..4)? != b"CHLO" {
        return None;
    }
    let entries = usize::from(u16::from_le_bytes([*msg.get(4)?, *msg.get(5)?]));
    let table = msg.get(HDR..HDR + 8 * entries)?;
    let values = msg.get(HDR + 8 * entries..)?;
    let mut start = 0usize;
    for entry in table.chunks_exact(8) {
        let (tag, end) = entry.split_at(4);
        let end = usize::try_from(u32::from_le_bytes(end.try_into().ok()?)).ok()?;
        if tag == b"SNI\0" {
            let name = values.get(start..end)?;
            return crate::dissect::tls::valid_hostname(name);
        }
        start = end;
    }
    None
}
