//! The reading thread's per-packet work in `replay --threads`: which worker a packet goes to,
//! and whether it moves the packet clock to an idle sweep. Done where the packet's bytes were
//! just read, so that a worker touches only its own packets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::fast::RandomState;

use crate::capture::{Packet, Timestamp, pcapdroid};
use crate::decode::{self, DecodeError, Transport};
use crate::exposure::local::{LocalNets, device_side};

/// Idle sweeps happen at most once per second of packet time ([`crate::flow::FlowTable`]).
const SEC: i64 = 1_000_000_000;
/// The worker of tunnelled traffic (other than IP-in-IP).
const TUNNELS: usize = 0;
/// Fragment trains remembered at most (a bound; beyond, the map starts again).
const MAX_FRAGS: usize = 1 << 16;

/// Device hashes fall in this many slots; a slot gets its worker at its first packet and keeps
/// it (a device's flows and what is learnt from them stay in one worker). 16 Ki slots of a
/// byte: the table fits the first-level cache (with 64 Ki slots of two bytes, the slot's load
/// was routing's costliest instruction in perf, though wall times did not tell the two apart),
/// and a capture's devices rarely share a slot, so each new device is placed on its own.
const SLOT_BITS: u32 = 14;
const SLOTS: usize = 1 << SLOT_BITS;
/// A slot no packet has reached yet; also the bound on workers.
const FREE: u8 = u8::MAX;
/// Workers a router can address.
pub const MAX_WORKERS: usize = FREE as usize;

/// A new device goes to the worker thread with the fewest packets waiting, if they are fewer
/// than this; else to worker 0, on the reading thread. Waiting packets are the queue's (two
/// chunks) and the chunk being filled: below one chunk's worth the worker may run dry before
/// the next arrives (2 048: worker 1 idle 22–32 ms a `bench.pcap` run), above two the reader
/// soon waits for it (8 192: the reader 16–108 ms).
pub const BACKLOG: u64 = super::CHUNK as u64;

/// Bytes of a pcap record's header (pcapng's are larger: its estimate of the packets left
/// errs high, and the backlog shrinks a little later).
const RECORD_HEADER: u64 = 16;
/// Near the end, a new device goes to a worker thread only while fewer than this share of the
/// packets left wait for it.
const END_SHARE: u64 = 4;

/// Routes packets to workers.
pub struct Router {
    local: LocalNets,
    workers: usize,
    /// The worker of each slot of device hashes, or [`FREE`] (fixed sizes: indexing them needs
    /// no bounds check on the reading thread's per-packet path).
    slots: Box<[u8; SLOTS]>,
    /// Packets routed to each worker so far (by a slot's byte: every index is in bounds).
    routed: Box<[u64; 256]>,
    /// Packets each worker has finished (written by the worker threads).
    done: Arc<Done>,
    /// [`BACKLOG`], or what the caller asked for.
    backlog: u64,
    /// Packets at which the reader sends a chunk, now (it ramps up at the start): the backlog
    /// scales with it, or a worker's queue would fill before its backlog does.
    chunk: u32,
    /// Packets routed so far, every one (`routed` counts only those routed by device): the
    /// next packet's number.
    packets: u64,
    /// Their bytes (captured).
    bytes: u64,
    /// The input's size in bytes ([`Router::expect`]), or `u64::MAX`: unknown.
    input: u64,
    now: Timestamp,
    next_sweep: Timestamp,
    /// (source, destination, protocol, IP id) of a fragmented packet whose device depends on
    /// its ports → its worker: later fragments carry no ports.
    frags: HashMap<(IpAddr, IpAddr, u8, u32), usize, RandomState>,
}

