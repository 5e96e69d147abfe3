//! The flow table: bidirectional flows keyed by 5-tuple, with idle and active timeouts, TCP close
//! detection, IPv4/IPv6 fragment matching and a hard cap on live flows.
//!
//! Time is the packet clock. Memory is bounded by `max_flows` and `max_fragments`: a full table
//! evicts the flow idle the longest (counted, and still emitted).

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::index::{Index, Keys};
use super::key::{FlowKey, HostPort};
use super::lru::{Linked, Links, List, NIL};
use super::record::{EndReason, FlowRecord, mac_string, secs_us};
use super::state::ConnState;
use crate::capture::Timestamp;
use crate::decode::tcp_flags::{ACK, SYN};
use crate::decode::{Decoded, Transport, TunnelKind};
use crate::record::community_id::community_id;
use crate::record::sink::FlowOrder;

const SEC: i64 = 1_000_000_000;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;
/// Ports ≥ 1024 on which servers WhatsApp and its peers talk to listen; a packet *from* one of
/// them is from the responder when the other port is not one of them.
const KNOWN_SERVER_PORTS: &[u16] =
    &[1194, 1900, 3478, 3479, 3480, 4244, 5222, 5223, 5228, 5242, 5349, 5353, 8080, 8443];

/// Flow table limits and timeouts (nanoseconds of packet time).
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// TCP idle timeout.
    pub tcp_idle: i64,
    /// UDP idle timeout.
    pub udp_idle: i64,
    /// ICMP and other protocols' idle timeout.
    pub other_idle: i64,
    /// A record is written and the flow goes on after this long.
    pub active_timeout: i64,
    /// How long a closed TCP flow absorbs late packets (final ACKs, repeated RSTs) before it is
    /// written; Zeek's `tcp_close_delay`.
    pub close_linger: i64,
    /// Most live flows; the longest-idle is evicted beyond.
    pub max_flows: usize,
    /// Most fragment trains tracked at once.
    pub max_fragments: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            tcp_idle: 300 * SEC,
            udp_idle: 60 * SEC,
            other_idle: 60 * SEC,
            active_timeout: 1800 * SEC,
            close_linger: 5 * SEC,
            max_flows: 1_000_000,
            max_fragments: 65_536,
        }
    }
}

/// Ids and ticks per packet index: one packet makes at most this many flow table calls (an
/// outer flow and two tunnels inside it).
pub const TICKS: u64 = 4;

/// Per-direction counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Packets.
    pub pkts: u64,
    /// IP bytes (header + payload).
    pub ip_bytes: u64,
    /// Transport payload bytes.
    pub bytes: u64,
}

/// Which idle list a flow is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdleList {
    Tcp = 0,
    Udp = 1,
    Other = 2,
    Closing = 3,
}

/// A live flow. `T` is the per-flow state of later stages (dissectors, classification).
#[derive(Debug)]
pub struct Flow<T> {
    /// Sequence number of the flow (ids rise in order of first packets; with
    /// [`FlowTable::begin_packet`], the first packet's index times [`TICKS`] plus the flows that
    /// packet created before), rendered as the record's `uid`.
    pub id: u64,
    /// The 5-tuple.
    pub key: FlowKey,
    /// Whether the originator is `key.lo`.
    pub orig_is_lo: bool,
    /// First packet.
    pub first_ts: Timestamp,
    /// Latest packet.
    pub last_ts: Timestamp,
    /// First packet of the current record (differs from `first_ts` after an active timeout).
    pub record_start: Timestamp,
    /// Originator counters for the current record.
    pub orig: Counters,
    /// Responder counters for the current record.
    pub resp: Counters,
    /// TCP/UDP state and history.
    pub state: ConnState,
    /// Originator MAC.
    pub orig_mac: Option<[u8; 6]>,
    /// Responder MAC.
    pub resp_mac: Option<[u8; 6]>,
    /// Outer VLAN.
    pub vlan: Option<u16>,
    /// Tunnel the flow was found in.
    pub tunnel: Option<TunnelKind>,
    /// Non-first fragments counted for this record.
    pub fragments: u64,
    /// ICMP type and code of the first message.
    icmp: (u8, u8),
    class: IdleList,
    close_reason: Option<EndReason>,
    links: Links,
    /// Tick of the packet that last moved the flow to the back of its idle list: a sweep writes
    /// flows in (list, tick) order, which a merge of several tables can rebuild.
    touched: u64,
    /// State of later stages.
    pub data: T,
}

