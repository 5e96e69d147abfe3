//! Live capture from PCAPdroid's UDP exporter (`leakscope capture --udp [ADDR:]PORT`).
//!
//! PCAPdroid streams the phone's packets to a UDP port: first a pcap global header (24 bytes),
//! then pcap records (16-byte header + frame), or, in pcapng mode, a Section Header and an
//! Interface Description block, then Enhanced Packet blocks. A datagram holds one record or
//! several, never part of one. Link type RAW (101), or Ethernet (1) with the PCAPdroid trailer.
//!
//! Each sender has its own stream: its format, link types and last timestamp, nothing buffered
//! (a record never spans datagrams), so a sender costs a fixed few dozen bytes; the number of
//! senders is bounded. A new header resets the sender's stream. Packet time comes from the
//! records, as in replay. Only senders inside `--allow` are read; everything refused, malformed
//! or out of order is counted in [`UdpStats`], never logged per datagram.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;

use super::live::{LiveError, LiveStats, SharedStats};
use super::pcapdroid::{AndroidApp, NgApps, ng_options};
use super::{LinkType, Packet, PacketSink, Timestamp};

/// Largest frame a record may hold (libpcap's largest snaplen): anything larger is malformed.
pub const MAX_FRAME: usize = 262_144;
/// Interfaces a pcapng stream may declare.
pub const MAX_INTERFACES: usize = 16;
/// Default most senders streamed from at once.
pub const DEFAULT_MAX_SENDERS: usize = 16;
/// Default time after which a silent sender's stream is forgotten.
pub const DEFAULT_SENDER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Longest wait for a datagram before the stop flag is looked at again.
const WAIT: Duration = Duration::from_millis(20);
/// How often counters are published and silent senders expired.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Largest UDP payload.
const DATAGRAM_MAX: usize = 65_536;

const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_LEN: usize = 16;
const LINKTYPE_MASK: u32 = 0x03ff_ffff;
const SHB: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const IDB: u32 = 1;
const EPB: u32 = 6;
/// Custom blocks (copyable and not): PCAPdroid's uid → app mappings travel in them.
const CB: u32 = 0x0000_0bad;
const DCB: u32 = 0x4000_0bad;
const OPT_IF_TSRESOL: u16 = 9;

/// Counters of the UDP receiver (in `stats.jsonl` under `udp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UdpStats {
    /// Datagrams from allowed senders.
    pub datagrams: u64,
    /// Datagrams from senders outside `--allow`, dropped.
    pub refused: u64,
    /// Stream headers (pcap global header, pcapng section header): each starts or resets a stream.
    pub headers: u64,
    /// Datagrams (or their rest) that did not parse: short or impossible records, unknown
    /// interfaces.
    pub malformed: u64,
    /// Datagrams from a sender whose stream has no header yet and that do not look like one
    /// PCAPdroid record.
    pub no_header: u64,
    /// Streams taken up without a header (leakscope started after PCAPdroid): a datagram that
    /// is exactly one little-endian µs pcap record of raw IP or Ethernet.
    pub resynced: u64,
    /// Records older than the sender's previous one (delivered all the same).
    pub out_of_order: u64,
    /// Datagrams dropped because `max_senders` streams were open.
    pub over_sender_limit: u64,
    /// Senders forgotten after a silence of the sender timeout.
    pub senders_timed_out: u64,
    /// Senders streaming now.
    pub senders: u64,
}

#[derive(Clone, Copy, Debug)]
struct NgInterface {
    linktype: LinkType,
    units_per_sec: u64,
}

#[derive(Clone, Debug)]
enum Format {
    Pcap { be: bool, nanos: bool, linktype: LinkType },
    Pcapng { be: bool, interfaces: Vec<NgInterface>, apps: NgApps },
}

/// What one datagram did to its stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramReport {
    /// Headers met.
    pub headers: u32,
    /// Packets delivered.
    pub packets: u32,
    /// The datagram (or its rest) did not parse.
    pub malformed: bool,
    /// No header yet: dropped.
    pub no_header: bool,
    /// The stream was taken up without a header.
    pub resynced: bool,
    /// Records older than the previous one.
    pub out_of_order: u32,
}

