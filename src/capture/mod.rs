//! Packet sources. A source pushes [`Packet`]s into a [`PacketSink`]; live capture and replay differ
//! only here, so everything downstream sees the same stream of timestamped frames.

pub mod file;
pub mod filter;
pub mod iface;
pub mod limit;
pub mod live;
pub mod mapped;
pub mod paths;
pub mod pcapdroid;
pub mod pcapdroid_udp;
pub mod prefetch;
pub mod shared;

use std::fmt;

/// Packet time: nanoseconds since the Unix epoch, taken from the capture record, never the wall
/// clock, so that a replay is deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds and nanoseconds.
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }
    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }
    /// Seconds since the epoch as a float (µs precision is kept up to year 2255).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Time elapsed from `earlier` to `self` in nanoseconds (0 if the clock went backwards).
    pub fn since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).max(0)
    }
}

/// A libpcap link-layer header type (`LINKTYPE_*`). Unknown values stay representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in the writer's byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II, possibly with 802.1Q/802.1ad tags.
    pub const ETHERNET: Self = Self(1);
    /// Raw IP on some BSDs (DLT_RAW = 12).
    pub const RAW_BSD12: Self = Self(12);
    /// Raw IP on OpenBSD (DLT_RAW = 14).
    pub const RAW_BSD14: Self = Self(14);
    /// Raw IPv4 or IPv6 (LINKTYPE_RAW).
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: like NULL but the family is big-endian.
    pub const LOOP: Self = Self(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4 only.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6 only.
    pub const IPV6: Self = Self(229);
    /// Linux cooked capture v2 (the `any` device).
    pub const LINUX_SLL2: Self = Self(276);

    /// The libpcap name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::NULL => "NULL (BSD loopback)",
            Self::ETHERNET => "EN10MB (Ethernet)",
            Self::RAW_BSD12 | Self::RAW_BSD14 | Self::RAW => "RAW (raw IP)",
            Self::LOOP => "LOOP (OpenBSD loopback)",
            Self::LINUX_SLL => "LINUX_SLL (Linux cooked v1)",
            Self::IPV4 => "IPV4 (raw IPv4)",
            Self::IPV6 => "IPV6 (raw IPv6)",
            Self::LINUX_SLL2 => "LINUX_SLL2 (Linux cooked v2)",
            _ => "unknown",
        }
    }

    /// Whether the decoder understands this link type.
    pub fn is_supported(self) -> bool {
        self.name() != "unknown"
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

/// One captured frame, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link type of the interface that captured it.
    pub linktype: LinkType,
    /// Captured bytes (may be shorter than `wire_len` when a snaplen cut the frame).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub wire_len: u32,
}

/// Bytes a reader lends to a sink that keeps packets for later ([`PacketSink::lent_packet`]):
/// a read buffer or a mapped window of the file.
#[derive(Clone)]
pub enum Lent {
    /// A buffer the file was read into ([`shared::SharedReader`]).
    Read(std::sync::Arc<Vec<u8>>),
    /// A window of the mapped file ([`mapped::MappedReader`]).
    Mapped(std::sync::Arc<mapped::Window>),
}

impl Lent {
    /// The lent bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Lent::Read(v) => v,
            Lent::Mapped(w) => (**w).as_ref(),
        }
    }

    /// Whether `self` and `other` are the same buffer.
    #[inline]
    pub fn same(&self, other: &Lent) -> bool {
        match (self, other) {
            (Lent::Read(a), Lent::Read(b)) => std::sync::Arc::ptr_eq(a, b),
            (Lent::Mapped(a), Lent::Mapped(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Where a source pushes its packets: the pipeline.
pub trait PacketSink {
    /// Handles one packet. Must never panic on any bytes.
    fn packet(&mut self, pkt: &Packet<'_>);
    /// Handles one packet whose Android app the source names (PCAPdroid's own pcapng: a uid
    /// comment on the packet, mapped by a custom block). A sink that does not follow apps takes
    /// it as any packet.
    fn app_packet(&mut self, pkt: &Packet<'_>, app: &std::sync::Arc<pcapdroid::AndroidApp>) {
        let _ = app;
        self.packet(pkt);
    }
    /// Handles one packet whose bytes lie in `buffer`, which the reader leaves unchanged while
    /// anyone holds it: a sink that keeps packets for later (`replay --threads`) can hold the
    /// buffer instead of copying the bytes. Others take it as any packet.
    fn lent_packet(&mut self, pkt: &Packet<'_>, buffer: &Lent) {
        let _ = buffer;
        self.packet(pkt);
    }
    /// Whether the sink wants no more packets (`-c`, `--duration`): a file reader stops there.
    fn done(&self) -> bool {
        false
    }
    /// Whether the sink runs threads of its own beside the reader's (`replay --threads`): a
    /// file reader then maps larger windows ([`mapped::MappedReader::new`]).
    fn threaded(&self) -> bool {
        false
    }
}
