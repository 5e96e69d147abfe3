//! Replay: expand the inputs, read each capture into one [`Pipeline`], report per-file faults
//! without stopping, and summarise.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::assembly::{Assembly, Outputs};
use crate::capture::file::read_input;
use crate::capture::filter::Filter;
use crate::capture::pcapdroid::AndroidApp;
use crate::capture::{Packet, PacketSink, paths};
use crate::classify::{Geo, Ruleset};
use crate::exposure::local::LocalNets;
use crate::flow::FlowConfig;
use crate::output::JsonlSink;
use crate::output::pcap::{PcapKeep, PcapOutStats};
use crate::parallel::Parallel;
use crate::pipeline::{PacketStats, Pipeline, PipelineConfig, RunStats};
use crate::record::RecordSink;
use crate::record::sink::SinkError;

/// What to replay and where to write.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Files and directories.
    pub inputs: Vec<PathBuf>,
    /// BPF filter expression.
    pub filter: Option<String>,
    /// Output directory; `-` for stdout; `None` to write nothing (benchmarks).
    pub out: Option<PathBuf>,
    /// Flow table settings.
    pub flow: FlowConfig,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Run dissectors and classification (off: flow tracking alone).
    pub classify: bool,
    /// Extra rule directories, layered over the built-in rules.
    pub rules_dirs: Vec<PathBuf>,
    /// ASN database (.mmdb); default places are searched when `None`.
    pub asn_db: Option<PathBuf>,
    /// Country database (.mmdb); default places are searched when `None`.
    pub country_db: Option<PathBuf>,
    /// Exposure map settings (local ranges, heuristics); used when writing to a directory with
    /// classification on.
    pub exposure: crate::exposure::ExposureConfig,
    /// Also write a SQLite database (with an output directory and classification on).
    pub sqlite: Option<PathBuf>,
    /// Also write the flow records as CSV (`--csv`).
    pub csv: Option<PathBuf>,
    /// Also write Parquet datasets under this directory (`--parquet`).
    pub parquet: Option<PathBuf>,
    /// Replace device identifiers with keyed pseudonyms in every output.
    pub anonymize: Option<crate::anonymize::AnonymizeConfig>,
    /// Also save packets to this pcap file (`--write-pcap`), with the link type of the first.
    pub write_pcap: Option<(PathBuf, PcapKeep)>,
    /// Stop after this many packets (`-c`) or this much packet time (`--duration`).
    pub limit: crate::capture::limit::Limit,
    /// Worker threads (`--threads`): 1 runs the one pipeline on the reading thread; more run
    /// [`crate::parallel`], with the same output. `--write-pcap` needs each packet's verdict
    /// at once, so it keeps one pipeline.
    pub threads: usize,
    /// With several threads: packets a worker thread may have waiting before new devices go
    /// to the reading thread's worker instead ([`crate::parallel::BACKLOG`] by default). Which
    /// worker gets a device never changes the output; tests set it low to give the reading
    /// thread devices on small captures.
    pub thread_backlog: Option<u64>,
}

impl ReplayOptions {
    /// Options for `inputs` with defaults: no filter, classification on, built-in rules.
    pub fn new(inputs: Vec<PathBuf>, out: Option<PathBuf>) -> Self {
        ReplayOptions {
            inputs,
            filter: None,
            out,
            flow: FlowConfig::default(),
            progress: false,
            classify: true,
            rules_dirs: Vec::new(),
            asn_db: None,
            country_db: None,
            exposure: crate::exposure::ExposureConfig::default(),
            sqlite: None,
            csv: None,
            parquet: None,
            anonymize: None,
            write_pcap: None,
            limit: Default::default(),
            threads: 1,
            thread_backlog: None,
        }
    }

