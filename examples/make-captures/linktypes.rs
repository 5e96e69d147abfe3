//! The per-file assembly: which packets go into which file, with which link layer
//! and container format. Also the deliberately broken inputs.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::Generated;
use crate::hotspot;
use crate::packets::{self, Dir, IpPacket, NANOS_PER_MILLI, NANOS_PER_SEC, Rng, TcpConn};
use crate::tls;
use crate::writer::{self, Interface, Record, TsResolution};
use crate::{START_NS, apps};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x10, 0x01];
const SERVER_SIDE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x10, 0xfe];
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);
const SERVER_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x20);
const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x10);
const RTT_NS: u64 = 20 * NANOS_PER_MILLI;

const AF_INET: u32 = 2;
/// AF_INET6 differs per BSD: NetBSD/OpenBSD 24, FreeBSD/DragonFly 28, macOS 30.
const AF_INET6_NETBSD: u32 = 24;
const AF_INET6_FREEBSD: u32 = 28;
const AF_INET6_DARWIN: u32 = 30;
const SLL2_IF_INDEX: u32 = 3;
/// Jumbo-ish UDP datagram that must be fragmented on a 1500-byte MTU.
const FRAGMENTED_DATAGRAM_LEN: usize = 3_000;
const IPV4_FRAGMENT_PAYLOAD: usize = 1_480;
const IPV6_FRAGMENT_PAYLOAD: usize = 1_448;
/// An unassigned port, so dissectors show the fragmented datagrams as plain data
/// (4500, say, would be taken for IPsec NAT traversal).
const UDP_BULK_PORT: u16 = 40_500;

fn sock(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// `base` seconds after the common start.
fn at_secs(base: u64) -> u64 {
    START_NS + base * NANOS_PER_SEC
}

fn records(packets: &[IpPacket], frame: impl Fn(&IpPacket) -> Vec<u8>) -> Vec<Record> {
    packets.iter().map(|p| Record { ts_ns: p.ts_ns, data: frame(p), interface: 0 }).collect()
}

fn tuples(packets: &[IpPacket]) -> Vec<packets::Tuple> {
    packets.iter().map(|p| p.tuple).collect()
}

fn sort(mut packets: Vec<IpPacket>) -> Vec<IpPacket> {
    packets.sort_by_key(|p| p.ts_ns);
    packets
}

/// A DNS lookup over UDP (1 packet each way).
fn dns_exchange(t: u64, client: SocketAddr, server: SocketAddr, id: u16, out: &mut Vec<IpPacket>) {
    const ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 44);
    out.push(packets::udp(t, client, server, &apps::dns_query(id, "www.example.com")));
    let response = apps::dns_response(id, "www.example.com", 300, &[apps::Answer::A(ANSWER)]);
    out.push(packets::udp(t + RTT_NS, server, client, &response));
}

/// A short TCP connection: handshake, one request, one response, close.
/// 6 packets client→server, 4 server→client.
fn tcp_exchange(
    t: u64,
    client: SocketAddr,
    server: SocketAddr,
    rng: &mut Rng,
    out: &mut Vec<IpPacket>,
) {
    let mut conn = TcpConn::new(client, server, RTT_NS, rng);
    let mut now = conn.open(t, out);
    // TLS application-data records, so port 443 carries what a dissector expects.
    now = conn.send(now, Dir::ToServer, &tls::application_data(195, rng), out);
    now = conn.send(now, Dir::ToClient, &tls::application_data(895, rng), out);
    conn.close(now + 10 * NANOS_PER_MILLI, Dir::ToServer, out);
}

/// IPv4: DNS on UDP 53 and a TCP 443 exchange; IPv6: the same pair.
fn small_flows(seed: u64, t: u64, v4: bool, v6: bool) -> Vec<IpPacket> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    if v4 {
        dns_exchange(t, sock(CLIENT_V4, 50_001), sock(SERVER_V4, 53), 0x0401, &mut out);
        tcp_exchange(
            t + 100 * NANOS_PER_MILLI,
            sock(CLIENT_V4, 50_002),
            sock(SERVER_V4, 443),
            &mut rng,
            &mut out,
        );
    }
    if v6 {
        dns_exchange(
            t + 300 * NANOS_PER_MILLI,
            sock(CLIENT_V6, 50_003),
            sock(SERVER_V6, 53),
            0x0601,
            &mut out,
        );
        tcp_exchange(
            t + 400 * NANOS_PER_MILLI,
            sock(CLIENT_V6, 50_004),
            sock(SERVER_V6, 443),
            &mut rng,
            &mut out,
        );
    }
    sort(out)
}

