//! IPv4/IPv6 (with extension headers and fragments) and the transport header. Plain packets
//! (IPv4 without an authentication header, IPv6 with TCP, UDP or ICMPv6 next) are read in place;
//! everything else through etherparse's lax slices, which tolerate snaplen-cut packets and give
//! the plain path its rules.

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

/// What the IP layer says, before the transport header is read.
struct IpParts<'a> {
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    /// IP bytes as the header declares them (the captured length when it declares too few).
    ip_len: u32,
    proto: u8,
    fragment: Option<Fragment>,
    /// The IP payload: up to the declared length, or what was captured when that is shorter
    /// (or the declared length impossible).
    payload: &'a [u8],
}

/// Decodes an IP packet and its transport header.
pub fn decode_ip(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    decode_ip_below(LinkInfo::default(), data)
}

/// [`decode_ip`] of the IP packet inside a link layer already read (`link`): the result is built
/// once, where the caller wants it, not moved through each layer.
#[inline]
pub(super) fn decode_ip_below(link: LinkInfo, data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let ip = match plain(data) {
        Some(ip) => ip,
        None => lax(data)?,
    };
    Ok(transport(link, data, ip))
}

/// The IP layer of a plain packet, read in place ([`plain_v4`], [`plain_v6`]).
#[inline]
fn plain(data: &[u8]) -> Option<IpParts<'_>> {
    match data.first()? >> 4 {
        4 => plain_v4(data),
        _ => plain_v6(data),
    }
}

/// The IPv4 header of nearly every packet (no authentication header), read in place: what
/// etherparse's lax slice gives, field for field (`lax`; a test holds the two to the same answer
/// on mutated packets), without building its slices and error types, which the decoder's share
/// of a replay spent most of its time moving around. `None`: `lax` decides, errors included.
#[inline]
fn plain_v4(data: &[u8]) -> Option<IpParts<'_>> {
    const AUTH: u8 = 51;
    let vihl = *data.first()?;
    let header_len = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || header_len < 20 || data.len() < header_len || data[9] == AUTH {
        return None;
    }
    let declared = usize::from(be16(data, 2));
    // Lax: a declared length shorter than the header, or longer than what was captured, falls
    // back to the capture.
    let end = if declared < header_len || declared > data.len() { data.len() } else { declared };
    let ip_len = if declared >= header_len { declared } else { data.len() } as u32;
    let flags_offset = be16(data, 6);
    let (more, offset) = (flags_offset & 0x2000 != 0, flags_offset & 0x1fff);
    let fragment = (more || offset != 0)
        .then(|| Fragment { id: u32::from(be16(data, 4)), first: offset == 0 });
    let src: [u8; 4] = data[12..16].try_into().ok()?;
    let dst: [u8; 4] = data[16..20].try_into().ok()?;
    Some(IpParts {
        src: src.into(),
        dst: dst.into(),
        ip_len,
        proto: data[9],
        fragment,
        payload: &data[header_len..end],
    })
}

/// [`plain_v4`] for IPv6 carrying TCP, UDP or ICMPv6 straight after its header (no extension
/// header, so no fragment): the same answer as the lax slice, read in place.
#[inline]
fn plain_v6(data: &[u8]) -> Option<IpParts<'_>> {
    let header = data.get(..IPV6_HEADER_LEN as usize)?;
    let proto = header[6];
    if header[0] >> 4 != 6 || !matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_ICMPV6) {
        return None;
    }
    let declared = usize::from(be16(header, 4));
    let start = IPV6_HEADER_LEN as usize;
    // Lax: a zero payload length (jumbograms, segmentation offload) or one longer than what was
    // captured falls back to the capture.
    let end =
        if declared == 0 || start + declared > data.len() { data.len() } else { start + declared };
    let ip_len = if declared == 0 { data.len() as u32 } else { IPV6_HEADER_LEN + declared as u32 };
    let src: [u8; 16] = header[8..24].try_into().ok()?;
    let dst: [u8; 16] = header[24..40].try_into().ok()?;
    Some(IpParts {
        src: src.into(),
        dst: dst.into(),
        ip_len,
        proto,
        fragment: None,
        payload: &data[start..end],
    })
}

/// The IP layer by etherparse's lax slice: IPv6 extension headers and other protocols, IPv4
/// with an authentication header, and every error.
fn lax(data: &[u8]) -> Result<IpParts<'_>, DecodeError> {
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
    Ok(IpParts {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        ip_len,
        proto: payload.ip_number.0,
        fragment,
        payload: payload.payload,
    })
}

