//! `replay --threads N`: one pipeline per worker thread, with output byte-identical to one
//! pipeline.
//!
//! - The reading thread ([`Parallel`]) routes each packet where its bytes were just read
//!   (`route`): to the worker of its device ([`LocalNets::device_side`]), so every flow, and
//!   everything the classifier learns from a device's flows, stays in one worker; and it runs
//!   the packet clock: at a packet where one flow table would sweep idle flows, every worker
//!   sweeps.
//! - Worker 0 runs on the reading thread itself, on each of its packets as soon as it is
//!   routed: the bytes are in this core's cache, no thread waits for them, and `--threads 2`
//!   is two busy threads, not three. A device gets its worker at its first packet: the worker
//!   thread with the fewest packets waiting, or worker 0 when every queue holds enough
//!   (`route`), so the reading thread neither waits for a worker nor leaves one idle.
//! - The other workers (`worker`) each get the same runs of packets (`Chunk`) with a lane
//!   of their own: where each of their packets lies in the buffers the file reader lends (a
//!   mapped window of the file, [`crate::capture::mapped`], or a read buffer; a copy only for
//!   inputs that cannot lend, pcapng), and the places of the sweeps. A worker reads only its
//!   lane, never another's packets or entries.
//! - Every worker tags each record with where one pipeline would have written it: the packet's
//!   number, then the sweep order or the order within the packet ([`Key`]).
//! - The merger (`merge`) puts the records back in that order and hands them to the one sink
//!   chain (exposure map, anonymisation, files), which therefore sees exactly the records, in
//!   exactly the order, of `--threads 1`.
//!
//! Queues are bounded: the reader blocks on a full worker, a worker on a full merger. A worker
//! runs at most its queue ahead of the slowest, so the merger's reorder window is bounded too.
//! Without outputs (`bench`) the workers send the merger only their counters, at the end.
//! `docs/scale.md` ("Every core") says what is exact, when, and what it costs.

mod merge;
mod route;
mod worker;

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::capture::pcapdroid::AndroidApp;
use crate::capture::{Lent, LinkType, Packet, PacketSink, Timestamp};
use crate::exposure::local::LocalNets;
use crate::pipeline::{PacketStats, Pipeline, RunStats};
use crate::record::RecordSink;
use crate::record::sink::SinkError;

pub use route::{BACKLOG, Done, MAX_WORKERS, Router};

/// Where a record falls in the order one pipeline writes: (packet number, phase, a, b). Phase 0
/// is the idle sweep the packet triggers (a, b: idle list and tick), phase 1 what the packet
/// itself writes (a: the record's rank in it), phase 2 the end-of-input flush (a, b: first
/// packet time and flow id; packet number `u64::MAX`).
pub type Key = (u64, u8, i64, u64);

/// Packets per chunk (amortises the queues' locking and wake-ups).
const CHUNK: usize = 4096;
/// Packets of the first chunk: the chunks double from there to [`CHUNK`], so that the worker
/// threads start soon after the reader does (a first chunk of 4 096 packets left them idle for
/// 0.7–0.9 ms of a 65 ms `bench.pcap` run; now 0.1–0.15 ms). Chunks that shrank again near the
/// input's end were tried: a queue of small chunks filled up and the reader waited on it.
const FIRST_CHUNK: u32 = 256;
/// Bytes of packets a chunk holds at most, lent or copied: with large frames (64 KiB from a
/// capture with segmentation offload) 4 096 packets would hold 256 MiB of buffers.
const CHUNK_BYTES: usize = 4 << 20;
/// Chunks queued per worker before the reader waits.
const QUEUE: usize = 2;

/// One packet of a chunk, in its worker's lane: bytes `start..end` of the chunk's lent buffer
/// `buffer`, or of its own bytes ([`COPIED`]).
#[derive(Clone, Copy)]
struct Desc {
    ts: Timestamp,
    linktype: LinkType,
    wire_len: u32,
    /// The packet's place in the chunk (its number less [`Chunk::first`]).
    at: u32,
    start: u32,
    end: u32,
    buffer: u32,
}

/// [`Desc::buffer`] of a packet copied into [`Chunk::bytes`].
const COPIED: u32 = u32::MAX;

/// A run of consecutive packets, the same for every worker: each reads its own lane, and
/// every sweep.
#[derive(Default)]
struct Chunk {
    /// Number of the first packet.
    first: u64,
    /// Packets in the chunk, every worker's.
    len: u32,
    /// Each worker's packets, in order (worker 0's stay empty: it runs on the reader).
    lanes: Vec<Vec<Desc>>,
    /// (place, time) of the packets at which one flow table would sweep idle flows: every
    /// worker sweeps there.
    ticks: Vec<(u32, Timestamp)>,
    /// Buffers the file reader lent (it writes none of them while a chunk holds it).
    lent: Vec<Lent>,
    bytes: Vec<u8>,
    /// Bytes of the packets that lie in lent buffers.
    lent_bytes: usize,
    /// (packet's place in the chunk, its Android app), in order.
    apps: Vec<(u32, Arc<AndroidApp>)>,
    /// (place of the first packet, capture file name): a file begins there.
    sources: Vec<(u32, Arc<str>)>,
}

