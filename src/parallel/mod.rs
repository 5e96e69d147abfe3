//! `replay --threads N`: one pipeline per worker thread, with output byte-identical to one
//! pipeline.
//!
//! - The dispatcher (the reading thread, [`Parallel`]) decodes each packet's addresses and
//!   ports, and gives it to the worker of its device ([`LocalNets::device_side`]): every flow,
//!   and everything the classifier learns from a device's flows, stays in one worker. It also
//!   runs the packet clock of the flow tables: at a packet where one table would sweep idle
//!   flows, every worker sweeps ([`route`]).
//! - Each worker ([`worker`]) runs its own [`Pipeline`] (flow table, dissectors, classifier) and
//!   tags each record with where one pipeline would have written it: the packet's number, then
//!   the sweep order or the order within the packet ([`Key`]).
//! - The merger ([`merge`]) puts the records back in that order and hands them to the one sink
//!   chain (exposure map, anonymisation, files), which therefore sees exactly the records, in
//!   exactly the order, of `--threads 1`.
//!
//! Queues are bounded: the dispatcher blocks on a full worker, a worker on a full merger. A
//! worker runs at most its queue ahead of the slowest, so the merger's reorder window is
//! bounded too. `docs/scale.md` ("Every core") says what is exact and when.

mod merge;
mod route;
mod worker;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::capture::pcapdroid::AndroidApp;
use crate::capture::{Packet, PacketSink, Timestamp};
use crate::exposure::local::LocalNets;
use crate::pipeline::{PacketStats, Pipeline, RunStats};
use crate::record::RecordSink;
use crate::record::sink::SinkError;

pub use route::Router;

/// Where a record falls in the order one pipeline writes: (packet number, phase, a, b). Phase 0
/// is the idle sweep the packet triggers (a, b: idle list and tick), phase 1 what the packet
/// itself writes (a: the record's rank in it), phase 2 the end-of-input flush (a, b: first
/// packet time and flow id; packet number `u64::MAX`).
pub type Key = (u64, u8, i64, u64);

/// Packets a worker gets per batch (amortises the queue's locking).
const BATCH: usize = 2048;
/// Bytes of packets a worker gets per batch at most (one device's burst fills a batch faster
/// than the others').
const BATCH_BYTES: usize = 1024 * 1024;
/// Batches queued per worker before the dispatcher waits.
const QUEUE: usize = 2;

/// What the dispatcher sends a worker.
enum Job {
    /// A packet of this worker: bytes `start..end` of the batch.
    Packet {
        index: u64,
        ts: Timestamp,
        linktype: crate::capture::LinkType,
        wire_len: u32,
        start: u32,
        end: u32,
        /// The packet's Android app, when the source named it (PCAPdroid's pcapng).
        app: Option<Arc<AndroidApp>>,
    },
    /// The packet clock reached a sweep at packet `index` (of any worker).
    Tick { index: u64, ts: Timestamp },
    /// Capture file `name` begins at packet `index`.
    Source { index: u64, name: Arc<str> },
}

/// Jobs with their packets' bytes; `upto`: no later job of this worker has a smaller index.
#[derive(Default)]
struct Batch {
    jobs: Vec<Job>,
    bytes: Vec<u8>,
    upto: u64,
}

