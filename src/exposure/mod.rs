//! The device-level exposure map. [`ExposureSink`] wraps any [`RecordSink`]: it forwards every
//! flow record (with its `device`) and event, and derives from them `device`, `session`,
//! `activity` and `exposure` events, written when they can no longer change (a session or call
//! once quiet long enough, devices and exposures at the end).
//!
//! - [`track`]: which flows get a per-flow activity log (flow stage, per packet).
//! - [`activity`], [`calls`], [`sessions`]: activities from records and their time buckets.
//! - [`device`], [`exposures`]: per-device evidence and the policy fields judged on it.
//! - `docs/exposure.md` documents the heuristics and their parameters.

#![deny(missing_docs)]

pub mod activity;
pub mod calls;
pub mod device;
// The exposure map's records live in the schema (`crate::record::exposure`); old path kept.
pub use crate::record::exposure as events;
pub mod exposures;
pub mod local;
pub mod oui;
pub mod sessions;
pub mod track;
pub mod ua;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::fast::RandomState;
use ipnet::IpNet;

use crate::classify::{Geo, Ruleset};
use crate::policy::{Catalogue, Plain};
use crate::record::events::Event;
use crate::record::exposure::ActivityKind;
use crate::record::observed::HttpEvent;
use crate::record::{EndReason, FlowRecord, Role};
use crate::record::{RecordSink, SinkError};

use self::activity::{Burst, ChatClient};
use self::calls::Calls;
use self::device::Device;
use self::events::ActivityEvent;
use self::local::LocalNets;

/// Tunable thresholds of the activity heuristics (see `docs/exposure.md`).
#[derive(Clone, Debug)]
pub struct Heuristics {
    /// Quiet time (only keepalives) that ends a usage session, seconds.
    pub session_gap_secs: f64,
    /// Active buckets at most this far apart form one message burst, seconds.
    pub burst_gap_secs: f64,
    /// The first seconds of a chat connection are its handshake, not messages.
    pub handshake_secs: f64,
    /// Largest packet payload that may still be idle traffic on a chat connection, bytes; raised
    /// per connection to its learnt keepalive's largest packet.
    pub keepalive_floor: u16,
    /// A lone small exchange recurring this often on a connection is its keepalive.
    pub keepalive_repeats: usize,
    /// Byte difference (each direction) within which two exchanges are the same keepalive.
    pub keepalive_tolerance: u16,
    /// Bytes in the busier direction that make a media item (voice notes are ~10 kB).
    pub media_min_bytes: u64,
    /// A silence shorter than this inside a media transfer (not a new request) is a stall, not
    /// the end of the item, seconds.
    pub media_gap_secs: f64,
    /// Call flows this close in time (or sharing a socket) are one call, seconds.
    pub call_gap_secs: f64,
    /// Call media: packets per second each way at least (voice sends 20–50).
    pub call_media_pps: f64,
    /// Call media: a run of packets both ways lasting at least this long, seconds.
    pub call_media_secs: f64,
    /// A call whose busier direction averages at least this is video, kbit/s.
    pub video_kbps: f64,
    /// A call whose busier direction averages at least this payload per packet is video, bytes.
    pub video_packet_bytes: u64,
}

impl Default for Heuristics {
    fn default() -> Self {
        Heuristics {
            session_gap_secs: 300.0,
            burst_gap_secs: 3.0,
            handshake_secs: 1.0,
            keepalive_floor: 64,
            keepalive_repeats: 3,
            keepalive_tolerance: 8,
            media_min_bytes: 8 * 1024,
            media_gap_secs: 3.0,
            call_gap_secs: 10.0,
            call_media_pps: 3.0,
            call_media_secs: 1.5,
            video_kbps: 250.0,
            video_packet_bytes: 400,
        }
    }
}

