//! Names learnt from DNS answers, per device: (client address, answered address) → the name the
//! client asked for (following CNAMEs). A later flow from that client to that address is named
//! `name_source: "dns"`. Bounded: the oldest answers go first when the cache is full.

use std::net::IpAddr;

use super::bounded::OldestFirst;
use crate::capture::Timestamp;

const SEC: i64 = 1_000_000_000;

/// Cache limits and the grace past a TTL.
#[derive(Clone, Copy, Debug)]
pub struct NameCacheConfig {
    /// Most (client, address) pairs kept.
    pub max_entries: usize,
    /// How long past its TTL an answer still names an address, in seconds. Clients keep using an
    /// address after the TTL (connection reuse, OS caches), so a strict TTL would lose names.
    pub grace_secs: i64,
}

impl Default for NameCacheConfig {
    fn default() -> Self {
        NameCacheConfig { max_entries: 200_000, grace_secs: 600 }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    name: Box<str>,
    seen: Timestamp,
    expires: Timestamp,
}

/// The per-device name cache.
pub struct NameCache {
    cfg: NameCacheConfig,
    map: OldestFirst<(IpAddr, IpAddr), Entry>,
}

impl NameCache {
    /// An empty cache.
    pub fn new(cfg: NameCacheConfig) -> Self {
        NameCache { cfg, map: OldestFirst::new(cfg.max_entries) }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries dropped because the cache was full.
    pub fn evicted(&self) -> u64 {
        self.map.evicted()
    }

    /// Records that `client` learnt at `ts` that `name` is at `addr` for `ttl` seconds.
    pub fn insert(&mut self, client: IpAddr, addr: IpAddr, name: &str, ttl: u32, ts: Timestamp) {
        let expires = Timestamp(ts.nanos() + (i64::from(ttl) + self.cfg.grace_secs) * SEC);
        self.map.insert((client, addr), Entry { name: name.into(), seen: ts, expires }, ts);
    }

    /// The name `client` had for `addr` at time `at`, if an answer was seen before and is still
    /// within its TTL plus grace.
    pub fn lookup(&self, client: IpAddr, addr: IpAddr, at: Timestamp) -> Option<&str> {
        let e = self.map.get(&(client, addr))?;
        (e.seen <= at && at <= e.expires).then_some(&*e.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ttl_grace_device_and_bound() {
        let cfg = NameCacheConfig { max_entries: 2, grace_secs: 10 };
        let mut c = NameCache::new(cfg);
        let (phone, other, wa) = (ip("10.42.0.2"), ip("10.42.0.3"), ip("157.240.1.53"));
        c.insert(phone, wa, "g.whatsapp.net", 60, Timestamp(100 * SEC));
        assert_eq!(c.lookup(phone, wa, Timestamp(150 * SEC)), Some("g.whatsapp.net"));
        assert_eq!(c.lookup(phone, wa, Timestamp(170 * SEC)), Some("g.whatsapp.net"));
        assert_eq!(c.lookup(phone, wa, Timestamp(171 * SEC)), None, "past TTL + grace");
        assert_eq!(c.lookup(phone, wa, Timestamp(99 * SEC)), None, "before the answer");
        assert_eq!(c.lookup(other, wa, Timestamp(150 * SEC)), None, "another device");
        c.insert(phone, ip("1.1.1.1"), "a", 60, Timestamp(101 * SEC));
        c.insert(phone, ip("2.2.2.2"), "b", 60, Timestamp(102 * SEC));
        assert_eq!((c.len(), c.evicted()), (2, 1));
        assert_eq!(c.lookup(phone, wa, Timestamp(150 * SEC)), None, "oldest evicted");
    }
}
