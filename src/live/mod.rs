//! The live capture daemon (`leakscope capture`): a [`LiveSource`] on its own thread feeds the
//! same [`Pipeline`](crate::pipeline::Pipeline) as replay; a current-thread tokio runtime owns the signals and the timers.
//! The pipeline and its outputs live in one `Driver` behind a mutex, so they are driven from
//! one place at a time: packets on one side, the 1 s tick, stats and SIGHUP on the other.
//!
//! Hand-off, measured (`BENCHMARKS.md (Live capture)`):
//! - [`Handoff::Inline`], the default: the capture thread runs the pipeline on the frame still in
//!   the pcap ring, taking the (uncontended) lock per packet. No copy, no channel.
//! - [`Handoff::Batch`]: the capture thread copies frames into reused batch buffers (one `Vec<u8>`
//!   of bytes, one of lengths and timestamps) and sends them over a bounded channel to the
//!   runtime task; empty batches come back on a return channel, so steady state allocates
//!   nothing, and capture and pipeline overlap.
//!
//! On this 2-core machine inline drained a full kernel buffer 15–80 % faster and used less CPU
//! per packet: the pipeline costs well under a microsecond a packet, less than the copy and the
//! wake-ups of a hand-off, and the second core is busy with the kernel's receive path anyway.
//! Either way, when the pipeline falls behind, the kernel buffer absorbs the burst or counts
//! drops (the one place where drops are counted).

pub mod command;
pub mod config;
pub mod privs;
pub mod view;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use serde::Serialize;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::assembly::{Assembly, Outputs};
use crate::capture::live::{LiveConfig, LiveSource, LiveStats};
use crate::capture::pcapdroid::AndroidApp;
use crate::capture::pcapdroid_udp::{UdpConfig, UdpSource};
use crate::capture::{LinkType, Packet, PacketSink, Timestamp};
use crate::classify::{Geo, Ruleset};
use crate::flow::FlowConfig;
use crate::output::pcap::{PcapKeep, PcapOut};
use crate::output::{JsonlWriter, LiveJsonlSink, LiveOutputs, OutputOptions};
use crate::pipeline::{PacketStats, RunStats};
use crate::record::{RecordSink, SinkError};

/// Everything `leakscope capture` needs, after config file and flags were merged.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface and libpcap settings.
    pub capture: LiveConfig,
    /// Output directory (`flows.jsonl`, `events.jsonl`, `stats.jsonl`).
    pub out: PathBuf,
    /// Rotation and compression.
    pub output: OutputOptions,
    /// Flow table settings.
    pub flow: FlowConfig,
    /// Time between stats lines.
    pub stats_interval: Duration,
    /// User to switch to after opening the interface (`None`: default rule, see
    /// [`privs::target_user`]).
    pub user: Option<String>,
    /// Also save packets here, and which.
    pub write_pcap: Option<(PathBuf, PcapKeep)>,
    /// Rule directories over the builtin rules, for the classifier and `--write-pcap`
    /// (reloaded on SIGHUP).
    pub rules_dirs: Vec<PathBuf>,
    /// MaxMind ASN database (classifier enrichment; searched in the default places if `None`).
    pub asn_db: Option<PathBuf>,
    /// MaxMind country database.
    pub country_db: Option<PathBuf>,
    /// Run dissectors, classification and the exposure map (off: flow tracking alone).
    pub classify: bool,
    /// Exposure map settings (the watched devices' networks, devices held, OUI registry, policy,
    /// session gap).
    pub exposure: crate::exposure::ExposureConfig,
    /// Also write a SQLite database (opened after privileges are dropped, like the JSONL files).
    pub sqlite: Option<PathBuf>,
    /// Also write Parquet datasets under this directory (opened with the JSONL files).
    pub parquet: Option<PathBuf>,
    /// Replace device identifiers with keyed pseudonyms in every output.
    pub anonymize: Option<crate::anonymize::AnonymizeConfig>,
    /// How frames reach the pipeline (a benchmarking switch).
    pub handoff: Handoff,
    /// Receive PCAPdroid's UDP stream instead of capturing on `capture.interface`.
    pub udp: Option<UdpConfig>,
    /// One device for everything captured, by this name (`--device-name`).
    pub device_name: Option<String>,
    /// Also write the flow records as CSV (`--csv`).
    pub csv: Option<PathBuf>,
    /// Stop after this many packets (`-c`).
    pub count: Option<u64>,
    /// Stop after this much wall time (`--duration`).
    pub duration: Option<Duration>,
    /// Redraw the devices and their Meta endpoints on stdout every second (`--live`).
    pub live_view: bool,
}

