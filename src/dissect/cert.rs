//! The server's first flight on a TLS 1.2-or-older connection: ServerHello, then the Certificate
//! message, whose leaf certificate names the server in cleartext (TLS 1.3 encrypts it).
//!
//! Input is the responder's first bytes, reassembled in order by the caller and bounded by it
//! ([`super::stream::MAX_STREAM`]). Only the leaf certificate is parsed (with `x509-parser`); the
//! chain behind it is never read, and nothing of the certificate is kept but a few names and the
//! JA4X-style OID hashes.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use thiserror::Error;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Name;

use super::tls::valid_hostname;

use crate::record::flow::secs_us;
use crate::record::observed::TlsCertEvent;

/// Most subjectAltName DNS names kept (Meta's leaf certificates carry about a dozen).
pub const MAX_SAN_NAMES: usize = 16;
/// Longest issuer organisation kept.
const MAX_ORG_LEN: usize = 128;

static CAPPED: AtomicU64 = AtomicU64::new(0);

/// Notes a flow whose leaf certificate lay past the per-flow byte cap.
pub fn count_capped() {
    CAPPED.fetch_add(1, Ordering::Relaxed);
}

/// Flows so far whose leaf certificate lay past the per-flow byte cap (not parsed).
pub fn capped() -> u64 {
    CAPPED.load(Ordering::Relaxed)
}

/// Why the server's certificate could not (yet) be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CertError {
    /// A plausible prefix: at least `need` more bytes are required.
    #[error("incomplete server flight: need at least {need} more byte(s)")]
    Incomplete {
        /// Lower bound of additional bytes needed.
        need: usize,
    },
    /// The responder's bytes are not TLS handshake records.
    #[error("not TLS")]
    NotTls,
    /// No cleartext certificate will come: TLS 1.3, a resumed session, or the flight ended.
    #[error("no cleartext certificate: {0}")]
    NoCertificate(&'static str),
    /// The leaf certificate ends beyond the bytes the caller may hold (`limit`).
    #[error("leaf certificate ends past the {limit}-byte cap")]
    TooLarge {
        /// The caller's cap.
        limit: usize,
    },
    /// Framing or DER is inconsistent.
    #[error("malformed server flight: {0}")]
    Malformed(&'static str),
}

/// What the leaf certificate says about the server: names only, never the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// First subject commonName, if it is a plausible host name.
    pub subject_cn: Option<Box<str>>,
    /// subjectAltName DNS names in certificate order (valid host names, at most
    /// [`MAX_SAN_NAMES`]).
    pub san_dns: Vec<Box<str>>,
    /// subjectAltName DNS names in the certificate, kept or not.
    pub san_count: u32,
    /// First issuer organizationName (printable characters only).
    pub issuer_org: Option<Box<str>>,
    /// Validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// Validity end, seconds since the Unix epoch.
    pub not_after: i64,
    /// JA4X-style fingerprint: SHA-256 (12 hex) of the issuer RDN OIDs, the subject RDN OIDs and
    /// the extension OIDs, each list as comma-joined hex of the OID bytes.
    pub ja4x: Box<str>,
}

impl CertInfo {
    /// The name the certificate is best known by: the subject CN, else the first DNS SAN.
    pub fn primary_name(&self) -> Option<&str> {
        self.subject_cn.as_deref().or(self.san_dns.first().map(|s| &**s))
    }

    /// Every name, primary first (CN, then the SANs; duplicates of the CN skipped).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let cn = self.subject_cn.as_deref();
        cn.into_iter().chain(self.san_dns.iter().map(|s| &**s).filter(move |s| Some(*s) != cn))
    }
}

const RECORD_HEADER_LEN: usize = 5;
const HANDSHAKE_HEADER_LEN: usize = 4;
const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_HELLO_DONE: u8 = 14;
const HS_FINISHED: u8 = 20;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const TLS13: u16 = 0x0304;

fn u24(b: &[u8]) -> usize {
    b.iter().take(3).fold(0, |n, &x| n << 8 | usize::from(x))
}

