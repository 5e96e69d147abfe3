//! DHCPv4 / BOOTP dissector (RFC 2131, RFC 2132).
//!
//! A phone's DHCP request names it on the local network: host name, vendor class (OS build),
//! parameter request list (an OS fingerprint), client id and MAC. These are what we keep; file
//! and server-name fields and unknown options are skipped.
//!
//! Options are read tolerantly: a cut-short or broken option list keeps what parsed before the
//! fault and sets [`DhcpMessage::options_truncated`], since a monitor should still see the MAC
//! and message type of a damaged packet.

use core::ops::Range;
use std::net::Ipv4Addr;

use crate::record::events::DhcpEvent;
use crate::record::flow::{mac_string, secs_us};

/// Fixed BOOTP header up to and including the DHCP magic cookie.
pub const HEADER_LEN: usize = 240;
/// Fixed BOOTP header without the cookie (plain BOOTP packets may stop there).
pub const BOOTP_LEN: usize = 236;
/// DHCP magic cookie (RFC 2131 §3).
pub const MAGIC_COOKIE: u32 = 0x6382_5363;
/// Options walked per packet.
pub const MAX_OPTIONS: usize = 128;
/// Longest host name / vendor class kept.
pub const MAX_TEXT_LEN: usize = 128;
/// Longest client identifier kept (bytes, shown as hex).
pub const MAX_CLIENT_ID_LEN: usize = 64;

mod field {
    use super::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const XID: Range<usize> = 4..8;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const GIADDR: Range<usize> = 24..28;
    pub const CHADDR: Range<usize> = 28..44;
    pub const COOKIE: Range<usize> = 236..240;
    pub const OPTIONS: usize = 240;
}

/// Why bytes are not a DHCP/BOOTP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    /// Shorter than the fixed BOOTP header.
    #[error("dhcp: incomplete message, need {need} bytes")]
    Incomplete {
        /// Total bytes needed.
        need: usize,
    },
    /// Not a BOOTP message.
    #[error("dhcp: malformed: {0}")]
    Malformed(&'static str),
}

/// BOOTP op code; unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Op(pub u8);

impl Op {
    /// Client to server.
    pub const BOOTREQUEST: Self = Self(1);
    /// Server to client.
    pub const BOOTREPLY: Self = Self(2);
}

/// DHCP message type (option 53); unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    /// DHCPDISCOVER.
    pub const DISCOVER: Self = Self(1);
    /// DHCPOFFER.
    pub const OFFER: Self = Self(2);
    /// DHCPREQUEST.
    pub const REQUEST: Self = Self(3);
    /// DHCPDECLINE.
    pub const DECLINE: Self = Self(4);
    /// DHCPACK.
    pub const ACK: Self = Self(5);
    /// DHCPNAK.
    pub const NAK: Self = Self(6);
    /// DHCPRELEASE.
    pub const RELEASE: Self = Self(7);
    /// DHCPINFORM.
    pub const INFORM: Self = Self(8);
}

/// DHCP option codes used here; unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionCode(pub u8);

impl OptionCode {
    /// Padding.
    pub const PAD: Self = Self(0);
    /// Host name.
    pub const HOST_NAME: Self = Self(12);
    /// Requested IP address.
    pub const REQUESTED_IP: Self = Self(50);
    /// IP address lease time.
    pub const LEASE_TIME: Self = Self(51);
    /// DHCP message type.
    pub const MESSAGE_TYPE: Self = Self(53);
    /// Server identifier.
    pub const SERVER_ID: Self = Self(54);
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: Self = Self(55);
    /// Vendor class identifier.
    pub const VENDOR_CLASS_ID: Self = Self(60);
    /// Client identifier.
    pub const CLIENT_ID: Self = Self(61);
    /// End of options.
    pub const END: Self = Self(255);
}

/// View over a BOOTP/DHCP message. On `Ok` from [`Dhcp::new_checked`], no accessor panics.
#[derive(Debug, Clone)]
pub struct Dhcp<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Dhcp<T> {
    /// Checks the fixed BOOTP header is present and the op code is 1 or 2.
    pub fn new_checked(buf: T) -> Result<Self, DhcpError> {
        let b = buf.as_ref();
        if b.len() < BOOTP_LEN {
            return Err(DhcpError::Incomplete { need: BOOTP_LEN });
        }
        if !matches!(Op(b[field::OP]), Op::BOOTREQUEST | Op::BOOTREPLY) {
            return Err(DhcpError::Malformed("op is neither request nor reply"));
        }
        Ok(Dhcp { buf })
    }

    fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
    fn ip(&self, r: Range<usize>) -> Ipv4Addr {
        let b = &self.bytes()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Op code.
    pub fn op(&self) -> Op {
        Op(self.bytes()[field::OP])
    }
    /// Transaction id.
    pub fn xid(&self) -> u32 {
        let b = &self.bytes()[field::XID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Client address (set when the client already has one).
    pub fn ciaddr(&self) -> Ipv4Addr {
        self.ip(field::CIADDR)
    }
    /// Address offered/assigned by the server.
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.ip(field::YIADDR)
    }
    /// Relay agent address.
    pub fn giaddr(&self) -> Ipv4Addr {
        self.ip(field::GIADDR)
    }
    /// Client MAC, when the hardware type is Ethernet (1) with 6-byte addresses.
    pub fn client_mac(&self) -> Option<[u8; 6]> {
        let b = self.bytes();
        if b[field::HTYPE] != 1 || b[field::HLEN] != 6 {
            return None;
        }
        let mut mac = [0; 6];
        mac.copy_from_slice(&b[field::CHADDR][..6]);
        Some(mac)
    }
    /// DHCP magic cookie present (otherwise plain BOOTP, without options).
    pub fn has_magic_cookie(&self) -> bool {
        self.bytes().get(field::COOKIE).is_some_and(|c| c == MAGIC_COOKIE.to_be_bytes())
    }
    /// Bytes after the cookie (empty without a cookie).
    pub fn options(&self) -> &[u8] {
        if self.has_magic_cookie() { &self.bytes()[field::OPTIONS..] } else { &[] }
    }
}

/// Metadata of one DHCP/BOOTP message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DhcpMessage {
    /// Op code (request or reply).
    pub op: Op,
    /// Transaction id.
    pub xid: u32,
    /// Client MAC address (Ethernet only).
    pub chaddr: Option<[u8; 6]>,
    /// Client's current address.
    pub ciaddr: Option<Ipv4Addr>,
    /// Address the server assigns.
    pub yiaddr: Option<Ipv4Addr>,
    /// Option 53.
    pub message_type: Option<MessageType>,
    /// Option 12, lossy UTF-8, at most [`MAX_TEXT_LEN`] bytes.
    pub hostname: Option<String>,
    /// Option 60, e.g. "android-dhcp-11", lossy UTF-8, at most [`MAX_TEXT_LEN`] bytes.
    pub vendor_class: Option<String>,
    /// Option 55: requested option codes, in order (an OS fingerprint).
    pub parameter_request_list: Vec<u8>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 61 as lowercase hex, at most [`MAX_CLIENT_ID_LEN`] bytes.
    pub client_id: Option<String>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_time: Option<u32>,
    /// The option list was cut short or broken; fields after the fault are missing.
    pub options_truncated: bool,
}

/// Parses a DHCP/BOOTP message from a UDP payload.
pub fn parse(buf: &[u8]) -> Result<DhcpMessage, DhcpError> {
    let view = Dhcp::new_checked(buf)?;
    let nonzero = |ip: Ipv4Addr| (!ip.is_unspecified()).then_some(ip);
    let mut msg = DhcpMessage {
        op: view.op(),
        xid: view.xid(),
        chaddr: view.client_mac(),
        ciaddr: nonzero(view.ciaddr()),
        yiaddr: nonzero(view.yiaddr()),
        ..DhcpMessage::default()
    };
    msg.options_truncated = read_options(view.options(), &mut msg).is_err();
    Ok(msg)
}

/// Walks the option list into `msg`; `Err` when it is cut short, overlong, or lacks END.
fn read_options(mut opts: &[u8], msg: &mut DhcpMessage) -> Result<(), ()> {
    if opts.is_empty() {
        return Ok(()); // plain BOOTP
    }
    for _ in 0..MAX_OPTIONS {
        let (&code, rest) = opts.split_first().ok_or(())?;
        match OptionCode(code) {
            OptionCode::PAD => {
                opts = rest;
                continue;
            }
            OptionCode::END => return Ok(()),
            _ => {}
        }
        let (&len, rest) = rest.split_first().ok_or(())?;
        let value = rest.get(..usize::from(len)).ok_or(())?;
        apply_option(msg, OptionCode(code), value);
        opts = &rest[usize::from(len)..];
    }
    Err(())
}

fn apply_option(msg: &mut DhcpMessage, code: OptionCode, v: &[u8]) {
    match code {
        OptionCode::MESSAGE_TYPE => msg.message_type = v.first().map(|&t| MessageType(t)),
        OptionCode::HOST_NAME => msg.hostname = Some(text(v)),
        OptionCode::VENDOR_CLASS_ID => msg.vendor_class = Some(text(v)),
        OptionCode::PARAMETER_REQUEST_LIST => msg.parameter_request_list = v.to_vec(),
        OptionCode::REQUESTED_IP => msg.requested_ip = ipv4(v),
        OptionCode::SERVER_ID => msg.server_id = ipv4(v),
        OptionCode::LEASE_TIME => {
            msg.lease_time = <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes);
        }
        OptionCode::CLIENT_ID => msg.client_id = Some(hex(&v[..v.len().min(MAX_CLIENT_ID_LEN)])),
        _ => {}
    }
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(&v[..v.len().min(MAX_TEXT_LEN)]).into_owned()
}

