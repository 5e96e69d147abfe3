//! What is known about one local device: addresses, DHCP self-description, Meta totals, and the
//! evidence tallies the policy fields are judged on.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::record::exposure::{
    AppTotals, DeviceEvent, EndpointCount, HourTotals, ServiceTotals, SessionStats,
};

/// Key prefix of evidence from flows to Meta services other than WhatsApp: judged only for
/// `other_meta` fields, so that an Instagram flow never speaks for WhatsApp.
pub const OTHER: &str = "other:";

/// Samples of evidence kept per signal.
const MAX_SAMPLES: usize = 6;
/// Flow uids kept per signal.
const MAX_UIDS: usize = 12;

/// Evidence for one signal (`meta_flow`, `endpoint:whatsapp.chat`, `http_cookie`, …).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Pieces of evidence.
    pub count: u64,
    /// Payload bytes behind them.
    pub bytes: u64,
    /// First and last time.
    pub first: f64,
    /// Last time.
    pub last: f64,
    /// Distinct sample values.
    pub samples: Vec<String>,
    /// Some flow uids.
    pub uids: Vec<String>,
    /// Android apps behind the evidence (PCAPdroid captures), sorted.
    pub apps: Vec<String>,
}

/// Apps kept per signal.
const MAX_TALLY_APPS: usize = 8;

impl Tally {
    fn add(
        &mut self,
        ts: f64,
        bytes: u64,
        sample: Option<&str>,
        uid: Option<&str>,
        app: Option<&str>,
    ) {
        if let Some(a) = app
            && self.apps.len() < MAX_TALLY_APPS
            && let Err(i) = self.apps.binary_search_by(|x| x.as_str().cmp(a))
        {
            self.apps.insert(i, a.to_owned());
        }
        if self.count == 0 || ts < self.first {
            self.first = ts;
        }
        self.last = self.last.max(ts);
        self.count += 1;
        self.bytes += bytes;
        if let Some(s) = sample
            && self.samples.len() < MAX_SAMPLES
            && !self.samples.iter().any(|x| x == s)
        {
            self.samples.push(s.to_owned());
        }
        if let Some(u) = uid
            && self.uids.len() < MAX_UIDS
            && !self.uids.iter().any(|x| x == u)
        {
            self.uids.push(u.to_owned());
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Totals {
    flows: u64,
    up: u64,
    down: u64,
}

/// A service's totals and flows per endpoint, in [`Device`].
type ServiceEntry = (Box<str>, Totals, Vec<(Box<str>, u64)>);

/// One device.
#[derive(Clone, Debug, Default)]
pub struct Device {
    /// Stable id (MAC, else address).
    pub id: String,
    /// MAC.
    pub mac: Option<String>,
    /// Addresses in order of first sight.
    pub addresses: Vec<IpAddr>,
    /// DHCP host name.
    pub hostname: Option<String>,
    /// DHCP vendor class.
    pub vendor_class: Option<String>,
    /// DHCP parameter request list.
    pub prl: Vec<u8>,
    /// First and last sight.
    pub first_seen: f64,
    /// Last sight.
    pub last_seen: f64,
    /// Flow records.
    pub flows: u64,
    meta: Totals,
    // Sorted vectors, not BTreeMaps: a map's first node reserves 11 slots (~1 KB here), and
    // most devices have one or two services and a few hours.
    services: Vec<ServiceEntry>,
    hours: Vec<(i64, Totals)>,
    /// Oldest hours dropped to stay within [`MAX_HOURS`].
    hours_dropped: u64,
    /// Evidence per signal.
    pub tallies: BTreeMap<String, Tally>,
    /// Activities by kind.
    pub activities: BTreeMap<String, u64>,
    /// Session summary.
    pub sessions: SessionStats,
    user_agents: Vec<String>,
    ja4: Vec<String>,
    /// Per Android app, sorted by name (PCAPdroid captures only; at most [`MAX_APPS`]).
    apps: Vec<AppTotals>,
    /// The app of the record or activity being accounted (PCAPdroid captures): evidence added
    /// meanwhile names it. Set and cleared by the exposure map around each record.
    pub tagging: Option<String>,
}

/// Apps kept per device: a phone has a few hundred uids, few of them talk; beyond, flows of
/// new apps are not itemised.
pub const MAX_APPS: usize = 64;

/// Hours of Meta contacts kept per device: the last 31 days a device was in touch with Meta
/// (24 KiB); a daemon running for months keeps its device's memory flat.
pub const MAX_HOURS: usize = 24 * 31;

/// The entry of `key` in a vector sorted by key, inserted by `new` if missing.
fn sorted_entry<'a, T>(
    v: &'a mut Vec<T>,
    key: &str,
    key_of: impl Fn(&T) -> &str,
    new: impl FnOnce(&str) -> T,
) -> &'a mut T {
    let i = match v.binary_search_by(|x| key_of(x).cmp(key)) {
        Ok(i) => i,
        Err(i) => {
            v.insert(i, new(key));
            i
        }
    };
    &mut v[i]
}

/// Most addresses kept per device (privacy addresses rotate).
const MAX_ADDRESSES: usize = 64;
/// Most distinct User-Agents / JA4s kept per device.
const MAX_STRINGS: usize = 16;

impl Device {
    /// A device first seen at `ts`.
    pub fn new(id: String, ts: f64) -> Self {
        Device { id, first_seen: ts, last_seen: ts, ..Device::default() }
    }

