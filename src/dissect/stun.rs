//! STUN/TURN dissector (RFC 5389/8489, RFC 8656, classic RFC 3489) with WhatsApp's and
//! Facebook's call variants, plus RTP/RTCP recognition for the media that follows on the same
//! 5-tuple.
//!
//! Metadata kept: message type, realm, software, whether a username was sent (never the
//! username: it can identify the user), the reflexive address the server saw (XOR-MAPPED /
//! MAPPED) and the TURN peer address. Integrity tags, nonces and DATA payloads are not kept.
//!
//! WhatsApp relays use message types 0x0800–0x0802 and attributes 0x4000–0x4007 (seen in
//! wa_video.pcap, whatsapp_voice_and_message.pcap, lru_ipv6_caches.pcapng); their attributes
//! are not padded to 4 bytes. Facebook/Messenger TURN servers announce realm "turner.facebook".

use core::ops::Range;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::bytes::{be16, be32};

// RTP/RTCP moved to their own module; the old paths stay for one release.
pub use super::rtp::{RtcpInfo, RtpInfo, looks_like_rtcp, looks_like_rtp};

/// STUN header length.
pub const HEADER_LEN: usize = 20;
/// RFC 5389 magic cookie, at bytes 4..8.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// Attributes walked per message; more is not a real client.
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest realm/software string kept (RFC 8489 caps both at 763 bytes; we keep less).
pub const MAX_TEXT_LEN: usize = 128;

mod field {
    use super::Range;
    pub const TYPE: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = 2..4;
    pub const COOKIE: Range<usize> = 4..8;
    /// RFC 5389 transaction id; classic RFC 3489 ids span 4..20 (cookie included).
    pub const TRANSACTION_ID: Range<usize> = 8..20;
}

/// Why bytes are not a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// The buffer ends before the message; `need` counts from the buffer start.
    #[error("stun: incomplete message, need {need} bytes")]
    Incomplete {
        /// Total bytes needed.
        need: usize,
    },
    /// Not a STUN message.
    #[error("stun: malformed: {0}")]
    Malformed(&'static str),
}

/// Raw STUN message type; unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgType(pub u16);

impl MsgType {
    /// Binding request.
    pub const BINDING_REQUEST: Self = Self(0x0001);
    /// Binding indication.
    pub const BINDING_INDICATION: Self = Self(0x0011);
    /// Binding success response.
    pub const BINDING_SUCCESS: Self = Self(0x0101);
    /// Binding error response.
    pub const BINDING_ERROR: Self = Self(0x0111);
    /// Classic RFC 3489 shared-secret request.
    pub const SHARED_SECRET_REQUEST: Self = Self(0x0002);
    /// TURN allocate request.
    pub const ALLOCATE_REQUEST: Self = Self(0x0003);
    /// TURN allocate success response.
    pub const ALLOCATE_SUCCESS: Self = Self(0x0103);
    /// TURN allocate error response.
    pub const ALLOCATE_ERROR: Self = Self(0x0113);
    /// TURN refresh request.
    pub const REFRESH_REQUEST: Self = Self(0x0004);
    /// TURN send indication.
    pub const SEND_INDICATION: Self = Self(0x0016);
    /// TURN data indication.
    pub const DATA_INDICATION: Self = Self(0x0017);
    /// TURN create-permission request.
    pub const CREATE_PERMISSION_REQUEST: Self = Self(0x0008);
    /// TURN channel-bind request.
    pub const CHANNEL_BIND_REQUEST: Self = Self(0x0009);
    /// First WhatsApp relay message type (0x0800–0x0802).
    pub const WHATSAPP_RELAY_FIRST: Self = Self(0x0800);
    /// Last WhatsApp relay message type.
    pub const WHATSAPP_RELAY_LAST: Self = Self(0x0802);

