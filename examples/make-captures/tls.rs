//! TLS 1.3 handshake messages shaped like a current Android client (Chrome/
//! BoringSSL-style extension set with GREASE), and a matching server side.
//! Key material is pseudo-random: nothing here is a usable key.

use crate::packets::{Dir, IpPacket, NANOS_PER_MILLI, Rng, TcpConn};

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
/// Record-layer version: TLS 1.0 on the first ClientHello record, 1.2 afterwards.
const RECORD_VERSION_HELLO: u16 = 0x0301;
const RECORD_VERSION: u16 = 0x0303;
const LEGACY_VERSION: u16 = 0x0303;
const TLS13: u16 = 0x0304;
const TLS12: u16 = 0x0303;
/// Largest TLS plaintext record (RFC 8446 §5.1) plus AEAD expansion we emulate.
const MAX_RECORD_PAYLOAD: usize = 16_384 + 17;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_STATUS_REQUEST: u16 = 0x0005;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SCT: u16 = 0x0012;
const EXT_EXTENDED_MASTER_SECRET: u16 = 0x0017;
const EXT_COMPRESS_CERTIFICATE: u16 = 0x001b;
const EXT_SESSION_TICKET: u16 = 0x0023;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const EXT_PSK_KEY_EXCHANGE_MODES: u16 = 0x002d;
const EXT_KEY_SHARE: u16 = 0x0033;
const EXT_QUIC_TRANSPORT_PARAMETERS: u16 = 0x0039;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;

const GROUP_X25519: u16 = 0x001d;
const GROUP_SECP256R1: u16 = 0x0017;
const GROUP_SECP384R1: u16 = 0x0018;
const X25519_KEY_LEN: usize = 32;
const TLS_AES_128_GCM_SHA256: u16 = 0x1301;

/// TLS 1.3 suites then the TLS 1.2 ECDHE/RSA ones a browser still offers.
const CIPHER_SUITES_TCP: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
/// QUIC requires TLS 1.3, so only its suites are offered.
const CIPHER_SUITES_QUIC: [u16; 3] = [0x1301, 0x1302, 0x1303];
const SIGNATURE_ALGORITHMS: [u16; 8] =
    [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
const CERT_COMPRESSION_BROTLI: u16 = 0x0002;
const PSK_DHE_KE: u8 = 1;

/// RFC 8701 GREASE values: 0x0a0a, 0x1a1a, ... 0xfafa.
fn grease(rng: &mut Rng) -> u16 {
    let nibble = rng.range(0, 15) as u16;
    (nibble << 12) | 0x0a00 | (nibble << 4) | 0x000a
}

pub struct ClientHelloSpec<'a> {
    pub sni: &'a str,
    pub alpn: &'a [&'a str],
    /// Some(transport parameters) for QUIC, None for TLS over TCP.
    pub quic_transport_parameters: Option<&'a [u8]>,
}

