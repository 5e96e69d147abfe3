//! TLS client fingerprints from a parsed [`ClientHello`]: FoxIO JA4 (BSD-3 client algorithm,
//! `technical_details/JA4.md`) and the classic JA3 string / MD5 hash.
//!
//! Both are computed once per flow, so they may allocate the (small) result strings; hashes are
//! fed incrementally so no intermediate list strings are built.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::record::hex::hex;

use super::tls::{ClientHello, ExtensionType, is_grease};

/// The transport a ClientHello was seen on: the first character of JA4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloTransport {
    /// TLS over TCP (`t`).
    Tcp,
    /// TLS inside QUIC CRYPTO frames (`q`).
    Quic,
    /// DTLS (`d`).
    Dtls,
}

impl HelloTransport {
    fn prefix(self) -> char {
        match self {
            Self::Tcp => 't',
            Self::Quic => 'q',
            Self::Dtls => 'd',
        }
    }
}

/// Value of JA4_b / JA4_c when the list to hash is empty.
const EMPTY_HASH: &str = "000000000000";

/// Computes the JA4 fingerprint `a_b_c`, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
pub fn ja4(ch: &ClientHello, transport: HelloTransport) -> String {
    let mut out = String::with_capacity(36);
    ja4_a(ch, transport, &mut out);
    out.push('_');
    out.push_str(&ja4_b(ch));
    out.push('_');
    out.push_str(&ja4_c(ch));
    out
}

/// JA4_a: transport, version, SNI flag, cipher and extension counts, ALPN edge characters.
fn ja4_a(ch: &ClientHello, transport: HelloTransport, out: &mut String) {
    out.push(transport.prefix());
    out.push_str(version_code(tls_version(ch)));
    out.push(if ch.has_sni_extension() { 'd' } else { 'i' });
    let ciphers = non_grease(&ch.cipher_suites).count().min(99);
    let exts = non_grease(&ch.extensions).count().min(99);
    for n in [ciphers, exts] {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    }
    let [first, last] = alpn_chars(ch.alpn_first_edges);
    out.push(first);
    out.push(last);
}

/// Highest non-GREASE supported_versions entry, else the hello's legacy_version.
fn tls_version(ch: &ClientHello) -> u16 {
    non_grease(&ch.supported_versions).max().unwrap_or(ch.legacy_version)
}

/// Two-character JA4 version code; unknown versions (drafts, Meta's 0xfb??) map to "00".
fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value; if either byte is not alphanumeric, the
/// first and last hex digit of the value instead; "00" without ALPN.
fn alpn_chars(edges: Option<(u8, u8)>) -> [char; 2] {
    match edges {
        None => ['0', '0'],
        Some((f, l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            [char::from(f), char::from(l)]
        }
        Some((f, l)) => [hex_digit(f >> 4), hex_digit(l & 0x0f)],
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble & 0x0f), 16).unwrap_or('0')
}

fn non_grease(list: &[u16]) -> impl Iterator<Item = u16> + '_ {
    list.iter().copied().filter(|&v| !is_grease(v))
}

/// JA4_b: truncated SHA-256 of the sorted non-GREASE cipher list.
fn ja4_b(ch: &ClientHello) -> String {
    let mut ciphers: Vec<u16> = non_grease(&ch.cipher_suites).collect();
    if ciphers.is_empty() {
        return EMPTY_HASH.to_owned();
    }
    ciphers.sort_unstable();
    let mut h = Sha256::new();
    hash_hex_list(&mut h, &ciphers);
    truncated_hex(&h.finalize())
}

/// JA4_c: truncated SHA-256 of the sorted extensions (without SNI and ALPN), then `_` and the
/// signature algorithms in wire order (omitted with the underscore when there are none).
fn ja4_c(ch: &ClientHello) -> String {
    let mut exts: Vec<u16> = non_grease(&ch.extensions)
        .filter(|&e| e != ExtensionType::SERVER_NAME.0 && e != ExtensionType::ALPN.0)
        .collect();
    if exts.is_empty() {
        return EMPTY_HASH.to_owned();
    }
    exts.sort_unstable();
    let mut h = Sha256::new();
    hash_hex_list(&mut h, &exts);
    let sigs: Vec<u16> = non_grease(&ch.signature_algorithms).collect();
    if !sigs.is_empty() {
        h.update(b"_");
        hash_hex_list(&mut h, &sigs);
    }
    truncated_hex(&h.finalize())
}

