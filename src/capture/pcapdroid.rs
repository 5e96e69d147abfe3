//! PCAPdroid's per-packet trailer: which Android app sent or received a packet.
//!
//! With the "PCAPdroid trailer" option on, PCAPdroid (an Android capture app that needs no root)
//! writes link type Ethernet: a fake 14-byte header (both MACs zero), the IP packet, 0–3 zero
//! bytes that keep its buffer 4-byte aligned, then 32 bytes:
//!
//! ```text
//! magic u32 BE = 0x01072021 | uid i32 BE | appname [20]u8, NUL-padded | fcs u32
//! ```
//!
//! [`split`] finds the trailer and hands back the bare IP packet, so the decoder, the dissectors
//! and every byte count see the same packet as in a capture without the trailer. It is on the
//! per-packet path: an Ethernet frame that does not end in the magic costs one 4-byte compare.

use super::{LinkType, Packet};

/// The trailer's first four bytes (big-endian): PCAPdroid's `PCAPDROID_TRAILER_MAGIC`.
pub const MAGIC: u32 = 0x0107_2021;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 32;
/// Bytes of the fake Ethernet header in front of the IP packet.
pub const FAKE_ETHERNET_LEN: usize = 14;
/// Bytes of the app name field.
pub const APPNAME_LEN: usize = 20;
/// Zero bytes PCAPdroid may put between the IP packet and the trailer (4-byte alignment).
pub const MAX_PADDING: usize = 3;
/// `uid` of a packet whose app PCAPdroid could not tell (`UID_UNKNOWN`).
pub const UID_UNKNOWN: i32 = -1;

mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const UID: Range<usize> = 4..8;
    pub const APPNAME: Range<usize> = 8..28;
    pub const FCS: Range<usize> = 28..32;
}

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;

/// Why bytes are not a PCAPdroid trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrailerError {
    /// Fewer bytes than a trailer.
    #[error("trailer needs {need} bytes, got {got}")]
    Short {
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        got: usize,
    },
    /// The first four bytes are not [`MAGIC`].
    #[error("trailer magic {0:#010x} is not {MAGIC:#010x}")]
    Magic(u32),
}

/// A view of a PCAPdroid trailer. On `Ok` from [`Trailer::new_checked`] no accessor panics.
#[derive(Debug, Clone, Copy)]
pub struct Trailer<T: AsRef<[u8]>> {
    buf: T,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl<T: AsRef<[u8]>> Trailer<T> {
    /// Checks the length and the magic of the first [`TRAILER_LEN`] bytes of `buf`.
    pub fn new_checked(buf: T) -> Result<Self, TrailerError> {
        let b = buf.as_ref();
        if b.len() < TRAILER_LEN {
            return Err(TrailerError::Short { need: TRAILER_LEN, got: b.len() });
        }
        let magic = be32(&b[field::MAGIC]);
        if magic != MAGIC {
            return Err(TrailerError::Magic(magic));
        }
        Ok(Trailer { buf })
    }

    /// Android uid of the app (10000 and up for installed apps; [`UID_UNKNOWN`] when unknown).
    pub fn uid(&self) -> i32 {
        be32(&self.buf.as_ref()[field::UID]) as i32
    }

    /// The app name bytes up to the first NUL (a package or app name, cut to 20 bytes by
    /// PCAPdroid, so possibly in the middle of a UTF-8 character).
    pub fn app_name(&self) -> &[u8] {
        let name = &self.buf.as_ref()[field::APPNAME];
        let end = name.iter().position(|&b| b == 0).unwrap_or(APPNAME_LEN);
        &name[..end]
    }

    /// The frame check sequence PCAPdroid computed (not verified: the tunnel has no wire errors).
    pub fn fcs(&self) -> u32 {
        be32(&self.buf.as_ref()[field::FCS])
    }

    /// The app as a small copy that outlives the packet buffer.
    pub fn tag(&self) -> PacketApp {
        let mut name = [0u8; APPNAME_LEN];
        name.copy_from_slice(&self.buf.as_ref()[field::APPNAME]);
        PacketApp { uid: self.uid(), name }
    }
}

/// What a trailer says about one packet: a fixed-size copy, so the per-packet path never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketApp {
    /// Android uid as written.
    pub uid: i32,
    /// The name field, NUL-padded.
    pub name: [u8; APPNAME_LEN],
}

