//! IP prefixes: parsing with precise errors, and a longest-prefix-match table.
//!
//! The table flattens nested prefixes into disjoint address ranges, each labelled with its most
//! specific prefix, so a lookup is one binary search (allocation-free, O(log n)).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::ids::EndpointId;

/// Why a prefix does not parse (the caller quotes the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The address part is not an IP address.
    #[error("invalid IP address")]
    Address,
    /// The length is not a number up to 32 (IPv4) or 128 (IPv6).
    #[error("invalid prefix length")]
    Length,
    /// Bits beyond the length are set (the network meant).
    #[error("host bits set (the network is {0})")]
    HostBits(IpNet),
}

/// Parses `a.b.c.d/len` or `v6/len` (a bare address means a single host). Host bits must be zero,
/// so a typo like `157.240.1.0/16` is caught rather than silently widened.
pub fn parse_prefix(text: &str) -> Result<IpNet, PrefixError> {
    let text = text.trim();
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    // The caller quotes the value (shortened): the reason does not repeat it.
    let addr: IpAddr = addr.parse().map_err(|_| PrefixError::Address)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(PrefixError::Length),
        },
    };
    let net = IpNet::new(addr, len).map_err(|_| PrefixError::Length)?;
    if net.network() != addr {
        return Err(PrefixError::HostBits(net.trunc()));
    }
    Ok(net)
}

/// The result of an address lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixMatch {
    /// Endpoint of the most specific prefix holding the address.
    pub endpoint: EndpointId,
    /// That prefix.
    pub prefix: IpNet,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    first: u128,
    last: u128,
    entry: u32,
}

/// Longest-prefix-match table for one address family (addresses widened to `u128`).
#[derive(Debug, Default)]
struct Family {
    ranges: Vec<Range>,
}

impl Family {
    /// `prefixes`: (first, last, entry index, prefix length). Prefixes nest or are disjoint.
    fn build(mut prefixes: Vec<(u128, u128, u32, u8)>) -> Family {
        // Wider prefixes first at the same start, so inner ones are pushed above them.
        prefixes.sort_by_key(|&(first, _, _, len)| (first, len));
        let mut ranges = Vec::new();
        let mut stack: Vec<(u128, u32)> = Vec::new(); // (last, entry) of open prefixes
        let mut cursor: u128 = 0; // first address not yet emitted
        let emit = |from: u128, to: u128, entry: u32, ranges: &mut Vec<Range>| {
            if from <= to {
                ranges.push(Range { first: from, last: to, entry });
            }
        };
        let mut done = false; // cursor ran past the end of the address space
        for (first, last, entry, _) in prefixes {
            while let Some(&(top_last, top_entry)) = stack.last() {
                if top_last >= first {
                    break;
                }
                if !done {
                    emit(cursor, top_last, top_entry, &mut ranges);
                }
                cursor = top_last.wrapping_add(1);
                stack.pop();
            }
            if let Some(&(_, top_entry)) = stack.last()
                && cursor < first
            {
                emit(cursor, first - 1, top_entry, &mut ranges);
            }
            cursor = first;
            done = false;
            stack.push((last, entry));
        }
        while let Some((top_last, top_entry)) = stack.pop() {
            if !done && cursor <= top_last {
                emit(cursor, top_last, top_entry, &mut ranges);
            }
            done = top_last == u128::MAX;
            cursor = top_last.wrapping_add(1);
        }
        Family { ranges }
    }

    fn find(&self, addr: u128) -> Option<u32> {
        let i = self.ranges.partition_point(|r| r.first <= addr).checked_sub(1)?;
        let r = self.ranges[i];
        (addr <= r.last).then_some(r.entry)
    }
}

/// Compiled prefix table for IPv4 and IPv6.
#[derive(Debug, Default)]
pub(crate) struct PrefixTable {
    entries: Vec<(IpNet, EndpointId)>,
    v4: Family,
    v6: Family,
}