impl<T> Flow<T> {
    /// Where this flow's record falls in the single-threaded order (see [`FlowOrder`]).
    pub fn order(&self) -> FlowOrder {
        FlowOrder {
            expiry: (self.class as u8, self.touched),
            flush: (self.first_ts.nanos(), self.id),
        }
    }

    /// Originator endpoint.
    pub fn orig(&self) -> HostPort {
        if self.orig_is_lo { self.key.lo } else { self.key.hi }
    }
    /// Responder endpoint.
    pub fn resp(&self) -> HostPort {
        if self.orig_is_lo { self.key.hi } else { self.key.lo }
    }

    /// The record for the current segment of this flow.
    pub fn record(&self, end_reason: EndReason) -> FlowRecord {
        let (o, r) = (self.orig(), self.resp());
        let is_icmp = matches!(self.key.proto, PROTO_ICMP | PROTO_ICMPV6);
        let conn_state = if self.key.proto == PROTO_TCP {
            self.state.tcp_code(self.orig.bytes, self.resp.bytes)
        } else {
            self.state.datagram_code()
        };
        let (orig_p, resp_p) = if is_icmp {
            (u16::from(self.icmp.0), u16::from(self.icmp.1))
        } else {
            (o.port(), r.port())
        };
        FlowRecord {
            ts: secs_us(self.record_start.nanos()),
            uid: uid_string(self.id),
            proto: proto_name(self.key.proto),
            orig_h: o.ip(),
            orig_p,
            resp_h: r.ip(),
            resp_p,
            community_id: community_id(0, o.ip(), orig_p, r.ip(), resp_p, self.key.proto),
            duration: secs_us(self.last_ts.since(self.record_start)),
            orig_pkts: self.orig.pkts,
            resp_pkts: self.resp.pkts,
            orig_ip_bytes: self.orig.ip_bytes,
            resp_ip_bytes: self.resp.ip_bytes,
            orig_bytes: self.orig.bytes,
            resp_bytes: self.resp.bytes,
            conn_state,
            history: self.state.history().to_owned(),
            end_reason,
            orig_mac: self.orig_mac.map(mac_string),
            resp_mac: self.resp_mac.map(mac_string),
            vlan: self.vlan,
            tunnel: self.tunnel.map(|t| match t {
                TunnelKind::IpInIp => "ip_in_ip",
                TunnelKind::Vxlan => "vxlan",
                TunnelKind::Gtp => "gtp",
            }),
            fragments: self.fragments,
            app_proto: None,
            server_name: None,
            name_source: None,
            alpn: None,
            ja4: None,
            ja3: None,
            quic_version: None,
            protocol_version: None,
            wa_client: None,
            wa_phone: None,
            set_cookie_names: Vec::new(),
            service: None,
            endpoint: None,
            role: None,
            confidence: None,
            evidence: Vec::new(),
            resp_asn: None,
            resp_as_org: None,
            resp_cc: None,
            device: None,
            app: None,
            app_uid: None,
            source: None,
            activity: None,
        }
    }
}

/// Zeek-like uid: `C` and 17 base62 characters of a bijective mix of the sequence number, so uids
/// are unique, look random, and are the same in every replay of the same input.
pub fn uid_string(id: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let mut s = String::with_capacity(12);
    s.push('C');
    for _ in 0..11 {
        s.push(ALPHABET[(z % 62) as usize] as char);
        z /= 62;
    }
    s
}

fn proto_name(p: u8) -> String {
    match p {
        PROTO_TCP => "tcp".into(),
        PROTO_UDP => "udp".into(),
        PROTO_ICMP => "icmp".into(),
        PROTO_ICMPV6 => "icmp6".into(),
        other => other.to_string(),
    }
}

/// What a packet looks like to the stages after the flow table.
pub struct PacketCtx<'p, 'a> {
    /// Packet time.
    pub ts: Timestamp,
    /// Whether the packet is from the originator.
    pub from_orig: bool,
    /// The decoded packet.
    pub decoded: &'p Decoded<'a>,
}

/// Receives packets with their flow, and flows when they end.
pub trait FlowHandler<T> {
    /// Called for each packet after the flow's counters were updated.
    fn packet(&mut self, flow: &mut Flow<T>, pkt: &PacketCtx<'_, '_>);
    /// Called when a record is due. For `ActiveTimeout` the flow goes on afterwards.
    fn end(&mut self, flow: &mut Flow<T>, reason: EndReason);
}