fn from_client(p: &IpPacket) -> bool {
    matches!(p.tuple.src.ip(), ip if ip == IpAddr::V4(CLIENT_V4) || ip == IpAddr::V6(CLIENT_V6))
}

fn plain_ethernet(p: &IpPacket) -> Vec<u8> {
    let (src, dst) =
        if from_client(p) { (CLIENT_MAC, SERVER_SIDE_MAC) } else { (SERVER_SIDE_MAC, CLIENT_MAC) };
    packets::ethernet(src, dst, &[], false, &p.bytes)
}

fn pcap_file(
    path: &str,
    about: &str,
    linktype: u16,
    packets: &[IpPacket],
    frame: impl Fn(&IpPacket) -> Vec<u8>,
) -> Generated {
    Generated {
        path: path.to_string(),
        about: about.to_string(),
        bytes: writer::pcap_bytes(linktype, TsResolution::Micros, &records(packets, frame)),
        tuples: tuples(packets),
    }
}

pub fn sample_hotspot() -> Generated {
    let packets = hotspot::packets(START_NS);
    pcap_file(
        "sample-hotspot.pcap",
        "The README's demo (Ethernet, µs pcap, 10:00:00 to 10:04:52 UTC). An Android phone (MAC \
         02:00:00:00:00:01, host name `pixel-7`) joins a NetworkManager hotspot: DHCP \
         DISCOVER/OFFER/REQUEST/ACK with 10.42.0.1 (vendor class `android-dhcp-14`, \
         parameter request list); DNS for g.whatsapp.net, mmg.whatsapp.net (CNAME), \
         graph.facebook.com (CNAME), static.whatsapp.net, www.example.org; WhatsApp \
         chat on TCP 5222 (prologue `57 41 06 03`, keepalives every 45 s, three \
         bursts, client FIN 290 s after the SYN); TLS 1.3 ClientHellos (SNI, \
         ALPN h2, GREASE, key_share, supported_versions) to mmg.whatsapp.net (400 kB \
         download then 150 kB upload), graph.facebook.com and www.example.org; a QUIC \
         v1 Initial to static.whatsapp.net protected per RFC 9001 (tshark decrypts it \
         and shows the SNI); an HTTP/1.1 GET to mmg.whatsapp.net with a WhatsApp \
         User-Agent and a Cookie; a WhatsApp call: STUN binding requests (attributes \
         0x4000, 0x4003) and XOR-MAPPED-ADDRESS responses, relay messages of type \
         0x0801 (tshark 4.0 does not know this STUN method and shows them as plain \
         UDP data), then 60 s of RTP (PT 120, 50 packets/s each way) on the same \
         5-tuple to 157.240.229.62:3478.",
        writer::LINKTYPE_ETHERNET,
        &packets,
        hotspot::ethernet_frame,
    )
}

/// Every file but the sample itself; `sample` is the sample's pcap bytes, gzipped
/// into `sample-hotspot.pcap.gz`.
pub fn all(sample: &[u8]) -> std::io::Result<Vec<Generated>> {
    let mut files = vec![gzip_sample(sample)?];
    files.push(ethernet_vlan());
    files.push(linux_sll());
    files.push(linux_sll2());
    files.extend(raw_ip());
    files.push(null_loopback());
    files.push(nanosecond());
    files.push(mixed_linktypes());
    files.push(ipv6_ext_headers());
    files.push(ipv4_fragments());
    files.push(tcp_port_reuse());
    files.extend(broken());
    Ok(files)
}

fn gzip_sample(sample: &[u8]) -> std::io::Result<Generated> {
    // flate2 writes a zero mtime and no file name unless told: deterministic.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(sample)?;
    Ok(Generated {
        path: "linktypes/sample-hotspot.pcap.gz".into(),
        about: "`sample-hotspot.pcap`, gzip-compressed: readers should accept gzipped captures. Same flows.".into(),
        bytes: gz.finish()?,
        tuples: tuples(&hotspot::packets(START_NS)),
    })
}

