//! Live capture from a network interface with libpcap: the same push model as the file reader,
//! a [`LiveSource`] hands each frame to a [`PacketSink`] as a borrowed [`Packet`].
//!
//! The handle is non-blocking: the source drains what is queued, then waits in `poll` for at
//! most `WAIT_MS` (20 ms), so the owner's stop flag is seen within that time even on a silent link. The BPF filter runs in the kernel (`pcap_setfilter`).

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use serde::Serialize;

use super::{LinkType, Packet, PacketSink, Timestamp};

/// How to open an interface.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Interface name, as `leakscope interfaces` lists it.
    pub interface: String,
    /// BPF filter, tcpdump syntax.
    pub filter: Option<String>,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Kernel capture buffer, bytes: what absorbs bursts while the pipeline is busy.
    pub buffer_size: u32,
    /// Promiscuous mode (needed to see a hotspot's clients only on shared media; harmless
    /// on the AP interface itself).
    pub promisc: bool,
    /// libpcap read timeout, milliseconds (the kernel's block timeout with TPACKET_V3).
    pub read_timeout_ms: i32,
}

/// Default bytes kept per frame. In immediate mode libpcap uses TPACKET_V2, whose ring has
/// fixed slots of about the snaplen (the MTU only when the NIC does no offloading), so the
/// snaplen divides the buffer into slots: 4096 keeps every header and a full-size TLS
/// ClientHello even in GRO-merged frames, and gives 16 k slots in the default buffer where
/// 65535 would give 1 k. IP and payload byte counts come from the headers, so a cut frame is
/// still counted whole.
pub const DEFAULT_SNAPLEN: u32 = 4096;
/// Default kernel buffer, bytes.
pub const DEFAULT_BUFFER: u32 = 64 << 20;

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            interface: String::new(),
            filter: None,
            snaplen: DEFAULT_SNAPLEN,
            buffer_size: DEFAULT_BUFFER,
            promisc: true,
            read_timeout_ms: 100,
        }
    }
}

/// What can go wrong with an interface; each message names it.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The interface could not be opened (missing, down, or no permission).
    #[error("interface {iface}: cannot capture: {detail}{hint}", hint = perm_hint(detail))]
    Open {
        /// Interface name.
        iface: String,
        /// libpcap's message.
        detail: String,
    },
    /// The interface's link type is not one leakscope decodes.
    #[error("interface {iface}: unsupported link type {linktype}")]
    UnsupportedLinkType {
        /// Interface name.
        iface: String,
        /// Its link type.
        linktype: LinkType,
    },
    /// The BPF filter does not compile for this interface.
    #[error("interface {iface}: filter {expr:?}: {detail}")]
    Filter {
        /// Interface name.
        iface: String,
        /// The expression.
        expr: String,
        /// libpcap's message.
        detail: String,
    },
    /// Reading failed (interface went away, …).
    #[error("interface {iface}: capture failed: {detail}")]
    Read {
        /// Interface name.
        iface: String,
        /// libpcap's message.
        detail: String,
    },
}

fn perm_hint(detail: &str) -> &'static str {
    if detail.contains("ermission") || detail.contains("not permitted") {
        " (run as root, or grant the binary: setcap cap_net_raw,cap_net_admin+eip leakscope)"
    } else {
        ""
    }
}

/// Capture counters. `received` and the drops come from libpcap (`pcap_stats`); on Linux
/// `received` includes the packets the kernel then dropped, so `received - dropped` were
/// queued for us. (On the loopback device the kernel counts each packet twice, once per
/// direction, and libpcap delivers one.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Packets that passed the kernel filter.
    pub received: u64,
    /// Packets dropped because the kernel buffer was full.
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
    /// Packets read and handed to the sink.
    pub delivered: u64,
    /// The UDP receiver's own counters (`capture --udp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<super::pcapdroid_udp::UdpStats>,
}

/// Counters another thread can read while capture runs (refreshed about once a second).
#[derive(Debug, Default)]
pub struct SharedStats {
    received: AtomicU64,
    dropped: AtomicU64,
    if_dropped: AtomicU64,
    delivered: AtomicU64,
    udp: std::sync::Mutex<Option<super::pcapdroid_udp::UdpStats>>,
}

