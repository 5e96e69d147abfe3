//! IPv4/IPv6 (with extension headers and fragments) and the transport header, via etherparse's
//! lax slices, which tolerate snaplen-cut packets.

use etherparse::LaxIpSlice;

use super::{
    DecodeError, Decoded, Fragment, LinkInfo, Tcp, Transport, Tunnel, TunnelKind, VXLAN_PORT,
};

const PROTO_ICMP: u8 = 1;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6_IN_IP: u8 = 41;
const PROTO_ICMPV6: u8 = 58;
const IPV6_HEADER_LEN: u32 = 40;
/// VXLAN header: flags(1, I bit 0x08) reserved(3) VNI(3) reserved(1).
const VXLAN_HEADER_LEN: usize = 8;

/// Most IPv6 extension headers walked before the fragment header is given up on.
const MAX_IPV6_EXTENSIONS: usize = 8;

/// The IPv6 fragment header's facts, found by walking the extension headers with bounds checks.
///
/// Not etherparse's `Ipv6ExtensionsSlice` iterator: in 0.21, after a lax parse stopped inside a
/// truncated chain, it builds the next header's slice with `from_slice_unchecked` past the end of
/// the data (an out-of-bounds read; found by `fuzz/fuzz_targets/decode.rs`, see
/// `tests/regression.rs`).
fn ipv6_fragment(data: &[u8]) -> Option<Fragment> {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    const DEST_OPTS: u8 = 60;
    const MOBILITY: u8 = 135;
    let mut next = *data.get(6)?;
    let mut off = IPV6_HEADER_LEN as usize;
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let h = data.get(off..off.checked_add(8)?)?;
        match next {
            HOP_BY_HOP | ROUTING | DEST_OPTS | MOBILITY => off += (usize::from(h[1]) + 1) * 8,
            // AH counts 4-octet units, minus 2 (RFC 4302).
            AUTH => off += (usize::from(h[1]) + 2) * 4,
            FRAGMENT => {
                let offset_flags = u16::from_be_bytes([h[2], h[3]]);
                let (offset, more) = (offset_flags >> 3, offset_flags & 1 == 1);
                // An atomic fragment (offset 0, no more) fragments nothing.
                return (offset != 0 || more).then(|| Fragment {
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    first: offset == 0,
                });
            }
            _ => return None,
        }
        next = h[0];
    }
    None
}

/// Decodes an IP packet and its transport header.
pub fn decode_ip(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let (ip, _ext_err) = LaxIpSlice::from_slice(data).map_err(|_| DecodeError::BadIp)?;
    let (ip_len, fragment) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let declared = u32::from(h.total_len());
            let ip_len =
                if declared >= u32::from(h.ihl()) * 4 { declared } else { data.len() as u32 };
            let frag =
                (h.more_fragments() || h.fragments_offset().value() != 0).then(|| Fragment {
                    id: u32::from(h.identification()),
                    first: h.fragments_offset().value() == 0,
                });
            (ip_len, frag)
        }
        LaxIpSlice::Ipv6(v6) => {
            let declared = u32::from(v6.header().payload_length());
            let ip_len = if declared == 0 { data.len() as u32 } else { IPV6_HEADER_LEN + declared };
            (ip_len, ipv6_fragment(data))
        }
    };
    let payload = ip.payload();
    let proto = payload.ip_number.0;
    // Bytes of transport header + payload as the IP header declares them.
    let l4_offset =
        (payload.payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize) as u32;
    let l4_len = ip_len.saturating_sub(l4_offset);
    let mut tunnel = None;
    let transport = if fragment.is_some_and(|f| !f.first) {
        Transport::Fragment
    } else {
        match proto {
            PROTO_TCP => tcp(payload.payload, l4_len),
            PROTO_UDP => {
                let t = udp(payload.payload);
                if let Transport::Udp { sport, dport, payload, .. } = t {
                    tunnel = vxlan(sport, dport, payload).or_else(|| gtp_u(sport, dport, payload));
                }
                t
            }
            PROTO_ICMP | PROTO_ICMPV6 => match payload.payload {
                [kind, code, ..] => Transport::Icmp { kind: *kind, code: *code },
                _ => Transport::Other,
            },
            PROTO_IPIP | PROTO_IPV6_IN_IP if fragment.is_none() => {
                tunnel = Some(Tunnel { kind: TunnelKind::IpInIp, inner: payload.payload });
                Transport::Other
            }
            _ => Transport::Other,
        }
    };
    Ok(Decoded {
        link: LinkInfo::default(),
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        ip_len,
        proto,
        fragment,
        transport,
        tunnel,
    })
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// TCP header: a segment whose header is cut or whose data offset is impossible has no ports we
/// can trust, so it is `Other`.
fn tcp(b: &[u8], l4_len: u32) -> Transport<'_> {
    if b.len() < 20 {
        return Transport::Other;
    }
    let header_len = usize::from(b[12] >> 4) * 4;
    if header_len < 20 {
        return Transport::Other;
    }
    let payload = b.get(header_len..).unwrap_or_default();
    Transport::Tcp(Tcp {
        sport: be16(b, 0),
        dport: be16(b, 2),
        seq: be32(b, 4),
        ack: be32(b, 8),
        flags: b[13],
        payload,
        payload_len: l4_len.saturating_sub(header_len as u32).max(payload.len() as u32),
    })
}

