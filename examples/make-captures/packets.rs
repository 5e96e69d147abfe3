//! IP packets with their flow identity, TCP connection bookkeeping, link-layer
//! framing, fragmentation, and the deterministic pseudo-random source.

use std::net::{IpAddr, SocketAddr};

use etherparse::{PacketBuilder, PacketBuilderStep, TcpHeader, TcpOptionElement};

pub const NANOS_PER_MILLI: u64 = 1_000_000;
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

const TTL: u8 = 64;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ARPHRD_ETHER: u16 = 1;

/// xorshift64*: tiny, fast and fully determined by its seed. Never seeded from the
/// OS, so every run produces the same bytes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // A zero state would stay zero forever.
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform-ish in `lo..=hi` (modulo bias is irrelevant here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 56) as u8).collect()
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.iter_mut().for_each(|b| *b = (self.next_u64() >> 56) as u8);
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Transport 5-tuple of a packet, as sent (source first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple {
    pub proto: Proto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// A TCP SYN without ACK: starts a new connection even on a 4-tuple already
    /// seen (port reuse), as flow tables and tshark's tcp.stream do.
    pub opens: bool,
}

/// An IP packet (no link layer yet) and the flow it belongs to.
#[derive(Clone, Debug)]
pub struct IpPacket {
    pub ts_ns: u64,
    pub bytes: Vec<u8>,
    pub tuple: Tuple,
}

/// Start an IPv4 or IPv6 header; both ends must be of the same family.
fn ip_step(src: IpAddr, dst: IpAddr) -> PacketBuilderStep<etherparse::IpHeaders> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), TTL),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), TTL),
        _ => panic!("mixed address families: {src} -> {dst}"),
    }
}

pub fn udp(ts_ns: u64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> IpPacket {
    let builder = ip_step(src.ip(), dst.ip()).udp(src.port(), dst.port());
    let mut bytes = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut bytes, payload).expect("udp packet");
    IpPacket { ts_ns, bytes, tuple: Tuple { proto: Proto::Udp, src, dst, opens: false } }
}

/// TCP flags we set; ACK is implied by `ack: Some(..)`.
#[derive(Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub fin: bool,
    pub psh: bool,
}

pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: Option<u32>,
    pub flags: Flags,
    pub options: &'a [TcpOptionElement],
    pub payload: &'a [u8],
}

/// Window in the SYNs (unscaled) and afterwards (scaled by 2^7, see `open`): both
/// about 64 KiB.
const TCP_WINDOW_SYN: u16 = 65_535;
const TCP_WINDOW_SCALED: u16 = 512;
const TCP_WINDOW_SHIFT: u8 = 7;