/// How to build an [`ExposureSink`].
#[derive(Clone, Debug)]
pub struct ExposureConfig {
    /// Extra local ranges (`--local-net`), besides private, CGNAT, link-local and ULA.
    pub local_nets: Vec<IpNet>,
    /// Activity heuristics.
    pub heuristics: Heuristics,
    /// How long after its end a session or call may still grow from records not yet written
    /// (the flow table's active timeout plus its TCP idle timeout), seconds.
    pub settle_secs: f64,
    /// The policy catalogue.
    pub catalogue: Catalogue,
    /// OUI registry (`--oui-file`); `None` searches [`oui::SEARCH_PATHS`].
    pub oui_file: Option<PathBuf>,
    /// Most devices kept (`--max-devices`); beyond, the least recently seen are written and
    /// forgotten.
    pub max_devices: usize,
    /// Country and ASN databases, for the public address Meta saw (never a private address or a
    /// call peer's).
    pub geo: Geo,
    /// Endpoint names of the rules in use (`whatsapp.chat`, …): a field whose endpoint pattern
    /// matches none says so. Empty: the builtin rules' names (loaded only when needed, so a
    /// default configuration does not parse the rules a second time at start-up).
    pub known_endpoints: Vec<String>,
    /// Calls being assembled at most (all devices); past it the oldest is written early.
    pub max_pending_calls: usize,
    /// Message bursts waiting for their session at most (all devices); past it every pending
    /// session is written early.
    pub max_pending_bursts: usize,
    /// One device for the whole input, by this name (`--device-name`): a capture made on the
    /// phone itself (PCAPdroid) holds one device whatever its addresses.
    pub device_name: Option<String>,
    /// What the map pushed out early to stay bounded, counted as it happens. Shared by every
    /// clone of this configuration, so whoever built the map reads the counts during and after
    /// the run (the manifest, `stats.jsonl`).
    pub caps: Arc<Caps>,
}

/// Running counts of what the exposure map wrote early to stay within its bounds.
#[derive(Debug, Default)]
pub struct Caps {
    devices_evicted: AtomicU64,
    calls_forced: AtomicU64,
    sessions_forced: AtomicU64,
}

/// [`Caps`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CapsCount {
    /// Devices written and forgotten before the end (more than `--max-devices` at once).
    pub devices_evicted: u64,
    /// Calls written before they ended (more than `max_pending_calls` call setups pending).
    pub calls_forced: u64,
    /// Times every pending session was written early (more than `max_pending_bursts` bursts).
    pub sessions_forced: u64,
}

impl Caps {
    /// The counts now.
    pub fn count(&self) -> CapsCount {
        CapsCount {
            devices_evicted: self.devices_evicted.load(Ordering::Relaxed),
            calls_forced: self.calls_forced.load(Ordering::Relaxed),
            sessions_forced: self.sessions_forced.load(Ordering::Relaxed),
        }
    }
}

/// Default of `--max-devices`: far above a home or office network, a bound for a capture of
/// spoofed MACs (see `docs/limits.md`).
pub const DEFAULT_MAX_DEVICES: usize = 10_000;

impl Default for ExposureConfig {
    fn default() -> Self {
        ExposureConfig {
            local_nets: Vec::new(),
            heuristics: Heuristics::default(),
            settle_secs: 2100.0,
            catalogue: Catalogue::builtin(),
            oui_file: None,
            max_devices: DEFAULT_MAX_DEVICES,
            geo: Geo::default(),
            known_endpoints: Vec::new(),
            max_pending_calls: 1024,
            max_pending_bursts: 1 << 16,
            device_name: None,
            caps: Arc::default(),
        }
    }
}

/// The builtin rules' endpoint names, loaded once.
fn builtin_endpoint_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| endpoint_names(&Ruleset::builtin()))
}

/// The endpoint names of `rules`, for [`ExposureConfig::known_endpoints`].
pub fn endpoint_names(rules: &Ruleset) -> Vec<String> {
    rules.endpoints().iter().map(|e| e.name.to_string()).collect()
}

impl ExposureConfig {
    /// The sink, wrapping `inner`.
    pub fn build<S: RecordSink>(self, inner: S) -> ExposureSink<S> {
        ExposureSink {
            inner,
            local: LocalNets::new(self.local_nets.clone()),
            cfg: self,
            devices: HashMap::default(),
            ip_mac: HashMap::default(),
            http: HashMap::default(),
            stun: HashMap::default(),
            chat_uids: HashSet::default(),
            bursts: BTreeMap::new(),
            calls: Calls::default(),
            pending_bursts: 0,
            overflow: Overflow::default(),
            watermark: f64::MIN,
            next_settle: f64::MIN,
            next_session: 0,
            devices_evicted: 0,
        }
    }
}

const ZERO_MAC: &str = "00:00:00:00:00:00";
/// Bounds of the per-run maps (cleared when full: a long live run forgets, never grows).
const MAX_MAP: usize = 1 << 16;
/// Packet-time between two looks for sessions and calls that can be written, seconds.
const SETTLE_EVERY_SECS: f64 = 300.0;

