//! Which addresses are on the local side: private (RFC 1918), CGNAT (RFC 6598), link-local, ULA,
//! loopback, plus any `--local-net` the user gives (a hotspot on public addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The local address ranges.
#[derive(Clone, Debug)]
pub struct LocalNets {
    extra: Vec<IpNet>,
    /// [`NEVER`], [`ALWAYS`] or [`ASK`] for each first octet of an IPv4 address: most addresses
    /// in a capture are public, and one load answers for them (the reading thread of `replay
    /// --threads` asks for both sides of every packet).
    first_v4: [u8; 256],
}

/// No local range starts with this octet.
const NEVER: u8 = 0;
/// The whole /8 is local.
const ALWAYS: u8 = 1;
/// Part of the /8 is local: the ranges decide.
const ASK: u8 = 2;

/// [`LocalNets::first_v4`] of the built-in ranges: 10/8 and 127/8 whole; 172.16/12,
/// 192.168/16, 169.254/16, 100.64/10 and 0.0.0.0 in part.
const BUILTIN_FIRST_V4: [u8; 256] = {
    let mut t = [NEVER; 256];
    t[10] = ALWAYS;
    t[127] = ALWAYS;
    t[0] = ASK;
    t[100] = ASK;
    t[169] = ASK;
    t[172] = ASK;
    t[192] = ASK;
    t
};

/// The built-in ranges alone.
static BUILTIN: LocalNets = LocalNets { extra: Vec::new(), first_v4: BUILTIN_FIRST_V4 };

impl Default for LocalNets {
    fn default() -> Self {
        BUILTIN.clone()
    }
}

impl LocalNets {
    /// The built-in ranges plus `extra`.
    pub fn new(extra: Vec<IpNet>) -> Self {
        let mut first_v4 = BUILTIN_FIRST_V4;
        for net in &extra {
            if let IpNet::V4(n) = net {
                // The first octets the network spans (all of them for a prefix under 8 bits).
                let (lo, hi) = (n.network().octets()[0], n.broadcast().octets()[0]);
                for o in lo..=hi {
                    if first_v4[usize::from(o)] == NEVER {
                        first_v4[usize::from(o)] = ASK;
                    }
                }
            }
        }
        LocalNets { extra, first_v4 }
    }

    /// Whether `ip` is on the local side.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.contains_v4(v4),
            IpAddr::V6(v6) => self.contains_v6(u128::from(v6)),
        }
    }

    /// [`LocalNets::contains`] for an IPv6 address, as its number.
    #[inline]
    pub fn contains_v6(&self, v: u128) -> bool {
        // In one number: ULA, link-local, and `::`/`::1` (unspecified, loopback).
        let s = (v >> 112) as u16;
        let builtin = (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80 || v <= 1;
        builtin || self.extra.iter().any(|n| n.contains(&IpAddr::V6(Ipv6Addr::from(v))))
    }

    /// [`LocalNets::contains`] for an IPv4 address.
    #[inline]
    pub fn contains_v4(&self, v4: Ipv4Addr) -> bool {
        match self.first_v4[usize::from(v4.octets()[0])] {
            NEVER => false,
            ALWAYS => true,
            _ => self.ranges_v4(v4),
        }
    }

    /// Whether an IPv4 address is in a local range, range by range.
    fn ranges_v4(&self, v4: Ipv4Addr) -> bool {
        let o = v4.octets();
        let builtin = v4.is_private()
            || v4.is_link_local()
            || v4.is_loopback()
            || v4.is_unspecified()
            || (o[0] == 100 && (o[1] & 0xc0) == 64);
        builtin || self.extra.iter().any(|n| n.contains(&IpAddr::V4(v4)))
    }

    /// The device a flow between `a` and `b` belongs to, from its 5-tuple alone (so the same
    /// for every packet of the flow, either way, before the flow table has seen it): the local
    /// side; when both or neither side is local, the side with the higher port (the client's
    /// ephemeral port; a capture of public addresses then keys a flow by its client, like the
    /// exposure map), and the lower address on a tie. What the classifier learns from a flow
    /// (DNS names, carried names, call sockets) is kept per device so found, which lets
    /// `replay --threads` give each device's flows to one worker and stay exact.
    #[inline]
    pub fn device_side(&self, a: (IpAddr, u16), b: (IpAddr, u16)) -> IpAddr {
        device_side((a, self.contains(a.0)), (b, self.contains(b.0)))
    }
}