/// Where live packets come from: an interface, or PCAPdroid's UDP stream (whose packets carry
/// their senders' link types; it always hands off inline).
enum Source {
    Pcap(LiveSource),
    Udp(UdpSource),
}

impl Source {
    fn open(opts: &LiveOptions) -> Result<Source, crate::capture::live::LiveError> {
        Ok(match &opts.udp {
            Some(u) => Source::Udp(UdpSource::open(u)?),
            None => Source::Pcap(LiveSource::open(&opts.capture)?),
        })
    }
    /// The interface's link type; raw IP for the UDP stream, whose senders say their own.
    fn linktype(&self) -> LinkType {
        match self {
            Source::Pcap(s) => s.linktype(),
            Source::Udp(_) => LinkType::RAW,
        }
    }
    fn interface(&self) -> &str {
        match self {
            Source::Pcap(s) => s.interface(),
            Source::Udp(s) => s.interface(),
        }
    }
    fn shared_stats(&self) -> Arc<crate::capture::live::SharedStats> {
        match self {
            Source::Pcap(s) => s.shared_stats(),
            Source::Udp(s) => s.shared_stats(),
        }
    }
    fn run<S: PacketSink>(
        self,
        sink: &mut S,
        stop: &AtomicBool,
        pause: impl FnMut(&mut S),
    ) -> Result<LiveStats, crate::capture::live::LiveError> {
        match self {
            Source::Pcap(s) => s.run(sink, stop, pause),
            Source::Udp(s) => s.run(sink, stop, pause),
        }
    }
}

/// How frames get from the capture thread to the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Handoff {
    /// The capture thread runs the pipeline itself, under the driver's lock, with no copy.
    #[default]
    Inline,
    /// Copied into reused batches, sent over a bounded channel to the runtime task: capture and
    /// pipeline overlap when a core is free for each.
    Batch,
}

/// What a capture run did.
#[derive(Debug)]
pub struct LiveOutcome {
    /// libpcap counters (final: read before the last drain).
    pub capture: LiveStats,
    /// Pipeline counters.
    pub run: RunStats,
    /// Bytes written to `flows.jsonl` and `events.jsonl` (all rotated files).
    pub bytes_written: u64,
    /// What `--write-pcap` did, when asked for.
    pub pcap: Option<crate::output::pcap::PcapOutStats>,
    /// Wall time.
    pub elapsed: Duration,
}

/// One line of `stats.jsonl`.
#[derive(Serialize)]
struct StatsEvent<'a> {
    /// Packet clock, epoch seconds.
    ts: f64,
    event: &'static str,
    interface: &'a str,
    /// libpcap counters.
    #[serde(flatten)]
    capture: LiveStats,
    /// Flows open now.
    flows_active: usize,
    /// Flow records written.
    records: u64,
    /// Flow records labelled with a Meta service.
    meta_records: u64,
    /// Bytes written to flow files.
    bytes_written: u64,
    /// Pipeline packet counters (`packets` equals `delivered` once the channel is drained).
    pipeline: PacketStats,
    /// What `--write-pcap` did, when on.
    #[serde(skip_serializing_if = "Option::is_none")]
    write_pcap: Option<crate::output::pcap::PcapOutStats>,
    /// What the exposure map wrote early to stay bounded, so far.
    exposure_caps: crate::exposure::CapsCount,
    /// Set on the last line, written at shutdown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    r#final: bool,
}

/// Packets per batch, and bytes: a batch is sent when either fills, or when its first packet
/// is [`BATCH_LATENCY`] old, or when the link goes silent.
const BATCH_PACKETS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
const BATCH_LATENCY: i64 = 20_000_000;
/// Batches in flight: with 1 MiB batches, at most ~8 MiB queued in user space.
const CHANNEL_BATCHES: usize = 8;

/// Frames copied out of the pcap ring, with their metadata.
struct Batch {
    linktype: LinkType,
    data: Vec<u8>,
    /// (timestamp, captured length, wire length), in order.
    meta: Vec<(Timestamp, u32, u32)>,
}