    /// The output options of [`crate::assembly`].
    pub fn outputs(&self) -> Outputs<'_> {
        Outputs {
            classify: self.classify,
            exposure: &self.exposure,
            sqlite: self.sqlite.as_deref(),
            csv: self.csv.as_deref(),
            parquet: self.parquet.as_deref(),
            anonymize: self.anonymize.as_ref(),
            write_pcap: self.write_pcap.as_ref().map(|(p, k)| (p.as_path(), *k)),
        }
    }

    /// The pipeline and outputs these options describe: loads rules and databases, opens the
    /// output files.
    pub fn assemble(&self) -> anyhow::Result<Assembly> {
        let (rules, geo, files) = (self.rules()?, self.geo()?, self.files()?);
        Assembly::new(self.flow.clone(), rules, geo, files, &self.outputs())
    }

    fn geo(&self) -> anyhow::Result<Geo> {
        Ok(Geo::open(self.asn_db.as_deref(), self.country_db.as_deref())?)
    }

    /// The writer of the output directory, if there is one.
    fn files(&self) -> anyhow::Result<Option<Box<dyn RecordSink>>> {
        let Some(dir) = &self.out else { return Ok(None) };
        let sink = JsonlSink::create(dir)
            .with_context(|| format!("cannot write output to {}", dir.display()))?;
        Ok(Some(Box::new(sink)))
    }

    fn rules(&self) -> anyhow::Result<Ruleset> {
        if self.rules_dirs.is_empty() {
            Ok(Ruleset::builtin())
        } else {
            Ruleset::load(&self.rules_dirs, true).map_err(|e| anyhow::anyhow!("{e}"))
        }
    }

    /// The engine these options ask for: one pipeline, or [`Parallel`] workers in front of the
    /// same sink chain.
    fn engine(&self) -> anyhow::Result<Engine> {
        if self.threads <= 1 || self.write_pcap.is_some() {
            return Ok(Engine::One(self.assemble()?));
        }
        let most = crate::parallel::MAX_WORKERS;
        anyhow::ensure!(self.threads <= most, "at most {most} threads, not {}", self.threads);
        let (rules, geo, files) = (self.rules()?, self.geo()?, self.files()?);
        let o = self.outputs();
        let sink = crate::assembly::sink_chain(files, &o, &rules, &geo, &self.flow)?;
        let local = LocalNets::new(self.exposure.local_nets.clone());
        let mut pipelines = Vec::with_capacity(self.threads);
        pipelines.push(rules);
        for _ in 1..self.threads {
            pipelines.push(self.rules()?);
        }
        let pipelines = pipelines
            .into_iter()
            .map(|rules| {
                let sink: Box<dyn RecordSink> = Box::new(crate::record::NullSink);
                let (flow, classify, geo) = (self.flow.clone(), self.classify, geo.clone());
                let mut p = Pipeline::new(PipelineConfig { flow, sink, classify, rules, geo });
                p.set_local_nets(local.clone());
                p
            })
            .collect();
        let collect = self.out.is_some();
        let backlog = self.thread_backlog.unwrap_or(crate::parallel::BACKLOG);
        Ok(Engine::Many(Parallel::new(pipelines, local, sink, collect, backlog)))
    }
}

/// One pipeline, or several behind one merge. One value per replay: the single-threaded path's
/// per-packet call stays direct, no box in between.
#[allow(clippy::large_enum_variant)]
enum Engine {
    One(Assembly),
    Many(Parallel),
}

impl Engine {
    fn begin_source(&mut self, name: &str) {
        match self {
            Engine::One(a) => a.pipeline().begin_source(name),
            Engine::Many(p) => p.begin_source(name),
        }
    }

    fn finish(self) -> Result<(RunStats, Option<PcapOutStats>), SinkError> {
        match self {
            Engine::One(a) => a.finish().into_result(),
            Engine::Many(p) => p.finish().map(|s| (s, None)),
        }
    }
}

/// What the progress line reads from an engine, besides the packets it takes.
trait Drive: PacketSink {
    /// Packets so far.
    fn packets(&mut self) -> u64;
    /// Packets and bytes so far, and live flows (one pipeline only).
    fn progress(&mut self) -> (PacketStats, Option<usize>);
}

impl Drive for Assembly {
    #[inline]
    fn packets(&mut self) -> u64 {
        self.pipeline().stats().packets
    }
    fn progress(&mut self) -> (PacketStats, Option<usize>) {
        (self.pipeline().stats(), Some(self.pipeline().live_flows()))
    }
}

impl Drive for Parallel {
    #[inline]
    fn packets(&mut self) -> u64 {
        self.stats().packets
    }
    fn progress(&mut self) -> (PacketStats, Option<usize>) {
        (self.stats(), None)
    }
}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// Pipeline counters.
    pub stats: RunStats,
    /// Capture files read.
    pub files: usize,
    /// One message per damaged or unreadable input.
    pub faults: Vec<String>,
    /// One note per directory entry not read (a link loop, a second name of a file already
    /// read, a FIFO or device): printed, but not a fault.
    pub skipped: Vec<String>,
    /// What `--write-pcap` did, when asked for.
    pub pcap: Option<PcapOutStats>,
    /// Wall time.
    pub elapsed: Duration,
    /// The signal that stopped the replay before the end of its input ([`request_stop`]).
    pub interrupted: Option<i32>,
    /// What the exposure map wrote early to stay bounded.
    pub exposure_caps: crate::exposure::CapsCount,
}

/// The signal that asked running replays to stop; 0 while none did.
static STOP: AtomicI32 = AtomicI32::new(0);

/// Asks every running replay to stop after the packet it is reading, as if its input ended
/// there: open flows are written, every output is closed (Parquet files get their footers), and
/// the outcome names `signal`. Safe to call from any thread.
pub fn request_stop(signal: i32) {
    STOP.store(signal, Ordering::Relaxed);
}

