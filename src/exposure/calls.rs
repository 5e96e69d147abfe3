//! Calls: the STUN, relay and RTP flows of one call (evidence `sig:stun_whatsapp_relay`,
//! `relay:…`, `call_socket:…`, or a `calls` endpoint) merge into one call when they share the
//! device's socket or overlap in time (within `call_gap`). A call is **answered** when media
//! flowed both ways at voice or video rates on a flow that is not STUN alone; it is then a
//! `call` (answer to hang-up, with its setup and ringing time), else a `call_attempt`.

use std::net::IpAddr;

use crate::record::activity::{ActivityLog, Segment};
use crate::record::{AppProto, EndReason, FlowRecord, Role};

use super::Heuristics;
use super::activity::round_us;
use crate::dissect::Signature;
use crate::record::exposure::{ActivityEvent, ActivityKind};

const NS: f64 = 1e9;

/// Whether a Meta flow record belongs to a call.
pub fn is_call_flow(rec: &FlowRecord) -> bool {
    rec.role == Some(Role::Calls)
        || rec.evidence.iter().any(|e| {
            e.strip_prefix("sig:") == Some(Signature::StunWhatsappRelay.name())
                || e.starts_with("relay:")
                || e.starts_with("call_socket:")
        })
}

/// Whether a segment of a call flow is media: data both ways, each at least `call_media_pps`
/// packets per second over at least `call_media_secs`. A STUN allocation or teardown is a few
/// packets in a fraction of a second; the bandwidth probe before ringing (constant-size packets
/// both ways, seen in a 2019 capture) lasts about half a second; voice is 10–50 packets per
/// second each way for as long as the call.
fn is_media(s: &Segment, h: &Heuristics) -> bool {
    let secs = (s.end - s.start) as f64 / NS;
    let rate = |p: u16| f64::from(p) / secs.max(1e-9);
    secs >= h.call_media_secs
        && rate(s.pkts_up) >= h.call_media_pps
        && rate(s.pkts_down) >= h.call_media_pps
}

/// The media a call carried.
#[derive(Clone, Debug, Default)]
struct Media {
    /// First media packet, epoch seconds (the answer).
    start: f64,
    /// The flow of the first media was opened by the device.
    by_device: bool,
    /// Media bytes and packets, device view: (sent, received).
    bytes: (u64, u64),
    pkts: (u64, u64),
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
    up: u64,
    down: u64,
    endpoint: Option<String>,
    uids: Vec<String>,
    /// Flows whose last record has not arrived (active-timeout records came).
    open: Vec<String>,
    media: Option<Media>,
    /// The Android app of its flows (PCAPdroid captures), from the first flow that names one.
    app: Option<String>,
    app_uid: Option<i32>,
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

    /// Whether media flowed (the call was answered).
    pub fn answered(&self) -> bool {
        self.media.is_some()
    }

    fn add(&mut self, f: &CallFlow<'_>, h: &Heuristics) {
        let rec = f.rec;
        if !self.sockets.contains(&f.socket) {
            self.sockets.push(f.socket);
        }
        self.start = self.start.min(rec.ts);
        self.end = self.end.max(rec.ts + rec.duration);
        self.packets += rec.orig_pkts + rec.resp_pkts;
        let (up, down) = if f.local_is_orig {
            (rec.orig_bytes, rec.resp_bytes)
        } else {
            (rec.resp_bytes, rec.orig_bytes)
        };
        self.up += up;
        self.down += down;
        if self.endpoint.is_none() {
            self.endpoint = rec.endpoint.as_deref().map(str::to_owned);
        }
        if self.app.is_none() && self.app_uid.is_none() {
            self.app = rec.app.as_deref().map(str::to_owned);
            self.app_uid = rec.app_uid;
        }
        if !self.uids.contains(&rec.uid) {
            self.uids.push(rec.uid.clone());
        }
        self.open.retain(|u| *u != rec.uid);
        if rec.end_reason == EndReason::ActiveTimeout {
            self.open.push(rec.uid.clone());
        }
        // STUN alone (allocations, connectivity checks) is never media, whatever its rate.
        let Some(log) = f.log.filter(|_| rec.app_proto != Some(AppProto::Stun)) else { return };
        for s in log.segments.iter().filter(|s| is_media(s, h)) {
            let at = s.start as f64 / NS;
            let m = self.media.get_or_insert_with(|| Media {
                start: at,
                by_device: f.local_is_orig,
                ..Media::default()
            });
            if at < m.start {
                (m.start, m.by_device) = (at, f.local_is_orig);
            }
            let (su, sd, pu, pd) = (s.bytes_up, s.bytes_down, s.pkts_up, s.pkts_down);
            let (b, p) = if f.local_is_orig { ((su, sd), (pu, pd)) } else { ((sd, su), (pd, pu)) };
            m.bytes = (m.bytes.0 + b.0, m.bytes.1 + b.1);
            m.pkts = (m.pkts.0 + u64::from(p.0), m.pkts.1 + u64::from(p.1));
        }
    }

