//! The HTML report: one self-contained file (inline CSS, SVG and a little JS; a Content Security
//! Policy that lets it fetch nothing). The page is laid out by a template (`report.html`,
//! minijinja) that HTML-escapes every value it writes; this module only computes what to show:
//! a view model of plain strings and numbers, and chart geometry from [`super::scale`].

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::load::Flow;
use super::scale::{self, Tick};
use super::{Report, bytes, duration, time};
use crate::record::exposure::{ActivityKind, DeviceEvent, ExposureEvent};

const TEMPLATE: &str = include_str!("report.html");

/// Flow table rows at most: Meta flows first, then the largest; a note says how many are left out.
pub const MAX_FLOW_ROWS: usize = 2000;
/// Endpoint rows shown per device before the rest fold away.
const ENDPOINTS_SHOWN: usize = 12;

/// Colours of activity kinds on the timeline.
const KINDS: [(&str, &str); 7] = [
    ("message_burst", "#2a9d8f"),
    ("media_upload", "#e76f51"),
    ("media_download", "#f4a261"),
    ("call", "#9b5de5"),
    ("call_attempt", "#c8b6e2"),
    ("registration", "#d62828"),
    ("telemetry", "#577590"),
];

/// Colours of services in the bytes-over-time chart; traffic to anything else is "other".
const SERVICES: [(&str, &str); 7] = [
    ("whatsapp", "#1f9d57"),
    ("facebook", "#1d5fd1"),
    ("instagram", "#c13584"),
    ("messenger", "#8a3ffc"),
    ("threads", "#333a40"),
    ("meta", "#577590"),
    ("other", "#b8bfc7"),
];

/// One SVG shape; the template draws each kind.
#[derive(Serialize)]
#[serde(tag = "k")]
enum Shape {
    #[serde(rename = "rect")]
    Rect { x: f64, y: f64, w: f64, h: f64, fill: &'static str, title: String },
    #[serde(rename = "line")]
    Line { x1: f64, y1: f64, x2: f64, y2: f64 },
    #[serde(rename = "text")]
    Text { x: f64, y: f64, anchor: &'static str, text: String, bold: bool },
}

/// A chart: drawn in a `w`×`h` viewBox, shown at the width of its card.
#[derive(Serialize)]
struct Chart {
    w: f64,
    h: f64,
    label: &'static str,
    shapes: Vec<Shape>,
}

impl Chart {
    fn new(w: f64, h: f64, label: &'static str) -> Chart {
        Chart { w, h, label, shapes: Vec::new() }
    }
    fn text(&mut self, x: f64, y: f64, anchor: &'static str, text: impl Into<String>) {
        self.shapes.push(Shape::Text { x, y, anchor, text: text.into(), bold: false });
    }
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &'static str, title: String) {
        self.shapes.push(Shape::Rect { x, y, w: w.max(0.5), h: h.max(0.5), fill, title });
    }
    /// Vertical grid lines and labels (time, and the date under it where it changes).
    fn axis(&mut self, ticks: &[Tick], x: impl Fn(f64) -> f64, top: f64, bottom: f64) {
        for t in ticks {
            let xx = x(t.t);
            self.shapes.push(Shape::Line { x1: xx, y1: top, x2: xx, y2: bottom });
            self.text(xx, bottom + 13.0, "middle", t.label.clone());
            if let Some(d) = &t.date {
                self.shapes.push(Shape::Text {
                    x: xx,
                    y: bottom + 26.0,
                    anchor: "middle",
                    text: d.clone(),
                    bold: true,
                });
            }
        }
    }
}

#[derive(Serialize)]
struct Cell {
    status: String,
    short: &'static str,
    title: String,
}

#[derive(Serialize)]
struct DeviceRow {
    anchor: String,
    id: String,
    name: String,
    vendor: String,
    addresses: String,
    meta_flows: u64,
    sent: String,
    received: String,
    share: String,
    share_v: f64,
    sessions: u64,
    calls: usize,
    observed: usize,
    inferred: usize,
    fields: Vec<Cell>,
    services: Vec<(String, u64)>,
}

#[derive(Serialize)]
struct EndpointRow {
    host: String,
    addresses: String,
    service: String,
    endpoint: String,
    cc: String,
    as_name: String,
    flows: u64,
    sent: String,
    received: String,
}

#[derive(Serialize)]
struct ActivityRow {
    kind: String,
    when: String,
    duration: String,
    sent: String,
    received: String,
    detail: String,
    uids: String,
    flows: usize,
}

#[derive(Serialize)]
struct PolicyRow {
    field: String,
    observability: String,
    status: String,
    note: String,
    note_class: &'static str,
    value: String,
    count: u64,
    bytes: String,
    when: String,
    evidence: Vec<String>,
}

#[derive(Serialize)]
struct Share {
    pct: String,
    width: f64,
    meta: String,
    total: String,
}

#[derive(Serialize)]
struct DeviceView {
    anchor: String,
    title: String,
    facts: Vec<(&'static str, String)>,
    share: Option<Share>,
    endpoints: Vec<EndpointRow>,
    endpoints_more: Vec<EndpointRow>,
    timeline: Chart,
    traffic: Option<Chart>,
    services: Chart,
    hours: Chart,
    activities: Vec<ActivityRow>,
    policy: Vec<PolicyRow>,
}

#[derive(Serialize)]
struct FlowRow {
    uid: String,
    dev_id: String,
    ts: f64,
    when: String,
    device: String,
    service: String,
    endpoint: String,
    host: String,
    remote: String,
    proto: String,
    cc: String,
    as_name: String,
    up: u64,
    down: u64,
    sent: String,
    received: String,
    dur_v: f64,
    dur: String,
}

#[derive(Serialize)]
struct ProvenanceView {
    program: String,
    command: String,
    started: String,
    ended: String,
    rules: String,
    rule_files: usize,
    inputs: Vec<(String, String, String)>,
}

#[derive(Serialize)]
struct Page {
    span: String,
    dropped: usize,
    n_devices: usize,
    n_meta: usize,
    sources: Vec<String>,
    provenance: Option<ProvenanceView>,
    rows: Vec<DeviceRow>,
    quiet: Vec<String>,
    fields: Vec<(String, String)>,
    services: Vec<String>,
    devices: Vec<DeviceView>,
    has_flows: bool,
    flows: Vec<FlowRow>,
    flows_total: usize,
    device_names: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    service_colours: Vec<(&'static str, &'static str)>,
}

/// Escapes text for HTML content and attribute values (the template engine does this for the
/// page; kept for callers that write HTML by hand).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let page = page(r);
    let mut env = minijinja::Environment::new();
    // `.html`: the default callback escapes every `{{ value }}` for HTML.
    env.add_template("report.html", TEMPLATE).expect("the report template parses");
    env.get_template("report.html")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&page))))
        .expect("the report template renders")
}