impl Batch {
    fn new(linktype: LinkType) -> Batch {
        Batch {
            linktype,
            data: Vec::with_capacity(BATCH_BYTES + 65_536),
            meta: Vec::with_capacity(BATCH_PACKETS),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&Packet<'_>)) {
        let mut at = 0usize;
        for &(ts, len, wire_len) in &self.meta {
            let data = &self.data[at..at + len as usize];
            at += len as usize;
            f(&Packet { ts, linktype: self.linktype, data, wire_len });
        }
    }
}

/// The capture thread's sink: fills batches and sends them to the pipeline task.
struct BatchSender {
    cur: Batch,
    tx: mpsc::Sender<Batch>,
    pool: std::sync::mpsc::Receiver<Batch>,
    stop: Arc<AtomicBool>,
}

impl BatchSender {
    fn flush(&mut self) {
        if self.cur.meta.is_empty() {
            return;
        }
        let mut next = self.pool.try_recv().unwrap_or_else(|_| Batch::new(self.cur.linktype));
        next.data.clear();
        next.meta.clear();
        let full = std::mem::replace(&mut self.cur, next);
        // Blocks while the pipeline is behind: the kernel buffer takes the backlog.
        if self.tx.blocking_send(full).is_err() {
            // The pipeline task is gone (output error): stop capturing.
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

impl PacketSink for BatchSender {
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.cur.data.extend_from_slice(pkt.data);
        self.cur.meta.push((pkt.ts, pkt.data.len() as u32, pkt.wire_len));
        let first = self.cur.meta[0].0;
        if self.cur.meta.len() >= BATCH_PACKETS
            || self.cur.data.len() >= BATCH_BYTES
            || pkt.ts.since(first) >= BATCH_LATENCY
        {
            self.flush();
        }
    }
}

/// Owns the pipeline and everything written; lives on the runtime's single task.
struct Driver {
    iface: String,
    /// The pipeline with its outputs, as replay assembles them.
    asm: Assembly,
    /// The pipeline sink's files, for the clock, flushes and counters.
    outputs: Arc<Mutex<LiveOutputs>>,
    stats_out: JsonlWriter,
    rules_dirs: Vec<PathBuf>,
    /// Latest packet time and when (wall clock) it was seen.
    last: Option<(Timestamp, Instant)>,
    errors: Vec<String>,
    /// `-c`: packets wanted, and the flag that stops the capture once they are in.
    count: Option<u64>,
    stop: Arc<AtomicBool>,
    /// `--live`: the title of the screen, drawn each tick.
    view: Option<String>,
    /// The exposure map's early writes ([`crate::exposure::ExposureConfig::caps`]).
    caps: Arc<crate::exposure::Caps>,
}

/// Wall clock as a packet timestamp.
fn wall_now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp(d.as_nanos().min(i64::MAX as u128) as i64)
}

impl Driver {
    fn batch(&mut self, b: &Batch) {
        b.for_each(|pkt| self.packet(pkt));
        if let Some(&(ts, _, _)) = b.meta.last() {
            self.seen(ts);
        }
    }

    fn packet(&mut self, pkt: &Packet<'_>) {
        self.app_packet(pkt, None);
    }