/// One sender's stream state.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    format: Option<Format>,
    last_ts: Option<Timestamp>,
}

fn u16_at(b: &[u8], at: usize, be: bool) -> Option<u16> {
    let x: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if be { u16::from_be_bytes(x) } else { u16::from_le_bytes(x) })
}

fn u32_at(b: &[u8], at: usize, be: bool) -> Option<u32> {
    let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if be { u32::from_be_bytes(x) } else { u32::from_le_bytes(x) })
}

/// A pcap global header's magic: (big-endian, nanosecond).
fn pcap_magic(b: &[u8]) -> Option<(bool, bool)> {
    match b.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] => Some((false, false)),
        [0xa1, 0xb2, 0xc3, 0xd4] => Some((true, false)),
        [0x4d, 0x3c, 0xb2, 0xa1] => Some((false, true)),
        [0xa1, 0xb2, 0x3c, 0x4d] => Some((true, true)),
        _ => None,
    }
}

/// `if_tsresol`: a power of ten, or of two with the top bit set; `None` if it overflows.
fn units_per_sec(v: u8) -> Option<u64> {
    if v & 0x80 == 0 {
        10u64.checked_pow(u32::from(v))
    } else {
        1u64.checked_shl(u32::from(v & 0x7f))
    }
}

/// A frame's likely link type from its first bytes: raw IP, or Ethernet carrying IP.
fn guess_linktype(frame: &[u8]) -> Option<LinkType> {
    match frame.first()? >> 4 {
        4 | 6 => return Some(LinkType::RAW),
        _ => {}
    }
    matches!(frame.get(12..14)?, [0x08, 0x00] | [0x86, 0xdd]).then_some(LinkType::ETHERNET)
}

impl Stream {
    /// Parses one datagram, handing each packet to `deliver` with its app when the stream
    /// names one (PCAPdroid's pcapng).
    pub fn datagram(&mut self, d: &[u8], deliver: &mut Deliver<'_>) -> DatagramReport {
        let mut r = DatagramReport::default();
        let mut rest = d;
        while !rest.is_empty() {
            if let Some((be, nanos)) = pcap_magic(rest) {
                let Some(lt) = u32_at(rest, 20, be) else {
                    r.malformed = true;
                    break;
                };
                self.reset(Format::Pcap { be, nanos, linktype: LinkType(lt & LINKTYPE_MASK) });
                r.headers += 1;
                rest = &rest[PCAP_HEADER_LEN..];
                continue;
            }
            if u32_at(rest, 0, false) == Some(SHB) {
                match shb(rest) {
                    Some((be, len)) => {
                        let apps = NgApps::default();
                        self.reset(Format::Pcapng { be, interfaces: Vec::new(), apps });
                        r.headers += 1;
                        rest = &rest[len..];
                        continue;
                    }
                    None => {
                        r.malformed = true;
                        break;
                    }
                }
            }
            let used = match &mut self.format {
                None if rest.len() == d.len() && resync(rest).is_some() => {
                    let lt = resync(rest).unwrap_or(LinkType::RAW);
                    self.format = Some(Format::Pcap { be: false, nanos: false, linktype: lt });
                    r.resynced = true;
                    continue;
                }
                None => {
                    r.no_header = true;
                    break;
                }
                Some(Format::Pcap { be, nanos, linktype }) => {
                    pcap_record(rest, *be, *nanos, *linktype, &mut self.last_ts, &mut r, deliver)
                }
                Some(Format::Pcapng { be, interfaces, apps }) => {
                    let ng = NgState { be: *be, interfaces, apps };
                    pcapng_block(rest, ng, &mut self.last_ts, &mut r, deliver)
                }
            };
            match used {
                Some(n) => rest = &rest[n..],
                None => {
                    r.malformed = true;
                    break;
                }
            }
        }
        r
    }