/// The ClientHello handshake message (type, 24-bit length, body), without record
/// header: QUIC carries it in CRYPTO frames, TCP in a handshake record.
pub fn client_hello(spec: &ClientHelloSpec, rng: &mut Rng) -> Vec<u8> {
    let quic = spec.quic_transport_parameters.is_some();
    let grease_suite = grease(rng);
    let grease_group = grease(rng);
    let grease_version = grease(rng);
    let grease_ext_first = grease(rng);
    // Two GREASE extensions must differ; derive the second from the first.
    let grease_ext_last = grease_ext_first ^ 0x1010;

    let mut body = Vec::new();
    put_u16(&mut body, LEGACY_VERSION);
    body.extend_from_slice(&rng.bytes(32)); // random
    // TCP clients send a 32-byte legacy session id (middlebox compatibility mode);
    // QUIC forbids that mode, so the id is empty there.
    let session_id = if quic { Vec::new() } else { rng.bytes(32) };
    put_vec8(&mut body, &session_id);
    let suites: Vec<u16> = if quic {
        CIPHER_SUITES_QUIC.to_vec()
    } else {
        std::iter::once(grease_suite).chain(CIPHER_SUITES_TCP).collect()
    };
    put_vec16(&mut body, &u16s(&suites));
    put_vec8(&mut body, &[0]); // compression: null only

    let mut ext = Vec::new();
    put_ext(&mut ext, grease_ext_first, &[]);
    put_ext(&mut ext, EXT_SERVER_NAME, &server_name(spec.sni));
    put_ext(&mut ext, EXT_EXTENDED_MASTER_SECRET, &[]);
    if !quic {
        put_ext(&mut ext, EXT_RENEGOTIATION_INFO, &[0]);
    }
    let groups = [grease_group, GROUP_X25519, GROUP_SECP256R1, GROUP_SECP384R1];
    put_ext(&mut ext, EXT_SUPPORTED_GROUPS, &vec16(&u16s(&groups)));
    if !quic {
        put_ext(&mut ext, EXT_EC_POINT_FORMATS, &vec8(&[0]));
        put_ext(&mut ext, EXT_SESSION_TICKET, &[]);
    }
    put_ext(&mut ext, EXT_ALPN, &alpn(spec.alpn));
    put_ext(&mut ext, EXT_STATUS_REQUEST, &[1, 0, 0, 0, 0]);
    put_ext(&mut ext, EXT_SIGNATURE_ALGORITHMS, &vec16(&u16s(&SIGNATURE_ALGORITHMS)));
    put_ext(&mut ext, EXT_SCT, &[]);
    put_ext(&mut ext, EXT_KEY_SHARE, &client_key_share(grease_group, rng));
    put_ext(&mut ext, EXT_PSK_KEY_EXCHANGE_MODES, &vec8(&[PSK_DHE_KE]));
    let versions: Vec<u16> =
        if quic { vec![grease_version, TLS13] } else { vec![grease_version, TLS13, TLS12] };
    put_ext(&mut ext, EXT_SUPPORTED_VERSIONS, &vec8(&u16s(&versions)));
    put_ext(&mut ext, EXT_COMPRESS_CERTIFICATE, &vec8(&u16s(&[CERT_COMPRESSION_BROTLI])));
    if let Some(params) = spec.quic_transport_parameters {
        put_ext(&mut ext, EXT_QUIC_TRANSPORT_PARAMETERS, params);
    }
    put_ext(&mut ext, grease_ext_last, &[0]);
    put_vec16(&mut body, &ext);

    handshake(HANDSHAKE_CLIENT_HELLO, &body)
}

/// A TLS 1.3 ServerHello choosing TLS_AES_128_GCM_SHA256 and X25519.
pub fn server_hello(client_session_id: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut body = Vec::new();
    put_u16(&mut body, LEGACY_VERSION);
    body.extend_from_slice(&rng.bytes(32));
    put_vec8(&mut body, client_session_id);
    put_u16(&mut body, TLS_AES_128_GCM_SHA256);
    body.push(0); // compression
    let mut ext = Vec::new();
    put_ext(&mut ext, EXT_SUPPORTED_VERSIONS, &u16s(&[TLS13]));
    let mut share = Vec::new();
    put_u16(&mut share, GROUP_X25519);
    put_vec16(&mut share, &rng.bytes(X25519_KEY_LEN));
    put_ext(&mut ext, EXT_KEY_SHARE, &share);
    put_vec16(&mut body, &ext);
    handshake(HANDSHAKE_SERVER_HELLO, &body)
}

/// The legacy session id inside a ClientHello message built by `client_hello`.
pub fn session_id_of(client_hello: &[u8]) -> Vec<u8> {
    const SESSION_ID_AT: usize = 4 + 2 + 32; // header, version, random
    let len = client_hello[SESSION_ID_AT] as usize;
    client_hello[SESSION_ID_AT + 1..SESSION_ID_AT + 1 + len].to_vec()
}

pub fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
    let version =
        if content_type == CONTENT_HANDSHAKE && payload.first() == Some(&HANDSHAKE_CLIENT_HELLO) {
            RECORD_VERSION_HELLO
        } else {
            RECORD_VERSION
        };
    let mut out = vec![content_type];
    put_u16(&mut out, version);
    put_vec16(&mut out, payload);
    out
}

