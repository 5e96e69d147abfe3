//! Byte builders for the hardening tests: a tiny pcap/pcapng writer and frame builders. Captures
//! are generated in the test, never stored.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use etherparse::PacketBuilder;

/// Source MAC of the test device.
pub const DEV_MAC: [u8; 6] = [0x3c, 0x22, 0xfb, 0x12, 0x34, 0x56];
/// MAC of the router.
pub const GW_MAC: [u8; 6] = [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e];

/// A pcap file (µs, little-endian) being built in memory.
pub struct Pcap {
    pub bytes: Vec<u8>,
    /// Byte offset of each record header.
    pub offsets: Vec<usize>,
}

impl Pcap {
    /// A pcap header with this link type and snaplen.
    pub fn new(linktype: u32, snaplen: u32) -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&snaplen.to_le_bytes());
        bytes.extend_from_slice(&linktype.to_le_bytes());
        Pcap { bytes, offsets: Vec::new() }
    }

    /// Ethernet, snaplen 262144.
    pub fn ethernet() -> Self {
        Self::new(1, 262_144)
    }

    /// Appends a record whose header states `caplen` (the data is written as given).
    pub fn record_raw(&mut self, ts_us: u64, caplen: u32, origlen: u32, data: &[u8]) -> &mut Self {
        self.offsets.push(self.bytes.len());
        self.bytes.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&caplen.to_le_bytes());
        self.bytes.extend_from_slice(&origlen.to_le_bytes());
        self.bytes.extend_from_slice(data);
        self
    }

    /// Appends a whole frame.
    pub fn record(&mut self, ts_us: u64, data: &[u8]) -> &mut Self {
        let n = data.len() as u32;
        self.record_raw(ts_us, n, n, data)
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.bytes).expect("write capture");
    }
}

/// A pcapng section with one Ethernet interface, built block by block.
pub struct Pcapng {
    pub bytes: Vec<u8>,
    pub offsets: Vec<usize>,
}

impl Pcapng {
    /// SHB + IDB (Ethernet, µs).
    pub fn ethernet() -> Self {
        let mut p = Pcapng { bytes: Vec::new(), offsets: Vec::new() };
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        p.block(0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&262_144u32.to_le_bytes());
        p.block(1, &idb);
        p
    }

    /// Appends a block of any type with a correct length.
    pub fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
        self.offsets.push(self.bytes.len());
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        self.bytes.extend_from_slice(&kind.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(body);
        self.bytes.extend(std::iter::repeat_n(0, pad));
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self
    }

    /// Appends an Enhanced Packet Block on interface 0.
    pub fn packet(&mut self, ts_us: u64, data: &[u8]) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts_us as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        self.block(6, &b)
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.bytes).expect("write capture");
    }
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    udp_macs(DEV_MAC, GW_MAC, src, dst, payload)
}

/// An Ethernet/IPv4/UDP frame with the given MACs.
pub fn udp_macs(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("build udp");
    out
}

/// TCP flags for [`tcp`].
#[derive(Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub psh: bool,
}

/// An Ethernet/IPv4/TCP frame.
pub fn tcp(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let (smac, dmac) = if src.0.is_private() { (DEV_MAC, GW_MAC) } else { (GW_MAC, DEV_MAC) };
    let mut b = PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .tcp(src.1, dst.1, seq, 65535);
    if f.syn {
        b = b.syn();
    }
    if f.ack {
        b = b.ack(ack);
    }
    if f.fin {
        b = b.fin();
    }
    if f.psh {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("build tcp");
    out
}

/// A whole TCP connection: handshake, client data segments, server data, FIN both ways.
pub fn tcp_session(
    cap: &mut Pcap,
    t0: u64,
    client: (Ipv4Addr, u16),
    server: (Ipv4Addr, u16),
    client_data: &[&[u8]],
    server_data: &[&[u8]],
) {
    let syn = Flags { syn: true, ..Default::default() };
    let synack = Flags { syn: true, ack: true, ..Default::default() };
    let ack = Flags { ack: true, ..Default::default() };
    let data = Flags { ack: true, psh: true, ..Default::default() };
    let fin = Flags { ack: true, fin: true, ..Default::default() };
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut t = t0;
    let mut step = |cap: &mut Pcap, frame: Vec<u8>| {
        t += 1000;
        cap.record(t, &frame);
    };
    step(cap, tcp(client, server, cs, 0, syn, b""));
    step(cap, tcp(server, client, ss, cs + 1, synack, b""));
    cs += 1;
    ss += 1;
    step(cap, tcp(client, server, cs, ss, ack, b""));
    for d in client_data {
        step(cap, tcp(client, server, cs, ss, data, d));
        cs += d.len() as u32;
    }
    for d in server_data {
        step(cap, tcp(server, client, ss, cs, data, d));
        ss += d.len() as u32;
    }
    step(cap, tcp(client, server, cs, ss, fin, b""));
    step(cap, tcp(server, client, ss, cs + 1, fin, b""));
    step(cap, tcp(client, server, cs + 1, ss + 1, ack, b""));
}

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_leakscope"))
}

