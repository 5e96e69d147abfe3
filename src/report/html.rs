//! The HTML report: one self-contained file (inline CSS, SVG and a little JS; nothing fetched)
//! with a device table, and per device a timeline of Meta contacts, bytes per service, sessions
//! per hour of day and the policy-field table.

use std::fmt::Write;

use super::{Report, bytes, duration, time};
use crate::exposure::events::{DeviceEvent, ExposureEvent};

/// Escapes text for HTML content and attribute values.
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

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}main{padding:8px 28px 40px;max-width:1180px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:14px 18px;margin:16px 0;overflow-x:auto}
td.addr{min-width:260px;max-width:360px;overflow-wrap:anywhere;font-size:12px}
h2{font-size:18px;margin:4px 0 10px}h3{font-size:14px;margin:16px 0 6px;color:#45505c}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceef1;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.dev{cursor:pointer}tr.dev:hover{background:#eef4fb}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}dt{color:#5b6672}dd{margin:0}
.st{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600}
.st-observed{background:#fde2e1;color:#9b1c1c}.st-inferred{background:#fdebd3;color:#8a4b08}
.st-lan_only{background:#e4ecfb;color:#1e429f}.st-not_seen{background:#eef0f2;color:#5b6672}
.st-not_observable{background:#e9e3f7;color:#4c2a85}
.ev{font:12px/1.4 ui-monospace,monospace;color:#45505c}.ev span{display:block}
.more{color:#1d4ed8;cursor:pointer;font-size:12px}.ev span.hidden{display:none}
svg text{font:11px system-ui,sans-serif;fill:#45505c}
.note{color:#5b6672;font-size:12px}
.clear{display:block;color:#9b1c1c;font-size:11px;font-weight:600}
.remark{display:block;color:#5b6672;font-size:11px}
";

const SCRIPT: &str = "
document.querySelectorAll('tr.dev').forEach(function(r){r.addEventListener('click',function(){
  var t=document.getElementById(r.dataset.target);if(t){t.scrollIntoView({behavior:'smooth'});}});});
document.querySelectorAll('.more').forEach(function(m){m.addEventListener('click',function(){
  var h=m.parentNode.querySelectorAll('.hidden');h.forEach(function(x){x.classList.remove('hidden');});m.remove();});});
document.body.dataset.ok='1';
";

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

/// The whole page.
pub fn render(r: &Report) -> String {
    // Every value read back (events.jsonl, the database) is escaped here, once, before any of it
    // is laid out: below, report values are written as they are, and no field can be missed.
    let escaped = r.map_strings(esc);
    let r = &escaped;
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    o.push_str("<title>leakscope: exposure to Meta</title>");
    // Any script error is recorded on <html>, so a headless check can see it.
    o.push_str("<script>window.addEventListener('error',function(e){document.documentElement.dataset.error=String(e.message);});</script>");
    let _ = write!(o, "<style>{STYLE}</style></head><body data-ok=\"0\">");
    let first = r.devices.iter().map(|d| d.first_seen).reduce(f64::min);
    let last = r.devices.iter().map(|d| d.last_seen).reduce(f64::max);
    o.push_str("<header><h1>What each device exposed to Meta</h1><p>");
    if let (Some(a), Some(b)) = (first, last) {
        let _ = write!(o, "{} – {} UTC · ", time(a), time(b));
    }
    let _ = write!(
        o,
        "{} device(s). From traffic metadata only: names, addresses, sizes and timing; no payload.</p></header><main>",
        r.devices.len()
    );
    devices_table(&mut o, r);
    for (i, d) in r.devices.iter().enumerate().filter(|(_, d)| d.meta_flows > 0) {
        device_section(&mut o, r, d, i);
    }
    let _ = writeln!(o, "</main><script>{SCRIPT}</script></body></html>");
    o
}

fn count_status(r: &Report, device: &str, status: &str) -> usize {
    r.exposures_of(device).filter(|e| e.status == status).count()
}

fn devices_table(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Devices</h2><table id=\"devices\"><thead><tr><th>device</th><th>name</th><th>vendor</th><th>addresses</th>");
    o.push_str("<th class=\"n\">Meta flows</th><th class=\"n\">sent</th><th class=\"n\">received</th><th class=\"n\">sessions</th><th class=\"n\">calls</th><th class=\"n\">fields observed</th><th class=\"n\">inferred</th></tr></thead><tbody>");
    // Devices with Meta contacts first, busiest first; the others after, by id.
    let mut order: Vec<(usize, &DeviceEvent)> = r.devices.iter().enumerate().collect();
    order.sort_by(|a, b| {
        b.1.meta_flows.cmp(&a.1.meta_flows).then_with(|| a.1.device.cmp(&b.1.device))
    });
    for (i, d) in order {
        let calls = r.activities_of(&d.device).filter(|a| a.activity == "call").count();
        let addrs = super::addresses(&d.addresses, 3);
        let _ = write!(
            o,
            "<tr class=\"dev\" data-target=\"dev-{i}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"addr\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{calls}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            d.device,
            d.hostname.as_deref().unwrap_or(""),
            d.oui_vendor.as_deref().unwrap_or(""),
            addrs,
            d.meta_flows,
            bytes(d.meta_bytes_up),
            bytes(d.meta_bytes_down),
            d.sessions.count,
            count_status(r, &d.device, "observed"),
            count_status(r, &d.device, "inferred"),
        );
    }
    o.push_str("</tbody></table><p class=\"note\">Through a NAT hotspot Meta sees the hotspot's public address for every device; the device column is how this network tells them apart.</p></section>");
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

fn device_section(o: &mut String, r: &Report, d: &DeviceEvent, i: usize) {
    let _ = write!(o, "<section class=\"device\" id=\"dev-{i}\"><h2>{}", d.device);
    if let Some(h) = &d.hostname {
        let _ = write!(o, " — {h}");
    }
    o.push_str("</h2><dl>");
    let addrs: Vec<String> = d.addresses.iter().map(|a| a.to_string()).collect();
    let prl: Vec<String> = d.parameter_request_list.iter().map(u8::to_string).collect();
    let facts = [
        ("MAC vendor", d.oui_vendor.clone()),
        ("addresses", Some(addrs.join(", "))),
        ("DHCP vendor class", d.vendor_class.clone()),
        ("DHCP parameter list", (!prl.is_empty()).then(|| prl.join(","))),
        ("seen", Some(format!("{} – {}", time(d.first_seen), time(d.last_seen)))),
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
    ];
    for (k, v) in facts {
        if let Some(v) = v {
            let _ = write!(o, "<dt>{k}</dt><dd>{v}</dd>");
        }
    }
    o.push_str("</dl><h3>Timeline of Meta contacts</h3>");
    timeline(o, r, d);
    o.push_str("<h3>Bytes per service</h3>");
    service_bars(o, d);
    o.push_str("<h3>Sessions per hour of day (UTC)</h3>");
    hour_bars(o, &d.sessions.by_hour);
    o.push_str("<h3>Policy fields</h3>");
    policy_table(o, r.exposures_of(&d.device));
    o.push_str("</section>");
}

const W: f64 = 1080.0;
const LEFT: f64 = 120.0;

fn timeline(o: &mut String, r: &Report, d: &DeviceEvent) {
    let (t0, t1) = (d.first_seen, d.last_seen.max(d.first_seen + 1.0));
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - 10.0);
    let row_h = 22.0;
    let rows = 2 + KINDS.len();
    let h = 30.0 + rows as f64 * row_h;
    let _ = write!(
        o,
        "<svg width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"timeline\">"
    );
    // Hour ticks.
    let first_hour = (t0 / 3600.0).ceil() * 3600.0;
    let step = (((t1 - t0) / 3600.0 / 12.0).ceil().max(1.0)) * 3600.0;
    let mut t = first_hour;
    while t <= t1 {
        let _ = write!(
            o,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"4\" y2=\"{1}\" stroke=\"#e3e6ea\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(t),
            h - 16.0,
            h - 3.0,
            &time(t)[11..16]
        );
        t += step;
    }
    let label = |o: &mut String, row: usize, text: &str| {
        let _ =
            write!(o, "<text x=\"4\" y=\"{:.1}\">{}</text>", 18.0 + row as f64 * row_h, esc(text));
    };
    // Row 0: Meta flows per hour (bar height ∝ flows).
    label(o, 0, "flows / hour");
    let max = d.hours.iter().map(|h| h.flows).max().unwrap_or(1).max(1) as f64;
    for hr in &d.hours {
        let (a, b) = (x((hr.hour as f64).max(t0)), x((hr.hour as f64 + 3600.0).min(t1)));
        let bh = (hr.flows as f64 / max * (row_h - 6.0)).max(1.0);
        let _ = write!(
            o,
            "<rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#1d3557\" opacity=\".75\"><title>{}: {} flows, {} sent, {} received</title></rect>",
            4.0 + row_h - bh,
            (b - a - 1.0).max(1.0),
            time(hr.hour as f64),
            hr.flows,
            bytes(hr.bytes_up),
            bytes(hr.bytes_down)
        );
    }
    label(o, 1, "sessions");
    for s in r.sessions_of(&d.device) {
        let (a, b) = (x(s.ts), x(s.end));
        let _ = write!(
            o,
            "<rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" rx=\"3\" fill=\"#264653\"><title>{} {} for {}, {} bursts</title></rect>",
            8.0 + row_h,
            (b - a).max(3.0),
            s.session,
            time(s.ts),
            duration(s.duration),
            s.bursts
        );
    }
    for (k, (kind, colour)) in KINDS.iter().enumerate() {
        let row = k + 2;
        label(o, row, kind);
        for a in r.activities_of(&d.device).filter(|a| a.activity == *kind) {
            let (xa, xb) = (x(a.ts), x(a.end));
            let _ = write!(
                o,
                "<rect x=\"{xa:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" rx=\"2\" fill=\"{colour}\"><title>{} {} {}, {} sent, {} received{}</title></rect>",
                8.0 + row as f64 * row_h,
                (xb - xa).max(3.0),
                kind,
                time(a.ts),
                duration(a.duration),
                bytes(a.bytes_up),
                bytes(a.bytes_down),
                a.media.as_deref().map(|m| format!(", {m}")).unwrap_or_default()
            );
        }
    }
    o.push_str("</svg>");
}

fn service_bars(o: &mut String, d: &DeviceEvent) {
    let max =
        d.services.iter().map(|s| s.bytes_up.max(s.bytes_down)).max().unwrap_or(1).max(1) as f64;
    let h = 10.0 + d.services.len() as f64 * 40.0;
    let _ = write!(
        o,
        "<svg width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"bytes per service\">"
    );
    for (i, s) in d.services.iter().enumerate() {
        let y = 6.0 + i as f64 * 40.0;
        let _ = write!(o, "<text x=\"4\" y=\"{:.1}\">{}</text>", y + 20.0, s.service);
        for (j, (v, colour, what)) in
            [(s.bytes_up, "#e76f51", "sent"), (s.bytes_down, "#2a9d8f", "received")]
                .into_iter()
                .enumerate()
        {
            let w = (v as f64 / max * (W - LEFT - 160.0)).max(1.0);
            let yy = y + j as f64 * 16.0;
            let _ = write!(
                o,
                "<rect x=\"{LEFT}\" y=\"{yy:.1}\" width=\"{w:.1}\" height=\"13\" fill=\"{colour}\"><title>{} {what}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{} {what}</text>",
                bytes(v),
                LEFT + w + 6.0,
                yy + 11.0,
                bytes(v)
            );
        }
    }
    o.push_str("</svg>");
}

fn hour_bars(o: &mut String, by_hour: &[u32]) {
    let max = by_hour.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (h, bw) = (110.0, 30.0);
    let _ = write!(
        o,
        "<svg width=\"{:.0}\" height=\"{h}\" viewBox=\"0 0 {:.0} {h}\" role=\"img\" aria-label=\"sessions per hour\">",
        24.0 * bw + 20.0,
        24.0 * bw + 20.0
    );
    for hour in 0..24 {
        let n = by_hour.get(hour).copied().unwrap_or(0);
        let bh = n as f64 / max * 70.0;
        let xx = 10.0 + hour as f64 * bw;
        let _ = write!(
            o,
            "<rect x=\"{xx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#264653\"><title>{hour:02}:00 {n} session(s)</title></rect><text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{hour:02}</text>",
            84.0 - bh,
            bw - 4.0,
            xx + bw / 2.0 - 2.0,
            h - 10.0
        );
        if n > 0 {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{n}</text>",
                xx + bw / 2.0 - 2.0,
                80.0 - bh
            );
        }
    }
    o.push_str("</svg>");
}

fn policy_table<'a>(o: &mut String, exposures: impl Iterator<Item = &'a ExposureEvent>) {
    o.push_str("<table class=\"policy\"><thead><tr><th>policy field</th><th>normally</th><th>this capture</th><th>what Meta got</th><th class=\"n\">evidence</th><th class=\"n\">bytes</th><th>first – last</th><th>what</th></tr></thead><tbody>");
    for e in exposures {
        let when = match e.last {
            Some(l) if e.count > 0 => format!("{} – {}", time(e.ts), &time(l)[11..]),
            _ => String::new(),
        };
        let note = e.note.as_deref().map_or_else(String::new, |n| {
            let class = if n.starts_with("seen in clear") { "clear" } else { "remark" };
            format!(" <span class=\"{class}\">{n}</span>")
        });
        let value = e.value.as_deref().unwrap_or("");
        let _ = write!(
            o,
            "<tr><td>{}</td><td><span class=\"st st-{1}\">{1}</span></td><td><span class=\"st st-{2}\">{2}</span>{note}</td><td>{value}</td><td class=\"n\">{3}</td><td class=\"n\">{4}</td><td>{5}</td><td class=\"ev\">",
            e.label.as_deref().unwrap_or(&e.field),
            &e.observability,
            &e.status,
            e.count,
            if e.bytes > 0 { bytes(e.bytes) } else { String::new() },
            when
        );
        for (k, ev) in e.evidence.iter().enumerate() {
            let class = if k >= 3 { " class=\"hidden\"" } else { "" };
            let _ = write!(o, "<span{class}>{ev}</span>");
        }
        if e.evidence.len() > 3 {
            let _ = write!(o, "<span class=\"more\">{} more</span>", e.evidence.len() - 3);
        }
        o.push_str("</td></tr>");
    }
    o.push_str("</tbody></table><p class=\"note\">A field's grade is its strongest evidence. observed: the datum itself reached a Meta-operated server · inferred: follows from timing, sizes, fingerprints or the address databases · lan_only: seen on this network only (DHCP, MAC), not sent to Meta on the wire · not_observable: encrypted; related traffic is listed when seen · seen in clear: a normally hidden datum crossed in cleartext (legacy client).</p>");
}