/// `total` bytes of opaque "encrypted" application data, cut into full records.
pub fn application_data(total: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + total / MAX_RECORD_PAYLOAD * 5 + 5);
    let mut left = total;
    while left > 0 {
        let n = left.min(MAX_RECORD_PAYLOAD);
        out.extend_from_slice(&record(CONTENT_APPLICATION_DATA, &rng.bytes(n)));
        left -= n;
    }
    out
}

/// The server's first flight after ServerHello in TLS 1.3 over TCP: ChangeCipherSpec
/// (compatibility mode) and encrypted EncryptedExtensions..Finished as one
/// application-data record of certificate-chain size.
pub fn server_first_flight(client_hello: &[u8], rng: &mut Rng) -> Vec<u8> {
    const ENCRYPTED_HANDSHAKE_LEN: usize = 3_900;
    let mut out = record(CONTENT_HANDSHAKE, &server_hello(&session_id_of(client_hello), rng));
    out.extend_from_slice(&record(CONTENT_CHANGE_CIPHER_SPEC, &[1]));
    out.extend_from_slice(&application_data(ENCRYPTED_HANDSHAKE_LEN, rng));
    out
}

/// The client's second flight: ChangeCipherSpec and its encrypted Finished.
pub fn client_finished(rng: &mut Rng) -> Vec<u8> {
    const ENCRYPTED_FINISHED_LEN: usize = 53;
    let mut out = record(CONTENT_CHANGE_CIPHER_SPEC, &[1]);
    out.extend_from_slice(&application_data(ENCRYPTED_FINISHED_LEN, rng));
    out
}

fn client_key_share(grease_group: u16, rng: &mut Rng) -> Vec<u8> {
    let mut shares = Vec::new();
    put_u16(&mut shares, grease_group);
    put_vec16(&mut shares, &[0]);
    put_u16(&mut shares, GROUP_X25519);
    put_vec16(&mut shares, &rng.bytes(X25519_KEY_LEN));
    vec16(&shares)
}

fn server_name(host: &str) -> Vec<u8> {
    const NAME_TYPE_HOST: u8 = 0;
    let mut entry = vec![NAME_TYPE_HOST];
    put_vec16(&mut entry, host.as_bytes());
    vec16(&entry)
}

fn alpn(protocols: &[&str]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in protocols {
        put_vec8(&mut list, p.as_bytes());
    }
    vec16(&list)
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut out = vec![kind];
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

fn put_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, kind);
    put_vec16(out, data);
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn vec8(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_vec8(&mut out, data);
    out
}

fn vec16(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_vec16(&mut out, data);
    out
}

fn put_vec8(out: &mut Vec<u8>, data: &[u8]) {
    out.push(u8::try_from(data.len()).expect("8-bit length"));
    out.extend_from_slice(data);
}

pub fn put_vec16(out: &mut Vec<u8>, data: &[u8]) {
    put_u16(out, u16::try_from(data.len()).expect("16-bit length"));
    out.extend_from_slice(data);
}

pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// A TLS 1.3 connection on an opened `conn`: ClientHello, server flight, client finish, then
/// (client bytes, server bytes) exchanges of application data; the client closes 200 ms later.
pub fn session(
    conn: &mut TcpConn,
    now: u64,
    spec: &ClientHelloSpec,
    exchanges: &[(usize, usize)],
    rng: &mut Rng,
    out: &mut Vec<IpPacket>,
) {
    let hello = client_hello(spec, rng);
    let mut now = conn.send(now, Dir::ToServer, &record(CONTENT_HANDSHAKE, &hello), out);
    now = conn.send(now, Dir::ToClient, &server_first_flight(&hello, rng), out);
    now = conn.send(now, Dir::ToServer, &client_finished(rng), out);
    for &(up, down) in exchanges {
        now = conn.send(now, Dir::ToServer, &application_data(up, rng), out);
        now = conn.send(now, Dir::ToClient, &application_data(down, rng), out);
    }
    conn.close(now + 200 * NANOS_PER_MILLI, Dir::ToServer, out);
}
