//! The pipeline: decoded packets → flow table → (dissectors, classifier) → sinks. Live capture and
//! replay feed the same [`Pipeline`] through [`PacketSink`].

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::capture::pcapdroid::{self, AndroidApp, PacketApp};
use crate::capture::{Packet, PacketSink, Timestamp};
use crate::classify::{Classifier, Confidence, FlowFacts, Geo, Ruleset};
use crate::decode::{self, DecodeError};
use crate::dissect::{FlowDissect, Observation, Signature};
use crate::exposure::local::LocalNets;
use crate::flow::activity::ActivityTrack;
use crate::flow::{
    EndReason, Flow, FlowConfig, FlowHandler, FlowRecord, FlowTable, PacketCtx, TableStats,
};
use crate::record::events::{DhcpEvent, DnsEvent, Event};
use crate::record::observed::{ArpEvent, HttpEvent, StunEvent, TlsCertEvent};
use crate::record::{AppProto, NameSource, NullSink, RecordSink, SinkError};

/// Per-flow state of the stages after the flow table, owned here so that no stage keeps another
/// stage's state: what dissection found, and the activity track the exposure map reads.
#[derive(Debug, Default)]
pub struct FlowData {
    /// Dissector state and findings.
    pub dissect: FlowDissect,
    /// Activity over time, for flows that look like Meta's.
    pub activity: ActivityTrack,
    /// Whether the device the flow belongs to ([`LocalNets::device_side`]) is the key's `hi`
    /// side (a flag, not the address: a live flow stays small), set at its first packet.
    pub part_hi: bool,
}

impl crate::exposure::track::Tracked for FlowData {
    #[inline]
    fn parts(&mut self) -> (&FlowDissect, &mut ActivityTrack) {
        (&self.dissect, &mut self.activity)
    }
    #[inline]
    fn part_hi(&self) -> bool {
        self.part_hi
    }
}

/// How to build a [`Pipeline`].
pub struct PipelineConfig {
    /// Flow table limits and timeouts.
    pub flow: FlowConfig,
    /// Where records go.
    pub sink: Box<dyn RecordSink>,
    /// Run dissectors and the classifier (off: flow tracking alone).
    pub classify: bool,
    /// Rules.
    pub rules: Ruleset,
    /// ASN/country databases.
    pub geo: Geo,
}

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

// Verdict marks belong to the classifier; re-exported here, their old path.
pub use crate::classify::mark::{FlowMark, FlowVerdicts};

/// Receives what the flow table emits: runs dissectors and the classifier, writes records.
struct Sinks {
    sink: Box<dyn RecordSink>,
    classifier: Classifier,
    classify: bool,
    observations: Vec<Observation>,
    records: u64,
    meta_records: u64,
    verdicts: Option<FlowVerdicts>,
    /// The app of the packet being handled, from its PCAPdroid trailer or pcapng comment.
    packet_app: Option<AppTag>,
    /// Replay's input files, each with the first flow id given while it was read: a flow's
    /// `source` is found from its id, at no memory per flow.
    sources: Vec<(u64, std::sync::Arc<str>)>,
    /// The local ranges, which say which device a flow belongs to.
    local: LocalNets,
}

impl Sinks {
    /// A flow's first packet: name the server from the client's earlier DNS answers, as of the
    /// flow's start. Kept out of line, like the other once-per-flow and rare steps below, so
    /// that the per-packet path stays small in the instruction cache.
    #[inline(never)]
    fn flow_start(&mut self, flow: &mut Flow<FlowData>, pkt: &PacketCtx<'_, '_>) {
        let (lo, hi) = (flow.key.lo, flow.key.hi);
        let part = self.local.device_side((lo.ip(), lo.port()), (hi.ip(), hi.port()));
        flow.data.part_hi = part != lo.ip();
        let server = flow.resp().ip();
        if let Some(name) = self.classifier.dns_name(part, server, pkt.ts) {
            flow.data.dissect.app.dns_name = Some(name.into());
        }
    }

