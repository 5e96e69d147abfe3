//! The one byte reader of the parsers (TLS, QUIC, gQUIC): forward-only, every read
//! bounds-checked and returning `None` past the end, so no accessor can panic. Parsers that
//! report *what* was truncated wrap it (e.g. TLS's labelled `Reader`).

/// A forward-only reader over a byte slice.
#[derive(Clone, Copy, Debug)]
pub struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes read so far (the offset of the next read in the original slice).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    /// QUIC variable-length integer (RFC 9000 §16).
    pub fn varint(&mut self) -> Option<u64> {
        let first = self.u8()?;
        let extra = (1usize << (first >> 6)) - 1;
        let mut v = u64::from(first & 0x3f);
        for b in self.take(extra)? {
            v = v << 8 | u64::from(*b);
        }
        Some(v)
    }

    /// A varint that must fit in `usize`.
    pub fn varint_len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }
}

/// Big-endian `u16` at the start of `b` (the caller has checked the length).
pub fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Big-endian `u32` at the start of `b` (the caller has checked the length).
pub fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Bytes from a hex string (test vectors).
#[cfg(test)]
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = ByteReader::new(&[0x40, 0x25, 1, 2, 3]);
        assert_eq!(r.varint(), Some(0x25));
        assert_eq!((r.pos(), r.remaining(), r.rest()), (2, 3, &[1u8, 2, 3][..]));
        assert_eq!(r.u32(), None);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.take(2), None);
        assert_eq!(r.u8(), Some(3));
        assert!(r.is_empty());
        assert_eq!(r.u8(), None);
    }
}
