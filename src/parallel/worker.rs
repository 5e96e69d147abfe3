//! A worker: the idle sweeps every worker makes, and its own devices' packets through its own
//! pipeline; each record it writes is tagged with its place in the single-threaded order
//! ([`super::Key`]) and sent to the merger.

use std::iter::Peekable;
use std::slice::Iter;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use super::{COPIED, Chunk, Desc, Key, Out, Rec};
use crate::capture::prefetch::prefetch;
use crate::capture::{Lent, Packet, PacketSink};
use crate::pipeline::Pipeline;
use crate::record::sink::{FlowOrder, SinkError};
use crate::record::{Event, FlowRecord, RecordSink};

/// How many packets ahead a worker asks for its packets' bytes.
const AHEAD: usize = 8;

const SWEEP: u8 = 0;
const PACKET: u8 = 1;
const FLUSH: u8 = 2;

/// Where the pipeline is: the packet number and the phase ([`super::Key`]), set by the worker
/// loop before each job (plain atomics: the pipeline owns the sink, the loop only points it).
#[derive(Default)]
struct Place {
    index: AtomicU64,
    phase: AtomicU8,
}

/// What the collector gathered since the merger was last sent a message.
#[derive(Default)]
struct Gathered {
    items: Vec<(Key, Rec)>,
    /// Packet number of the last record written in the packet phase, and its rank.
    last: (u64, i64),
    /// The order of the next flow record ([`RecordSink::order`]).
    order: FlowOrder,
}

/// The worker pipeline's sink: keys and keeps records.
struct Collector {
    place: Arc<Place>,
    gathered: Arc<Mutex<Gathered>>,
}

impl Collector {
    fn push(&mut self, rec: Rec, is_flow: bool) {
        let index = self.place.index.load(Ordering::Relaxed);
        let phase = self.place.phase.load(Ordering::Relaxed);
        let mut g = self.gathered.lock().expect("collector lock");
        let key = match phase {
            SWEEP if is_flow => (index, SWEEP, i64::from(g.order.expiry.0), g.order.expiry.1),
            FLUSH if is_flow => (u64::MAX, FLUSH, g.order.flush.0, g.order.flush.1),
            _ => {
                // Everything else a packet writes, in the order written. (Sweeps and the flush
                // write flow records only.)
                let rank = if g.last.0 == index { g.last.1 + 1 } else { 0 };
                g.last = (index, rank);
                (index, PACKET, rank, 0)
            }
        };
        g.items.push((key, rec));
    }
}

