//! Decoding: link layer → IP → transport, as borrowed views over the captured bytes.
//!
//! Nothing here allocates. A frame that is not IP (ARP, LLDP, …) is [`DecodeError::NotIp`], counted
//! apart from real decode errors; tunnelled packets (6in4, IP-in-IP, VXLAN, GTP-U) are exposed through
//! [`Decoded::tunnel`] so that the pipeline can decode the inner packet with the same code.

pub mod arp;
mod ip;
mod link;

use std::net::IpAddr;

use crate::capture::{LinkType, Packet};

pub use ip::decode_ip;
pub use link::{LinkInfo, decode_link};

/// UDP port of VXLAN (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// What the decoder made of one frame.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// Link-layer facts (MACs, VLAN), when the link type has them.
    pub link: LinkInfo,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP header + payload length as the IP header states it (Zeek's `ip_bytes`), even when the
    /// capture was cut by a snaplen.
    pub ip_len: u32,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub proto: u8,
    /// IPv4/IPv6 fragment facts, when the packet is a fragment.
    pub fragment: Option<Fragment>,
    /// Transport header and payload.
    pub transport: Transport<'a>,
    /// Set when this packet carries another packet (6in4, IP-in-IP, VXLAN, GTP-U).
    pub tunnel: Option<Tunnel<'a>>,
}

/// Fragment identity: later fragments carry no ports and are matched to the first by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// IPv4 identification or IPv6 fragment header identification.
    pub id: u32,
    /// Whether this is the first fragment (offset 0), which carries the transport header.
    pub first: bool,
}

/// Transport layer view.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// TCP segment.
    Tcp(Tcp<'a>),
    /// UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Datagram payload (as captured, bounded by the UDP length).
        payload: &'a [u8],
        /// Payload length on the wire, from the UDP length field (for a first fragment, the
        /// whole datagram's payload).
        payload_len: u32,
    },
    /// ICMP or ICMPv6 message.
    Icmp {
        /// ICMP type.
        kind: u8,
        /// ICMP code.
        code: u8,
    },
    /// A non-first fragment: no transport header.
    Fragment,
    /// Any other IP protocol, or a transport header too short to read.
    Other,
}

/// A TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct Tcp<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags byte (FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20).
    pub flags: u8,
    /// Segment payload, as captured.
    pub payload: &'a [u8],
    /// Payload length on the wire (from the IP length), which may exceed `payload.len()`.
    pub payload_len: u32,
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Encapsulation found inside a packet.
#[derive(Debug, Clone, Copy)]
pub struct Tunnel<'a> {
    /// Kind of tunnel.
    pub kind: TunnelKind,
    /// The encapsulated bytes: an IP packet, or an Ethernet frame for VXLAN.
    pub inner: &'a [u8],
}

/// Kinds of encapsulation leakscope follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// IPv6 or IPv4 carried directly in IP (protocols 41 and 4): the outer packet is not a flow.
    IpInIp,
    /// VXLAN over UDP: the outer UDP datagrams are a flow of their own, as in Zeek.
    Vxlan,
    /// GTP-U over UDP (mobile core): the outer UDP datagrams are a flow of their own.
    Gtp,
}

/// Why a frame was not decoded. `NotIp` is normal traffic; the rest are counted as decode errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A link-layer frame that carries no IP (ARP, LLDP, 802.3 LLC, …), with its EtherType.
    NotIp(u16),
    /// Fewer bytes than the link-layer header needs.
    ShortLink,
    /// Link type not supported.
    UnsupportedLink,
    /// The IP header is unreadable.
    BadIp,
    /// Tunnels nested deeper than leakscope follows.
    TooDeep,
}

impl DecodeError {
    /// Stable name, used as the key of the `decode_errors` tally.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::NotIp(_) => "not_ip",
            DecodeError::ShortLink => "short_link_header",
            DecodeError::UnsupportedLink => "unsupported_link",
            DecodeError::BadIp => "bad_ip_header",
            DecodeError::TooDeep => "tunnel_too_deep",
        }
    }
}

/// Decodes a captured frame down to its transport layer.
pub fn decode<'a>(pkt: &Packet<'a>) -> Result<Decoded<'a>, DecodeError> {
    let (link, ip) = decode_link(pkt.linktype, pkt.data)?;
    ip::decode_ip_below(link, ip)
}

/// Decodes the inner packet of a tunnel; `Ethernet` for VXLAN, IP otherwise.
pub fn decode_inner<'a>(tunnel: &Tunnel<'a>) -> Result<Decoded<'a>, DecodeError> {
    match tunnel.kind {
        TunnelKind::IpInIp | TunnelKind::Gtp => decode_ip(tunnel.inner),
        TunnelKind::Vxlan => {
            let (link, ip) = decode_link(LinkType::ETHERNET, tunnel.inner)?;
            ip::decode_ip_below(link, ip)
        }
    }
}
