//! Bounded in-order reassembly of the first bytes a TCP client sends, so that a ClientHello or a
//! WhatsApp preface split over segments (post-quantum key shares make hellos span several) is
//! parsed whole. Only the first [`MAX_STREAM`] bytes are kept, and only until dissection ends.

/// Most bytes kept from the start of the client's stream.
pub const MAX_STREAM: usize = 16 * 1024;
/// Out-of-order segments held while waiting for a gap to fill.
const MAX_PENDING: usize = 4;

/// The client's first bytes, in sequence order.
#[derive(Debug, Default)]
pub struct ClientStream {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    pending: Vec<(u32, Vec<u8>)>,
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
                self.pending.push((seq, payload[..keep].to_vec()));
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
        self.buf.extend_from_slice(&new[..take]);
        self.next_seq = Some(next.wrapping_add(new.len() as u32));
    }

    fn drain_pending(&mut self) {
        while let Some(next) = self.next_seq {
            let Some(i) = self.pending.iter().position(|(s, _)| seq_diff(*s, next) <= 0) else {
                break;
            };
            let (seq, data) = self.pending.swap_remove(i);
            self.append(seq, &data, next);
            if self.full() {
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