/// Flow table counters.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct TableStats {
    /// Flows created.
    pub flows: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// Records written on active timeout.
    pub active_timeouts: u64,
    /// Most flows live at once.
    pub peak_live: u64,
    /// Non-first fragments whose first fragment never came.
    pub orphan_fragments: u64,
    /// Fragment trains dropped because the fragment map was full.
    pub fragment_overflow: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: HostPort,
    dst: HostPort,
    proto: u8,
    id: u32,
}

#[derive(Clone, Copy)]
struct FragEntry {
    flow: Option<FlowKey>,
    seen: Timestamp,
    pending: Counters,
}

/// Slab of flows: `None` slots are on the free list.
struct Slab<T>(Vec<Option<Flow<T>>>);

impl<T> Keys for Slab<T> {
    fn key(&self, i: u32) -> &FlowKey {
        &self.0[i as usize].as_ref().expect("indexed slot is live").key
    }
}

impl<T> Linked for Slab<T> {
    fn links(&mut self, i: u32) -> &mut Links {
        &mut self.0[i as usize].as_mut().expect("linked slot is live").links
    }
}

/// The flow table.
pub struct FlowTable<T> {
    cfg: FlowConfig,
    map: Index,
    slab: Slab<T>,
    free: Vec<u32>,
    lists: [List; 4],
    frags: HashMap<FragKey, FragEntry, RandomState>,
    next_id: u64,
    /// Tick of the next [`FlowTable::packet`] call.
    tick: u64,
    now: Timestamp,
    next_sweep: Timestamp,
    stats: TableStats,
}

impl<T: Default> FlowTable<T> {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTable {
            cfg,
            map: Index::default(),
            slab: Slab(Vec::new()),
            free: Vec::new(),
            lists: [List::default(); 4],
            frags: HashMap::default(),
            next_id: 0,
            tick: 0,
            now: Timestamp::default(),
            next_sweep: Timestamp(i64::MIN),
            stats: TableStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// The live flows, in no particular order (the live view; not for the hot path).
    pub fn flows(&self) -> impl Iterator<Item = &Flow<T>> {
        self.slab.0.iter().flatten()
    }