    /// A PCAPdroid capture named the packet's app: the first app named stays the flow's app.
    /// Out of line: other captures never come here.
    #[cold]
    #[inline(never)]
    fn note_app(&self, flow: &mut Flow<FlowData>) {
        if flow.data.dissect.app.android.is_some() {
            return;
        }
        match &self.packet_app {
            Some(AppTag::Trailer(a)) if a.is_known() => {
                flow.data.dissect.app.android = Some(Box::new(a.to_app()));
            }
            Some(AppTag::Mapped(a)) => {
                flow.data.dissect.app.android = Some(Box::new((**a).clone()));
            }
            _ => {}
        }
    }

    /// The flow just found a name of its own (SNI, certificate, Host): other flows may carry it.
    #[inline(never)]
    fn named(&mut self, flow: &Flow<FlowData>, pkt: &PacketCtx<'_, '_>) {
        if let Some(name) = flow.data.dissect.app.server_name.as_deref()
            && flow.data.dissect.app.name_source != Some(NameSource::StunRealm)
        {
            let (part, server) = (part(flow), flow.resp().ip());
            self.classifier.learn_name(part, server, name, pkt.ts);
        }
    }

    /// Turns the dissectors' observations into events and learnt facts. A DNS flow is judged
    /// message by message: an answer naming a Meta host is kept with the query before it, other
    /// answers are not; the returned mark says which.
    #[inline(never)]
    fn observed(&mut self, flow: &Flow<FlowData>, pkt: &PacketCtx<'_, '_>) -> Option<FlowMark> {
        let mut dns_mark = None;
        for obs in self.observations.drain(..) {
            match obs {
                Observation::Dns(msg) => {
                    if self.verdicts.is_some() {
                        let rules = self.classifier.rules();
                        let meta = msg.questions.iter().any(|(q, _)| rules.match_host(q).is_some());
                        dns_mark = Some(if meta { FlowMark::Meta } else { FlowMark::NotMeta });
                    }
                    let d = pkt.decoded;
                    // Learnt for the flow's device (the response's destination, the device
                    // that asked, for a device on the local side).
                    self.classifier.learn_dns(pkt.ts, part(flow), &msg);
                    let uid = crate::flow::table::uid_string(flow.id);
                    let mut ev = DnsEvent::new(pkt.ts.nanos(), uid, d.dst, d.src, &msg);
                    ev.app = app_name(flow);
                    self.sink.event(&Event::Dns(ev));
                }
                Observation::Dhcp(msg) => {
                    let uid = crate::flow::table::uid_string(flow.id);
                    let mac = pkt.decoded.link.src_mac;
                    self.sink.event(&Event::Dhcp(DhcpEvent::new(pkt.ts.nanos(), uid, mac, &msg)));
                }
                Observation::Stun(info) => {
                    if let Some(mapped_address) = info.mapped_address {
                        let uid = crate::flow::table::uid_string(flow.id);
                        let ts = crate::record::flow::secs_us(pkt.ts.nanos());
                        self.sink.event(&Event::Stun(StunEvent { ts, uid, mapped_address }));
                    }
                    let (o, r) = (flow.orig(), flow.resp());
                    let call = [
                        (info.whatsapp_relay, Signature::StunWhatsappRelay),
                        (info.facebook_realm, Signature::StunRealmFacebook),
                    ];
                    for (_, sig) in call.into_iter().filter(|(on, _)| *on) {
                        self.classifier.learn_call(
                            part(flow),
                            sig,
                            (o.ip(), o.port()),
                            (r.ip(), r.port()),
                        );
                    }
                }
                Observation::Http(req) => {
                    let uid = crate::flow::table::uid_string(flow.id);
                    let mut ev = HttpEvent::new(pkt.ts.nanos(), uid, &req);
                    ev.app = app_name(flow);
                    self.sink.event(&Event::Http(ev));
                }
                Observation::Cert(info) => {
                    let uid = crate::flow::table::uid_string(flow.id);
                    let mut ev = TlsCertEvent::new(pkt.ts.nanos(), uid, &info);
                    ev.app = app_name(flow);
                    self.sink.event(&Event::TlsCert(ev));
                }
                Observation::Hello(_) => {}
            }
        }
        dns_mark
    }
}