    /// Widens first/last sight.
    pub fn seen(&mut self, from: f64, to: f64) {
        self.first_seen = self.first_seen.min(from);
        self.last_seen = self.last_seen.max(to);
    }

    /// Records an address of the device.
    pub fn address(&mut self, ip: IpAddr) {
        if !super::local::not_a_host(ip)
            && self.addresses.len() < MAX_ADDRESSES
            && !self.addresses.contains(&ip)
        {
            self.addresses.push(ip);
        }
    }

    /// Adds evidence for `signal`.
    pub fn evidence(
        &mut self,
        signal: impl AsRef<str>,
        ts: f64,
        bytes: u64,
        sample: Option<&str>,
        uid: Option<&str>,
    ) {
        let signal = signal.as_ref();
        let app = self.tagging.as_deref();
        match self.tallies.get_mut(signal) {
            Some(t) => t.add(ts, bytes, sample, uid, app),
            None => {
                self.tallies.entry(signal.to_owned()).or_default().add(ts, bytes, sample, uid, app)
            }
        }
    }

    /// Evidence from a flow: WhatsApp's under the signal's name, other services' under
    /// [`OTHER`].
    pub fn flow_evidence(
        &mut self,
        whatsapp: bool,
        signal: impl AsRef<str>,
        ts: f64,
        bytes: u64,
        sample: Option<&str>,
        uid: Option<&str>,
    ) {
        let signal = signal.as_ref();
        if whatsapp {
            self.evidence(signal, ts, bytes, sample, uid);
        } else {
            self.evidence(format!("{OTHER}{signal}"), ts, bytes, sample, uid);
        }
    }

    /// Whether the device had WhatsApp flows.
    pub fn has_whatsapp(&self) -> bool {
        self.services.iter().any(|(s, _, _)| &**s == "whatsapp")
    }

    /// Whether the device had flows to Meta services other than WhatsApp.
    pub fn has_other_meta(&self) -> bool {
        self.services.iter().any(|(s, _, _)| &**s != "whatsapp")
    }

    /// Accounts a flow record to a Meta service.
    pub fn meta_flow(&mut self, service: &str, endpoint: &str, ts: f64, up: u64, down: u64) {
        let add = |t: &mut Totals| {
            t.flows += 1;
            t.up += up;
            t.down += down;
        };
        add(&mut self.meta);
        let s = sorted_entry(
            &mut self.services,
            service,
            |s| &s.0,
            |k| (k.into(), Totals::default(), Vec::new()),
        );
        add(&mut s.1);
        sorted_entry(&mut s.2, endpoint, |e| &e.0, |k| (k.into(), 0)).1 += 1;
        let hour = (ts as i64).div_euclid(3600) * 3600;
        let h = match self.hours.binary_search_by_key(&hour, |h| h.0) {
            Ok(i) => i,
            // Older than every kept hour when the list is full: already past the window.
            Err(0) if self.hours.len() >= MAX_HOURS => {
                self.hours_dropped += 1;
                return;
            }
            Err(mut i) => {
                if self.hours.len() >= MAX_HOURS {
                    self.hours.remove(0);
                    self.hours_dropped += 1;
                    i -= 1;
                }
                self.hours.insert(i, (hour, Totals::default()));
                i
            }
        };
        add(&mut self.hours[h].1);
    }