/// [`LocalNets::device_side`] when whether each side is local is known already.
/// Generic over the address, so that IPv4 can be decided without building an [`IpAddr`]
/// (whose order within IPv4 is the same).
#[inline]
pub fn device_side<A: Ord>(a: ((A, u16), bool), b: ((A, u16), bool)) -> A {
    let (((a, ap), a_local), ((b, bp), b_local)) = (a, b);
    match (a_local, b_local) {
        (true, false) => a,
        (false, true) => b,
        _ if ap != bp => {
            if ap > bp {
                a
            } else {
                b
            }
        }
        _ => a.min(b),
    }
}

/// Whether an address names no single host (unspecified, broadcast, multicast).
pub fn not_a_host(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

/// Whether a geolocation database may be asked about `ip`: a globally routed unicast address,
/// not a local, documentation (RFC 5737, RFC 3849), benchmarking (RFC 2544) or reserved one.
pub fn geolocatable(ip: IpAddr) -> bool {
    if BUILTIN.contains(ip) || not_a_host(ip) {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let doc = matches!((o[0], o[1], o[2]), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
            !(doc || (o[0] == 198 && (o[1] & 0xfe) == 18) || o[0] >= 240 || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // Global unicast is 2000::/3; 2001:db8::/32 is documentation.
            (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_side_is_the_local_side_else_the_client_port_and_either_way_the_same() {
        let l = LocalNets::default();
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let (phone, router, meta) = (ip("192.168.1.23"), ip("192.168.1.1"), ip("157.240.1.35"));
        let cases = [
            ((phone, 443), (meta, 51000), phone), // the local side, whatever the ports
            ((phone, 40000), (router, 53), phone), // both local: the client's higher port
            ((ip("203.0.113.7"), 40000), (meta, 443), ip("203.0.113.7")), // neither local
            ((phone, 5353), (router, 5353), router), // a tie: the lower address
        ];
        for (a, b, want) in cases {
            assert_eq!(l.device_side(a, b), want, "{a:?} {b:?}");
            assert_eq!(l.device_side(b, a), want, "{b:?} {a:?} (the other way)");
        }
    }

    /// The first-octet table answers as the ranges do, for every /16 and both ends of it,
    /// with and without extra networks (a /24, a /4 spanning sixteen first octets, one host).
    #[test]
    fn the_first_octet_table_answers_as_the_ranges_do() {
        let extras = [
            vec![],
            vec!["198.51.100.0/24".parse().unwrap()],
            vec!["32.0.0.0/4".parse().unwrap(), "203.0.113.9/32".parse().unwrap()],
        ];
        for extra in extras {
            let l = LocalNets::new(extra);
            for a in 0..=u16::MAX {
                for low in [0u16, 1, 0x8000, u16::MAX] {
                    let v4 = Ipv4Addr::from((u32::from(a) << 16) | u32::from(low));
                    assert_eq!(l.contains_v4(v4), l.ranges_v4(v4), "{v4} with {:?}", l.extra);
                }
            }
            for (a, local) in
                [("203.0.113.9", l.extra.len() == 2), ("40.1.2.3", l.extra.len() == 2)]
            {
                assert_eq!(l.contains(a.parse().unwrap()), local, "{a} with {:?}", l.extra);
            }
        }
    }

    #[test]
    fn ranges() {
        let l = LocalNets::new(vec!["198.51.100.0/24".parse().unwrap()]);
        for a in ["10.42.0.57", "100.64.1.2", "169.254.1.1", "fd00::1", "fe80::1", "198.51.100.9"] {
            assert!(l.contains(a.parse().unwrap()), "{a}");
        }
        for a in ["157.240.1.1", "2a03:2880::1", "100.128.0.1"] {
            assert!(!l.contains(a.parse().unwrap()), "{a}");
        }
        for a in ["191.162.107.92", "2a03:2880::1"] {
            assert!(geolocatable(a.parse().unwrap()), "{a}");
        }
        for a in
            ["192.168.1.2", "198.51.100.23", "2001:db8::1", "fe80::1", "100.64.0.1", "198.18.0.1"]
        {
            assert!(!geolocatable(a.parse().unwrap()), "{a}");
        }
    }
}