fn ethernet_vlan() -> Generated {
    const VLAN_DNS: u16 = 10;
    const QINQ_OUTER: u16 = 100;
    const QINQ_INNER: u16 = 20;
    const VLAN_V6: u16 = 30;
    let packets = small_flows(0x7a11, at_secs(0), true, true);
    pcap_file(
        "linktypes/ethernet-vlan.pcap",
        "Ethernet with tags: IPv4 DNS on 802.1Q VLAN 10; IPv4 TCP double-tagged \
         (802.1ad S-tag 0x88a8 VLAN 100, then 802.1Q VLAN 20); IPv6 flows on 802.1Q VLAN 30.",
        writer::LINKTYPE_ETHERNET,
        &packets,
        |p| {
            let (src, dst) = if from_client(p) {
                (CLIENT_MAC, SERVER_SIDE_MAC)
            } else {
                (SERVER_SIDE_MAC, CLIENT_MAC)
            };
            match (p.tuple.src.is_ipv6(), p.tuple.proto) {
                (true, _) => packets::ethernet(src, dst, &[VLAN_V6], false, &p.bytes),
                (false, packets::Proto::Udp) => {
                    packets::ethernet(src, dst, &[VLAN_DNS], false, &p.bytes)
                }
                (false, packets::Proto::Tcp) => {
                    packets::ethernet(src, dst, &[QINQ_OUTER, QINQ_INNER], true, &p.bytes)
                }
            }
        },
    )
}

fn sll_packet_type(p: &IpPacket) -> u16 {
    // Captured on the client: its own packets are "outgoing".
    if from_client(p) { packets::SLL_OUTGOING } else { packets::SLL_HOST }
}

fn sll_source_mac(p: &IpPacket) -> [u8; 6] {
    if from_client(p) { CLIENT_MAC } else { SERVER_SIDE_MAC }
}

fn linux_sll() -> Generated {
    let packets = small_flows(0x5111, at_secs(0), true, true);
    pcap_file(
        "linktypes/linux-sll.pcap",
        "Linux cooked capture v1 (LINKTYPE_LINUX_SLL 113, as `tcpdump -i any` wrote \
         before libpcap 1.10): IPv4 and IPv6, packet type 4 (outgoing) for the client's \
         packets and 0 (to us) for the replies.",
        writer::LINKTYPE_LINUX_SLL,
        &packets,
        |p| packets::linux_sll(sll_packet_type(p), sll_source_mac(p), &p.bytes),
    )
}

fn linux_sll2() -> Generated {
    let packets = small_flows(0x5112, at_secs(0), true, true);
    let interfaces = [Interface {
        linktype: writer::LINKTYPE_LINUX_SLL2,
        resolution: TsResolution::Micros,
        name: "any",
    }];
    let records = records(&packets, |p| {
        packets::linux_sll2(sll_packet_type(p) as u8, SLL2_IF_INDEX, sll_source_mac(p), &p.bytes)
    });
    Generated {
        path: "linktypes/linux-sll2.pcapng".into(),
        about: "pcapng, one interface of LINKTYPE_LINUX_SLL2 (276, `tcpdump -i any` since \
                libpcap 1.10), interface index 3: IPv4 and IPv6."
            .into(),
        bytes: writer::pcapng_bytes(&interfaces, &records),
        tuples: tuples(&packets),
    }
}

fn raw_ip() -> Vec<Generated> {
    let both = small_flows(0x4a01, at_secs(0), true, true);
    let v4 = small_flows(0x4a02, at_secs(0), true, false);
    let v6 = small_flows(0x4a03, at_secs(0), false, true);
    vec![
        pcap_file(
            "linktypes/raw-ip.pcap",
            "LINKTYPE_RAW (101): bare IP packets, IPv4 and IPv6 mixed (version nibble decides).",
            writer::LINKTYPE_RAW,
            &both,
            |p| p.bytes.clone(),
        ),
        pcap_file(
            "linktypes/raw-ipv4.pcap",
            "LINKTYPE_IPV4 (228): bare IPv4 packets only.",
            writer::LINKTYPE_IPV4,
            &v4,
            |p| p.bytes.clone(),
        ),
        pcap_file(
            "linktypes/raw-ipv6.pcap",
            "LINKTYPE_IPV6 (229): bare IPv6 packets only.",
            writer::LINKTYPE_IPV6,
            &v6,
            |p| p.bytes.clone(),
        ),
    ]
}