    /// The id the next new flow gets: ids rise in order of first packets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The next packet is the input's packet number `index` (counting every packet handed to
    /// the pipeline): flow ids and ticks then follow from the index, not from how many flows
    /// this table saw, so that tables fed disjoint parts of one input (`replay --threads`) give
    /// the same ids as one table fed all of it.
    pub fn begin_packet(&mut self, index: u64) {
        let base = index.saturating_mul(TICKS);
        self.next_id = self.next_id.max(base);
        self.tick = self.tick.max(base);
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no flow is live.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Accounts one decoded packet. The caller has moved the clock to the packet first
    /// ([`FlowTable::advance`]: once per packet, before anything the packet writes).
    pub fn packet<H: FlowHandler<T>>(
        &mut self,
        ts: Timestamp,
        d: &Decoded<'_>,
        tunnel: Option<TunnelKind>,
        h: &mut H,
    ) {
        let tick = self.tick;
        self.tick += 1;
        let (sport, dport, tcp_flags, payload_len) = match d.transport {
            Transport::Tcp(t) => (t.sport, t.dport, Some(t.flags), t.payload_len),
            Transport::Udp { sport, dport, payload_len, .. } => (sport, dport, None, payload_len),
            Transport::Icmp { .. } | Transport::Other => (0, 0, None, 0),
            Transport::Fragment => return self.later_fragment(ts, d),
        };
        let src = HostPort::new(d.src, sport);
        let dst = HostPort::new(d.dst, dport);
        let (key, src_is_lo) = FlowKey::new(src, dst, d.proto);
        let idx = self.lookup_or_create(ts, key, src_is_lo, d, tcp_flags, h);
        let mut pending = Counters::default();
        if let Some(frag) = d.fragment {
            // Later fragments carry no ports: the train is keyed by addresses and id alone.
            let (src, dst) = (HostPort::new(d.src, 0), HostPort::new(d.dst, 0));
            let fk = FragKey { src, dst, proto: d.proto, id: frag.id };
            pending = self.first_fragment(ts, fk, key);
        }
        let flow = self.slab.0[idx as usize].as_mut().expect("live flow");
        if tunnel.is_some() {
            flow.tunnel = tunnel;
        }
        if ts.nanos() - flow.record_start.nanos() >= self.cfg.active_timeout {
            h.end(flow, EndReason::ActiveTimeout);
            self.stats.active_timeouts += 1;
            flow.orig = Counters::default();
            flow.resp = Counters::default();
            flow.fragments = 0;
            flow.record_start = ts;
        }
        let from_orig = src_is_lo == flow.orig_is_lo;
        let c = if from_orig { &mut flow.orig } else { &mut flow.resp };
        c.pkts += 1 + pending.pkts;
        c.ip_bytes += u64::from(d.ip_len) + pending.ip_bytes;
        c.bytes += u64::from(payload_len);
        flow.fragments += pending.pkts;
        flow.last_ts = flow.last_ts.max(ts);
        if flow.orig_mac.is_none() && flow.resp_mac.is_none() {
            let (s, t) = (d.link.src_mac, d.link.dst_mac);
            (flow.orig_mac, flow.resp_mac) = if from_orig { (s, t) } else { (t, s) };
        }
        match tcp_flags {
            Some(f) => flow.state.tcp(f, payload_len, from_orig),
            None => flow.state.datagram(from_orig),
        }
        h.packet(flow, &PacketCtx { ts, from_orig, decoded: d });
        flow.touched = tick;
        let class = flow.class;
        let newly_closed = if class != IdleList::Closing && tcp_flags.is_some() {
            flow.state.tcp_finished()
        } else {
            None
        };
        if let Some(reason) = newly_closed {
            flow.close_reason = Some(reason);
            flow.class = IdleList::Closing;
            self.lists[class as usize].remove(&mut self.slab, idx);
            self.lists[IdleList::Closing as usize].push_back(&mut self.slab, idx);
        } else {
            self.lists[class as usize].touch(&mut self.slab, idx);
        }
    }

    fn lookup_or_create<H: FlowHandler<T>>(
        &mut self,
        ts: Timestamp,
        key: FlowKey,
        src_is_lo: bool,
        d: &Decoded<'_>,
        tcp_flags: Option<u8>,
        h: &mut H,
    ) -> u32 {
        if let Some(idx) = self.map.get(&key, &self.slab) {
            let flow = self.slab.0[idx as usize].as_ref().expect("mapped flow is live");
            // A new SYN on a closed 4-tuple is a new connection (port reuse).
            let new_syn = tcp_flags.is_some_and(|f| f & (SYN | ACK) == SYN);
            if !(flow.class == IdleList::Closing && new_syn) {
                return idx;
            }
            self.finish(idx, None, h);
        }
        if self.map.len() >= self.cfg.max_flows {
            self.evict_oldest(h);
        }
        self.create(ts, key, src_is_lo, d, tcp_flags)
    }

    fn create(
        &mut self,
        ts: Timestamp,
        key: FlowKey,
        src_is_lo: bool,
        d: &Decoded<'_>,
        tcp_flags: Option<u8>,
    ) -> u32 {
        let (orig_is_src, flipped) = originator(d, tcp_flags);
        let mut state = ConnState::default();
        if flipped {
            state.flipped();
        }
        let class = match key.proto {
            PROTO_TCP => IdleList::Tcp,
            PROTO_UDP => IdleList::Udp,
            _ => IdleList::Other,
        };
        let icmp = match d.transport {
            Transport::Icmp { kind, code } => (kind, code),
            _ => (0, 0),
        };
        let flow = Flow {
            id: self.next_id,
            key,
            orig_is_lo: orig_is_src == src_is_lo,
            first_ts: ts,
            last_ts: ts,
            record_start: ts,
            orig: Counters::default(),
            resp: Counters::default(),
            state,
            orig_mac: None,
            resp_mac: None,
            vlan: d.link.vlan,
            tunnel: None,
            fragments: 0,
            icmp,
            class,
            close_reason: None,
            links: Links::default(),
            touched: 0,
            data: T::default(),
        };
        self.next_id += 1;
        self.stats.flows += 1;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab.0[i as usize] = Some(flow);
                i
            }
            None => {
                let slab = &mut self.slab.0;
                if slab.len() == slab.capacity() {
                    // Grow by a quarter, not Vec's doubling: a full table then carries at most 25 %
                    // empty slots (doubling left up to half of the slab's memory unused), and the
                    // copies stay amortised O(1).
                    let more = (slab.len() / 4).max(1024);
                    slab.reserve_exact(
                        more.min(self.cfg.max_flows.saturating_sub(slab.len())).max(1),
                    );
                }
                slab.push(Some(flow));
                (slab.len() - 1) as u32
            }
        };
        self.map.insert(&key, idx, &self.slab);
        self.lists[class as usize].push_back(&mut self.slab, idx);
        self.stats.peak_live = self.stats.peak_live.max(self.map.len() as u64);
        idx
    }