/// Runs `leakscope replay -q --out OUT INPUTS... EXTRA...`.
pub fn replay_bin(out: &Path, inputs: &[&Path], extra: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.arg("replay").arg("-q").arg("--out").arg(out);
    c.args(inputs).args(extra);
    c.output().expect("run leakscope")
}

/// Whether CI asked for every test to run (skips become failures).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses a hex string (whitespace ignored).
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

/// Payloads (last TSV column, hex) of a fixture file under tests/fixtures.
pub fn fixture_payloads(rel: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path)
        .expect("fixture")
        .lines()
        .filter_map(|l| l.rsplit('\t').next())
        .map(unhex)
        .filter(|p| !p.is_empty())
        .collect()
}

/// A small tmpfs mounted for a disk-full test; unmounted on drop, also when the test fails.
pub struct Tmpfs {
    /// The mount point (inside `dir`, removed with it).
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `64k`), or says why not: it needs root, so outside CI
    /// the caller skips (`None`), in CI it fails.
    pub fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("mount point");
        let mounted = is_root
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&path)
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            assert!(!in_ci(), "cannot mount a tmpfs (root needed) in CI");
            eprintln!("SKIPPED {test}: cannot mount a tmpfs (not root?)");
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// A DHCPDISCOVER (BOOTP request, magic cookie, options 53, 12 host name, 55, end) from `mac`.
pub fn dhcp_discover(mac: [u8; 6], xid: u32, hostname: &[u8]) -> Vec<u8> {
    let mut m = vec![1, 1, 6, 0];
    m.extend(xid.to_be_bytes());
    m.extend([0u8; 20]); // secs, flags, ciaddr, yiaddr, siaddr, giaddr
    m.extend(mac);
    m.extend([0u8; 10 + 64 + 128]); // chaddr padding, sname, file
    m.extend([0x63, 0x82, 0x53, 0x63, 53, 1, 1, 12, hostname.len() as u8]);
    m.extend(hostname);
    m.extend([55, 4, 1, 3, 6, 15, 255]);
    m
}

/// An Ethernet frame of a DHCPDISCOVER on the shared 0.0.0.0:68 → 255.255.255.255:67 flow.
pub fn dhcp_discover_frame(mac: [u8; 6], xid: u32, hostname: &[u8]) -> Vec<u8> {
    udp_macs(
        mac,
        [0xff; 6],
        (Ipv4Addr::UNSPECIFIED, 68),
        (Ipv4Addr::BROADCAST, 67),
        &dhcp_discover(mac, xid, hostname),
    )
}

/// The JSON lines of `out/events.jsonl` of this kind.
pub fn events_of_kind(out: &Path, kind: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("events.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == kind)
        .collect()
}

/// A DNS response for `name` (type A): one answer when `addr` is given, else NXDOMAIN.
pub fn dns_response(id: u16, name: &str, addr: Option<Ipv4Addr>) -> Vec<u8> {
    let rcode = if addr.is_some() { 0 } else { 3 };
    let mut m = id.to_be_bytes().to_vec();
    m.extend([0x81, 0x80 | rcode, 0, 1, 0, u8::from(addr.is_some()), 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend(label.as_bytes());
    }
    m.extend([0, 0, 1, 0, 1]);
    if let Some(a) = addr {
        m.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        m.extend(a.octets());
    }
    m
}