pub fn tcp(ts_ns: u64, seg: &Segment) -> IpPacket {
    let window = if seg.flags.syn { TCP_WINDOW_SYN } else { TCP_WINDOW_SCALED };
    let mut header = TcpHeader::new(seg.src.port(), seg.dst.port(), seg.seq, window);
    header.syn = seg.flags.syn;
    header.fin = seg.flags.fin;
    header.psh = seg.flags.psh;
    if let Some(ack) = seg.ack {
        header.ack = true;
        header.acknowledgment_number = ack;
    }
    header.set_options(seg.options).expect("tcp options fit");
    let builder = ip_step(seg.src.ip(), seg.dst.ip()).tcp_header(header);
    let mut bytes = Vec::with_capacity(builder.size(seg.payload.len()));
    builder.write(&mut bytes, seg.payload).expect("tcp packet");
    IpPacket {
        ts_ns,
        bytes,
        tuple: Tuple {
            proto: Proto::Tcp,
            src: seg.src,
            dst: seg.dst,
            opens: seg.flags.syn && seg.ack.is_none(),
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// Typical Ethernet MSS (1500 - 20 IPv4 - 20 TCP - 12 timestamps option).
const MSS: usize = 1448;
/// Spacing between back-to-back segments of one burst.
const SEGMENT_GAP_NS: u64 = 120_000;
/// The receiver acknowledges every second full segment (delayed ACK).
const ACK_EVERY: usize = 2;

/// One TCP connection: sequence numbers of both sides and the path's round trip.
pub struct TcpConn {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Next sequence number to send, client then server.
    next_seq: [u32; 2],
    rtt_ns: u64,
}

impl TcpConn {
    pub fn new(client: SocketAddr, server: SocketAddr, rtt_ns: u64, rng: &mut Rng) -> Self {
        TcpConn { client, server, next_seq: [rng.next_u32(), rng.next_u32()], rtt_ns }
    }

    fn ends(&self, dir: Dir) -> (SocketAddr, SocketAddr, usize) {
        match dir {
            Dir::ToServer => (self.client, self.server, 0),
            Dir::ToClient => (self.server, self.client, 1),
        }
    }

    fn emit(
        &mut self,
        ts: u64,
        dir: Dir,
        flags: Flags,
        ack: bool,
        options: &[TcpOptionElement],
        payload: &[u8],
    ) -> IpPacket {
        let (src, dst, side) = self.ends(dir);
        let seq = self.next_seq[side];
        let ack = ack.then_some(self.next_seq[1 - side]);
        let consumed = payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        self.next_seq[side] = seq.wrapping_add(consumed);
        tcp(ts, &Segment { src, dst, seq, ack, flags, options, payload })
    }

    /// Three-way handshake starting at `t`; returns the time of the final ACK.
    pub fn open(&mut self, t: u64, out: &mut Vec<IpPacket>) -> u64 {
        let syn = Flags { syn: true, ..Flags::default() };
        let options = [
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(TCP_WINDOW_SHIFT),
        ];
        out.push(self.emit(t, Dir::ToServer, syn, false, &options, &[]));
        out.push(self.emit(t + self.rtt_ns, Dir::ToClient, syn, true, &options, &[]));
        let done = t + self.rtt_ns + self.rtt_ns / 20;
        out.push(self.emit(done, Dir::ToServer, Flags::default(), true, &[], &[]));
        done
    }

    /// Send `data` in MSS-sized segments; the peer ACKs every second segment and the
    /// last one. Returns the time the last ACK arrives back.
    pub fn send(&mut self, t: u64, dir: Dir, data: &[u8], out: &mut Vec<IpPacket>) -> u64 {
        let back = match dir {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        let chunks: Vec<&[u8]> = data.chunks(MSS).collect();
        let mut ts = t;
        let mut last_ack = t;
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let flags = Flags { psh: last, ..Flags::default() };
            out.push(self.emit(ts, dir, flags, true, &[], chunk));
            if last || (i + 1) % ACK_EVERY == 0 {
                last_ack = ts + self.rtt_ns / 2;
                out.push(self.emit(last_ack, back, Flags::default(), true, &[], &[]));
            }
            ts += SEGMENT_GAP_NS;
        }
        last_ack
    }

    /// FIN from `dir`'s sender, FIN back, final ACK. Returns the time of the last packet.
    pub fn close(&mut self, t: u64, dir: Dir, out: &mut Vec<IpPacket>) -> u64 {
        let back = match dir {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        let fin = Flags { fin: true, ..Flags::default() };
        out.push(self.emit(t, dir, fin, true, &[], &[]));
        out.push(self.emit(t + self.rtt_ns, back, fin, true, &[], &[]));
        let done = t + self.rtt_ns + self.rtt_ns / 20;
        out.push(self.emit(done, dir, Flags::default(), true, &[], &[]));
        done
    }
}

pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

fn ethertype_of(ip: &[u8]) -> u16 {
    if ip.first().map(|b| b >> 4) == Some(6) { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 }
}

/// Ethernet II frame, optionally with 802.1Q tags (outermost first). A first tag
/// with `qinq` uses the 802.1ad service-tag EtherType.
pub fn ethernet(src: [u8; 6], dst: [u8; 6], vlans: &[u16], qinq: bool, ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ip.len() + 14 + 4 * vlans.len());
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    for (i, vid) in vlans.iter().enumerate() {
        let tpid = if i == 0 && qinq { ETHERTYPE_QINQ } else { ETHERTYPE_VLAN };
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes()); // PCP 0, DEI 0
    }
    out.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    out.extend_from_slice(ip);
    out
}

/// Linux "cooked" capture v1 packet types.
pub const SLL_HOST: u16 = 0;
pub const SLL_OUTGOING: u16 = 4;

/// Linux cooked capture v1 (DLT 113): 16-byte header.
pub fn linux_sll(packet_type: u16, src_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ip.len() + 16);
    out.extend_from_slice(&packet_type.to_be_bytes());
    out.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
    out.extend_from_slice(&6u16.to_be_bytes());
    out.extend_from_slice(&src_mac);
    out.extend_from_slice(&[0, 0]); // address field is 8 bytes
    out.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    out.extend_from_slice(ip);
    out
}

/// Linux cooked capture v2 (DLT 276): 20-byte header with the interface index.
pub fn linux_sll2(packet_type: u8, if_index: u32, src_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ip.len() + 20);
    out.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    out.extend_from_slice(&[0, 0]); // reserved
    out.extend_from_slice(&if_index.to_be_bytes());
    out.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
    out.push(packet_type);
    out.push(6);
    out.extend_from_slice(&src_mac);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(ip);
    out
}