/// What the exposure map did to stay bounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overflow {
    /// Calls written before they could end (`max_pending_calls` pending).
    pub calls_forced: u64,
    /// Times every pending session was written early (`max_pending_bursts` bursts pending).
    pub sessions_forced: u64,
}

/// HTTP request facts kept until the flow's record arrives.
struct HttpSeen {
    user_agent: Option<String>,
    cookie_names: Vec<String>,
}

/// Derives the exposure map while forwarding everything to `inner`.
pub struct ExposureSink<S> {
    inner: S,
    cfg: ExposureConfig,
    local: LocalNets,
    devices: HashMap<String, Device, RandomState>,
    ip_mac: HashMap<IpAddr, String, RandomState>,
    http: HashMap<String, HttpSeen, RandomState>,
    /// Public addresses STUN servers reported, by flow, until the flow's record arrives.
    stun: HashMap<String, IpAddr, RandomState>,
    /// Chat flows whose first record was seen (later records have no handshake).
    chat_uids: HashSet<String, RandomState>,
    /// Message bursts not yet in a written session, per device and app (the app's name or
    /// `uid:N`; `None` when no app is known, as in every capture but PCAPdroid's).
    bursts: BTreeMap<(String, Option<String>), Vec<Burst>>,
    calls: Calls,
    pending_bursts: usize,
    overflow: Overflow,
    watermark: f64,
    next_settle: f64,
    next_session: u64,
    /// Devices written early and forgotten because `max_devices` was reached.
    devices_evicted: u64,
}

impl<S> ExposureSink<S> {
    /// Devices written early and forgotten because `max_devices` was reached.
    pub fn devices_evicted(&self) -> u64 {
        self.devices_evicted
    }

    /// Devices held now.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }
}

/// Whether the server is Meta's own: a Meta prefix or ASN, a Meta protocol signature (a
/// WhatsApp chat preface, a WhatsApp relay), not a name alone (a third-party cache serves
/// Meta's names from its own addresses) nor a call's peer-to-peer leg (`call_socket` only).
pub fn meta_operated(evidence: &[String]) -> bool {
    let has = |kind: &str| evidence.iter().any(|e| e.starts_with(kind));
    has("prefix:") || has("asn:") || has("relay:") || (has("sig:") && !has("call_socket:"))
}

/// A legacy client's cleartext login: platform and app version from its resource, the phone
/// number as the dissector masked it.
fn legacy_login(dev: &mut Device, wa: bool, rec: &FlowRecord) {
    let uid = Some(rec.uid.as_str());
    if let Some(res) = rec.wa_client.as_deref() {
        let (platform, version) = ua::legacy_resource(res);
        dev.flow_evidence(wa, Plain::LegacyPlatform, rec.ts, 0, Some(&platform), uid);
        if let Some(v) = version {
            dev.flow_evidence(wa, Plain::LegacyAppVersion, rec.ts, 0, Some(&v), uid);
        }
    }
    if let Some(phone) = rec.wa_phone.as_deref() {
        dev.flow_evidence(wa, Plain::LegacyPhone, rec.ts, 0, Some(phone), uid);
    }
}

impl<S: RecordSink> ExposureSink<S> {
    /// The local side of a flow: (device id, address, MAC).
    fn identify(&mut self, rec: &FlowRecord) -> (String, IpAddr, Option<String>) {
        let orig_local = self.local.contains(rec.orig_h);
        // Neither side local (a capture of public addresses): the originator is the device.
        let use_orig = orig_local || !self.local.contains(rec.resp_h);
        let (ip, mac) =
            if use_orig { (rec.orig_h, &rec.orig_mac) } else { (rec.resp_h, &rec.resp_mac) };
        // An all-zero MAC (anonymised or synthetic captures) names no device.
        let mac = mac.clone().filter(|m| m != ZERO_MAC);
        if let Some(name) = &self.cfg.device_name {
            return (name.clone(), ip, mac);
        }
        let id = match &mac {
            Some(m) => {
                if !local::not_a_host(ip) {
                    self.learn_ip(ip, m);
                }
                m.clone()
            }
            None => self.ip_mac.get(&ip).cloned().unwrap_or_else(|| ip.to_string()),
        };
        (id, ip, mac)
    }

    fn learn_ip(&mut self, ip: IpAddr, mac: &str) {
        if self.ip_mac.len() >= MAX_MAP {
            self.ip_mac.clear();
        }
        if self.ip_mac.get(&ip).is_none_or(|m| m != mac) {
            self.ip_mac.insert(ip, mac.to_owned());
        }
    }

