//! Replay: expand the inputs, read each capture into one [`Pipeline`], report per-file faults
//! without stopping, and summarise.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::capture::file::read_input;
use crate::capture::filter::Filter;
use crate::capture::{Packet, PacketSink, paths};
use crate::classify::{Geo, Ruleset};
use crate::flow::FlowConfig;
use crate::output::pcap::{PcapKeep, PcapOut, PcapOutStats};
use crate::output::sink::all_of;
use crate::output::{JsonlSink, NullSink, RecordSink};
use crate::pipeline::{Pipeline, PipelineConfig, RunStats};

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
    /// Replace device identifiers with keyed pseudonyms in every output.
    pub anonymize: Option<crate::anonymize::AnonymizeConfig>,
    /// Also save packets to this pcap file (`--write-pcap`), with the link type of the first.
    pub write_pcap: Option<(PathBuf, PcapKeep)>,
    /// Stop after this many packets (`-c`) or this much packet time (`--duration`).
    pub limit: crate::capture::limit::Limit,
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
            anonymize: None,
            write_pcap: None,
            limit: Default::default(),
        }
    }

    /// The pipeline these options describe: loads rules and databases.
    pub fn pipeline_config(&self) -> anyhow::Result<PipelineConfig> {
        let rules = if self.rules_dirs.is_empty() {
            Ruleset::builtin()
        } else {
            Ruleset::load(&self.rules_dirs, true).map_err(|e| anyhow::anyhow!("{e}"))?
        };
        let geo = Geo::open(self.asn_db.as_deref(), self.country_db.as_deref())?;
        let sink: Box<dyn RecordSink> = match &self.out {
            None => Box::new(NullSink),
            Some(dir) => {
                let jsonl = JsonlSink::create(dir)
                    .with_context(|| format!("cannot write output to {}", dir.display()))?;
                let mut outputs: Vec<Box<dyn RecordSink>> = vec![Box::new(jsonl)];
                if let Some(db) = &self.sqlite {
                    let sqlite = crate::output::sqlite::SqliteSink::create(db)
                        .map_err(|e| anyhow::anyhow!("cannot write database: {e}"))?;
                    outputs.push(Box::new(sqlite));
                }
                if let Some(path) = &self.csv {
                    let csv = crate::output::csv::CsvSink::create(path)
                        .map_err(|e| anyhow::anyhow!("cannot write CSV: {e}"))?;
                    outputs.push(Box::new(csv));
                }
                // Pseudonyms are applied after the exposure map, so that what it derives
                // (devices, sessions, exposures) is anonymised like every other record.
                let files = crate::output::Fanout(outputs);
                let outputs: Box<dyn RecordSink> = match &self.anonymize {
                    Some(a) => Box::new(crate::anonymize::AnonymizeSink::new(a, files)),
                    None => Box::new(files),
                };
                if self.classify {
                    let mut cfg = self.exposure.clone();
                    cfg.geo = geo.clone();
                    cfg.known_endpoints = crate::exposure::endpoint_names(&rules);
                    cfg.settle_secs = (self.flow.active_timeout + self.flow.tcp_idle) as f64 / 1e9;
                    Box::new(cfg.build(outputs))
                } else {
                    outputs
                }
            }
        };
        Ok(PipelineConfig { flow: self.flow.clone(), sink, classify: self.classify, rules, geo })
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
}

/// The `--write-pcap` file, created at the first packet (whose link type it takes).
struct PcapTarget {
    path: PathBuf,
    keep: PcapKeep,
    out: Option<PcapOut>,
    error: Option<String>,
}

impl PcapTarget {
    fn packet(&mut self, pkt: &Packet<'_>, pipeline: &mut Pipeline) {
        if self.out.is_none() && self.error.is_none() {
            match PcapOut::create(&self.path, pkt.linktype, self.keep) {
                Ok(o) => self.out = Some(o),
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(o) = self.out.as_mut() {
            o.packet(pkt, pipeline.verdicts());
        }
    }
}

/// Forwards packets to the pipeline and ticks the progress bar now and then.
struct Progress<'a> {
    inner: &'a mut Pipeline,
    pcap: Option<&'a mut PcapTarget>,
    bar: &'a ProgressBar,
    started: Instant,
    limit: &'a mut crate::capture::limit::Limit,
}

const PROGRESS_EVERY: u64 = 1 << 16;

impl PacketSink for Progress<'_> {
    fn packet(&mut self, pkt: &Packet<'_>) {
        if !self.limit.admit(pkt.ts) {
            return;
        }
        self.inner.packet(pkt);
        if let Some(p) = self.pcap.as_mut() {
            p.packet(pkt, self.inner);
        }
        let n = self.inner.stats().packets;
        if n.is_multiple_of(PROGRESS_EVERY) {
            let s = self.inner.stats();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            self.bar.set_message(format!(
                "{} packets, {:.1} MB, {:.0} packets/s, {} live flows",
                s.packets,
                s.bytes as f64 / 1e6,
                s.packets as f64 / secs,
                self.inner.live_flows()
            ));
        }
    }

    fn done(&self) -> bool {
        self.limit.reached()
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
    let mut pipeline = Pipeline::new(opts.pipeline_config()?);
    let mut pcap = opts.write_pcap.as_ref().map(|(path, keep)| {
        if *keep == PcapKeep::Meta {
            pipeline.track_verdicts();
        }
        PcapTarget { path: path.clone(), keep: *keep, out: None, error: None }
    });
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
        if limit.reached() {
            break;
        }
        read += 1;
        let path = &input.path;
        let _span = tracing::info_span!("file", path = %path.display()).entered();
        pipeline.begin_source(&path.to_string_lossy());
        let mut sink = Progress {
            inner: &mut pipeline,
            pcap: pcap.as_mut(),
            bar: &bar,
            started,
            limit: &mut limit,
        };
        let (summary, err) = read_input(input, filter.as_mut(), &mut sink);
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
    // Every open flow is written first, so that the packets held for a verdict get one.
    pipeline.flush_flows();
    let pcap = pcap.map(|t| match t {
        PcapTarget { error: Some(e), .. } => Err(e),
        PcapTarget { out: Some(mut o), .. } => o.finish(pipeline.verdicts()),
        // No packet at all: an empty file with the most common link type.
        PcapTarget { path, keep, .. } => {
            PcapOut::create(&path, crate::capture::LinkType::ETHERNET, keep)
                .and_then(|mut o| o.finish(None))
        }
    });
    // The flow outputs are closed whatever happened to the pcap file; every failed output is
    // reported (one a line).
    let (stats, pcap) = match (pipeline.finish(), pcap.transpose()) {
        (Ok(stats), Ok(pcap)) => (stats, pcap),
        (a, b) => {
            let e = all_of([a.map(drop), b.map(drop)]).expect_err("one failed");
            return Err(anyhow::anyhow!(e));
        }
    };
    Ok(ReplayOutcome { stats, files: read, faults, skipped, pcap, elapsed: started.elapsed() })
}