    /// Remembers a User-Agent and a JA4 (distinct, bounded).
    pub fn strings(&mut self, ua: Option<&str>, ja4: Option<&str>) {
        for (v, list) in [(ua, &mut self.user_agents), (ja4, &mut self.ja4)] {
            if let Some(v) = v
                && list.len() < MAX_STRINGS
                && !list.iter().any(|x| x == v)
            {
                list.push(v.to_owned());
            }
        }
    }

    /// Accounts a flow record of an Android app; `meta` is its Meta service and bytes.
    pub fn app_flow(&mut self, app: &str, uid: Option<i32>, meta: Option<(&str, u64, u64)>) {
        let i = match self.apps.binary_search_by(|a| a.app.as_str().cmp(app)) {
            Ok(i) => i,
            Err(_) if self.apps.len() >= MAX_APPS => return,
            Err(i) => {
                let new = AppTotals { app: app.to_owned(), app_uid: uid, ..AppTotals::default() };
                self.apps.insert(i, new);
                i
            }
        };
        let a = &mut self.apps[i];
        a.flows += 1;
        if let Some((service, up, down)) = meta {
            a.meta_flows += 1;
            a.meta_bytes_up += up;
            a.meta_bytes_down += down;
            if let Err(j) = a.services.binary_search_by(|s| s.as_str().cmp(service)) {
                a.services.insert(j, service.to_owned());
            }
        }
    }

    /// The device's apps (PCAPdroid captures), sorted by name.
    pub fn apps(&self) -> &[AppTotals] {
        &self.apps
    }

    /// Whether the device talked to Meta at all.
    pub fn has_meta(&self) -> bool {
        self.meta.flows > 0
    }

    /// The `device` event.
    pub fn event(&self, oui_vendor: Option<String>) -> DeviceEvent {
        DeviceEvent {
            ts: self.first_seen,
            device: self.id.clone(),
            mac: self.mac.clone(),
            oui_vendor,
            addresses: self.addresses.clone(),
            hostname: self.hostname.clone(),
            vendor_class: self.vendor_class.clone(),
            parameter_request_list: self.prl.clone(),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            flows: self.flows,
            meta_flows: self.meta.flows,
            meta_bytes_up: self.meta.up,
            meta_bytes_down: self.meta.down,
            services: self
                .services
                .iter()
                .map(|(name, t, eps)| ServiceTotals {
                    service: name.to_string(),
                    flows: t.flows,
                    bytes_up: t.up,
                    bytes_down: t.down,
                    endpoints: eps
                        .iter()
                        .map(|(e, n)| EndpointCount { endpoint: e.to_string(), flows: *n })
                        .collect(),
                })
                .collect(),
            hours: self
                .hours
                .iter()
                .map(|&(hour, ref t)| HourTotals {
                    hour,
                    flows: t.flows,
                    bytes_up: t.up,
                    bytes_down: t.down,
                })
                .collect(),
            hours_dropped: self.hours_dropped,
            sessions: self.sessions.clone(),
            activities: self.activities.clone(),
            user_agents: self.user_agents.clone(),
            ja4: self.ja4.clone(),
            apps: self.apps.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_bounded_and_the_newest_kept() {
        let mut d = Device::default();
        let extra = 56;
        for h in 0..(MAX_HOURS + extra) as i64 {
            d.meta_flow("whatsapp", "whatsapp.chat", (h * 3600 + 5) as f64, 10, 20);
        }
        // An hour older than every kept one is dropped too; one already kept is added to.
        d.meta_flow("whatsapp", "whatsapp.chat", 5.0, 1, 1);
        d.meta_flow("whatsapp", "whatsapp.chat", ((MAX_HOURS + extra - 1) * 3600) as f64, 1, 1);
        let ev = d.event(None);
        assert_eq!(ev.hours.len(), MAX_HOURS);
        assert_eq!(ev.hours_dropped, extra as u64 + 1);
        assert_eq!(ev.hours[0].hour, extra as i64 * 3600);
        assert_eq!(ev.hours.last().map(|h| (h.flows, h.bytes_up)), Some((2, 11)));
        assert_eq!(ev.meta_flows, (MAX_HOURS + extra + 2) as u64, "totals count every flow");
    }
}