/// The transport header (and a tunnel it carries) of an IP packet whose IP layer is `ip`.
#[inline]
fn transport<'a>(link: LinkInfo, data: &'a [u8], ip: IpParts<'a>) -> Decoded<'a> {
    let IpParts { src, dst, ip_len, proto, fragment, payload } = ip;
    // Bytes of transport header + payload as the IP header declares them.
    let l4_offset = (payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize) as u32;
    let l4_len = ip_len.saturating_sub(l4_offset);
    let mut tunnel = None;
    let transport = if fragment.is_some_and(|f| !f.first) {
        Transport::Fragment
    } else {
        match proto {
            PROTO_TCP => tcp(payload, l4_len),
            PROTO_UDP => {
                let t = udp(payload);
                if let Transport::Udp { sport, dport, payload, .. } = t {
                    tunnel = vxlan(sport, dport, payload).or_else(|| gtp_u(sport, dport, payload));
                }
                t
            }
            PROTO_ICMP | PROTO_ICMPV6 => match payload {
                [kind, code, ..] => Transport::Icmp { kind: *kind, code: *code },
                _ => Transport::Other,
            },
            PROTO_IPIP | PROTO_IPV6_IN_IP if fragment.is_none() => {
                tunnel = Some(Tunnel { kind: TunnelKind::IpInIp, inner: payload });
                Transport::Other
            }
            _ => Transport::Other,
        }
    };
    Decoded { link, src, dst, ip_len, proto, fragment, transport, tunnel }
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

    /// IPv4 packets of each kind the decoder tells apart: TCP, UDP (VXLAN too), ICMP, IP-in-IP,
    /// an authentication header, options, a fragment.
    fn v4_templates() -> Vec<Vec<u8>> {
        let payload = [0x5au8; 48];
        let mut out = Vec::new();
        for kind in 0..4 {
            let b = PacketBuilder::ipv4([192, 168, 1, 20], [157, 240, 1, 1], 64);
            let mut v = Vec::new();
            match kind {
                0 => b.tcp(51_000, 443, 7, 1000).write(&mut v, &payload),
                1 => b.udp(40_000, 53).write(&mut v, &payload),
                2 => b.udp(40_000, VXLAN_PORT).write(&mut v, &payload),
                _ => b.icmpv4_echo_request(1, 2).write(&mut v, &payload),
            }
            .expect("build");
            out.push(v);
        }
        let mut ipip = out[0].clone();
        ipip[9] = PROTO_IPIP;
        let mut auth = out[0].clone();
        auth[9] = 51;
        // Options: IHL 7, two words of no-ops before the TCP header.
        let mut options = out[0][..20].to_vec();
        options[0] = 0x47;
        options.extend_from_slice(&[1; 8]);
        options.extend_from_slice(&out[0][20..]);
        let mut fragment = out[1].clone();
        fragment[6] = 0x20;
        out.extend([ipip, auth, options, fragment]);
        out
    }

    /// IPv6 packets: TCP, UDP, ICMPv6, and a hop-by-hop header (the lax slice's).
    fn v6_templates() -> Vec<Vec<u8>> {
        let payload = [0x5au8; 48];
        let mut out = Vec::new();
        for kind in 0..3 {
            let b = PacketBuilder::ipv6([0x20; 16], [0x2a; 16], 64);
            let mut v = Vec::new();
            match kind {
                0 => b.tcp(51_000, 443, 7, 1000).write(&mut v, &payload),
                1 => b.udp(40_000, 53).write(&mut v, &payload),
                _ => b.icmpv6_echo_request(1, 2).write(&mut v, &payload),
            }
            .expect("build");
            out.push(v);
        }
        out.push(v6_with_fragment(0, false, &[0u8; 16]));
        out
    }

    /// Where the in-place IPv4 and IPv6 paths answer, etherparse's lax slice gives the same packet
    /// (every field, the payload at the same offset), on every template and on a hundred
    /// thousand mutations of each: header bytes changed, lengths lying, packets cut short.
    #[test]
    fn plain_ip_reads_what_the_lax_slice_reads() {
        let mut rand = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut answered, mut total) = (0, 0);
        for t in v4_templates().into_iter().chain(v6_templates()) {
            let ext = t[0] >> 4 == 6 && t[6] == 0;
            assert!(plain(&t).is_some() || t[9] == 51 || ext, "a plain packet is read in place");
            for _ in 0..100_000 {
                // Mostly the IP header, where the decisions are.
                let m = crate::testing::mutate(&mut rand, &t, 40);
                total += 1;
                let Some(fast) = plain(&m) else { continue };
                answered += 1;
                let slow = lax(&m).expect("the lax slice takes what the in-place path takes");
                let offset = |p: &IpParts<'_>| p.payload.as_ptr() as usize - m.as_ptr() as usize;
                assert_eq!(offset(&fast), offset(&slow), "payload offset of {m:02x?}");
                assert_eq!(fast.payload.len(), slow.payload.len(), "payload of {m:02x?}");
                let (fast, slow) = (
                    transport(LinkInfo::default(), &m, fast),
                    transport(LinkInfo::default(), &m, slow),
                );
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "decoding {m:02x?}");
            }
        }
        assert!(answered > total / 2, "the in-place path answered {answered} of {total}");
    }

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