impl PacketApp {
    /// Whether the trailer names anything: a known uid or a non-empty name.
    pub fn is_known(&self) -> bool {
        self.uid != UID_UNKNOWN || self.name[0] != 0
    }

    /// The flow-level copy (allocates: once per flow).
    pub fn to_app(&self) -> AndroidApp {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(APPNAME_LEN);
        AndroidApp { uid: (self.uid >= 0).then_some(self.uid), name: printable(&self.name[..end]) }
    }
}

/// The Android app behind a flow, from PCAPdroid's trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndroidApp {
    /// Android uid; `None` when PCAPdroid wrote a negative one (unknown).
    pub uid: Option<i32>,
    /// App or package name; `None` when the field was empty.
    pub name: Option<Box<str>>,
}

/// The name as text: invalid UTF-8 (a name cut inside a character) and control characters
/// become U+FFFD, so no output or terminal sees raw bytes from the phone.
fn printable(name: &[u8]) -> Option<Box<str>> {
    if name.is_empty() {
        return None;
    }
    let text: String = String::from_utf8_lossy(name)
        .chars()
        .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
        .collect();
    Some(text.into_boxed_str())
}

/// Finds a PCAPdroid trailer at the end of an Ethernet frame: returns the IP packet it follows
/// and the trailer. `None` for any other frame. The IP length (IPv4 total length, IPv6 payload
/// length + 40) must end within [`MAX_PADDING`] bytes of the trailer.
pub fn split(frame: &[u8]) -> Option<(&[u8], Trailer<&[u8]>)> {
    let len = frame.len();
    if len < FAKE_ETHERNET_LEN + IPV4_MIN_HEADER + TRAILER_LEN {
        return None;
    }
    let at = len - TRAILER_LEN;
    // The cheap tests first: almost every frame of a normal capture stops at the MACs, which
    // PCAPdroid writes as zeros, in the cache line the decoder reads anyway.
    if frame[..12] != [0u8; 12] || frame[at..at + 4] != MAGIC.to_be_bytes() {
        return None;
    }
    let ip = &frame[FAKE_ETHERNET_LEN..at];
    let ip_len = match [frame[12], frame[13]] {
        ETHERTYPE_IPV4 if ip[0] >> 4 == 4 => usize::from(u16::from_be_bytes([ip[2], ip[3]])),
        ETHERTYPE_IPV6 if ip.len() >= IPV6_HEADER && ip[0] >> 4 == 6 => {
            IPV6_HEADER + usize::from(u16::from_be_bytes([ip[4], ip[5]]))
        }
        _ => return None,
    };
    let padding = ip.len().checked_sub(ip_len)?;
    if padding > MAX_PADDING || ip_len < IPV4_MIN_HEADER {
        return None;
    }
    let trailer = Trailer::new_checked(&frame[at..]).ok()?;
    Some((&ip[..ip_len], trailer))
}

/// Whether `pkt` may carry a PCAPdroid trailer: an Ethernet frame with both MACs zero (the fake
/// header) whose last 32 bytes start with the magic. The per-packet test, kept small enough to
/// inline; [`strip`] does the rest. The MACs come first: they share a cache line with the
/// headers the decoder reads, while the frame's end is often a line nothing else touches.
#[inline]
pub fn may_have_trailer(pkt: &Packet<'_>) -> bool {
    let d = pkt.data;
    pkt.linktype == LinkType::ETHERNET
        && d.len() >= FAKE_ETHERNET_LEN + IPV4_MIN_HEADER + TRAILER_LEN
        && d[..12] == [0u8; 12]
        && d[d.len() - TRAILER_LEN..d.len() - TRAILER_LEN + 4] == MAGIC.to_be_bytes()
}