fn udp(b: &[u8]) -> Transport<'_> {
    if b.len() < 8 {
        return Transport::Other;
    }
    let declared = usize::from(be16(b, 4));
    // A zero or bogus UDP length (jumbograms, offloading) falls back to what was captured.
    let end = if (8..=b.len()).contains(&declared) { declared } else { b.len() };
    let payload_len = if declared >= 8 { declared - 8 } else { b.len() - 8 } as u32;
    Transport::Udp { sport: be16(b, 0), dport: be16(b, 2), payload: &b[8..end], payload_len }
}

fn vxlan(sport: u16, dport: u16, payload: &[u8]) -> Option<Tunnel<'_>> {
    let is_vxlan = (dport == VXLAN_PORT || sport == VXLAN_PORT)
        && payload.len() > VXLAN_HEADER_LEN
        && payload[0] & 0x08 != 0;
    is_vxlan.then(|| Tunnel { kind: TunnelKind::Vxlan, inner: &payload[VXLAN_HEADER_LEN..] })
}

/// GTP-U (3GPP TS 29.281), mobile core user plane: version 1, protocol type GTP, message G-PDU.
/// The optional sequence/N-PDU/extension fields are present when any of the E, S, PN bits is set;
/// extension headers are chained by their last byte.
fn gtp_u(sport: u16, dport: u16, p: &[u8]) -> Option<Tunnel<'_>> {
    const GTP_U_PORT: u16 = 2152;
    const G_PDU: u8 = 0xff;
    if (dport != GTP_U_PORT && sport != GTP_U_PORT) || p.len() < 8 {
        return None;
    }
    if p[0] & 0xf0 != 0x30 || p[1] != G_PDU {
        return None;
    }
    let mut at = 8;
    if p[0] & 0x07 != 0 {
        at = 12;
        let mut next = *p.get(11)?;
        while next != 0 {
            let units = usize::from(*p.get(at)?);
            if units == 0 {
                return None;
            }
            at += units * 4;
            next = *p.get(at - 1)?;
        }
    }
    let inner = p.get(at..)?;
    matches!(inner.first().map(|b| b >> 4), Some(4 | 6))
        .then_some(Tunnel { kind: TunnelKind::Gtp, inner })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// IPv6 header + hop-by-hop (8 bytes) + fragment header, then `rest`.
    fn v6_with_fragment(offset: u16, more: bool, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 0 /* hop-by-hop */, 64];
        p.extend_from_slice(&[0x20; 32]);
        p.extend_from_slice(&[44 /* fragment next */, 0, 1, 4, 0, 0, 0, 0]);
        let of = (offset << 3) | u16::from(more);
        p.extend_from_slice(&[17, 0, (of >> 8) as u8, of as u8, 0xde, 0xad, 0xbe, 0xef]);
        p.extend_from_slice(rest);
        let len = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p
    }

    #[test]
    fn ipv6_fragment_header_behind_hop_by_hop() {
        let f = ipv6_fragment(&v6_with_fragment(0, true, &[0; 8])).unwrap();
        assert_eq!((f.id, f.first), (0xdead_beef, true));
        let f = ipv6_fragment(&v6_with_fragment(100, false, &[0; 8])).unwrap();
        assert!(!f.first);
        assert_eq!(ipv6_fragment(&v6_with_fragment(0, false, &[])), None, "atomic fragment");
    }

    /// Every truncation of a chain, and a chain whose lengths point past the end: no fragment,
    /// no read past the data.
    #[test]
    fn ipv6_extension_chain_truncated_or_lying() {
        let full = v6_with_fragment(0, true, &[0; 8]);
        for n in 0..full.len() {
            let _ = ipv6_fragment(&full[..n]);
            let _ = decode_ip(&full[..n]);
        }
        let mut lying = full.clone();
        lying[41] = 0xff; // hop-by-hop claims 2 KiB
        assert_eq!(ipv6_fragment(&lying), None);
        let _ = decode_ip(&lying);
    }

    fn build_tcp(payload: &[u8]) -> Vec<u8> {
        let b =
            PacketBuilder::ipv4([10, 0, 0, 1], [157, 240, 0, 1], 64).tcp(40000, 443, 7, 1000).syn();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn tcp_over_ipv4() {
        let pkt = build_tcp(b"abc");
        let d = decode_ip(&pkt).unwrap();
        assert_eq!(d.ip_len, 20 + 20 + 3);
        let Transport::Tcp(t) = d.transport else { panic!("not tcp") };
        assert_eq!(
            (t.sport, t.dport, t.seq, t.payload, t.payload_len),
            (40000, 443, 7, &b"abc"[..], 3)
        );
        assert_eq!(t.flags & super::super::tcp_flags::SYN, super::super::tcp_flags::SYN);
    }

    #[test]
    fn snaplen_cut_keeps_wire_lengths() {
        let pkt = build_tcp(&[0u8; 100]);
        let d = decode_ip(&pkt[..60]).unwrap();
        assert_eq!(d.ip_len, 140);
        let Transport::Tcp(t) = d.transport else { panic!("not tcp") };
        assert_eq!((t.payload.len(), t.payload_len), (20, 100));
    }

    #[test]
    fn ipv4_fragments() {
        let mut first = build_tcp(&[0u8; 16]);
        first[6] = 0x20; // MF, offset 0
        first[4..6].copy_from_slice(&[0x12, 0x34]);
        let d = decode_ip(&first).unwrap();
        assert_eq!(d.fragment, Some(Fragment { id: 0x1234, first: true }));
        assert!(matches!(d.transport, Transport::Tcp(_)));
        let mut later = first.clone();
        later[6] = 0x00;
        later[7] = 0x05; // offset 40 bytes, last fragment
        let d = decode_ip(&later).unwrap();
        assert_eq!(d.fragment, Some(Fragment { id: 0x1234, first: false }));
        assert!(matches!(d.transport, Transport::Fragment));
    }

    #[test]
    fn ipv6_udp_and_garbage() {
        let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).udp(5353, 53);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"q").unwrap();
        let d = decode_ip(&pkt).unwrap();
        assert!(matches!(
            d.transport,
            Transport::Udp { sport: 5353, dport: 53, payload: b"q", payload_len: 1 }
        ));
        assert_eq!(decode_ip(&[0x45, 0, 0]).unwrap_err(), DecodeError::BadIp);
        assert_eq!(decode_ip(&[0x70; 40]).unwrap_err(), DecodeError::BadIp);
        assert_eq!(decode_ip(&[]).unwrap_err(), DecodeError::BadIp);
    }

    #[test]
    fn six_in_four_is_a_tunnel() {
        let inner = {
            let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).udp(1, 2);
            let mut v = Vec::new();
            b.write(&mut v, b"x").unwrap();
            v
        };
        let mut outer = build_tcp(&[]);
        outer.truncate(20);
        outer[9] = PROTO_IPV6_IN_IP;
        outer.extend(&inner);
        let total = outer.len() as u16;
        outer[2..4].copy_from_slice(&total.to_be_bytes());
        let d = decode_ip(&outer).unwrap();
        let t = d.tunnel.unwrap();
        assert_eq!(t.kind, TunnelKind::IpInIp);
        assert!(matches!(
            decode_ip(t.inner).unwrap().transport,
            Transport::Udp { sport: 1, dport: 2, .. }
        ));
    }
}
