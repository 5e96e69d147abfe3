//! DNS message dissector (RFC 1035): question names and A/AAAA/CNAME answers.
//!
//! Only metadata leaves this module: names, types, TTLs and addresses. TXT and other rdata are
//! never copied (they can carry identifiers), they surface as [`DnsData::Other`].
//!
//! Entry points: [`parse`] for a UDP payload, [`parse_tcp`] for a TCP stream with the 2-byte
//! length prefix (RFC 1035 §4.2.2), [`looks_like_dns_response`] as a cheap port-independent
//! test, and [`resolve_addresses`] to map answered addresses back to the name the client asked.

use core::ops::Range;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bytes::{be16, be32};
use crate::record::events::{DnsAnswerAddr, DnsEvent};
use crate::record::flow::secs_us;

/// Fixed DNS header length.
pub const HEADER_LEN: usize = 12;
/// Longest name on the wire, length octets included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Compression pointers followed per name before giving up (loop protection).
pub const MAX_POINTER_JUMPS: usize = 16;
/// Questions kept in a [`DnsMessage`]; the rest are skipped.
pub const MAX_QUESTIONS: usize = 64;
/// Answers kept in a [`DnsMessage`]; parsing stops there.
pub const MAX_ANSWERS: usize = 64;
/// CNAME links followed by [`resolve_addresses`].
pub const MAX_CNAME_CHAIN: usize = 16;

/// Smallest question on the wire: root name (1) + type (2) + class (2).
const MIN_QUESTION_LEN: usize = 5;
/// Smallest resource record: root name (1) + type, class (4) + ttl (4) + rdlength (2).
const MIN_RR_LEN: usize = 11;

mod field {
    use super::Range;
    pub const ID: Range<usize> = 0..2;
    pub const FLAGS: Range<usize> = 2..4;
    pub const QDCOUNT: Range<usize> = 4..6;
    pub const ANCOUNT: Range<usize> = 6..8;
    pub const NSCOUNT: Range<usize> = 8..10;
    pub const ARCOUNT: Range<usize> = 10..12;
}

/// Why a DNS message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The buffer ends inside the message; `need` is the total length known to be required so
    /// far (for TCP, wait for more bytes; for UDP, the datagram was truncated).
    #[error("dns: incomplete message, need at least {need} bytes")]
    Incomplete {
        /// Total bytes needed, counted from the start of the buffer given.
        need: usize,
    },
    /// The bytes cannot be a DNS message.
    #[error("dns: malformed message: {0}")]
    Malformed(&'static str),
}

/// Header opcode (RFC 1035 §4.1.1); unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    /// Standard query.
    pub const QUERY: Self = Self(0);
    /// Server status request.
    pub const STATUS: Self = Self(2);
    /// Zone change notification (RFC 1996).
    pub const NOTIFY: Self = Self(4);
    /// Dynamic update (RFC 2136).
    pub const UPDATE: Self = Self(5);
}

/// Response code (RFC 1035 §4.1.1, low 4 bits); unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rcode(pub u8);

impl Rcode {
    /// No error.
    pub const NOERROR: Self = Self(0);
    /// Format error.
    pub const FORMERR: Self = Self(1);
    /// Server failure.
    pub const SERVFAIL: Self = Self(2);
    /// Name does not exist.
    pub const NXDOMAIN: Self = Self(3);
    /// Not implemented.
    pub const NOTIMP: Self = Self(4);
    /// Refused.
    pub const REFUSED: Self = Self(5);
}

/// Resource record / query type; unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RrType(pub u16);

impl RrType {
    /// IPv4 address.
    pub const A: Self = Self(1);
    /// Name server.
    pub const NS: Self = Self(2);
    /// Canonical name (alias).
    pub const CNAME: Self = Self(5);
    /// Start of authority.
    pub const SOA: Self = Self(6);
    /// Reverse pointer.
    pub const PTR: Self = Self(12);
    /// Mail exchange.
    pub const MX: Self = Self(15);
    /// Text (never kept).
    pub const TXT: Self = Self(16);
    /// IPv6 address.
    pub const AAAA: Self = Self(28);
    /// Service locator.
    pub const SRV: Self = Self(33);
    /// EDNS(0) pseudo-record.
    pub const OPT: Self = Self(41);
    /// Service binding (RFC 9460).
    pub const SVCB: Self = Self(64);
    /// HTTPS service binding (RFC 9460).
    pub const HTTPS: Self = Self(65);
}