/// BSD loopback: IPv4 with AF_INET, and one IPv6 flow for each BSD's AF_INET6.
fn null_loopback() -> Generated {
    let lo4 = Ipv4Addr::LOCALHOST;
    let lo6 = Ipv6Addr::LOCALHOST;
    let mut rng = Rng::new(0x100b);
    let mut tagged: Vec<(u32, IpPacket)> = Vec::new();
    let mut add = |family: u32, packets: Vec<IpPacket>| {
        tagged.extend(packets.into_iter().map(|p| (family, p)))
    };

    let mut v4 = Vec::new();
    tcp_exchange(at_secs(0), sock(lo4, 50_010), sock(lo4, 8080), &mut rng, &mut v4);
    add(AF_INET, v4);
    for (i, family) in [AF_INET6_NETBSD, AF_INET6_FREEBSD, AF_INET6_DARWIN].into_iter().enumerate()
    {
        let mut v6 = Vec::new();
        let t = at_secs(1) + i as u64 * 100 * NANOS_PER_MILLI;
        dns_exchange(t, sock(lo6, 50_020 + i as u16), sock(lo6, 5353), 0x0b00 + i as u16, &mut v6);
        add(family, v6);
    }
    tagged.sort_by_key(|(_, p)| p.ts_ns);
    let records: Vec<Record> = tagged
        .iter()
        .map(|(family, p)| Record {
            ts_ns: p.ts_ns,
            data: packets::null_loopback(*family, &p.bytes),
            interface: 0,
        })
        .collect();
    let packets: Vec<IpPacket> = tagged.into_iter().map(|(_, p)| p).collect();
    Generated {
        path: "linktypes/null-loopback.pcap".into(),
        about: "LINKTYPE_NULL (0), BSD loopback: a 4-byte address family in the capturing \
                host's byte order (little-endian here) before each packet. A TCP flow with \
                AF_INET (2), then three UDP flows to ::1 port 5353 with AF_INET6 = 24 \
                (NetBSD/OpenBSD, from port 50020), 28 (FreeBSD, 50021) and 30 (macOS, 50022)."
            .into(),
        bytes: writer::pcap_bytes(writer::LINKTYPE_NULL, TsResolution::Micros, &records),
        tuples: tuples(&packets),
    }
}

fn nanosecond() -> Generated {
    let mut packets = small_flows(0x9a90, at_secs(0), true, false);
    // Sub-microsecond parts that a µs reader would lose: 0.000000123 s, +7 ns each.
    for (i, p) in packets.iter_mut().enumerate() {
        p.ts_ns += 123 + 7 * i as u64;
    }
    let records = records(&packets, plain_ethernet);
    Generated {
        path: "linktypes/nanosecond.pcap".into(),
        about: "Ethernet pcap with the nanosecond magic (0xa1b23c4d); the first packet is \
                at 2026-01-01T10:00:00.000000123Z and every timestamp has a non-zero \
                sub-microsecond part."
            .into(),
        bytes: writer::pcap_bytes(writer::LINKTYPE_ETHERNET, TsResolution::Nanos, &records),
        tuples: tuples(&packets),
    }
}

fn mixed_linktypes() -> Generated {
    const ETH: u32 = 0;
    const TUN: u32 = 1;
    let interfaces = [
        Interface {
            linktype: writer::LINKTYPE_ETHERNET,
            resolution: TsResolution::Micros,
            name: "eth0",
        },
        Interface { linktype: writer::LINKTYPE_RAW, resolution: TsResolution::Nanos, name: "tun0" },
    ];
    let eth = small_flows(0x3170, at_secs(0), true, false);
    // The tunnel's flows start 50 ms later, so both interfaces interleave.
    let tun = small_flows(0x3171, at_secs(0) + 50 * NANOS_PER_MILLI + 1, false, true);
    let mut tagged: Vec<(u32, IpPacket)> =
        eth.into_iter().map(|p| (ETH, p)).chain(tun.into_iter().map(|p| (TUN, p))).collect();
    tagged.sort_by_key(|(_, p)| p.ts_ns);
    let records: Vec<Record> = tagged
        .iter()
        .map(|(iface, p)| Record {
            ts_ns: p.ts_ns,
            data: if *iface == ETH { plain_ethernet(p) } else { p.bytes.clone() },
            interface: *iface,
        })
        .collect();
    let packets: Vec<IpPacket> = tagged.into_iter().map(|(_, p)| p).collect();
    Generated {
        path: "linktypes/mixed-linktypes.pcapng".into(),
        about: "pcapng with two interfaces: 0 `eth0` Ethernet with if_tsresol 6 (µs) carries \
                the IPv4 flows, 1 `tun0` raw IP (101) with if_tsresol 9 (ns) carries the \
                IPv6 flows; packets of both interleave."
            .into(),
        bytes: writer::pcapng_bytes(&interfaces, &records),
        tuples: tuples(&packets),
    }
}

