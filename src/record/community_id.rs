//! Community ID v1 (Corelight's community-id-spec): the flow hash Zeek, Suricata, Arkime and
//! others share, so a flow of ours can be found in their logs. `1:` + base64(SHA-1(seed, the two
//! addresses, protocol, a zero byte, the two ports)), the endpoints ordered so both directions
//! give the same id. Computed once per flow record: a 40-byte SHA-1, cheap next to the record.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// A Community ID, `1:` and 28 base64 characters, held inline: no allocation per record.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityId([u8; 30]);

impl CommunityId {
    /// The text, e.g. `1:wCb3OG7yAFWelaUydu0D+125CLM=`.
    pub fn as_str(&self) -> &str {
        // Built from ASCII only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    fn from_digest(d: &[u8; 20]) -> Self {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = [b'='; 30];
        out[0] = b'1';
        out[1] = b':';
        // 20 bytes: six whole groups of three, then two bytes (three characters and `=`).
        for (i, c) in d.chunks(3).enumerate() {
            let b = [c[0], c.get(1).copied().unwrap_or(0), c.get(2).copied().unwrap_or(0)];
            let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            let at = 2 + 4 * i;
            for (k, o) in out[at..at + 1 + c.len()].iter_mut().enumerate() {
                *o = B64[(n >> (18 - 6 * k) & 63) as usize];
            }
        }
        CommunityId(out)
    }
}

impl std::fmt::Display for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl serde::Serialize for CommunityId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;

/// The spec's ICMP "port equivalents": a request type maps to its reply type (and back), so a
/// request/reply pair hashes as one flow. `None`: a one-way message, hashed as sent.
fn icmp_peer(proto: u8, ty: u16) -> Option<u16> {
    let pairs: &[(u16, u16)] = if proto == ICMP {
        // echo, router solicitation/advertisement, timestamp, information, address mask
        &[(8, 0), (10, 9), (13, 14), (15, 16), (17, 18)]
    } else {
        // echo, MLD query/report, router and neighbour discovery, node information, home agent
        &[(128, 129), (130, 131), (133, 134), (135, 136), (139, 140), (144, 145)]
    };
    pairs.iter().find_map(|&(a, b)| {
        if ty == a {
            Some(b)
        } else if ty == b {
            Some(a)
        } else {
            None
        }
    })
}

/// The Community ID of a flow from `src` to `dst` (for ICMP the ports are the first message's
/// type and code), with the spec's seed `seed` (0 by default everywhere).
pub fn community_id(
    seed: u16,
    src: IpAddr,
    src_port: u16,
    dst: IpAddr,
    dst_port: u16,
    proto: u8,
) -> CommunityId {
    let (mut sp, mut dp) = (src_port, dst_port);
    let mut one_way = false;
    if proto == ICMP || proto == ICMPV6 {
        match icmp_peer(proto, sp) {
            Some(peer) => dp = peer,
            None => one_way = true,
        }
    }
    let (mut a, mut b) = (src, dst);
    // Addresses compare as byte strings; an IPv4 flow never meets an IPv6 one here.
    let ordered = one_way || a < b || (a == b && sp <= dp);
    if !ordered {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut sp, &mut dp);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    for addr in [a, b] {
        match addr {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
    }
    h.update([proto, 0]);
    // Protocols without ports hash the addresses and protocol alone.
    if matches!(proto, ICMP | TCP | UDP | ICMPV6 | SCTP) {
        h.update(sp.to_be_bytes());
        h.update(dp.to_be_bytes());
    }
    CommunityId::from_digest(&h.finalize().into())
}

/// The Community ID of a record's 5-tuple as written (after anonymisation rewrote its
/// addresses, so the id matches the addresses shown).
pub fn of_record(r: &super::FlowRecord) -> CommunityId {
    let proto = match r.proto.as_str() {
        "tcp" => TCP,
        "udp" => UDP,
        "icmp" => ICMP,
        "icmp6" => ICMPV6,
        other => other.parse().unwrap_or(0),
    };
    community_id(0, r.orig_h, r.orig_p, r.resp_h, r.resp_p, proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seed: u16, s: &str, sp: u16, d: &str, dp: u16, proto: u8) -> String {
        community_id(seed, s.parse().unwrap(), sp, d.parse().unwrap(), dp, proto).to_string()
    }

    /// The spec's published vectors (also Zeek's and Suricata's test suites).
    #[test]
    fn published_vectors() {
        let v6a = "fe80:1:203:405:607:809:a0b:c0d";
        let v6b = "fe80:1011:1213:1415:1617:1819:1a1b:1c1d";
        let cases = [
            (0, "1.2.3.4", 1122, "5.6.7.8", 3344, TCP, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
            (0, "5.6.7.8", 3344, "1.2.3.4", 1122, TCP, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
            (0, "1.2.3.4", 1122, "5.6.7.8", 3344, UDP, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
            (0, "1.2.3.4", 8, "5.6.7.8", 0, ICMP, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
            (0, "5.6.7.8", 0, "1.2.3.4", 0, ICMP, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
            (0, v6a, 128, v6b, 0, ICMPV6, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
            (0, "1.2.3.4", 0, "5.6.7.8", 0, 46, "1:ikv3kmf89luf73WPz1jOs49S768="),
            (1, "1.2.3.4", 1122, "5.6.7.8", 3344, TCP, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
            (1, "1.2.3.4", 1122, "5.6.7.8", 3344, UDP, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
            (1, "1.2.3.4", 8, "5.6.7.8", 0, ICMP, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
            (1, v6a, 128, v6b, 0, ICMPV6, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="),
        ];
        for (seed, s, sp, d, dp, proto, want) in cases {
            assert_eq!(id(seed, s, sp, d, dp, proto), want, "{s}:{sp} -> {d}:{dp} proto {proto}");
        }
    }

    #[test]
    fn one_way_icmp_is_not_reordered() {
        // Destination unreachable (3) has no peer type: hashed in the order sent, so the two
        // directions differ.
        assert_ne!(
            id(0, "5.6.7.8", 3, "1.2.3.4", 1, ICMP),
            id(0, "1.2.3.4", 3, "5.6.7.8", 1, ICMP)
        );
    }
}
