//! Decides, while a flow runs, whether its activity over time is logged: only for flows that
//! already look like Meta's. The decision is re-taken only when dissection learns something that
//! names the server, so other flows cost one branch per packet once dissection is done.

use crate::classify::{Classifier, FlowFacts};
use crate::decode::Transport;
use crate::dissect::FlowDissect;
use crate::flow::activity::{ActivityLog, ActivityTrack};
use crate::flow::{Flow, PacketCtx};

/// Per-flow state that holds an activity track next to the dissection findings (the pipeline's
/// per-flow data): the tracker reads the one and updates the other.
pub trait Tracked {
    /// The dissection state, and the track.
    fn parts(&mut self) -> (&FlowDissect, &mut ActivityTrack);
    /// Whether the device the flow belongs to (see [`FlowFacts::part`]) is the key's `hi` side.
    fn part_hi(&self) -> bool;
}

/// Accounts one packet of `flow` (called after dissection saw it). Inlined: most packets take
/// one of the first two arms.
#[inline]
pub fn activity<T: Tracked>(classifier: &Classifier, flow: &mut Flow<T>, pkt: &PacketCtx<'_, '_>) {
    match flow.data.parts().1 {
        ActivityTrack::Off => {}
        ActivityTrack::On(log) => {
            let (payload, len) = payload(&pkt.decoded.transport);
            log.add(pkt.ts, pkt.from_orig, payload, len)
        }
        _ => decide(classifier, flow),
    }
}

/// Looks (again) whether the flow is Meta's.
#[cold]
fn decide<T: Tracked>(classifier: &Classifier, flow: &mut Flow<T>) {
    let (o, r) = (flow.orig(), flow.resp());
    let part = if flow.data.part_hi() { flow.key.hi.ip() } else { flow.key.lo.ip() };
    let (dissect, track) = flow.data.parts();
    let (signals, first) = match track {
        ActivityTrack::Off | ActivityTrack::On(_) => return,
        ActivityTrack::Checked(seen) => {
            let now = dissect.app.naming_signals();
            if *seen == now {
                if !dissect.dissecting() {
                    *track = ActivityTrack::Off;
                }
                return;
            }
            (now, false)
        }
        ActivityTrack::Undecided => (dissect.app.naming_signals(), true),
    };
    let facts = FlowFacts {
        proto: flow.key.proto,
        part,
        orig_h: o.ip(),
        resp_h: r.ip(),
        orig_p: o.port(),
        resp_p: r.port(),
        app: &dissect.app,
    };
    *track = if classifier.looks_meta(&facts, first) {
        // The packets so far (this one included) go into one segment at the record's start.
        let mut log = ActivityLog::default();
        log.seed(
            flow.record_start,
            (flow.orig.pkts, flow.orig.bytes),
            (flow.resp.pkts, flow.resp.bytes),
        );
        ActivityTrack::On(Box::new(log))
    } else if dissect.dissecting() {
        ActivityTrack::Checked(signals)
    } else {
        ActivityTrack::Off
    };
}

#[inline]
fn payload<'a>(t: &Transport<'a>) -> (&'a [u8], u32) {
    match *t {
        Transport::Tcp(seg) => (seg.payload, seg.payload_len),
        Transport::Udp { payload, payload_len, .. } => (payload, payload_len),
        _ => (&[], 0),
    }
}

/// A chat connection lasts at least this long in one record, seconds.
const CHAT_MIN_SECS: f64 = 10.0;
/// ... and has at least this many separate exchanges.
const CHAT_MIN_SEGMENTS: usize = 3;

/// Whether a flow record's traffic has the shape of a WhatsApp chat connection: long-lived,
/// several separate exchanges with data both ways, at least half of its data packets whole
/// WhatsApp frames (or lone frame headers) and few that start like TLS records. A TLS
/// connection (Messenger's MQTT, a web page) or a media transfer does not.
pub fn chat_shaped(log: &ActivityLog, duration_secs: f64) -> bool {
    let segs = &log.segments;
    let data: u64 = segs.iter().map(|s| s.packets()).sum();
    let both = segs.iter().any(|s| s.pkts_up > 0) && segs.iter().any(|s| s.pkts_down > 0);
    duration_secs >= CHAT_MIN_SECS
        && segs.len() >= CHAT_MIN_SEGMENTS
        && both
        && u64::from(log.framed) * 2 >= data
        && u64::from(log.tls) * 4 < data
}