    /// Message class from the C1/C0 bits.
    pub fn class(self) -> MessageClass {
        match self.0 & 0x0110 {
            0x0000 => MessageClass::Request,
            0x0010 => MessageClass::Indication,
            0x0100 => MessageClass::Success,
            _ => MessageClass::Error,
        }
    }

    /// Method: the 12 type bits left once the class bits are taken out.
    pub fn method(self) -> Method {
        let t = self.0;
        Method((t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2))
    }

    /// One of WhatsApp's relay types.
    pub fn is_whatsapp_relay(self) -> bool {
        (Self::WHATSAPP_RELAY_FIRST.0..=Self::WHATSAPP_RELAY_LAST.0).contains(&self.0)
    }
}

/// STUN message class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// Request.
    Request,
    /// Indication.
    Indication,
    /// Success response.
    Success,
    /// Error response.
    Error,
}

/// STUN method (RFC 8489 §5); unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Method(pub u16);

impl Method {
    /// Binding.
    pub const BINDING: Self = Self(0x001);
    /// TURN Allocate.
    pub const ALLOCATE: Self = Self(0x003);
    /// TURN Refresh.
    pub const REFRESH: Self = Self(0x004);
    /// TURN Send.
    pub const SEND: Self = Self(0x006);
    /// TURN Data.
    pub const DATA: Self = Self(0x007);
    /// TURN CreatePermission.
    pub const CREATE_PERMISSION: Self = Self(0x008);
    /// TURN ChannelBind.
    pub const CHANNEL_BIND: Self = Self(0x009);
}

/// Attribute type; unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrType(pub u16);

impl AttrType {
    /// Reflexive address, in clear (RFC 3489).
    pub const MAPPED_ADDRESS: Self = Self(0x0001);
    /// User name (presence only is kept).
    pub const USERNAME: Self = Self(0x0006);
    /// HMAC-SHA1 integrity.
    pub const MESSAGE_INTEGRITY: Self = Self(0x0008);
    /// Error code.
    pub const ERROR_CODE: Self = Self(0x0009);
    /// TURN peer address.
    pub const XOR_PEER_ADDRESS: Self = Self(0x0012);
    /// TURN data (media: never kept).
    pub const DATA: Self = Self(0x0013);
    /// Realm.
    pub const REALM: Self = Self(0x0014);
    /// Nonce.
    pub const NONCE: Self = Self(0x0015);
    /// TURN relayed address.
    pub const XOR_RELAYED_ADDRESS: Self = Self(0x0016);
    /// Reflexive address, XOR-obfuscated (RFC 5389).
    pub const XOR_MAPPED_ADDRESS: Self = Self(0x0020);
    /// Pre-RFC draft code point of XOR-MAPPED-ADDRESS, still sent by old servers.
    pub const XOR_MAPPED_ADDRESS_OLD: Self = Self(0x8020);
    /// Software description.
    pub const SOFTWARE: Self = Self(0x8022);
    /// CRC-32 fingerprint.
    pub const FINGERPRINT: Self = Self(0x8028);
    /// First WhatsApp attribute (0x4000–0x4007).
    pub const WHATSAPP_FIRST: Self = Self(0x4000);
    /// Last WhatsApp attribute.
    pub const WHATSAPP_LAST: Self = Self(0x4007);

    /// One of WhatsApp's private attributes.
    pub fn is_whatsapp(self) -> bool {
        (Self::WHATSAPP_FIRST.0..=Self::WHATSAPP_LAST.0).contains(&self.0)
    }
}