/// `a – b`, with b's date only when it is another day.
fn range(a: f64, b: f64) -> String {
    let (ta, tb) = (time(a), time(b));
    if ta[..10] == tb[..10] { format!("{ta} – {}", &tb[11..]) } else { format!("{ta} – {tb}") }
}

fn name_of(d: &DeviceEvent) -> String {
    d.hostname.clone().unwrap_or_default()
}

fn short(status: &str) -> &'static str {
    match status {
        "observed" => "obs",
        "inferred" => "inf",
        "lan_only" => "lan",
        "not_observable" => "n/o",
        _ => "–",
    }
}

/// Per device: (all bytes, Meta bytes) from the flows.
fn totals(r: &Report) -> HashMap<&str, (u64, u64)> {
    let mut m: HashMap<&str, (u64, u64)> = HashMap::new();
    for f in &r.flows {
        let e = m.entry(f.device.as_str()).or_default();
        let b = f.bytes_up + f.bytes_down;
        e.0 += b;
        if f.service.is_some() {
            e.1 += b;
        }
    }
    m
}

fn page(r: &Report) -> Page {
    let span = scale::span(
        r.devices
            .iter()
            .flat_map(|d| [d.first_seen, d.last_seen])
            .chain(r.activities.iter().flat_map(|a| [a.ts, a.end])),
    );
    let totals = totals(r);
    let mut fields: Vec<(String, String)> = Vec::new();
    for e in &r.exposures {
        if !fields.iter().any(|(f, _)| *f == e.field) {
            fields.push((e.field.clone(), e.label.clone().unwrap_or_else(|| e.field.clone())));
        }
    }
    let mut services: Vec<String> = Vec::new();
    for d in &r.devices {
        for s in &d.services {
            if !services.contains(&s.service) {
                services.push(s.service.clone());
            }
        }
    }
    services.sort_by_key(|s| SERVICES.iter().position(|(n, _)| n == s).unwrap_or(99));
    // Devices with Meta contacts, busiest first; the others fold into one line.
    let mut meta: Vec<&DeviceEvent> = r.devices.iter().filter(|d| d.meta_flows > 0).collect();
    meta.sort_by(|a, b| b.meta_flows.cmp(&a.meta_flows).then_with(|| a.device.cmp(&b.device)));
    let anchors: HashMap<&str, String> =
        meta.iter().enumerate().map(|(i, d)| (d.device.as_str(), format!("dev-{i}"))).collect();
    let rows = meta
        .iter()
        .map(|d| device_row(r, d, &anchors[d.device.as_str()], &fields, &services, &totals))
        .collect();
    let quiet = r
        .devices
        .iter()
        .filter(|d| d.meta_flows == 0)
        .map(|d| {
            let mut s = d.device.clone();
            let extra: Vec<String> = d
                .hostname
                .iter()
                .cloned()
                .chain(d.addresses.iter().take(1).map(|a| a.to_string()))
                .filter(|x| *x != d.device)
                .collect();
            if !extra.is_empty() {
                s.push_str(&format!(" ({})", extra.join(", ")));
            }
            s
        })
        .collect();
    let devices =
        meta.iter().map(|d| device_view(r, d, &anchors[d.device.as_str()], &totals)).collect();
    let (flows, flows_total) = flow_rows(r);
    let device_names = r
        .devices
        .iter()
        .filter(|d| r.flows.iter().any(|f| f.device == d.device))
        .map(|d| (d.device.clone(), label_of(d)))
        .collect();
    Page {
        span: span.map(|(a, b, _)| format!("{} UTC", range(a, b))).unwrap_or_default(),
        dropped: span.map_or(0, |s| s.2),
        n_devices: r.devices.len(),
        n_meta: meta.len(),
        sources: r
            .sources
            .iter()
            .map(|p| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into()))
            .collect(),
        provenance: r.provenance.as_ref().map(|p| ProvenanceView {
            program: p.program.clone(),
            command: p.command.clone(),
            started: p.started.clone(),
            ended: p.ended.clone(),
            rules: p.rules.0.clone(),
            rule_files: p.rules.1,
            inputs: p
                .inputs
                .iter()
                .map(|(path, size, sha)| {
                    (path.clone(), size.map_or_else(String::new, bytes), sha.clone())
                })
                .collect(),
        }),
        rows,
        quiet,
        fields,
        services,
        devices,
        has_flows: r.has_flows,
        flows,
        flows_total,
        device_names,
        kinds: KINDS.to_vec(),
        service_colours: SERVICES.to_vec(),
    }
}

