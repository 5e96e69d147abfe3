//! Decides, while a flow runs, whether its activity over time is logged: only for flows that
//! already look like Meta's. The decision is re-taken only when dissection learns something that
//! names the server, so other flows cost one branch per packet once dissection is done.

use crate::classify::{Classifier, FlowFacts};
use crate::decode::Transport;
use crate::dissect::FlowDissect;
use crate::flow::activity::{ActivityLog, ActivityTrack};
use crate::flow::{Flow, PacketCtx};

/// Accounts one packet of `flow` (called after dissection saw it). Inlined: most packets take
/// one of the first two arms.
#[inline]
pub fn activity(classifier: &Classifier, flow: &mut Flow<FlowDissect>, pkt: &PacketCtx<'_, '_>) {
    match &mut flow.data.activity {
        ActivityTrack::Off => {}
        ActivityTrack::On(log) => {
            log.add(pkt.ts, pkt.from_orig, payload_len(&pkt.decoded.transport))
        }
        _ => decide(classifier, flow),
    }
}

/// Looks (again) whether the flow is Meta's.
#[cold]
fn decide(classifier: &Classifier, flow: &mut Flow<FlowDissect>) {
    let (signals, first) = match &mut flow.data.activity {
        ActivityTrack::Off | ActivityTrack::On(_) => return,
        ActivityTrack::Checked(seen) => {
            let now = flow.data.app.naming_signals();
            if *seen == now {
                if !flow.data.dissecting() {
                    flow.data.activity = ActivityTrack::Off;
                }
                return;
            }
            (now, false)
        }
        ActivityTrack::Undecided => (flow.data.app.naming_signals(), true),
    };
    let (o, r) = (flow.orig(), flow.resp());
    let facts = FlowFacts {
        proto: flow.key.proto,
        orig_h: o.ip(),
        resp_h: r.ip(),
        orig_p: o.port(),
        resp_p: r.port(),
        app: &flow.data.app,
    };
    flow.data.activity = if classifier.looks_meta(&facts, first) {
        // The packets so far (this one included) go into one bucket at the record's start.
        let mut log = ActivityLog::default();
        log.seed(
            flow.record_start,
            (flow.orig.pkts, flow.orig.bytes),
            (flow.resp.pkts, flow.resp.bytes),
        );
        ActivityTrack::On(Box::new(log))
    } else if flow.data.dissecting() {
        ActivityTrack::Checked(signals)
    } else {
        ActivityTrack::Off
    };
}

#[inline]
fn payload_len(t: &Transport<'_>) -> u32 {
    match *t {
        Transport::Tcp(seg) => seg.payload_len,
        Transport::Udp { payload_len, .. } => payload_len,
        _ => 0,
    }
}