impl Router {
    /// A router over `workers` workers, which report their progress in `done`; a new device
    /// goes to a worker thread with fewer than `backlog` packets waiting ([`BACKLOG`]).
    pub fn new(local: LocalNets, workers: usize, done: Arc<Done>, backlog: u64) -> Self {
        assert!(workers <= MAX_WORKERS, "at most {MAX_WORKERS} workers");
        let w = workers.max(1);
        Router {
            local,
            workers: w,
            slots: Box::new([FREE; SLOTS]),
            routed: Box::new([0; 256]),
            done,
            backlog,
            chunk: super::CHUNK as u32,
            packets: 0,
            bytes: 0,
            input: u64::MAX,
            now: Timestamp::default(),
            next_sweep: Timestamp(i64::MIN),
            frags: HashMap::default(),
        }
    }

    /// The input holds about `bytes` bytes of capture files (given before its first packet):
    /// near its end, new devices stay on the reading thread, so that the worker threads' queues
    /// run down as the input does.
    pub fn expect(&mut self, bytes: u64) {
        self.input = bytes;
    }

    /// Packets routed so far: the next packet's number.
    #[inline]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Captured bytes of the packets routed so far.
    #[inline]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The reader now sends a chunk every `packets` packets.
    pub fn set_chunk(&mut self, packets: u32) {
        self.chunk = packets;
    }

    /// Packets at which the reader sends a chunk.
    #[inline]
    pub fn chunk(&self) -> u32 {
        self.chunk
    }

    /// Packets of input still to come, estimated from its size and the packets so far (`None`:
    /// size unknown).
    pub fn packets_left(&self) -> Option<u64> {
        if self.input == u64::MAX {
            return None;
        }
        // Counted from the packets, not down per packet: the reading thread's per-packet path
        // keeps two counters it needs anyway.
        let read = self.bytes + RECORD_HEADER * self.packets;
        let left = self.input.saturating_sub(read);
        let per_packet = (self.input - left) / self.packets.max(1);
        Some(left / per_packet.max(1))
    }

    /// The packet's worker, and whether one flow table would sweep idle flows at this packet
    /// (the same rule as [`crate::flow::FlowTable::advance`], on the same packets: those that
    /// decode, IP or not).
    pub fn route(&mut self, pkt: &Packet<'_>) -> (usize, bool) {
        self.packets += 1;
        self.bytes += pkt.data.len() as u64;
        let (worker, clocked) = match peek_v4(pkt) {
            // Nearly every packet: in plain numbers, without building addresses (the order of
            // IPv4 addresses is their numbers').
            Some(((src, sp), (dst, dp))) => {
                let side = device_side(
                    ((u32::from(src), sp), self.local.contains_v4(src)),
                    ((u32::from(dst), dp), self.local.contains_v4(dst)),
                );
                (self.of_slot(slot_v4(side)), true)
            }
            None => self.route_any(pkt),
        };
        let mut tick = false;
        if clocked {
            self.now = self.now.max(pkt.ts);
            if self.now >= self.next_sweep {
                self.next_sweep = Timestamp(self.now.nanos() + SEC);
                tick = true;
            }
        }
        (worker, tick)
    }

    /// The worker of a packet [`peek_v4`] leaves alone, and whether it moves the clock. Out of
    /// line: the IPv4 path stays small.
    #[inline(never)]
    fn route_any(&mut self, pkt: &Packet<'_>) -> (usize, bool) {
        // IPv6, in plain numbers too (its addresses' order is theirs).
        if let Some(((src, sp), (dst, dp))) = peek_v6(pkt) {
            let side = device_side(
                ((src, sp), self.local.contains_v6(src)),
                ((dst, dp), self.local.contains_v6(dst)),
            );
            return (self.of_slot(slot_v6(side)), true);
        }
        match peek(pkt) {
            Some(((src, sp), (dst, dp))) => {
                let side = device_side(
                    ((src, sp), self.local.contains(src)),
                    ((dst, dp), self.local.contains(dst)),
                );
                (self.of(side), true)
            }
            None => self.decode_route(pkt),
        }
    }