    /// The `call` activity (answered) or `call_attempt` (no media).
    pub fn event(&self, h: &Heuristics) -> ActivityEvent {
        let mut a = ActivityEvent {
            ts: round_us(self.start),
            device: self.device.clone(),
            activity: ActivityKind::CallAttempt,
            end: round_us(self.end),
            duration: round_us(self.end - self.start),
            packets: self.packets,
            bytes_up: self.up,
            bytes_down: self.down,
            endpoint: self.endpoint.clone(),
            setup: Some(round_us(self.start)),
            ringing_secs: Some(round_us(self.end - self.start)),
            uids: self.uids.clone(),
            app: self.app.clone(),
            app_uid: self.app_uid,
            ..ActivityEvent::default()
        };
        let Some(m) = &self.media else { return a };
        let talk = (self.end - m.start).max(1e-6);
        let kbps = |bytes: u64| bytes as f64 * 8.0 / talk / 1000.0;
        // Video frames span near-MTU packets; voice (Opus) packets stay small, whatever the rate.
        let mean = |bytes: u64, pkts: u64| bytes / pkts.max(1);
        let big = mean(m.bytes.0, m.pkts.0).max(mean(m.bytes.1, m.pkts.1));
        let video = big >= h.video_packet_bytes || kbps(m.bytes.0.max(m.bytes.1)) >= h.video_kbps;
        a.activity = ActivityKind::Call;
        a.ts = round_us(m.start);
        a.duration = round_us(talk);
        a.ringing_secs = Some(round_us(m.start - self.start));
        a.talk_secs = Some(round_us(talk));
        a.opened_by = Some(if m.by_device { "device" } else { "remote" }.into());
        a.bitrate_kbps = Some((kbps(m.bytes.0 + m.bytes.1) * 10.0).round() / 10.0);
        a.media = Some(if video { "video" } else { "audio" }.into());
        a
    }
}

/// One call flow record as the calls see it.
pub struct CallFlow<'a> {
    /// The record.
    pub rec: &'a FlowRecord,
    /// Its activity log.
    pub log: Option<&'a ActivityLog>,
    /// The device's socket (its side of the flow, whichever sent first).
    pub socket: (IpAddr, u16),
    /// The device sent the flow's first packet.
    pub local_is_orig: bool,
}

/// Calls being assembled, all devices.
#[derive(Default)]
pub struct Calls {
    pending: Vec<Call>,
    /// Calls written before they could end because the cap was reached.
    pub forced: u64,
}

impl Calls {
    /// Whether no call is being assembled.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a call flow record of `device`; returns the oldest call when `cap` calls were
    /// already pending (it is written early, so memory stays bounded).
    pub fn add(
        &mut self,
        device: &str,
        f: &CallFlow<'_>,
        h: &Heuristics,
        cap: usize,
    ) -> Option<Call> {
        let rec = f.rec;
        let (s, e) = (rec.ts, rec.ts + rec.duration);
        // Two apps' calls at the same time stay apart (a WhatsApp call beside a Messenger one).
        let rec_known = rec.app.is_some() || rec.app_uid.is_some();
        let same_app = |c: &Call| {
            !rec_known
                || (c.app.is_none() && c.app_uid.is_none())
                || (c.app.as_deref() == rec.app.as_deref() && c.app_uid == rec.app_uid)
        };
        let joins = |c: &Call| {
            c.device == device
                && same_app(c)
                && (c.uids.contains(&rec.uid)
                    || c.sockets.contains(&f.socket)
                    || (s <= c.end + h.call_gap_secs && e >= c.start - h.call_gap_secs))
        };
        if let Some(c) = self.pending.iter_mut().find(|c| joins(c)) {
            c.add(f, h);
            return None;
        }
        let mut forced = None;
        if self.pending.len() >= cap.max(1) {
            let oldest = (0..self.pending.len())
                .min_by(|&a, &b| self.pending[a].end.total_cmp(&self.pending[b].end))
                .expect("full");
            self.forced += 1;
            forced = Some(self.pending.swap_remove(oldest));
        }
        let mut c = Call {
            device: device.to_owned(),
            sockets: Vec::new(),
            start: s,
            end: e,
            packets: 0,
            up: 0,
            down: 0,
            endpoint: None,
            uids: Vec::new(),
            open: Vec::new(),
            media: None,
            app: None,
            app_uid: None,
        };
        c.add(f, h);
        self.pending.push(c);
        forced
    }

    /// Calls being assembled.
    pub fn len(&self) -> usize {
        self.pending.len()
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