/// Header view over a DNS message. On `Ok` from [`Dns::new_checked`], no accessor panics.
#[derive(Debug, Clone)]
pub struct Dns<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Dns<T> {
    /// Wraps `buf`, checking only that the 12-byte header is present.
    pub fn new_checked(buf: T) -> Result<Self, DnsError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(DnsError::Incomplete { need: HEADER_LEN });
        }
        Ok(Dns { buf })
    }

    fn u16_at(&self, r: Range<usize>) -> u16 {
        be16(&self.buf.as_ref()[r])
    }

    /// Transaction id.
    pub fn id(&self) -> u16 {
        self.u16_at(field::ID)
    }
    /// Raw flags word.
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }
    /// QR bit: this is a response.
    pub fn is_response(&self) -> bool {
        self.flags() & 0x8000 != 0
    }
    /// Operation code.
    pub fn opcode(&self) -> Opcode {
        Opcode(((self.flags() >> 11) & 0x0f) as u8)
    }
    /// TC bit: the UDP answer was truncated.
    pub fn is_truncated(&self) -> bool {
        self.flags() & 0x0200 != 0
    }
    /// Response code.
    pub fn rcode(&self) -> Rcode {
        Rcode((self.flags() & 0x0f) as u8)
    }
    /// Number of questions announced.
    pub fn qdcount(&self) -> u16 {
        self.u16_at(field::QDCOUNT)
    }
    /// Number of answers announced.
    pub fn ancount(&self) -> u16 {
        self.u16_at(field::ANCOUNT)
    }
    /// Number of authority records announced.
    pub fn nscount(&self) -> u16 {
        self.u16_at(field::NSCOUNT)
    }
    /// Number of additional records announced.
    pub fn arcount(&self) -> u16 {
        self.u16_at(field::ARCOUNT)
    }
}

/// Answer data kept: addresses and alias targets only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsData {
    /// IPv4 address of an A record.
    A(Ipv4Addr),
    /// IPv6 address of an AAAA record.
    Aaaa(Ipv6Addr),
    /// Target name of a CNAME record, lowercased.
    Cname(String),
    /// Any other type, or an address record of the wrong length; rdata not kept.
    Other,
}

/// One answer record (metadata only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    /// Owner name, lowercased, without trailing dot (root is "").
    pub name: String,
    /// Record type.
    pub rtype: RrType,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Kept record data.
    pub data: DnsData,
}

/// Metadata of one DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// QR bit.
    pub is_response: bool,
    /// Response code.
    pub rcode: Rcode,
    /// Up to [`MAX_QUESTIONS`] questions: lowercased name and query type.
    pub questions: Vec<(String, RrType)>,
    /// Up to [`MAX_ANSWERS`] answer records.
    pub answers: Vec<DnsAnswer>,
}

/// An address from the answers, tied to the name the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAddr {
    /// The question name (not the CNAME target the address belongs to).
    pub query: String,
    /// The answered address.
    pub addr: IpAddr,
    /// Smallest TTL along the CNAME chain and the address record: how long the mapping holds.
    pub ttl: u32,
}

/// Parses a DNS message carried in a UDP payload.
pub fn parse(buf: &[u8]) -> Result<DnsMessage, DnsError> {
    let hdr = Dns::new_checked(buf)?;
    let qd = usize::from(hdr.qdcount());
    let an = usize::from(hdr.ancount());
    // Cheap bound before any allocation: each entry needs a minimum wire size.
    let min = HEADER_LEN + qd * MIN_QUESTION_LEN + an * MIN_RR_LEN;
    if min > buf.len() {
        return Err(DnsError::Incomplete { need: min });
    }
    let mut pos = HEADER_LEN;
    let mut questions = Vec::with_capacity(qd.min(MAX_QUESTIONS));
    for _ in 0..qd {
        let mut name = String::new();
        let keep = questions.len() < MAX_QUESTIONS;
        pos = if keep { read_name(buf, pos, &mut name)? } else { skip_name(buf, pos)? };
        let qtype = RrType(be16(slice(buf, pos..pos + 4)?));
        pos += 4;
        if keep {
            questions.push((name, qtype));
        }
    }
    let mut answers = Vec::with_capacity(an.min(MAX_ANSWERS));
    for _ in 0..an.min(MAX_ANSWERS) {
        let (answer, next) = read_answer(buf, pos)?;
        answers.push(answer);
        pos = next;
    }
    Ok(DnsMessage {
        id: hdr.id(),
        is_response: hdr.is_response(),
        rcode: hdr.rcode(),
        questions,
        answers,
    })
}