    /// Writes and removes flow `idx`. `reason` None: the flow's own close reason or `Idle`.
    fn finish<H: FlowHandler<T>>(&mut self, idx: u32, reason: Option<EndReason>, h: &mut H) {
        let class = self.slab.0[idx as usize].as_ref().expect("live").class;
        self.lists[class as usize].remove(&mut self.slab, idx);
        let mut flow = self.slab.0[idx as usize].take().expect("live");
        self.map.remove(&flow.key, idx);
        self.free.push(idx);
        let reason = reason.or(flow.close_reason).unwrap_or(EndReason::Idle);
        h.end(&mut flow, reason);
    }

    fn evict_oldest<H: FlowHandler<T>>(&mut self, h: &mut H) {
        let oldest = self
            .lists
            .iter()
            .filter(|l| l.head != NIL)
            .map(|l| l.head)
            .min_by_key(|&i| self.slab.0[i as usize].as_ref().map(|f| f.last_ts));
        if let Some(idx) = oldest {
            self.stats.evicted += 1;
            self.finish(idx, Some(EndReason::Evicted), h);
        }
    }

    /// Moves the packet clock; once per second of packet time, expires idle flows. Inlined:
    /// almost every call only moves the clock.
    #[inline]
    pub fn advance<H: FlowHandler<T>>(&mut self, ts: Timestamp, h: &mut H) {
        self.now = self.now.max(ts);
        if self.now >= self.next_sweep {
            self.sweep(h);
        }
    }

    /// Expires idle flows (and fragment trains) at `now`.
    #[inline(never)]
    fn sweep<H: FlowHandler<T>>(&mut self, h: &mut H) {
        self.next_sweep = Timestamp(self.now.nanos() + SEC);
        let timeouts =
            [self.cfg.tcp_idle, self.cfg.udp_idle, self.cfg.other_idle, self.cfg.close_linger];
        for (class, timeout) in timeouts.into_iter().enumerate() {
            loop {
                let head = self.lists[class].head;
                if head == NIL {
                    break;
                }
                let last = self.slab.0[head as usize].as_ref().expect("live").last_ts;
                if self.now.nanos() - last.nanos() < timeout {
                    break;
                }
                self.finish(head, None, h);
            }
        }
        self.sweep_fragments();
    }