/// Reads the leaf certificate from the responder's first bytes (TLS records, in order).
/// `limit` is the most bytes the caller will ever hold: a leaf ending past it is
/// [`CertError::TooLarge`] rather than forever incomplete.
pub fn parse_server_certificate(buf: &[u8], limit: usize) -> Result<CertInfo, CertError> {
    // Handshake bytes gathered from the records so far: a message may span records.
    let mut hs: Vec<u8> = Vec::new();
    // Handshake bytes the walk still needs (a lower bound), to tell how far to wait.
    let mut hs_need = HANDSHAKE_HEADER_LEN;
    let mut rest = buf;
    let mut first = true;
    loop {
        let Some(hdr) = rest.first_chunk::<RECORD_HEADER_LEN>() else {
            if first && rest.first().is_some_and(|&t| t != CT_HANDSHAKE) {
                return Err(CertError::NotTls);
            }
            let need = RECORD_HEADER_LEN - rest.len() + hs_need;
            return Err(incomplete(need, buf.len(), limit));
        };
        let [ct, major, _minor, l0, l1] = *hdr;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if major != 3 || len == 0 || len > (1 << 14) + 2048 {
            return Err(if first { CertError::NotTls } else { CertError::Malformed("record") });
        }
        match ct {
            CT_HANDSHAKE => {}
            _ if first => return Err(CertError::NotTls),
            CT_CHANGE_CIPHER_SPEC | CT_APPLICATION_DATA => {
                return Err(CertError::NoCertificate("no Certificate before the cipher change"));
            }
            CT_ALERT => return Err(CertError::NoCertificate("alert")),
            _ => return Err(CertError::Malformed("record type")),
        }
        first = false;
        let body = &rest[RECORD_HEADER_LEN..];
        let whole = body.get(..len);
        hs.extend_from_slice(whole.unwrap_or(body));
        hs_need = match walk_handshake(&hs)? {
            Ok(cert) => return Ok(cert),
            Err(need) => need,
        };
        if whole.is_none() {
            // Inside this record; past its end the next record's header comes first.
            let left = len - body.len();
            let need = if hs_need <= left { hs_need } else { hs_need + RECORD_HEADER_LEN };
            return Err(incomplete(need, buf.len(), limit));
        }
        rest = &body[len..];
    }
}

/// `Incomplete`, unless the bytes needed lie past what the caller will hold.
fn incomplete(need: usize, have: usize, limit: usize) -> CertError {
    if have + need > limit { CertError::TooLarge { limit } } else { CertError::Incomplete { need } }
}

/// Walks the handshake messages gathered so far: the leaf, or (`Ok(Err(n))`) at least `n` more
/// handshake bytes are needed.
fn walk_handshake(mut hs: &[u8]) -> Result<Result<CertInfo, usize>, CertError> {
    loop {
        let Some(&[ty, l0, l1, l2]) = hs.first_chunk::<HANDSHAKE_HEADER_LEN>() else {
            return Ok(Err(HANDSHAKE_HEADER_LEN - hs.len()));
        };
        let len = u24(&[l0, l1, l2]);
        let body = &hs[HANDSHAKE_HEADER_LEN..];
        match ty {
            HS_CERTIFICATE => return leaf(body, len),
            HS_SERVER_HELLO_DONE | HS_FINISHED => {
                return Err(CertError::NoCertificate("flight ended without a Certificate"));
            }
            _ => {}
        }
        let Some(msg) = body.get(..len) else { return Ok(Err(len - body.len())) };
        if ty == HS_SERVER_HELLO && server_hello_is_tls13(msg)? {
            return Err(CertError::NoCertificate("TLS 1.3"));
        }
        hs = &body[len..];
    }
}

/// Whether a ServerHello body selects TLS 1.3 (supported_versions, RFC 8446 §4.2.1).
fn server_hello_is_tls13(msg: &[u8]) -> Result<bool, CertError> {
    const BAD: CertError = CertError::Malformed("ServerHello");
    let sid_len = usize::from(*msg.get(34).ok_or(BAD)?);
    // version(2) random(32) session_id(1+n) cipher(2) compression(1)
    let Some(exts) = msg.get(35 + sid_len + 3..) else { return Err(BAD) };
    let Some((len, mut exts)) = exts.split_first_chunk::<2>() else { return Ok(false) };
    exts = exts.get(..usize::from(u16::from_be_bytes(*len))).ok_or(BAD)?;
    while let Some((h, rest)) = exts.split_first_chunk::<4>() {
        let (ty, len) =
            (u16::from_be_bytes([h[0], h[1]]), usize::from(u16::from_be_bytes([h[2], h[3]])));
        let data = rest.get(..len).ok_or(BAD)?;
        if ty == EXT_SUPPORTED_VERSIONS {
            return Ok(data == TLS13.to_be_bytes());
        }
        exts = &rest[len..];
    }
    Ok(false)
}