    /// The worker of a packet [`peek`] leaves alone, and whether it moves the clock, from the
    /// decoder itself.
    #[cold]
    fn decode_route(&mut self, pkt: &Packet<'_>) -> (usize, bool) {
        // Decoded as the pipeline does: a PCAPdroid trailer first comes off.
        let stripped = if pcapdroid::may_have_trailer(pkt) { pcapdroid::strip(pkt) } else { None };
        let bare = stripped.as_ref().map_or(pkt, |(b, _)| b);
        let (worker, clocked) = match decode::decode(bare) {
            Ok(d) => (self.worker(&d), true),
            // Not IP (ARP, …) and undecodable frames: no flow; ARP events are ordered by key
            // like everything else, whichever worker writes them.
            Err(DecodeError::NotIp(_)) => (0, true),
            Err(_) => (0, false),
        };
        (worker, clocked)
    }

    fn worker(&mut self, d: &decode::Decoded<'_>) -> usize {
        if let Some(t) = d.tunnel {
            // IP-in-IP's outer packet is no flow: the inner packet's device decides. Other
            // tunnels' outer packets are flows of their own, and an inner flow may cross
            // several of them (one per direction): all of it goes to one worker.
            return match (t.kind, decode::decode_inner(&t)) {
                (decode::TunnelKind::IpInIp, Ok(inner)) => self.worker(&inner),
                _ => TUNNELS,
            };
        }
        let (src, dst) = (d.src, d.dst);
        let ports = match d.transport {
            Transport::Tcp(t) => Some((t.sport, t.dport)),
            Transport::Udp { sport, dport, .. } => Some((sport, dport)),
            Transport::Icmp { .. } | Transport::Other => Some((0, 0)),
            Transport::Fragment => None,
        };
        // Exactly one side local: the device is that side, whatever the ports.
        let (src_local, dst_local) = (self.local.contains(src), self.local.contains(dst));
        let by_ports = src_local == dst_local;
        let Some((sp, dp)) = ports else {
            // A later fragment: the worker of its first fragment when the ports mattered.
            let found = d.fragment.and_then(|f| self.frags.get(&(src, dst, d.proto, f.id)));
            if let (true, Some(&w)) = (by_ports, found) {
                return w;
            }
            return self.of(device_side(((src, 0), src_local), ((dst, 0), dst_local)));
        };
        let w = self.of(device_side(((src, sp), src_local), ((dst, dp), dst_local)));
        if by_ports && let Some(f) = d.fragment {
            if self.frags.len() >= MAX_FRAGS {
                self.frags.clear();
            }
            self.frags.insert((src, dst, d.proto, f.id), w);
        }
        w
    }

    fn of(&mut self, device: IpAddr) -> usize {
        self.of_slot(slot(device))
    }

    /// The worker of a device's slot (a new device's: [`Router::least_waiting`]).
    #[inline]
    fn of_slot(&mut self, slot: usize) -> usize {
        let slot = slot % SLOTS;
        let mut w = self.slots[slot];
        if w == FREE {
            w = self.least_waiting() as u8;
            self.slots[slot] = w;
        }
        self.routed[usize::from(w)] += 1;
        usize::from(w)
    }

    /// The worker for a new device: the worker thread with the fewest packets waiting, while
    /// they are fewer than the backlog, else worker 0 (the reading thread, which never waits
    /// for itself). The same idea as Suricata's `active-packets` flow scheduler, per device:
    /// the packet counts of devices differ by orders of magnitude, and a fixed hash leaves one
    /// thread idle while the other has the busy devices of the moment. Which worker a device
    /// gets changes nothing in the output, only who computes it.
    ///
    /// Near the end of the input the backlog shrinks with what is left to read: the reading
    /// thread finishes when the input does, a worker thread when its queue does, and a queue
    /// filled to the last packet would leave the reading thread waiting for it, idle.
    #[cold]
    fn least_waiting(&self) -> usize {
        // Rounded up: a backlog of 1 (tests: every new device to a worker thread with nothing
        // waiting) stays 1.
        let backlog = (self.backlog * u64::from(self.chunk)).div_ceil(super::CHUNK as u64);
        let backlog = match self.packets_left() {
            Some(left) => backlog.min(left / END_SHARE),
            None => backlog,
        };
        let mut best = (backlog, 0);
        for w in 1..self.workers {
            let waiting = self.routed[w].saturating_sub(self.done.get(w));
            if waiting < best.0 {
                best = (waiting, w);
            }
        }
        best.1
    }
}

