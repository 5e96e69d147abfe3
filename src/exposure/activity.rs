//! Activities read from one flow record and its time buckets: message bursts on the chat
//! connection, media transfers, registration, telemetry. Calls span flows: see `calls.rs`.

use crate::flow::FlowRecord;
use crate::flow::activity::{ActivityLog, Bucket};

use super::Heuristics;
use super::events::ActivityEvent;

const NS: f64 = 1e9;

/// A run of non-keepalive traffic on a chat connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Burst {
    /// Start, epoch seconds.
    pub start: f64,
    /// End, epoch seconds.
    pub end: f64,
    /// Packets.
    pub packets: u64,
    /// Bytes sent.
    pub up: u64,
    /// Bytes received.
    pub down: u64,
    /// Chat flow.
    pub uid: String,
}

fn span(rec: &FlowRecord) -> (f64, f64) {
    (rec.ts, rec.ts + rec.duration)
}

/// Message bursts of a chat flow record: runs of active buckets no more than `burst_gap` apart.
/// With `skip_handshake`, buckets in the first `handshake` seconds (the Noise handshake that opens
/// every connection) are not messages.
pub fn bursts(
    rec: &FlowRecord,
    log: &ActivityLog,
    h: &Heuristics,
    skip_handshake: bool,
) -> Vec<Burst> {
    let rs = rec.ts;
    let mut out: Vec<Burst> = Vec::new();
    for b in log.buckets.iter().filter(|b| b.active()) {
        let (start, end) = (round_us(b.first_big as f64 / NS), round_us(b.last_big as f64 / NS));
        if skip_handshake && end < rs + h.handshake_secs {
            continue;
        }
        let (pk, up, down) = (u64::from(b.pkts_up + b.pkts_down), b.bytes_up, b.bytes_down);
        match out.last_mut() {
            Some(last) if start - last.end <= h.burst_gap_secs => {
                last.end = end;
                last.packets += pk;
                last.up += up;
                last.down += down;
            }
            _ => out.push(Burst { start, end, packets: pk, up, down, uid: rec.uid.clone() }),
        }
    }
    out
}

/// Media transfers of a media flow record: a `media_download` when the server sent at least
/// `media_min_bytes`, a `media_upload` when the device did. Bytes are the direction's payload
/// total; the time span is that of the buckets where that direction moved ≥ 1 KiB.
pub fn media(
    rec: &FlowRecord,
    log: Option<&ActivityLog>,
    h: &Heuristics,
    device: &str,
) -> Vec<ActivityEvent> {
    let mut out = Vec::new();
    type BytesOf = fn(&Bucket) -> u64;
    let dirs: [(&str, u64, BytesOf); 2] = [
        ("media_download", rec.resp_bytes, |b| b.bytes_down),
        ("media_upload", rec.orig_bytes, |b| b.bytes_up),
    ];
    for (kind, bytes, of) in dirs {
        if bytes < h.media_min_bytes {
            continue;
        }
        let (mut start, mut end) = span(rec);
        let mut packets = rec.orig_pkts + rec.resp_pkts;
        if let Some(log) = log {
            let moving: Vec<&Bucket> = log.buckets.iter().filter(|b| of(b) >= 1024).collect();
            if let (Some(f), Some(l)) = (moving.first(), moving.last()) {
                let width = log.width as f64 / NS;
                start = (f.start as f64 / NS).max(start);
                end = (l.start as f64 / NS + width).min(end);
                packets = moving.iter().map(|b| u64::from(b.pkts_up + b.pkts_down)).sum();
            }
        }
        let (up, down) = if kind == "media_upload" { (bytes, 0) } else { (0, bytes) };
        out.push(simple(rec, device, kind, (start, end), packets, (up, down)));
    }
    out
}

/// A one-flow activity (registration, telemetry) covering the whole record.
pub fn whole_flow(rec: &FlowRecord, device: &str, kind: &str) -> ActivityEvent {
    simple(
        rec,
        device,
        kind,
        span(rec),
        rec.orig_pkts + rec.resp_pkts,
        (rec.orig_bytes, rec.resp_bytes),
    )
}

fn simple(
    rec: &FlowRecord,
    device: &str,
    kind: &str,
    (start, end): (f64, f64),
    packets: u64,
    (up, down): (u64, u64),
) -> ActivityEvent {
    ActivityEvent {
        ts: round_us(start),
        device: device.to_owned(),
        activity: kind.to_owned(),
        end: round_us(end),
        duration: round_us(end - start),
        packets,
        bytes_up: up,
        bytes_down: down,
        endpoint: rec.endpoint.as_deref().map(str::to_owned),
        uids: vec![rec.uid.clone()],
        ..ActivityEvent::default()
    }
}

/// Rounds seconds to µs so JSON shows at most 6 decimals.
pub fn round_us(secs: f64) -> f64 {
    (secs * 1e6).round() / 1e6
}