/// If `pkt` is an Ethernet frame with a PCAPdroid trailer, the same packet as PCAPdroid writes it
/// without the trailer option (raw IP, wire length less the fake header, padding and trailer),
/// and the trailer's app.
#[cold]
pub fn strip<'a>(pkt: &Packet<'a>) -> Option<(Packet<'a>, PacketApp)> {
    if pkt.linktype != LinkType::ETHERNET {
        return None;
    }
    let (ip, trailer) = split(pkt.data)?;
    let overhead = (pkt.data.len() - ip.len()) as u32;
    let stripped = Packet {
        ts: pkt.ts,
        linktype: LinkType::RAW,
        data: ip,
        wire_len: pkt.wire_len.saturating_sub(overhead),
    };
    Some((stripped, trailer.tag()))
}

/// PCAPdroid's IANA Private Enterprise Number: its pcapng custom blocks carry it.
pub const PEN: u32 = 62_652;
/// Version of PCAPdroid's custom blocks this reader knows (`PCAPDROID_PCAPNG_VERSION`).
pub const NG_VERSION: u16 = 1;
/// Custom block type: one uid → package and app name (`PCAPDROID_BLOCK_UID_MAP`).
pub const NG_BLOCK_UID_MAP: u8 = 1;
/// Uids mapped per pcapng section at most: a phone has a few hundred; beyond, packets of new
/// uids carry no app.
pub const MAX_NG_APPS: usize = 4096;
/// pcapng option code of a comment (`opt_comment`), where PCAPdroid writes `u-UID` per packet.
const OPT_COMMENT: u16 = 1;

/// The apps PCAPdroid's own pcapng output names (its "PCAPdroid trailer" option in pcapng mode):
/// custom blocks (block type 0xBAD, PEN [`PEN`]) map a uid to its package and app name, each
/// written before the uid's first packet, and every Enhanced Packet Block carries a comment
/// `u-UID`. Layout of the custom data after the PEN, in the section's byte order:
///
/// ```text
/// version u16 = 1 | type u8 = 1 | pad u8 | uid i32 | package_len u8 | app_len u8 | package | app
/// ```
///
/// (PCAPdroid's `pcap_dump.c` writer and its Wireshark dissector `pcapdroid.lua`.) A source
/// keeps one per pcapng section; lookups never allocate once a uid is known.
#[derive(Clone, Debug, Default)]
pub struct NgApps {
    apps: std::collections::HashMap<i32, std::sync::Arc<AndroidApp>, foldhash::fast::RandomState>,
}

impl NgApps {
    /// A new section: its mappings start empty.
    pub fn clear(&mut self) {
        self.apps.clear();
    }

    /// Uids known.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// Whether no uid is known.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// A custom block: its PEN and the bytes after it. Learns a uid mapping when it is
    /// PCAPdroid's; returns whether it was. Other vendors' blocks, newer versions, unknown types
    /// and cut blocks are ignored.
    pub fn custom_block(&mut self, pen: u32, data: &[u8], big_endian: bool) -> bool {
        if pen != PEN || data.len() < 10 {
            return false;
        }
        let u16_at =
            |b: [u8; 2]| if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
        if u16_at([data[0], data[1]]) != NG_VERSION || data[2] != NG_BLOCK_UID_MAP {
            return false;
        }
        let uid = [data[4], data[5], data[6], data[7]];
        let uid = if big_endian { i32::from_be_bytes(uid) } else { i32::from_le_bytes(uid) };
        let (pkg_len, app_len) = (usize::from(data[8]), usize::from(data[9]));
        let Some(names) = data.get(10..10 + pkg_len + app_len) else { return false };
        let (package, app) = names.split_at(pkg_len);
        // The package name identifies the app as the trailer does; the label only without it.
        let name = printable(if package.is_empty() { app } else { package });
        let entry = AndroidApp { uid: (uid >= 0).then_some(uid), name };
        if self.apps.len() < MAX_NG_APPS || self.apps.contains_key(&uid) {
            self.apps.insert(uid, std::sync::Arc::new(entry));
        }
        true
    }