/// The slot of an IPv4 device, from its number: Fibonacci hashing (one multiply; consecutive
/// addresses land far apart), as the router hashes every packet's device on the reading thread.
#[inline]
fn slot_v4(ip: u32) -> usize {
    (u64::from(ip).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS)) as usize
}

/// The slot of an IPv6 device, from its number: a stable mix of all its bits.
#[inline]
fn slot_v6(v: u128) -> usize {
    let mut z = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> (64 - SLOT_BITS)) as usize
}

/// The slot of a device: [`slot_v4`] or [`slot_v6`].
fn slot(ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(a) => slot_v4(u32::from(a)),
        IpAddr::V6(a) => slot_v6(u128::from(a)),
    }
}

/// Packets each worker has finished, one cache line each (the worker writes its own, the
/// router reads them when a new device comes).
pub struct Done(Box<[Line]>);

#[repr(align(128))]
#[derive(Default)]
struct Line(AtomicU64);

impl Done {
    /// Counters for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Done((0..workers.max(1)).map(|_| Line::default()).collect())
    }

    /// Worker `w` has finished `packets` of its packets.
    #[inline]
    pub fn set(&self, w: usize, packets: u64) {
        self.0[w].0.store(packets, Ordering::Relaxed);
    }

    fn get(&self, w: usize) -> u64 {
        self.0[w].0.load(Ordering::Relaxed)
    }
}

const ETH_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_IPV6: [u8; 2] = [0x86, 0xdd];
/// One 802.1Q tag (common on captures from switch mirror ports); deeper stacks, QinQ and PPPoE
/// go to the decoder.
const ETH_VLAN: [u8; 2] = [0x81, 0x00];
const TCP: u8 = 6;
const UDP: u8 = 17;
/// UDP ports whose datagrams may carry a tunnel (VXLAN, GTP-U): left to the decoder.
const TUNNEL_PORTS: [u16; 2] = [crate::decode::VXLAN_PORT, 2152];

/// The EtherType and the bytes after the link header of an Ethernet frame with at most one
/// 802.1Q tag; `None` for a PCAPdroid fake header (both MACs zero: its trailer must come off
/// first) or a frame too short.
#[inline]
fn ethernet(d: &[u8]) -> Option<([u8; 2], &[u8])> {
    let ethertype = [*d.get(12)?, *d.get(13)?];
    if d[..12] == [0u8; 12] {
        return None;
    }
    if ethertype == ETH_VLAN {
        return Some(([*d.get(16)?, *d.get(17)?], &d[18..]));
    }
    Some((ethertype, &d[14..]))
}

/// The addresses and ports of the plain packets that are nearly all of a capture (Ethernet, with
/// at most one 802.1Q tag, or raw IP; IPv4 without options' oddities or IPv6 without extension
/// headers; a whole TCP or UDP header; no fragment, tunnel or PCAPdroid trailer), read straight
/// from the bytes; `None` for anything else, which the decoder routes. The reading thread's
/// share of the work is serial, and the full decoder's result is large and costly to move around
/// for four numbers. Where this answers, the decoder decodes the packet with the same addresses
/// and ports (a test holds it to that on every capture and on mutated packets).
#[inline]
pub fn peek(pkt: &Packet<'_>) -> Option<((IpAddr, u16), (IpAddr, u16))> {
    let d = pkt.data;
    let ip = match pkt.linktype {
        crate::capture::LinkType::ETHERNET => match ethernet(d)? {
            (ETH_IPV4 | ETH_IPV6, ip) => ip,
            _ => return None,
        },
        crate::capture::LinkType::RAW => d,
        _ => return None,
    };
    let (src, dst, proto, l4) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let flags_offset = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            // More fragments, or an offset: a fragment.
            if ihl < 20 || total < ihl || flags_offset & 0x3fff != 0 || ip.len() < ihl {
                return None;
            }
            let a: [u8; 4] = ip[12..16].try_into().ok()?;
            let b: [u8; 4] = ip[16..20].try_into().ok()?;
            let l4 = &ip[ihl..total.min(ip.len())];
            (IpAddr::from(a), IpAddr::from(b), ip[9], l4)
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            if payload == 0 || ip.len() < 40 {
                return None;
            }
            let a: [u8; 16] = ip[8..24].try_into().ok()?;
            let b: [u8; 16] = ip[24..40].try_into().ok()?;
            let l4 = &ip[40..(40 + payload).min(ip.len())];
            (IpAddr::from(a), IpAddr::from(b), ip[6], l4)
        }
        _ => return None,
    };
    let (sp, dp) = whole_ports(proto, l4)?;
    Some(((src, sp), (dst, dp)))
}