    /// A packet, with its Android app when the source names one (PCAPdroid's pcapng stream).
    fn app_packet(&mut self, pkt: &Packet<'_>, app: Option<&Arc<AndroidApp>>) {
        let full = |d: &mut Self| d.count.is_some_and(|n| d.asm.pipeline().stats().packets >= n);
        if full(self) {
            return; // frames already in flight when the count was reached
        }
        match app {
            None => self.asm.packet(pkt),
            Some(app) => self.asm.app_packet(pkt, app),
        }
        if full(self) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Notes the latest packet time, for the silent-link clock and rotation.
    fn seen(&mut self, ts: Timestamp) {
        self.last = Some((ts, Instant::now()));
        lock(&self.outputs).set_clock(ts);
    }

    /// The packet clock when the link is silent: last packet time plus the wall time since.
    fn now(&self) -> Timestamp {
        match self.last {
            Some((ts, at)) => Timestamp(
                ts.nanos().saturating_add(at.elapsed().as_nanos().min(i64::MAX as u128) as i64),
            ),
            None => wall_now(),
        }
    }

    fn tick(&mut self) {
        let now = self.now();
        if let Some(title) = &self.view {
            let (flows, rules) = self.asm.pipeline().live_view();
            let snap = view::snapshot(flows, rules, now);
            let clock = crate::term::now_utc();
            view::draw(&view::render(&format!("{title} — {clock}"), &snap));
        }
        // Before the first packet no flow can expire, and the wall clock may be far from the
        // packet clock (a phone streaming over UDP keeps its own time): the table's clock
        // starts with the packets.
        if self.last.is_some() {
            self.asm.tick(now);
        }
        let flushed = {
            let mut o = lock(&self.outputs);
            o.set_clock(now);
            o.flush()
        };
        self.stats_out.set_clock(now);
        // Records reach the file within a second; a write error is logged once, when first met,
        // and makes the exit status non-zero.
        for r in [flushed, self.stats_out.flush().map_err(SinkError::from)] {
            if let Err(e) = r {
                self.error_once(e.to_string());
            }
        }
    }

    fn stats(&mut self, capture: LiveStats) {
        let (records, bytes_written) = {
            let o = lock(&self.outputs);
            (o.flows.records(), o.bytes())
        };
        let ev = StatsEvent {
            ts: crate::record::flow::secs_us(self.now().nanos()),
            event: "stats",
            interface: &self.iface,
            capture,
            flows_active: self.asm.pipeline().live_flows(),
            records,
            meta_records: self.asm.pipeline().meta_records(),
            bytes_written,
            pipeline: self.asm.pipeline().stats(),
            write_pcap: self.asm.pcap_stats(),
            exposure_caps: self.caps.count(),
            r#final: false,
        };
        write_stats(&mut self.stats_out, &ev);
        if let Err(e) = self.asm.flush_pcap() {
            self.error_once(e.to_string());
        }
    }

    /// Logs a write error when first met (each flush meets it again) and keeps it for the
    /// exit status.
    fn error_once(&mut self, e: String) {
        if !self.errors.contains(&e) {
            tracing::error!("{e}");
            self.errors.push(e);
        }
    }

    /// SIGHUP: reopen outputs for logrotate, reload rules.
    fn hangup(&mut self) {
        let mut ok = true;
        let stats = self.stats_out.reopen().map_err(SinkError::from);
        for r in [self.asm.pipeline().reopen_outputs(), stats] {
            if let Err(e) = r {
                tracing::error!("SIGHUP: {e}");
                ok = false;
            }
        }
        match Ruleset::load(&self.rules_dirs, true) {
            Ok(rules) => self.asm.pipeline().set_rules(rules),
            Err(e) => {
                tracing::error!("SIGHUP: rules not reloaded, the old ones stay:\n{e}");
                ok = false;
            }
        }
        if ok {
            tracing::info!("SIGHUP: outputs reopened, rules reloaded");
        }
    }
}

/// Logs a stats line and appends it to `stats.jsonl`.
fn write_stats(out: &mut JsonlWriter, ev: &StatsEvent<'_>) {
    let c = ev.capture;
    tracing::info!(
        interface = %ev.interface,
        received = c.received,
        dropped = c.dropped,
        if_dropped = c.if_dropped,
        flows_active = ev.flows_active,
        records = ev.records,
        meta_records = ev.meta_records,
        bytes_written = ev.bytes_written,
        "stats"
    );
    out.write(ev);
}

/// The capture thread's sink in [`Handoff::Inline`] mode: runs the pipeline under the lock.
struct InlineSink {
    driver: Arc<Mutex<Driver>>,
    /// Latest packet time not yet told to the driver.
    last_ts: Option<Timestamp>,
    since_seen: u32,
    /// Dropped when capture ends: that closes the channel the runtime waits on.
    _done: mpsc::Sender<Batch>,
}

impl InlineSink {
    /// Called when the link went silent: publish the clock.
    fn pause(&mut self) {
        if let Some(ts) = self.last_ts.take() {
            lock(&self.driver).seen(ts);
        }
    }
}

impl PacketSink for InlineSink {
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.forward(pkt, None);
    }

