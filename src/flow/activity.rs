//! Per-flow activity over time: a bounded list of **segments**, runs of data packets separated by
//! at least [`SEGMENT_GAP_NS`] of silence or by a new request (a *turn*), with bytes, data packets
//! and the largest payload per direction. Flow records carry totals only; sessions, message
//! bursts, keepalives, media items and call media need to know *when* and *in what shape* the
//! bytes moved. Kept only for flows that look like Meta's (see [`ActivityTrack`]), so other flows
//! pay one branch per packet.

use crate::capture::Timestamp;

/// Silence that ends a segment.
pub const SEGMENT_GAP_NS: i64 = 1_000_000_000;
/// Most segments kept per record; past it, neighbours merge pairwise (detail halves, counted).
pub const MAX_SEGMENTS: usize = 1024;
/// An originator data packet at least this big, after the responder sent at least
/// [`TURN_MIN_RESPONSE`] since the originator's last packet this big, is a new request and starts a segment:
/// back-to-back downloads on one connection split at their requests. Smaller packets (HTTP/2
/// window updates, acks) do not; nor does an upload's continuation after a few hundred bytes
/// from the server (TLS session tickets, a short response).
pub const TURN_MIN_PAYLOAD: u32 = 200;
/// See [`TURN_MIN_PAYLOAD`].
pub const TURN_MIN_RESPONSE: u32 = 8 * 1024;

pub use crate::record::activity::{ActivityLog, Segment};

/// Whether `p` (whose length on the wire is `len`) is one WhatsApp frame or a lone frame header:
/// 3 bytes of length (the 2015 format keeps flags in the top nibble) then that many bytes.
fn wa_framed(p: &[u8], len: u32) -> bool {
    if p.len() < 3 {
        return false;
    }
    let n = u32::from(p[0] & 0x0f) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
    len == 3 && n > 0 || n + 3 == len
}

/// Whether `p` starts like a TLS record (content type 20–23, version 3.x).
fn tls_record(p: &[u8]) -> bool {
    p.len() >= 3 && (20..=23).contains(&p[0]) && p[1] == 3 && p[2] <= 4
}

impl ActivityLog {
    /// Accounts one packet: `payload` is its transport payload as captured, `len` its length on
    /// the wire. Packets without payload (ACKs) are not activity.
    #[inline]
    pub fn add(&mut self, ts: Timestamp, from_orig: bool, payload: &[u8], len: u32) {
        if len == 0 {
            return;
        }
        let t = ts.nanos();
        if wa_framed(payload, len) {
            self.framed += 1;
        } else if tls_record(payload) {
            self.tls += 1;
        }
        let turn = from_orig && self.down_since_up >= TURN_MIN_RESPONSE && len >= TURN_MIN_PAYLOAD;
        let seg = match self.segments.last_mut() {
            // Packets a little out of order fall in the latest segment too.
            Some(s) if t < s.end + SEGMENT_GAP_NS && !turn => s,
            _ => {
                if self.segments.len() >= MAX_SEGMENTS {
                    self.coarsen();
                }
                self.push(Segment { start: t, end: t, ..Segment::default() });
                self.segments.last_mut().expect("just pushed")
            }
        };
        seg.end = seg.end.max(t);
        let size = len.min(u32::from(u16::MAX)) as u16;
        if from_orig {
            seg.pkts_up = seg.pkts_up.saturating_add(1);
            seg.bytes_up += u64::from(len);
            seg.max_up = seg.max_up.max(size);
            // Small originator packets (QUIC or TCP acks, window updates) are not requests.
            if len >= TURN_MIN_PAYLOAD {
                self.down_since_up = 0;
            }
        } else {
            seg.pkts_down = seg.pkts_down.saturating_add(1);
            seg.bytes_down += u64::from(len);
            seg.max_down = seg.max_down.max(size);
            self.down_since_up = self.down_since_up.saturating_add(len);
        }
    }

    /// Seeds the log with what the flow carried before tracking began (one segment).
    pub fn seed(&mut self, at: Timestamp, up: (u64, u64), down: (u64, u64)) {
        if up.1 + down.1 == 0 {
            return;
        }
        let pk = |n: u64| n.min(u64::from(u16::MAX)) as u16;
        self.push(Segment {
            start: at.nanos(),
            end: at.nanos(),
            bytes_up: up.1,
            bytes_down: down.1,
            pkts_up: pk(up.0),
            pkts_down: pk(down.0),
            ..Segment::default()
        });
    }