/// View over one STUN message. On `Ok` from [`Stun::new_checked`], no accessor panics and
/// `HEADER_LEN + length()` bytes are present.
#[derive(Debug, Clone)]
pub struct Stun<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Stun<T> {
    /// Checks the header: top two type bits zero and the announced body present. Trailing bytes
    /// after the message are allowed (a TCP stream may hold the next one).
    pub fn new_checked(buf: T) -> Result<Self, StunError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(StunError::Incomplete { need: HEADER_LEN });
        }
        if b[0] & 0xc0 != 0 {
            return Err(StunError::Malformed("top two bits of the type are set"));
        }
        let need = HEADER_LEN + usize::from(be16(&b[field::LENGTH]));
        if b.len() < need {
            return Err(StunError::Incomplete { need });
        }
        Ok(Stun { buf })
    }

    fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// Message type.
    pub fn msg_type(&self) -> MsgType {
        MsgType(be16(&self.bytes()[field::TYPE]))
    }
    /// Body length announced in the header.
    pub fn length(&self) -> usize {
        usize::from(be16(&self.bytes()[field::LENGTH]))
    }
    /// Header plus body.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.length()
    }
    /// RFC 5389 magic cookie present (otherwise a classic RFC 3489 message, or not STUN).
    pub fn has_magic_cookie(&self) -> bool {
        be32(&self.bytes()[field::COOKIE]) == MAGIC_COOKIE
    }
    /// Transaction id: 12 bytes with the cookie, 16 in classic mode.
    pub fn transaction_id(&self) -> &[u8] {
        if self.has_magic_cookie() {
            &self.bytes()[field::TRANSACTION_ID]
        } else {
            &self.bytes()[field::COOKIE.start..field::TRANSACTION_ID.end]
        }
    }
    /// Message body (attributes).
    pub fn body(&self) -> &[u8] {
        &self.bytes()[HEADER_LEN..self.total_len()]
    }
    /// Iterator over at most [`MAX_ATTRIBUTES`] attributes; ends at the first malformed one
    /// (yielded as `Err`).
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes { body: self.body(), pos: 0, seen: 0 }
    }
}

/// One attribute: type and value (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type.
    pub typ: AttrType,
    /// Value without padding.
    pub value: &'a [u8],
}

/// Bounded attribute iterator, see [`Stun::attributes`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    body: &'a [u8],
    pos: usize,
    seen: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attribute<'a>, StunError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.body.len() {
            return None;
        }
        let fail = |this: &mut Self, why| {
            this.pos = this.body.len();
            Some(Err(StunError::Malformed(why)))
        };
        self.seen += 1;
        if self.seen > MAX_ATTRIBUTES {
            return fail(self, "too many attributes");
        }
        let Some(hdr) = self.body.get(self.pos..self.pos + 4) else {
            return fail(self, "attribute header cut short");
        };
        let typ = AttrType(be16(&hdr[0..2]));
        let len = usize::from(be16(&hdr[2..4]));
        let start = self.pos + 4;
        let Some(value) = self.body.get(start..start + len) else {
            return fail(self, "attribute value overruns the message");
        };
        // RFC 5389 pads values to 4 bytes; WhatsApp does not. Accept both: skip the padding
        // only if it is there.
        let padded = start + len.next_multiple_of(4);
        self.pos = if padded <= self.body.len() { padded } else { start + len };
        Some(Ok(Attribute { typ, value }))
    }
}

/// Metadata of one STUN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunInfo {
    /// Raw message type.
    pub msg_type: MsgType,
    /// Class from the type bits.
    pub class: MessageClass,
    /// Method from the type bits.
    pub method: Method,
    /// No magic cookie: classic RFC 3489.
    pub classic: bool,
    /// REALM, lossy UTF-8, at most [`MAX_TEXT_LEN`] bytes.
    pub realm: Option<String>,
    /// SOFTWARE, lossy UTF-8, at most [`MAX_TEXT_LEN`] bytes.
    pub software: Option<String>,
    /// A USERNAME attribute was present (its value is never kept).
    pub has_username: bool,
    /// The client's public address as the server saw it (XOR-MAPPED, else MAPPED address).
    pub mapped_address: Option<SocketAddr>,
    /// TURN peer address (XOR-PEER-ADDRESS): the other party of a relayed call.
    pub peer_address: Option<SocketAddr>,
    /// WhatsApp relay type (0x0800–0x0802) or attribute (0x4000–0x4007) seen.
    pub whatsapp_relay: bool,
    /// Realm names Facebook's TURN service (Messenger/Facebook calls).
    pub facebook_realm: bool,
    /// Attributes walked.
    pub attribute_count: usize,
}