impl RecordSink for Collector {
    fn flow(&mut self, rec: &mut FlowRecord) {
        self.push(Rec::Flow(Box::new(rec.clone())), true);
    }
    fn event(&mut self, ev: &Event) {
        self.push(Rec::Event(Box::new(ev.clone())), false);
    }
    fn order(&mut self, o: &FlowOrder) {
        self.gathered.lock().expect("collector lock").order = *o;
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// One worker's pipeline, its collector, and where it is in the packet order.
pub(super) struct Worker {
    id: usize,
    p: Pipeline,
    place: Arc<Place>,
    gathered: Arc<Mutex<Gathered>>,
    /// Whether records are collected for the merger (else only the counters go there).
    pub(super) collect: bool,
    /// Where it reports the packets it has finished, for the router.
    done: Arc<super::Done>,
    /// Its packets finished so far.
    finished: u64,
}

impl Worker {
    /// Worker `id` over pipeline `p`. With `collect`, the pipeline's sink becomes a collector
    /// that keys every record; without (`bench`), the pipeline keeps its own sink.
    pub(super) fn new(id: usize, mut p: Pipeline, collect: bool, done: Arc<super::Done>) -> Self {
        let place = Arc::new(Place::default());
        let gathered = Arc::new(Mutex::new(Gathered { last: (u64::MAX, 0), ..Default::default() }));
        if collect {
            p.set_sink(Box::new(Collector { place: place.clone(), gathered: gathered.clone() }));
        }
        Worker { id, p, place, gathered, collect, done, finished: 0 }
    }

    fn set(&self, index: u64, phase: u8) {
        self.place.index.store(index, Ordering::Relaxed);
        self.place.phase.store(phase, Ordering::Relaxed);
    }

    /// The records collected since the last call.
    pub(super) fn take(&self) -> Vec<(Key, Rec)> {
        std::mem::take(&mut self.gathered.lock().expect("collector lock").items)
    }

    /// Packets from packet number `index` on come from capture file `name`.
    pub(super) fn begin_source(&mut self, name: &str, index: u64) {
        self.p.begin_source_at(name, index);
    }

    /// The idle sweep one flow table makes at packet number `index`, time `ts`.
    #[inline]
    pub(super) fn tick(&mut self, index: u64, ts: crate::capture::Timestamp) {
        self.set(index, SWEEP);
        self.p.tick(ts);
    }

    /// Packet number `index`, one of this worker's.
    #[inline]
    pub(super) fn packet(
        &mut self,
        index: u64,
        pkt: &Packet<'_>,
        app: Option<&Arc<crate::capture::pcapdroid::AndroidApp>>,
    ) {
        self.set(index, PACKET);
        self.p.begin_packet(index);
        match app {
            Some(app) => self.p.app_packet(pkt, app),
            None => self.p.packet(pkt),
        }
    }

    /// A chunk from the reader: every sweep, and this worker's packets. The per-packet part is
    /// this design's own cost (one thread has none of it), so it is kept to a few loads: the
    /// lent buffers are looked up once a chunk, sweeps and file starts (few packets have one
    /// before them) only when one is due, and apps only in chunks that have any.
    fn chunk(&mut self, chunk: &Chunk) {
        let lane = &chunk.lanes[self.id];
        let buffers: Vec<&[u8]> = chunk.lent.iter().map(Lent::bytes).collect();
        let bytes = |d: &Desc| -> &[u8] {
            let buffer = match d.buffer {
                COPIED => &chunk.bytes[..],
                i => buffers[i as usize],
            };
            &buffer[d.start as usize..d.end as usize]
        };
        let mut ticks = chunk.ticks.iter().peekable();
        let mut sources = chunk.sources.iter().peekable();
        let mut apps = chunk.apps.iter().peekable();
        let mut due = next_due(&mut sources, &mut ticks);
        for (k, d) in lane.iter().enumerate() {
            // The reader's core touched these bytes last: ask for them a few packets early.
            if let Some(next) = lane.get(k + AHEAD) {
                prefetch(bytes(next));
            }
            if d.at >= due {
                self.catch_up(chunk, &mut sources, &mut ticks, d.at);
                due = next_due(&mut sources, &mut ticks);
            }
            let app = if chunk.apps.is_empty() {
                None
            } else {
                while apps.next_if(|(at, _)| *at < d.at).is_some() {}
                apps.next_if(|(at, _)| *at == d.at).map(|(_, a)| a)
            };
            let pkt =
                Packet { ts: d.ts, linktype: d.linktype, data: bytes(d), wire_len: d.wire_len };
            self.packet(chunk.first + u64::from(d.at), &pkt, app);
            self.finished += 1;
            self.done.set(self.id, self.finished);
        }
        self.catch_up(chunk, &mut sources, &mut ticks, chunk.len);
    }

    /// What happens in the chunk up to place `upto` (included), before the packet there: the
    /// files that begin and the sweeps, in the order one pipeline meets them (at one place, a
    /// file begins before the sweep).
    fn catch_up<'c>(
        &mut self,
        chunk: &'c Chunk,
        sources: &mut Peekable<Iter<'c, (u32, Arc<str>)>>,
        ticks: &mut Peekable<Iter<'c, (u32, crate::capture::Timestamp)>>,
        upto: u32,
    ) {
        loop {
            let s = sources.peek().map(|(at, _)| *at).filter(|at| *at <= upto);
            let t = ticks.peek().map(|(at, _)| *at).filter(|at| *at <= upto);
            let source_first = match (s, t) {
                (Some(s), Some(t)) => s <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            if source_first {
                let (at, name) = sources.next().expect("peeked");
                self.begin_source(name, chunk.first + u64::from(*at));
            } else {
                let (at, ts) = ticks.next().expect("peeked");
                self.tick(chunk.first + u64::from(*at), *ts);
            }
        }
    }

    /// End of input: the open flows' records, and the counters.
    pub(super) fn finish(mut self) -> Out {
        self.set(u64::MAX, FLUSH);
        self.p.flush_flows();
        let items = self.take();
        let stats = self.p.finish();
        Out { worker: self.id, items, upto: u64::MAX, done: Some(stats) }
    }
}

/// The place of the next file start or sweep in a chunk ([`u32::MAX`]: none left).
fn next_due(
    sources: &mut Peekable<Iter<'_, (u32, Arc<str>)>>,
    ticks: &mut Peekable<Iter<'_, (u32, crate::capture::Timestamp)>>,
) -> u32 {
    let s = sources.peek().map_or(u32::MAX, |(at, _)| *at);
    let t = ticks.peek().map_or(u32::MAX, |(at, _)| *at);
    s.min(t)
}

/// A worker thread's loop: chunks in, keyed records out, until the reader hangs up; then the
/// open flows and the counters.
pub(super) fn run(mut w: Worker, chunks: Receiver<Arc<Chunk>>, out: SyncSender<Out>) {
    for chunk in chunks {
        w.chunk(&chunk);
        let upto = chunk.first + u64::from(chunk.len);
        // Done with the chunk's buffers before the merger may block this worker.
        drop(chunk);
        if !w.collect {
            // Nothing to merge (`bench`): no message, no wake-up.
            continue;
        }
        let msg = Out { worker: w.id, items: w.take(), upto, done: None };
        if out.send(msg).is_err() {
            return;
        }
    }
    let _ = out.send(w.finish());
}
