//! Direction-independent flow keys: both directions of a conversation hash to the same key.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr};

/// One side of a flow: address (IPv4 stored IPv4-mapped) and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    addr: [u8; 16],
    port: u16,
}

impl HostPort {
    /// Builds an endpoint.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        let v6 = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        HostPort { addr: v6.octets(), port }
    }
    /// The address, IPv4 again if it was IPv4.
    pub fn ip(&self) -> IpAddr {
        Ipv6Addr::from(self.addr).to_canonical()
    }
    /// The port (ICMP: see [`FlowKey::new`]).
    pub fn port(&self) -> u16 {
        self.port
    }
}

// Hashed as whole words: the derived impls feed the address as a length-prefixed byte slice,
// seven hasher calls per key on the per-packet lookup instead of three.
impl Hash for HostPort {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.addr));
        h.write_u16(self.port);
    }
}

/// A bidirectional 5-tuple: the lower endpoint first, so that both directions match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// The lower endpoint.
    pub lo: HostPort,
    /// The higher endpoint.
    pub hi: HostPort,
    /// IP protocol number.
    pub proto: u8,
}

impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.lo.addr));
        h.write_u128(u128::from_ne_bytes(self.hi.addr));
        h.write_u64(
            u64::from(self.lo.port) << 24 | u64::from(self.hi.port) << 8 | u64::from(self.proto),
        );
    }
}

impl FlowKey {
    /// Key for a packet from `src` to `dst`; the flag is true when `src` is the `lo` side.
    pub fn new(src: HostPort, dst: HostPort, proto: u8) -> (Self, bool) {
        if src <= dst {
            (FlowKey { lo: src, hi: dst, proto }, true)
        } else {
            (FlowKey { lo: dst, hi: src, proto }, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_key() {
        let a = HostPort::new("10.0.0.2".parse().unwrap(), 40000);
        let b = HostPort::new("157.240.1.1".parse().unwrap(), 443);
        let (k1, d1) = FlowKey::new(a, b, 6);
        let (k2, d2) = FlowKey::new(b, a, 6);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        assert_eq!(a.ip(), "10.0.0.2".parse::<IpAddr>().unwrap());
    }
}