    fn reset(&mut self, f: Format) {
        self.format = Some(f);
        self.last_ts = None;
    }

    /// Whether a header (or a resync) started this stream.
    pub fn started(&self) -> bool {
        self.format.is_some()
    }
}

/// A datagram that is exactly one little-endian µs pcap record of raw IP or Ethernet/IP: what
/// PCAPdroid sends after its header. Returns the link type.
fn resync(d: &[u8]) -> Option<LinkType> {
    let incl = u32_at(d, 8, false)? as usize;
    let orig = u32_at(d, 12, false)? as usize;
    let usec = u32_at(d, 4, false)?;
    let exact = d.len() == PCAP_RECORD_LEN + incl && incl <= MAX_FRAME && orig >= incl;
    if !exact || usec >= 1_000_000 {
        return None;
    }
    guess_linktype(&d[PCAP_RECORD_LEN..])
}

/// A section header block: (big-endian, block length).
fn shb(b: &[u8]) -> Option<(bool, usize)> {
    let be = match u32_at(b, 8, false)? {
        BYTE_ORDER_MAGIC => false,
        m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
        _ => return None,
    };
    let len = u32_at(b, 4, be)? as usize;
    (len >= 28 && len.is_multiple_of(4) && len <= b.len()).then_some((be, len))
}

fn note_ts(ts: Timestamp, last: &mut Option<Timestamp>, r: &mut DatagramReport) {
    match last {
        Some(l) if ts < *l => r.out_of_order += 1,
        _ => *last = Some(ts),
    }
}

/// One pcap record; returns the bytes it used, `None` if it is malformed.
fn pcap_record(
    b: &[u8],
    be: bool,
    nanos: bool,
    linktype: LinkType,
    last: &mut Option<Timestamp>,
    r: &mut DatagramReport,
    deliver: &mut Deliver<'_>,
) -> Option<usize> {
    let secs = u32_at(b, 0, be)?;
    let frac = u32_at(b, 4, be)?;
    let incl = u32_at(b, 8, be)? as usize;
    let orig = u32_at(b, 12, be)?;
    if incl > MAX_FRAME {
        return None;
    }
    let data = b.get(PCAP_RECORD_LEN..PCAP_RECORD_LEN + incl)?;
    let frac_ns = if nanos { i64::from(frac) } else { i64::from(frac) * 1000 };
    let ts = Timestamp::from_secs_nanos(i64::from(secs), frac_ns);
    note_ts(ts, last, r);
    r.packets += 1;
    deliver(&Packet { ts, linktype, data, wire_len: orig.max(incl as u32) }, None);
    Some(PCAP_RECORD_LEN + incl)
}

/// Where a stream's packets go, each with its app when the stream names one.
pub type Deliver<'a> = dyn FnMut(&Packet<'_>, Option<&Arc<AndroidApp>>) + 'a;

/// A pcapng stream's section state.
struct NgState<'s> {
    be: bool,
    interfaces: &'s mut Vec<NgInterface>,
    apps: &'s mut NgApps,
}

