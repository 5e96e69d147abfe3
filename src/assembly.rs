//! One assembly of the pipeline and its outputs, used by `replay` and `capture` alike: the sink
//! chain (exposure map → anonymisation → JSONL + SQLite + Parquet), the `--write-pcap` file
//! beside the pipeline, and one shutdown order. Replay and live differ only in where packets come
//! from and in the JSONL writer they hand in (plain files, or rotating live files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::anonymize::{AnonymizeConfig, AnonymizeSink};
use crate::capture::pcapdroid::AndroidApp;
use crate::capture::{LinkType, Packet, PacketSink, Timestamp};
use crate::classify::{Geo, Ruleset};
use crate::exposure::ExposureConfig;
use crate::flow::FlowConfig;
use crate::output::parquet::ParquetSink;
use crate::output::pcap::{PcapKeep, PcapOut, PcapOutStats};
use crate::output::sqlite::SqliteSink;
use crate::output::{Fanout, OutputError};
use crate::pipeline::{Pipeline, PipelineConfig, RunStats};
use crate::record::sink::all_of;
use crate::record::{NullSink, RecordSink, SinkError};

/// The output options `replay` and `capture` share.
#[derive(Clone, Copy, Debug)]
pub struct Outputs<'a> {
    /// Run dissectors, classification and the exposure map (off: flow tracking alone).
    pub classify: bool,
    /// Exposure map settings; the assembly fills in geo, endpoint names and settle time.
    pub exposure: &'a ExposureConfig,
    /// Also write a SQLite database.
    pub sqlite: Option<&'a Path>,
    /// Also write the flow records as CSV.
    pub csv: Option<&'a Path>,
    /// Also write Parquet datasets under this directory.
    pub parquet: Option<&'a Path>,
    /// Replace device identifiers with keyed pseudonyms in every output.
    pub anonymize: Option<&'a AnonymizeConfig>,
    /// Also save packets to this pcap file.
    pub write_pcap: Option<(&'a Path, PcapKeep)>,
}

/// The sink chain over `files` (the writer of the output directory; `None` writes nothing):
/// exposure map (derives devices, sessions, exposures from what passes) → anonymisation (so what
/// the map derives is anonymised like every other record) → `files` and the SQLite database.
pub fn sink_chain(
    files: Option<Box<dyn RecordSink>>,
    o: &Outputs<'_>,
    rules: &Ruleset,
    geo: &Geo,
    flow: &FlowConfig,
) -> anyhow::Result<Box<dyn RecordSink>> {
    let Some(files) = files else { return Ok(Box::new(NullSink)) };
    let mut outputs: Vec<Box<dyn RecordSink>> = vec![files];
    if let Some(db) = o.sqlite {
        let sqlite =
            SqliteSink::create(db).map_err(|e| anyhow::anyhow!("cannot write database: {e}"))?;
        outputs.push(Box::new(sqlite));
    }
    if let Some(path) = o.csv {
        let csv = crate::output::csv::CsvSink::create(path)
            .map_err(|e| anyhow::anyhow!("cannot write CSV: {e}"))?;
        outputs.push(Box::new(csv));
    }
    if let Some(dir) = o.parquet {
        let parquet =
            ParquetSink::create(dir).map_err(|e| anyhow::anyhow!("cannot write Parquet: {e}"))?;
        outputs.push(Box::new(parquet));
    }
    let files = Fanout(outputs);
    let outputs: Box<dyn RecordSink> = match o.anonymize {
        Some(a) => Box::new(AnonymizeSink::new(a, files)),
        None => Box::new(files),
    };
    if !o.classify {
        return Ok(outputs);
    }
    let mut cfg = o.exposure.clone();
    cfg.geo = geo.clone();
    cfg.known_endpoints = crate::exposure::endpoint_names(rules);
    cfg.settle_secs = (flow.active_timeout + flow.tcp_idle) as f64 / 1e9;
    Ok(Box::new(cfg.build(outputs)))
}

impl PacketSink for Assembly {
    /// One packet: the pipeline, then the pcap file (which needs the packet's verdict).
    #[inline]
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.pipeline.packet(pkt);
        self.save(pkt);
    }

    /// A packet whose Android app the source named (PCAPdroid's pcapng output).
    fn app_packet(&mut self, pkt: &Packet<'_>, app: &Arc<AndroidApp>) {
        self.pipeline.app_packet(pkt, app);
        self.save(pkt);
    }
}

/// The `--write-pcap` file: opened with a known link type (live, before privileges go) or at
/// the first packet, taking its link type (replay).
struct PcapTarget {
    path: PathBuf,
    keep: PcapKeep,
    /// The file opened beforehand, its header written at the first packet (PCAPdroid's stream).
    file: Option<std::fs::File>,
    out: Option<PcapOut>,
    error: Option<OutputError>,
}

impl PcapTarget {
    /// The writer for frames of `linktype`, in the file opened beforehand if there is one.
    fn open(&mut self, linktype: LinkType) -> Result<PcapOut, OutputError> {
        match self.file.take() {
            Some(f) => PcapOut::with_file(f, &self.path, linktype, self.keep),
            None => PcapOut::create(&self.path, linktype, self.keep),
        }
    }
}

/// The pipeline with its outputs.
pub struct Assembly {
    pipeline: Pipeline,
    pcap: Option<PcapTarget>,
}