    /// Appends a segment. The first is allocated alone: most flows (a flood's, a short request's)
    /// never get a second, and `Vec`'s first growth would reserve four.
    fn push(&mut self, seg: Segment) {
        if self.segments.capacity() == 0 {
            self.segments.reserve_exact(1);
        }
        self.segments.push(seg);
    }

    /// Time of the first responder data, nanoseconds.
    pub fn first_down(&self) -> Option<i64> {
        self.segments.iter().find(|s| s.pkts_down > 0).map(|s| s.start)
    }

    /// Merges neighbours pairwise: the log stays bounded, detail halves.
    fn coarsen(&mut self) {
        self.coarsened += 1;
        let mut out: Vec<Segment> = Vec::with_capacity(MAX_SEGMENTS);
        for pair in self.segments.chunks(2) {
            let mut s = pair[0];
            if let Some(b) = pair.get(1) {
                s.merge(b);
            }
            out.push(s);
        }
        self.segments = out;
    }
}

/// Whether a flow's activity is being logged.
#[derive(Clone, Debug, Default)]
pub enum ActivityTrack {
    /// Not decided yet; the value is the dissection signals last looked at.
    #[default]
    Undecided,
    /// Undecided, checked with these signals: re-check only when they change.
    Checked(u8),
    /// Not a Meta flow: nothing more to do.
    Off,
    /// Logging.
    On(Box<ActivityLog>),
}

impl ActivityTrack {
    /// Takes the log of the current record, leaving an empty one (the flow may go on).
    pub fn take_log(&mut self) -> Option<Box<ActivityLog>> {
        match self {
            ActivityTrack::On(log) => Some(std::mem::take(log)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn silence_and_turns_split_segments() {
        let mut log = ActivityLog::default();
        log.add(Timestamp(10 * S), true, &[0, 0, 40], 43); // one WhatsApp frame
        log.add(Timestamp(10 * S + 5), false, &[0x17, 3, 3], 500);
        log.add(Timestamp(10 * S + 6), false, &[1], 9000);
        log.add(Timestamp(10 * S + 9), true, &[], 0); // an ACK: nothing
        log.add(Timestamp(10 * S + 10), true, &[1], 300); // a new request after the answer
        log.add(Timestamp(12 * S), true, &[0, 0, 9], 3); // a lone frame header
        assert_eq!(log.segments.len(), 3);
        let s = log.segments[0];
        assert_eq!((s.pkts_up, s.pkts_down, s.bytes_down, s.max_down), (1, 2, 9500, 9000));
        assert_eq!((log.segments[1].bytes_up, log.segments[2].start), (300, 12 * S));
        assert_eq!((log.framed, log.tls), (2, 1));
        assert_eq!(log.first_down(), Some(10 * S));
    }

    #[test]
    fn back_to_back_quic_downloads_split_at_the_request() {
        // QUIC: the client's ACK-only packets carry payload too (40 B), the next request is
        // bigger; an upload's continuation after a short server answer is no turn.
        let mut log = ActivityLog::default();
        let ms = 1_000_000;
        let mut t = 10 * S;
        for item in 0..2 {
            log.add(Timestamp(t), true, &[0x40], 350); // request
            for i in 0..20 {
                t += ms;
                log.add(Timestamp(t), false, &[0x40], 1200);
                if i % 4 == 3 {
                    log.add(Timestamp(t), true, &[0x40], 40); // ACK
                }
            }
            t += 5 * ms;
            assert_eq!(log.segments.len(), item + 1);
        }
        assert_eq!(log.segments[1].bytes_down, 24_000);
        let mut up = ActivityLog::default();
        up.add(Timestamp(S), true, &[0x17, 3, 3], 1300);
        up.add(Timestamp(S + ms), false, &[0x17, 3, 3], 375); // a session ticket
        up.add(Timestamp(S + 2 * ms), true, &[0x17, 3, 3], 1300);
        assert_eq!(up.segments.len(), 1);
    }

    #[test]
    fn full_log_coarsens_and_stays_bounded() {
        let mut log = ActivityLog::default();
        for i in 0..(MAX_SEGMENTS as i64 * 3) {
            log.add(Timestamp(i * 2 * S), true, &[], 100);
        }
        assert!(log.segments.len() <= MAX_SEGMENTS);
        assert!(log.coarsened >= 2);
        let total: u64 = log.segments.iter().map(|s| s.bytes_up).sum();
        assert_eq!(total, 100 * MAX_SEGMENTS as u64 * 3);
    }
}