/// Classifies one UDP payload as STUN. Strict, to run on every first packet: the header
/// length must cover the payload exactly and every attribute must parse. Classic messages
/// (no cookie) are accepted only for the RFC 3489 binding/shared-secret types.
pub fn classify(payload: &[u8]) -> Option<StunInfo> {
    let msg = Stun::new_checked(payload).ok()?;
    if msg.total_len() != payload.len() {
        return None;
    }
    info(&msg)
}

fn info<T: AsRef<[u8]>>(msg: &Stun<T>) -> Option<StunInfo> {
    let t = msg.msg_type();
    let classic = !msg.has_magic_cookie();
    if classic && !is_classic_type(t) {
        return None;
    }
    let mut out = StunInfo {
        msg_type: t,
        class: t.class(),
        method: t.method(),
        classic,
        realm: None,
        software: None,
        has_username: false,
        mapped_address: None,
        peer_address: None,
        whatsapp_relay: t.is_whatsapp_relay(),
        facebook_realm: false,
        attribute_count: 0,
    };
    let tid = msg.transaction_id();
    for attr in msg.attributes() {
        let attr = attr.ok()?;
        out.attribute_count += 1;
        apply_attribute(&mut out, attr, tid);
    }
    out.facebook_realm =
        out.realm.as_deref().is_some_and(|r| r.to_ascii_lowercase().contains("facebook"));
    Some(out)
}

fn apply_attribute(out: &mut StunInfo, attr: Attribute<'_>, tid: &[u8]) {
    let v = attr.value;
    match attr.typ {
        AttrType::USERNAME => out.has_username = true,
        AttrType::REALM => out.realm = Some(text(v)),
        AttrType::SOFTWARE => out.software = Some(text(v)),
        AttrType::XOR_MAPPED_ADDRESS | AttrType::XOR_MAPPED_ADDRESS_OLD if !out.classic => {
            out.mapped_address = xor_address(v, tid).or(out.mapped_address);
        }
        AttrType::MAPPED_ADDRESS if out.mapped_address.is_none() => {
            out.mapped_address = plain_address(v);
        }
        AttrType::XOR_PEER_ADDRESS if !out.classic => {
            out.peer_address = out.peer_address.or(xor_address(v, tid));
        }
        t if t.is_whatsapp() => out.whatsapp_relay = true,
        _ => {}
    }
}

/// RFC 3489 types; anything else without the cookie is too weak a match.
fn is_classic_type(t: MsgType) -> bool {
    matches!(t.0, 0x0001 | 0x0101 | 0x0111 | 0x0002 | 0x0102 | 0x0112)
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(&v[..v.len().min(MAX_TEXT_LEN)]).into_owned()
}

/// MAPPED-ADDRESS value: reserved (1), family (1), port (2), address (4 or 16).
fn plain_address(v: &[u8]) -> Option<SocketAddr> {
    let port = be16(v.get(2..4)?);
    let ip = match (v.get(1)?, v.len()) {
        (0x01, 8) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&v[4..8]).ok()?)),
        (0x02, 20) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&v[4..20]).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// XOR-*-ADDRESS value: the port is XORed with the cookie's top half, an IPv4 address with the