fn hex(v: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * v.len());
    for b in v {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

impl DhcpEvent {
    /// Builds the event from a parsed message and the frame's source MAC.
    pub fn new(ts_nanos: i64, uid: String, frame_mac: Option<[u8; 6]>, m: &DhcpMessage) -> Self {
        DhcpEvent {
            ts: secs_us(ts_nanos),
            uid,
            mac: m.chaddr.or(frame_mac).map(mac_string),
            msg_type: m.message_type.map(|t| t.0),
            hostname: m.hostname.clone(),
            vendor_class: m.vendor_class.clone(),
            parameter_request_list: m.parameter_request_list.clone(),
            requested_ip: m.requested_ip,
            assigned_ip: m.yiaddr,
            client_id: m.client_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::bytes::unhex;

    /// A DHCPREQUEST as an Android phone sends it.
    fn android_request() -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m[0] = 1; // BOOTREQUEST
        m[1] = 1; // Ethernet
        m[2] = 6; // MAC length
        m[4..8].copy_from_slice(&0x7e4a_f2d7u32.to_be_bytes()); // xid
        m[28..34].copy_from_slice(&[0xd8, 0x30, 0x62, 0x56, 0x00, 0x1c]); // chaddr
        m[236..240].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[53, 1, 3]); // DHCPREQUEST
        m.extend_from_slice(&[61, 7, 1, 0xd8, 0x30, 0x62, 0x56, 0x00, 0x1c]); // client id
        m.extend_from_slice(&[50, 4, 192, 168, 2, 12]); // requested IP
        m.extend_from_slice(&[54, 4, 192, 168, 2, 1]); // server id
        m.extend_from_slice(&[57, 2, 0x05, 0xdc]); // max message size: skipped
        m.extend_from_slice(&[60, 15]);
        m.extend_from_slice(b"android-dhcp-11");
        m.extend_from_slice(&[12, 9]);
        m.extend_from_slice(b"Galaxy-S9");
        m.extend_from_slice(&[55, 9, 1, 3, 6, 15, 26, 28, 51, 58, 59]);
        m.extend_from_slice(&[0, 0, 255, 0, 0]); // pad, end, trailing zeros
        m
    }

    #[test]
    fn parses_android_request() {
        let d = parse(&android_request()).unwrap();
        assert_eq!(d.op, Op::BOOTREQUEST);
        assert_eq!(d.xid, 0x7e4a_f2d7);
        assert_eq!(d.chaddr, Some([0xd8, 0x30, 0x62, 0x56, 0x00, 0x1c]));
        assert_eq!(d.ciaddr, None);
        assert_eq!(d.message_type, Some(MessageType::REQUEST));
        assert_eq!(d.client_id.as_deref(), Some("01d8306256001c"));
        assert_eq!(d.requested_ip, Some(Ipv4Addr::new(192, 168, 2, 12)));
        assert_eq!(d.server_id, Some(Ipv4Addr::new(192, 168, 2, 1)));
        assert_eq!(d.vendor_class.as_deref(), Some("android-dhcp-11"));
        assert_eq!(d.hostname.as_deref(), Some("Galaxy-S9"));
        assert_eq!(d.parameter_request_list, [1, 3, 6, 15, 26, 28, 51, 58, 59]);
        assert!(!d.options_truncated);
    }

    #[test]
    fn ack_with_lease() {
        let mut m = android_request();
        m[0] = 2;
        m[16..20].copy_from_slice(&[192, 168, 2, 12]);
        m.truncate(HEADER_LEN);
        m.extend_from_slice(&[53, 1, 5, 51, 4, 0, 0, 0x0e, 0x10, 255]);
        let d = parse(&m).unwrap();
        assert_eq!(d.op, Op::BOOTREPLY);
        assert_eq!(d.message_type, Some(MessageType::ACK));
        assert_eq!(d.yiaddr, Some(Ipv4Addr::new(192, 168, 2, 12)));
        assert_eq!(d.lease_time, Some(3600));
    }

    #[test]
    fn truncated_options_keep_what_parsed() {
        let m = android_request();
        let d = parse(&m[..HEADER_LEN + 12]).unwrap();
        assert_eq!(d.message_type, Some(MessageType::REQUEST));
        assert_eq!(d.client_id.as_deref(), Some("01d8306256001c"));
        assert_eq!(d.requested_ip, None);
        assert!(d.options_truncated);
        // Missing END counts as truncated too.
        let d = parse(&m[..m.len() - 3]).unwrap();
        assert!(d.options_truncated);
    }

    #[test]
    fn plain_bootp_and_bad_headers() {
        let m = android_request();
        let d = parse(&m[..BOOTP_LEN]).unwrap();
        assert_eq!(d.message_type, None);
        assert!(!d.options_truncated);
        assert_eq!(parse(&m[..100]), Err(DhcpError::Incomplete { need: BOOTP_LEN }));
        let mut bad = m.clone();
        bad[0] = 9;
        assert!(matches!(parse(&bad), Err(DhcpError::Malformed(_))));
        let mut not_eth = m;
        not_eth[1] = 6; // IEEE 802
        assert_eq!(parse(&not_eth).unwrap().chaddr, None);
    }

    /// Real DHCP payloads (scripts/extract-dissect-fixtures.sh), including dhcp-fuzz.pcapng's
    /// deliberately broken packet: all parse without panicking, clients' requests name a MAC
    /// and a message type.
    #[test]
    fn real_captures_parse() {
        let fixture = include_str!("../../tests/fixtures/dhcp/payloads.tsv");
        let mut typed = 0;
        for line in fixture.lines() {
            let buf = unhex(line.rsplit('\t').next().unwrap());
            let d = parse(&buf).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(d.chaddr.is_some(), "{line}");
            // The fuzzed packet has a bogus message type (106) and a broken option list.
            let fuzzed = line.starts_with("negative/dhcp-fuzz");
            assert_eq!(d.options_truncated, fuzzed, "{line}");
            if fuzzed {
                continue;
            }
            assert!(d.message_type.is_some(), "{line}");
            typed += 1;
        }
        assert!(typed >= 40, "{typed}");
    }

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let fixture = include_str!("../../tests/fixtures/dhcp/payloads.tsv");
        let mut seeds: Vec<Vec<u8>> =
            fixture.lines().map(|l| unhex(l.rsplit('\t').next().unwrap())).collect();
        seeds.push(android_request());
        let mut x: u64 = 0x0bad_5eed_1234_5678;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let mut buf = seeds[i % seeds.len()].clone();
            for _ in 0..rnd() % 10 {
                // Mutate the option area mostly: that is where lengths live.
                let at = HEADER_LEN.min(buf.len() - 1) + rnd() as usize % 64;
                if at < buf.len() {
                    buf[at] = rnd() as u8;
                }
            }
            buf.truncate(rnd() as usize % (buf.len() + 1));
            if let Ok(d) = parse(&buf) {
                assert!(d.client_id.map_or(0, |c| c.len()) <= 2 * MAX_CLIENT_ID_LEN);
            }
        }
    }
}
