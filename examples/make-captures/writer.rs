//! Minimal pcap and pcapng writers.
//!
//! Hand-written rather than taken from a crate so that every byte of the output is
//! under our control (fixed header fields, no clock, no host name), which keeps the
//! generated files byte-identical from run to run.

/// Link-layer header types (tcpdump.org/linktypes), as used in the file headers.
pub const LINKTYPE_NULL: u16 = 0;
pub const LINKTYPE_ETHERNET: u16 = 1;
pub const LINKTYPE_RAW: u16 = 101;
pub const LINKTYPE_LINUX_SLL: u16 = 113;
pub const LINKTYPE_IPV4: u16 = 228;
pub const LINKTYPE_IPV6: u16 = 229;
pub const LINKTYPE_LINUX_SLL2: u16 = 276;

const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const PCAP_VERSION: (u16, u16) = (2, 4);
/// Large enough for every frame we build: nothing is ever cut by the snap length.
const SNAPLEN: u32 = 262_144;

const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 0x0000_0001;
const PCAPNG_EPB: u32 = 0x0000_0006;
const PCAPNG_CB: u32 = 0x0000_0bad;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const OPT_ENDOFOPT: u16 = 0;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const APPLICATION: &str = "leakscope examples/make-captures";

const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MICRO: u64 = 1_000;

/// Timestamp resolution of a pcap file or a pcapng interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsResolution {
    Micros,
    Nanos,
}

impl TsResolution {
    /// Nanoseconds per tick.
    fn tick_ns(self) -> u64 {
        match self {
            TsResolution::Micros => NANOS_PER_MICRO,
            TsResolution::Nanos => 1,
        }
    }

    /// The `if_tsresol` option value: a power of ten.
    fn tsresol_exponent(self) -> u8 {
        match self {
            TsResolution::Micros => 6,
            TsResolution::Nanos => 9,
        }
    }
}

/// One captured frame, with its link-layer header already in `data`.
#[derive(Clone, Debug)]
pub struct Record {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub data: Vec<u8>,
    /// Index of the pcapng interface (always 0 for pcap).
    pub interface: u32,
}

/// A classic pcap file, little-endian.
pub fn pcap_bytes(linktype: u16, resolution: TsResolution, records: &[Record]) -> Vec<u8> {
    let magic = match resolution {
        TsResolution::Micros => PCAP_MAGIC_MICROS,
        TsResolution::Nanos => PCAP_MAGIC_NANOS,
    };
    let mut out = Vec::new();
    put_u32(&mut out, magic);
    put_u16(&mut out, PCAP_VERSION.0);
    put_u16(&mut out, PCAP_VERSION.1);
    put_u32(&mut out, 0); // thiszone: timestamps are UTC
    put_u32(&mut out, 0); // sigfigs
    put_u32(&mut out, SNAPLEN);
    put_u32(&mut out, u32::from(linktype));
    for record in records {
        out.extend_from_slice(&pcap_record_header(record, resolution, record.data.len()));
        out.extend_from_slice(&record.data);
    }
    out
}

/// The 16-byte pcap record header; `captured` may be less than the frame length.
pub fn pcap_record_header(record: &Record, resolution: TsResolution, captured: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let secs = record.ts_ns / NANOS_PER_SEC;
    let frac = (record.ts_ns % NANOS_PER_SEC) / resolution.tick_ns();
    put_u32(&mut out, u32::try_from(secs).expect("timestamp fits pcap"));
    put_u32(&mut out, u32::try_from(frac).expect("fraction < 1 s"));
    put_u32(&mut out, len32(captured));
    put_u32(&mut out, len32(record.data.len()));
    out
}

/// One pcapng interface description.
#[derive(Clone, Copy, Debug)]
pub struct Interface {
    pub linktype: u16,
    pub resolution: TsResolution,
    pub name: &'static str,
}

/// A pcapng file with one section, the given interfaces, and one Enhanced Packet
/// Block per record.
pub fn pcapng_bytes(interfaces: &[Interface], records: &[Record]) -> Vec<u8> {
    let mut out = section_header_block();
    for interface in interfaces {
        out.extend_from_slice(&interface_description_block(interface));
    }
    for record in records {
        let interface = interfaces[record.interface as usize];
        out.extend_from_slice(&enhanced_packet_block(record, interface.resolution));
    }
    out
}

fn section_header_block() -> Vec<u8> {
    let mut body = Vec::new();
    put_u32(&mut body, PCAPNG_BYTE_ORDER_MAGIC);
    put_u16(&mut body, 1); // major version
    put_u16(&mut body, 0); // minor version
    body.extend_from_slice(&(-1i64).to_le_bytes()); // section length: not given
    put_option(&mut body, OPT_SHB_USERAPPL, APPLICATION.as_bytes());
    put_option(&mut body, OPT_ENDOFOPT, &[]);
    block(PCAPNG_SHB, &body)
}

fn interface_description_block(interface: &Interface) -> Vec<u8> {
    let mut body = Vec::new();
    put_u16(&mut body, interface.linktype);
    put_u16(&mut body, 0); // reserved
    put_u32(&mut body, SNAPLEN);
    put_option(&mut body, OPT_IF_NAME, interface.name.as_bytes());
    put_option(&mut body, OPT_IF_TSRESOL, &[interface.resolution.tsresol_exponent()]);
    put_option(&mut body, OPT_ENDOFOPT, &[]);
    block(PCAPNG_IDB, &body)
}

fn enhanced_packet_block(record: &Record, resolution: TsResolution) -> Vec<u8> {
    enhanced_packet_block_with(record, resolution, &[])
}

/// Section header and interface descriptions: a pcapng file's start.
pub fn pcapng_preamble(interfaces: &[Interface]) -> Vec<u8> {
    pcapng_bytes(interfaces, &[])
}

/// A custom block (type 0xBAD) of the vendor `pen` carrying `data` (padded to 4 bytes).
pub fn custom_block(pen: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_u32(&mut body, pen);
    body.extend_from_slice(data);
    pad4(&mut body);
    block(PCAPNG_CB, &body)
}

/// An Enhanced Packet Block with options (code, value), then the end option.
pub fn enhanced_packet_block_with(
    record: &Record,
    resolution: TsResolution,
    options: &[(u16, &[u8])],
) -> Vec<u8> {
    let ticks = record.ts_ns / resolution.tick_ns();
    let mut body = Vec::new();
    put_u32(&mut body, record.interface);
    put_u32(&mut body, (ticks >> 32) as u32);
    put_u32(&mut body, ticks as u32);
    put_u32(&mut body, len32(record.data.len()));
    put_u32(&mut body, len32(record.data.len()));
    body.extend_from_slice(&record.data);
    pad4(&mut body);
    for (code, value) in options {
        put_option(&mut body, *code, value);
    }
    if !options.is_empty() {
        put_option(&mut body, OPT_ENDOFOPT, &[]);
    }
    block(PCAPNG_EPB, &body)
}

/// Wrap a block body with its type and both total-length fields.
fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
    const FRAMING: usize = 12; // type + length + trailing length
    let total = len32(body.len() + FRAMING);
    let mut out = Vec::with_capacity(body.len() + FRAMING);
    put_u32(&mut out, block_type);
    put_u32(&mut out, total);
    out.extend_from_slice(body);
    put_u32(&mut out, total);
    out
}

fn put_option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    put_u16(out, code);
    put_u16(out, u16::try_from(value.len()).expect("short option"));
    out.extend_from_slice(value);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("frame shorter than 4 GiB")
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}