/// cookie, an IPv6 address with cookie ‖ transaction id (RFC 8489 §14.2).
fn xor_address(v: &[u8], tid: &[u8]) -> Option<SocketAddr> {
    plain_address(v)?; // validates family and length
    let mut key = [0u8; 16];
    key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    key[4..].copy_from_slice(tid.get(..12)?);
    let port = be16(&v[2..4]) ^ (MAGIC_COOKIE >> 16) as u16;
    let mut addr = [0u8; 16];
    let n = v.len() - 4;
    for (i, b) in addr[..n].iter_mut().enumerate() {
        *b = v[4 + i] ^ key[i];
    }
    let ip = if n == 4 {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(addr))
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::bytes::unhex;

    /// wa_video.pcap: Allocate success from a WhatsApp relay (31.13.86.48:3478).
    /// 0103 0018 2112a442 <tid 12>
    /// 0020 0008 0001 ee24 71a60672       XOR-MAPPED-ADDRESS
    /// 4002 0008 0000016b8e0438d1          WhatsApp attribute
    const WA_ALLOCATE_OK: &str =
        "010300182112a4420c08916e0c93ad1d78ea944c002000080001ee2471a60672400200080000016b8e0438d1";

    #[test]
    fn whatsapp_allocate_success() {
        let info = classify(&unhex(WA_ALLOCATE_OK)).unwrap();
        assert_eq!(info.msg_type, MsgType::ALLOCATE_SUCCESS);
        assert_eq!(info.class, MessageClass::Success);
        assert_eq!(info.method, Method::ALLOCATE);
        assert!(!info.classic);
        assert!(info.whatsapp_relay);
        assert!(!info.facebook_realm);
        assert_eq!(info.attribute_count, 2);
        // 0x71a60672 ^ 0x2112a442 = 0x50b4a230, port 0xee24 ^ 0x2112 = 0xcf36
        assert_eq!(info.mapped_address, Some("80.180.162.48:53046".parse().unwrap()));
    }

    #[test]
    fn whatsapp_relay_type_without_padding() {
        // whatsapp_voice_and_message.pcap: type 0x0800, one 0x4000 attribute of 102 bytes:
        // the message length (0x6a = 106) is not a multiple of 4.
        let mut m = unhex("0800006a2112a4420000d160e0ec785eac996a6d40000066");
        m.extend_from_slice(&[0xab; 102]);
        let info = classify(&m).unwrap();
        assert!(info.whatsapp_relay);
        assert_eq!(info.class, MessageClass::Request);
        assert_eq!(info.attribute_count, 1);
    }

    #[test]
    fn facebook_turn_realm_and_software_username_presence() {
        // Shaped like stun.pcap's Messenger call: Allocate error 0x0113, ERROR-CODE 401 and
        // REALM "turner.facebook"; SOFTWARE and USERNAME added to check what is kept.
        let mut m = unhex("011300002112a442414b37515079504b39657556");
        push_attr(&mut m, 0x0009, b"\x00\x00\x04\x01Unauthorized");
        push_attr(&mut m, 0x0014, b"turner.facebook");
        push_attr(&mut m, 0x8022, b"fbturn 1.0");
        push_attr(&mut m, 0x0006, b"secret-user:id");
        let info = classify(&m).unwrap();
        assert_eq!(info.class, MessageClass::Error);
        assert_eq!(info.realm.as_deref(), Some("turner.facebook"));
        assert!(info.facebook_realm);
        assert!(!info.whatsapp_relay);
        assert_eq!(info.software.as_deref(), Some("fbturn 1.0"));
        assert!(info.has_username);
        let dbg = format!("{info:?}");
        assert!(!dbg.contains("secret-user"), "username value leaked: {dbg}");
    }

    fn push_attr(m: &mut Vec<u8>, typ: u16, v: &[u8]) {
        m.extend_from_slice(&typ.to_be_bytes());
        m.extend_from_slice(&(v.len() as u16).to_be_bytes());
        m.extend_from_slice(v);
        m.resize(m.len().next_multiple_of(4), 0);
        let body = (m.len() - HEADER_LEN) as u16;
        m[2..4].copy_from_slice(&body.to_be_bytes());
    }

    #[test]
    fn ipv6_mapped_address() {
        // stun.pcap: Binding success with MAPPED-ADDRESS family 2 (IPv6), port 0xde30.
        let m = unhex(concat!(
            "010100182112a44242717143766336792f6b4965",
            "000100140002de3020011670000ceb0470aff67f8e49f603"
        ));
        let info = classify(&m).unwrap();
        assert_eq!(
            info.mapped_address,
            Some("[2001:1670:c:eb04:70af:f67f:8e49:f603]:56880".parse().unwrap())
        );
    }

    #[test]
    fn xor_ipv6_address_uses_transaction_id() {
        let tid = [7u8; 12];
        let addr: Ipv6Addr = "2a03:2880:f0ff::face:b00c".parse().unwrap();
        let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
        key.extend_from_slice(&tid);
        let mut v = vec![0, 2];
        v.extend_from_slice(&(3478u16 ^ 0x2112).to_be_bytes());
        v.extend(addr.octets().iter().zip(&key).map(|(a, k)| a ^ k));
        let mut m = vec![0x01, 0x01, 0, 0];
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&tid);
        push_attr(&mut m, 0x0020, &v);
        let info = classify(&m).unwrap();
        assert_eq!(info.mapped_address, Some(SocketAddr::new(addr.into(), 3478)));
    }

    #[test]
    fn classic_rfc3489_binding() {
        let mut m = vec![0x00, 0x01, 0x00, 0x00];
        m.extend_from_slice(&[0x5a; 16]); // 16-byte transaction id, no cookie
        let info = classify(&m).unwrap();
        assert!(info.classic);
        assert_eq!(Stun::new_checked(&m).unwrap().transaction_id().len(), 16);
        // A TURN type without the cookie is too weak to call STUN.
        m[1] = 0x03;
        assert_eq!(classify(&m), None);
    }

    #[test]
    fn length_must_match_udp_payload() {
        let mut m = unhex(WA_ALLOCATE_OK);
        m.push(0);
        assert_eq!(classify(&m), None);
        assert_eq!(classify(&m[..30]), None);
    }

    /// Real UDP payloads labelled by nDPI (scripts/extract-dissect-fixtures.sh): every WhatsApp
    /// call flow shows a WhatsApp relay marker, Messenger's the Facebook realm, and none of
    /// Signal's, Google's or Viber's STUN is taken for either.
    #[test]
    fn real_captures_agree_with_ndpi() {
        let fixture = include_str!("../../tests/fixtures/stun/udp_payloads.tsv");
        let mut wa_flows = std::collections::BTreeMap::<(&str, &str), bool>::new();
        let mut fb_flows = std::collections::BTreeMap::<(&str, &str), bool>::new();
        let (mut signal, mut stun_total) = (0, 0);
        for line in fixture.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let [capture, src, dst, proto, _conf, hex] = cols[..] else {
                panic!("bad line {line}");
            };
            let buf = unhex(hex);
            let info = classify(&buf);
            if proto.starts_with("78") {
                // Every message in a flow nDPI calls STUN parses (media shares the 5-tuple).
                let is_stun_shaped = buf.len() >= 8 && be32(&buf[4..8]) == MAGIC_COOKIE;
                if is_stun_shaped {
                    assert!(info.is_some(), "{capture} {src}: {hex}");
                    stun_total += 1;
                }
            }
            let Some(info) = info else { continue };
            let flow = (src.min(dst), src.max(dst));
            match proto {
                "78.45/STUN.WhatsAppCall" => {
                    *wa_flows.entry(flow).or_default() |= info.whatsapp_relay;
                }
                "78.268/STUN.FacebookVoip" => {
                    *fb_flows.entry(flow).or_default() |= info.facebook_realm;
                }
                _ => {
                    assert!(!info.whatsapp_relay, "{capture} {src} {proto}: {info:?}");
                    assert!(!info.facebook_realm, "{capture} {src} {proto}: {info:?}");
                    signal += usize::from(proto.contains("Signal"));
                }
            }
        }
        assert!(stun_total > 250, "{stun_total}");
        assert!(signal > 100, "{signal}");
        assert!(!fb_flows.is_empty() && fb_flows.values().all(|&v| v), "{fb_flows:?}");
        // Flows to WhatsApp relays (port 3478) carry the markers; direct peer-to-peer binding
        // checks of a call (nDPI labels them by cache) are plain RFC 8489 and cannot.
        for ((a, b), marked) in &wa_flows {
            let relay = a.ends_with(":3478") || b.ends_with(":3478");
            assert_eq!(*marked, relay, "{a} {b}");
        }
        assert!(wa_flows.values().filter(|&&v| v).count() >= 15, "{wa_flows:?}");
    }

    /// Media on the same 5-tuples: a WhatsApp call's non-STUN payloads are RTP or RTCP
    /// (wa_video.pcap, lru_ipv6_caches.pcapng); DTLS, QUIC, BitTorrent and Viber's own
    /// protocol are neither.
    #[test]
    fn real_media_is_rtp_or_rtcp() {
        let fixture = include_str!("../../tests/fixtures/stun/udp_payloads.tsv");
        let (mut media, mut others) = (0, 0);
        for line in fixture.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let (proto, buf) = (cols[3], unhex(cols[5]));
            if classify(&buf).is_some() || buf.len() < 12 {
                continue; // STUN itself, or the relay's 2-byte "OK"
            }
            let rtp_or_rtcp = looks_like_rtp(&buf).is_some() || looks_like_rtcp(&buf).is_some();
            if proto == "78.45/STUN.WhatsAppCall" || proto == "165/RTCP" {
                assert!(rtp_or_rtcp, "{line}");
                media += 1;
            } else if ["DTLS", "QUIC", "BitTorrent", "Viber"].iter().any(|p| proto.contains(p)) {
                assert!(!rtp_or_rtcp, "{line}");
                others += 1;
            }
        }
        assert!(media >= 15 && others >= 40, "{media} {others}");
    }

    /// Any cut of a real message is "need more bytes" for the view and no match for the
    /// classifier.
    #[test]
    fn truncations_are_incomplete() {
        let fixture = include_str!("../../tests/fixtures/stun/udp_payloads.tsv");
        for line in fixture.lines().step_by(5) {
            let buf = unhex(line.rsplit('\t').next().unwrap());
            if classify(&buf).is_none() {
                continue;
            }
            for cut in 0..buf.len() {
                assert!(matches!(
                    Stun::new_checked(&buf[..cut]),
                    Err(StunError::Incomplete { .. })
                ));
                assert_eq!(classify(&buf[..cut]), None);
            }
        }
    }

    /// DNS, DHCP and HTTP payloads from the same captures are not STUN.
    #[test]
    fn other_protocols_are_not_stun() {
        let fixtures = [
            include_str!("../../tests/fixtures/dns/payloads.tsv"),
            include_str!("../../tests/fixtures/dhcp/payloads.tsv"),
            include_str!("../../tests/fixtures/http/requests.tsv"),
            include_str!("../../tests/fixtures/whatsapp/first_client_bytes.tsv"),
        ];
        for line in fixtures.iter().flat_map(|f| f.lines()) {
            let buf = unhex(line.rsplit('\t').next().unwrap());
            assert_eq!(classify(&buf), None, "{line}");
        }
    }

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let fixture = include_str!("../../tests/fixtures/stun/udp_payloads.tsv");
        let seeds: Vec<Vec<u8>> =
            fixture.lines().step_by(7).map(|l| unhex(l.rsplit('\t').next().unwrap())).collect();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..30_000 {
            let mut buf = seeds[i % seeds.len()].clone();
            for _ in 0..rnd() % 6 {
                if !buf.is_empty() {
                    let at = rnd() as usize % buf.len();
                    buf[at] = rnd() as u8;
                }
            }
            buf.truncate(rnd() as usize % (buf.len() + 1));
            let _ = classify(&buf);
            let _ = looks_like_rtp(&buf);
            let _ = looks_like_rtcp(&buf);
            if let Ok(m) = Stun::new_checked(&buf) {
                assert!(m.attributes().count() <= MAX_ATTRIBUTES + 1);
            }
        }
    }
}
