//! The pipeline: decoded packets → flow table → (dissectors, classifier) → sinks. Live capture and
//! replay feed the same [`Pipeline`] through [`PacketSink`].

use std::path::Path;

use serde::Serialize;

use crate::capture::{Packet, PacketSink, Timestamp};
use crate::decode::{self, DecodeError};
use crate::flow::{EndReason, Flow, FlowConfig, FlowHandler, FlowTable, PacketCtx, TableStats};
use crate::output::JsonlWriter;

/// Per-flow state of the stages after the flow table.
#[derive(Debug, Default)]
pub struct FlowData {}

/// Packet-level counters.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PacketStats {
    /// Packets handed to the pipeline.
    pub packets: u64,
    /// Captured bytes handed to the pipeline.
    pub bytes: u64,
    /// Frames that carry no IP (ARP, LLDP, …): normal, not errors.
    pub not_ip: u64,
    /// Tunnelled packets decoded inside their tunnel.
    pub tunnelled: u64,
    /// Frames that could not be decoded, by reason.
    pub decode_errors: DecodeErrors,
}

/// Decode error tally by reason (see [`DecodeError::reason`]).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DecodeErrors {
    /// Frame shorter than its link-layer header.
    pub short_link_header: u64,
    /// Link type not supported.
    pub unsupported_link: u64,
    /// Unreadable IP header.
    pub bad_ip_header: u64,
    /// Tunnels nested too deep.
    pub tunnel_too_deep: u64,
}

impl DecodeErrors {
    /// Total of all reasons.
    pub fn total(&self) -> u64 {
        self.short_link_header + self.unsupported_link + self.bad_ip_header + self.tunnel_too_deep
    }
    fn count(&mut self, e: DecodeError) {
        match e {
            DecodeError::NotIp(_) => {}
            DecodeError::ShortLink => self.short_link_header += 1,
            DecodeError::UnsupportedLink => self.unsupported_link += 1,
            DecodeError::BadIp => self.bad_ip_header += 1,
            DecodeError::TooDeep => self.tunnel_too_deep += 1,
        }
    }
}

/// Tunnels followed inside one another at most.
const MAX_TUNNEL_DEPTH: usize = 2;

/// Receives what the flow table emits and writes it.
struct Sinks {
    flows: Option<JsonlWriter>,
    records: u64,
}

impl FlowHandler<FlowData> for Sinks {
    fn packet(&mut self, _flow: &mut Flow<FlowData>, _pkt: &PacketCtx<'_, '_>) {}

    fn end(&mut self, flow: &mut Flow<FlowData>, reason: EndReason) {
        self.records += 1;
        if let Some(w) = self.flows.as_mut() {
            w.write(&flow.record(reason));
        }
    }
}

/// The whole pipeline after the packet source.
pub struct Pipeline {
    table: FlowTable<FlowData>,
    sinks: Sinks,
    stats: PacketStats,
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize)]
pub struct RunStats {
    /// Packet counters.
    #[serde(flatten)]
    pub packets: PacketStats,
    /// Flow table counters.
    pub table: TableStats,
    /// Flow records written.
    pub records: u64,
}

impl Pipeline {
    /// A pipeline writing `flows.jsonl` into `out_dir` (`-`: stdout), or nothing when `None`.
    pub fn new(cfg: FlowConfig, out_dir: Option<&Path>) -> std::io::Result<Self> {
        let flows = match out_dir {
            None => None,
            Some(d) if d == Path::new("-") => Some(JsonlWriter::create(d)?),
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Some(JsonlWriter::create(&d.join("flows.jsonl"))?)
            }
        };
        Ok(Pipeline {
            table: FlowTable::new(cfg),
            sinks: Sinks { flows, records: 0 },
            stats: PacketStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> PacketStats {
        self.stats
    }

    /// Live flows.
    pub fn live_flows(&self) -> usize {
        self.table.len()
    }

    /// Expires idle flows up to `now` without a packet (live capture's wall-clock tick).
    pub fn tick(&mut self, now: Timestamp) {
        self.table.advance(now, &mut self.sinks);
    }

    /// Writes every open flow and closes the outputs; returns the counters, or the first
    /// output error.
    pub fn finish(mut self) -> Result<RunStats, String> {
        self.table.flush(&mut self.sinks);
        if let Some(w) = self.sinks.flows.as_mut() {
            w.finish()?;
        }
        Ok(RunStats { packets: self.stats, table: self.table.stats(), records: self.sinks.records })
    }

    /// Accounts a decoded packet, then the packet inside its tunnel, if any. `via` is the tunnel
    /// this packet came out of.
    fn decoded(
        &mut self,
        ts: Timestamp,
        d: &decode::Decoded<'_>,
        via: Option<decode::TunnelKind>,
        depth: usize,
    ) {
        // IP-in-IP outer packets are carriers only; VXLAN's outer UDP is a flow of its own.
        let outer_is_flow = !matches!(d.tunnel, Some(t) if t.kind == decode::TunnelKind::IpInIp);
        if outer_is_flow {
            self.table.packet(ts, d, via, &mut self.sinks);
        }
        let Some(t) = d.tunnel else { return };
        if depth >= MAX_TUNNEL_DEPTH {
            self.stats.decode_errors.count(DecodeError::TooDeep);
            return;
        }
        match decode::decode_inner(&t) {
            Ok(inner) => {
                self.stats.tunnelled += 1;
                self.decoded(ts, &inner, Some(t.kind), depth + 1);
            }
            Err(DecodeError::NotIp(_)) => self.stats.not_ip += 1,
            Err(e) => self.stats.decode_errors.count(e),
        }
    }
}

impl PacketSink for Pipeline {
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        match decode::decode(pkt) {
            Ok(d) => self.decoded(pkt.ts, &d, None, 0),
            Err(DecodeError::NotIp(_)) => {
                self.stats.not_ip += 1;
                self.table.advance(pkt.ts, &mut self.sinks);
            }
            Err(e) => self.stats.decode_errors.count(e),
        }
    }
}

/// Output control for long-running (live) use. Kept in its own block so that it merges cleanly
/// with changes to the stages above.
impl Pipeline {
    /// Replaces the `flows.jsonl` writer, e.g. with a rotating [`JsonlWriter::open_live`] one.
    pub fn with_flows_writer(mut self, writer: Option<JsonlWriter>) -> Self {
        self.sinks.flows = writer;
        self
    }

    /// Flushes and reopens every output file by name (SIGHUP after logrotate).
    pub fn reopen_outputs(&mut self) -> Result<(), String> {
        match self.sinks.flows.as_mut() {
            Some(w) => w.reopen(),
            None => Ok(()),
        }
    }

    /// Writes buffered records out; returns the first output error, naming the file.
    pub fn flush_outputs(&mut self) -> Result<(), String> {
        match self.sinks.flows.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    /// Tells the outputs the packet clock, for time-based rotation between records.
    pub fn set_output_clock(&mut self, now: Timestamp) {
        if let Some(w) = self.sinks.flows.as_mut() {
            w.set_clock(now);
        }
    }

    /// Records emitted so far and bytes written to output files.
    pub fn output_stats(&self) -> (u64, u64) {
        (self.sinks.records, self.sinks.flows.as_ref().map_or(0, |w| w.bytes()))
    }

    /// Writes every open flow now (shutdown), so that [`output_stats`](Self::output_stats)
    /// counts them before [`finish`](Self::finish).
    pub fn flush_flows(&mut self) {
        self.table.flush(&mut self.sinks);
    }
}
