//! The derived events of `events.jsonl`: `device`, `session`, `activity`, `exposure`. Times are
//! epoch seconds with µs precision (packet time). `docs/schema.md` documents every key.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A local device and what it did with Meta (written at the end of the input).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DeviceEvent {
    /// First time the device was seen.
    pub ts: f64,
    /// Stable id: the MAC when known, else the local address.
    pub device: String,
    /// MAC address, when the link type shows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Vendor of the MAC's OUI (IEEE registry), when known; `locally administered` for random MACs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oui_vendor: Option<String>,
    /// Every address seen for the device (DHCP, ARP, flow sources), in order of first sight.
    pub addresses: Vec<IpAddr>,
    /// DHCP host name (option 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// DHCP vendor class (option 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    /// DHCP parameter request list (option 55).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_request_list: Vec<u8>,
    /// First packet time.
    pub first_seen: f64,
    /// Last packet time.
    pub last_seen: f64,
    /// Flow records of the device.
    pub flows: u64,
    /// Flow records to Meta services.
    pub meta_flows: u64,
    /// Payload bytes sent to Meta.
    pub meta_bytes_up: u64,
    /// Payload bytes received from Meta.
    pub meta_bytes_down: u64,
    /// Per Meta service: flows, bytes, endpoints.
    #[serde(default)]
    pub services: Vec<ServiceTotals>,
    /// Meta contacts per hour (UTC hours with at least one flow).
    #[serde(default)]
    pub hours: Vec<HourTotals>,
    /// Oldest hours left out of `hours` (a device in touch with Meta over more than 31 days
    /// of hours; the totals above still count them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hours_dropped: u64,
    /// Usage sessions: count, time, first and last, sessions per hour of day.
    #[serde(default)]
    pub sessions: SessionStats,
    /// Activities by kind: `{"call": 1, "message_burst": 3, …}`.
    #[serde(default)]
    pub activities: std::collections::BTreeMap<String, u64>,
    /// User-Agents seen in cleartext HTTP to Meta hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_agents: Vec<String>,
    /// JA4 fingerprints of ClientHellos sent to Meta.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ja4: Vec<String>,
    /// Per Android app (PCAPdroid captures with the trailer): flows and the Meta services it
    /// reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppTotals>,
}

/// What one Android app of a device did, from PCAPdroid's per-packet trailer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppTotals {
    /// App or package name (`uid:N` when only the uid is known).
    pub app: String,
    /// Android uid, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<i32>,
    /// Flow records of the app.
    pub flows: u64,
    /// Of those, flows to Meta services.
    pub meta_flows: u64,
    /// Payload bytes the app sent to Meta.
    pub meta_bytes_up: u64,
    /// Payload bytes it received from Meta.
    pub meta_bytes_down: u64,
    /// Meta services it reached (`whatsapp`, `facebook`, …), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// Totals for one Meta service.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServiceTotals {
    /// Service name, e.g. `whatsapp`.
    pub service: String,
    /// Flow records.
    pub flows: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Payload bytes received.
    pub bytes_down: u64,
    /// Endpoints contacted (`service.role`), with flow counts.
    pub endpoints: Vec<EndpointCount>,
}

/// Flows to one endpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EndpointCount {
    /// Endpoint, e.g. `whatsapp.chat`.
    pub endpoint: String,
    /// Flow records.
    pub flows: u64,
}

/// Meta contacts in one hour.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HourTotals {
    /// Start of the hour, epoch seconds.
    pub hour: i64,
    /// Flow records to Meta starting in this hour.
    pub flows: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Payload bytes received.
    pub bytes_down: u64,
}

/// A device's sessions in short.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionStats {
    /// Number of sessions.
    pub count: u64,
    /// Sum of their durations, seconds.
    pub total_secs: f64,
    /// Longest session, seconds.
    pub longest_secs: f64,
    /// Start of the first session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<f64>,
    /// End of the last session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<f64>,
    /// Sessions started in each hour of the day (UTC), index 0–23.
    pub by_hour: Vec<u32>,
}

/// A usage session: activity on a device's WhatsApp chat connections between quiet gaps.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionEvent {
    /// Session start (first non-keepalive traffic).
    pub ts: f64,
    /// Device.
    pub device: String,
    /// Android app whose chat connections carried it; sessions are per device and app (PCAPdroid captures that name one): package or app name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Android uid of that app, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<i32>,
    /// Session id, `S` and a sequence number (joins the `activity` events of its bursts).
    pub session: String,
    /// End (last non-keepalive traffic).
    pub end: f64,
    /// End minus start, seconds.
    pub duration: f64,
    /// Message bursts in the session.
    pub bursts: u64,
    /// Payload bytes sent in its bursts.
    pub bytes_up: u64,
    /// Payload bytes received in its bursts.
    pub bytes_down: u64,
    /// Chat flows that carried it.
    pub uids: Vec<String>,
    /// Kinds of client behind its bursts: `app`, `web`.
    #[serde(default)]
    pub clients: Vec<String>,
}