/// One pcapng block after the section header; returns the bytes it used.
fn pcapng_block(
    b: &[u8],
    ng: NgState<'_>,
    last: &mut Option<Timestamp>,
    r: &mut DatagramReport,
    deliver: &mut Deliver<'_>,
) -> Option<usize> {
    let NgState { be, interfaces, apps } = ng;
    let kind = u32_at(b, 0, be)?;
    let len = u32_at(b, 4, be)? as usize;
    if len < 12 || !len.is_multiple_of(4) || len > b.len() {
        return None;
    }
    let body = &b[8..len - 4];
    match kind {
        IDB => {
            if interfaces.len() >= MAX_INTERFACES {
                return None;
            }
            let linktype = LinkType(u32::from(u16_at(body, 0, be)?));
            let mut ups = 1_000_000;
            let mut opts = body.get(8..)?;
            while let (Some(code), Some(olen)) = (u16_at(opts, 0, be), u16_at(opts, 2, be)) {
                let olen = usize::from(olen);
                let value = opts.get(4..4 + olen)?;
                if code == 0 {
                    break;
                }
                if code == OPT_IF_TSRESOL && olen == 1 {
                    ups = units_per_sec(value[0]).filter(|&u| u > 0)?;
                }
                opts = opts.get(4 + olen.next_multiple_of(4)..).unwrap_or_default();
            }
            interfaces.push(NgInterface { linktype, units_per_sec: ups });
        }
        EPB => {
            let iface = *interfaces.get(u32_at(body, 0, be)? as usize)?;
            let units = u64::from(u32_at(body, 4, be)?) << 32 | u64::from(u32_at(body, 8, be)?);
            let caplen = u32_at(body, 12, be)? as usize;
            let origlen = u32_at(body, 16, be)?;
            if caplen > MAX_FRAME {
                return None;
            }
            let data = body.get(20..20 + caplen)?;
            let opts = body.get(20 + caplen.next_multiple_of(4)..).unwrap_or_default();
            let app = if opts.is_empty() { None } else { apps.packet(ng_options(opts, be)) };
            let ups = iface.units_per_sec;
            let secs = (units / ups).min(i64::MAX as u64) as i64;
            let frac = (u128::from(units % ups) * 1_000_000_000 / u128::from(ups)) as i64;
            let ts = Timestamp::from_secs_nanos(secs, frac);
            note_ts(ts, last, r);
            r.packets += 1;
            let wire_len = origlen.max(caplen as u32);
            deliver(&Packet { ts, linktype: iface.linktype, data, wire_len }, app.as_ref());
        }
        CB | DCB => {
            // Too short for a PEN: skipped, as any block this reader does not know.
            if let Some(pen) = u32_at(body, 0, be) {
                apps.custom_block(pen, &body[4..], be);
            }
        }
        // Simple packets (no timestamp), statistics: skipped.
        _ => {}
    }
    Some(len)
}

/// How to run the UDP receiver.
#[derive(Clone, Debug)]
pub struct UdpConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Senders allowed (their source address); others are refused and counted.
    pub allow: Vec<IpNet>,
    /// Most senders streamed from at once.
    pub max_senders: usize,
    /// A sender silent this long is forgotten (it must send a header again, or be resynced).
    pub sender_timeout: Duration,
}

/// `--udp`'s argument is neither a port nor an address with one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected PORT or ADDR:PORT ([::1]:5123 for IPv6)")]
pub struct BindError(pub String);

impl UdpConfig {
    /// `[ADDR:]PORT` → a socket address (all IPv4 addresses when only a port is given).
    pub fn parse_bind(s: &str) -> Result<SocketAddr, BindError> {
        if let Ok(port) = s.parse::<u16>() {
            return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
        }
        s.parse().map_err(|_| BindError(s.to_owned()))
    }

    /// Loopback, RFC 1918, link-local and unique-local networks: where a phone on the same
    /// Wi-Fi (or behind `adb forward`/USB tethering) sends from.
    pub fn local_networks() -> Vec<IpNet> {
        ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
            .into_iter()
            .chain(["::1/128", "fe80::/10", "fc00::/7"])
            .filter_map(|n| n.parse().ok())
            .collect()
    }

    /// Listens on `bind` with the defaults.
    pub fn new(bind: SocketAddr) -> Self {
        UdpConfig {
            bind,
            allow: Self::local_networks(),
            max_senders: DEFAULT_MAX_SENDERS,
            sender_timeout: DEFAULT_SENDER_TIMEOUT,
        }
    }
}

struct Sender {
    stream: Stream,
    last_seen: Instant,
}

/// The UDP receiver: the same push model as [`super::live::LiveSource`].
pub struct UdpSource {
    sock: UdpSocket,
    cfg: UdpConfig,
    name: String,
    senders: HashMap<SocketAddr, Sender>,
    udp: UdpStats,
    delivered: u64,
    shared: Arc<SharedStats>,
}