/// The leaf of a Certificate message body (`len` bytes announced, `body` what arrived).
fn leaf(body: &[u8], len: usize) -> Result<Result<CertInfo, usize>, CertError> {
    // certificate_list<0..2^24-1>, then the first entry: cert_data<1..2^24-1>.
    let Some(h) = body.get(..6) else { return Ok(Err(6 - body.len())) };
    let (list, first) = (u24(&h[..3]), u24(&h[3..]));
    if list > len.saturating_sub(3) || first == 0 || first + 3 > list {
        return Err(CertError::Malformed("certificate list length"));
    }
    let Some(der) = body.get(6..6 + first) else { return Ok(Err(6 + first - body.len())) };
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| CertError::Malformed("leaf certificate DER"))?;
    Ok(Ok(cert_info(&cert)))
}

fn cert_info(cert: &X509Certificate<'_>) -> CertInfo {
    let subject_cn = cert
        .subject()
        .iter_common_name()
        .find_map(|a| a.as_str().ok())
        .and_then(|s| valid_hostname(s.as_bytes()))
        .map(Into::into);
    let mut san_dns = Vec::new();
    let mut san_count = 0u32;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                san_count = san_count.saturating_add(1);
                if san_dns.len() < MAX_SAN_NAMES
                    && let Some(n) = valid_hostname(n.as_bytes())
                {
                    san_dns.push(n.into());
                }
            }
        }
    }
    let issuer_org = cert
        .issuer()
        .iter_organization()
        .find_map(|a| a.as_str().ok())
        .filter(|s| s.len() <= MAX_ORG_LEN && s.chars().all(|c| !c.is_control()))
        .map(Into::into);
    let validity = cert.validity();
    let ja4x = format!(
        "{}_{}_{}",
        oid_hash(rdn_oids(cert.issuer())),
        oid_hash(rdn_oids(cert.subject())),
        oid_hash(cert.extensions().iter().map(|e| e.oid.as_bytes())),
    );
    CertInfo {
        subject_cn,
        san_dns,
        san_count,
        issuer_org,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        ja4x: ja4x.into(),
    }
}

fn rdn_oids<'a>(name: &'a X509Name<'_>) -> impl Iterator<Item = &'a [u8]> {
    name.iter_attributes().map(|a| a.attr_type().as_bytes())
}

/// First 12 hex digits of SHA-256 over the OIDs' hex, comma-joined (JA4X); 12 zeros if none.
fn oid_hash<'a>(oids: impl Iterator<Item = &'a [u8]>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |b: u8| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
    let mut h = Sha256::new();
    let mut any = false;
    for oid in oids {
        if any {
            h.update(b",");
        }
        any = true;
        for &b in oid {
            h.update(hex(b));
        }
    }
    if !any {
        return "000000000000".into();
    }
    h.finalize().iter().take(6).flat_map(|&b| hex(b)).map(char::from).collect()
}

