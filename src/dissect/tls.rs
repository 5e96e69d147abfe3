//! TLS ClientHello parser (metadata only).
//!
//! Two entry points:
//! - [`parse_client_hello_records`]: the client's first bytes on a TCP stream (TLS *records*),
//!   reassembled in order by the caller. The ClientHello may be fragmented over several records
//!   and those records over several TCP segments.
//! - [`parse_client_hello_handshake`]: a raw handshake-message stream without a record layer, as
//!   carried in QUIC CRYPTO frames.
//!
//! The parser never panics, reads every length once and bounds every list it keeps, so a hostile
//! hello cannot make it allocate more than a few KiB.

use thiserror::Error;

use super::bytes::ByteReader;

/// Maximum entries kept per list (ciphers, extensions, groups, ...). Beyond it the list is
/// truncated and [`ClientHello::truncated`] is set: a real client sends far fewer.
pub const MAX_LIST_ENTRIES: usize = 512;
/// Maximum ALPN protocol names kept.
pub const MAX_ALPN_ENTRIES: usize = 16;
/// Largest ClientHello body we accept. Real ones are < 2 KiB (≈ 8 KiB with big PQ key shares);
/// anything larger is treated as malformed so callers can bound their buffers.
pub const MAX_HELLO_LEN: usize = 32 * 1024;
/// Longest SNI we keep (DNS names are ≤ 253 characters).
const MAX_SNI_LEN: usize = 255;

/// Why a ClientHello could not (yet) be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The input is a plausible prefix: at least `need` more bytes are required. The caller keeps
    /// buffering (up to its own bound) and retries.
    #[error("incomplete ClientHello: need at least {need} more byte(s)")]
    Incomplete {
        /// Lower bound of additional bytes needed before a retry can make progress.
        need: usize,
    },
    /// The first bytes are not a TLS handshake record: the caller should stop trying.
    #[error("not TLS")]
    NotTls,
    /// TLS framing was recognised but the content is inconsistent.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// TLS record content type (RFC 8446 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType(pub u8);

impl ContentType {
    /// `handshake(22)`.
    pub const HANDSHAKE: Self = Self(22);
}

/// TLS handshake message type (RFC 8446 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeType(pub u8);

impl HandshakeType {
    /// `client_hello(1)`.
    pub const CLIENT_HELLO: Self = Self(1);
}

/// TLS extension type (IANA "TLS ExtensionType Values").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionType(pub u16);

impl ExtensionType {
    /// server_name (RFC 6066).
    pub const SERVER_NAME: Self = Self(0x0000);
    /// supported_groups (RFC 8422, formerly elliptic_curves).
    pub const SUPPORTED_GROUPS: Self = Self(0x000a);
    /// ec_point_formats (RFC 8422).
    pub const EC_POINT_FORMATS: Self = Self(0x000b);
    /// signature_algorithms (RFC 8446).
    pub const SIGNATURE_ALGORITHMS: Self = Self(0x000d);
    /// application_layer_protocol_negotiation (RFC 7301).
    pub const ALPN: Self = Self(0x0010);
    /// supported_versions (RFC 8446).
    pub const SUPPORTED_VERSIONS: Self = Self(0x002b);
}

/// True for the reserved GREASE values 0x?a?a (RFC 8701), used for ciphers, extensions, groups,
/// versions and signature algorithms alike.
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Metadata of one ClientHello. Owned and small: no payload, no key shares, no random.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientHello {
    /// Version in the first record header (0 when parsed without a record layer, e.g. QUIC).
    pub record_version: u16,
    /// `legacy_version` of the hello (0x0303 for TLS 1.2 and 1.3).
    pub legacy_version: u16,
    /// First `host_name` of the server_name extension, if it is a plausible hostname.
    pub sni: Option<String>,
    /// The server_name extension was present but its host name was empty, too long or held
    /// characters outside `[A-Za-z0-9._*-]`; [`Self::sni`] is then `None`.
    pub sni_invalid: bool,
    /// ALPN protocol names in wire order (non-printable bytes replaced by `?`).
    pub alpn: Vec<String>,
    /// Raw first and last byte of the first ALPN name (for JA4, which needs the raw bytes).
    pub alpn_first_edges: Option<(u8, u8)>,
    /// supported_versions entries in wire order (GREASE included).
    pub supported_versions: Vec<u16>,
    /// Cipher suites in wire order (GREASE included).
    pub cipher_suites: Vec<u16>,
    /// Extension types in wire order (GREASE included).
    pub extensions: Vec<u16>,
    /// signature_algorithms entries in wire order.
    pub signature_algorithms: Vec<u16>,
    /// supported_groups entries in wire order.
    pub supported_groups: Vec<u16>,
    /// ec_point_formats entries in wire order.
    pub ec_point_formats: Vec<u8>,
    /// Some list exceeded [`MAX_LIST_ENTRIES`] / [`MAX_ALPN_ENTRIES`] and was cut.
    pub truncated: bool,
    /// An SSLv2-format hello's cipher specs (3 bytes each) in wire order; empty for TLS.
    /// [`Self::cipher_suites`] holds those of them that are TLS suites (first byte 0).
    pub sslv2_cipher_specs: Vec<u32>,
}

