//! The merger: the workers' records back in single-threaded order, into the one sink chain.
//!
//! Each worker's records arrive in key order, with a watermark; a record is written once no
//! worker can still send a smaller key: every other worker's next record, or its watermark, is
//! past it. The reorder window is bounded because a worker runs at most its queue ahead of the
//! slowest one (the reader blocks on a full queue).

use std::collections::VecDeque;
use std::sync::mpsc::Receiver;

use super::{Key, Out, Rec};
use crate::pipeline::RunStats;
use crate::record::RecordSink;
use crate::record::sink::SinkError;

struct Lane {
    items: VecDeque<(Key, Rec)>,
    upto: u64,
    stats: Option<Result<RunStats, SinkError>>,
}

impl Lane {
    /// The smallest key this worker may still write.
    fn floor(&self) -> Key {
        match self.items.front() {
            Some((k, _)) => *k,
            None if self.upto == u64::MAX && self.stats.is_some() => (u64::MAX, u8::MAX, 0, 0),
            None => (self.upto, 0, i64::MIN, 0),
        }
    }
}

/// Runs until every worker is done; returns the summed counters, or every error.
pub(super) fn run(
    workers: usize,
    rx: Receiver<Out>,
    mut sink: Box<dyn RecordSink>,
) -> Result<RunStats, SinkError> {
    let mut lanes: Vec<Lane> =
        (0..workers).map(|_| Lane { items: VecDeque::new(), upto: 0, stats: None }).collect();
    for msg in rx {
        let lane = &mut lanes[msg.worker];
        lane.items.extend(msg.items);
        lane.upto = msg.upto;
        if msg.done.is_some() {
            lane.stats = msg.done;
        }
        drain(&mut lanes, &mut *sink);
    }
    drain(&mut lanes, &mut *sink);
    let mut errors = Vec::new();
    let mut sum: Option<RunStats> = None;
    for (worker, lane) in lanes.into_iter().enumerate() {
        if let Some(Ok(s)) = &lane.stats {
            tracing::debug!(worker, packets = s.packets.packets, "replay worker done");
        }
        match lane.stats {
            Some(Ok(s)) => match sum.as_mut() {
                Some(t) => super::add(t, &s),
                None => sum = Some(s),
            },
            Some(Err(e)) => errors.push(e),
            None => errors.push(SinkError::Output("a replay worker stopped early".into())),
        }
    }
    if let Err(e) = sink.finish() {
        errors.push(e);
    }
    match (errors.is_empty(), sum) {
        (true, Some(s)) => Ok(s),
        (true, None) => Err(SinkError::Output("no replay worker reported".into())),
        (false, _) => Err(crate::record::sink::all_of(errors.into_iter().map(Err::<(), _>))
            .expect_err("errors are not empty")),
    }
}

/// Writes every record no worker can still precede.
fn drain(lanes: &mut [Lane], sink: &mut dyn RecordSink) {
    loop {
        // The lane with the smallest next record, and the smallest floor of the others.
        let mut best: Option<(usize, Key)> = None;
        for (i, l) in lanes.iter().enumerate() {
            if let Some((k, _)) = l.items.front()
                && best.is_none_or(|(_, b)| *k < b)
            {
                best = Some((i, *k));
            }
        }
        let Some((i, k)) = best else { return };
        let others = lanes.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, l)| l.floor());
        if others.min().is_some_and(|f| f <= k) {
            return;
        }
        let (_, rec) = lanes[i].items.pop_front().expect("a front");
        match rec {
            Rec::Flow(mut r) => sink.flow(&mut r),
            Rec::Event(e) => sink.event(&e),
        }
    }
}