/// Feeds `a,b,c` (4-digit lowercase hex) into the hasher.
fn hash_hex_list(h: &mut Sha256, list: &[u16]) {
    for (i, v) in list.iter().enumerate() {
        if i > 0 {
            h.update(b",");
        }
        h.update(hex4(*v));
    }
}

fn hex4(v: u16) -> [u8; 4] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let d = |shift: u16| DIGITS[usize::from((v >> shift) & 0x0f)];
    [d(12), d(8), d(4), d(0)]
}

/// First 12 lowercase hex characters of a digest.
fn truncated_hex(digest: &[u8]) -> String {
    hex(&digest[..digest.len().min(6)])
}

/// The classic JA3 string: `version,ciphers,extensions,groups,point_formats`, decimal values
/// joined by `-`, GREASE removed (as JA3 implementations and nDPI do).
pub fn ja3(ch: &ClientHello) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(itoa::Buffer::new().format(ch.legacy_version));
    s.push(',');
    if ch.sslv2_cipher_specs.is_empty() {
        push_decimal_list(&mut s, non_grease(&ch.cipher_suites).map(u32::from));
    } else {
        // An SSLv2-format hello: every 3-byte cipher spec (TLS suites keep their value).
        push_decimal_list(&mut s, ch.sslv2_cipher_specs.iter().copied());
    }
    s.push(',');
    push_decimal_list(&mut s, non_grease(&ch.extensions).map(u32::from));
    s.push(',');
    push_decimal_list(&mut s, non_grease(&ch.supported_groups).map(u32::from));
    s.push(',');
    push_decimal_list(&mut s, ch.ec_point_formats.iter().map(|&v| u32::from(v)));
    s
}

fn push_decimal_list(s: &mut String, list: impl Iterator<Item = u32>) {
    for (i, v) in list.enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push_str(itoa::Buffer::new().format(v));
    }
}