impl FlowHandler<FlowData> for Sinks {
    fn packet(&mut self, flow: &mut Flow<FlowData>, pkt: &PacketCtx<'_, '_>) {
        if self.packet_app.is_some() {
            self.note_app(flow);
        }
        if !self.classify {
            if let Some(v) = self.verdicts.as_mut() {
                v.touched.push((flow.id, FlowMark::Undecided));
            }
            return;
        }
        if !flow.data.dissect.started() {
            self.flow_start(flow, pkt);
        }
        let unnamed = flow.data.dissect.app.server_name.is_none();
        flow.data.dissect.packet(pkt.decoded, pkt.from_orig, &mut self.observations);
        if unnamed && flow.data.dissect.app.server_name.is_some() {
            self.named(flow, pkt);
        }
        // Most packets observe nothing.
        let dns_mark = if self.observations.is_empty() { None } else { self.observed(flow, pkt) };
        crate::exposure::track::activity(&self.classifier, flow, pkt);
        if let Some(v) = self.verdicts.as_mut() {
            let mark = dns_mark.unwrap_or(match flow.data.activity {
                ActivityTrack::On(_) => FlowMark::Meta,
                ActivityTrack::Off if flow.data.dissect.app.app_proto == Some(AppProto::Dns) => {
                    FlowMark::Undecided
                }
                ActivityTrack::Off => FlowMark::NotMeta,
                ActivityTrack::Undecided | ActivityTrack::Checked(_) => FlowMark::Undecided,
            });
            v.touched.push((flow.id, mark));
        }
    }

    fn end(&mut self, flow: &mut Flow<FlowData>, reason: EndReason) {
        self.records += 1;
        let mut rec = flow.record(reason);
        if let Some(app) = flow.data.dissect.app.android.as_deref() {
            rec.app.clone_from(&app.name);
            rec.app_uid = app.uid;
        }
        if self.classify {
            classify_record(&mut self.classifier, flow, &mut rec);
            rec.activity = flow.data.activity.take_log();
            self.meta_records += u64::from(rec.service.is_some());
        }
        if let Some(v) = self.verdicts.as_mut() {
            v.ended.push((flow.id, rec.service.is_some()));
        }
        if !self.sources.is_empty() {
            let i = self.sources.partition_point(|(first, _)| *first <= flow.id);
            rec.source = self.sources.get(i.wrapping_sub(1)).map(|(_, name)| name.clone());
        }
        self.sink.order(&flow.order());
        self.sink.flow(&mut rec);
    }
}

/// Where a packet's app came from: PCAPdroid's trailer (a copy of its fields), or its pcapng
/// output (the uid's mapping, shared with the source).
enum AppTag {
    Trailer(PacketApp),
    Mapped(Arc<AndroidApp>),
}

/// The device the flow belongs to.
#[inline]
fn part(flow: &Flow<FlowData>) -> IpAddr {
    if flow.data.part_hi { flow.key.hi.ip() } else { flow.key.lo.ip() }
}

/// The flow's app name for its events (PCAPdroid captures).
fn app_name(flow: &Flow<FlowData>) -> Option<Box<str>> {
    flow.data.dissect.app.android.as_ref().and_then(|a| a.name.clone())
}

fn facts(flow: &Flow<FlowData>) -> FlowFacts<'_> {
    let resp = flow.resp();
    FlowFacts {
        proto: flow.key.proto,
        part: part(flow),
        orig_h: flow.orig().ip(),
        resp_h: resp.ip(),
        orig_p: flow.orig().port(),
        resp_p: resp.port(),
        app: &flow.data.dissect.app,
    }
}

