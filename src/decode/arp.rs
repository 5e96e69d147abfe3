//! ARP (RFC 826) over Ethernet, IPv4 only: who claims which address. Frames that carry it are
//! not IP, so the flow table never sees them; the pipeline turns them into `arp` events.

use crate::capture::{LinkType, Packet};

use crate::record::flow::{mac_string, secs_us};
use crate::record::observed::ArpEvent;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
/// Ethernet/IPv4 ARP body: htype, ptype, hlen, plen, oper, sha, spa, tha, tpa.
const BODY_LEN: usize = 28;

/// An ARP request or reply for IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply (other values kept as they are).
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address (0.0.0.0 in an address probe).
    pub sender_ip: std::net::Ipv4Addr,
    /// Target protocol address.
    pub target_ip: std::net::Ipv4Addr,
}

/// Parses the ARP body of an Ethernet frame (after up to two VLAN tags); `None` when the frame is
/// not Ethernet/IPv4 ARP or is too short.
pub fn parse(pkt: &Packet<'_>) -> Option<Arp> {
    if pkt.linktype != LinkType::ETHERNET {
        return None;
    }
    let d = pkt.data;
    let mut at = 12;
    for _ in 0..3 {
        let ethertype = u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]);
        match ethertype {
            ETH_VLAN | ETH_QINQ => at += 4,
            ETHERTYPE_ARP => return body(d.get(at + 2..at + 2 + BODY_LEN)?),
            _ => return None,
        }
    }
    None
}

fn body(b: &[u8]) -> Option<Arp> {
    // Ethernet (1), IPv4 (0x0800), 6-byte MACs, 4-byte addresses.
    if b[0..6] != [0, 1, 0x08, 0x00, 6, 4] {
        return None;
    }
    let ip = |at: usize| std::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
    Some(Arp {
        op: u16::from_be_bytes([b[6], b[7]]),
        sender_mac: b[8..14].try_into().ok()?,
        sender_ip: ip(14),
        target_ip: ip(24),
    })
}

impl ArpEvent {
    /// The event for a parsed ARP message.
    pub fn new(ts_nanos: i64, a: &Arp) -> Self {
        ArpEvent {
            ts: secs_us(ts_nanos),
            op: a.op,
            mac: mac_string(a.sender_mac),
            ip: a.sender_ip,
            target_ip: a.target_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    fn frame(vlan: bool) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend([2, 0, 0, 0, 0, 1]);
        if vlan {
            f.extend([0x81, 0x00, 0x00, 0x0a]);
        }
        f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        f.extend([2, 0, 0, 0, 0, 1, 10, 42, 0, 57]);
        f.extend([2, 0, 0, 0, 0, 0xfe, 10, 42, 0, 1]);
        f
    }

    #[test]
    fn reply_with_and_without_vlan() {
        for vlan in [false, true] {
            let data = frame(vlan);
            let pkt =
                Packet { ts: Timestamp(0), linktype: LinkType::ETHERNET, data: &data, wire_len: 0 };
            let a = parse(&pkt).expect("arp");
            assert_eq!(
                (a.op, a.sender_ip.octets(), a.target_ip.octets()),
                (2, [10, 42, 0, 57], [10, 42, 0, 1])
            );
            assert_eq!(a.sender_mac, [2, 0, 0, 0, 0, 1]);
            let cut = Packet { data: &data[..data.len() - 1], ..pkt };
            assert_eq!(parse(&cut), None);
        }
    }
}
