//! Per-flow activity over time: a sparse, bounded list of time buckets with bytes and packets per
//! direction. Flow records carry totals only; sessions, message bursts and media transfers need to
//! know *when* the bytes moved. Kept only for flows that look like Meta's (see
//! [`ActivityTrack`]), so other flows pay one branch per packet.

use crate::capture::Timestamp;

/// Width of a bucket before any coarsening.
pub const BUCKET_NS: i64 = 1_000_000_000;
/// Most buckets kept per record; past it, buckets are merged pairwise (the width doubles).
pub const MAX_BUCKETS: usize = 512;
/// A data packet with at most this much transport payload may be a keepalive (WhatsApp's
/// encrypted ping and its answer are a few dozen bytes); a bigger one is activity.
pub const KEEPALIVE_MAX_PAYLOAD: u32 = 64;

/// Traffic of one time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Bucket start, nanoseconds since the epoch.
    pub start: i64,
    /// Packets from the originator.
    pub pkts_up: u32,
    /// Packets from the responder.
    pub pkts_down: u32,
    /// Transport payload bytes from the originator.
    pub bytes_up: u64,
    /// Transport payload bytes from the responder.
    pub bytes_down: u64,
    /// Packets whose payload exceeds [`KEEPALIVE_MAX_PAYLOAD`]: more than a keepalive.
    pub big_pkts: u32,
    /// Time of the first such packet, nanoseconds (0 when none).
    pub first_big: i64,
    /// Time of the last such packet, nanoseconds.
    pub last_big: i64,
}

impl Bucket {
    /// Whether the bucket holds more than keepalives.
    pub fn active(&self) -> bool {
        self.big_pkts > 0
    }
}

/// The buckets of one flow record, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityLog {
    /// Current bucket width, nanoseconds.
    pub width: i64,
    /// Non-empty buckets, oldest first.
    pub buckets: Vec<Bucket>,
}

impl ActivityLog {
    /// Accounts one packet.
    #[inline]
    pub fn add(&mut self, ts: Timestamp, from_orig: bool, payload_len: u32) {
        let t = ts.nanos();
        let last = match self.buckets.last_mut() {
            // The common case, without a division: the packet falls in the latest bucket (packets
            // a little out of order too).
            Some(b) if t < b.start + self.width => b,
            _ => {
                if self.width == 0 {
                    self.width = BUCKET_NS;
                }
                let start = t - t.rem_euclid(self.width);
                if self.buckets.len() >= MAX_BUCKETS {
                    self.coarsen();
                    return self.add(ts, from_orig, payload_len);
                }
                self.push(Bucket { start, ..Bucket::default() });
                self.buckets.last_mut().expect("just pushed")
            }
        };
        if from_orig {
            last.pkts_up += 1;
            last.bytes_up += u64::from(payload_len);
        } else {
            last.pkts_down += 1;
            last.bytes_down += u64::from(payload_len);
        }
        if payload_len > KEEPALIVE_MAX_PAYLOAD {
            if last.big_pkts == 0 {
                last.first_big = ts.nanos();
            }
            last.big_pkts += 1;
            last.last_big = last.last_big.max(ts.nanos());
        }
    }

    /// Seeds the log with what the flow carried before tracking began (one bucket).
    pub fn seed(&mut self, at: Timestamp, up: (u64, u64), down: (u64, u64)) {
        self.width = BUCKET_NS;
        let start = at.nanos() - at.nanos().rem_euclid(self.width);
        self.push(Bucket {
            start,
            pkts_up: up.0 as u32,
            bytes_up: up.1,
            pkts_down: down.0 as u32,
            bytes_down: down.1,
            ..Bucket::default()
        });
    }

    /// Appends a bucket. The first is allocated alone: most flows (a flood's, a short request's)
    /// never fill a second, and `Vec`'s first growth would reserve four (224 bytes).
    fn push(&mut self, b: Bucket) {
        if self.buckets.capacity() == 0 {
            self.buckets.reserve_exact(1);
        }
        self.buckets.push(b);
    }

    /// Doubles the bucket width, merging neighbours.
    fn coarsen(&mut self) {
        self.width *= 2;
        let w = self.width;
        let mut out: Vec<Bucket> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for b in self.buckets.drain(..) {
            let start = b.start - b.start.rem_euclid(w);
            match out.last_mut() {
                Some(m) if m.start == start => {
                    m.pkts_up += b.pkts_up;
                    m.pkts_down += b.pkts_down;
                    m.bytes_up += b.bytes_up;
                    m.bytes_down += b.bytes_down;
                    if m.big_pkts == 0 {
                        m.first_big = b.first_big;
                    }
                    m.big_pkts += b.big_pkts;
                    m.last_big = m.last_big.max(b.last_big);
                }
                _ => out.push(Bucket { start, ..b }),
            }
        }
        self.buckets = out;
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

    const S: i64 = BUCKET_NS;

    #[test]
    fn buckets_split_by_second_and_count_big_packets() {
        let mut log = ActivityLog::default();
        log.add(Timestamp(10 * S + 1), true, 40);
        log.add(Timestamp(10 * S + 5), false, 500);
        log.add(Timestamp(12 * S), true, 0);
        assert_eq!(log.buckets.len(), 2);
        let b = log.buckets[0];
        assert_eq!(
            (b.start, b.pkts_up, b.pkts_down, b.bytes_down, b.big_pkts),
            (10 * S, 1, 1, 500, 1)
        );
        assert!(!log.buckets[1].active());
    }

    #[test]
    fn full_log_coarsens_and_stays_bounded() {
        let mut log = ActivityLog::default();
        for i in 0..(MAX_BUCKETS as i64 * 3) {
            log.add(Timestamp(i * S), true, 100);
        }
        assert!(log.buckets.len() <= MAX_BUCKETS);
        assert!(log.width >= 4 * S);
        let total: u64 = log.buckets.iter().map(|b| b.bytes_up).sum();
        assert_eq!(total, 100 * MAX_BUCKETS as u64 * 3);
    }
}