impl SharedStats {
    /// The latest snapshot.
    pub fn get(&self) -> LiveStats {
        LiveStats {
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            if_dropped: self.if_dropped.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            udp: *self.udp.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
    pub(crate) fn set(&self, s: LiveStats) {
        *self.udp.lock().unwrap_or_else(|e| e.into_inner()) = s.udp;
        self.received.store(s.received, Ordering::Relaxed);
        self.dropped.store(s.dropped, Ordering::Relaxed);
        self.if_dropped.store(s.if_dropped, Ordering::Relaxed);
        self.delivered.store(s.delivered, Ordering::Relaxed);
    }
}

/// libpcap's 32-bit counters widened to 64 bits (they wrap after 4 G packets).
#[derive(Default)]
struct Wide {
    last: [u32; 3],
    total: [u64; 3],
}

impl Wide {
    fn update(&mut self, s: pcap::Stat) {
        for (i, v) in [s.received, s.dropped, s.if_dropped].into_iter().enumerate() {
            self.total[i] += u64::from(v.wrapping_sub(self.last[i]));
            self.last[i] = v;
        }
    }
}

/// An open interface.
pub struct LiveSource {
    cap: pcap::Capture<pcap::Active>,
    iface: String,
    linktype: LinkType,
    wide: Wide,
    delivered: u64,
    shared: Arc<SharedStats>,
}

/// How often the shared counters are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// Longest wait on a silent link, milliseconds: bounds how late a stop request is seen and how
/// long a lone packet waits in a batch.
const WAIT_MS: u16 = 20;
/// Pause after catching up with a busy link; at 1 Mpps the ring gathers 1000 packets meanwhile.
const NAP: Duration = Duration::from_millis(1);
/// Packets read in a row before the stop flag and the clock are looked at again.
const DRAIN_MAX: usize = 4096;

impl LiveSource {
    /// Opens the interface in immediate mode and installs the filter. Needs `CAP_NET_RAW`
    /// (root); privileges can be dropped once this returns.
    pub fn open(cfg: &LiveConfig) -> Result<LiveSource, LiveError> {
        let iface = cfg.interface.clone();
        let open_err =
            |e: pcap::Error| LiveError::Open { iface: iface.clone(), detail: e.to_string() };
        let mut cap = pcap::Capture::from_device(cfg.interface.as_str())
            .map_err(open_err)?
            .immediate_mode(true)
            .promisc(cfg.promisc)
            .snaplen(cfg.snaplen.min(i32::MAX as u32) as i32)
            .buffer_size(cfg.buffer_size.min(i32::MAX as u32) as i32)
            .timeout(cfg.read_timeout_ms.max(1))
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(open_err)?;
        let linktype = LinkType(cap.get_datalink().0 as u32);
        if !linktype.is_supported() {
            return Err(LiveError::UnsupportedLinkType { iface, linktype });
        }
        if let Some(expr) = &cfg.filter {
            cap.filter(expr, true).map_err(|e| LiveError::Filter {
                iface: iface.clone(),
                expr: expr.clone(),
                detail: e.to_string(),
            })?;
        }
        Ok(LiveSource {
            cap,
            iface,
            linktype,
            wide: Wide::default(),
            delivered: 0,
            shared: Arc::default(),
        })
    }

    /// The interface's link type.
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// Counters readable from other threads while [`run`](Self::run) goes on.
    pub fn shared_stats(&self) -> Arc<SharedStats> {
        Arc::clone(&self.shared)
    }

    /// Current counters (asks the kernel).
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let s = self.cap.stats().map_err(|e| self.read_err(e))?;
        self.wide.update(s);
        let [received, dropped, if_dropped] = self.wide.total;
        let st = LiveStats { received, dropped, if_dropped, delivered: self.delivered, udp: None };
        self.shared.set(st);
        Ok(st)
    }

    fn read_err(&self, e: pcap::Error) -> LiveError {
        LiveError::Read { iface: self.iface.clone(), detail: e.to_string() }
    }

    /// Pushes packets into `sink` until `stop` is set, calling `pause(sink)` when no packet came
    /// for `WAIT_MS`, so a sink that batches can hand its batch on.
    /// On stop, the kernel's counters are read first and then everything already queued is
    /// drained, so that `delivered >= received - dropped`: each packet pcap counted as received
    /// and not dropped reached the sink. On the loopback device the kernel counts each packet
    /// twice and libpcap delivers it once: there `delivered >= (received - dropped) / 2`.
    pub fn run<S: PacketSink>(
        mut self,
        sink: &mut S,
        stop: &AtomicBool,
        mut pause: impl FnMut(&mut S),
    ) -> Result<LiveStats, LiveError> {
        let mut next_stats = Instant::now() + STATS_EVERY;
        while !stop.load(Ordering::Relaxed) {
            let before = self.delivered;
            let empty = self.drain(sink, DRAIN_MAX)?;
            if Instant::now() >= next_stats {
                self.stats()?;
                next_stats = Instant::now() + STATS_EVERY;
            }
            if !empty {
                continue;
            }
            if self.delivered > before {
                // Traffic is flowing but we caught up: nap instead of waiting in poll, so that
                // packets gather in the ring. Waking per packet costs both us and the sender
                // (the kernel wakes a poller from the receive path) more than the pipeline does.
                std::thread::sleep(NAP);
            } else if !self.wait_readable()? {
                // Silent for a whole wait: let a batching sink hand its partial batch on.
                pause(sink);
            }
        }
        // Counters first, then the drain: what they counted is in the buffer or was dropped.
        let fin = self.stats()?;
        self.drain(sink, usize::MAX)?;
        let fin = LiveStats { delivered: self.delivered, ..fin };
        self.shared.set(fin);
        Ok(fin)
    }

    /// Reads up to `max` queued packets; returns whether the queue ran empty.
    fn drain<S: PacketSink>(&mut self, sink: &mut S, max: usize) -> Result<bool, LiveError> {
        for _ in 0..max {
            match self.cap.next_packet() {
                Ok(p) => {
                    self.delivered += 1;
                    let h = p.header;
                    let ts = Timestamp::from_secs_nanos(h.ts.tv_sec, h.ts.tv_usec * 1000);
                    sink.packet(&Packet {
                        ts,
                        linktype: self.linktype,
                        data: p.data,
                        wire_len: h.len,
                    });
                }
                // Non-blocking mode: nothing queued.
                Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => return Ok(true),
                Err(e) => return Err(self.read_err(e)),
            }
        }
        Ok(false)
    }

    /// Waits until packets are queued or [`WAIT`] passes. A blocking read would not do: with
    /// TPACKET_V3 libpcap blocks until a packet comes, however long the link stays silent.
    /// Returns whether packets are waiting.
    fn wait_readable(&self) -> Result<bool, LiveError> {
        let mut fds = [PollFd::new(self.cap.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, WAIT_MS) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(true),
            Err(e) => {
                Err(LiveError::Read { iface: self.iface.clone(), detail: format!("poll: {e}") })
            }
        }
    }
}