impl Chunk {
    fn new(first: u64, workers: usize) -> Self {
        // Room for every packet in each lane (pages are touched only as used): a lane that
        // outgrows its share would be copied.
        let lanes =
            (0..workers).map(|i| Vec::with_capacity(if i == 0 { 0 } else { CHUNK })).collect();
        Chunk { first, lanes, ..Default::default() }
    }
}

/// A record a worker wrote, owned, for the merger.
enum Rec {
    Flow(Box<crate::record::FlowRecord>),
    Event(Box<crate::record::Event>),
}

/// What a worker sends the merger: records in [`Key`] order, and a watermark: no later record of
/// this worker has a key below `(upto, 0, ..)`. The last message carries the counters.
struct Out {
    worker: usize,
    items: Vec<(Key, Rec)>,
    upto: u64,
    done: Option<Result<RunStats, SinkError>>,
}

/// The parallel driver: a [`PacketSink`] for the reader.
pub struct Parallel {
    router: Router,
    /// Worker 0 runs here, on the reading thread, on each of its packets as it is read: its
    /// bytes are still in this core's cache, and no thread waits on another for them.
    inline: Option<worker::Worker>,
    /// Worker 0's way to the merger.
    out: Option<SyncSender<Out>>,
    /// Threads of workers 1 and up.
    senders: Vec<SyncSender<Arc<Chunk>>>,
    chunk: Chunk,
    workers: Vec<JoinHandle<()>>,
    merger: Option<JoinHandle<Result<RunStats, SinkError>>>,
}

impl Parallel {
    /// `pipelines.len()` workers (each pipeline's sink is replaced by the worker's collector) in
    /// front of `sink`, the one sink chain. Without `collect` (no output: `bench`) the workers
    /// keep their pipelines' sinks and send the merger only their counters. `backlog`: see
    /// [`BACKLOG`].
    pub fn new(
        pipelines: Vec<Pipeline>,
        local: LocalNets,
        sink: Box<dyn RecordSink>,
        collect: bool,
        backlog: u64,
    ) -> Self {
        let n = pipelines.len().max(1);
        // The merger's queue: a few chunks' worth of messages per worker.
        let (out_tx, out_rx) = sync_channel::<Out>(QUEUE * n);
        let mut senders = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        let done = Arc::new(Done::new(n));
        let mut pipelines = pipelines.into_iter();
        let inline = pipelines.next().map(|p| worker::Worker::new(0, p, collect, done.clone()));
        for (id, p) in pipelines.enumerate().map(|(i, p)| (i + 1, p)) {
            let (tx, rx) = sync_channel::<Arc<Chunk>>(QUEUE);
            senders.push(tx);
            let out = out_tx.clone();
            let w = worker::Worker::new(id, p, collect, done.clone());
            let h = std::thread::Builder::new()
                .name(format!("leakscope-worker-{id}"))
                .spawn(move || worker::run(w, rx, out))
                .expect("spawn a worker thread");
            workers.push(h);
        }
        let merger = std::thread::Builder::new()
            .name("leakscope-merge".into())
            .spawn(move || merge::run(n, out_rx, sink))
            .expect("spawn the merger thread");
        let mut router = Router::new(local, n, done, backlog);
        router.set_chunk(FIRST_CHUNK);
        Parallel {
            router,
            inline,
            out: Some(out_tx),
            senders,
            chunk: Chunk::new(0, n),
            workers,
            merger: Some(merger),
        }
    }

    /// Workers.
    pub fn threads(&self) -> usize {
        self.senders.len() + 1
    }

    /// Packets and bytes handed out so far (for the progress line).
    pub fn stats(&self) -> PacketStats {
        PacketStats {
            packets: self.router.packets(),
            bytes: self.router.bytes(),
            ..PacketStats::default()
        }
    }

    /// Replay: the input holds about `bytes` bytes of capture files, given before its first
    /// packet (a hint: who computes what near the end, never the output, depends on it).
    pub fn expect_input(&mut self, bytes: u64) {
        self.router.expect(bytes);
    }

    /// Replay: the packets from here on come from capture file `name`.
    pub fn begin_source(&mut self, name: &str) {
        let at = self.chunk.len;
        self.chunk.sources.push((at, name.into()));
        if let Some(w) = self.inline.as_mut() {
            w.begin_source(name, self.router.packets());
        }
    }

    /// Sends every worker the chunk so far, and the merger worker 0's records.
    fn send(&mut self) {
        self.router.set_chunk((self.router.chunk() * 2).min(CHUNK as u32));
        let next = Chunk::new(self.router.packets(), self.senders.len() + 1);
        let full = Arc::new(std::mem::replace(&mut self.chunk, next));
        for tx in &self.senders {
            // A worker gone means it panicked; its join reports it.
            let _ = tx.send(full.clone());
        }
        if let (Some(w), Some(out)) = (&self.inline, &self.out)
            && w.collect
        {
            let _ = out.send(Out {
                worker: 0,
                items: w.take(),
                upto: self.router.packets(),
                done: None,
            });
        }
    }

