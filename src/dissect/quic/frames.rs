//! The frames of a decrypted IETF Initial payload: CRYPTO data is kept, the rest skipped.

use super::QuicFailure;
use super::crypto::CryptoAssembler;
use crate::dissect::bytes::ByteReader;

/// Frame types that may appear in Initial packets (RFC 9000 §12.4, Table 3).
mod frame {
    pub const PADDING: u64 = 0x00;
    pub const PING: u64 = 0x01;
    pub const ACK: u64 = 0x02;
    pub const ACK_ECN: u64 = 0x03;
    pub const CRYPTO: u64 = 0x06;
    pub const CONNECTION_CLOSE: u64 = 0x1c;
    pub const CONNECTION_CLOSE_APP: u64 = 0x1d;
}

/// Walks the frames of a decrypted Initial payload, feeding CRYPTO data to `crypto`. Stops at
/// the first unknown or truncated frame (the rest of that packet is ignored).
pub(super) fn read_frames(payload: &[u8], crypto: &mut CryptoAssembler) -> Result<(), QuicFailure> {
    let mut c = ByteReader::new(payload);
    while c.remaining() > 0 {
        let Some(ty) = c.varint() else { break };
        let ok = match ty {
            // An Initial is padded to 1200 bytes: skip the run at once, not a frame per byte.
            frame::PADDING => {
                let run = c.rest().iter().position(|&b| b != 0).unwrap_or(c.remaining());
                c.take(run).map(|_| ())
            }
            frame::PING => Some(()),
            frame::ACK | frame::ACK_ECN => skip_ack(&mut c, ty == frame::ACK_ECN),
            frame::CRYPTO => {
                let Some((offset, data)) = read_crypto(&mut c) else {
                    break;
                };
                crypto.insert(offset, data)?;
                Some(())
            }
            frame::CONNECTION_CLOSE | frame::CONNECTION_CLOSE_APP => {
                skip_close(&mut c, ty == frame::CONNECTION_CLOSE)
            }
            _ => None,
        };
        if ok.is_none() {
            break;
        }
    }
    Ok(())
}

pub(super) fn read_crypto<'a>(c: &mut ByteReader<'a>) -> Option<(u64, &'a [u8])> {
    let offset = c.varint()?;
    let len = c.varint_len()?;
    Some((offset, c.take(len)?))
}

pub(super) fn skip_ack(c: &mut ByteReader<'_>, ecn: bool) -> Option<()> {
    c.varint()?; // largest acknowledged
    c.varint()?; // ack delay
    let ranges = c.varint()?;
    c.varint()?; // first range
    // Each further range takes at least two bytes, so a bogus count ends at the packet end.
    for _ in 0..ranges {
        c.varint()?;
        c.varint()?;
    }
    if ecn {
        for _ in 0..3 {
            c.varint()?;
        }
    }
    Some(())
}

pub(super) fn skip_close(c: &mut ByteReader<'_>, transport: bool) -> Option<()> {
    c.varint()?; // error code
    if transport {
        c.varint()?; // offending frame type
    }
    let reason = c.varint_len()?;
    c.take(reason).map(|_| ())
}
