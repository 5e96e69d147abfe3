//! Long-header parsing (RFC 9000 §17.2) and packet-number recovery.

use super::QuicFailure;
use super::keys::{QuicVersion, VersionParams};
use crate::dissect::bytes::ByteReader;

/// RFC 9000 §14.1: datagrams carrying a client Initial are padded to at least 1200 bytes.
const MIN_INITIAL_DATAGRAM: usize = 1200;
/// RFC 9000 §17.2: connection IDs are at most 20 bytes in all supported versions.
pub(super) const MAX_CID_LEN: usize = 20;

/// Long-header packet types, normalised across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

impl LongType {
    pub(super) fn from_bits(bits: u8, v2: bool) -> Self {
        // v2 rotates the codes by one (RFC 9369 §3.2).
        let b = if v2 { bits.wrapping_sub(1) & 3 } else { bits & 3 };
        match b {
            0 => Self::Initial,
            1 => Self::ZeroRtt,
            2 => Self::Handshake,
            _ => Self::Retry,
        }
    }
}

/// Decoded fields of one long-header packet; offsets are relative to the packet start.
#[derive(Debug, Clone, Copy)]
pub(super) struct LongHeader<'a> {
    pub(super) kind: LongType,
    pub(super) dcid: &'a [u8],
    /// Offset of the (protected) packet number.
    pub(super) pn_offset: usize,
    /// Total bytes of this packet within the datagram.
    pub(super) packet_len: usize,
}

pub(super) const LONG_HEADER_FORM: u8 = 0x80;

/// Reads the version of a long-header packet, if `buf` starts with one.
pub(super) fn long_header_version(buf: &[u8]) -> Option<QuicVersion> {
    let [first, a, b, c, d, ..] = *buf else {
        return None;
    };
    (first & LONG_HEADER_FORM != 0).then(|| QuicVersion(u32::from_be_bytes([a, b, c, d])))
}

/// Parses the long header at the start of `buf` (an IETF-style version is assumed).
pub(super) fn parse_long_header(buf: &[u8]) -> Result<LongHeader<'_>, QuicFailure> {
    const BAD: QuicFailure = QuicFailure::Malformed("truncated long header");
    let mut c = ByteReader::new(buf);
    let first = c.u8().ok_or(BAD)?;
    let version = QuicVersion(c.u32().ok_or(BAD)?);
    let dcid_len = usize::from(c.u8().ok_or(BAD)?);
    if dcid_len > MAX_CID_LEN {
        return Err(QuicFailure::Malformed("DCID longer than 20"));
    }
    let dcid = c.take(dcid_len).ok_or(BAD)?;
    let scid_len = usize::from(c.u8().ok_or(BAD)?);
    if scid_len > MAX_CID_LEN {
        return Err(QuicFailure::Malformed("SCID longer than 20"));
    }
    c.take(scid_len).ok_or(BAD)?;
    let kind = LongType::from_bits((first >> 4) & 3, version == QuicVersion::V2);
    let packet_len = match kind {
        LongType::Retry => buf.len(), // No length field: the rest of the datagram.
        LongType::Initial | LongType::ZeroRtt | LongType::Handshake => {
            if kind == LongType::Initial {
                let token_len = c.varint_len().ok_or(BAD)?;
                c.take(token_len).ok_or(BAD)?;
            }
            let length = c.varint_len().ok_or(BAD)?;
            let end = c.pos().checked_add(length).ok_or(BAD)?;
            if end > buf.len() {
                return Err(QuicFailure::Malformed("packet length beyond datagram"));
            }
            end
        }
    };
    Ok(LongHeader { kind, dcid, pn_offset: c.pos(), packet_len })
}

/// Cheap pre-check on a UDP payload: an IETF-style long-header Initial of a version we can
/// decrypt, in a datagram padded to the 1200 bytes clients must send. No crypto.
pub fn looks_like_quic_initial(payload: &[u8]) -> bool {
    let Some(version) = long_header_version(payload) else {
        return false;
    };
    let Ok(params) = VersionParams::for_version(version) else {
        return false;
    };
    let type_bits = payload.first().map_or(0xff, |f| (f >> 4) & 3);
    payload.len() >= MIN_INITIAL_DATAGRAM
        && type_bits == params.initial_type
        && payload.get(5).is_some_and(|&l| usize::from(l) <= MAX_CID_LEN)
}

/// Recovers a full packet number from its truncated encoding (RFC 9000 Appendix A.3).
pub(super) fn decode_packet_number(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let bits = 8 * pn_len as u32;
    let win = 1u64 << bits;
    let hwin = win / 2;
    let candidate = (expected & !(win - 1)) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}