/// MD5 of [`ja3`] as 32 lowercase hex characters (the usual "JA3 hash").
pub fn ja3_hash(ch: &ClientHello) -> String {
    hex(&Md5::digest(ja3(ch).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::tls::{fixture_lines, parse_client_hello_records};

    fn hexlist(s: &str) -> Vec<u16> {
        s.split(',').map(|v| u16::from_str_radix(v, 16).unwrap()).collect()
    }

    /// The worked example of FoxIO's JA4.md (GREASE values added to check they are ignored).
    fn foxio_example() -> ClientHello {
        let mut ciphers = vec![0x2a2a];
        ciphers.extend(hexlist(
            "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
        ));
        let mut extensions = vec![0xdada];
        extensions.extend(hexlist(
            "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015",
        ));
        extensions.push(0x1a1a);
        ClientHello {
            legacy_version: 0x0303,
            sni: Some("example.com".into()),
            alpn: vec!["h2".into(), "http/1.1".into()],
            alpn_first_edges: Some((b'h', b'2')),
            supported_versions: vec![0x7a7a, 0x0304, 0x0303],
            cipher_suites: ciphers,
            extensions,
            signature_algorithms: hexlist("0403,0804,0401,0503,0805,0501,0806,0601"),
            ..ClientHello::default()
        }
    }

    #[test]
    fn foxio_spec_example() {
        let ch = foxio_example();
        assert_eq!(ja4(&ch, HelloTransport::Tcp), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(ja4(&ch, HelloTransport::Quic), "q13d1516h2_8daaf6152771_e5627efa2ab1");
        // Without signature algorithms the underscore is omitted (JA4.md: 6d807ffa2a79).
        let no_sigs = ClientHello { signature_algorithms: vec![], ..ch };
        assert_eq!(ja4_c(&no_sigs), "6d807ffa2a79");
    }

    #[test]
    fn foxio_style_vector_with_ech() {
        // JA4_ro of Opera 129 as published with its JA4 (t13d1516h2_8daaf6152771_d8a2da3f94cd).
        let ch = ClientHello {
            legacy_version: 0x0303,
            alpn_first_edges: Some((b'h', b'2')),
            supported_versions: vec![0x0304, 0x0303],
            cipher_suites: hexlist(
                "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
            ),
            extensions: hexlist(
                "fe0d,0033,ff01,0017,001b,000a,0000,0010,0005,002b,002d,0012,000b,44cd,000d,0023",
            ),
            signature_algorithms: hexlist("0403,0804,0401,0503,0805,0501,0806,0601"),
            ..ClientHello::default()
        };
        assert_eq!(ja4(&ch, HelloTransport::Tcp), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn empty_lists_and_alpn_rules() {
        let ch = ClientHello { legacy_version: 0x0301, ..ClientHello::default() };
        assert_eq!(ja4(&ch, HelloTransport::Tcp), "t10i000000_000000000000_000000000000");
        // JA4.md's ALPN examples (first/last raw byte of the first value).
        assert_eq!(alpn_chars(Some((0xab, 0xab))), ['a', 'b']);
        assert_eq!(alpn_chars(Some((0xab, 0xcd))), ['a', 'd']);
        assert_eq!(alpn_chars(Some((0x30, 0xab))), ['3', 'b']);
        assert_eq!(alpn_chars(Some((0x30, 0x31))), ['0', '1']);
        assert_eq!(alpn_chars(Some((b'h', b'1'))), ['h', '1']);
        assert_eq!(version_code(0xfb1a), "00");
    }

    fn hello(name: &str) -> ClientHello {
        let stream = fixture_lines(&format!("tls/{name}.hex")).concat();
        parse_client_hello_records(&stream).unwrap()
    }

    /// JA4 / JA3 that nDPI printed for the same flows (`[JA4: ...]`, `[JA3C: ...]` in the
    /// shared `.out` files).
    #[test]
    fn matches_ndpi_on_real_flows() {
        let cases = [
            (
                "facebook_s0",
                "t12d1310h2_27a29bd8d6e6_85173d161f9a",
                "bfcc1a3891601edb4f137ab7ab25b840",
            ),
            (
                "facebook_s1",
                "t12d1311h2_27a29bd8d6e6_c4623e4f4474",
                "5c60e71f1b8cd40e4d40ed5b6d666e3f",
            ),
            (
                "whatsappfiles_s0",
                "t12d2011h2_2a284e3b0c56_8d24740b1268",
                "107144b88827da5da9ed42d8776ccdc5",
            ),
            (
                "signal_s0",
                "t12d220700_0d4ca5d4ec72_3304d8368043",
                "e4d448cdfe06dc1243c1eb026c74ac9a",
            ),
            (
                "tls_2_reasms_s0",
                "t00d0309h2_55b375c5d22e_566d5108064c",
                "44dab16d680ef93487bc16ad23b3ffb1",
            ),
        ];
        for (name, want_ja4, want_ja3) in cases {
            let ch = hello(name);
            assert_eq!(ja4(&ch, HelloTransport::Tcp), want_ja4, "{name}");
            assert_eq!(ja3_hash(&ch), want_ja3, "{name}");
        }
    }

    /// nDPI prints `t00d0309ht_...` here: it takes the first *two* characters of "http/1.1".
    /// JA4.md says first and last ("h1"); we follow the spec.
    #[test]
    fn alpn_http11_follows_spec_not_ndpi() {
        let ch = hello("tls_2_reasms_b_s0");
        assert_eq!(ch.alpn, ["http/1.1"]);
        assert_eq!(ja4(&ch, HelloTransport::Tcp), "t00d0309h1_55b375c5d22e_566d5108064c");
        assert_eq!(ja3_hash(&ch), "44dab16d680ef93487bc16ad23b3ffb1");
    }

    #[test]
    fn lots_of_ciphers_caps_count_at_99() {
        let ch = hello("lots_of_ciphers_s0");
        assert!(ch.cipher_suites.len() > 99);
        assert!(ja4(&ch, HelloTransport::Tcp).starts_with("t12i99"));
    }
}