fn label_of(d: &DeviceEvent) -> String {
    match &d.hostname {
        Some(h) => format!("{h} ({})", d.device),
        None => d.device.clone(),
    }
}

fn share(totals: &HashMap<&str, (u64, u64)>, device: &str) -> Option<(f64, u64, u64)> {
    let (all, meta) = totals.get(device).copied()?;
    (all > 0).then(|| (meta as f64 / all as f64 * 100.0, meta, all))
}

fn pct(p: f64) -> String {
    if p > 0.0 && p < 0.1 { "<0.1 %".into() } else { format!("{p:.1} %") }
}

fn device_row(
    r: &Report,
    d: &DeviceEvent,
    anchor: &str,
    fields: &[(String, String)],
    services: &[String],
    totals: &HashMap<&str, (u64, u64)>,
) -> DeviceRow {
    let count = |status: &str| r.exposures_of(&d.device).filter(|e| e.status == status).count();
    let share = share(totals, &d.device);
    DeviceRow {
        anchor: anchor.to_string(),
        id: d.device.clone(),
        name: name_of(d),
        vendor: d.oui_vendor.clone().unwrap_or_default(),
        addresses: super::addresses(&d.addresses, 3),
        meta_flows: d.meta_flows,
        sent: bytes(d.meta_bytes_up),
        received: bytes(d.meta_bytes_down),
        share: share.map_or_else(|| "–".into(), |s| pct(s.0)),
        share_v: share.map_or(-1.0, |s| s.0),
        sessions: d.sessions.count,
        calls: r.activities_of(&d.device).filter(|a| a.activity == ActivityKind::Call).count(),
        observed: count("observed"),
        inferred: count("inferred"),
        fields: fields
            .iter()
            .map(|(f, label)| match r.exposures_of(&d.device).find(|e| e.field == *f) {
                Some(e) => Cell {
                    status: e.status.clone(),
                    short: short(&e.status),
                    title: format!("{label}: {}", e.status),
                },
                None => Cell {
                    status: String::new(),
                    short: "",
                    title: format!("{label}: does not apply"),
                },
            })
            .collect(),
        services: services
            .iter()
            .map(|s| {
                let b = d
                    .services
                    .iter()
                    .find(|x| x.service == *s)
                    .map_or(0, |x| x.bytes_up + x.bytes_down);
                (if b > 0 { bytes(b) } else { String::new() }, b)
            })
            .collect(),
    }
}