    fn device(&mut self, id: &str, ts: f64) -> &mut Device {
        // Look up before inserting: most calls find the device, and need no key allocation.
        if !self.devices.contains_key(id) {
            if self.devices.len() >= self.cfg.max_devices.max(1) {
                self.evict_devices();
            }
            self.devices.insert(id.to_owned(), Device::new(id.to_owned(), ts));
        }
        self.devices.get_mut(id).expect("just inserted")
    }

    /// The table is full: writes and forgets the least recently seen devices, an eighth of the
    /// table at once (one selection pass per eighth of new devices, not a scan per device).
    fn evict_devices(&mut self) {
        let n = (self.devices.len() / 8).max(1);
        let mut by_sight: Vec<(f64, &str)> =
            self.devices.values().map(|d| (d.last_seen, d.id.as_str())).collect();
        if n < by_sight.len() {
            by_sight.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        }
        let oldest: Vec<String> = by_sight[..n].iter().map(|(_, id)| (*id).to_owned()).collect();
        let gone: Vec<Device> = oldest.iter().filter_map(|id| self.devices.remove(id)).collect();
        self.devices_evicted += gone.len() as u64;
        self.cfg.caps.devices_evicted.fetch_add(gone.len() as u64, Ordering::Relaxed);
        self.write_devices(gone);
    }

    /// Writes `device` events (in id order, so output does not depend on hashing) and, for
    /// devices that talked to Meta, their exposures. One pass over the OUI registry per call.
    fn write_devices(&mut self, mut devices: Vec<Device>) {
        devices.sort_by(|a, b| a.id.cmp(&b.id));
        let macs: Vec<&str> = devices.iter().filter_map(|d| d.mac.as_deref()).collect();
        let registry = oui::find(self.cfg.oui_file.as_deref());
        let vendors = oui::vendors(registry.as_deref(), &macs);
        for mut dev in devices {
            let vendor = dev.mac.as_ref().and_then(|m| vendors.get(m)).cloned();
            if let Some(v) = &vendor {
                dev.evidence(Plain::OuiVendor, dev.first_seen, 0, Some(v), None);
            }
            public_address_facts(&mut dev, &self.cfg.geo, &self.cfg.catalogue);
            self.inner.event(&Event::Device(Box::new(dev.event(vendor))));
            if dev.has_meta() {
                let known = match self.cfg.known_endpoints.as_slice() {
                    [] => builtin_endpoint_names(),
                    names => names,
                };
                for e in exposures::judge_all(&self.cfg.catalogue, &dev, known) {
                    self.inner.event(&Event::Exposure(e));
                }
            }
        }
    }

    fn emit_activity(&mut self, a: ActivityEvent) {
        let sample = match (&a.media, a.activity) {
            (Some(m), _) => {
                format!("{:.1}s {m} {} kbit/s", a.duration, a.bitrate_kbps.unwrap_or(0.0))
            }
            (None, ActivityKind::MessageBurst) => {
                format!("{} B up/{} B down", a.bytes_up, a.bytes_down)
            }
            _ => format!("{} B", a.bytes_up + a.bytes_down),
        };
        // A Messenger call is not a WhatsApp interaction; telemetry counts what was sent.
        let wa = a.endpoint.as_deref().is_none_or(|e| e.starts_with("whatsapp."));
        let bytes = if a.activity == ActivityKind::Telemetry {
            a.bytes_up
        } else {
            a.bytes_up + a.bytes_down
        };
        let dev = self.device(&a.device, a.ts);
        *dev.activities.entry(a.activity.as_str().to_owned()).or_default() += 1;
        let signal = format!("activity:{}", a.activity);
        dev.tagging = a.app.clone().or_else(|| a.app_uid.map(|u| format!("uid:{u}")));
        dev.flow_evidence(
            wa,
            &signal,
            a.ts,
            bytes,
            Some(&sample),
            a.uids.first().map(|s| s.as_str()),
        );
        dev.tagging = None;
        self.inner.event(&Event::Activity(a));
    }

