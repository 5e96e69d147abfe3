//! Calls: the STUN, relay and RTP flows of one call (evidence `sig:stun_whatsapp_relay`,
//! `relay:…`, `call_socket:…`, or a `calls` endpoint) merge into one `call` activity when they
//! share the device's socket or overlap in time (within `call_gap`).

use std::net::IpAddr;

use crate::flow::{EndReason, FlowRecord};

use super::Heuristics;
use super::activity::round_us;
use super::events::ActivityEvent;

/// Whether a Meta flow record belongs to a call.
pub fn is_call_flow(rec: &FlowRecord) -> bool {
    let role = rec.endpoint.as_deref().and_then(|e| e.split_once('.')).map(|(_, r)| r);
    role == Some("calls")
        || rec.evidence.iter().any(|e| {
            e == "sig:stun_whatsapp_relay"
                || e.starts_with("relay:")
                || e.starts_with("call_socket:")
        })
}

/// A call being assembled.
#[derive(Clone, Debug)]
pub struct Call {
    /// Device.
    pub device: String,
    sockets: Vec<(IpAddr, u16)>,
    start: f64,
    end: f64,
    packets: u64,
    pkts_up: u64,
    pkts_down: u64,
    up: u64,
    down: u64,
    endpoint: Option<String>,
    uids: Vec<String>,
    /// Flows whose last record has not arrived (active-timeout records came).
    open: Vec<String>,
}

impl Call {
    /// Latest packet time of the call so far.
    pub fn end(&self) -> f64 {
        self.end
    }

    /// Whether every flow of the call has ended.
    pub fn closed(&self) -> bool {
        self.open.is_empty()
    }

    fn add(&mut self, rec: &FlowRecord) {
        let sock = (rec.orig_h, rec.orig_p);
        if !self.sockets.contains(&sock) {
            self.sockets.push(sock);
        }
        self.start = self.start.min(rec.ts);
        self.end = self.end.max(rec.ts + rec.duration);
        self.packets += rec.orig_pkts + rec.resp_pkts;
        self.pkts_up += rec.orig_pkts;
        self.pkts_down += rec.resp_pkts;
        self.up += rec.orig_bytes;
        self.down += rec.resp_bytes;
        if self.endpoint.is_none() {
            self.endpoint = rec.endpoint.as_deref().map(str::to_owned);
        }
        if !self.uids.contains(&rec.uid) {
            self.uids.push(rec.uid.clone());
        }
        self.open.retain(|u| *u != rec.uid);
        if rec.end_reason == EndReason::ActiveTimeout {
            self.open.push(rec.uid.clone());
        }
    }

    /// The `call` activity.
    pub fn event(&self, h: &Heuristics) -> ActivityEvent {
        let secs = (self.end - self.start).max(1e-6);
        let kbps = |bytes: u64| bytes as f64 * 8.0 / secs / 1000.0;
        // Video frames span near-MTU packets; voice (Opus) packets stay small, whatever the rate.
        let mean = |bytes: u64, pkts: u64| bytes / pkts.max(1);
        let big = mean(self.up, self.pkts_up).max(mean(self.down, self.pkts_down));
        let video = big >= h.video_packet_bytes || kbps(self.up.max(self.down)) >= h.video_kbps;
        let media = if video { "video" } else { "audio" };
        ActivityEvent {
            ts: round_us(self.start),
            device: self.device.clone(),
            activity: "call".into(),
            end: round_us(self.end),
            duration: round_us(self.end - self.start),
            packets: self.packets,
            bytes_up: self.up,
            bytes_down: self.down,
            endpoint: self.endpoint.clone(),
            bitrate_kbps: Some((kbps(self.up + self.down) * 10.0).round() / 10.0),
            media: Some(media.into()),
            session: None,
            uids: self.uids.clone(),
        }
    }
}

/// Calls being assembled, all devices.
#[derive(Default)]
pub struct Calls {
    pending: Vec<Call>,
}

impl Calls {
    /// Whether no call is being assembled.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a call flow record of `device`.
    pub fn add(&mut self, device: &str, rec: &FlowRecord, h: &Heuristics) {
        let (s, e) = (rec.ts, rec.ts + rec.duration);
        let sock = (rec.orig_h, rec.orig_p);
        let joins = |c: &Call| {
            c.device == device
                && (c.uids.contains(&rec.uid)
                    || c.sockets.contains(&sock)
                    || (s <= c.end + h.call_gap_secs && e >= c.start - h.call_gap_secs))
        };
        match self.pending.iter_mut().find(|c| joins(c)) {
            Some(c) => c.add(rec),
            None => {
                let mut c = Call {
                    device: device.to_owned(),
                    sockets: Vec::new(),
                    start: s,
                    end: e,
                    packets: 0,
                    pkts_up: 0,
                    pkts_down: 0,
                    up: 0,
                    down: 0,
                    endpoint: None,
                    uids: Vec::new(),
                    open: Vec::new(),
                };
                c.add(rec);
                self.pending.push(c);
            }
        }
    }

    /// Removes and returns the calls that can no longer grow: all flows ended and `horizon` is
    /// past their end by `call_gap`. `None` takes every call (end of input).
    pub fn take_done(&mut self, horizon: Option<f64>, h: &Heuristics) -> Vec<Call> {
        let done = |c: &Call| horizon.is_none_or(|t| c.closed() && c.end + h.call_gap_secs < t);
        let (out, keep) = std::mem::take(&mut self.pending).into_iter().partition(|c| done(c));
        self.pending = keep;
        let mut out: Vec<Call> = out;
        out.sort_by(|a, b| a.start.total_cmp(&b.start));
        out
    }
}