/// Fills the record's dissection and classification fields.
fn classify_record(classifier: &mut Classifier, flow: &Flow<FlowData>, rec: &mut FlowRecord) {
    let app = &flow.data.dissect.app;
    rec.app_proto = app.app_proto;
    rec.server_name = app.server_name.clone();
    rec.name_source = app.name_source;
    if rec.server_name.is_none() && app.dns_name.is_some() {
        rec.server_name = app.dns_name.clone();
        rec.name_source = Some(NameSource::Dns);
    }
    rec.alpn = app.alpn.clone();
    rec.ja4 = app.ja4.clone();
    rec.ja3 = app.ja3.clone();
    rec.quic_version = app.quic_version.map(|v| format!("{v:#010x}"));
    rec.protocol_version = app.protocol_version.clone();
    rec.wa_client = app.wa_client.clone();
    rec.wa_phone = app.wa_phone.clone();
    rec.set_cookie_names = app.set_cookie_names.clone();
    let mut c = classifier.classify_at(&facts(flow), Some((flow.first_ts, flow.last_ts)));
    if let Some(v) = c.verdict.as_mut()
        && let ActivityTrack::On(log) = &flow.data.activity
    {
        let shaped = crate::exposure::track::chat_shaped(log, rec.duration);
        classifier.chat_by_behaviour(&facts(flow), v, shaped);
    }
    if let Some(v) = c.verdict {
        let rules = classifier.rules();
        rec.service = Some(rules.service(v.service).name.clone());
        let endpoint = rules.endpoint(v.endpoint);
        rec.endpoint = Some(endpoint.name.clone());
        rec.role = Some(endpoint.role);
        rec.confidence = Some(confidence_name(v.confidence));
        rec.evidence = v.evidence;
    }
    rec.resp_asn = c.geo.asn;
    rec.resp_as_org = c.geo.as_org;
    rec.resp_cc = c.geo.cc;
}

fn confidence_name(c: Confidence) -> &'static str {
    match c {
        Confidence::Signature => "signature",
        Confidence::Sni => "sni",
        Confidence::Cert => "tls_cert",
        Confidence::HttpHost => "http_host",
        Confidence::Dns => "dns",
        Confidence::Behaviour => "behaviour",
        Confidence::Carried => "carried",
        Confidence::Prefix => "prefix",
        Confidence::Asn => "asn",
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
    /// Flow records labelled with a Meta service.
    pub meta_records: u64,
    /// (device, server address) pairs dropped from the carried-name table because it was full.
    pub carried_evicted: u64,
    /// TLS flows whose leaf certificate lay past the per-flow byte cap (process-wide count).
    pub certs_capped: u64,
}

impl Pipeline {
    /// A pipeline as configured.
    pub fn new(cfg: PipelineConfig) -> Self {
        Pipeline {
            table: FlowTable::new(cfg.flow),
            sinks: Sinks {
                sink: cfg.sink,
                classifier: Classifier::new(cfg.rules, cfg.geo),
                classify: cfg.classify,
                observations: Vec::new(),
                records: 0,
                meta_records: 0,
                verdicts: None,
                packet_app: None,
                sources: Vec::new(),
                local: LocalNets::default(),
            },
            stats: PacketStats::default(),
        }
    }

    /// A pipeline that tracks flows and writes nothing (benchmarks, tests).
    pub fn discarding(flow: FlowConfig) -> Self {
        Pipeline::new(PipelineConfig {
            flow,
            sink: Box::new(NullSink),
            classify: false,
            rules: Ruleset::builtin(),
            geo: Geo::default(),
        })
    }

    /// Reopens output files (SIGHUP after logrotate).
    pub fn reopen_outputs(&mut self) -> Result<(), SinkError> {
        self.sinks.sink.reopen()
    }

    /// Replaces the rules (SIGHUP reload); learnt DNS names are kept.
    pub fn set_rules(&mut self, rules: Ruleset) {
        self.sinks.classifier.set_rules(rules);
    }

    /// Starts noting which flows each packet touches and how ended flows were labelled.
    pub fn track_verdicts(&mut self) {
        self.sinks.verdicts.get_or_insert_default();
    }

    /// The notes of [`Pipeline::track_verdicts`]: the caller reads `touched` after each packet
    /// (it is cleared when the next one arrives) and drains `ended`.
    pub fn verdicts(&mut self) -> Option<&mut FlowVerdicts> {
        self.sinks.verdicts.as_mut()
    }

    /// Replaces where records go (`replay --threads`: a worker's collector).
    pub fn set_sink(&mut self, sink: Box<dyn RecordSink>) {
        self.sinks.sink = sink;
    }

    /// The local ranges (`--local-net`), which say which device a flow belongs to.
    pub fn set_local_nets(&mut self, local: LocalNets) {
        self.sinks.local = local;
    }

    /// The next packet is the input's packet number `index` (see
    /// [`FlowTable::begin_packet`]); a pipeline fed every packet need not say.
    pub fn begin_packet(&mut self, index: u64) {
        self.table.begin_packet(index);
    }

