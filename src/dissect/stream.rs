//! Bounded in-order reassembly of the first bytes a TCP client sends, so that a ClientHello or a
//! WhatsApp preface split over segments (post-quantum key shares make hellos span several) is
//! parsed whole. Only the first [`MAX_STREAM`] bytes are kept, and only until dissection ends.
//!
//! Per flow that is bounded, but a flood of half-open flows that each send a TLS-looking start
//! would hold `max_flows` × (16 KiB + held segments). A process-wide [budget](set_budget) caps
//! the bytes all streams hold together; a segment that would pass it is refused (counted in
//! [`refused`]) and that flow's dissection goes on without it.
//!
//! Each thread takes the budget in blocks (`BLOCK`) and charges its streams against its own
//! share: with `replay --threads`, one count changed by every thread at every segment moved its
//! cache line between the cores thousands of times a second.

use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Most bytes kept from the start of the client's stream.
pub const MAX_STREAM: usize = 16 * 1024;
/// Out-of-order segments held while waiting for a gap to fill.
const MAX_PENDING: usize = 4;
/// Default for the bytes all client streams may hold together: 16 K flows buffering a whole
/// 16 KiB start at once, far above what real traffic needs at one moment.
pub const DEFAULT_BUDGET: usize = 256 << 20;

/// Bytes a thread takes from the budget at a time; when its unused share passes two of them, it
/// gives back all but one. So the threads' unused shares, at most two blocks each, are all a
/// refusal can come early by; with one thread a refusal is exact (its share is used first).
const BLOCK: usize = 64 << 10;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_BUDGET);
/// Bytes the threads have taken from the budget: what their streams hold and their unused
/// shares.
static TAKEN: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// What each live thread's streams hold (a thread writes only its own), for [`held`].
static THREADS: Mutex<Vec<Arc<Count>>> = Mutex::new(Vec::new());
/// What the streams of ended threads hold (signed: a stream may end on another thread).
static ENDED: AtomicIsize = AtomicIsize::new(0);

/// A count on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Count(AtomicIsize);

impl Count {
    /// Adds `n`; only the count's own thread writes it.
    fn add(&self, n: isize) {
        self.0.store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// A thread's share of the budget.
struct Share {
    held: Arc<Count>,
    /// Taken from the budget, not yet charged.
    spare: Cell<usize>,
}

impl Share {
    fn new() -> Self {
        let held = Arc::new(Count::default());
        THREADS.lock().unwrap_or_else(|e| e.into_inner()).push(held.clone());
        Share { held, spare: Cell::new(0) }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        TAKEN.fetch_sub(self.spare.get(), Ordering::Relaxed);
        ENDED.fetch_add(self.held.0.load(Ordering::Relaxed), Ordering::Relaxed);
        THREADS.lock().unwrap_or_else(|e| e.into_inner()).retain(|c| !Arc::ptr_eq(c, &self.held));
    }
}

thread_local! {
    static SHARE: Share = Share::new();
}

/// Takes `n` more bytes from the budget, if it has them.
fn take(n: usize) -> bool {
    // The budget is read only when the shared count is: most charges come out of the share.
    let grab = |k: usize| {
        let budget = BUDGET.load(Ordering::Relaxed);
        TAKEN
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_add(k).filter(|&t| t <= budget)
            })
            .is_ok()
    };
    let charged = SHARE.try_with(|s| {
        let spare = s.spare.get();
        if spare < n {
            let (need, block) = (n - spare, (n - spare).max(BLOCK));
            if grab(block) {
                s.spare.set(spare + block);
            } else if grab(need) {
                s.spare.set(spare + need);
            } else {
                return false;
            }
        }
        s.spare.set(s.spare.get() - n);
        s.held.add(n as isize);
        true
    });
    // A thread that is ending charges the shared counts directly.
    charged.unwrap_or_else(|_| {
        let ok = grab(n);
        if ok {
            ENDED.fetch_add(n as isize, Ordering::Relaxed);
        }
        ok
    })
}

/// Gives `n` bytes back to the budget.
fn give(n: usize) {
    let given = SHARE.try_with(|s| {
        s.held.add(-(n as isize));
        let spare = s.spare.get() + n;
        if spare > 2 * BLOCK {
            TAKEN.fetch_sub(spare - BLOCK, Ordering::Relaxed);
            s.spare.set(BLOCK);
        } else {
            s.spare.set(spare);
        }
    });
    if given.is_err() {
        TAKEN.fetch_sub(n, Ordering::Relaxed);
        ENDED.fetch_sub(n as isize, Ordering::Relaxed);
    }
}

/// Sets the process-wide budget for bytes held by all client streams.
pub fn set_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// Bytes all client streams hold now.
pub fn held() -> usize {
    let live: isize = THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|c| c.0.load(Ordering::Relaxed))
        .sum();
    (live + ENDED.load(Ordering::Relaxed)).max(0) as usize
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
        if self.charged > 0 {
            give(self.charged);
        }
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
        let ok = take(n);
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
        give(n);
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

    /// A thread charges its own share, taken a block at a time, and its count leaves the
    /// registry when it ends.
    #[test]
    fn a_thread_charges_its_own_share() {
        let count = std::thread::spawn(|| {
            let mut a = ClientStream::default();
            assert!(a.segment(1, &[1u8; 1000]));
            let (held, spare) = SHARE.with(|s| (s.held.0.load(Ordering::Relaxed), s.spare.get()));
            assert_eq!((held, spare), (1000, BLOCK - 1000));
            // Eight whole streams: the fourth and the eighth each take another block.
            let mut streams = vec![a];
            for _ in 0..8 {
                let mut s = ClientStream::default();
                assert!(s.segment(1, &[2u8; MAX_STREAM]));
                streams.push(s);
            }
            let (held, spare) = SHARE.with(|s| (s.held.0.load(Ordering::Relaxed), s.spare.get()));
            assert_eq!(
                (held, spare),
                (1000 + 8 * MAX_STREAM as isize, 3 * BLOCK - 1000 - 8 * MAX_STREAM)
            );
            // Given back in order: when the unused share passes two blocks (at the fifth whole
            // stream) all but one block goes back; three more streams' bytes are kept after it.
            drop(streams);
            let (held, spare) = SHARE.with(|s| (s.held.0.load(Ordering::Relaxed), s.spare.get()));
            assert_eq!((held, spare), (0, BLOCK + 3 * MAX_STREAM));
            SHARE.with(|s| s.held.clone())
        })
        .join()
        .unwrap();
        assert!(!THREADS.lock().unwrap().iter().any(|c| Arc::ptr_eq(c, &count)));
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