    /// Writes every live flow, oldest first (deterministic order), and empties the table.
    pub fn flush<H: FlowHandler<T>>(&mut self, h: &mut H) {
        let mut live: Vec<(Timestamp, u64, u32)> = self
            .slab
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (f.first_ts, f.id, i as u32)))
            .collect();
        live.sort_unstable();
        for (_, _, idx) in live {
            let closing = self.slab.0[idx as usize].as_ref().and_then(|f| f.close_reason);
            self.finish(idx, Some(closing.unwrap_or(EndReason::EndOfInput)), h);
        }
        self.stats.orphan_fragments +=
            self.frags.values().filter(|e| e.flow.is_none()).map(|e| e.pending.pkts).sum::<u64>();
        self.frags.clear();
    }

    /// Registers a first fragment; returns what earlier-arriving later fragments counted.
    fn first_fragment(&mut self, ts: Timestamp, fk: FragKey, key: FlowKey) -> Counters {
        if let Some(e) = self.frags.get_mut(&fk) {
            e.flow = Some(key);
            e.seen = ts;
            return std::mem::take(&mut e.pending);
        }
        if self.frags.len() >= self.cfg.max_fragments {
            self.stats.fragment_overflow += 1;
            return Counters::default();
        }
        self.frags
            .insert(fk, FragEntry { flow: Some(key), seen: ts, pending: Counters::default() });
        Counters::default()
    }

    /// Counts a non-first fragment against its flow, or keeps it pending until the first arrives.
    fn later_fragment(&mut self, ts: Timestamp, d: &Decoded<'_>) {
        let Some(frag) = d.fragment else { return };
        let (src, dst) = (HostPort::new(d.src, 0), HostPort::new(d.dst, 0));
        let fk = FragKey { src, dst, proto: d.proto, id: frag.id };
        let entry = self.frags.get_mut(&fk);
        let flow_idx =
            entry.as_ref().and_then(|e| e.flow).and_then(|k| self.map.get(&k, &self.slab));
        match (entry, flow_idx) {
            (Some(e), Some(idx)) => {
                e.seen = ts;
                let flow = self.slab.0[idx as usize].as_mut().expect("live");
                let from_lo = d.src == flow.key.lo.ip();
                let c = if from_lo == flow.orig_is_lo { &mut flow.orig } else { &mut flow.resp };
                c.pkts += 1;
                c.ip_bytes += u64::from(d.ip_len);
                flow.fragments += 1;
                flow.last_ts = flow.last_ts.max(ts);
            }
            (Some(e), None) => {
                e.pending.pkts += 1;
                e.pending.ip_bytes += u64::from(d.ip_len);
            }
            (None, _) => {
                if self.frags.len() >= self.cfg.max_fragments {
                    self.stats.fragment_overflow += 1;
                    return;
                }
                let pending = Counters { pkts: 1, ip_bytes: u64::from(d.ip_len), bytes: 0 };
                self.frags.insert(fk, FragEntry { flow: None, seen: ts, pending });
            }
        }
    }

    /// Drops fragment trains not seen for the UDP idle timeout.
    fn sweep_fragments(&mut self) {
        if self.frags.is_empty() {
            return;
        }
        let (now, limit) = (self.now.nanos(), self.cfg.udp_idle);
        let mut orphans = 0;
        self.frags.retain(|_, e| {
            let keep = now - e.seen.nanos() < limit;
            if !keep && e.flow.is_none() {
                orphans += e.pending.pkts;
            }
            keep
        });
        self.stats.orphan_fragments += orphans;
    }
}

/// Whether the packet's source is the originator, and whether that contradicts the first packet.
fn originator(d: &Decoded<'_>, tcp_flags: Option<u8>) -> (bool, bool) {
    if let Some(f) = tcp_flags {
        if f & (SYN | ACK) == SYN {
            return (true, false);
        }
        if f & (SYN | ACK) == SYN | ACK {
            return (false, true);
        }
    }
    match d.transport {
        Transport::Tcp(t) => port_heuristic(t.sport, t.dport),
        Transport::Udp { sport, dport, .. } => port_heuristic(sport, dport),
        // Echo replies (ICMP 0, ICMPv6 129) answer the other side.
        Transport::Icmp { kind: 0, .. } if d.proto == PROTO_ICMP => (false, true),
        Transport::Icmp { kind: 129, .. } if d.proto == PROTO_ICMPV6 => (false, true),
        _ => (true, false),
    }
}

fn server_like(port: u16) -> bool {
    port < 1024 || KNOWN_SERVER_PORTS.contains(&port)
}