/// PadN option filling a Hop-by-Hop or Destination Options header to 8 bytes.
fn padn_options() -> Vec<u8> {
    const PADN: u8 = 1;
    vec![PADN, 2, 0, 0, 0, 0]
}

/// Router Alert (MLD-style, value 0) plus PadN: a realistic Hop-by-Hop header.
fn router_alert_options() -> Vec<u8> {
    const ROUTER_ALERT: u8 = 5;
    vec![ROUTER_ALERT, 2, 0, 0, 1, 0]
}

fn ipv6_ext_headers() -> Generated {
    let mut rng = Rng::new(0x6e87);
    let mut out = Vec::new();
    let t = at_secs(0);

    // Flow 1: UDP query with Hop-by-Hop + Destination Options, plain reply.
    let mut dns = Vec::new();
    dns_exchange(t, sock(CLIENT_V6, 50_030), sock(SERVER_V6, 53), 0x6e01, &mut dns);
    let query = packets::ipv6_with_extensions(
        &dns[0],
        &[
            (packets::IPPROTO_HOPOPTS, router_alert_options()),
            (packets::IPPROTO_DSTOPTS, padn_options()),
        ],
    );
    out.push(query);
    out.push(dns[1].clone());

    // Flow 2: TCP with a Destination Options header on every packet.
    let mut tcp = Vec::new();
    tcp_exchange(
        t + 100 * NANOS_PER_MILLI,
        sock(CLIENT_V6, 50_031),
        sock(SERVER_V6, 443),
        &mut rng,
        &mut tcp,
    );
    out.extend(
        tcp.iter().map(|p| {
            packets::ipv6_with_extensions(p, &[(packets::IPPROTO_DSTOPTS, padn_options())])
        }),
    );

    // Flow 3: a 3000-byte UDP datagram in three Fragment-header fragments, plain reply.
    let client = sock(CLIENT_V6, 50_032);
    let server = sock(SERVER_V6, UDP_BULK_PORT);
    let big = packets::udp(
        t + 400 * NANOS_PER_MILLI,
        client,
        server,
        &rng.bytes(FRAGMENTED_DATAGRAM_LEN),
    );
    for (i, mut fragment) in
        packets::ipv6_fragments(&big, IPV6_FRAGMENT_PAYLOAD, 0x6e6e_0001).into_iter().enumerate()
    {
        fragment.ts_ns += i as u64 * 10_000;
        out.push(fragment);
    }
    out.push(packets::udp(t + 400 * NANOS_PER_MILLI + RTT_NS, server, client, &rng.bytes(40)));

    let packets = sort(out);
    pcap_file(
        "linktypes/ipv6-ext-headers.pcap",
        "Ethernet, IPv6 only. UDP from port 50030 whose query carries Hop-by-Hop \
         (Router Alert) and Destination Options (PadN) headers; TCP from port 50031 with a \
         Destination Options header on every packet; a 3000-byte UDP datagram from port \
         50032 to 40500 in three fragments (Fragment header, id 0x6e6e0001, in order), \
         answered by one unfragmented datagram. Each fragment counts as one packet below.",
        writer::LINKTYPE_ETHERNET,
        &packets,
        plain_ethernet,
    )
}

