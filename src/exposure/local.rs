//! Which addresses are on the local side: private (RFC 1918), CGNAT (RFC 6598), link-local, ULA,
//! loopback, plus any `--local-net` the user gives (a hotspot on public addresses).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// The local address ranges.
#[derive(Clone, Debug, Default)]
pub struct LocalNets {
    extra: Vec<IpNet>,
}

impl LocalNets {
    /// The built-in ranges plus `extra`.
    pub fn new(extra: Vec<IpNet>) -> Self {
        LocalNets { extra }
    }

    /// Whether `ip` is on the local side.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let builtin = match ip {
            IpAddr::V4(v4) => return self.contains_v4(v4),
            IpAddr::V6(v6) => {
                // In one number: ULA, link-local, and `::`/`::1` (unspecified, loopback).
                let v = u128::from(v6);
                let s = (v >> 112) as u16;
                (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80 || v <= 1
            }
        };
        builtin || self.extra.iter().any(|n| n.contains(&ip))
    }

    /// [`LocalNets::contains`] for an IPv4 address.
    #[inline]
    pub fn contains_v4(&self, v4: Ipv4Addr) -> bool {
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
    if LocalNets::default().contains(ip) || not_a_host(ip) {
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