fn allowed(allow: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    allow.iter().any(|n| n.contains(&ip))
}

/// PCAPdroid sends in bursts, and the kernel's default receive buffer (net.core.rmem_default,
/// often 208 KiB) holds only about a hundred full datagrams: a lost one is a lost packet. Ask for
/// 8 MiB — past net.core.rmem_max when allowed (root, CAP_NET_ADMIN), else up to it.
fn widen_receive_buffer(sock: &UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    const WANT: usize = 8 << 20;
    if setsockopt(sock, sockopt::RcvBufForce, &WANT).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &WANT);
    }
}

impl UdpSource {
    /// Binds the socket (no privilege needed above port 1023).
    pub fn open(cfg: &UdpConfig) -> Result<UdpSource, LiveError> {
        let name = format!("udp:{}", cfg.bind);
        let err = |e: io::Error| LiveError::Open { iface: name.clone(), detail: e.to_string() };
        let sock = UdpSocket::bind(cfg.bind).map_err(err)?;
        widen_receive_buffer(&sock);
        sock.set_read_timeout(Some(WAIT)).map_err(err)?;
        let name = format!("udp:{}", sock.local_addr().map_err(err)?);
        Ok(UdpSource {
            sock,
            cfg: cfg.clone(),
            name,
            senders: HashMap::new(),
            udp: UdpStats::default(),
            delivered: 0,
            shared: Arc::default(),
        })
    }

    /// `udp:ADDR:PORT`, the bound address (for messages and `stats.jsonl`).
    pub fn interface(&self) -> &str {
        &self.name
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sock.local_addr().ok()
    }

    /// Counters readable from other threads.
    pub fn shared_stats(&self) -> Arc<SharedStats> {
        Arc::clone(&self.shared)
    }

    /// The counters now.
    pub fn stats(&self) -> LiveStats {
        let u = UdpStats { senders: self.senders.len() as u64, ..self.udp };
        LiveStats {
            received: u.datagrams + u.refused,
            dropped: u.refused + u.malformed + u.no_header + u.over_sender_limit,
            if_dropped: 0,
            delivered: self.delivered,
            udp: Some(u),
        }
    }

    /// Handles one datagram from `from`.
    pub fn datagram<S: PacketSink>(&mut self, d: &[u8], from: SocketAddr, sink: &mut S) {
        if !allowed(&self.cfg.allow, from.ip()) {
            self.udp.refused += 1;
            return;
        }
        self.udp.datagrams += 1;
        let now = Instant::now();
        if !self.senders.contains_key(&from) && self.senders.len() >= self.cfg.max_senders {
            self.expire(now);
            if self.senders.len() >= self.cfg.max_senders {
                self.udp.over_sender_limit += 1;
                return;
            }
        }
        let s = self
            .senders
            .entry(from)
            .or_insert_with(|| Sender { stream: Stream::default(), last_seen: now });
        s.last_seen = now;
        let r = s.stream.datagram(d, &mut |p, app| match app {
            None => sink.packet(p),
            Some(app) => sink.app_packet(p, app),
        });
        self.delivered += u64::from(r.packets);
        self.udp.headers += u64::from(r.headers);
        self.udp.malformed += u64::from(r.malformed);
        self.udp.no_header += u64::from(r.no_header);
        self.udp.resynced += u64::from(r.resynced);
        self.udp.out_of_order += u64::from(r.out_of_order);
    }

    /// Forgets senders silent for the sender timeout.
    fn expire(&mut self, now: Instant) {
        let timeout = self.cfg.sender_timeout;
        let before = self.senders.len();
        self.senders.retain(|_, s| now.duration_since(s.last_seen) < timeout);
        self.udp.senders_timed_out += (before - self.senders.len()) as u64;
    }