    /// Meta-specific bookkeeping of one record of `device`. Evidence of a WhatsApp flow speaks
    /// for the WhatsApp fields, that of another service's flow only for `other_meta` fields;
    /// cleartext and addresses count only from a Meta-operated server (see [`meta_operated`]).
    fn meta_flow(&mut self, id: &str, rec: &FlowRecord, local_is_orig: bool, local_ip: IpAddr) {
        let service = rec.service.as_deref().unwrap_or("meta");
        let endpoint = rec.endpoint.as_deref().unwrap_or(service).to_owned();
        let wa = service == "whatsapp";
        let operated = meta_operated(&rec.evidence);
        let (up, down) = if local_is_orig {
            (rec.orig_bytes, rec.resp_bytes)
        } else {
            (rec.resp_bytes, rec.orig_bytes)
        };
        let http = if operated { self.http.get(&rec.uid) } else { None };
        let mut http = http.map(|h| (h.user_agent.clone(), h.cookie_names.clone()));
        if operated && !rec.set_cookie_names.is_empty() {
            // Names the server set count like names the client sent: both tie the device.
            let (_, names) = http.get_or_insert_with(Default::default);
            names.extend(rec.set_cookie_names.iter().cloned());
        }
        let public = self.stun.get(&rec.uid).copied().filter(|_| operated);
        // Meta sees the device's own address only when it is global (IPv6, no NAT).
        let global = (!self.local.contains(local_ip) && !local::not_a_host(local_ip))
            .then(|| local_ip.to_string());
        let stack = rec.ja4.as_deref().map(|j| match self.cfg.catalogue.tls_stack(j) {
            Some(family) => format!("{j} ({family})"),
            None => format!("{j} (TLS stack not in the table)"),
        });
        let uid = Some(rec.uid.as_str());
        let dev = self.device(id, rec.ts);
        // Evidence of this record names its app; the activities below tag their own.
        dev.tagging = app_key(rec);
        dev.meta_flow(service, &endpoint, rec.ts, up, down);
        dev.flow_evidence(wa, Plain::MetaFlow, rec.ts, up + down, None, uid);
        if let Some(g) = &global {
            dev.evidence(Plain::GlobalAddress, rec.ts, 0, Some(g), uid);
        }
        let named =
            rec.server_name.as_deref().map_or_else(|| rec.resp_h.to_string(), str::to_owned);
        dev.evidence(format!("endpoint:{endpoint}"), rec.ts, up + down, Some(&named), uid);
        if let (Some(j), Some(stack)) = (rec.ja4.as_deref(), stack.as_deref()) {
            dev.flow_evidence(wa, Plain::Ja4, rec.ts, 0, Some(stack), uid);
            dev.strings(None, Some(j));
        }
        if let Some(v) = rec.protocol_version.as_deref() {
            dev.flow_evidence(wa, Plain::ProtocolVersion, rec.ts, 0, Some(v), uid);
        }
        if operated && let Some(cc) = rec.resp_cc.as_deref() {
            dev.evidence(Plain::ServerRegion, rec.ts, 0, Some(cc), uid);
        }
        if operated {
            legacy_login(dev, wa, rec);
        }
        if let Some(public) = public {
            dev.evidence(Plain::PublicAddress, rec.ts, 0, Some(&public.to_string()), uid);
        }
        if let Some((ua, cookies)) = http {
            if let Some(ua) = ua.as_deref() {
                dev.flow_evidence(wa, Plain::HttpUserAgent, rec.ts, 0, Some(ua), uid);
                dev.strings(Some(ua), None);
                let f = ua::facts(ua);
                for (signal, v) in [
                    (Plain::UaOs, f.os),
                    (Plain::UaAppVersion, f.app_version),
                    (Plain::UaDevice, f.device),
                ] {
                    if let Some(v) = v {
                        dev.flow_evidence(wa, signal, rec.ts, 0, Some(&v), uid);
                    }
                }
            }
            let names = &self.cfg.catalogue.cookies;
            let dev = self.devices.get_mut(id).expect("device exists");
            for c in &cookies {
                dev.flow_evidence(wa, Plain::HttpCookie, rec.ts, 0, Some(c), uid);
                if names.identifying.iter().any(|n| n == c) {
                    dev.flow_evidence(wa, Plain::IdCookie, rec.ts, 0, Some(c), uid);
                }
                if names.language.iter().any(|n| n == c) {
                    dev.flow_evidence(wa, Plain::LangCookie, rec.ts, 0, Some(c), uid);
                }
            }
        }
        self.device(id, rec.ts).tagging = None;
        self.activities(id, rec, local_is_orig);
    }

