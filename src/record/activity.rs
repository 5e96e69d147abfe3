//! A flow record's activity over time: segments of data packets (filled by `flow::activity`,
//! read by the exposure stage). In-memory only: never written as such.

/// One run of data packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// First data packet, nanoseconds since the epoch.
    pub start: i64,
    /// Last data packet, nanoseconds.
    pub end: i64,
    /// Payload bytes from the originator.
    pub bytes_up: u64,
    /// Payload bytes from the responder.
    pub bytes_down: u64,
    /// Data packets from the originator.
    pub pkts_up: u16,
    /// Data packets from the responder.
    pub pkts_down: u16,
    /// Largest payload from the originator.
    pub max_up: u16,
    /// Largest payload from the responder.
    pub max_down: u16,
}

impl Segment {
    /// Data packets, both directions.
    pub fn packets(&self) -> u64 {
        u64::from(self.pkts_up) + u64::from(self.pkts_down)
    }

    /// Largest payload, either direction.
    pub fn max_payload(&self) -> u16 {
        self.max_up.max(self.max_down)
    }

    /// Folds `b` into this segment.
    pub fn merge(&mut self, b: &Segment) {
        self.start = self.start.min(b.start);
        self.end = self.end.max(b.end);
        self.bytes_up += b.bytes_up;
        self.bytes_down += b.bytes_down;
        self.pkts_up = self.pkts_up.saturating_add(b.pkts_up);
        self.pkts_down = self.pkts_down.saturating_add(b.pkts_down);
        self.max_up = self.max_up.max(b.max_up);
        self.max_down = self.max_down.max(b.max_down);
    }
}

/// The segments of one flow record, oldest first, and counts of the payload shapes seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityLog {
    /// Segments, oldest first.
    pub segments: Vec<Segment>,
    /// Data packets whose payload starts like whole WhatsApp chat frames (a 3-byte length
    /// header, alone or followed by exactly that many bytes).
    pub framed: u32,
    /// Data packets whose payload starts like a TLS record header.
    pub tls: u32,
    /// Times segments were merged pairwise because the log was full.
    pub coarsened: u32,
    /// Responder bytes since the originator's last request-sized packet (for turns); kept by
    /// `flow::activity`, which fills the log.
    pub(crate) down_since_up: u32,
}