    fn app_packet(&mut self, pkt: &Packet<'_>, app: &Arc<AndroidApp>) {
        self.forward(pkt, Some(app));
    }
}

impl InlineSink {
    fn forward(&mut self, pkt: &Packet<'_>, app: Option<&Arc<AndroidApp>>) {
        let mut d = lock(&self.driver);
        d.app_packet(pkt, app);
        self.since_seen += 1;
        // The clock (an Instant::now) every few hundred packets, and on silence (pause).
        if self.since_seen >= 256 {
            self.since_seen = 0;
            d.seen(pkt.ts);
            self.last_ts = None;
        } else {
            self.last_ts = Some(pkt.ts);
        }
    }
}

/// Locks the driver or the outputs; a panic elsewhere while holding the lock leaves
/// consistent-enough counters, and the flows seen so far are still worth writing.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Loads the rules and MaxMind databases before anything is opened, so that a bad rule file
/// fails the start, naming file and line.
fn load_rules(opts: &LiveOptions) -> anyhow::Result<Ruleset> {
    Ruleset::load(&opts.rules_dirs, true).map_err(|e| anyhow!("{e}"))
}

/// Runs a capture until SIGINT or SIGTERM (or a capture error), then writes every open flow.
/// `ready` is called once capture has started (the interface open, privileges dropped, signals
/// installed).
pub fn run(opts: &LiveOptions, ready: impl FnOnce(&str, LinkType)) -> anyhow::Result<LiveOutcome> {
    let started = Instant::now();
    let rules = load_rules(opts)?;
    let geo = Geo::open(opts.asn_db.as_deref(), opts.country_db.as_deref())
        .map_err(|e| anyhow!("{e}"))?;
    let source = Source::open(opts)?;
    let linktype = source.linktype();
    let iface = source.interface().to_owned();
    // Files outside the output directory are opened while still privileged. A PCAPdroid
    // stream's link type (raw IP, or Ethernet with the trailer) is known only at its first
    // packet: its file is opened now and its header written then, with that packet's link type.
    let (pcap_out, pcap_file) = match (&opts.write_pcap, &opts.udp) {
        (Some((p, keep)), None) => {
            (Some(PcapOut::create(p, linktype, *keep).map_err(|e| anyhow!(e))?), None)
        }
        (Some((p, _)), Some(_)) => (None, Some(PcapOut::open(p).map_err(|e| anyhow!(e))?)),
        (None, _) => (None, None),
    };
    let user = privs::target_user(opts.user.as_deref())?;
    privs::prepare_dir(&opts.out, user.as_ref())?;
    // The pcap file was created as root: it goes to the invoking user under sudo too.
    if let (Some(p), Some(u)) = (&opts.write_pcap, &user)
        && crate::output::owner::sudo_owner().is_some_and(|(uid, _)| uid == u.uid.as_raw())
    {
        crate::output::owner::give_to_sudo_user([p.0.as_path()]);
    }
    // Every capability goes now, root or setcap: nothing after this needs one.
    let dropped = privs::drop_capabilities(user.as_ref())?;
    tracing::info!(
        user = user.as_ref().map_or("(unchanged)", |u| u.name.as_str()),
        bounding_set_emptied = dropped.bounding,
        "dropped privileges: no capability left"
    );
    let now = wall_now();
    // After the switch, a directory under /root is out of reach: say who tried.
    let who = user.as_ref().map(|u| format!(" as user {}", u.name)).unwrap_or_default();
    let outputs = LiveOutputs::open(&opts.out, &opts.output, now)
        .with_context(|| format!("cannot open the outputs{who}"))?;
    let outputs = Arc::new(Mutex::new(outputs));
    let stats_path = opts.out.join("stats.jsonl");
    let stats_out = JsonlWriter::open_live(&stats_path, &opts.output, now)
        .with_context(|| format!("{}: cannot open{who}", stats_path.display()))?;
    // The exposure map (devices, sessions, activities) runs live too; device and exposure
    // summaries are written when the capture stops.
    let outs = Outputs {
        classify: opts.classify,
        exposure: &opts.exposure,
        sqlite: opts.sqlite.as_deref(),
        csv: opts.csv.as_deref(),
        parquet: opts.parquet.as_deref(),
        anonymize: opts.anonymize.as_ref(),
        write_pcap: None, // opened above, while privileged
    };
    let files: Box<dyn RecordSink> = Box::new(LiveJsonlSink(Arc::clone(&outputs)));
    let mut asm = Assembly::new(opts.flow.clone(), rules, geo, Some(files), &outs)
        .with_context(|| format!("cannot open the outputs{who}"))?;
    if let (Some(out), Some((path, keep))) = (pcap_out, &opts.write_pcap) {
        asm.attach_pcap(out, path, *keep);
    }
    if let (Some(file), Some((path, keep))) = (pcap_file, &opts.write_pcap) {
        asm.attach_pcap_file(file, path, *keep);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let driver = Arc::new(Mutex::new(Driver {
        iface: iface.clone(),
        asm,
        outputs: Arc::clone(&outputs),
        stats_out,
        rules_dirs: opts.rules_dirs.clone(),
        last: None,
        errors: Vec::new(),
        count: opts.count,
        stop: Arc::clone(&stop),
        view: opts.live_view.then(|| format!("leakscope capture on {iface} — Ctrl-C stops")),
        caps: Arc::clone(&opts.exposure.caps),
    }));
    let shared_stats = source.shared_stats();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let outcome = rt.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (tx, mut rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
        let (pool_tx, pool_rx) = std::sync::mpsc::channel::<Batch>();
        let thread_stop = Arc::clone(&stop);
        let handoff = if opts.udp.is_some() { Handoff::Inline } else { opts.handoff };
        let inline_driver = Arc::clone(&driver);
        let capture =
            std::thread::Builder::new().name(format!("capture {iface}")).spawn(move || {
                match handoff {
                    Handoff::Batch => {
                        let mut sender = BatchSender {
                            cur: Batch::new(linktype),
                            tx,
                            pool: pool_rx,
                            stop: Arc::clone(&thread_stop),
                        };
                        let res = source.run(&mut sender, &thread_stop, BatchSender::flush);
                        sender.flush();
                        res
                    }
                    Handoff::Inline => {
                        let mut sink = InlineSink {
                            driver: inline_driver,
                            last_ts: None,
                            since_seen: 0,
                            _done: tx,
                        };
                        let res = source.run(&mut sink, &thread_stop, InlineSink::pause);
                        sink.pause();
                        res
                    }
                }
            })?;
        ready(&iface, linktype);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stats_tick = tokio::time::interval_at(
            tokio::time::Instant::now() + opts.stats_interval,
            opts.stats_interval.max(Duration::from_millis(100)),
        );
        stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // `--duration`: a far deadline when not set; fires once.
        let deadline = tokio::time::sleep(opts.duration.unwrap_or(Duration::from_secs(1 << 40)));
        tokio::pin!(deadline);
        let mut timed_out = false;
        loop {
            tokio::select! {
                b = rx.recv() => match b {
                    Some(b) => {
                        lock(&driver).batch(&b);
                        let _ = pool_tx.send(b);
                    }
                    // The capture thread ended (stop requested, or an error) and every batch
                    // it sent has been processed.
                    None => break,
                },
                _ = tick.tick() => lock(&driver).tick(),
                _ = stats_tick.tick() => lock(&driver).stats(shared_stats.get()),
                _ = hup.recv() => lock(&driver).hangup(),
                _ = term.recv() => stop.store(true, Ordering::Relaxed),
                _ = int.recv() => stop.store(true, Ordering::Relaxed),
                _ = &mut deadline, if !timed_out => {
                    timed_out = true;
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        let res =
            capture.join().map_err(|_| anyhow!("interface {iface}: capture thread panicked"))?;
        anyhow::Ok(res)
    })?;
    // Whatever went wrong with the capture, the flows seen so far are written.
    let fin = match &outcome {
        Ok(s) => *s,
        Err(_) => shared_stats.get(),
    };
    let driver = match Arc::try_unwrap(driver) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => {
            return Err(anyhow!("interface {iface}: capture thread still holds the pipeline"));
        }
    };
    let Driver { asm, mut stats_out, mut errors, caps, .. } = driver;
    // The one shutdown order (see `Assembly::finish`); a pcap write error is reported, after
    // the flow outputs are closed all the same.
    let fin_asm = asm.finish();
    if let Some(e) = fin_asm.pcap_error {
        tracing::error!("{e}");
        errors.push(e.to_string());
    }
    let pcap = fin_asm.pcap;
    let run = fin_asm.run.map_err(|e| anyhow!(e))?;
    let bytes_written = lock(&outputs).bytes();
    let last = StatsEvent {
        ts: crate::record::flow::secs_us(wall_now().nanos()),
        event: "stats",
        interface: &iface,
        capture: fin,
        flows_active: 0,
        records: run.records,
        meta_records: run.meta_records,
        bytes_written,
        pipeline: run.packets,
        write_pcap: pcap,
        exposure_caps: caps.count(),
        r#final: true,
    };
    write_stats(&mut stats_out, &last);
    stats_out.finish().map_err(|e| anyhow!(e))?;
    let capture = outcome?;
    if !errors.is_empty() {
        return Err(anyhow!(errors.swap_remove(0)));
    }
    Ok(LiveOutcome { capture, run, bytes_written, pcap, elapsed: started.elapsed() })
}