    /// The app of an Enhanced Packet Block from its options (code, value): the comment
    /// `u-UID`. A uid no block mapped still names its uid; `u--1` (unknown) names nothing.
    pub fn packet<'o>(
        &mut self,
        options: impl IntoIterator<Item = (u16, &'o [u8])>,
    ) -> Option<std::sync::Arc<AndroidApp>> {
        let uid = options
            .into_iter()
            .find(|(c, _)| *c == OPT_COMMENT)
            .and_then(|(_, v)| uid_comment(v))?;
        if let Some(app) = self.apps.get(&uid) {
            return Some(app.clone());
        }
        if uid == UID_UNKNOWN || self.apps.len() >= MAX_NG_APPS {
            return None;
        }
        let app = std::sync::Arc::new(AndroidApp { uid: (uid >= 0).then_some(uid), name: None });
        self.apps.insert(uid, app.clone());
        Some(app)
    }
}

/// `u-UID` (PCAPdroid writes `"u-%d"`): the uid, `None` for any other comment.
fn uid_comment(v: &[u8]) -> Option<i32> {
    let digits = v.strip_prefix(b"u-")?;
    if digits.is_empty() || digits.len() > 11 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The options of an Enhanced Packet Block body (after the packet data and its padding), as
/// (code, value) pairs, in the section's byte order; stops at the end option or a cut one.
pub fn ng_options(mut opts: &[u8], big_endian: bool) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let u16_at = |b: &[u8]| {
            let b = [b[0], b[1]];
            if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }
        };
        if opts.len() < 4 {
            return None;
        }
        let (code, len) = (u16_at(&opts[0..2]), usize::from(u16_at(&opts[2..4])));
        let value = opts.get(4..4 + len)?;
        if code == 0 {
            return None;
        }
        opts = opts.get(4 + len.next_multiple_of(4)..).unwrap_or_default();
        Some((code, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20-byte IPv4 header (no payload) of total length `total`.
    fn ipv4(total: u16) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 215, 173, 1, 1, 1, 1, 1];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.resize(usize::from(total), 0xab);
        ip
    }

    fn trailer(uid: i32, name: &[u8]) -> Vec<u8> {
        let mut t = MAGIC.to_be_bytes().to_vec();
        t.extend(uid.to_be_bytes());
        let mut n = [0u8; APPNAME_LEN];
        n[..name.len()].copy_from_slice(name);
        t.extend(n);
        t.extend(0xdead_beef_u32.to_be_bytes());
        t
    }

    fn frame(ip: &[u8], padding: usize, trailer: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend(if ip[0] >> 4 == 6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 });
        f.extend(ip);
        f.extend(std::iter::repeat_n(0, padding));
        f.extend(trailer);
        f
    }

    #[test]
    fn annotated_trailer() {
        let bytes = trailer(10123, b"com.whatsapp");
        let t = Trailer::new_checked(&bytes[..]).unwrap();
        assert_eq!(t.uid(), 10123);
        assert_eq!(t.app_name(), b"com.whatsapp");
        assert_eq!(t.fcs(), 0xdead_beef);
        let app = t.tag().to_app();
        assert_eq!(app, AndroidApp { uid: Some(10123), name: Some("com.whatsapp".into()) });
    }

    #[test]
    fn short_or_wrong_magic() {
        let bytes = trailer(1, b"x");
        for n in 0..TRAILER_LEN {
            let got = Trailer::new_checked(&bytes[..n]).unwrap_err();
            assert_eq!(got, TrailerError::Short { need: TRAILER_LEN, got: n });
        }
        let mut bad = bytes.clone();
        bad[3] ^= 1;
        assert_eq!(Trailer::new_checked(&bad[..]).unwrap_err(), TrailerError::Magic(0x0107_2020));
    }

    #[test]
    fn split_with_every_padding() {
        for padding in 0..=MAX_PADDING {
            let ip = ipv4(41);
            let f = frame(&ip, padding, &trailer(10_200, b"org.example"));
            let (got, t) = split(&f).expect("trailer found");
            assert_eq!(got, &ip[..], "padding {padding}");
            assert_eq!(t.uid(), 10_200);
        }
        // Four bytes between packet and trailer: not PCAPdroid's layout.
        assert!(split(&frame(&ipv4(41), 4, &trailer(1, b"a"))).is_none());
    }

    #[test]
    fn a_real_mac_means_no_trailer() {
        // PCAPdroid's fake header has both MACs zero; a frame from a real NIC that happens to
        // end in the magic is left whole.
        let mut f = frame(&ipv4(41), 1, &trailer(10_200, b"org.example"));
        assert!(split(&f).is_some());
        f[5] = 0x42;
        assert!(split(&f).is_none());
        let pkt = Packet {
            ts: crate::capture::Timestamp(0),
            linktype: LinkType::ETHERNET,
            data: &f,
            wire_len: 0,
        };
        assert!(!may_have_trailer(&pkt));
    }

    #[test]
    fn split_ipv6() {
        let mut ip = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        ip.extend([0u8; 32]);
        ip.extend([0u8; 8]);
        let f = frame(&ip, 0, &trailer(10_001, b"a.b"));
        assert_eq!(split(&f).unwrap().0, &ip[..]);
    }

    #[test]
    fn ip_length_lies() {
        // Total length longer than the bytes before the trailer, or shorter than a header.
        let mut ip = ipv4(41);
        ip[2..4].copy_from_slice(&60u16.to_be_bytes());
        assert!(split(&frame(&ip, 0, &trailer(1, b"a"))).is_none());
        let mut ip = ipv4(20);
        ip[2..4].copy_from_slice(&0u16.to_be_bytes());
        assert!(split(&frame(&ip, 0, &trailer(1, b"a"))).is_none());
        // Not IP behind the fake header.
        let mut f = frame(&ipv4(41), 0, &trailer(1, b"a"));
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(split(&f).is_none());
    }

    #[test]
    fn names_unknowns_and_bad_bytes() {
        let full = [b'a'; APPNAME_LEN];
        let t = trailer(UID_UNKNOWN, &full);
        let app = Trailer::new_checked(&t[..]).unwrap().tag();
        assert_eq!(app.to_app(), AndroidApp { uid: None, name: Some("a".repeat(20).into()) });
        // A name cut inside a UTF-8 character, and a control character.
        let t = trailer(i32::MAX, &[b'x', 0x1b, 0xc3]);
        let app = Trailer::new_checked(&t[..]).unwrap().tag().to_app();
        assert_eq!(app.name.as_deref(), Some("x\u{fffd}\u{fffd}"));
        assert_eq!(app.uid, Some(i32::MAX));
        let t = trailer(UID_UNKNOWN, b"");
        let app = Trailer::new_checked(&t[..]).unwrap().tag();
        assert!(!app.is_known());
        assert_eq!(app.to_app(), AndroidApp { uid: None, name: None });
    }

    #[test]
    fn strip_keeps_wire_length_of_the_bare_packet() {
        let ip = ipv4(41);
        let f = frame(&ip, 3, &trailer(10_123, b"com.whatsapp"));
        let pkt = Packet {
            ts: super::super::Timestamp(1),
            linktype: LinkType::ETHERNET,
            data: &f,
            wire_len: f.len() as u32,
        };
        let (bare, app) = strip(&pkt).unwrap();
        assert_eq!((bare.linktype, bare.data, bare.wire_len), (LinkType::RAW, &ip[..], 41));
        assert_eq!(app.uid, 10_123);
        let raw = Packet { linktype: LinkType::RAW, ..pkt };
        assert!(strip(&raw).is_none());
    }

    #[test]
    fn any_bytes_no_panic() {
        let mut next = crate::testing::xorshift(0x1234_5678);
        for len in 0..200 {
            for i in 0..50u32 {
                let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                // Half the frames with PCAPdroid's zero MACs, so that the magic is looked at.
                if len >= 12 && i.is_multiple_of(2) {
                    f[..12].fill(0);
                }
                if len >= TRAILER_LEN {
                    f[len - TRAILER_LEN..len - TRAILER_LEN + 4]
                        .copy_from_slice(&MAGIC.to_be_bytes());
                }
                if let Some((ip, _)) = split(&f) {
                    assert!(ip.len() + TRAILER_LEN + FAKE_ETHERNET_LEN <= f.len());
                }
            }
        }
    }

    /// PCAPdroid's uid map block data after the PEN (little-endian, as an Android phone writes).
    fn uid_map(uid: i32, package: &str, app: &str) -> Vec<u8> {
        let mut d = NG_VERSION.to_le_bytes().to_vec();
        d.extend([NG_BLOCK_UID_MAP, 0]);
        d.extend(uid.to_le_bytes());
        d.extend([package.len() as u8, app.len() as u8]);
        d.extend(package.as_bytes());
        d.extend(app.as_bytes());
        while !d.len().is_multiple_of(4) {
            d.push(0);
        }
        d
    }

    #[test]
    fn pcapng_uid_map_and_comments() {
        let mut apps = NgApps::default();
        assert!(apps.custom_block(PEN, &uid_map(10_123, "com.whatsapp", "WhatsApp"), false));
        assert!(!apps.custom_block(PEN + 1, &uid_map(1, "x", "y"), false));
        let mut newer = uid_map(1, "x", "y");
        newer[0] = 2;
        assert!(!apps.custom_block(PEN, &newer, false));
        // Names longer than the data: ignored, no panic.
        let mut cut = uid_map(5, "abc", "d");
        cut[8] = 200;
        assert!(!apps.custom_block(PEN, &cut, false));
        let opt = |v: &'static [u8]| [(2u16, &b"\x02\0\0\0"[..]), (OPT_COMMENT, v)];
        let wa = apps.packet(opt(b"u-10123")).unwrap();
        assert_eq!(*wa, AndroidApp { uid: Some(10_123), name: Some("com.whatsapp".into()) });
        // A uid without its block still names the uid; unknown and other comments name nothing.
        assert_eq!(
            *apps.packet(opt(b"u-10200")).unwrap(),
            AndroidApp { uid: Some(10_200), name: None }
        );
        assert!(apps.packet(opt(b"u--1")).is_none());
        for c in [&b"hello"[..], b"u-", b"u-12x", b"u-99999999999999"] {
            assert!(apps.packet([(OPT_COMMENT, c)]).is_none(), "{c:?}");
        }
        // Big-endian sections too.
        let mut be = uid_map(10_145, "com.facebook.katana", "Facebook");
        be[0..2].copy_from_slice(&NG_VERSION.to_be_bytes());
        be[4..8].copy_from_slice(&10_145i32.to_be_bytes());
        assert!(apps.custom_block(PEN, &be, true));
        assert_eq!(
            apps.packet([(OPT_COMMENT, &b"u-10145"[..])]).unwrap().name.as_deref(),
            Some("com.facebook.katana")
        );
        apps.clear();
        assert!(apps.is_empty());
    }

    #[test]
    fn pcapng_uid_map_is_bounded() {
        let mut apps = NgApps::default();
        for uid in 0..(MAX_NG_APPS as i32 + 100) {
            apps.custom_block(PEN, &uid_map(uid, "p", "a"), false);
            apps.packet([(OPT_COMMENT, format!("u-{}", uid + 1_000_000).as_bytes())]);
        }
        assert_eq!(apps.len(), MAX_NG_APPS);
    }

    #[test]
    fn options_walk() {
        let mut o = Vec::new();
        o.extend(2u16.to_le_bytes());
        o.extend(4u16.to_le_bytes());
        o.extend(2u32.to_le_bytes());
        o.extend(1u16.to_le_bytes());
        o.extend(7u16.to_le_bytes());
        o.extend(b"u-10123\0");
        o.extend([0, 0, 0, 0]);
        let got: Vec<_> = ng_options(&o, false).collect();
        assert_eq!(got, [(2, &2u32.to_le_bytes()[..]), (1, &b"u-10123"[..])]);
        // Cut anywhere: no panic, never past the bytes.
        for n in 0..o.len() {
            let _ = ng_options(&o[..n], false).count();
        }
    }
}