/// The ports of a whole TCP or UDP header at the start of `l4` (UDP not on a tunnel's port),
/// the transport [`peek`] answers for; `None` for anything else. Always inlined: the router's
/// per-packet path would otherwise call it (callgrind: 16 more instructions a packet).
#[inline(always)]
fn whole_ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    let (sp, dp) = (
        u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
        u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
    );
    let whole = match proto {
        TCP => l4.len() >= 20 && l4[12] >> 4 >= 5,
        UDP => l4.len() >= 8 && !TUNNEL_PORTS.contains(&sp) && !TUNNEL_PORTS.contains(&dp),
        _ => false,
    };
    whole.then_some((sp, dp))
}

/// [`peek`] for the commonest packet, IPv4 over Ethernet: the same answer, where it answers,
/// as plain IPv4 addresses.
#[inline]
pub fn peek_v4(pkt: &Packet<'_>) -> Option<((Ipv4Addr, u16), (Ipv4Addr, u16))> {
    if pkt.linktype != crate::capture::LinkType::ETHERNET {
        return None;
    }
    let (ETH_IPV4, ip) = ethernet(pkt.data)? else {
        return None;
    };
    let (vihl, proto) = (*ip.first()?, *ip.get(9)?);
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let flags_offset = u16::from_be_bytes([ip[6], ip[7]]);
    if vihl >> 4 != 4 || ihl < 20 || total < ihl || flags_offset & 0x3fff != 0 || ip.len() < ihl {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[12..16]).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&ip[16..20]).ok()?);
    let (sp, dp) = whole_ports(proto, &ip[ihl..total.min(ip.len())])?;
    Some(((src, sp), (dst, dp)))
}

