//! A worker: the idle sweeps every worker makes, and its own devices' packets through its own
//! pipeline; each record it writes is tagged with its place in the single-threaded order
//! ([`super::Key`]) and sent to the merger.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use super::{Chunk, Key, Out, Rec};
use crate::capture::{Packet, PacketSink};
use crate::pipeline::Pipeline;
use crate::record::sink::{FlowOrder, SinkError};
use crate::record::{Event, FlowRecord, RecordSink};

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

/// The worker loop: chunks in, keyed records out, until the reader hangs up; then the open
/// flows and the counters.
pub(super) fn run(
    id: usize,
    mut p: Pipeline,
    chunks: Receiver<Arc<Chunk>>,
    out: SyncSender<Out>,
    collect: bool,
) {
    let place = Arc::new(Place::default());
    let gathered = Arc::new(Mutex::new(Gathered { last: (u64::MAX, 0), ..Default::default() }));
    if collect {
        p.set_sink(Box::new(Collector { place: place.clone(), gathered: gathered.clone() }));
    }
    let set = |index: u64, phase: u8| {
        place.index.store(index, Ordering::Relaxed);
        place.phase.store(phase, Ordering::Relaxed);
    };
    let take = || std::mem::take(&mut gathered.lock().expect("collector lock").items);
    for chunk in chunks {
        let mut apps = chunk.apps.iter().peekable();
        let mut sources = chunk.sources.iter().peekable();
        for (i, d) in chunk.packets.iter().enumerate() {
            let index = chunk.first + i as u64;
            while let Some((_, name)) = sources.next_if(|(at, _)| *at as usize == i) {
                p.begin_source_at(name, index);
            }
            let app = apps.next_if(|(at, _)| *at as usize == i).map(|(_, a)| a);
            if d.tick {
                set(index, SWEEP);
                p.tick(d.ts);
            }
            if usize::from(d.worker) == id {
                let data = chunk.data(d);
                let pkt = Packet { ts: d.ts, linktype: d.linktype, data, wire_len: d.wire_len };
                set(index, PACKET);
                p.begin_packet(index);
                match app {
                    Some(app) => p.app_packet(&pkt, app),
                    None => p.packet(&pkt),
                }
            }
        }
        let upto = chunk.first + chunk.packets.len() as u64;
        for (_, name) in sources {
            p.begin_source_at(name, upto);
        }
        // Done with the chunk's buffers before the merger may block this worker.
        drop(chunk);
        let msg = Out { worker: id, items: take(), upto, done: None };
        if out.send(msg).is_err() {
            return;
        }
    }
    set(u64::MAX, FLUSH);
    p.flush_flows();
    let items = take();
    let stats = p.finish();
    let _ = out.send(Out { worker: id, items, upto: u64::MAX, done: Some(stats) });
}