    /// Receives datagrams into `sink` until `stop` is set, calling `pause(sink)` when none came
    /// for a short wait.
    pub fn run<S: PacketSink>(
        mut self,
        sink: &mut S,
        stop: &AtomicBool,
        mut pause: impl FnMut(&mut S),
    ) -> Result<LiveStats, LiveError> {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        let mut next = Instant::now() + HOUSEKEEPING;
        while !stop.load(Ordering::Relaxed) {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => self.datagram(&buf[..n], from, sink),
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    pause(sink)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(LiveError::Read {
                        iface: self.name.clone(),
                        detail: e.to_string(),
                    });
                }
            }
            let now = Instant::now();
            if now >= next {
                self.expire(now);
                self.shared.set(self.stats());
                next = now + HOUSEKEEPING;
            }
        }
        let fin = self.stats();
        self.shared.set(fin);
        Ok(fin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_header(linktype: u32) -> Vec<u8> {
        let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        h.extend([0u8; 8]);
        h.extend(65_535u32.to_le_bytes());
        h.extend(linktype.to_le_bytes());
        h
    }

    fn pcap_record(secs: u32, usec: u32, frame: &[u8]) -> Vec<u8> {
        let mut r = secs.to_le_bytes().to_vec();
        r.extend(usec.to_le_bytes());
        r.extend((frame.len() as u32).to_le_bytes());
        r.extend((frame.len() as u32).to_le_bytes());
        r.extend(frame);
        r
    }

    const IP: [u8; 20] =
        [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 215, 173, 1, 157, 240, 27, 54];

    fn run(stream: &mut Stream, d: &[u8]) -> (DatagramReport, Vec<(i64, u32, usize)>) {
        let mut got = Vec::new();
        let r =
            stream.datagram(d, &mut |p, _| got.push((p.ts.nanos(), p.linktype.0, p.data.len())));
        (r, got)
    }

    #[test]
    fn pcap_header_then_records() {
        let mut s = Stream::default();
        let (r, got) = run(&mut s, &pcap_header(101));
        assert_eq!((r.headers, got.len()), (1, 0));
        let (r, got) = run(&mut s, &pcap_record(10, 5, &IP));
        assert_eq!(r, DatagramReport { packets: 1, ..Default::default() });
        assert_eq!(got, [(10_000_005_000, 101, 20)]);
        // Two records in one datagram, the second older than the first.
        let two = [pcap_record(12, 0, &IP), pcap_record(11, 0, &IP)].concat();
        let (r, got) = run(&mut s, &two);
        assert_eq!((r.packets, r.out_of_order, got.len()), (2, 1, 2));
        // A new header resets the stream (and its clock).
        let d = [pcap_header(1), pcap_record(1, 0, &[0u8; 14])].concat();
        let (r, got) = run(&mut s, &d);
        assert_eq!((r.headers, r.out_of_order), (1, 0));
        assert_eq!(got, [(1_000_000_000, 1, 14)]);
    }

    #[test]
    fn truncated_and_headerless() {
        let mut s = Stream::default();
        // Not a record on its own: no header, no resync.
        let (r, _) = run(&mut s, &[1, 2, 3]);
        assert!(r.no_header && !s.started());
        run(&mut s, &pcap_header(101));
        let rec = pcap_record(10, 0, &IP);
        for cut in 1..rec.len() {
            let (r, got) = run(&mut s, &rec[..cut]);
            assert!(r.malformed && got.is_empty(), "cut at {cut}");
        }
        let mut huge = pcap_record(10, 0, &IP);
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(run(&mut s, &huge).0.malformed);
    }

    #[test]
    fn resync_without_header() {
        let mut s = Stream::default();
        let (r, got) = run(&mut s, &pcap_record(10, 0, &IP));
        assert!(r.resynced && !r.no_header);
        assert_eq!(got, [(10_000_000_000, 101, 20)]);
        let mut eth = vec![0u8; 12];
        eth.extend([0x08, 0x00]);
        eth.extend(IP);
        let mut s = Stream::default();
        let (_, got) = run(&mut s, &pcap_record(10, 0, &eth));
        assert_eq!(got[0].1, 1);
    }

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let mut b = kind.to_le_bytes().to_vec();
        b.extend(len.to_le_bytes());
        b.extend(body);
        b.resize(len as usize - 4, 0);
        b.extend(len.to_le_bytes());
        b
    }

    #[test]
    fn pcapng_stream() {
        let mut shb_body = BYTE_ORDER_MAGIC.to_le_bytes().to_vec();
        shb_body.extend([1, 0, 0, 0]);
        shb_body.extend((-1i64).to_le_bytes());
        let mut idb = 101u16.to_le_bytes().to_vec();
        idb.extend([0, 0]);
        idb.extend(65_535u32.to_le_bytes());
        idb.extend([9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]); // if_tsresol = 9 (ns), end
        let preamble = [block(SHB, &shb_body), block(IDB, &idb)].concat();
        let mut epb = 0u32.to_le_bytes().to_vec();
        let units: u64 = 5_000_000_007;
        epb.extend(((units >> 32) as u32).to_le_bytes());
        epb.extend((units as u32).to_le_bytes());
        epb.extend(20u32.to_le_bytes());
        epb.extend(20u32.to_le_bytes());
        epb.extend(IP);
        let mut s = Stream::default();
        let (r, got) = run(&mut s, &[preamble.clone(), block(EPB, &epb)].concat());
        assert_eq!((r.headers, r.packets, r.malformed), (1, 1, false));
        assert_eq!(got, [(5_000_000_007, 101, 20)]);
        // A packet on an undeclared interface is malformed.
        epb[0] = 3;
        assert!(run(&mut s, &block(EPB, &epb)).0.malformed);
        // An unknown block is skipped.
        let (r, _) = run(&mut s, &block(0xbad, &[1, 2, 3, 4]));
        assert_eq!(r, DatagramReport::default());
        let (r, _) = run(&mut s, &block(0xbad, &[]));
        assert_eq!(r, DatagramReport::default());
        // PCAPdroid's uid map block, then a packet whose comment names the uid.
        let mut map = super::super::pcapdroid::PEN.to_le_bytes().to_vec();
        map.extend([1, 0, 1, 0]);
        map.extend(10_123i32.to_le_bytes());
        map.extend([12, 8]);
        map.extend(b"com.whatsappWhatsApp");
        epb[0] = 0;
        let mut named = epb.clone();
        named.extend([1, 0, 7, 0]);
        named.extend(b"u-10123\0");
        named.extend([0, 0, 0, 0]);
        let mut apps = Vec::new();
        let d = [block(0xbad, &map), block(EPB, &named), block(EPB, &epb)].concat();
        let r = s.datagram(&d, &mut |_, app| apps.push(app.map(|a| (**a).clone())));
        assert_eq!((r.packets, r.malformed), (2, false));
        let wa = AndroidApp { uid: Some(10_123), name: Some("com.whatsapp".into()) };
        assert_eq!(apps, [Some(wa), None]);
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(UdpConfig::parse_bind("5123").unwrap(), "0.0.0.0:5123".parse().unwrap());
        assert_eq!(UdpConfig::parse_bind("[::1]:7").unwrap(), "[::1]:7".parse().unwrap());
        assert!(UdpConfig::parse_bind("host:x").is_err());
        let allow = UdpConfig::local_networks();
        for ok in ["127.0.0.1", "192.168.1.20", "::ffff:10.0.0.1", "fe80::1", "fd00::2"] {
            assert!(allowed(&allow, ok.parse().unwrap()), "{ok}");
        }
        for no in ["8.8.8.8", "100.64.0.1", "2001:db8::1"] {
            assert!(!allowed(&allow, no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn any_bytes_no_panic() {
        let mut next = crate::testing::xorshift(0x9e37_79b9);
        let starts = [pcap_header(101), pcap_header(1), Vec::new()];
        for i in 0..3000 {
            let mut s = Stream::default();
            run(&mut s, &starts[i % 3]);
            let len = (next() % 200) as usize;
            let d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let (r, got) = run(&mut s, &d);
            assert_eq!(r.packets as usize, got.len());
        }
    }
}