    fn activities(&mut self, id: &str, rec: &FlowRecord, local_is_orig: bool) {
        let h = self.cfg.heuristics.clone();
        let log = rec.activity.as_deref();
        if calls::is_call_flow(rec) {
            let socket =
                if local_is_orig { (rec.orig_h, rec.orig_p) } else { (rec.resp_h, rec.resp_p) };
            let f = calls::CallFlow { rec, log, socket, local_is_orig };
            if let Some(early) = self.calls.add(id, &f, &h, self.cfg.max_pending_calls) {
                let more = self.calls.forced - self.overflow.calls_forced;
                self.cfg.caps.calls_forced.fetch_add(more, Ordering::Relaxed);
                self.overflow.calls_forced = self.calls.forced;
                self.emit_activity(early.event(&h));
            }
            return;
        }
        // WhatsApp Web's websocket is a chat connection too; its client kind stays visible.
        if let Some(client) = ChatClient::of(rec) {
            let first = self.chat_uids.len() < MAX_MAP && self.chat_uids.insert(rec.uid.clone());
            // A connection whose opening was seen has a handshake; one already open has not.
            let handshake =
                first && (rec.history.starts_with('S') || rec.protocol_version.is_some());
            if let Some(log) = log {
                let found = activity::bursts(rec, log, &h, handshake, (local_is_orig, client));
                self.pending_bursts += found.len();
                self.bursts.entry((id.to_owned(), app_key(rec))).or_default().extend(found);
                if self.pending_bursts > self.cfg.max_pending_bursts {
                    self.overflow.sessions_forced += 1;
                    self.cfg.caps.sessions_forced.fetch_add(1, Ordering::Relaxed);
                    self.settle_sessions(None);
                }
            }
            return;
        }
        match rec.role.unwrap_or(Role::Other) {
            Role::Media => {
                for a in activity::media(rec, log, &h, id, local_is_orig) {
                    self.emit_activity(a);
                }
            }
            Role::Registration => {
                self.emit_activity(activity::whole_flow(rec, id, ActivityKind::Registration))
            }
            // Logs sent to WhatsApp; a Facebook SDK script download is not telemetry.
            r if r.sends_logs() && rec.service.as_deref() == Some("whatsapp") => {
                self.emit_activity(activity::whole_flow(rec, id, ActivityKind::Telemetry))
            }
            _ => {}
        }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// What the exposure map did to stay bounded so far.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// Calls and message bursts waiting to be written.
    pub fn pending(&self) -> (usize, usize) {
        (self.calls.len(), self.pending_bursts)
    }

    /// Writes the sessions and calls that can no longer grow; everything with `all`.
    fn settle(&mut self, all: bool) {
        let h = self.cfg.heuristics.clone();
        let horizon = (!all).then_some(self.watermark - self.cfg.settle_secs);
        self.settle_sessions(horizon);
        for call in self.calls.take_done(horizon, &h) {
            self.emit_activity(call.event(&h));
        }
    }

    /// Writes the sessions ending before `horizon` (all with `None`).
    fn settle_sessions(&mut self, horizon: Option<f64>) {
        let h = self.cfg.heuristics.clone();
        let keys: Vec<(String, Option<String>)> = self.bursts.keys().cloned().collect();
        for key in keys {
            let pending = self.bursts.remove(&key).unwrap_or_default();
            let mut keep = Vec::new();
            for s in sessions::build(&key.0, pending, h.session_gap_secs) {
                if horizon.is_some_and(|t| s.event.end + h.session_gap_secs >= t) {
                    keep.extend(s.bursts);
                    continue;
                }
                self.emit_session(s);
            }
            if !keep.is_empty() {
                self.bursts.insert(key, keep);
            }
        }
        self.pending_bursts = self.bursts.values().map(Vec::len).sum();
    }

    fn emit_session(&mut self, mut s: sessions::Session) {
        self.next_session += 1;
        let sid = format!("S{}", self.next_session);
        s.event.session = sid.clone();
        let dev = self.device(&s.event.device, s.event.ts);
        sessions::account(&mut dev.sessions, &s.event);
        let e = &s.event;
        let sample = format!("{}s", e.duration);
        dev.tagging = s.bursts.first().and_then(Burst::app_key);
        dev.evidence(
            Plain::Session,
            e.ts,
            e.bytes_up + e.bytes_down,
            Some(&sample),
            e.uids.first().map(|u| u.as_str()),
        );
        dev.tagging = None;
        self.inner.event(&Event::Session(s.event.clone()));
        for b in s.bursts {
            let a = ActivityEvent {
                direction: Some(activity::direction(b.up, b.down).into()),
                client: Some(b.client.name().into()),
                ts: b.start,
                device: s.event.device.clone(),
                activity: ActivityKind::MessageBurst,
                end: b.end,
                duration: activity::round_us(b.end - b.start),
                packets: b.packets,
                bytes_up: b.up,
                bytes_down: b.down,
                endpoint: Some(b.client.endpoint().into()),
                session: Some(sid.clone()),
                uids: vec![b.uid],
                app: b.app,
                app_uid: b.app_uid,
                ..ActivityEvent::default()
            };
            self.emit_activity(a);
        }
    }

    fn advance(&mut self, ts: f64) {
        self.watermark = self.watermark.max(ts);
        if self.watermark >= self.next_settle && (!self.bursts.is_empty() || !self.calls.is_empty())
        {
            self.next_settle = self.watermark + SETTLE_EVERY_SECS;
            self.settle(false);
        }
    }

    fn dhcp(&mut self, d: &crate::record::events::DhcpEvent) {
        let Some(mac) = d.mac.clone() else { return };
        for ip in [d.requested_ip, d.assigned_ip].into_iter().flatten() {
            self.learn_ip(IpAddr::V4(ip), &mac);
        }
        let dev = self.device(&mac, d.ts);
        dev.seen(d.ts, d.ts);
        dev.mac = Some(mac);
        if let Some(ip) = d.assigned_ip {
            dev.address(IpAddr::V4(ip));
        }
        let lan = [
            (Plain::DhcpHostname, d.hostname.clone()),
            (Plain::DhcpVendorClass, d.vendor_class.clone()),
            (
                Plain::DhcpParameterRequestList,
                (!d.parameter_request_list.is_empty()).then(|| {
                    d.parameter_request_list.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
                }),
            ),
        ];
        for (signal, value) in lan {
            if let Some(v) = value {
                dev.evidence(signal, d.ts, 0, Some(&v), Some(&d.uid));
            }
        }
        dev.hostname = d.hostname.clone().or(dev.hostname.take());
        dev.vendor_class = d.vendor_class.clone().or(dev.vendor_class.take());
        if !d.parameter_request_list.is_empty() {
            dev.prl = d.parameter_request_list.clone();
        }
    }

    fn arp(&mut self, a: &crate::record::observed::ArpEvent) {
        let ip = IpAddr::V4(a.ip);
        if local::not_a_host(ip) || !self.local.contains(ip) {
            return;
        }
        self.learn_ip(ip, &a.mac);
        let dev = self.device(&a.mac, a.ts);
        dev.seen(a.ts, a.ts);
        dev.mac = Some(a.mac.clone());
        dev.address(ip);
    }

    fn http(&mut self, h: &HttpEvent) {
        if self.http.len() >= MAX_MAP {
            self.http.clear();
        }
        let seen =
            HttpSeen { user_agent: h.user_agent.clone(), cookie_names: h.cookie_names.clone() };
        self.http.insert(h.uid.clone(), seen);
    }
}

/// A record's app as the exposure map names it: the app's name, else `uid:N`; `None` when
/// PCAPdroid named none (and in every other capture).
fn app_key(rec: &FlowRecord) -> Option<String> {
    match (&rec.app, rec.app_uid) {
        (Some(n), _) => Some(n.to_string()),
        (None, Some(u)) => Some(format!("uid:{u}")),
        (None, None) => None,
    }
}

/// Accounts a flow of a known Android app (PCAPdroid's trailer) to its device.
fn app_flow(dev: &mut Device, rec: &FlowRecord, local_is_orig: bool) {
    let Some(name) = app_key(rec) else { return };
    let name = name.as_str();
    let (up, down) = if local_is_orig {
        (rec.orig_bytes, rec.resp_bytes)
    } else {
        (rec.resp_bytes, rec.orig_bytes)
    };
    dev.app_flow(name, rec.app_uid, rec.service.as_deref().map(|s| (s, up, down)));
}

/// Country and carrier of the public addresses Meta saw (STUN answers, the device's global
/// address): looked up once per device at the end, never for a private address or a peer.
fn public_address_facts(dev: &mut Device, geo: &Geo, cat: &Catalogue) {
    let mut addrs: Vec<(IpAddr, f64, Option<String>)> = Vec::new();
    for signal in [Plain::PublicAddress, Plain::GlobalAddress] {
        if let Some(t) = dev.tallies.get(signal.name()) {
            let uid = t.uids.first().cloned();
            addrs.extend(
                t.samples
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .map(|ip| (ip, t.first, uid.clone())),
            );
        }
    }
    for (ip, ts, uid) in addrs {
        if !local::geolocatable(ip) {
            dev.evidence(
                Plain::PublicCountry,
                ts,
                0,
                Some("unknown (reserved address)"),
                uid.as_deref(),
            );
            continue;
        }
        let info = geo.lookup(ip);
        let cc = match (info.cc.as_deref(), geo.country_path()) {
            (Some(cc), _) => cc,
            (None, Some(_)) => "unknown (not in the country database)",
            (None, None) => "unknown (no country database: see leakscope geo status)",
        };
        dev.evidence(Plain::PublicCountry, ts, 0, Some(cc), uid.as_deref());
        if cat.mobile_carriers.matches(info.asn, info.as_org.as_deref()) {
            let asn = info.asn.map_or_else(String::new, |a| format!("AS{a} "));
            let carrier = format!("{asn}{}", info.as_org.as_deref().unwrap_or(""));
            dev.evidence(Plain::MobileCarrier, ts, 0, Some(carrier.trim()), uid.as_deref());
        }
    }
}

impl<S: RecordSink> RecordSink for ExposureSink<S> {
    fn flow(&mut self, rec: &mut FlowRecord) {
        let (id, ip, mac) = self.identify(rec);
        let local_is_orig = ip == rec.orig_h;
        let dev = self.device(&id, rec.ts);
        dev.seen(rec.ts, rec.ts + rec.duration);
        dev.flows += 1;
        dev.address(ip);
        if mac.is_some() {
            dev.mac = mac;
        }
        if rec.service.is_some() {
            self.meta_flow(&id, rec, local_is_orig, ip);
        }
        if rec.app.is_some() || rec.app_uid.is_some() {
            app_flow(self.device(&id, rec.ts), rec, local_is_orig);
        }
        if rec.end_reason != EndReason::ActiveTimeout {
            if !self.http.is_empty() {
                self.http.remove(&rec.uid);
            }
            if !self.chat_uids.is_empty() {
                self.chat_uids.remove(&rec.uid);
            }
            if !self.stun.is_empty() {
                self.stun.remove(&rec.uid);
            }
        }
        let end = rec.ts + rec.duration;
        rec.activity = None;
        rec.device = Some(id.into());
        self.inner.flow(rec);
        self.advance(end);
    }