/// Parses the first DNS message of a TCP stream (2-byte length prefix, RFC 1035 §4.2.2).
///
/// Returns the message and the bytes consumed (prefix included), or
/// [`DnsError::Incomplete`] while the framed message is not fully in `buf`.
pub fn parse_tcp(buf: &[u8]) -> Result<(DnsMessage, usize), DnsError> {
    let len = usize::from(be16(slice(buf, 0..2)?));
    if len < HEADER_LEN {
        return Err(DnsError::Malformed("tcp length prefix shorter than a header"));
    }
    let msg = slice(buf, 2..2 + len)?;
    let parsed = parse(msg).map_err(|e| match e {
        // The frame is complete, so a short message inside it is malformed, not pending.
        DnsError::Incomplete { .. } => DnsError::Malformed("message shorter than its records"),
        m => m,
    })?;
    Ok((parsed, 2 + len))
}

/// Cheap, port-independent test for a DNS response: QR set, opcode QUERY, 1–4 questions, a
/// plausible answer count and a first question name that parses. Allocates nothing.
pub fn looks_like_dns_response(buf: &[u8]) -> bool {
    let Ok(hdr) = Dns::new_checked(buf) else {
        return false;
    };
    if !hdr.is_response() || hdr.opcode() != Opcode::QUERY || hdr.flags() & 0x0040 != 0 {
        // The Z bit (0x0040) must be zero.
        return false;
    }
    if !(1..=4).contains(&hdr.qdcount()) || hdr.rcode().0 > 10 {
        return false;
    }
    let an = usize::from(hdr.ancount());
    // Each answer needs MIN_RR_LEN bytes; with compression a real one needs at least that.
    if HEADER_LEN + MIN_QUESTION_LEN + an * MIN_RR_LEN > buf.len() {
        return false;
    }
    match skip_name(buf, HEADER_LEN) {
        Ok(end) => end + 4 <= buf.len(),
        Err(_) => false,
    }
}

/// Maps each A/AAAA answer to the question name the client asked, following the CNAME chain from
/// that name (at most [`MAX_CNAME_CHAIN`] links). Addresses not reachable from a question are
/// dropped: a resolver should not volunteer them, and they would mislabel the address.
pub fn resolve_addresses(msg: &DnsMessage) -> Vec<ResolvedAddr> {
    let mut out = Vec::new();
    for (query, _) in &msg.questions {
        let mut cur: &str = query;
        let mut ttl = u32::MAX;
        for _ in 0..=MAX_CNAME_CHAIN {
            let mut next = None;
            for a in msg.answers.iter().filter(|a| a.name == cur) {
                let addr = match &a.data {
                    DnsData::A(v4) => IpAddr::V4(*v4),
                    DnsData::Aaaa(v6) => IpAddr::V6(*v6),
                    DnsData::Cname(target) => {
                        next.get_or_insert((target.as_str(), a.ttl));
                        continue;
                    }
                    DnsData::Other => continue,
                };
                out.push(ResolvedAddr { query: query.clone(), addr, ttl: ttl.min(a.ttl) });
            }
            match next {
                Some((target, link_ttl)) => {
                    cur = target;
                    ttl = ttl.min(link_ttl);
                }
                None => break,
            }
        }
    }
    out
}

fn read_answer(buf: &[u8], pos: usize) -> Result<(DnsAnswer, usize), DnsError> {
    let mut name = String::new();
    let pos = read_name(buf, pos, &mut name)?;
    let fixed = slice(buf, pos..pos + 10)?;
    let rtype = RrType(be16(&fixed[0..2]));
    let ttl = be32(&fixed[4..8]);
    let rdlen = usize::from(be16(&fixed[8..10]));
    let rd_start = pos + 10;
    let rdata = slice(buf, rd_start..rd_start + rdlen)?;
    let data = match rtype {
        RrType::A => <[u8; 4]>::try_from(rdata).map_or(DnsData::Other, |b| DnsData::A(b.into())),
        RrType::AAAA => {
            <[u8; 16]>::try_from(rdata).map_or(DnsData::Other, |b| DnsData::Aaaa(b.into()))
        }
        RrType::CNAME => {
            let mut target = String::new();
            // The target may point anywhere earlier in the message, so read from `buf`; its
            // own bytes must stay inside the rdata.
            if read_name(buf, rd_start, &mut target)? > rd_start + rdlen {
                return Err(DnsError::Malformed("cname target overruns its record"));
            }
            DnsData::Cname(target)
        }
        _ => DnsData::Other,
    };
    let answer = DnsAnswer { name, rtype, ttl, data };
    Ok((answer, rd_start + rdlen))
}