/// Mid-stream: the side with the ephemeral port is the client; failing that, the first sender.
fn port_heuristic(sport: u16, dport: u16) -> (bool, bool) {
    if server_like(sport) && !server_like(dport) { (false, true) } else { (true, false) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_ip;
    use crate::record::flow::ConnCode;
    use etherparse::PacketBuilder;

    #[derive(Default)]
    struct Recorder(Vec<FlowRecord>);
    impl FlowHandler<()> for Recorder {
        fn packet(&mut self, _: &mut Flow<()>, _: &PacketCtx<'_, '_>) {}
        fn end(&mut self, flow: &mut Flow<()>, reason: EndReason) {
            self.0.push(flow.record(reason));
        }
    }

    fn tcp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, syn: bool, ack: bool) -> Vec<u8> {
        let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, 1, 1000);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        let mut v = Vec::new();
        b.write(&mut v, &[]).unwrap();
        v
    }

    fn udp(sp: u16, dp: u16) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 2], [9, 9, 9, 9], 64)
            .udp(sp, dp)
            .write(&mut v, b"x")
            .unwrap();
        v
    }

    fn feed(t: &mut FlowTable<()>, h: &mut Recorder, secs: i64, pkt: &[u8]) {
        let d = decode_ip(pkt).unwrap();
        t.advance(Timestamp(secs * SEC), h);
        t.packet(Timestamp(secs * SEC), &d, None, h);
    }

    const PHONE: [u8; 4] = [10, 42, 0, 2];
    const SERVER: [u8; 4] = [157, 240, 0, 1];

    #[test]
    fn idle_timeout_and_originator_from_syn_ack() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut h = Recorder::default();
        // First packet seen is the SYN-ACK: the originator is its receiver.
        feed(&mut t, &mut h, 0, &tcp(SERVER, 443, PHONE, 40000, true, true));
        feed(&mut t, &mut h, 1, &udp(5000, 53));
        feed(&mut t, &mut h, 62, &udp(5001, 53)); // UDP idle (60 s) expires the first UDP flow
        assert_eq!(h.0.len(), 1);
        assert_eq!((h.0[0].orig_p, h.0[0].end_reason), (5000, EndReason::Idle));
        t.flush(&mut h);
        let tcp_rec = h.0.iter().find(|r| r.proto == "tcp").unwrap();
        assert_eq!((tcp_rec.orig_p, tcp_rec.resp_p, tcp_rec.history.as_str()), (40000, 443, "^h"));
    }

    #[test]
    fn active_timeout_keeps_the_uid_and_eviction_is_counted() {
        let cfg = FlowConfig { active_timeout: 10 * SEC, max_flows: 2, ..FlowConfig::default() };
        let mut t = FlowTable::new(cfg);
        let mut h = Recorder::default();
        for s in 0..25 {
            feed(&mut t, &mut h, s, &udp(6000, 3478));
        }
        let recs: Vec<_> =
            h.0.iter().filter(|r| r.end_reason == EndReason::ActiveTimeout).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].uid, recs[1].uid);
        assert_eq!(recs[0].orig_pkts, 10);
        feed(&mut t, &mut h, 25, &udp(6001, 3478));
        feed(&mut t, &mut h, 26, &udp(6002, 3478)); // third live flow: evicts the oldest idle
        assert_eq!(t.stats().evicted, 1);
        assert_eq!(h.0.last().unwrap().end_reason, EndReason::Evicted);
        t.flush(&mut h);
        let total: u64 = h.0.iter().filter(|r| r.orig_p == 6000).map(|r| r.orig_pkts).sum();
        assert_eq!(total, 25, "records of one flow add up to its packets");
    }

    #[test]
    fn rst_closes_and_a_new_syn_starts_a_new_flow() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut h = Recorder::default();
        feed(&mut t, &mut h, 0, &tcp(PHONE, 40000, SERVER, 443, true, false));
        let mut rst = Vec::new();
        PacketBuilder::ipv4(SERVER, PHONE, 64)
            .tcp(443, 40000, 1, 0)
            .rst()
            .ack(2)
            .write(&mut rst, &[])
            .unwrap();
        feed(&mut t, &mut h, 1, &rst);
        feed(&mut t, &mut h, 2, &tcp(PHONE, 40000, SERVER, 443, true, false));
        assert_eq!(h.0.len(), 1);
        assert_eq!((h.0[0].conn_state, h.0[0].end_reason), (ConnCode::Rej, EndReason::Rst));
        t.flush(&mut h);
        assert_eq!(h.0.len(), 2);
        assert_ne!(h.0[0].uid, h.0[1].uid);
        assert_eq!(h.0[1].conn_state, ConnCode::S0);
    }

    #[test]
    fn fragments_arriving_before_the_first_are_counted() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut h = Recorder::default();
        let mut first = Vec::new();
        PacketBuilder::ipv4(PHONE, SERVER, 64)
            .udp(7000, 7001)
            .write(&mut first, &[0u8; 64])
            .unwrap();
        first[4..6].copy_from_slice(&[0xab, 0xcd]);
        first[6] = 0x20; // more fragments, offset 0
        let mut last = first[..20].to_vec();
        last[6] = 0x00;
        last[7] = 0x09; // offset 72, last fragment
        last.extend_from_slice(&[0u8; 8]);
        last[2..4].copy_from_slice(&28u16.to_be_bytes());
        feed(&mut t, &mut h, 0, &last);
        feed(&mut t, &mut h, 0, &first);
        t.flush(&mut h);
        assert_eq!(h.0.len(), 1);
        assert_eq!((h.0[0].orig_pkts, h.0[0].fragments), (2, 1));
        assert_eq!(t.stats().orphan_fragments, 0);
    }
}