    fn event(&mut self, ev: &Event) {
        match ev {
            Event::Dhcp(d) => self.dhcp(d),
            Event::Arp(a) => self.arp(a),
            Event::Http(h) => self.http(h),
            Event::Stun(s) => {
                if self.stun.len() >= MAX_MAP {
                    self.stun.clear();
                }
                self.stun.insert(s.uid.clone(), s.mapped_address.ip());
            }
            _ => {}
        }
        self.inner.event(ev);
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.settle(true);
        let devices: Vec<Device> = self.devices.drain().map(|(_, d)| d).collect();
        self.write_devices(devices);
        if self.devices_evicted > 0 {
            tracing::warn!(
                "devices: {} written early and forgotten (more than --max-devices {} at once)",
                self.devices_evicted,
                self.cfg.max_devices
            );
        }
        // What the caps pushed out early: said once at the end, like the devices above.
        let Overflow { calls_forced, sessions_forced } = self.overflow;
        if calls_forced > 0 {
            tracing::warn!(
                "calls: {calls_forced} written before they ended (more than {} call setups pending at once)",
                self.cfg.max_pending_calls
            );
        }
        if sessions_forced > 0 {
            tracing::warn!(
                "sessions: written early {sessions_forced} time(s) (more than {} message bursts pending at once)",
                self.cfg.max_pending_bursts
            );
        }
        self.inner.finish()
    }

    fn reopen(&mut self) -> Result<(), SinkError> {
        self.inner.reopen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_operated_needs_more_than_a_name() {
        let op = |ev: &[&str]| meta_operated(&ev.iter().map(|e| e.to_string()).collect::<Vec<_>>());
        // An Instagram name on an Akamai address (http_ipv6.pcap, tls_2_reasms.pcapng).
        assert!(!op(&["sni:i.instagram.com"]));
        assert!(!op(&["http:s-static.ak.facebook.com"]));
        assert!(op(&["http:www.facebook.com", "prefix:173.252.64.0/18", "asn:AS32934"]));
        // 2015 WhatsApp servers outside Meta's prefixes: the chat preface answers for them.
        assert!(op(&["sig:whatsapp_preface", "dns:e12.whatsapp.net"]));
        // A call's peer-to-peer leg goes to the other party, not to Meta.
        assert!(!op(&["sig:stun_whatsapp_relay", "call_socket:10.0.0.2:4000"]));
        assert!(op(&["relay:157.240.1.1:3478"]));
    }
}