/// Reads a possibly compressed name at `pos` into `out` (lowercased, `\DDD` escapes for bytes
/// that are not printable ASCII, dots inside labels escaped). Returns the offset after the name
/// in the original position (after the first pointer, if any).
fn read_name(buf: &[u8], pos: usize, out: &mut String) -> Result<usize, DnsError> {
    walk_name(buf, pos, |label| {
        if !out.is_empty() {
            out.push('.');
        }
        for &b in label {
            push_name_byte(out, b);
        }
    })
}

/// Validates a name at `pos` without allocating; returns the offset after it.
fn skip_name(buf: &[u8], pos: usize) -> Result<usize, DnsError> {
    walk_name(buf, pos, |_| {})
}

fn push_name_byte(out: &mut String, b: u8) {
    match b {
        b'.' | b'\\' => {
            out.push('\\');
            out.push(char::from(b));
        }
        b'!'..=b'~' => out.push(char::from(b.to_ascii_lowercase())),
        _ => {
            out.push('\\');
            out.push(char::from(b'0' + b / 100));
            out.push(char::from(b'0' + b / 10 % 10));
            out.push(char::from(b'0' + b % 10));
        }
    }
}

/// Walks the labels of the name at `pos`, calling `on_label` for each non-root label.
///
/// Loop protection: at most [`MAX_POINTER_JUMPS`] pointers, each pointing strictly backwards
/// of the label that holds it, and at most [`MAX_NAME_LEN`] wire bytes in total.
fn walk_name(
    buf: &[u8],
    mut pos: usize,
    mut on_label: impl FnMut(&[u8]),
) -> Result<usize, DnsError> {
    let mut end = None;
    let mut jumps = 0;
    let mut wire_len = 0;
    loop {
        let len = *buf.get(pos).ok_or(DnsError::Incomplete { need: pos + 1 })?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok(end.unwrap_or(pos + 1));
            }
            0x00 => {
                let label = slice(buf, pos + 1..pos + 1 + usize::from(len))?;
                wire_len += 1 + label.len();
                if wire_len + 1 > MAX_NAME_LEN {
                    return Err(DnsError::Malformed("name longer than 255 bytes"));
                }
                on_label(label);
                pos += 1 + label.len();
            }
            0xc0 => {
                let ptr = slice(buf, pos..pos + 2)?;
                let target = usize::from(be16(ptr) & 0x3fff);
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::Malformed("too many compression pointers"));
                }
                if target >= pos {
                    return Err(DnsError::Malformed("compression pointer does not point back"));
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(DnsError::Malformed("reserved label type")),
        }
    }
}

fn slice(buf: &[u8], r: Range<usize>) -> Result<&[u8], DnsError> {
    buf.get(r.clone()).ok_or(DnsError::Incomplete { need: r.end })
}