    /// Replay: the packets from here on come from the capture file `name`; flow records name
    /// the file of their flow's first packet (`source`).
    pub fn begin_source(&mut self, name: &str) {
        self.begin_source_at(name, self.stats.packets);
    }

    /// [`Pipeline::begin_source`] when the file's first packet is the input's packet number
    /// `index`.
    pub fn begin_source_at(&mut self, name: &str, index: u64) {
        let next = self.table.next_id().max(index.saturating_mul(crate::flow::table::TICKS));
        // A file that started no flow gives way to the next one.
        if self.sinks.sources.last().is_some_and(|(first, _)| *first == next) {
            self.sinks.sources.pop();
        }
        self.sinks.sources.push((next, name.into()));
    }

    /// Writes every open flow (end of input), leaving the outputs open.
    pub fn flush_flows(&mut self) {
        self.table.flush(&mut self.sinks);
    }

    /// Counters so far.
    pub fn stats(&self) -> PacketStats {
        self.stats
    }

    /// Flow records labelled with a Meta service so far.
    pub fn meta_records(&self) -> u64 {
        self.sinks.meta_records
    }

    /// The live flows and the rules, for `capture --live`'s screen ([`crate::live::view`]).
    pub fn live_view(&self) -> (impl Iterator<Item = &Flow<FlowData>>, &Ruleset) {
        (self.table.flows(), self.sinks.classifier.rules())
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
    pub fn finish(mut self) -> Result<RunStats, SinkError> {
        self.table.flush(&mut self.sinks);
        self.sinks.sink.finish()?;
        Ok(RunStats {
            packets: self.stats,
            table: self.table.stats(),
            records: self.sinks.records,
            meta_records: self.sinks.meta_records,
            carried_evicted: self.sinks.classifier.carried_evicted(),
            certs_capped: crate::dissect::cert::capped(),
        })
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
        // PCAPdroid's trailer comes off before anything counts or reads the packet; its app is
        // noted for the flow while the bare packet goes through.
        if pcapdroid::may_have_trailer(pkt) && self.trailer_packet(pkt) {
            return;
        }
        self.bare_packet(pkt);
    }

    /// A packet of PCAPdroid's pcapng output, whose comment named its app.
    fn app_packet(&mut self, pkt: &Packet<'_>, app: &Arc<AndroidApp>) {
        self.sinks.packet_app = Some(AppTag::Mapped(app.clone()));
        self.packet(pkt);
        self.sinks.packet_app = None;
    }
}

impl Pipeline {
    /// A frame ending in PCAPdroid's magic: through the pipeline without its trailer, with the
    /// trailer's app, if it is one. Out of line, as [`Sinks::note_app`].
    #[cold]
    #[inline(never)]
    fn trailer_packet(&mut self, pkt: &Packet<'_>) -> bool {
        let Some((bare, app)) = pcapdroid::strip(pkt) else { return false };
        self.sinks.packet_app = Some(AppTag::Trailer(app));
        self.bare_packet(&bare);
        self.sinks.packet_app = None;
        true
    }

    /// A packet without PCAPdroid trailer through the pipeline.
    #[inline]
    fn bare_packet(&mut self, pkt: &Packet<'_>) {
        if let Some(v) = self.sinks.verdicts.as_mut() {
            v.touched.clear();
        }
        self.table.begin_packet(self.stats.packets);
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        // Matched by reference: the decoded packet stays where the decoder built it (moving it
        // out cost a copy of its 144 bytes a packet, read back wider than it was written).
        match &decode::decode(pkt) {
            Ok(d) => {
                // The clock moves first, for every packet decoded (IP or not), so idle flows are
                // written before what this packet writes.
                self.table.advance(pkt.ts, &mut self.sinks);
                self.decoded(pkt.ts, d, None, 0)
            }
            &Err(DecodeError::NotIp(ethertype)) => {
                self.table.advance(pkt.ts, &mut self.sinks);
                self.stats.not_ip += 1;
                if ethertype == decode::arp::ETHERTYPE_ARP
                    && self.sinks.classify
                    && let Some(arp) = decode::arp::parse(pkt)
                {
                    self.sinks.sink.event(&Event::Arp(ArpEvent::new(pkt.ts.nanos(), &arp)));
                }
            }
            &Err(e) => self.stats.decode_errors.count(e),
        }
    }
}
