//! Names carried across flows: per (device, server address), the names other flows of the device
//! gave that address (SNI, certificate, HTTP Host, DNS answers). A flow with no name of its own
//! (a connection open before the capture started, no handshake, no DNS seen) takes the name's
//! endpoint when every name seen for the address agrees on the service: Meta's edge addresses
//! serve one app each, shared CDN addresses show several and are left alone.
//!
//! Bounded: at most `max_entries` pairs, the oldest first out (counted); a name is used only
//! within `ttl_secs` of packet time of its last sighting.

use std::net::IpAddr;

use super::bounded::OldestFirst;
use super::rules::ServiceId;
use crate::capture::Timestamp;

const SEC: i64 = 1_000_000_000;

/// Table limits.
#[derive(Clone, Copy, Debug)]
pub struct CarriedConfig {
    /// Most (device, address) pairs kept.
    pub max_entries: usize,
    /// How long around its sightings a name still holds for a flow, in seconds of packet time.
    pub ttl_secs: i64,
}

impl Default for CarriedConfig {
    fn default() -> Self {
        // An hour: chat connections to Meta's edge stay open for hours, and the naming flows
        // (SNI of a new connection, DNS lookups) recur within minutes while the app is in use.
        CarriedConfig { max_entries: 65_536, ttl_secs: 3_600 }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    /// The first name seen.
    name: Box<str>,
    /// A later name pointed at another service (or at none): the address is not carried.
    conflict: bool,
    first_seen: Timestamp,
    last_seen: Timestamp,
}

/// The per-device table of names seen for server addresses.
pub struct CarriedNames {
    cfg: CarriedConfig,
    map: OldestFirst<(IpAddr, IpAddr), Entry>,
}

impl CarriedNames {
    /// An empty table.
    pub fn new(cfg: CarriedConfig) -> Self {
        CarriedNames { cfg, map: OldestFirst::new(cfg.max_entries) }
    }

    /// Pairs held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Pairs dropped because the table was full.
    pub fn evicted(&self) -> u64 {
        self.map.evicted()
    }

    /// Notes that `device` saw `name` for `server` at `ts`. `service` gives a name's service
    /// (from the rules); it is asked only when a second, different name shows up, so the
    /// common case (one name per address) costs no rule lookup.
    pub fn learn(
        &mut self,
        device: IpAddr,
        server: IpAddr,
        name: &str,
        ts: Timestamp,
        service: impl Fn(&str) -> Option<ServiceId>,
    ) {
        let ttl = self.cfg.ttl_secs * SEC;
        let key = (device, server);
        if let Some(e) = self.map.get_mut(&key)
            && ts.nanos() <= e.last_seen.nanos() + ttl
        {
            if !e.conflict && *e.name != *name && service(&e.name) != service(name) {
                e.conflict = true;
            }
            e.last_seen = e.last_seen.max(ts);
            return;
        }
        let entry = Entry { name: name.into(), conflict: false, first_seen: ts, last_seen: ts };
        self.map.insert(key, entry, ts);
    }

    /// The name other flows of `device` gave `server`, for a flow that ran from `first` to
    /// `last`: only if no other name seen for the address disagreed on the service, and it was
    /// seen within the TTL of the flow. (Whether the rules list it is the caller's question.)
    pub fn lookup(
        &self,
        device: IpAddr,
        server: IpAddr,
        first: Timestamp,
        last: Timestamp,
    ) -> Option<&str> {
        let e = self.map.get(&(device, server))?;
        let ttl = self.cfg.ttl_secs * SEC;
        let near = e.last_seen.nanos() + ttl >= first.nanos()
            && e.first_seen.nanos() <= last.nanos() + ttl;
        (near && !e.conflict).then_some(&*e.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Ruleset;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn t(s: i64) -> Timestamp {
        Timestamp(s * SEC)
    }

    #[test]
    fn agreement_device_expiry_and_bound() {
        let r = Ruleset::builtin();
        let svc = |h: &str| r.match_host(h).map(|m| m.endpoint.service());
        let cfg = CarriedConfig { max_entries: 2, ttl_secs: 100 };
        let mut c = CarriedNames::new(cfg);
        let (phone, laptop) = (ip("10.0.0.2"), ip("10.0.0.3"));
        let (edge, cdn) = (ip("2a03:2880:f02d:12:face:b00c:0:167"), ip("2a02:26f0::1"));
        c.learn(phone, edge, "web.whatsapp.com", t(1000), svc);
        c.learn(phone, edge, "g.whatsapp.net", t(1010), svc);
        assert_eq!(c.lookup(phone, edge, t(900), t(2000)), Some("web.whatsapp.com"));
        assert!(c.lookup(laptop, edge, t(900), t(2000)).is_none(), "another device");
        assert!(c.lookup(phone, edge, t(1111), t(2000)).is_none(), "flow began past the TTL");
        assert!(c.lookup(phone, edge, t(700), t(899)).is_none(), "flow ended long before");
        // Two services (or a listed and an unlisted name) for one address: not carried.
        c.learn(phone, cdn, "scontent.xx.fbcdn.net", t(1000), svc);
        c.learn(phone, cdn, "example.org", t(1001), svc);
        assert!(c.lookup(phone, cdn, t(1000), t(1000)).is_none());
        // Past the TTL the conflict is forgotten with the entry.
        c.learn(phone, cdn, "scontent.xx.fbcdn.net", t(1200), svc);
        assert!(c.lookup(phone, cdn, t(1200), t(1300)).is_some());
        // Bounded: a third pair evicts the oldest, counted.
        c.learn(laptop, edge, "g.whatsapp.net", t(1300), svc);
        assert_eq!((c.len(), c.evicted()), (2, 1));
        assert!(c.lookup(phone, edge, t(1000), t(1000)).is_none(), "evicted");
    }
}