/// BSD loopback (DLT 0): the address family as a 4-byte integer in the byte order
/// of the capturing host. Our files are little-endian, like the x86/ARM hosts that
/// write them in practice.
pub fn null_loopback(family: u32, ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ip.len() + 4);
    out.extend_from_slice(&family.to_le_bytes());
    out.extend_from_slice(ip);
    out
}

const IPV4_HEADER_LEN: usize = 20;
const IPV4_MORE_FRAGMENTS: u16 = 0x2000;

/// Split an IPv4 packet without options into fragments whose payloads hold at most
/// `max_payload` bytes (rounded down to a multiple of 8, as offsets are in 8-byte units).
pub fn ipv4_fragments(packet: &IpPacket, max_payload: usize, id: u16) -> Vec<IpPacket> {
    let header = &packet.bytes[..IPV4_HEADER_LEN];
    assert_eq!(header[0], 0x45, "IPv4 without options");
    let payload = &packet.bytes[IPV4_HEADER_LEN..];
    let step = max_payload / 8 * 8;
    let count = payload.len().div_ceil(step);
    (0..count)
        .map(|i| {
            let chunk = &payload[i * step..payload.len().min((i + 1) * step)];
            let mut bytes = header.to_vec();
            let total = (IPV4_HEADER_LEN + chunk.len()) as u16;
            let more = if i + 1 < count { IPV4_MORE_FRAGMENTS } else { 0 };
            let flags_offset = more | ((i * step / 8) as u16);
            bytes[2..4].copy_from_slice(&total.to_be_bytes());
            bytes[4..6].copy_from_slice(&id.to_be_bytes());
            bytes[6..8].copy_from_slice(&flags_offset.to_be_bytes());
            bytes[10..12].copy_from_slice(&[0, 0]);
            let checksum = internet_checksum(&bytes);
            bytes[10..12].copy_from_slice(&checksum.to_be_bytes());
            bytes.extend_from_slice(chunk);
            IpPacket { bytes, ..packet.clone() }
        })
        .collect()
}

/// RFC 1071 ones' complement sum.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const IPV6_HEADER_LEN: usize = 40;
pub const IPPROTO_HOPOPTS: u8 = 0;
pub const IPPROTO_FRAGMENT: u8 = 44;
pub const IPPROTO_DSTOPTS: u8 = 60;

/// Insert IPv6 extension headers between the fixed header and the transport
/// header. Each entry is (header type, options bytes for HBH/DstOpts, padded by the
/// caller to 6 + 8n bytes). Routing headers are not used, so transport checksums
/// (computed over the final destination) stay valid.
pub fn ipv6_with_extensions(packet: &IpPacket, options: &[(u8, Vec<u8>)]) -> IpPacket {
    let (fixed, transport) = packet.bytes.split_at(IPV6_HEADER_LEN);
    let mut next = fixed[6];
    let mut chain = Vec::new();
    // Build from the innermost extension outwards so each knows its next header.
    for (kind, body) in options.iter().rev() {
        assert_eq!((body.len() + 2) % 8, 0, "extension header length");
        let mut ext = vec![next, ((body.len() + 2) / 8 - 1) as u8];
        ext.extend_from_slice(body);
        ext.extend_from_slice(&chain);
        chain = ext;
        next = *kind;
    }
    let mut bytes = fixed.to_vec();
    bytes[6] = next;
    let payload_len = (chain.len() + transport.len()) as u16;
    bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
    bytes.extend_from_slice(&chain);
    bytes.extend_from_slice(transport);
    IpPacket { bytes, ..packet.clone() }
}

/// Split an IPv6 packet (no extension headers) into fragments with a Fragment
/// header each, fragment payloads at most `max_payload` bytes (multiple of 8).
pub fn ipv6_fragments(packet: &IpPacket, max_payload: usize, id: u32) -> Vec<IpPacket> {
    let (fixed, payload) = packet.bytes.split_at(IPV6_HEADER_LEN);
    let step = max_payload / 8 * 8;
    let count = payload.len().div_ceil(step);
    (0..count)
        .map(|i| {
            let chunk = &payload[i * step..payload.len().min((i + 1) * step)];
            let more = u16::from(i + 1 < count);
            let offset_flags = ((i * step / 8) as u16) << 3 | more;
            let mut bytes = fixed.to_vec();
            bytes[6] = IPPROTO_FRAGMENT;
            bytes[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
            bytes.extend_from_slice(&[fixed[6], 0]);
            bytes.extend_from_slice(&offset_flags.to_be_bytes());
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(chunk);
            IpPacket { bytes, ..packet.clone() }
        })
        .collect()
}
