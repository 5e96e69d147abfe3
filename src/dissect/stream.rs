//! Bounded in-order reassembly of the first bytes a TCP client sends, so that a ClientHello or a
//! WhatsApp preface split over segments (post-quantum key shares make hellos span several) is
//! parsed whole. Only the first [`MAX_STREAM`] bytes are kept, and only until dissection ends.
//!
//! Per flow that is bounded, but a flood of half-open flows that each send a TLS-looking start
//! would hold `max_flows` × (16 KiB + held segments). A process-wide [budget](set_budget) caps
//! the bytes all streams hold together; a segment that would pass it is refused (counted in
//! [`refused`]) and that flow's dissection goes on without it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Most bytes kept from the start of the client's stream.
pub const MAX_STREAM: usize = 16 * 1024;
/// Out-of-order segments held while waiting for a gap to fill.
const MAX_PENDING: usize = 4;
/// Default for the bytes all client streams may hold together: 16 K flows buffering a whole
/// 16 KiB start at once, far above what real traffic needs at one moment.
pub const DEFAULT_BUDGET: usize = 256 << 20;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_BUDGET);
static HELD: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Sets the process-wide budget for bytes held by all client streams.
pub fn set_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// Bytes all client streams hold now.
pub fn held() -> usize {
    HELD.load(Ordering::Relaxed)
}

/// Segments refused so far because the budget was spent.
pub fn refused() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// The client's first bytes, in sequence order.
#[derive(Debug, Default)]
pub struct ClientStream {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    pending: Vec<(u32, Vec<u8>)>,
    /// Bytes this stream has taken from the budget.
    charged: usize,
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        HELD.fetch_sub(self.charged, Ordering::Relaxed);
    }
}

/// Signed distance from `b` to `a` in sequence space.
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl ClientStream {
    /// Bytes gathered so far, in order from the first.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the bound is reached.
    pub fn full(&self) -> bool {
        self.buf.len() >= MAX_STREAM
    }

    /// Notes the client's SYN: data starts at `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if self.buf.is_empty() {
            self.next_seq = Some(seq.wrapping_add(1));
        }
    }

    /// Adds a segment; returns whether new in-order bytes arrived.
    pub fn segment(&mut self, seq: u32, payload: &[u8]) -> bool {
        if payload.is_empty() || self.full() {
            return false;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let before = self.buf.len();
        match seq_diff(seq, next) {
            d if d <= 0 => self.append(seq, payload, next),
            d if d < MAX_STREAM as i64 && self.pending.len() < MAX_PENDING => {
                let keep = payload.len().min(MAX_STREAM);
                if self.charge(keep) {
                    self.pending.push((seq, payload[..keep].to_vec()));
                }
            }
            _ => {}
        }
        self.drain_pending();
        self.buf.len() > before
    }

    /// Appends the part of a segment at or after `next` (retransmitted bytes are skipped).
    fn append(&mut self, seq: u32, payload: &[u8], next: u32) {
        let skip = seq_diff(next, seq) as usize;
        if skip >= payload.len() {
            return;
        }
        let room = MAX_STREAM - self.buf.len();
        let new = &payload[skip..];
        let take = new.len().min(room);
        if !self.charge(take) {
            return;
        }
        // Exact: the charge is the allocation, not an amortised doubling of it.
        self.buf.reserve_exact(take);
        self.buf.extend_from_slice(&new[..take]);
        self.next_seq = Some(next.wrapping_add(new.len() as u32));
    }

    /// Takes `n` bytes from the process-wide budget; `false` (and counted) when it is spent.
    fn charge(&mut self, n: usize) -> bool {
        let budget = BUDGET.load(Ordering::Relaxed);
        let ok = HELD
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                h.checked_add(n).filter(|&t| t <= budget)
            })
            .is_ok();
        if ok {
            self.charged += n;
        } else {
            REFUSED.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    fn release(&mut self, n: usize) {
        let n = n.min(self.charged);
        self.charged -= n;
        HELD.fetch_sub(n, Ordering::Relaxed);
    }

    fn drain_pending(&mut self) {
        while let Some(next) = self.next_seq {
            let Some(i) = self.pending.iter().position(|(s, _)| seq_diff(*s, next) <= 0) else {
                break;
            };
            let (seq, data) = self.pending.swap_remove(i);
            self.release(data.len());
            self.append(seq, &data, next);
            if self.full() {
                let held: usize = self.pending.iter().map(|(_, d)| d.len()).sum();
                self.release(held);
                self.pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_retransmitted_and_out_of_order() {
        let mut s = ClientStream::default();
        s.syn(u32::MAX); // wraps: data starts at 0
        assert!(s.segment(0, b"abc"));
        assert!(!s.segment(0, b"abc")); // retransmission
        assert!(s.segment(1, b"bcde")); // overlap adds "de"
        assert!(!s.segment(10, b"klm")); // gap: held
        assert!(s.segment(5, b"fghij")); // fills the gap, drains "klm"
        assert_eq!(s.bytes(), b"abcdefghijklm");
    }

    /// What a stream holds is charged and given back; the refusal itself is tested in
    /// `tests/flood.rs`, alone in its process, since the budget is process-wide.
    #[test]
    fn charges_what_it_holds() {
        let mut a = ClientStream::default();
        assert!(a.segment(1, &[1u8; 1000]));
        assert_eq!(a.charged, 1000);
        a.segment(5000, &[2u8; 500]); // held out of order: charged too
        assert_eq!(a.charged, 1500);
        assert!(a.segment(1001, &[3u8; 3999])); // fills the gap; the held segment moves over
        assert_eq!((a.bytes().len(), a.charged), (5499, 5499));
        assert!(a.buf.capacity() <= MAX_STREAM);
    }

    #[test]
    fn bounded() {
        let mut s = ClientStream::default();
        let big = vec![7u8; MAX_STREAM + 100];
        s.segment(1, &big);
        assert_eq!(s.bytes().len(), MAX_STREAM);
        assert!(s.full());
        assert!(!s.segment(1 + MAX_STREAM as u32, b"x"));
    }
}