impl PrefixTable {
    /// Builds the table; the caller has already removed duplicate prefixes.
    pub(crate) fn build(entries: Vec<(IpNet, EndpointId)>) -> PrefixTable {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (i, (net, _)) in entries.iter().enumerate() {
            match net {
                IpNet::V4(n) => v4.push(span_v4(n, i as u32)),
                IpNet::V6(n) => v6.push(span_v6(n, i as u32)),
            }
        }
        PrefixTable { v4: Family::build(v4), v6: Family::build(v6), entries }
    }

    /// Number of prefixes.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The endpoint of every prefix (for counts).
    pub(crate) fn endpoints(&self) -> impl Iterator<Item = EndpointId> + '_ {
        self.entries.iter().map(|(_, e)| *e)
    }

    /// Most specific prefix holding `ip`. IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub(crate) fn find(&self, ip: IpAddr) -> Option<PrefixMatch> {
        let entry = match ip {
            IpAddr::V4(a) => self.v4.find(u128::from(u32::from(a))),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a4) => self.v4.find(u128::from(u32::from(a4))),
                None => self.v6.find(u128::from(a)),
            },
        }?;
        let (prefix, endpoint) = self.entries[entry as usize];
        Some(PrefixMatch { endpoint, prefix })
    }
}

fn span_v4(n: &Ipv4Net, entry: u32) -> (u128, u128, u32, u8) {
    let first = u128::from(u32::from(n.network()));
    let last = u128::from(u32::from(n.broadcast()));
    (first, last, entry, n.prefix_len())
}

