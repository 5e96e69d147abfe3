//! Captures as PCAPdroid writes them on the phone: the sample's traffic without its Wi-Fi layer
//! (no DHCP, no MACs: the phone's VPN tunnel carries bare IP), in both of PCAPdroid's link types.
//!
//! With "PCAPdroid trailer" on, every frame is a fake Ethernet header (both MACs zero), the IP
//! packet, 0–3 zero bytes so the next record stays 4-byte aligned, and 32 bytes: magic
//! 0x01072021, the app's uid, its name (20 bytes, NUL-padded) and a CRC-32 of the frame (all
//! big-endian), as in PCAPdroid's `pcap_dump.c`. Without it, link type RAW (101).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::Generated;
use crate::hotspot;
use crate::packets::{self, IpPacket};
use crate::writer::{self, Interface, Record, TsResolution};

const MAGIC: u32 = 0x0107_2021;
const APPNAME_LEN: usize = 20;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// (uid, name) as PCAPdroid writes them; uid -1 with no name is its "unknown".
pub const WHATSAPP: (i32, &str) = (10_123, "com.whatsapp");
pub const FACEBOOK: (i32, &str) = (10_145, "com.facebook.katana");
pub const FIREFOX: (i32, &str) = (10_160, "org.mozilla.firefox");
pub const UNKNOWN: (i32, &str) = (-1, "");

/// PCAPdroid's VPN tunnel: the phone's address in it, and the virtual DNS server it answers on.
pub const TUNNEL: Ipv4Addr = Ipv4Addr::new(10, 215, 173, 1);
pub const TUNNEL_DNS: Ipv4Addr = Ipv4Addr::new(10, 215, 173, 2);

/// Which app each packet of the sample belongs to, by its remote end: the graph API is the
/// Facebook app's, example.org the browser's, the rest WhatsApp's. The DNS lookups go to the app
/// that made them (client ports 41001.. in the sample's lookup order).
fn app_of(p: &IpPacket) -> (i32, &'static str) {
    let phone = IpAddr::V4(TUNNEL);
    let (local, remote) = if p.tuple.src.ip() == phone {
        (p.tuple.src, p.tuple.dst)
    } else {
        (p.tuple.dst, p.tuple.src)
    };
    if remote.port() == 53 {
        return match local.port() {
            41_003 => FACEBOOK,
            41_005 => FIREFOX,
            41_001..=41_004 => WHATSAPP,
            _ => UNKNOWN,
        };
    }
    match remote.ip() {
        IpAddr::V4(a) if a == Ipv4Addr::new(31, 13, 71, 7) => FACEBOOK,
        IpAddr::V4(a) if a == Ipv4Addr::new(192, 0, 2, 80) => FIREFOX,
        IpAddr::V4(a) if a.octets()[0] == 157 || a.octets()[0] == 31 => WHATSAPP,
        _ => UNKNOWN,
    }
}

/// Seconds of the sample kept (the call's first seconds; the chat connection is kept whole):
/// four files of the whole sample would add 8 MB to the repository.
const KEEP_SECS: u64 = 24;

/// The sample's packets as the phone's tunnel sees them: no DHCP; the first [`KEEP_SECS`] and
/// the whole chat connection; the phone at its tunnel address, DNS to the tunnel's resolver.
pub fn packets(start_ns: u64) -> Vec<IpPacket> {
    let end = start_ns + KEEP_SECS * 1_000_000_000;
    hotspot::packets(start_ns)
        .into_iter()
        .filter(|p| ![67, 68].contains(&p.tuple.dst.port()))
        .filter(|p| p.ts_ns < end || [p.tuple.src.port(), p.tuple.dst.port()].contains(&5222))
        .map(|p| readdress(&p))
        .collect()
}

fn tunnel_address(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip == hotspot::PHONE => SocketAddr::new(TUNNEL.into(), a.port()),
        IpAddr::V4(ip) if ip == hotspot::GATEWAY => SocketAddr::new(TUNNEL_DNS.into(), a.port()),
        _ => a,
    }
}

/// The IPv4 packet with the hotspot's addresses replaced by the tunnel's, checksums redone
/// (IP header, and TCP/UDP over the new pseudo-header). No payload names these addresses.
fn readdress(p: &IpPacket) -> IpPacket {
    let (src, dst) = (tunnel_address(p.tuple.src), tunnel_address(p.tuple.dst));
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else { return p.clone() };
    let mut b = p.bytes.clone();
    let ihl = usize::from(b[0] & 0x0f) * 4;
    b[12..16].copy_from_slice(&s.octets());
    b[16..20].copy_from_slice(&d.octets());
    b[10..12].fill(0);
    let sum = packets::internet_checksum(&b[..ihl]);
    b[10..12].copy_from_slice(&sum.to_be_bytes());
    let proto = b[9];
    let at = match proto {
        6 => 16,
        17 => 6,
        _ => {
            return IpPacket {
                bytes: b,
                tuple: packets::Tuple { src, dst, ..p.tuple },
                ..p.clone()
            };
        }
    };
    b[ihl + at..ihl + at + 2].fill(0);
    let l4_len = u16::try_from(b.len() - ihl).expect("short packet");
    let mut pseudo = [s.octets(), d.octets()].concat();
    pseudo.extend([0, proto]);
    pseudo.extend(l4_len.to_be_bytes());
    pseudo.extend_from_slice(&b[ihl..]);
    let sum = match packets::internet_checksum(&pseudo) {
        0 if proto == 17 => 0xffff,
        x => x,
    };
    b[ihl + at..ihl + at + 2].copy_from_slice(&sum.to_be_bytes());
    IpPacket { bytes: b, tuple: packets::Tuple { src, dst, ..p.tuple }, ..p.clone() }
}