/// [`ClientHello::record_version`] of a hello in the SSLv2 record format.
pub const SSLV2_RECORD: u16 = 0x0002;

impl ClientHello {
    /// True if the hello carries the server_name extension (valid or not).
    pub fn has_sni_extension(&self) -> bool {
        self.extensions.contains(&ExtensionType::SERVER_NAME.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Bounds-checked cursor: every read returns a Result, so no accessor can panic.

/// The shared [`ByteReader`], with each read labelled by what it reads: a short read is
/// `ParseError::Malformed(what)`.
#[derive(Clone, Copy)]
struct Reader<'a>(ByteReader<'a>);

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self(ByteReader::new(buf))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.0.rest()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        self.0.take(n).ok_or(ParseError::Malformed(what))
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        self.0.u8().ok_or(ParseError::Malformed(what))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        self.0.u16().ok_or(ParseError::Malformed(what))
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self, what: &'static str) -> Result<Reader<'a>, ParseError> {
        let len = usize::from(self.u8(what)?);
        Ok(Reader::new(self.take(len, what)?))
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self, what: &'static str) -> Result<Reader<'a>, ParseError> {
        let len = usize::from(self.u16(what)?);
        Ok(Reader::new(self.take(len, what)?))
    }
}

/// Reads a list of big-endian u16 values (the whole reader), keeping at most
/// [`MAX_LIST_ENTRIES`]. Returns whether the list was truncated.
fn read_u16_list(
    mut r: Reader<'_>,
    out: &mut Vec<u16>,
    what: &'static str,
) -> Result<bool, ParseError> {
    if !r.rest().len().is_multiple_of(2) {
        return Err(ParseError::Malformed(what));
    }
    let total = r.rest().len() / 2;
    out.reserve(total.min(MAX_LIST_ENTRIES));
    while !r.is_empty() && out.len() < MAX_LIST_ENTRIES {
        out.push(r.u16(what)?);
    }
    Ok(total > MAX_LIST_ENTRIES)
}

// ---------------------------------------------------------------------------------------------
// Record layer.

/// Fixed 5-byte TLS record header, decoded once.
#[derive(Debug, Clone, Copy)]
struct RecordHeader {
    content_type: ContentType,
    version: u16,
    length: usize,
}

impl RecordHeader {
    const LEN: usize = 5;
    const OFF_TYPE: usize = 0;
    const OFF_VERSION: usize = 1;
    const OFF_LENGTH: usize = 3;
    /// RFC 8446 §5.1: plaintext fragments are at most 2^14 bytes.
    const MAX_FRAGMENT: usize = 1 << 14;

    /// Decodes the header at the start of `buf`, checking that it looks like TLS.
    fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let Some(raw) = buf.first_chunk::<{ Self::LEN }>() else {
            // Judge the bytes we have so a non-TLS stream is rejected early.
            Self::check_prefix(buf)?;
            return Err(ParseError::Incomplete { need: Self::LEN - buf.len() });
        };
        Self::check_prefix(raw)?;
        let version = u16::from_be_bytes([raw[Self::OFF_VERSION], raw[Self::OFF_VERSION + 1]]);
        let length =
            usize::from(u16::from_be_bytes([raw[Self::OFF_LENGTH], raw[Self::OFF_LENGTH + 1]]));
        if length == 0 || length > Self::MAX_FRAGMENT + 2048 {
            return Err(ParseError::NotTls);
        }
        Ok(Self { content_type: ContentType(raw[Self::OFF_TYPE]), version, length })
    }

    /// Checks the bytes present of (type, major version, minor version).
    fn check_prefix(buf: &[u8]) -> Result<(), ParseError> {
        let ok = match *buf {
            [] => true,
            [t] => t == ContentType::HANDSHAKE.0,
            [t, major] => t == ContentType::HANDSHAKE.0 && major == 3,
            [t, major, minor, ..] => t == ContentType::HANDSHAKE.0 && major == 3 && minor <= 4,
        };
        if ok { Ok(()) } else { Err(ParseError::NotTls) }
    }
}

/// Handshake message header (type + 24-bit length).
const HANDSHAKE_HEADER_LEN: usize = 4;

/// Decodes a handshake header from its 4 bytes; checks it is a ClientHello of sane size.
fn client_hello_len(hdr: [u8; HANDSHAKE_HEADER_LEN]) -> Result<usize, ParseError> {
    let [msg_type, l0, l1, l2] = hdr;
    if HandshakeType(msg_type) != HandshakeType::CLIENT_HELLO {
        return Err(ParseError::Malformed("first handshake message is not a ClientHello"));
    }
    let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
    if len > MAX_HELLO_LEN {
        return Err(ParseError::Malformed("ClientHello too large"));
    }
    Ok(len)
}

/// Parses a ClientHello from the start of a TLS record stream (TCP payload, in order).
///
/// The hello may span several handshake records; only the common single-record case is parsed
/// without copying (fragmented hellos are gathered into one bounded buffer).
pub fn parse_client_hello_records(buf: &[u8]) -> Result<ClientHello, ParseError> {
    if buf.first().is_some_and(|&b| b & 0x80 != 0) {
        return parse_sslv2_hello(buf);
    }
    let first = RecordHeader::parse(buf)?;
    if first.content_type != ContentType::HANDSHAKE {
        return Err(ParseError::NotTls);
    }
    let fragment = buf.get(RecordHeader::LEN..).unwrap_or_default();
    let fragment = &fragment[..fragment.len().min(first.length)];

    // Fast path: the whole handshake message lies in the first record.
    if let Some(hdr) = fragment.first_chunk::<HANDSHAKE_HEADER_LEN>() {
        let body_len = client_hello_len(*hdr)?;
        let total = HANDSHAKE_HEADER_LEN + body_len;
        if total <= first.length {
            let Some(msg) = fragment.get(..total) else {
                return Err(ParseError::Incomplete { need: total - fragment.len() });
            };
            return finish(msg, first.version);
        }
    } else if fragment.len() < first.length {
        return Err(ParseError::Incomplete { need: first.length - fragment.len() });
    }
    let msg = gather_fragments(buf)?;
    finish(&msg, first.version)
}

/// Parses the ClientHello body after its handshake header was gathered into `msg`.
fn finish(msg: &[u8], record_version: u16) -> Result<ClientHello, ParseError> {
    let mut ch = parse_client_hello_handshake(msg)?;
    ch.record_version = record_version;
    Ok(ch)
}

/// Concatenates the handshake fragments of consecutive handshake records until the full
/// ClientHello message is present (bounded by [`MAX_HELLO_LEN`]).
fn gather_fragments(mut buf: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut msg: Vec<u8> = Vec::new();
    let mut want: Option<usize> = None;
    loop {
        let hdr = RecordHeader::parse(buf)?;
        if hdr.content_type != ContentType::HANDSHAKE {
            return Err(ParseError::Malformed("non-handshake record inside ClientHello"));
        }
        let rest = buf.get(RecordHeader::LEN..).unwrap_or_default();
        let Some(fragment) = rest.get(..hdr.length) else {
            return Err(ParseError::Incomplete { need: hdr.length - rest.len() });
        };
        let limit = want.unwrap_or(HANDSHAKE_HEADER_LEN + MAX_HELLO_LEN);
        let room = limit.saturating_sub(msg.len());
        msg.extend_from_slice(&fragment[..fragment.len().min(room)]);
        if want.is_none()
            && let Some(h) = msg.first_chunk::<HANDSHAKE_HEADER_LEN>()
        {
            want = Some(HANDSHAKE_HEADER_LEN + client_hello_len(*h)?);
        }
        if let Some(total) = want
            && msg.len() >= total
        {
            msg.truncate(total);
            return Ok(msg);
        }
        buf = rest.get(hdr.length..).unwrap_or_default();
        if buf.is_empty() {
            let missing = want.map_or(1, |t| t - msg.len());
            return Err(ParseError::Incomplete { need: RecordHeader::LEN + missing });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SSLv2-format ClientHello (old clients; a v3-capable client may still open with it to reach
// SSLv2 servers). Two-byte header with the high bit set, then (SSL 2.0 spec, RFC 6101 app. E.1):
// msg_type(1) = 1, version(2), cipher_specs_length(2), session_id_length(2), challenge_length(2),
// cipher_specs (3 bytes each), session_id, challenge. No extensions, hence no SNI.

const SSLV2_HEADER_LEN: usize = 2;
const SSLV2_FIXED_LEN: usize = 9;

/// Parses an SSLv2-format ClientHello at the start of the client's bytes.
fn parse_sslv2_hello(buf: &[u8]) -> Result<ClientHello, ParseError> {
    // Judge the bytes present so other protocols are refused early: type, then version.
    let plausible = match *buf {
        [_, _, t, ..] if t != HandshakeType::CLIENT_HELLO.0 => false,
        [_, _, _, major, ..] if major != 0 && major != 3 => false,
        [_, _, _, 0, minor, ..] => minor == 2,
        [_, _, _, 3, minor, ..] => minor <= 3,
        _ => true,
    };
    if !plausible {
        return Err(ParseError::NotTls);
    }
    let Some(&[h0, h1]) = buf.first_chunk::<SSLV2_HEADER_LEN>() else {
        return Err(ParseError::Incomplete {
            need: SSLV2_HEADER_LEN + SSLV2_FIXED_LEN - buf.len(),
        });
    };
    let len = usize::from(h0 & 0x7f) << 8 | usize::from(h1);
    if len < SSLV2_FIXED_LEN {
        return Err(ParseError::NotTls);
    }
    let rest = &buf[SSLV2_HEADER_LEN..];
    let Some(msg) = rest.get(..len) else {
        if rest.len() >= SSLV2_FIXED_LEN {
            check_sslv2_lengths(rest, len)?;
        }
        return Err(ParseError::Incomplete { need: len - rest.len() });
    };
    let (specs_len, sid_len, challenge_len) = check_sslv2_lengths(msg, len)?;
    let mut r = Reader::new(&msg[SSLV2_FIXED_LEN..]);
    let specs = r.take(specs_len, "cipher specs")?;
    r.take(sid_len + challenge_len, "session id and challenge")?;
    let mut ch = ClientHello {
        record_version: SSLV2_RECORD,
        legacy_version: u16::from_be_bytes([msg[1], msg[2]]),
        ..ClientHello::default()
    };
    let total = specs.len() / 3;
    for spec in specs.chunks_exact(3).take(MAX_LIST_ENTRIES) {
        let v = u32::from(spec[0]) << 16 | u32::from(spec[1]) << 8 | u32::from(spec[2]);
        ch.sslv2_cipher_specs.push(v);
        if spec[0] == 0 {
            ch.cipher_suites.push(u16::from_be_bytes([spec[1], spec[2]]));
        }
    }
    ch.truncated = total > MAX_LIST_ENTRIES;
    Ok(ch)
}

/// Checks the three lengths of an SSLv2 hello (whose first [`SSLV2_FIXED_LEN`] bytes are in
/// `msg`) against the message length `len`.
fn check_sslv2_lengths(msg: &[u8], len: usize) -> Result<(usize, usize, usize), ParseError> {
    // A message shorter than its fixed fields (a header announcing 0..8 bytes) is not a hello.
    let Some(fixed) = msg.first_chunk::<SSLV2_FIXED_LEN>() else { return Err(ParseError::NotTls) };
    let at = |i: usize| usize::from(u16::from_be_bytes([fixed[i], fixed[i + 1]]));
    let (specs, sid, challenge) = (at(3), at(5), at(7));
    let ok = specs > 0
        && specs.is_multiple_of(3)
        && (sid == 0 || sid == 16)
        && (16..=32).contains(&challenge)
        && SSLV2_FIXED_LEN + specs + sid + challenge == len;
    if ok { Ok((specs, sid, challenge)) } else { Err(ParseError::NotTls) }
}

// ---------------------------------------------------------------------------------------------
// Handshake layer.

/// Parses a ClientHello from the start of a handshake message stream (no record layer), e.g.
/// reassembled QUIC CRYPTO data. [`ClientHello::record_version`] is 0.
pub fn parse_client_hello_handshake(buf: &[u8]) -> Result<ClientHello, ParseError> {
    let Some(hdr) = buf.first_chunk::<HANDSHAKE_HEADER_LEN>() else {
        if buf.first().is_some_and(|&t| t != HandshakeType::CLIENT_HELLO.0) {
            return Err(ParseError::Malformed("first handshake message is not a ClientHello"));
        }
        return Err(ParseError::Incomplete { need: HANDSHAKE_HEADER_LEN - buf.len() });
    };
    let body_len = client_hello_len(*hdr)?;
    let rest = buf.get(HANDSHAKE_HEADER_LEN..).unwrap_or_default();
    let Some(body) = rest.get(..body_len) else {
        return Err(ParseError::Incomplete { need: body_len - rest.len() });
    };
    parse_body(body)
}

// ---------------------------------------------------------------------------------------------
// DTLS (RFC 6347 §4.1, §4.2.2; RFC 9147 keeps the same plaintext ClientHello framing).

/// DTLS record header: type, version, epoch, 48-bit sequence number, length.
const DTLS_RECORD_HEADER_LEN: usize = 13;
/// DTLS handshake header: type, length, message_seq, fragment_offset, fragment_length.
const DTLS_HANDSHAKE_HEADER_LEN: usize = 12;

fn u24(b: &[u8]) -> usize {
    b.iter().take(3).fold(0, |n, &x| n << 8 | usize::from(x))
}

/// Whether a datagram starts like a DTLS handshake record of epoch 0 (a plaintext hello).
pub fn looks_like_dtls_handshake(d: &[u8]) -> bool {
    d.len() > DTLS_RECORD_HEADER_LEN + DTLS_HANDSHAKE_HEADER_LEN
        && d[0] == ContentType::HANDSHAKE.0
        && matches!(u16::from_be_bytes([d[1], d[2]]), 0xfeff | 0xfefd | 0xfefc)
        && d[3..5] == [0, 0]
}

/// Parses a ClientHello carried whole in the first record of a DTLS datagram. A hello split
/// over several handshake fragments (rare: only very large hellos) is not reassembled.
pub fn parse_dtls_client_hello(datagram: &[u8]) -> Result<ClientHello, ParseError> {
    if !looks_like_dtls_handshake(datagram) {
        return Err(ParseError::NotTls);
    }
    let record_version = u16::from_be_bytes([datagram[1], datagram[2]]);
    let record_len = usize::from(u16::from_be_bytes([datagram[11], datagram[12]]));
    let record = &datagram[DTLS_RECORD_HEADER_LEN..];
    let record = record.get(..record_len).ok_or(ParseError::Malformed("DTLS record truncated"))?;
    let Some(hdr) = record.first_chunk::<DTLS_HANDSHAKE_HEADER_LEN>() else {
        return Err(ParseError::Malformed("DTLS handshake header truncated"));
    };
    if HandshakeType(hdr[0]) != HandshakeType::CLIENT_HELLO {
        return Err(ParseError::Malformed("first handshake message is not a ClientHello"));
    }
    let (len, offset, fragment) = (u24(&hdr[1..4]), u24(&hdr[6..9]), u24(&hdr[9..12]));
    if len > MAX_HELLO_LEN {
        return Err(ParseError::Malformed("ClientHello too large"));
    }
    if offset != 0 || fragment != len {
        return Err(ParseError::Malformed("fragmented DTLS ClientHello"));
    }
    let body = record[DTLS_HANDSHAKE_HEADER_LEN..]
        .get(..len)
        .ok_or(ParseError::Malformed("DTLS ClientHello truncated"))?;
    let mut ch = parse_body_of(body, true)?;
    ch.record_version = record_version;
    Ok(ch)
}

/// Parses the ClientHello body (RFC 8446 §4.1.2), which is complete at this point: any
/// shortfall inside it is malformation, not incompleteness.
fn parse_body(body: &[u8]) -> Result<ClientHello, ParseError> {
    parse_body_of(body, false)
}

/// [`parse_body`] for TLS or, with `dtls`, DTLS (a cookie follows the session id).
fn parse_body_of(body: &[u8], dtls: bool) -> Result<ClientHello, ParseError> {
    let mut r = Reader::new(body);
    let mut ch = ClientHello { legacy_version: r.u16("legacy_version")?, ..ClientHello::default() };
    r.take(32, "random")?;
    let session_id = r.vec8("session_id")?;
    if session_id.rest().len() > 32 {
        return Err(ParseError::Malformed("session_id longer than 32"));
    }
    if dtls {
        r.vec8("cookie")?;
    }
    let ciphers = r.vec16("cipher_suites")?;
    ch.truncated |= read_u16_list(ciphers, &mut ch.cipher_suites, "cipher_suites")?;
    r.vec8("compression_methods")?;
    if r.is_empty() {
        return Ok(ch); // Extensions are optional before TLS 1.3.
    }
    let mut exts = r.vec16("extensions")?;
    while !exts.is_empty() {
        let ext_type = exts.u16("extension type")?;
        let data = exts.vec16("extension data")?;
        if ch.extensions.len() < MAX_LIST_ENTRIES {
            ch.extensions.push(ext_type);
        } else {
            ch.truncated = true;
        }
        parse_extension(&mut ch, ExtensionType(ext_type), data)?;
    }
    Ok(ch)
}

/// Decodes the extensions we keep; others are only recorded by type.
fn parse_extension(
    ch: &mut ClientHello,
    ext: ExtensionType,
    mut data: Reader<'_>,
) -> Result<(), ParseError> {
    match ext {
        ExtensionType::SERVER_NAME if ch.sni.is_none() && !ch.sni_invalid => {
            parse_server_name(ch, data)?;
        }
        ExtensionType::ALPN if ch.alpn.is_empty() => parse_alpn(ch, data.vec16("alpn list")?)?,
        ExtensionType::SUPPORTED_VERSIONS => {
            let list = data.vec8("supported_versions")?;
            ch.truncated |= read_u16_list(list, &mut ch.supported_versions, "supported_versions")?;
        }
        ExtensionType::SIGNATURE_ALGORITHMS => {
            let list = data.vec16("signature_algorithms")?;
            let t = read_u16_list(list, &mut ch.signature_algorithms, "signature_algorithms")?;
            ch.truncated |= t;
        }
        ExtensionType::SUPPORTED_GROUPS => {
            let list = data.vec16("supported_groups")?;
            ch.truncated |= read_u16_list(list, &mut ch.supported_groups, "supported_groups")?;
        }
        ExtensionType::EC_POINT_FORMATS => {
            let list = data.vec8("ec_point_formats")?;
            // A u8 length bounds this list to 255 entries.
            ch.ec_point_formats.extend_from_slice(list.rest());
        }
        _ => {}
    }
    Ok(())
}

/// server_name: keeps the first `host_name` entry if it is a plausible hostname.
fn parse_server_name(ch: &mut ClientHello, mut data: Reader<'_>) -> Result<(), ParseError> {
    let mut list = data.vec16("server_name list")?;
    while !list.is_empty() {
        let name_type = list.u8("server_name type")?;
        let name = list.vec16("server_name")?;
        if name_type == 0 {
            match valid_hostname(name.rest()) {
                Some(host) => ch.sni = Some(host.to_owned()),
                None => ch.sni_invalid = true,
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Returns the name as `&str` if it is 1..=255 printable hostname characters.
pub(crate) fn valid_hostname(name: &[u8]) -> Option<&str> {
    let ok_char = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*');
    if name.is_empty() || name.len() > MAX_SNI_LEN || !name.iter().all(ok_char) {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// ALPN: protocol names, non-printable bytes shown as `?` (raw edges kept for JA4).
fn parse_alpn(ch: &mut ClientHello, mut list: Reader<'_>) -> Result<(), ParseError> {
    while !list.is_empty() {
        let name = list.vec8("alpn protocol")?.rest();
        if ch.alpn.len() >= MAX_ALPN_ENTRIES {
            ch.truncated = true;
            continue;
        }
        if let (Some(&first), Some(&last), true) = (name.first(), name.last(), ch.alpn.is_empty()) {
            ch.alpn_first_edges = Some((first, last));
        }
        let printable = |&b: &u8| {
            if b.is_ascii_graphic() { char::from(b) } else { '?' }
        };
        ch.alpn.push(name.iter().map(printable).collect());
    }
    Ok(())
}

/// Decodes a hex fixture line (test helper shared by the dissector tests).
#[cfg(test)]
pub(crate) fn decode_hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// Loads `tests/fixtures/<path>`: one hex-encoded segment/datagram per line.
#[cfg(test)]
pub(crate) fn fixture_lines(path: &str) -> Vec<Vec<u8>> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    text.lines().filter(|l| !l.trim().is_empty()).map(decode_hex).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        fixture_lines(&format!("tls/{name}.hex")).concat()
    }

    /// Re-frames the handshake message of a single-record hello into records of `chunk` bytes.
    fn refragment(stream: &[u8], chunk: usize) -> Vec<u8> {
        let len = usize::from(u16::from_be_bytes([stream[3], stream[4]]));
        let msg = &stream[5..5 + len];
        let mut out = Vec::new();
        for part in msg.chunks(chunk) {
            out.extend_from_slice(&[0x16, stream[1], stream[2]]);
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn parses_real_hellos() {
        let ch = parse_client_hello_records(&fixture("facebook_s1")).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("www.facebook.com"));
        assert_eq!(ch.alpn, ["h2", "spdy/3.1", "http/1.1"]);
        assert_eq!(ch.alpn_first_edges, Some((b'h', b'2')));
        assert_eq!(ch.legacy_version, 0x0303);
        assert!(!ch.truncated && !ch.sni_invalid);

        let ch = parse_client_hello_records(&fixture("tls_2_reasms_s0")).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("i.instagram.com"));
        assert_eq!(ch.alpn, ["h2", "h2-fb", "http/1.1"]);
        assert_eq!(ch.supported_versions, [0x0304, 0xfb1a]);
        assert_eq!(ch.cipher_suites, [0x1301, 0x1302, 0x1303]);

        let ch = parse_client_hello_records(&fixture("whatsappfiles_s0")).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("mmg-fna.whatsapp.net"));
        assert_eq!(ch.alpn.len(), 7);
    }

    #[test]
    fn record_and_handshake_entry_points_agree() {
        let stream = fixture("facebook_s0");
        let a = parse_client_hello_records(&stream).unwrap();
        let mut b = parse_client_hello_handshake(&stream[5..]).unwrap();
        assert_eq!(b.record_version, 0);
        b.record_version = a.record_version;
        assert_eq!(a, b);
    }

    #[test]
    fn hello_fragmented_over_records_and_segments() {
        let stream = fixture("whatsappfiles_s0");
        let whole = parse_client_hello_records(&stream).unwrap();
        for chunk in [1, 3, 4, 5, 100, 237] {
            let framed = refragment(&stream, chunk);
            assert_eq!(parse_client_hello_records(&framed), Ok(whole.clone()), "{chunk}");
            // Every strict prefix (a TCP segment boundary anywhere) is merely incomplete.
            for cut in 0..framed.len() {
                match parse_client_hello_records(&framed[..cut]) {
                    Err(ParseError::Incomplete { need }) => assert!(need >= 1),
                    other => panic!("chunk {chunk} cut {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn rejects_non_tls_early() {
        assert_eq!(parse_client_hello_records(b"GET / HTTP/1.1\r\n"), Err(ParseError::NotTls));
        assert_eq!(parse_client_hello_records(b"G"), Err(ParseError::NotTls));
        assert_eq!(parse_client_hello_records(&[0x16, 0x02]), Err(ParseError::NotTls));
        assert_eq!(parse_client_hello_records(&[0x16]), Err(ParseError::Incomplete { need: 4 }));
        // Application data first: TLS, but not a hello we can use.
        assert_eq!(parse_client_hello_records(&[0x17, 3, 3, 0, 1, 0]), Err(ParseError::NotTls));
        // A ServerHello is a handshake but not ours.
        assert!(matches!(
            parse_client_hello_records(&[0x16, 3, 3, 0, 4, 2, 0, 0, 0]),
            Err(ParseError::Malformed(_))
        ));
    }

    /// Builds a minimal hello with the given ciphers and extensions.
    fn synth_hello(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.push(0);
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut e = Vec::new();
        for (t, d) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(d.len() as u16).to_be_bytes());
            e.extend_from_slice(d);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut msg = vec![1, 0];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&body);
        msg
    }

    /// A DTLS datagram around `msg` (a TLS handshake message from [`synth_hello`]): the body
    /// gains a cookie after the session id, the headers their DTLS fields.
    fn dtls_datagram(msg: &[u8], version: u16, cookie: &[u8], fragment: Option<usize>) -> Vec<u8> {
        let mut body = msg[4..4 + 2 + 32 + 1].to_vec(); // version, random, empty session id
        body.push(cookie.len() as u8);
        body.extend_from_slice(cookie);
        body.extend_from_slice(&msg[4 + 2 + 32 + 1..]);
        let len = (body.len() as u32).to_be_bytes();
        let frag = (fragment.unwrap_or(body.len()) as u32).to_be_bytes();
        let mut hs = vec![1, len[1], len[2], len[3], 0, 0, 0, 0, 0, frag[1], frag[2], frag[3]];
        hs.extend_from_slice(&body[..fragment.unwrap_or(body.len())]);
        let mut d = vec![22];
        d.extend_from_slice(&version.to_be_bytes());
        d.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // epoch 0, sequence 1
        d.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        d.extend_from_slice(&hs);
        d
    }

    #[test]
    fn dtls_hello_with_cookie() {
        let msg =
            synth_hello(&[0xc02b, 0x0a0a], &[(0, sni_ext(b"relay.example")), (0x0e, vec![0; 5])]);
        let d = dtls_datagram(&msg, 0xfefd, &[7; 20], None);
        assert!(looks_like_dtls_handshake(&d));
        let ch = parse_dtls_client_hello(&d).unwrap();
        assert_eq!(ch.record_version, 0xfefd);
        assert_eq!(ch.cipher_suites, [0xc02b, 0x0a0a]);
        assert_eq!(ch.extensions, [0, 0x0e]);
        assert_eq!(ch.sni.as_deref(), Some("relay.example"));
        // Fragments are not reassembled; a truncated record or epoch 1 is refused.
        let frag = dtls_datagram(&msg, 0xfefd, &[], Some(30));
        assert!(parse_dtls_client_hello(&frag).is_err());
        assert!(parse_dtls_client_hello(&d[..d.len() - 3]).is_err());
        let mut epoch1 = d.clone();
        epoch1[4] = 1;
        assert!(!looks_like_dtls_handshake(&epoch1));
        // TLS records are not DTLS.
        assert!(!looks_like_dtls_handshake(&[
            22, 3, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
    }

    fn sni_ext(name: &[u8]) -> Vec<u8> {
        let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name);
        d
    }

    #[test]
    fn bounds_lists_and_validates_sni() {
        let ciphers: Vec<u16> = (0..2000).collect();
        let ch = parse_client_hello_handshake(&synth_hello(&ciphers, &[])).unwrap();
        assert_eq!(ch.cipher_suites.len(), MAX_LIST_ENTRIES);
        assert!(ch.truncated);

        let ch =
            parse_client_hello_handshake(&synth_hello(&[1], &[(0, sni_ext(b"a\x07b"))])).unwrap();
        assert_eq!(ch.sni, None);
        assert!(ch.sni_invalid && ch.has_sni_extension());

        let ch = parse_client_hello_handshake(&synth_hello(&[1], &[(0, sni_ext(b"x.example"))]))
            .unwrap();
        assert_eq!(ch.sni.as_deref(), Some("x.example"));
        assert_eq!(ch.extensions, [0]);
    }

    /// An SSLv2-format hello as old clients sent it: version `version`, the given 3-byte specs,
    /// no session id, a 16-byte challenge.
    fn sslv2_hello(version: u16, specs: &[u32]) -> Vec<u8> {
        let mut m = vec![1];
        m.extend(version.to_be_bytes());
        m.extend(((specs.len() * 3) as u16).to_be_bytes());
        m.extend([0, 0, 0, 16]);
        for s in specs {
            m.extend(&s.to_be_bytes()[1..]);
        }
        m.extend([0x5a; 16]);
        let mut out = (0x8000 | m.len() as u16).to_be_bytes().to_vec();
        out.extend(m);
        out
    }

    #[test]
    fn sslv2_format_hello() {
        // A TLS 1.0-capable client's SSLv2-compatible hello: two SSLv2 kinds, two TLS suites.
        let specs = [0x0700c0, 0x020080, 0x00002f, 0x000035];
        let h = sslv2_hello(0x0301, &specs);
        let ch = parse_client_hello_records(&h).unwrap();
        assert_eq!((ch.record_version, ch.legacy_version), (SSLV2_RECORD, 0x0301));
        assert_eq!(ch.sslv2_cipher_specs, specs);
        assert_eq!(ch.cipher_suites, [0x2f, 0x35]);
        assert!(ch.sni.is_none() && ch.extensions.is_empty());
        assert_eq!(crate::dissect::ja4::ja3(&ch), "769,458944-131200-47-53,,,");
        // Every prefix is incomplete; other protocols with the high bit set are refused.
        for cut in 0..h.len() {
            assert!(
                matches!(parse_client_hello_records(&h[..cut]), Err(ParseError::Incomplete { .. })),
                "{cut}"
            );
        }
        assert_eq!(parse_client_hello_records(&[0x80, 0x2e, 2]), Err(ParseError::NotTls));
        // A header announcing fewer bytes than the fixed fields (fuzz/tls crash-62439f3a).
        for n in 0..9 {
            assert_eq!(parse_client_hello_records(&[0x80, n]), Err(ParseError::NotTls), "{n}");
        }
        assert_eq!(parse_client_hello_records(&[0x80, 0x2e, 1, 3, 9]), Err(ParseError::NotTls));
        let mut lying = h.clone();
        lying[6] = 0x0d; // cipher spec length no longer a multiple of 3 nor adding up
        assert_eq!(parse_client_hello_records(&lying), Err(ParseError::NotTls));
        // A pure SSL 2.0 hello.
        let ch = parse_client_hello_records(&sslv2_hello(0x0002, &[0x010080])).unwrap();
        assert_eq!(ch.legacy_version, 2);
        assert!(ch.cipher_suites.is_empty());
    }

    #[test]
    fn grease_detection() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301) && !is_grease(0x0a0b));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_random_input(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_client_hello_records(&data);
            let _ = parse_client_hello_handshake(&data);
            let _ = parse_dtls_client_hello(&data);
        }

        #[test]
        fn never_panics_on_mutated_hello(
            cut in 0usize..1200,
            flips in proptest::collection::vec((0usize..1200, any::<u8>()), 0..8),
        ) {
            let mut data = fixture("facebook_s1");
            for (pos, val) in flips {
                if let Some(b) = data.get_mut(pos) {
                    *b = val;
                }
            }
            data.truncate(cut);
            let _ = parse_client_hello_records(&data);
            let _ = parse_client_hello_handshake(data.get(5..).unwrap_or_default());
        }
    }
}
