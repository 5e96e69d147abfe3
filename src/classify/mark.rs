//! Verdict marks of running flows: what the classifier knows, while a flow runs, about whether
//! it is Meta's, for outputs that keep whole flows by verdict (`--write-pcap`).

/// What the pipeline knows, while a flow runs, about whether it is Meta's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowMark {
    /// Points at a Meta endpoint (sticky: names, signatures, relays, prefixes).
    Meta,
    /// Not decided yet: a dissector may still name it.
    Undecided,
    /// Decided: not Meta's.
    NotMeta,
}

/// The flows each packet touched and the verdicts of flows that ended, for outputs that keep
/// whole flows by verdict (`--write-pcap`). Off unless asked for: it costs a push per packet.
#[derive(Debug, Default)]
pub struct FlowVerdicts {
    /// (flow id, mark) of the flows the last packet went to (two for a tunnelled packet).
    pub touched: Vec<(u64, FlowMark)>,
    /// (flow id, labelled Meta) of flows whose record was written since last drained.
    pub ended: Vec<(u64, bool)>,
}