fn ipv4_fragments() -> Generated {
    // Arrival order of the three fragments: last piece first, then the first (the
    // one with the UDP header), then the middle one.
    const ARRIVAL_ORDER: [usize; 3] = [2, 0, 1];
    let mut rng = Rng::new(0xf4a9);
    let t = at_secs(0);
    let client = sock(CLIENT_V4, 50_040);
    let server = sock(SERVER_V4, UDP_BULK_PORT);
    let big = packets::udp(t, client, server, &rng.bytes(FRAGMENTED_DATAGRAM_LEN));
    let fragments = packets::ipv4_fragments(&big, IPV4_FRAGMENT_PAYLOAD, 0x4f4f);
    let mut out: Vec<IpPacket> = ARRIVAL_ORDER
        .iter()
        .enumerate()
        .map(|(i, &piece)| IpPacket { ts_ns: t + i as u64 * 10_000, ..fragments[piece].clone() })
        .collect();
    out.push(packets::udp(t + RTT_NS, server, client, &rng.bytes(40)));
    pcap_file(
        "linktypes/ipv4-fragments.pcap",
        "Ethernet. One 3000-byte UDP datagram 192.168.1.20:50040 → 203.0.113.10:40500 \
         (IP id 0x4f4f) split into three fragments (offsets 0, 1480, 2960) that arrive out \
         of order — offset 2960 first, then 0, then 1480 — and one unfragmented 40-byte \
         reply. Below, each fragment counts as a packet (3 / 1); a reassembling reader \
         sees one datagram each way, and tshark's `conv,udp` counts 1 / 1 (only the frame \
         completing reassembly).",
        writer::LINKTYPE_ETHERNET,
        &out,
        plain_ethernet,
    )
}

/// Two TCP connections on the same 4-tuple, the second opened by a new SYN two
/// seconds after the first one closed.
fn tcp_port_reuse() -> Generated {
    const REUSE_AFTER_SECS: u64 = 2;
    let mut rng = Rng::new(0x2e05);
    let client = sock(CLIENT_V4, 50_050);
    let server = sock(SERVER_V4, 443);
    let mut out = Vec::new();
    tcp_exchange(at_secs(0), client, server, &mut rng, &mut out);
    tcp_exchange(at_secs(REUSE_AFTER_SECS), client, server, &mut rng, &mut out);
    let packets = sort(out);
    pcap_file(
        "linktypes/tcp-port-reuse.pcap",
        "Ethernet. Two complete TCP connections 192.168.1.20:50050 → 203.0.113.10:443 \
         (handshake, one TLS record each way, FIN close), the second starting 2 s after \
         the first, with new initial sequence numbers. They are two flows (tshark: two \
         `tcp.stream`s, two `conv,tcp` rows; its analysis flags the second SYN \
         `[TCP Port numbers reused]`).",
        writer::LINKTYPE_ETHERNET,
        &packets,
        plain_ethernet,
    )
}

fn broken() -> Vec<Generated> {
    let packets = small_flows(0xb0b0, at_secs(0), true, false);
    let records = records(&packets, plain_ethernet);

    // truncated.pcap: every record but the last complete, the last cut mid-packet.
    let (last, complete) = records.split_last().expect("records");
    let mut truncated =
        writer::pcap_bytes(writer::LINKTYPE_ETHERNET, TsResolution::Micros, complete);
    let kept = last.data.len() / 2;
    truncated.extend_from_slice(&writer::pcap_record_header(
        last,
        TsResolution::Micros,
        last.data.len(),
    ));
    truncated.extend_from_slice(&last.data[..kept]);

    // zero-length-packet.pcap: a record with no bytes at all between valid ones.
    const EMPTY_AFTER: usize = 3;
    let mut with_empty = records.clone();
    let empty_ts = with_empty[EMPTY_AFTER - 1].ts_ns + 1_000;
    with_empty.insert(EMPTY_AFTER, Record { ts_ns: empty_ts, data: Vec::new(), interface: 0 });

    vec![
        Generated {
            path: "broken/truncated.pcap".into(),
            about: format!(
                "Ethernet pcap whose last record header announces {} bytes but the file ends \
                 after {kept} of them (as when a capture is copied while being written). The \
                 flows below count only the {} complete records; a reader should return \
                 those and then report the truncation.",
                last.data.len(),
                complete.len()
            ),
            bytes: truncated,
            tuples: tuples(&packets[..packets.len() - 1]),
        },
        Generated {
            path: "broken/not-a-capture.txt".into(),
            about: "Plain text, not a capture: readers must reject it by its magic bytes.".into(),
            bytes: b"This is not a packet capture. leakscope must refuse it with a clear error.\n"
                .to_vec(),
            tuples: Vec::new(),
        },
        Generated {
            path: "broken/zero-length-packet.pcap".into(),
            about: format!(
                "Valid Ethernet pcap with one zero-length record (captured and original \
                 length 0) as record {}, between valid packets: it has no link header to \
                 decode and must be skipped, not end the file.",
                EMPTY_AFTER + 1
            ),
            bytes: writer::pcap_bytes(writer::LINKTYPE_ETHERNET, TsResolution::Micros, &with_empty),
            tuples: tuples(&packets),
        },
    ]
}