    /// End of input: every worker writes its open flows, the merger closes the outputs.
    /// Returns the counters summed over the workers, or every output error.
    pub fn finish(mut self) -> Result<RunStats, SinkError> {
        self.send();
        self.senders.clear();
        if let (Some(w), Some(out)) = (self.inline.take(), self.out.take()) {
            let _ = out.send(w.finish());
        }
        self.out = None;
        let mut panicked = false;
        for h in self.workers.drain(..) {
            panicked |= h.join().is_err();
        }
        let merged = self.merger.take().expect("merger").join();
        match merged {
            Ok(r) if !panicked => r,
            _ => Err(SinkError::Output("a replay worker thread failed".into())),
        }
    }
}

impl PacketSink for Parallel {
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.push(pkt, None, None);
    }

    fn app_packet(&mut self, pkt: &Packet<'_>, app: &Arc<AndroidApp>) {
        self.push(pkt, Some(app), None);
    }

    fn lent_packet(&mut self, pkt: &Packet<'_>, buffer: &Lent) {
        self.push(pkt, None, Some(buffer));
    }

    fn threaded(&self) -> bool {
        !self.senders.is_empty()
    }
}

impl Parallel {
    /// Adds `pkt` (and its app) to the chunk: a reference into `lent` when the packet lies in
    /// it, else a copy.
    #[inline]
    fn push(&mut self, pkt: &Packet<'_>, app: Option<&Arc<AndroidApp>>, lent: Option<&Lent>) {
        // The packet's number; the router counts it (and its bytes, for the progress line).
        let index = self.router.packets();
        // Routed here, where the packet's bytes were just read into the cache: worker 0 takes
        // its packets now, the others touch only their own.
        let (worker, tick) = self.router.route(pkt);
        if let Some(w) = self.inline.as_mut() {
            if tick {
                w.tick(index, pkt.ts);
            }
            if worker == 0 {
                w.packet(index, pkt, app);
            }
        }
        let c = &mut self.chunk;
        let at = c.len;
        c.len += 1;
        if tick {
            c.ticks.push((at, pkt.ts));
        }
        if worker == 0 && self.inline.is_some() {
            // Taken already; the other workers need only its place in the order.
            if c.len >= self.router.chunk() {
                self.send();
            }
            return;
        }
        // Where the packet lies in the lent buffer (plain address arithmetic, checked).
        let held = lent.and_then(|l| {
            let bytes = l.bytes();
            let start = (pkt.data.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
            (start + pkt.data.len() <= bytes.len()).then_some((l, start))
        });
        let (buffer, start, end) = match held {
            Some((l, start)) => {
                if !c.lent.last().is_some_and(|last| last.same(l)) {
                    c.lent.push(l.clone());
                }
                c.lent_bytes += pkt.data.len();
                ((c.lent.len() - 1) as u32, start, start + pkt.data.len())
            }
            None => {
                let start = c.bytes.len();
                c.bytes.extend_from_slice(pkt.data);
                (COPIED, start, c.bytes.len())
            }
        };
        if let Some(app) = app {
            c.apps.push((at, app.clone()));
        }
        c.lanes[worker].push(Desc {
            ts: pkt.ts,
            linktype: pkt.linktype,
            wire_len: pkt.wire_len,
            at,
            start: start as u32,
            end: end as u32,
            buffer,
        });
        if c.len >= self.router.chunk() || c.bytes.len() + c.lent_bytes >= CHUNK_BYTES {
            self.send();
        }
    }
}

/// Adds a worker's counters to `sum` (peak live flows: the sum of the workers' peaks, an upper
/// bound of one table's).
fn add(sum: &mut RunStats, w: &RunStats) {
    let (p, q) = (&mut sum.packets, &w.packets);
    p.packets += q.packets;
    p.bytes += q.bytes;
    p.not_ip += q.not_ip;
    p.tunnelled += q.tunnelled;
    let (e, f) = (&mut p.decode_errors, &q.decode_errors);
    e.short_link_header += f.short_link_header;
    e.unsupported_link += f.unsupported_link;
    e.bad_ip_header += f.bad_ip_header;
    e.tunnel_too_deep += f.tunnel_too_deep;
    let (t, u) = (&mut sum.table, &w.table);
    t.flows += u.flows;
    t.evicted += u.evicted;
    t.active_timeouts += u.active_timeouts;
    t.peak_live += u.peak_live;
    t.orphan_fragments += u.orphan_fragments;
    t.fragment_overflow += u.fragment_overflow;
    sum.records += w.records;
    sum.meta_records += w.meta_records;
    sum.carried_evicted += w.carried_evicted;
    // A process-wide count: every worker read the same counter.
    sum.certs_capped = sum.certs_capped.max(w.certs_capped);
}
