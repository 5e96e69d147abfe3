//! `leakscope capture --live`: a screen redrawn every second with the devices on the network and
//! the Meta endpoints each talks to right now, for a person holding a phone next to the laptop.
//!
//! Plain text and two ANSI sequences (home, clear) rather than a TUI library: nothing is read from
//! the keyboard (Ctrl-C stops the capture as always), and nothing more is needed to draw a table.
//! The labels come from the rules alone (host name, else server address): no side effect on the
//! classifier, so the files written are the same with or without the view.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::classify::Ruleset;
use crate::flow::Flow;
use crate::pipeline::FlowData;

/// Flows that moved in this window count as "now".
pub const WINDOW_SECS: i64 = 60;

/// One Meta endpoint of a device, as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `service.role`.
    pub endpoint: String,
    /// Server name, else address.
    pub server: String,
    /// Bytes from the device (this record of the flows).
    pub up: u64,
    /// Bytes to the device.
    pub down: u64,
    /// Seconds since the last packet.
    pub idle_secs: i64,
}

/// A device (the originating side) and its Meta endpoints now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device {
    /// MAC when the link has one.
    pub mac: Option<String>,
    /// Live flows of the device in the window.
    pub flows: usize,
    /// Meta endpoints, by endpoint and server.
    pub meta: Vec<Row>,
}

/// What the screen shows, by device address.
pub type Snapshot = BTreeMap<IpAddr, Device>;

/// Builds the snapshot from the live flows that saw a packet in the last [`WINDOW_SECS`].
pub fn snapshot<'a>(
    flows: impl Iterator<Item = &'a Flow<FlowData>>,
    rules: &Ruleset,
    now: Timestamp,
) -> Snapshot {
    let since = Timestamp(now.nanos().saturating_sub(WINDOW_SECS * 1_000_000_000));
    let mut devices = Snapshot::new();
    let mut rows: BTreeMap<(IpAddr, String, String), Row> = BTreeMap::new();
    for f in flows.filter(|f| f.last_ts >= since) {
        let (dev, server) = (f.orig().ip(), f.resp().ip());
        let d = devices.entry(dev).or_default();
        d.flows += 1;
        if d.mac.is_none() {
            d.mac = f.orig_mac.map(crate::flow::record::mac_string);
        }
        let app = &f.data.dissect.app;
        let name = app.server_name.as_deref().or(app.dns_name.as_deref());
        let endpoint = name
            .and_then(|n| rules.match_host(n).map(|m| m.endpoint))
            .or_else(|| rules.match_ip(server).map(|m| m.endpoint));
        let Some(endpoint) = endpoint else { continue };
        let endpoint = rules.endpoint(endpoint).name.to_string();
        let shown = name.map_or_else(|| server.to_string(), str::to_owned);
        let idle = now.since(f.last_ts) / 1_000_000_000;
        let r = rows.entry((dev, endpoint.clone(), shown.clone())).or_insert(Row {
            endpoint,
            server: shown,
            up: 0,
            down: 0,
            idle_secs: idle,
        });
        r.up += f.orig.bytes;
        r.down += f.resp.bytes;
        r.idle_secs = r.idle_secs.min(idle);
    }
    for ((dev, _, _), row) in rows {
        devices.entry(dev).or_default().meta.push(row);
    }
    devices
}

fn size(b: u64) -> String {
    match b {
        0..1_000 => format!("{b} B"),
        1_000..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        _ => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// The screen's text: a title line, then one block per device, Meta endpoints first.
pub fn render(title: &str, s: &Snapshot) -> String {
    let esc = |t: &str| crate::term::escape(t).into_owned();
    let meta_devices = s.values().filter(|d| !d.meta.is_empty()).count();
    let mut out = format!(
        "{}\n{} device(s) active in the last {WINDOW_SECS} s, {meta_devices} talking to Meta\n\n",
        esc(title),
        s.len()
    );
    out.push_str(&format!(
        "{:<26} {:<17} {:<24} {:<32} {:>9} {:>9} {:>5}\n",
        "DEVICE", "MAC", "META ENDPOINT", "SERVER", "UP", "DOWN", "IDLE"
    ));
    let mut order: Vec<(&IpAddr, &Device)> = s.iter().collect();
    // Devices talking to Meta first, then the others.
    order.sort_by_key(|(ip, d)| (d.meta.is_empty(), **ip));
    for (ip, d) in order {
        let mac = d.mac.as_deref().unwrap_or("-");
        if d.meta.is_empty() {
            out.push_str(&format!(
                "{:<26} {:<17} (no Meta endpoint; {} flow(s))\n",
                ip.to_string(),
                mac,
                d.flows
            ));
            continue;
        }
        for (i, r) in d.meta.iter().enumerate() {
            let (dev, mac) = if i == 0 { (ip.to_string(), mac) } else { (String::new(), "") };
            out.push_str(&format!(
                "{:<26} {:<17} {:<24} {:<32} {:>9} {:>9} {:>4}s\n",
                dev,
                mac,
                esc(&r.endpoint),
                esc(&r.server),
                size(r.up),
                size(r.down),
                r.idle_secs
            ));
        }
    }
    out
}

/// Draws the screen on standard output: redrawn in place on a terminal, one frame after another
/// (separated by a blank line) otherwise.
pub fn draw(text: &str) {
    let mut o = std::io::stdout().lock();
    let res =
        if o.is_terminal() { write!(o, "\x1b[H\x1b[2J{text}") } else { writeln!(o, "{text}") };
    let _ = res.and_then(|()| o.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_with_meta_come_first_and_names_are_escaped() {
        let mut s = Snapshot::new();
        s.insert("10.0.0.9".parse().unwrap(), Device { mac: None, flows: 2, meta: vec![] });
        s.insert(
            "10.0.0.20".parse().unwrap(),
            Device {
                mac: Some("3c:22:fb:12:34:56".into()),
                flows: 3,
                meta: vec![Row {
                    endpoint: "whatsapp.chat".into(),
                    server: "g.whatsapp.net\x1b[2J".into(),
                    up: 1500,
                    down: 2_500_000,
                    idle_secs: 1,
                }],
            },
        );
        let text = render("leakscope — lo", &s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("2 device(s) active"), "{text}");
        assert!(lines[4].starts_with("10.0.0.20"), "{text}");
        assert!(lines[4].contains("whatsapp.chat") && lines[4].contains("2.5 MB"), "{text}");
        assert!(lines[5].starts_with("10.0.0.9") && lines[5].contains("no Meta"), "{text}");
        assert!(!text.contains('\x1b') && text.contains("\\x1b[2J"), "{text}");
    }
}