/// [`peek`] for IPv6 over Ethernet: the same answer, where it answers, as plain numbers.
#[inline]
pub fn peek_v6(pkt: &Packet<'_>) -> Option<((u128, u16), (u128, u16))> {
    if pkt.linktype != crate::capture::LinkType::ETHERNET {
        return None;
    }
    let (ETH_IPV6, ip) = ethernet(pkt.data)? else {
        return None;
    };
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return None;
    }
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if payload == 0 {
        return None;
    }
    let src = u128::from_be_bytes(ip[8..24].try_into().ok()?);
    let dst = u128::from_be_bytes(ip[24..40].try_into().ok()?);
    let (sp, dp) = whole_ports(ip[6], &ip[40..(40 + payload).min(ip.len())])?;
    Some(((src, sp), (dst, dp)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::decode::{self, Transport};

    /// What the decoder says of `pkt`'s addresses and ports, where `peek` would answer.
    fn decoded(pkt: &Packet<'_>) -> Option<((IpAddr, u16), (IpAddr, u16))> {
        let d = decode::decode(pkt).ok()?;
        if d.tunnel.is_some() || d.fragment.is_some() {
            return None;
        }
        let (sp, dp) = match d.transport {
            Transport::Tcp(t) => (t.sport, t.dport),
            Transport::Udp { sport, dport, .. } => (sport, dport),
            _ => return None,
        };
        Some(((d.src, sp), (d.dst, dp)))
    }

    /// Packets built by etherparse: Ethernet and raw, v4 and v6, TCP and UDP.
    fn templates() -> Vec<(LinkType, Vec<u8>)> {
        use etherparse::PacketBuilder;
        let mut out = Vec::new();
        let payload = [7u8; 40];
        for v6 in [false, true] {
            for tcp in [false, true] {
                for eth in [false, true] {
                    let b = if eth {
                        PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
                    } else {
                        // The builder wants a link layer; the raw packet is its IP part.
                        PacketBuilder::ethernet2([1; 6], [2; 6])
                    };
                    let b = if v6 {
                        b.ipv6([0x20; 16], [0x26; 16], 64)
                    } else {
                        b.ipv4([192, 168, 1, 20], [157, 240, 1, 1], 64)
                    };
                    let mut v = Vec::new();
                    if tcp {
                        let b = b.tcp(51_000, 443, 1, 1000);
                        b.write(&mut v, &payload).expect("build");
                    } else {
                        let b = b.udp(51_000, 3478);
                        b.write(&mut v, &payload).expect("build");
                    }
                    if eth {
                        // The same with an 802.1Q tag (VLAN 100).
                        let tagged = [&v[..12], &[0x81, 0x00, 0x00, 0x64], &v[12..]].concat();
                        out.push((LinkType::ETHERNET, tagged));
                        out.push((LinkType::ETHERNET, v));
                    } else {
                        out.push((LinkType::RAW, v[14..].to_vec()));
                    }
                }
            }
        }
        out
    }

    /// Where `peek` answers, the decoder agrees, on every template and on hundreds of thousands
    /// of mutations of them (bytes changed, cut short, lengths lying).
    #[test]
    fn peek_agrees_with_the_decoder() {
        let mut rand = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        let (mut answered, mut answered_v4, mut answered_v6, mut total) = (0, 0, 0, 0);
        for (lt, t) in templates() {
            let pkt = Packet { ts: Timestamp(0), linktype: lt, data: &t, wire_len: t.len() as u32 };
            assert!(peek(&pkt).is_some(), "a plain packet is peeked");
            for _ in 0..50_000 {
                // Mostly the headers (first 80 bytes), where the decisions are.
                let m = crate::testing::mutate(&mut rand, &t, 80);
                let pkt = Packet { ts: Timestamp(0), linktype: lt, data: &m, wire_len: 0 };
                total += 1;
                if let Some(((s, sp), (d, dp))) = peek_v4(&pkt) {
                    let v4 = Some(((IpAddr::V4(s), sp), (IpAddr::V4(d), dp)));
                    assert_eq!(v4, peek(&pkt), "peek_v4 and peek differ on {m:02x?}");
                    answered_v4 += 1;
                }
                if let Some(((s, sp), (d, dp))) = peek_v6(&pkt) {
                    let v6 = Some(((IpAddr::V6(s.into()), sp), (IpAddr::V6(d.into()), dp)));
                    assert_eq!(v6, peek(&pkt), "peek_v6 and peek differ on {m:02x?}");
                    answered_v6 += 1;
                }
                if let Some(p) = peek(&pkt) {
                    answered += 1;
                    assert_eq!(Some(p), decoded(&pkt), "peek and decoder differ on {m:02x?}");
                }
            }
        }
        assert!(answered > total / 4, "peek answered {answered} of {total}");
        assert!(answered_v4 > total / 8, "peek_v4 answered {answered_v4} of {total}");
        assert!(answered_v6 > total / 8, "peek_v6 answered {answered_v6} of {total}");
    }

    /// An Ethernet/IPv4/UDP packet from `device` to a public server.
    fn from_device(device: [u8; 4], ts: i64) -> (Vec<u8>, Timestamp) {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(device, [157, 240, 1, 1], 64)
            .udp(40_000, 443)
            .write(&mut v, &[0u8; 20])
            .expect("build");
        (v, Timestamp(ts))
    }

    /// A new device goes to the worker thread with the least waiting while that is under the
    /// backlog, else to worker 0; a device keeps its worker whatever the backlog does after.
    #[test]
    fn new_devices_go_where_least_is_waiting() {
        let done = Arc::new(Done::new(3));
        let mut r = Router::new(LocalNets::default(), 3, done.clone(), BACKLOG);
        let route = |r: &mut Router, dev: [u8; 4]| {
            let (bytes, ts) = from_device(dev, 0);
            let pkt = Packet { ts, linktype: LinkType::ETHERNET, data: &bytes, wire_len: 0 };
            r.route(&pkt).0
        };
        let (a, b, c, d) = ([192, 168, 1, 10], [192, 168, 1, 11], [10, 0, 0, 7], [10, 9, 9, 9]);
        // Nothing waits anywhere: the first worker thread.
        assert_eq!(route(&mut r, a), 1);
        for _ in 0..BACKLOG {
            assert_eq!(route(&mut r, a), 1, "a device keeps its worker");
        }
        // Worker 1 has the backlog: worker 2.
        assert_eq!(route(&mut r, b), 2);
        for _ in 0..BACKLOG {
            route(&mut r, b);
        }
        // Both have it: the reading thread's worker 0.
        assert_eq!(route(&mut r, c), 0);
        assert_eq!(route(&mut r, c), 0);
        // Worker 2 catches up: the next new device is its; the old ones stay where they were.
        done.set(2, BACKLOG);
        assert_eq!(route(&mut r, d), 2);
        assert_eq!((route(&mut r, a), route(&mut r, b), route(&mut r, c)), (1, 2, 0));
        // One worker: everything on the reading thread.
        let mut one = Router::new(LocalNets::default(), 1, Arc::new(Done::new(1)), BACKLOG);
        assert_eq!((route(&mut one, a), route(&mut one, d)), (0, 0));
    }

    /// The backlog follows the chunk size, and shrinks with the input left: near the end new
    /// devices stay on the reading thread, whose work ends with the input.
    #[test]
    fn the_backlog_shrinks_with_the_chunks_and_near_the_end() {
        let route = |r: &mut Router, dev: [u8; 4]| {
            let (bytes, ts) = from_device(dev, 0);
            let pkt = Packet { ts, linktype: LinkType::ETHERNET, data: &bytes, wire_len: 0 };
            r.route(&pkt).0
        };
        let (a, b, c, d) = ([192, 168, 1, 10], [192, 168, 1, 11], [10, 0, 0, 7], [10, 9, 9, 9]);
        // Chunks of a quarter: a quarter of the backlog.
        let quarter = super::super::CHUNK as u32 / 4;
        let mut r = Router::new(LocalNets::default(), 2, Arc::new(Done::new(2)), BACKLOG);
        r.set_chunk(quarter);
        assert_eq!(r.packets_left(), None, "no size, no estimate");
        for _ in 0..quarter {
            assert_eq!(route(&mut r, a), 1);
        }
        assert_eq!(route(&mut r, b), 0);
        // An input of 10 000 records, worker 1 always 1 000 packets behind: a new device goes
        // to it while a quarter of the records left is more than that.
        let total = 10_000u64;
        let record = RECORD_HEADER + from_device(a, 0).0.len() as u64;
        let done = Arc::new(Done::new(2));
        let mut r = Router::new(LocalNets::default(), 2, done.clone(), BACKLOG);
        r.expect(total * record);
        for i in 0..total {
            done.set(1, r.routed[1].saturating_sub(1_000));
            let left = total - i - 1;
            let dev = match left {
                5_000 => b,
                4_004 => c,
                4_003 => d,
                _ => a,
            };
            let w = route(&mut r, dev);
            assert_eq!(r.packets_left(), Some(left));
            match left {
                5_000 | 4_004 => assert_eq!(w, 1, "{left} left"),
                4_003 => assert_eq!(w, 0, "{left} left"),
                _ => {}
            }
        }
    }
}
