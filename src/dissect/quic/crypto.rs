//! CRYPTO stream reassembly of the Initial packets.

use super::{MAX_CRYPTO_LEN, QuicFailure};

/// Maximum disjoint CRYPTO ranges held while reassembling (Chrome scatters a hello into ~20).
pub(super) const MAX_RANGES: usize = 64;

/// Reassembles the Initial CRYPTO stream from frames in any order, bounded in size and in the
/// number of disjoint ranges. Overlapping data simply overwrites (retransmissions are equal).
#[derive(Debug)]
pub(super) struct CryptoAssembler {
    data: Vec<u8>,
    /// Sorted, disjoint, non-adjacent `[start, end)` ranges received.
    ranges: [(u16, u16); MAX_RANGES],
    pub(super) n_ranges: usize,
}

impl Default for CryptoAssembler {
    fn default() -> Self {
        Self { data: Vec::new(), ranges: [(0, 0); MAX_RANGES], n_ranges: 0 }
    }
}

impl CryptoAssembler {
    pub(super) fn insert(&mut self, offset: u64, bytes: &[u8]) -> Result<(), QuicFailure> {
        let start = usize::try_from(offset).map_err(|_| QuicFailure::CryptoBounds)?;
        let end = start
            .checked_add(bytes.len())
            .filter(|&e| e <= MAX_CRYPTO_LEN)
            .ok_or(QuicFailure::CryptoBounds)?;
        if bytes.is_empty() {
            return Ok(());
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        if let Some(dst) = self.data.get_mut(start..end) {
            dst.copy_from_slice(bytes);
        }
        // MAX_CRYPTO_LEN < 2^16, so the casts are lossless.
        self.add_range(start as u16, end as u16)
    }

    /// Inserts `[start, end)` and merges it with overlapping or touching ranges.
    pub(super) fn add_range(&mut self, mut start: u16, mut end: u16) -> Result<(), QuicFailure> {
        let mut merged = [(0u16, 0u16); MAX_RANGES];
        let mut n = 0;
        let mut placed = false;
        for &(s, e) in self.ranges.iter().take(self.n_ranges) {
            if e < start {
                merged[n] = (s, e);
                n += 1;
            } else if s > end {
                if !placed {
                    merged[n] = (start, end);
                    n += 1;
                    placed = true;
                }
                if n >= MAX_RANGES {
                    return Err(QuicFailure::CryptoBounds);
                }
                merged[n] = (s, e);
                n += 1;
            } else {
                start = start.min(s);
                end = end.max(e);
            }
            if n >= MAX_RANGES {
                return Err(QuicFailure::CryptoBounds);
            }
        }
        if !placed {
            merged[n] = (start, end);
            n += 1;
        }
        self.ranges = merged;
        self.n_ranges = n;
        Ok(())
    }

    /// Bytes available contiguously from offset 0.
    pub(super) fn contiguous(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, end)) if self.n_ranges > 0 => {
                self.data.get(..usize::from(end)).unwrap_or_default()
            }
            _ => &[],
        }
    }
}
