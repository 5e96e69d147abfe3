//! Link layers: Ethernet (802.1Q/802.1ad tags, PPPoE), Linux cooked v1/v2, raw IP, BSD loopback.
//! Hand-written because etherparse has no SLL2 and rejects SLL loopback frames.

use super::DecodeError;
use crate::capture::LinkType;

/// Link-layer facts kept in flow records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// Source MAC, when the link type carries one.
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC (Ethernet only).
    pub dst_mac: Option<[u8; 6]>,
    /// Outermost VLAN id.
    pub vlan: Option<u16>,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// VLAN tags followed at most (QinQ and a little more).
const MAX_VLAN_TAGS: usize = 4;
/// ARPHRD_ETHER: the SLL address is a MAC.
const ARPHRD_ETHER: u16 = 1;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn mac(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at + 6)?.try_into().ok()
}

/// Splits a frame into link facts and the IP packet it carries.
pub fn decode_link(lt: LinkType, data: &[u8]) -> Result<(LinkInfo, &[u8]), DecodeError> {
    match lt {
        LinkType::ETHERNET => ethernet(data),
        LinkType::RAW
        | LinkType::RAW_BSD12
        | LinkType::RAW_BSD14
        | LinkType::IPV4
        | LinkType::IPV6 => Ok((LinkInfo::default(), data)),
        LinkType::NULL | LinkType::LOOP => loopback(data),
        LinkType::LINUX_SLL => sll(data),
        LinkType::LINUX_SLL2 => sll2(data),
        _ => Err(DecodeError::UnsupportedLink),
    }
}

fn ethernet(data: &[u8]) -> Result<(LinkInfo, &[u8]), DecodeError> {
    let (Some(dst), Some(src), Some(ethertype)) = (mac(data, 0), mac(data, 6), be16(data, 12))
    else {
        return Err(DecodeError::ShortLink);
    };
    let mut info = LinkInfo { src_mac: Some(src), dst_mac: Some(dst), vlan: None };
    let rest = after_ethertype(ethertype, &data[14..], &mut info)?;
    Ok((info, rest))
}

/// Follows VLAN tags and PPPoE from an EtherType to the IP packet.
fn after_ethertype<'a>(
    mut ethertype: u16,
    mut rest: &'a [u8],
    info: &mut LinkInfo,
) -> Result<&'a [u8], DecodeError> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETH_IPV4 | ETH_IPV6 => return Ok(rest),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                let (Some(tci), Some(next)) = (be16(rest, 0), be16(rest, 2)) else {
                    return Err(DecodeError::ShortLink);
                };
                info.vlan.get_or_insert(tci & 0x0fff);
                ethertype = next;
                rest = &rest[4..];
            }
            ETH_PPPOE_SESSION => {
                // PPPoE header (6 bytes) then the 2-byte PPP protocol.
                let proto = be16(rest, 6).ok_or(DecodeError::ShortLink)?;
                return match proto {
                    PPP_IPV4 | PPP_IPV6 => Ok(&rest[8..]),
                    _ => Err(DecodeError::NotIp(ETH_PPPOE_SESSION)),
                };
            }
            other => return Err(DecodeError::NotIp(other)),
        }
    }
    Err(DecodeError::TooDeep)
}

/// BSD loopback: a 4-byte address family, in the writer's byte order for NULL, big-endian for LOOP.
/// AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 depending on the BSD. The IP version nibble
/// decides, since the family's byte order is not reliable across writers.
fn loopback(data: &[u8]) -> Result<(LinkInfo, &[u8]), DecodeError> {
    let ip = data.get(4..).ok_or(DecodeError::ShortLink)?;
    let family = u32::from_le_bytes(data[..4].try_into().unwrap_or_default());
    let family = if family > 0xffff { family.swap_bytes() } else { family };
    match family {
        2 | 24 | 28 | 30 => Ok((LinkInfo::default(), ip)),
        other => Err(DecodeError::NotIp(other as u16)),
    }
}

/// Linux cooked v1: type(2) ARPHRD(2) addr_len(2) addr(8) protocol(2).
fn sll(data: &[u8]) -> Result<(LinkInfo, &[u8]), DecodeError> {
    let (Some(hatype), Some(alen), Some(proto)) = (be16(data, 2), be16(data, 4), be16(data, 14))
    else {
        return Err(DecodeError::ShortLink);
    };
    let mut info = LinkInfo::default();
    if hatype == ARPHRD_ETHER && alen == 6 {
        info.src_mac = mac(data, 6);
    }
    let rest = after_ethertype(proto, &data[16..], &mut info)?;
    Ok((info, rest))
}

/// Linux cooked v2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) type(1) addr_len(1) addr(8).
fn sll2(data: &[u8]) -> Result<(LinkInfo, &[u8]), DecodeError> {
    let (Some(proto), Some(hatype), Some(&alen)) = (be16(data, 0), be16(data, 8), data.get(11))
    else {
        return Err(DecodeError::ShortLink);
    };
    if data.len() < 20 {
        return Err(DecodeError::ShortLink);
    }
    let mut info = LinkInfo::default();
    if hatype == ARPHRD_ETHER && alen == 6 {
        info.src_mac = mac(data, 12);
    }
    let rest = after_ethertype(proto, &data[20..], &mut info)?;
    Ok((info, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP4: [u8; 1] = [0x45];

    #[test]
    fn ethernet_with_qinq_keeps_outer_vlan() {
        let mut f = vec![0xff; 6];
        f.extend([2, 0, 0, 0, 0, 1]);
        f.extend([0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        f.extend(IP4);
        let (info, ip) = decode_link(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(info.vlan, Some(100));
        assert_eq!(info.src_mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(ip, &IP4);
    }

    #[test]
    fn arp_is_not_ip_and_short_frames_are_errors() {
        let mut f = vec![0xff; 12];
        f.extend([0x08, 0x06]);
        assert_eq!(decode_link(LinkType::ETHERNET, &f), Err(DecodeError::NotIp(0x0806)));
        assert_eq!(decode_link(LinkType::ETHERNET, &f[..13]), Err(DecodeError::ShortLink));
        let vlan_cut = [&f[..12], &[0x81, 0x00, 0x00][..]].concat();
        assert_eq!(decode_link(LinkType::ETHERNET, &vlan_cut), Err(DecodeError::ShortLink));
    }

    #[test]
    fn sll_loopback_and_sll2() {
        // SLL v1, ARPHRD_LOOPBACK (772): no MAC.
        let mut f = vec![0, 0, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        f.extend(IP4);
        let (info, ip) = decode_link(LinkType::LINUX_SLL, &f).unwrap();
        assert_eq!((info.src_mac, ip), (None, &IP4[..]));
        // SLL v2 with a MAC.
        let mut g = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0];
        g.push(0x60);
        let (info, ip) = decode_link(LinkType::LINUX_SLL2, &g).unwrap();
        assert_eq!(info.src_mac, Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(ip, &[0x60]);
    }

    #[test]
    fn null_loopback_either_byte_order() {
        let le = [2, 0, 0, 0, 0x45];
        let be = [0, 0, 0, 30, 0x60];
        assert_eq!(decode_link(LinkType::NULL, &le).unwrap().1, &[0x45]);
        assert_eq!(decode_link(LinkType::LOOP, &be).unwrap().1, &[0x60]);
        assert_eq!(decode_link(LinkType::NULL, &[7, 0, 0, 0, 1]), Err(DecodeError::NotIp(7)));
        assert_eq!(decode_link(LinkType(147), &le), Err(DecodeError::UnsupportedLink));
    }
}