impl Batch {
    /// Room for a full batch at once (grown by doubling, a batch would fault in new pages
    /// again and again); batches are recycled, so this is paid a few times per run.
    fn new() -> Self {
        let bytes = Vec::with_capacity(BATCH_BYTES + 64 * 1024);
        Batch { jobs: Vec::with_capacity(BATCH * 2), bytes, upto: 0 }
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
    senders: Vec<SyncSender<Batch>>,
    pending: Vec<Batch>,
    /// Batches the workers are done with, to fill again: no allocation per batch.
    free: Receiver<Batch>,
    in_batch: usize,
    index: u64,
    stats: PacketStats,
    workers: Vec<JoinHandle<()>>,
    merger: Option<JoinHandle<Result<RunStats, SinkError>>>,
}

impl Parallel {
    /// `pipelines.len()` workers (each pipeline's sink is replaced by the worker's collector) in
    /// front of `sink`, the one sink chain. Without `collect` (no output: `bench`) the workers
    /// keep their pipelines' sinks and send the merger only their counters.
    pub fn new(
        pipelines: Vec<Pipeline>,
        local: LocalNets,
        sink: Box<dyn RecordSink>,
        collect: bool,
    ) -> Self {
        let n = pipelines.len().max(1);
        // The merger's queue: a few batches' worth of messages per worker.
        let (out_tx, out_rx) = sync_channel::<Out>(QUEUE * n);
        let (free_tx, free) = sync_channel::<Batch>((QUEUE + 2) * n);
        let mut senders = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for (id, p) in pipelines.into_iter().enumerate() {
            let (tx, rx): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(QUEUE);
            senders.push(tx);
            let (out, free) = (out_tx.clone(), free_tx.clone());
            let h = std::thread::Builder::new()
                .name(format!("leakscope-worker-{id}"))
                .spawn(move || worker::run(id, p, rx, out, free, collect))
                .expect("spawn a worker thread");
            workers.push(h);
        }
        drop(out_tx);
        let merger = std::thread::Builder::new()
            .name("leakscope-merge".into())
            .spawn(move || merge::run(n, out_rx, sink))
            .expect("spawn the merger thread");
        Parallel {
            router: Router::new(local, n),
            senders,
            pending: (0..n).map(|_| Batch::new()).collect(),
            free,
            in_batch: 0,
            index: 0,
            stats: PacketStats::default(),
            workers,
            merger: Some(merger),
        }
    }

    /// Workers.
    pub fn threads(&self) -> usize {
        self.senders.len()
    }

    /// Packets and bytes handed out so far (for the progress line).
    pub fn stats(&self) -> PacketStats {
        self.stats
    }

    /// Replay: the packets from here on come from capture file `name`.
    pub fn begin_source(&mut self, name: &str) {
        let name: Arc<str> = name.into();
        for b in &mut self.pending {
            b.jobs.push(Job::Source { index: self.index, name: name.clone() });
        }
    }

    /// Sends every worker its batch (empty ones too: their watermark lets the merger go on).
    fn send_all(&mut self) {
        for (b, tx) in self.pending.iter_mut().zip(&self.senders) {
            let fresh = self.free.try_recv().unwrap_or_else(|_| Batch::new());
            let mut full = std::mem::replace(b, fresh);
            full.upto = self.index;
            // A worker gone means it panicked; its join reports it.
            let _ = tx.send(full);
        }
        self.in_batch = 0;
    }

    /// End of input: every worker writes its open flows, the merger closes the outputs.
    /// Returns the counters summed over the workers, or every output error.
    pub fn finish(mut self) -> Result<RunStats, SinkError> {
        self.send_all();
        self.senders.clear();
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
        self.dispatch(pkt, None);
    }

    fn app_packet(&mut self, pkt: &Packet<'_>, app: &Arc<AndroidApp>) {
        self.dispatch(pkt, Some(app.clone()));
    }
}

impl Parallel {
    /// Sends `pkt` (and its app) to its device's worker.
    #[inline]
    fn dispatch(&mut self, pkt: &Packet<'_>, app: Option<Arc<AndroidApp>>) {
        let index = self.index;
        self.index += 1;
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        let (w, tick) = self.router.route(pkt);
        if tick {
            // Every worker sweeps here, the packet's own worker too (before its packet), so
            // that each sweep's records get the sweep's key.
            for b in &mut self.pending {
                b.jobs.push(Job::Tick { index, ts: pkt.ts });
            }
        }
        let b = &mut self.pending[w];
        let start = b.bytes.len() as u32;
        b.bytes.extend_from_slice(pkt.data);
        b.jobs.push(Job::Packet {
            index,
            ts: pkt.ts,
            linktype: pkt.linktype,
            wire_len: pkt.wire_len,
            start,
            end: b.bytes.len() as u32,
            app,
        });
        self.in_batch += 1;
        if self.in_batch >= BATCH * self.senders.len() || b.bytes.len() >= BATCH_BYTES {
            self.send_all();
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

/// A stable hash of an address, to spread devices over workers.
fn spread(ip: IpAddr) -> u64 {
    let v = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let mut z = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
