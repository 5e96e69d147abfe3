//! The dispatcher's per-packet work, the serial part of `replay --threads`: which worker a
//! packet goes to, and whether it moves the packet clock to an idle sweep.

use std::collections::HashMap;
use std::net::IpAddr;

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

/// Routes packets to workers.
pub struct Router {
    local: LocalNets,
    workers: usize,
    now: Timestamp,
    next_sweep: Timestamp,
    /// (source, destination, protocol, IP id) of a fragmented packet whose device depends on
    /// its ports → its worker: later fragments carry no ports.
    frags: HashMap<(IpAddr, IpAddr, u8, u32), usize, RandomState>,
}

impl Router {
    /// A router over `workers` workers.
    pub fn new(local: LocalNets, workers: usize) -> Self {
        Router {
            local,
            workers: workers.max(1),
            now: Timestamp::default(),
            next_sweep: Timestamp(i64::MIN),
            frags: HashMap::default(),
        }
    }

    /// The packet's worker, and whether one flow table would sweep idle flows at this packet
    /// (the same rule as [`crate::flow::FlowTable::advance`], on the same packets: those that
    /// decode, IP or not).
    pub fn route(&mut self, pkt: &Packet<'_>) -> (usize, bool) {
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

    fn of(&self, device: IpAddr) -> usize {
        (super::spread(device) % self.workers as u64) as usize
    }
}