fn span_v6(n: &Ipv6Net, entry: u32) -> (u128, u128, u32, u8) {
    (u128::from(n.network()), u128::from(n.broadcast()), entry, n.prefix_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(list: &[&str]) -> PrefixTable {
        PrefixTable::build(
            list.iter()
                .enumerate()
                .map(|(i, p)| (parse_prefix(p).unwrap(), EndpointId::test(i as u16)))
                .collect(),
        )
    }

    fn hit(t: &PrefixTable, ip: &str) -> Option<String> {
        t.find(ip.parse().unwrap()).map(|m| m.prefix.to_string())
    }

    #[test]
    fn parse_errors_name_the_fault() {
        assert_eq!(
            parse_prefix("157.240.0.0/33").unwrap_err().to_string(),
            "invalid prefix length"
        );
        assert_eq!(
            parse_prefix("2a03:2880::/129").unwrap_err().to_string(),
            "invalid prefix length"
        );
        assert_eq!(parse_prefix("157.240.0.0/x").unwrap_err().to_string(), "invalid prefix length");
        assert_eq!(parse_prefix("157.240.0/16").unwrap_err().to_string(), "invalid IP address");
        assert_eq!(
            parse_prefix("157.240.1.0/16").unwrap_err().to_string(),
            "host bits set (the network is 157.240.0.0/16)"
        );
        assert_eq!(parse_prefix("1.2.3.4").unwrap().to_string(), "1.2.3.4/32");
    }

    #[test]
    fn longest_prefix_wins_v4() {
        let t = table(&["157.240.0.0/17", "157.240.1.53/32", "157.240.2.0/24", "0.0.0.0/0"]);
        assert_eq!(hit(&t, "157.240.1.53").as_deref(), Some("157.240.1.53/32"));
        assert_eq!(hit(&t, "157.240.1.52").as_deref(), Some("157.240.0.0/17"));
        assert_eq!(hit(&t, "157.240.1.54").as_deref(), Some("157.240.0.0/17"));
        assert_eq!(hit(&t, "157.240.2.255").as_deref(), Some("157.240.2.0/24"));
        assert_eq!(hit(&t, "157.240.3.0").as_deref(), Some("157.240.0.0/17"));
        assert_eq!(hit(&t, "157.240.128.0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(hit(&t, "255.255.255.255").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(hit(&t, "0.0.0.0").as_deref(), Some("0.0.0.0/0"));
        // IPv4-mapped IPv6 is looked up as IPv4; the v6 family is empty.
        assert_eq!(hit(&t, "::ffff:157.240.1.53").as_deref(), Some("157.240.1.53/32"));
        assert_eq!(hit(&t, "2a03:2880::1"), None);
    }

    #[test]
    fn longest_prefix_wins_v6_and_gaps_miss() {
        let t = table(&[
            "2a03:2880::/32",
            "2a03:2880:f0ff::/48",
            "2a03:2880:f0ff:c::/64",
            "::/0",
            "10.0.0.0/8",
        ]);
        assert_eq!(hit(&t, "2a03:2880:f0ff:c::1").as_deref(), Some("2a03:2880:f0ff:c::/64"));
        assert_eq!(hit(&t, "2a03:2880:f0ff:d::1").as_deref(), Some("2a03:2880:f0ff::/48"));
        assert_eq!(hit(&t, "2a03:2880:1::1").as_deref(), Some("2a03:2880::/32"));
        assert_eq!(hit(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").as_deref(), Some("::/0"));
        assert_eq!(hit(&t, "11.0.0.0"), None);
        assert_eq!(hit(&t, "9.255.255.255"), None);
        assert_eq!(hit(&t, "10.255.255.255").as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn sibling_and_adjacent_prefixes() {
        let t = table(&[
            "31.13.64.0/18",
            "31.13.64.60/31",
            "31.13.65.49/32",
            "31.13.65.50/32",
            "31.13.128.0/24",
        ]);
        assert_eq!(hit(&t, "31.13.64.61").as_deref(), Some("31.13.64.60/31"));
        assert_eq!(hit(&t, "31.13.64.62").as_deref(), Some("31.13.64.0/18"));
        assert_eq!(hit(&t, "31.13.65.50").as_deref(), Some("31.13.65.50/32"));
        assert_eq!(hit(&t, "31.13.65.51").as_deref(), Some("31.13.64.0/18"));
        assert_eq!(hit(&t, "31.13.127.255").as_deref(), Some("31.13.64.0/18"));
        assert_eq!(hit(&t, "31.13.128.7").as_deref(), Some("31.13.128.0/24"));
        assert_eq!(hit(&t, "31.13.129.0"), None);
    }

    /// The flattened table agrees with a brute-force longest match on random nested prefixes.
    #[test]
    fn agrees_with_brute_force() {
        let mut rnd = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..50 {
            let mut nets: Vec<IpNet> = Vec::new();
            for _ in 0..40 {
                // Few distinct high bits so that prefixes nest often.
                let addr = std::net::Ipv4Addr::from(
                    ((rnd() % 4) as u32) << 30 | (rnd() as u32 & 0x3fff_ffff),
                );
                let net = IpNet::new(IpAddr::V4(addr), (rnd() % 33) as u8).unwrap().trunc();
                if !nets.contains(&net) {
                    nets.push(net);
                }
            }
            let t = PrefixTable::build(
                nets.iter().enumerate().map(|(i, n)| (*n, EndpointId::test(i as u16))).collect(),
            );
            for q in 0..500 {
                // Half the queries probe the edges of a prefix, where an off-by-one would show.
                let ip = if q % 2 == 0 {
                    IpAddr::V4(std::net::Ipv4Addr::from(
                        ((rnd() % 4) as u32) << 30 | (rnd() as u32 & 0x3fff_ffff),
                    ))
                } else {
                    let IpNet::V4(n) = nets[rnd() as usize % nets.len()] else {
                        unreachable!("only IPv4 here")
                    };
                    let edge = [u32::from(n.network()), u32::from(n.broadcast())][q % 4 / 2];
                    IpAddr::V4(edge.wrapping_add([0, 1, u32::MAX][rnd() as usize % 3]).into())
                };
                let want = nets.iter().filter(|n| n.contains(&ip)).max_by_key(|n| n.prefix_len());
                assert_eq!(t.find(ip).map(|m| m.prefix), want.copied(), "round {round}, {ip}");
            }
        }
    }
}