impl DnsEvent {
    /// Builds the event from a parsed response.
    pub fn new(ts_nanos: i64, uid: String, client: IpAddr, server: IpAddr, m: &DnsMessage) -> Self {
        let (query, qtype) = m.questions.first().map(|(n, t)| (n.clone(), t.0)).unwrap_or_default();
        let mut answers = Vec::new();
        let mut cnames = Vec::new();
        for a in &m.answers {
            match &a.data {
                DnsData::A(v4) => answers.push(DnsAnswerAddr { addr: IpAddr::V4(*v4), ttl: a.ttl }),
                DnsData::Aaaa(v6) => {
                    answers.push(DnsAnswerAddr { addr: IpAddr::V6(*v6), ttl: a.ttl })
                }
                DnsData::Cname(t) => cnames.push(t.clone()),
                DnsData::Other => {}
            }
        }
        DnsEvent {
            ts: secs_us(ts_nanos),
            uid,
            client,
            server,
            query,
            qtype,
            rcode: m.rcode.0,
            answers,
            cnames,
            app: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::bytes::unhex;

    /// Response for `WWW.WhatsApp.com` A: CNAME to mmx-ds.cdn.whatsapp.net (compressed), then an
    /// A record on the CNAME target.
    fn whatsapp_response() -> Vec<u8> {
        let mut m = vec![
            0x12, 0x34, // id
            0x81, 0x80, // QR, RD, RA, NOERROR
            0x00, 0x01, // qdcount
            0x00, 0x02, // ancount
            0x00, 0x00, 0x00, 0x00, // nscount, arcount
        ];
        // question at offset 12: 3www 8whatsapp 3com 0, A IN
        m.extend_from_slice(b"\x03WWW\x08WhatsApp\x03com\x00\x00\x01\x00\x01");
        // answer 1: name -> ptr 12, CNAME IN ttl 300
        m.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0, 0, 0x01, 0x2c]);
        // rdata: 6mmx-ds 3cdn 8whatsapp 3net 0 = 1+6+1+3+1+8+1+3+1 = 25 bytes
        m.extend_from_slice(&[0x00, 25]);
        let target_at = m.len();
        m.extend_from_slice(b"\x06mmx-ds\x03cdn\x08whatsapp\x03net\x00");
        // answer 2: name -> ptr to target, A IN ttl 60, 157.240.1.53
        m.extend_from_slice(&[0xc0, target_at as u8, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 60]);
        m.extend_from_slice(&[0x00, 0x04, 157, 240, 1, 53]);
        m
    }