/// Kinds of device activity (the `activity` events).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Messages on a chat connection.
    #[default]
    MessageBurst,
    /// A media item sent.
    MediaUpload,
    /// A media item received.
    MediaDownload,
    /// A call with media both ways.
    Call,
    /// A call set up without media.
    CallAttempt,
    /// Phone number registration.
    Registration,
    /// Logs sent to the service.
    Telemetry,
}

impl ActivityKind {
    /// Every kind, in the order the report lists them.
    pub const ALL: [ActivityKind; 7] = [
        ActivityKind::MessageBurst,
        ActivityKind::MediaUpload,
        ActivityKind::MediaDownload,
        ActivityKind::Call,
        ActivityKind::CallAttempt,
        ActivityKind::Registration,
        ActivityKind::Telemetry,
    ];

    /// The name written in the outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::MessageBurst => "message_burst",
            ActivityKind::MediaUpload => "media_upload",
            ActivityKind::MediaDownload => "media_download",
            ActivityKind::Call => "call",
            ActivityKind::CallAttempt => "call_attempt",
            ActivityKind::Registration => "registration",
            ActivityKind::Telemetry => "telemetry",
        }
    }
}

impl std::fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a device did with Meta.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ActivityEvent {
    /// Start.
    pub ts: f64,
    /// Device.
    pub device: String,
    /// Android app whose flows carried it (PCAPdroid captures that name one): package or app name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Android uid of that app, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<i32>,
    /// What kind of activity.
    pub activity: ActivityKind,
    /// End.
    pub end: f64,
    /// End minus start, seconds.
    pub duration: f64,
    /// Packets (both directions).
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Payload bytes received.
    pub bytes_down: u64,
    /// Endpoint of the flows, e.g. `whatsapp.media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Message bursts and media items: `sent` (by the device), `received`, `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Message bursts: `app` (chat connection) or `web` (WhatsApp Web).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Calls and call attempts: first packet of the call's setup (relay allocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<f64>,
    /// Calls: setup to answer (first media); call attempts: setup to the last packet, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ringing_secs: Option<f64>,
    /// Calls: answer to the last packet (hang-up), seconds; equals `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_secs: Option<f64>,
    /// Calls: which side sent the first packet of the flow whose media came first: `device`, or
    /// `remote` (a relay never does; the other party may, to the device's call socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<String>,
    /// Calls: mean bitrate of both directions, kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
    /// Calls: `audio` or `video`, guessed from the bitrate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// Message bursts: the session they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Flows supporting it.
    pub uids: Vec<String>,
}

/// A policy field and what a device exposed of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExposureEvent {
    /// First evidence (or the device's first sight when there is none).
    pub ts: f64,
    /// Device.
    pub device: String,
    /// Policy field id (`rules/policy.toml`).
    pub field: String,
    /// Short name for reports, when the catalogue gives one (e.g. `other Meta services`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// How observable the field normally is: `observed`, `inferred` or `not_observable`, from the
    /// catalogue.
    pub observability: String,
    /// What this capture shows, the strongest grade of its evidence: `observed` (the datum
    /// itself reached a Meta-operated endpoint), `inferred` (follows from timing, sizes,
    /// fingerprints, address databases), `lan_only` (seen on the LAN, not sent to Meta on the
    /// wire); without evidence `not_seen`, or `not_observable`.
    pub status: String,
    /// What Meta received, as far as the wire shows: e.g. the public address, its country, the
    /// masked phone number, the app version; the catalogue's fallback when no evidence names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Remarks: `seen in clear — legacy client` (cleartext raised a normally not observable
    /// field), `seen in clear`, `no rule names an endpoint matching …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Pieces of evidence (flows, events, sessions).
    pub count: u64,
    /// Payload bytes of the flows behind the evidence, both directions.
    pub bytes: u64,
    /// Last evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<f64>,
    /// Evidence, one short string each: `signal=value` or `signal xN`, marked ` (lan)` when seen
    /// on the LAN only and ` (related)` when listed without grading the field.
    pub evidence: Vec<String>,
    /// Some of the flows behind the evidence.
    pub uids: Vec<String>,
    /// Android apps whose flows or activities are behind the evidence (PCAPdroid captures that
    /// name them), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