/// A frame with PCAPdroid's fake Ethernet header, alignment padding and trailer.
pub fn trailer_frame(ip: &[u8], (uid, name): (i32, &str)) -> Vec<u8> {
    let mut out = vec![0u8; 12];
    let ethertype = if ip[0] >> 4 == 6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(ip);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&uid.to_be_bytes());
    let mut field = [0u8; APPNAME_LEN];
    let n = name.len().min(APPNAME_LEN);
    field[..n].copy_from_slice(&name.as_bytes()[..n]);
    out.extend_from_slice(&field);
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

fn records(packets: &[IpPacket], trailer: bool) -> Vec<Record> {
    packets
        .iter()
        .map(|p| Record {
            ts_ns: p.ts_ns,
            data: if trailer { trailer_frame(&p.bytes, app_of(p)) } else { p.bytes.clone() },
            interface: 0,
        })
        .collect()
}

const ABOUT: &str = "The sample's traffic as PCAPdroid records it on the phone itself (no \
    hotspot), its first 24 s and the whole chat connection: no DHCP and no MACs (a VPN tunnel carries bare IP); the phone at PCAPdroid's tunnel address 10.215.173.1, DNS to its resolver 10.215.173.2. Apps by trailer: WhatsApp \
    (uid 10123, `com.whatsapp`) for chat, media, static, HTTP and the call; the Facebook app \
    (10145, `com.facebook.katana`) for graph.facebook.com; Firefox (10160, \
    `org.mozilla.firefox`) for www.example.org; each DNS lookup by the app that made it.";

/// PCAPdroid's IANA Private Enterprise Number, on its pcapng custom blocks.
const PEN: u32 = 62_652;
/// pcapng `opt_comment`: PCAPdroid writes `u-UID` on every packet.
const OPT_COMMENT: u16 = 1;

/// The app's label as Android shows it, beside its package name in PCAPdroid's uid map block.
fn label(uid: i32) -> &'static str {
    match uid {
        10_123 => "WhatsApp",
        10_145 => "Facebook",
        10_160 => "Firefox",
        _ => "",
    }
}

/// PCAPdroid's uid map block data (after the PEN), little-endian as a phone writes it: version
/// 1, type 1 (uid mapping), a pad byte, uid, package and label lengths, package, label.
fn uid_map(uid: i32, package: &str) -> Vec<u8> {
    let app = label(uid);
    let mut d = 1u16.to_le_bytes().to_vec();
    d.extend([1, 0]);
    d.extend(uid.to_le_bytes());
    d.push(u8::try_from(package.len()).expect("short name"));
    d.push(u8::try_from(app.len()).expect("short name"));
    d.extend(package.as_bytes());
    d.extend(app.as_bytes());
    d
}

/// PCAPdroid's own pcapng with its "trailer" option on (`pcap_dump.c`): raw IP, a uid map
/// custom block before each uid's first packet, and a `u-UID` comment on every packet (`u--1`
/// when the app is unknown, which no block maps).
fn pcapdroid_pcapng(packets: &[IpPacket]) -> Vec<u8> {
    let iface = Interface {
        linktype: writer::LINKTYPE_RAW,
        resolution: TsResolution::Micros,
        name: "tun0",
    };
    let mut out = writer::pcapng_preamble(&[iface]);
    let mut mapped: Vec<i32> = Vec::new();
    for p in packets {
        let (uid, package) = app_of(p);
        if uid != UNKNOWN.0 && !mapped.contains(&uid) {
            mapped.push(uid);
            out.extend(writer::custom_block(PEN, &uid_map(uid, package)));
        }
        let rec = Record { ts_ns: p.ts_ns, data: p.bytes.clone(), interface: 0 };
        let comment = format!("u-{uid}");
        let opts = [(OPT_COMMENT, comment.as_bytes())];
        out.extend(writer::enhanced_packet_block_with(&rec, TsResolution::Micros, &opts));
    }
    out
}

/// The five files: {pcap, pcapng} × {raw IP, Ethernet with trailer}, and PCAPdroid's own pcapng
/// (apps in custom blocks and packet comments).
pub fn all(start_ns: u64) -> Vec<Generated> {
    let packets = packets(start_ns);
    let tuples: Vec<_> = packets.iter().map(|p| p.tuple).collect();
    let mut out = Vec::new();
    for (trailer, linktype, what) in [
        (false, writer::LINKTYPE_RAW, "raw IP (101), no trailer"),
        (true, writer::LINKTYPE_ETHERNET, "Ethernet (1) with the PCAPdroid trailer"),
    ] {
        let name = if trailer { "trailer" } else { "raw" };
        let recs = records(&packets, trailer);
        out.push(Generated {
            path: format!("pcapdroid/phone-{name}.pcap"),
            about: format!("{ABOUT} pcap, {what}."),
            bytes: writer::pcap_bytes(linktype, TsResolution::Micros, &recs),
            tuples: tuples.clone(),
        });
        let iface = Interface { linktype, resolution: TsResolution::Micros, name: "tun0" };
        out.push(Generated {
            path: format!("pcapdroid/phone-{name}.pcapng"),
            about: format!("{ABOUT} pcapng, {what}."),
            bytes: writer::pcapng_bytes(&[iface], &recs),
            tuples: tuples.clone(),
        });
    }
    out.push(Generated {
        path: "pcapdroid/phone-apps.pcapng".into(),
        about: format!(
            "{ABOUT} pcapng as PCAPdroid writes it with its trailer option on: raw IP (101), \
             a uid map custom block (PEN 62652) before each app's first packet, a `u-UID` \
             comment on every packet."
        ),
        bytes: pcapdroid_pcapng(&packets),
        tuples,
    });
    out
}