/// The signal that asked replays to stop, if one did.
fn stop_requested() -> Option<i32> {
    match STOP.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// Forwards packets to the pipeline and ticks the progress bar now and then.
struct Progress<'a, E> {
    inner: &'a mut E,
    bar: &'a ProgressBar,
    started: Instant,
    limit: &'a mut crate::capture::limit::Limit,
}

const PROGRESS_EVERY: u64 = 1 << 16;

impl<E: Drive> PacketSink for Progress<'_, E> {
    fn packet(&mut self, pkt: &Packet<'_>) {
        if !self.limit.admit(pkt.ts) {
            return;
        }
        self.inner.packet(pkt);
        self.progress();
    }

    fn app_packet(&mut self, pkt: &Packet<'_>, app: &Arc<AndroidApp>) {
        if !self.limit.admit(pkt.ts) {
            return;
        }
        self.inner.app_packet(pkt, app);
        self.progress();
    }

    fn lent_packet(&mut self, pkt: &Packet<'_>, buffer: &crate::capture::Lent) {
        if !self.limit.admit(pkt.ts) {
            return;
        }
        self.inner.lent_packet(pkt, buffer);
        self.progress();
    }

    fn done(&self) -> bool {
        self.limit.reached() || stop_requested().is_some()
    }

    fn threaded(&self) -> bool {
        self.inner.threaded()
    }
}

impl<E: Drive> Progress<'_, E> {
    /// Ticks the progress bar every [`PROGRESS_EVERY`] packets.
    #[inline]
    fn progress(&mut self) {
        if self.inner.packets().is_multiple_of(PROGRESS_EVERY) {
            let (s, live) = self.inner.progress();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            let live = live.map_or_else(String::new, |n| format!(", {n} live flows"));
            self.bar.set_message(format!(
                "{} packets, {:.1} MB, {:.0} packets/s{live}",
                s.packets,
                s.bytes as f64 / 1e6,
                s.packets as f64 / secs,
            ));
        }
    }
}

/// Replays `opts.inputs` through one pipeline.
pub fn replay(opts: &ReplayOptions) -> anyhow::Result<ReplayOutcome> {
    let paths::Expanded { files, skipped } =
        paths::expand(&opts.inputs).map_err(|(p, e)| anyhow::anyhow!("{}: {e}", p.display()))?;
    for note in &skipped {
        crate::term::say(&format!("leakscope: {note}"));
    }
    let mut filter = match &opts.filter {
        Some(expr) => Some(Filter::new(expr).map_err(|e| anyhow::anyhow!("filter {expr:?}: {e}"))?),
        None => None,
    };
    let mut assembly = opts.engine()?;
    if let Engine::Many(p) = &mut assembly {
        // Every input's size known: the workers' queues run down as the input does.
        let sizes: Option<u64> = files.iter().map(crate::capture::file::plain_size).sum();
        if let Some(bytes) = sizes {
            p.expect_input(bytes);
        }
    }
    let bar = if opts.progress {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len} files] {msg}").expect("template"),
    );
    bar.set_length(files.len() as u64);
    let started = Instant::now();
    let mut faults = Vec::new();
    let mut limit = opts.limit;
    let mut read = 0;
    for input in &files {
        if limit.reached() || stop_requested().is_some() {
            break;
        }
        read += 1;
        let path = &input.path;
        let _span = tracing::info_span!("file", path = %path.display()).entered();
        assembly.begin_source(&path.to_string_lossy());
        // One `read_input` per engine: the per-packet path has no branch on the engine.
        let (summary, err) = match &mut assembly {
            Engine::One(a) => {
                let mut sink = Progress { inner: a, bar: &bar, started, limit: &mut limit };
                read_input(input, filter.as_mut(), &mut sink)
            }
            Engine::Many(p) => {
                let mut sink = Progress { inner: p, bar: &bar, started, limit: &mut limit };
                read_input(input, filter.as_mut(), &mut sink)
            }
        };
        tracing::info!(packets = summary.packets, delivered = summary.delivered, "file done");
        if summary.unsupported > 0 {
            let types: Vec<String> =
                summary.unsupported_linktypes.iter().map(ToString::to_string).collect();
            let msg = format!(
                "{}: {} packets skipped: unsupported link type {}",
                path.display(),
                summary.unsupported,
                types.join(", ")
            );
            bar.suspend(|| crate::term::say(&format!("leakscope: {msg}")));
            faults.push(msg);
        }
        if let Some(e) = err {
            bar.suspend(|| crate::term::say(&format!("leakscope: {e}")));
            faults.push(e.to_string());
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Every output is closed, in the one shutdown order; every failed output is reported (one a
    // line).
    let (stats, pcap) = assembly.finish().map_err(|e| anyhow::anyhow!(e))?;
    let (elapsed, interrupted) = (started.elapsed(), stop_requested());
    let exposure_caps = opts.exposure.caps.count();
    Ok(ReplayOutcome {
        stats,
        files: read,
        faults,
        skipped,
        pcap,
        elapsed,
        interrupted,
        exposure_caps,
    })
}