/// What shutting down gave: the pipeline's counters (or every output's error, one a line) and
/// what `--write-pcap` did.
pub struct Finished {
    /// Pipeline counters, or the output errors.
    pub run: Result<RunStats, SinkError>,
    /// `--write-pcap`'s counters, when it was asked for and the file could be opened.
    pub pcap: Option<PcapOutStats>,
    /// `--write-pcap`'s error (opening, writing or closing the file).
    pub pcap_error: Option<OutputError>,
}

impl Finished {
    /// Both results in one: the counters, or every error (one a line).
    pub fn into_result(self) -> Result<(RunStats, Option<PcapOutStats>), SinkError> {
        let pcap = match self.pcap_error {
            Some(e) => Err(e),
            None => Ok(self.pcap),
        };
        match (self.run, pcap) {
            (Ok(stats), Ok(pcap)) => Ok((stats, pcap)),
            (a, b) => Err(all_of([a.map(drop), b.map(drop).map_err(SinkError::from)])
                .expect_err("one failed")),
        }
    }
}

impl Assembly {
    /// The pipeline over the sink chain of `files` (see [`sink_chain`]).
    pub fn new(
        flow: FlowConfig,
        rules: Ruleset,
        geo: Geo,
        files: Option<Box<dyn RecordSink>>,
        o: &Outputs<'_>,
    ) -> anyhow::Result<Assembly> {
        let sink = sink_chain(files, o, &rules, &geo, &flow)?;
        let mut pipeline =
            Pipeline::new(PipelineConfig { flow, sink, classify: o.classify, rules, geo });
        pipeline
            .set_local_nets(crate::exposure::local::LocalNets::new(o.exposure.local_nets.clone()));
        let pcap = o.write_pcap.map(|(path, keep)| {
            if keep == PcapKeep::Meta {
                pipeline.track_verdicts();
            }
            PcapTarget { path: path.to_path_buf(), keep, file: None, out: None, error: None }
        });
        Ok(Assembly { pipeline, pcap })
    }

    /// Adds a `--write-pcap` file opened beforehand (live capture opens it while still
    /// privileged, knowing the link type).
    pub fn attach_pcap(&mut self, out: PcapOut, path: &Path, keep: PcapKeep) {
        if out.needs_verdicts() {
            self.pipeline.track_verdicts();
        }
        let path = path.to_path_buf();
        self.pcap = Some(PcapTarget { path, keep, file: None, out: Some(out), error: None });
    }

    /// Adds a `--write-pcap` file opened beforehand ([`PcapOut::open`]) whose link type is
    /// that of the first packet (PCAPdroid's stream: raw IP, or Ethernet with the trailer).
    pub fn attach_pcap_file(&mut self, file: std::fs::File, path: &Path, keep: PcapKeep) {
        if keep == PcapKeep::Meta {
            self.pipeline.track_verdicts();
        }
        let path = path.to_path_buf();
        self.pcap = Some(PcapTarget { path, keep, file: Some(file), out: None, error: None });
    }

    /// The packet into the `--write-pcap` file, as the pipeline received it.
    #[inline]
    fn save(&mut self, pkt: &Packet<'_>) {
        if let Some(t) = self.pcap.as_mut() {
            if t.out.is_none() && t.error.is_none() {
                match t.open(pkt.linktype) {
                    Ok(o) => t.out = Some(o),
                    Err(e) => t.error = Some(e),
                }
            }
            if let Some(o) = t.out.as_mut() {
                o.packet(pkt, self.pipeline.verdicts());
            }
        }
    }

    /// The packet clock moved without packets (live capture's silent link).
    pub fn tick(&mut self, now: Timestamp) {
        self.pipeline.tick(now);
        if let Some(o) = self.pcap.as_mut().and_then(|t| t.out.as_mut()) {
            o.tick(now, self.pipeline.verdicts());
        }
    }

    /// The pipeline (counters, rules, reopening outputs).
    pub fn pipeline(&mut self) -> &mut Pipeline {
        &mut self.pipeline
    }

    /// `--write-pcap`'s counters so far.
    pub fn pcap_stats(&self) -> Option<PcapOutStats> {
        self.pcap.as_ref().and_then(|t| t.out.as_ref()).map(PcapOut::stats)
    }

    /// Flushes the pcap file (live stats interval).
    pub fn flush_pcap(&mut self) -> Result<(), OutputError> {
        match self.pcap.as_mut().and_then(|t| t.out.as_mut()) {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }

    /// The one shutdown order: every open flow is written first, so that the packets held for
    /// a verdict get one; then the pcap file is closed; then the sink chain (exposure map
    /// summaries, then the files). The flow outputs are closed whatever happened to the pcap.
    pub fn finish(mut self) -> Finished {
        self.pipeline.flush_flows();
        let (pcap, pcap_error) = match self.pcap {
            None => (None, None),
            Some(PcapTarget { error: Some(e), .. }) => (None, Some(e)),
            Some(PcapTarget { out: Some(mut o), .. }) => {
                let r = o.finish(self.pipeline.verdicts());
                (Some(o.stats()), r.err())
            }
            // No packet at all: an empty file with the most common link type.
            Some(mut t) => match t.open(LinkType::ETHERNET).and_then(|mut o| o.finish(None)) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            },
        };
        Finished { run: self.pipeline.finish(), pcap, pcap_error }
    }
}