    #[test]
    fn parses_compressed_cname_chain() {
        let m = parse(&whatsapp_response()).unwrap();
        assert_eq!(m.id, 0x1234);
        assert!(m.is_response);
        assert_eq!(m.rcode, Rcode::NOERROR);
        assert_eq!(m.questions, vec![("www.whatsapp.com".into(), RrType::A)]);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].name, "www.whatsapp.com");
        assert_eq!(m.answers[0].data, DnsData::Cname("mmx-ds.cdn.whatsapp.net".into()));
        assert_eq!(m.answers[1].name, "mmx-ds.cdn.whatsapp.net");
        assert_eq!(m.answers[1].ttl, 60);
        assert_eq!(m.answers[1].data, DnsData::A(Ipv4Addr::new(157, 240, 1, 53)));
        assert!(looks_like_dns_response(&whatsapp_response()));
    }

    #[test]
    fn resolves_address_to_question_name_with_min_ttl() {
        let m = parse(&whatsapp_response()).unwrap();
        let r = resolve_addresses(&m);
        assert_eq!(
            r,
            vec![ResolvedAddr {
                query: "www.whatsapp.com".into(),
                addr: IpAddr::V4(Ipv4Addr::new(157, 240, 1, 53)),
                ttl: 60,
            }]
        );
    }

    #[test]
    fn unsolicited_addresses_are_not_attributed() {
        let mut m = parse(&whatsapp_response()).unwrap();
        m.answers[1].name = "evil.example".into();
        assert!(resolve_addresses(&m).is_empty());
    }

    #[test]
    fn cname_loop_terminates() {
        let cname = |from: &str, to: &str| DnsAnswer {
            name: from.into(),
            rtype: RrType::CNAME,
            ttl: 5,
            data: DnsData::Cname(to.into()),
        };
        let m = DnsMessage {
            id: 0,
            is_response: true,
            rcode: Rcode::NOERROR,
            questions: vec![("a".into(), RrType::A)],
            answers: vec![cname("a", "b"), cname("b", "a")],
        };
        assert!(resolve_addresses(&m).is_empty());
    }

    #[test]
    fn aaaa_and_txt_rdata_not_kept() {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01x\x00\x00\x1c\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 9, 0, 16]);
        m.extend_from_slice(&[0x2a, 0x03, 0x28, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 9, 0, 4]);
        m.extend_from_slice(b"\x03uid");
        let p = parse(&m).unwrap();
        assert_eq!(p.answers[0].data, DnsData::Aaaa("2a03:2880::1".parse().unwrap()));
        assert_eq!(p.answers[1].rtype, RrType::TXT);
        assert_eq!(p.answers[1].data, DnsData::Other);
    }

    #[test]
    fn pointer_loop_is_malformed() {
        // question name is a pointer to itself
        let m = [0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        assert_eq!(parse(&m), Err(DnsError::Malformed("compression pointer does not point back")));
        assert!(!looks_like_dns_response(&m));
    }

    #[test]
    fn cname_target_must_fit_its_rdata() {
        let mut m = whatsapp_response();
        let rdlen_at = 12 + 22 + 10 + 1; // header, question, answer fixed part, rdlength low byte
        assert_eq!(m[rdlen_at], 25);
        m[rdlen_at] = 3;
        assert!(matches!(parse(&m), Err(DnsError::Malformed(_))));
    }

    #[test]
    fn overlong_name_is_malformed() {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse(&m), Err(DnsError::Malformed("name longer than 255 bytes")));
    }

    #[test]
    fn odd_bytes_are_escaped_and_lowercased() {
        let m = [0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'A', b'.', 0xff, 0, 0, 1, 0, 1];
        let p = parse(&m).unwrap();
        assert!(!p.is_response);
        assert_eq!(p.questions[0].0, "a\\.\\255");
    }

    #[test]
    fn truncations_are_incomplete_and_tcp_framing() {
        let m = whatsapp_response();
        for cut in 0..m.len() {
            assert!(matches!(parse(&m[..cut]), Err(DnsError::Incomplete { .. })), "cut at {cut}");
        }
        let mut framed = (m.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&m);
        framed.extend_from_slice(&[0, 12]); // start of the next message
        let (p, used) = parse_tcp(&framed).unwrap();
        assert_eq!(used, m.len() + 2);
        assert_eq!(p.questions.len(), 1);
        assert_eq!(parse_tcp(&framed[..10]), Err(DnsError::Incomplete { need: m.len() + 2 }));
    }

    #[test]
    fn heuristic_rejects_queries_and_noise() {
        let mut q = whatsapp_response();
        q[2] &= 0x7f; // clear QR
        assert!(!looks_like_dns_response(&q));
        assert!(!looks_like_dns_response(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!looks_like_dns_response(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0
        ]));
        let mut many = whatsapp_response();
        many[7] = 200; // 200 answers cannot fit
        assert!(!looks_like_dns_response(&many));
    }

    #[test]
    fn huge_counts_do_not_allocate_or_panic() {
        let m = [0, 1, 0x81, 0x80, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0];
        assert!(matches!(parse(&m), Err(DnsError::Incomplete { .. })));
    }

    /// Port-53 payloads from the nDPI captures (scripts/extract-dissect-fixtures.sh): every one
    /// parses, every response passes the heuristic, no query does.
    #[test]
    fn real_captures_parse() {
        let fixture = include_str!("../../tests/fixtures/dns/payloads.tsv");
        let mut responses_with_addr = 0;
        for line in fixture.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let (capture, buf) = (cols[0], unhex(cols[cols.len() - 1]));
            let m = parse(&buf).unwrap_or_else(|e| panic!("{capture}: {e}: {line}"));
            assert_eq!(looks_like_dns_response(&buf), m.is_response, "{capture}: {line}");
            assert!(!m.questions.is_empty(), "{capture}");
            if !resolve_addresses(&m).is_empty() {
                responses_with_addr += 1;
            }
        }
        assert!(responses_with_addr >= 20, "{responses_with_addr}");
    }

    /// STUN, RTP and other non-DNS UDP payloads must not pass the DNS response heuristic.
    #[test]
    fn heuristic_rejects_real_non_dns_udp() {
        let fixture = include_str!("../../tests/fixtures/stun/udp_payloads.tsv");
        for line in fixture.lines() {
            let hex = line.rsplit('\t').next().unwrap_or_default();
            assert!(!looks_like_dns_response(&unhex(hex)), "{line}");
        }
    }

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let seed = whatsapp_response();
        for _ in 0..20_000 {
            let mut buf = seed.clone();
            for _ in 0..rng.below(6) {
                let i = rng.below(buf.len());
                buf[i] = rng.next() as u8;
            }
            buf.truncate(rng.below(buf.len() + 1));
            let _ = parse(&buf);
            let _ = parse_tcp(&buf);
            let _ = looks_like_dns_response(&buf);
            if let Ok(m) = parse(&buf) {
                let _ = resolve_addresses(&m);
            }
            let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            let _ = parse(&noise);
            let _ = looks_like_dns_response(&noise);
        }
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            if n == 0 { 0 } else { (self.next() % n as u64) as usize }
        }
    }
}