impl TlsCertEvent {
    /// The event for a parsed leaf certificate.
    pub fn new(ts_nanos: i64, uid: String, c: &CertInfo) -> Self {
        TlsCertEvent {
            ts: secs_us(ts_nanos),
            uid,
            subject_cn: c.subject_cn.as_deref().map(Into::into),
            san_dns: c.san_dns.iter().map(|s| s.to_string()).collect(),
            san_count: c.san_count,
            issuer_org: c.issuer_org.as_deref().map(Into::into),
            not_before: c.not_before,
            not_after: c.not_after,
            ja4x: c.ja4x.to_string(),
            app: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::tls::fixture_lines;

    /// The server's first flight of a real TLS 1.2 connection to Facebook (facebook.pcap,
    /// 66.220.156.68:443 → 192.168.43.18:52066): ServerHello, Certificate, …
    fn facebook_flight() -> Vec<u8> {
        fixture_lines("cert/facebook_server.hex").concat()
    }

    #[test]
    fn real_facebook_leaf() {
        let flight = facebook_flight();
        let c = parse_server_certificate(&flight, 16 * 1024).unwrap();
        assert_eq!(c.subject_cn.as_deref(), Some("*.facebook.com"));
        assert_eq!(c.issuer_org.as_deref(), Some("DigiCert Inc"));
        assert!(c.san_dns.iter().any(|s| &**s == "*.fbcdn.net"), "{:?}", c.san_dns);
        assert_eq!(c.primary_name(), Some("*.facebook.com"));
        assert_eq!(c.ja4x.len(), 38);
        // Every cut short of the leaf's end is merely incomplete; a small cap says too large.
        let whole_until = (0..flight.len())
            .find(|&n| parse_server_certificate(&flight[..n], 16 * 1024).is_ok())
            .unwrap();
        for cut in 0..whole_until {
            match parse_server_certificate(&flight[..cut], 16 * 1024) {
                Err(CertError::Incomplete { need }) => assert!(need >= 1, "{cut}"),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        assert_eq!(
            parse_server_certificate(&flight[..whole_until - 1], whole_until - 1),
            Err(CertError::TooLarge { limit: whole_until - 1 })
        );
    }

    /// The worked example of the JA4X specification (FoxIO, technical_details/JA4X.md).
    #[test]
    fn ja4x_hash_as_specified() {
        let rdns: [&[u8]; 4] = [&[0x55, 4, 3], &[0x55, 4, 6], &[0x55, 4, 8], &[0x55, 4, 10]];
        assert_eq!(oid_hash(rdns.into_iter()), "96a6439c8f5c");
        let exts: [&[u8]; 3] = [&[0x55, 0x1d, 0x0f], &[0x55, 0x1d, 0x25], &[0x55, 0x1d, 0x11]];
        assert_eq!(oid_hash(exts.into_iter()), "aae71e8db6d7");
        assert_eq!(oid_hash(std::iter::empty()), "000000000000");
    }

    #[test]
    fn tls13_resumption_and_non_tls() {
        // ServerHello with supported_versions = TLS 1.3.
        let mut sh = vec![3, 3];
        sh.extend([0; 32]);
        sh.push(0);
        sh.extend([0x13, 0x01, 0]);
        sh.extend([0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let mut rec = vec![22, 3, 3, 0, (sh.len() + 4) as u8, 2, 0, 0, sh.len() as u8];
        rec.extend(&sh);
        assert_eq!(
            parse_server_certificate(&rec, 1 << 14),
            Err(CertError::NoCertificate("TLS 1.3"))
        );
        // Resumed TLS 1.2: ServerHello then ChangeCipherSpec.
        let tls12 = {
            let mut s = sh.clone();
            s.truncate(s.len() - 8);
            s
        };
        let mut rec = vec![22, 3, 3, 0, (tls12.len() + 4) as u8, 2, 0, 0, tls12.len() as u8];
        rec.extend(&tls12);
        assert_eq!(
            parse_server_certificate(&rec, 1 << 14),
            Err(CertError::Incomplete { need: RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN })
        );
        rec.extend([20, 3, 3, 0, 1, 1]);
        assert!(matches!(
            parse_server_certificate(&rec, 1 << 14),
            Err(CertError::NoCertificate(_))
        ));
        assert_eq!(parse_server_certificate(b"HTTP/1.1 200 OK", 1 << 14), Err(CertError::NotTls));
    }

    #[test]
    fn lying_lengths_are_malformed_not_panics() {
        // A Certificate message whose list claims more than the message holds.
        let msg = [11, 0, 0, 10, 0, 0, 20, 0, 0, 5, 1, 2, 3, 4];
        let mut rec = vec![22, 3, 3, 0, msg.len() as u8];
        rec.extend(msg);
        assert!(matches!(parse_server_certificate(&rec, 1 << 14), Err(CertError::Malformed(_))));
        // A leaf that is not DER.
        let msg = [11, 0, 0, 10, 0, 0, 7, 0, 0, 4, 0xff, 0xff, 0xff, 0xff];
        let mut rec = vec![22, 3, 3, 0, msg.len() as u8];
        rec.extend(msg);
        assert_eq!(
            parse_server_certificate(&rec, 1 << 14),
            Err(CertError::Malformed("leaf certificate DER"))
        );
    }
}