/// Apps (PCAPdroid captures) and the Meta services each reached.
fn apps_line(d: &DeviceEvent) -> Option<String> {
    let apps: Vec<String> = d
        .apps
        .iter()
        .filter(|a| !a.services.is_empty())
        .map(|a| format!("{} → {} ({} flows)", a.app, a.services.join(", "), a.meta_flows))
        .collect();
    (!apps.is_empty()).then(|| apps.join(" · "))
}

fn device_view(
    r: &Report,
    d: &DeviceEvent,
    anchor: &str,
    totals: &HashMap<&str, (u64, u64)>,
) -> DeviceView {
    let addrs: Vec<String> = d.addresses.iter().map(|a| a.to_string()).collect();
    let prl: Vec<String> = d.parameter_request_list.iter().map(u8::to_string).collect();
    let facts = [
        ("MAC vendor", d.oui_vendor.clone()),
        ("addresses", Some(addrs.join(", "))),
        ("DHCP vendor class", d.vendor_class.clone()),
        ("DHCP parameter list", (!prl.is_empty()).then(|| prl.join(","))),
        ("seen", Some(format!("{} UTC", range(d.first_seen, d.last_seen)))),
        (
            "Meta",
            Some(format!(
                "{} flows, {} sent, {} received",
                d.meta_flows,
                bytes(d.meta_bytes_up),
                bytes(d.meta_bytes_down)
            )),
        ),
        (
            "sessions",
            Some(format!(
                "{} (total {}, longest {})",
                d.sessions.count,
                duration(d.sessions.total_secs),
                duration(d.sessions.longest_secs)
            )),
        ),
        ("User-Agents", (!d.user_agents.is_empty()).then(|| d.user_agents.join(" · "))),
        ("apps reaching Meta", apps_line(d)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let flows: Vec<&Flow> = r.flows.iter().filter(|f| f.device == d.device).collect();
    let mut endpoints = endpoints(&flows);
    let endpoints_more = endpoints.split_off(endpoints.len().min(ENDPOINTS_SHOWN));
    let title = match &d.hostname {
        Some(h) => format!("{} — {h}", d.device),
        None => d.device.clone(),
    };
    DeviceView {
        anchor: anchor.to_string(),
        title,
        facts,
        share: share(totals, &d.device).map(|(p, m, a)| Share {
            pct: pct(p),
            width: (p * 10.0).round() / 10.0,
            meta: bytes(m),
            total: bytes(a),
        }),
        endpoints,
        endpoints_more,
        timeline: timeline(r, d),
        traffic: traffic(r, d, &flows),
        services: service_bars(d),
        hours: hour_bars(&d.sessions.by_hour),
        activities: r
            .activities_of(&d.device)
            .map(|a| ActivityRow {
                kind: a.activity.as_str().to_owned(),
                when: time(a.ts),
                duration: duration(a.duration),
                sent: bytes(a.bytes_up),
                received: bytes(a.bytes_down),
                detail: [
                    a.app.as_ref().map(|n| format!("app {n}")),
                    a.endpoint.clone(),
                    a.direction.clone(),
                    a.media.clone(),
                    a.client.clone(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
                uids: a.uids.join(" "),
                flows: a.uids.len(),
            })
            .collect(),
        policy: r.exposures_of(&d.device).map(policy_row).collect(),
    }
}

/// A device's endpoints: one row per host name (else address), Meta first, then by bytes.
fn endpoints(flows: &[&Flow]) -> Vec<EndpointRow> {
    struct Acc<'a> {
        addrs: Vec<&'a str>,
        service: Option<&'a str>,
        endpoint: Option<&'a str>,
        cc: Option<&'a str>,
        as_name: Option<String>,
        flows: u64,
        up: u64,
        down: u64,
    }
    let mut by: BTreeMap<&str, Acc> = BTreeMap::new();
    for f in flows {
        let host = f.server_name.as_deref().unwrap_or(&f.remote);
        let a = by.entry(host).or_insert(Acc {
            addrs: Vec::new(),
            service: None,
            endpoint: None,
            cc: None,
            as_name: None,
            flows: 0,
            up: 0,
            down: 0,
        });
        if !a.addrs.contains(&f.remote.as_str()) {
            a.addrs.push(&f.remote);
        }
        a.service = a.service.or(f.service.as_deref());
        a.endpoint = a.endpoint.or(f.endpoint.as_deref());
        a.cc = a.cc.or(f.cc.as_deref());
        if a.as_name.is_none() {
            a.as_name = match (f.asn, &f.as_org) {
                (Some(n), Some(o)) => Some(format!("AS{n} {o}")),
                (Some(n), None) => Some(format!("AS{n}")),
                (None, Some(o)) => Some(o.clone()),
                _ => None,
            };
        }
        a.flows += 1;
        a.up += f.bytes_up;
        a.down += f.bytes_down;
    }
    let mut v: Vec<(&str, Acc)> = by.into_iter().collect();
    v.sort_by(|a, b| {
        b.1.service
            .is_some()
            .cmp(&a.1.service.is_some())
            .then((b.1.up + b.1.down).cmp(&(a.1.up + a.1.down)))
    });
    v.into_iter()
        .map(|(host, a)| {
            let more = a.addrs.len().saturating_sub(3);
            let mut addresses = a.addrs.iter().take(3).copied().collect::<Vec<_>>().join(", ");
            if more > 0 {
                addresses.push_str(&format!(" … {more} more"));
            }
            EndpointRow {
                host: host.to_string(),
                addresses,
                service: a.service.unwrap_or("").to_string(),
                endpoint: a.endpoint.unwrap_or("").to_string(),
                cc: a.cc.unwrap_or("").to_string(),
                as_name: a.as_name.unwrap_or_default(),
                flows: a.flows,
                sent: bytes(a.up),
                received: bytes(a.down),
            }
        })
        .collect()
}

fn policy_row(e: &ExposureEvent) -> PolicyRow {
    let when = match e.last {
        Some(l) if e.count > 0 => range(e.ts, l),
        _ => String::new(),
    };
    let note = e.note.clone().unwrap_or_default();
    PolicyRow {
        field: e.label.clone().unwrap_or_else(|| e.field.clone()),
        observability: e.observability.clone(),
        status: e.status.clone(),
        note_class: if note.starts_with("seen in clear") { "clear" } else { "remark" },
        note,
        value: e.value.clone().unwrap_or_default(),
        count: e.count,
        bytes: if e.bytes > 0 { bytes(e.bytes) } else { String::new() },
        when,
        evidence: e.evidence.clone(),
    }
}

const W: f64 = 1080.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 16.0;

/// The x scale of a device's charts: its span (first and last seen, sessions, activities), without
/// implausible timestamps.
fn x_scale(r: &Report, d: &DeviceEvent) -> (f64, f64) {
    let times = [d.first_seen, d.last_seen]
        .into_iter()
        .chain(r.sessions_of(&d.device).flat_map(|s| [s.ts, s.end]))
        .chain(r.activities_of(&d.device).flat_map(|a| [a.ts, a.end]));
    let (t0, t1, _) = scale::span(times).unwrap_or((0.0, 1.0, 0));
    (t0, t1.max(t0 + 1.0))
}

fn timeline(r: &Report, d: &DeviceEvent) -> Chart {
    let (t0, t1) = x_scale(r, d);
    let x = |t: f64| LEFT + (t.clamp(t0, t1) - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    let row_h = 22.0;
    let rows = 2 + KINDS.len();
    let bottom = 8.0 + rows as f64 * row_h;
    let mut c = Chart::new(W, bottom + 30.0, "timeline of Meta contacts");
    c.axis(&scale::ticks(t0, t1, 8), x, 4.0, bottom);
    // Row 0: Meta flows per hour (bar height ∝ flows).
    c.text(4.0, 18.0, "start", "flows / hour");
    let max = d.hours.iter().map(|h| h.flows).max().unwrap_or(1).max(1) as f64;
    for hr in &d.hours {
        let (a, b) = (x(hr.hour as f64), x(hr.hour as f64 + 3600.0));
        let bh = (hr.flows as f64 / max * (row_h - 6.0)).max(1.0);
        c.rect(
            a,
            4.0 + row_h - bh,
            (b - a - 1.0).max(1.0),
            bh,
            "#1d3557",
            format!(
                "{}: {} flows, {} sent, {} received",
                time(hr.hour as f64),
                hr.flows,
                bytes(hr.bytes_up),
                bytes(hr.bytes_down)
            ),
        );
    }
    c.text(4.0, 18.0 + row_h, "start", "sessions");
    for s in r.sessions_of(&d.device) {
        let (a, b) = (x(s.ts), x(s.end));
        let title = format!(
            "{}{} {} for {}, {} bursts",
            s.session,
            s.app.as_deref().map(|a| format!(" ({a})")).unwrap_or_default(),
            time(s.ts),
            duration(s.duration),
            s.bursts
        );
        c.rect(a, 8.0 + row_h, (b - a).max(3.0), 14.0, "#264653", title);
    }
    for (k, (kind, colour)) in KINDS.iter().enumerate() {
        let y = 8.0 + (k + 2) as f64 * row_h;
        c.text(4.0, y + 10.0, "start", *kind);
        for a in r.activities_of(&d.device).filter(|a| a.activity.as_str() == *kind) {
            let (xa, xb) = (x(a.ts), x(a.end));
            let title = format!(
                "{kind}{} {} {}, {} sent, {} received{}",
                a.app.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                time(a.ts),
                duration(a.duration),
                bytes(a.bytes_up),
                bytes(a.bytes_down),
                a.media.as_deref().map(|m| format!(", {m}")).unwrap_or_default()
            );
            c.rect(xa, y, (xb - xa).max(3.0), 14.0, colour, title);
        }
    }
    c
}

/// Bytes over time: sent above the axis, received below, stacked by service (others grey).
fn traffic(r: &Report, d: &DeviceEvent, flows: &[&Flow]) -> Option<Chart> {
    if flows.is_empty() {
        return None;
    }
    let (t0, t1) = x_scale(r, d);
    let step = scale::nice_step(t1 - t0, 60);
    let start = scale::floor_to(t0, step);
    let n = (((t1 - start) / step).floor() as usize + 1).min(200);
    // buckets[i][service] = (up, down); a flow's bytes spread evenly over its duration.
    let mut buckets = vec![[(0u64, 0u64); SERVICES.len()]; n];
    for f in flows {
        let s = f
            .service
            .as_deref()
            .and_then(|s| SERVICES.iter().position(|(n, _)| *n == s))
            .unwrap_or(SERVICES.len() - 1);
        let (a, b) = (f.ts.clamp(start, t1), f.end.clamp(start, t1).max(f.ts.clamp(start, t1)));
        let (ia, ib) = (((a - start) / step) as usize, ((b - start) / step) as usize);
        let (ia, ib) = (ia.min(n - 1), ib.min(n - 1));
        let parts = (ib - ia + 1) as u64;
        for (i, bucket) in buckets.iter_mut().enumerate().take(ib + 1).skip(ia) {
            let last = i == ib;
            let share = |v: u64| v / parts + if last { v % parts } else { 0 };
            bucket[s].0 += share(f.bytes_up);
            bucket[s].1 += share(f.bytes_down);
        }
    }
    let max_up = buckets.iter().map(|b| b.iter().map(|x| x.0).sum::<u64>()).max().unwrap_or(0);
    let max_down = buckets.iter().map(|b| b.iter().map(|x| x.1).sum::<u64>()).max().unwrap_or(0);
    let half = 70.0;
    let (top, mid) = (6.0, 6.0 + half);
    let bottom = mid + half;
    let mut c = Chart::new(W, bottom + 30.0, "bytes over time, per service");
    // The same x scale as the timeline above it; the first and last buckets are cut to the span.
    let x = |t: f64| LEFT + (t.clamp(t0, t1) - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    c.axis(&scale::ticks(t0, t1, 8), x, top, bottom);
    c.shapes.push(Shape::Line { x1: LEFT, y1: mid, x2: W - RIGHT, y2: mid });
    c.text(4.0, top + 12.0, "start", "sent ↑");
    c.text(4.0, top + 26.0, "start", format!("max {}", bytes(max_up)));
    c.text(4.0, bottom - 16.0, "start", "received ↓");
    c.text(4.0, bottom - 2.0, "start", format!("max {}", bytes(max_down)));
    for (i, b) in buckets.iter().enumerate() {
        let b0 = start + i as f64 * step;
        let (xx, bw) = (x(b0), x(b0 + step) - x(b0) + 0.5);
        let (mut yu, mut yd) = (mid, mid);
        for (s, (up, down)) in b.iter().enumerate() {
            let (name, colour) = SERVICES[s];
            let when = time(start + i as f64 * step);
            if *up > 0 {
                let h = *up as f64 / max_up.max(1) as f64 * (half - 2.0);
                yu -= h;
                c.rect(
                    xx,
                    yu,
                    (bw - 0.5).max(0.5),
                    h,
                    colour,
                    format!("{when} +{}: {name} {} sent", duration(step), bytes(*up)),
                );
            }
            if *down > 0 {
                let h = *down as f64 / max_down.max(1) as f64 * (half - 2.0);
                c.rect(
                    xx,
                    yd,
                    (bw - 0.5).max(0.5),
                    h,
                    colour,
                    format!("{when} +{}: {name} {} received", duration(step), bytes(*down)),
                );
                yd += h;
            }
        }
    }
    Some(c)
}

fn service_bars(d: &DeviceEvent) -> Chart {
    let max =
        d.services.iter().map(|s| s.bytes_up.max(s.bytes_down)).max().unwrap_or(1).max(1) as f64;
    let mut c = Chart::new(W, 10.0 + d.services.len() as f64 * 40.0, "bytes per service");
    for (i, s) in d.services.iter().enumerate() {
        let y = 6.0 + i as f64 * 40.0;
        c.text(4.0, y + 20.0, "start", s.service.clone());
        for (j, (v, colour, what)) in
            [(s.bytes_up, "#e76f51", "sent"), (s.bytes_down, "#2a9d8f", "received")]
                .into_iter()
                .enumerate()
        {
            let w = (v as f64 / max * (W - LEFT - 200.0)).max(1.0);
            let yy = y + j as f64 * 16.0;
            c.rect(LEFT, yy, w, 13.0, colour, format!("{} {what}", bytes(v)));
            c.text(LEFT + w + 6.0, yy + 11.0, "start", format!("{} {what}", bytes(v)));
        }
    }
    c
}

fn hour_bars(by_hour: &[u32]) -> Chart {
    let max = by_hour.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (h, bw) = (110.0, 30.0);
    let mut c = Chart::new(24.0 * bw + 20.0, h, "sessions per hour of day");
    for hour in 0..24 {
        let n = by_hour.get(hour).copied().unwrap_or(0);
        let bh = n as f64 / max * 70.0;
        let xx = 10.0 + hour as f64 * bw;
        c.rect(xx, 84.0 - bh, bw - 4.0, bh, "#264653", format!("{hour:02}:00 {n} session(s)"));
        c.text(xx + bw / 2.0 - 2.0, h - 10.0, "middle", format!("{hour:02}"));
        if n > 0 {
            c.text(xx + bw / 2.0 - 2.0, 80.0 - bh, "middle", n.to_string());
        }
    }
    c
}

/// The flow table: at most [`MAX_FLOW_ROWS`], the flows of activities and Meta flows first, then
/// the largest; in time order.
fn flow_rows(r: &Report) -> (Vec<FlowRow>, usize) {
    let names: HashMap<&str, &DeviceEvent> =
        r.devices.iter().map(|d| (d.device.as_str(), d)).collect();
    let mut picked: Vec<&Flow> = r.flows.iter().collect();
    if picked.len() > MAX_FLOW_ROWS {
        picked.sort_by(|a, b| {
            b.service
                .is_some()
                .cmp(&a.service.is_some())
                .then((b.bytes_up + b.bytes_down).cmp(&(a.bytes_up + a.bytes_down)))
        });
        picked.truncate(MAX_FLOW_ROWS);
        picked.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    }
    let rows = picked
        .into_iter()
        .map(|f| FlowRow {
            uid: f.uid.clone(),
            dev_id: f.device.clone(),
            ts: f.ts,
            when: time(f.ts),
            device: names.get(f.device.as_str()).map_or_else(|| f.device.clone(), |d| label_of(d)),
            service: f.service.clone().unwrap_or_default(),
            endpoint: f.endpoint.clone().unwrap_or_default(),
            host: f.server_name.clone().unwrap_or_default(),
            remote: if f.remote.contains(':') {
                format!("[{}]:{}", f.remote, f.port)
            } else {
                format!("{}:{}", f.remote, f.port)
            },
            proto: f.proto.clone(),
            cc: f.cc.clone().unwrap_or_default(),
            as_name: f
                .as_org
                .clone()
                .or_else(|| f.asn.map(|n| format!("AS{n}")))
                .unwrap_or_default(),
            up: f.bytes_up,
            down: f.bytes_down,
            sent: bytes(f.bytes_up),
            received: bytes(f.bytes_down),
            dur_v: f.end - f.ts,
            dur: duration(f.end - f.ts),
        })
        .collect();
    (rows, r.flows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_timestamp_keeps_the_page_out_of_1970() {
        // 2026-12-01 10:00:00 UTC.
        let t = 1_796_119_200.0;
        let device = DeviceEvent {
            device: "00:1a:11:00:00:0a".into(),
            first_seen: 0.0,
            last_seen: t + 300.0,
            meta_flows: 1,
            ..Default::default()
        };
        let activity = crate::exposure::events::ActivityEvent {
            ts: t,
            end: t + 5.0,
            device: device.device.clone(),
            activity: ActivityKind::MessageBurst,
            ..Default::default()
        };
        let flow =
            Flow { uid: "C1".into(), ts: 0.0, device: device.device.clone(), ..Default::default() };
        let r = Report {
            devices: vec![device],
            activities: vec![activity],
            flows: vec![flow],
            has_flows: true,
            ..Default::default()
        };
        let page = render(&r);
        assert!(page.contains("1 timestamp(s) before 2000"), "the dropped timestamp is not said");
        let header = &page[page.find("<header>").unwrap()..page.find("</header>").unwrap()];
        assert!(
            header.contains("2026-12-01 10:00:00 – 10:05:00 UTC") && !header.contains("1970"),
            "{header}"
        );
        // The axes: five one-minute ticks from 10:00, dated 2026-12-01; no 1970 tick.
        assert!(page.contains(">2026-12-01</text>") && page.contains(">10:04</text>"));
        assert!(!page.contains(">1970-01-01</text>"));
    }

    #[test]
    fn endpoints_by_name_with_country_and_as_meta_first() {
        let f =
            |uid: &str, name: Option<&str>, remote: &str, service: Option<&str>, up: u64| Flow {
                uid: uid.into(),
                remote: remote.into(),
                server_name: name.map(Into::into),
                service: service.map(Into::into),
                bytes_up: up,
                cc: service.map(|_| "US".into()),
                asn: service.map(|_| 32934),
                as_org: service.map(|_| "Facebook, Inc.".into()),
                ..Default::default()
            };
        let flows = [
            f("C1", Some("g.whatsapp.net"), "157.240.27.54", Some("whatsapp"), 10),
            f("C2", Some("g.whatsapp.net"), "157.240.27.55", Some("whatsapp"), 5),
            f("C3", None, "192.0.2.80", None, 1_000_000),
        ];
        let e = endpoints(&flows.iter().collect::<Vec<_>>());
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].host, "g.whatsapp.net");
        assert_eq!(e[0].addresses, "157.240.27.54, 157.240.27.55");
        assert_eq!((e[0].flows, e[0].cc.as_str()), (2, "US"));
        assert_eq!(e[0].as_name, "AS32934 Facebook, Inc.");
        assert_eq!((e[1].host.as_str(), e[1].cc.as_str()), ("192.0.2.80", ""));
        // Share of the device's traffic that went to Meta: 15 of 1 000 015 bytes.
        let r = Report { flows: flows.to_vec(), ..Default::default() };
        let (p, meta, all) = share(&totals(&r), "").unwrap();
        assert_eq!((meta, all), (15, 1_000_015));
        assert_eq!(pct(p), "<0.1 %");
    }

    #[test]
    fn ranges_name_the_second_day() {
        // 2026-12-01 10:04:55 and the next day 08:04:55.
        let a = 1_796_119_495.0;
        assert_eq!(range(a, a + 60.0), "2026-12-01 10:04:55 – 10:05:55");
        assert_eq!(range(a, a + 79_200.0), "2026-12-01 10:04:55 – 2026-12-02 08:04:55");
    }
}
