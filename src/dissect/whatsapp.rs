//! WhatsApp chat-connection preface, seen on the client's first bytes of a TCP connection.
//!
//! Two shapes exist:
//! - `57 41 MM mm` ("WA" + protocol version major, minor), e.g. `57 41 06 03`, older
//!   `57 41 01 05`, `57 41 05 02`;
//! - the edge-routing preface `45 44 00 01` ("ED", version 1) + a 3-byte routing data length
//!   + routing data, followed by the same `WA` header.
//!
//! The header can be split across TCP segments (real clients send `45 44 00 01` alone), so
//! [`detect_preface`] is incremental: it works on the bytes gathered so far and answers
//! [`Detect::Need`] until it can decide. Nothing beyond lengths and version numbers is kept;
//! the routing data (an opaque edge hint) is not copied.

use core::fmt;
use core::ops::Range;

/// Length of the `WA` header: magic (2) + version (2).
pub const WA_HEADER_LEN: usize = 4;
/// Length of the edge-routing header before its data: magic (2) + version (2) + length (3).
pub const EDGE_HEADER_LEN: usize = 7;
/// Largest routing data accepted. Real clients send 4 bytes; a larger value is not WhatsApp.
pub const MAX_ROUTING_LEN: usize = 1024;
/// Longest client-resource string read from a legacy (1.x) stream start.
pub const MAX_RESOURCE_LEN: usize = 64;

/// Protocol version majors accepted after `WA`. Seen: 1, 2, 4, 5, 6. Bounding the byte below
/// printable ASCII keeps text protocols ("WAIT", "WARN") out.
const MAX_MAJOR: u8 = 0x0f;

const WA_MAGIC: [u8; 2] = *b"WA";
const EDGE_MAGIC: [u8; 4] = [0x45, 0x44, 0x00, 0x01];

mod field {
    use super::Range;
    /// Edge preface: big-endian 24-bit routing data length.
    pub const EDGE_LEN: Range<usize> = 4..7;
}

/// WhatsApp chat protocol version from the `WA` header, shown as "major.minor".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaVersion {
    /// First version byte.
    pub major: u8,
    /// Second version byte.
    pub minor: u8,
}

impl fmt::Display for WaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A recognised WhatsApp chat preface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaPreface {
    /// Protocol version from the `WA` header.
    pub version: WaVersion,
    /// The connection started with the `ED` edge-routing preface.
    pub edge_routing: bool,
    /// Length of the routing data (0 without edge routing); the data itself is not kept.
    pub routing_len: usize,
    /// Offset just past the `WA` header: where the framed stream begins.
    pub header_end: usize,
    /// Legacy 1.x streams name the client build in clear, e.g. "Android-2.12.84" or
    /// "iPhone-2.12.2-5222"; present only when it lies in the bytes given.
    pub client_resource: Option<String>,
}

/// Outcome of [`detect_preface`] on the bytes gathered so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detect {
    /// Undecided: call again once at least this many bytes (from the flow start) are in.
    Need(usize),
    /// A WhatsApp chat preface.
    Match(WaPreface),
    /// Not a WhatsApp chat connection; stop looking.
    NoMatch,
}

/// Decides whether `buf`, the client's first bytes of a TCP connection in order, start a
/// WhatsApp chat connection. Cheap byte compares first; allocates only for a legacy resource
/// string on a match.
pub fn detect_preface(buf: &[u8]) -> Detect {
    let (edge_routing, routing_len, wa_at) = match buf.first() {
        None => return Detect::Need(1),
        Some(&b'W') => (false, 0, 0),
        Some(&0x45) => match edge_prefix(buf) {
            Ok(len) => (true, len, EDGE_HEADER_LEN + len),
            Err(d) => return d,
        },
        Some(_) => return Detect::NoMatch,
    };
    match wa_header(buf, wa_at) {
        Ok(version) => {
            let header_end = wa_at + WA_HEADER_LEN;
            Detect::Match(WaPreface {
                version,
                edge_routing,
                routing_len,
                header_end,
                client_resource: legacy_resource(version, buf.get(header_end..).unwrap_or(&[])),
            })
        }
        Err(d) => d,
    }
}

/// Checks the `ED` preface; returns the routing data length.
fn edge_prefix(buf: &[u8]) -> Result<usize, Detect> {
    prefix_matches(buf, 0, &EDGE_MAGIC)?;
    let len_bytes = buf.get(field::EDGE_LEN).ok_or(Detect::Need(EDGE_HEADER_LEN))?;
    let len = usize::from(len_bytes[0]) << 16
        | usize::from(len_bytes[1]) << 8
        | usize::from(len_bytes[2]);
    if len == 0 || len > MAX_ROUTING_LEN {
        return Err(Detect::NoMatch);
    }
    Ok(len)
}

/// Checks the `WA` header at `at`; returns the version.
fn wa_header(buf: &[u8], at: usize) -> Result<WaVersion, Detect> {
    prefix_matches(buf, at, &WA_MAGIC)?;
    let v = buf.get(at + 2..at + WA_HEADER_LEN).ok_or(Detect::Need(at + WA_HEADER_LEN))?;
    if v[0] == 0 || v[0] > MAX_MAJOR {
        return Err(Detect::NoMatch);
    }
    Ok(WaVersion { major: v[0], minor: v[1] })
}

/// Compares the bytes present at `at` with `magic`: a mismatch decides, a short buffer waits.
fn prefix_matches(buf: &[u8], at: usize, magic: &[u8]) -> Result<(), Detect> {
    let have = buf.get(at..).unwrap_or(&[]);
    let n = have.len().min(magic.len());
    if have[..n] != magic[..n] {
        return Err(Detect::NoMatch);
    }
    if n < magic.len() {
        return Err(Detect::Need(at + magic.len()));
    }
    Ok(())
}

/// Reads the client resource of a legacy 1.x stream start: a 3-byte frame length, then a
/// FunXMPP list (`f8`) whose first short string (`fc` + length) is the resource, e.g.
/// `00 00 17 f8 05 01 a5 91 89 fc 0f "Android-2.12.84"`. Best effort: `None` when absent.
fn legacy_resource(version: WaVersion, frame: &[u8]) -> Option<String> {
    if version.major != 1 {
        return None;
    }
    stream_start_resource(frame)
}

/// The resource of a legacy stream-start frame (with its 3-byte header).
pub(crate) fn stream_start_resource(frame: &[u8]) -> Option<String> {
    /// The resource follows within the first few tokens of the list.
    const SCAN: usize = 16;
    if frame.get(3) != Some(&0xf8) {
        return None;
    }
    let scan = frame.get(4..frame.len().min(SCAN))?;
    let at = 4 + scan.iter().position(|&b| b == 0xfc)?;
    let len = usize::from(*frame.get(at + 1)?);
    let s = frame.get(at + 2..at + 2 + len)?;
    let printable = s.iter().all(|b| b.is_ascii_graphic());
    (len > 0 && len <= MAX_RESOURCE_LEN && printable)
        .then(|| String::from_utf8_lossy(s).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::bytes::unhex;

    /// whatsapp.pcap stream 0, first client segments joined: ED preface, 4 bytes of routing data
    /// (`08 09 08 02`), then `WA 05 02` and the framed Noise handshake (`00 01 0e ...`).
    const EDGE_52: &[u8] = &[
        0x45, 0x44, 0x00, 0x01, // "ED", version 1
        0x00, 0x00, 0x04, // routing data length
        0x08, 0x09, 0x08, 0x02, // routing data
        0x57, 0x41, 0x05, 0x02, // "WA" 5.2
        0x00, 0x01, 0x0e, // frame length
    ];

    /// whatsapp_voice_and_message.pcap stream 0: legacy WA 1.5 with the resource in clear.
    const LEGACY_15: &[u8] =
        b"WA\x01\x05\x00\x00\x17\xf8\x05\x01\xa5\x91\x89\xfc\x0fAndroid-2.12.84\x00\x00";

    #[test]
    fn edge_routing_preface() {
        let Detect::Match(p) = detect_preface(EDGE_52) else {
            panic!("no match");
        };
        assert_eq!(p.version, WaVersion { major: 5, minor: 2 });
        assert_eq!(p.version.to_string(), "5.2");
        assert!(p.edge_routing);
        assert_eq!(p.routing_len, 4);
        assert_eq!(p.header_end, 15);
        assert_eq!(p.client_resource, None);
    }

    #[test]
    fn legacy_preface_with_resource() {
        let Detect::Match(p) = detect_preface(LEGACY_15) else {
            panic!("no match");
        };
        assert_eq!(p.version.to_string(), "1.5");
        assert!(!p.edge_routing);
        assert_eq!(p.header_end, 4);
        assert_eq!(p.client_resource.as_deref(), Some("Android-2.12.84"));
        // Header alone: still a match, resource unknown.
        let Detect::Match(p) = detect_preface(&LEGACY_15[..4]) else {
            panic!("no match");
        };
        assert_eq!(p.client_resource, None);
    }

    #[test]
    fn current_version_without_edge() {
        assert!(matches!(
            detect_preface(&[0x57, 0x41, 0x06, 0x03]),
            Detect::Match(WaPreface { version: WaVersion { major: 6, minor: 3 }, .. })
        ));
    }

    #[test]
    fn split_segments_ask_for_more() {
        // Real split: `45 44 00 01` alone, then the rest.
        assert_eq!(detect_preface(&[]), Detect::Need(1));
        assert_eq!(detect_preface(&EDGE_52[..4]), Detect::Need(7));
        assert_eq!(detect_preface(&EDGE_52[..7]), Detect::Need(13));
        assert_eq!(detect_preface(&EDGE_52[..12]), Detect::Need(13));
        assert_eq!(detect_preface(&EDGE_52[..13]), Detect::Need(15));
        assert!(matches!(detect_preface(&EDGE_52[..15]), Detect::Match(_)));
        assert_eq!(detect_preface(b"W"), Detect::Need(2));
        assert_eq!(detect_preface(b"WA"), Detect::Need(4));
    }

    #[test]
    fn mismatches_decide_early() {
        assert_eq!(detect_preface(b"G"), Detect::NoMatch);
        assert_eq!(detect_preface(b"EX"), Detect::NoMatch);
        assert_eq!(detect_preface(b"WB"), Detect::NoMatch);
        assert_eq!(detect_preface(b"WAIT for it"), Detect::NoMatch);
        assert_eq!(detect_preface(&[0x16, 0x03, 0x01, 0x00]), Detect::NoMatch);
        // Routing data length zero or absurd.
        assert_eq!(detect_preface(&[0x45, 0x44, 0, 1, 0, 0, 0]), Detect::NoMatch);
        assert_eq!(detect_preface(&[0x45, 0x44, 0, 1, 0xff, 0, 0]), Detect::NoMatch);
        // Routing data not followed by WA.
        let mut b = EDGE_52.to_vec();
        b[11] = b'X';
        assert_eq!(detect_preface(&b), Detect::NoMatch);
        // Version major 0 is not used.
        assert_eq!(detect_preface(b"WA\x00\x01"), Detect::NoMatch);
    }

    /// Every TCP flow of the nDPI captures, first client bytes (see
    /// scripts/extract-dissect-fixtures.sh): nDPI's DPI WhatsApp verdicts match, nothing else does.
    #[test]
    fn real_captures_agree_with_ndpi() {
        let fixture = include_str!("../../tests/fixtures/whatsapp/first_client_bytes.tsv");
        let (mut wa, mut other) = (0, 0);
        for line in fixture.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let [capture, stream, _cli, _srv, proto, conf, hex] = cols[..] else {
                panic!("bad fixture line {line}");
            };
            let bytes = unhex(hex);
            let is_wa = proto == "142/WhatsApp" && conf == "DPI";
            let got = detect_preface(&bytes);
            if is_wa {
                wa += 1;
                let Detect::Match(p) = got else {
                    panic!("{capture} stream {stream}: {got:?}");
                };
                // Legacy streams name the client build ("Android-2.12.84", "iPhone-2.12.2-5222").
                if p.version.major == 1 {
                    let res = p.client_resource.unwrap_or_default();
                    assert!(res.contains("-2."), "{capture} stream {stream}: {res:?}");
                }
            } else {
                other += 1;
                assert_eq!(got, Detect::NoMatch, "{capture} stream {stream} ({proto})");
            }
            // Any cut of a match waits or matches, never refuses.
            if is_wa {
                for cut in 0..bytes.len() {
                    let d = detect_preface(&bytes[..cut]);
                    assert!(!matches!(d, Detect::NoMatch), "{capture} {stream} cut {cut}");
                    if let Detect::Need(n) = d {
                        assert!(n > cut);
                    }
                }
            }
        }
        // whatsapp.pcap 86, whatsapp_voice_and_message 5, whatsapp_login_chat 1, waze 1.
        assert_eq!(wa, 93, "WhatsApp flows in fixture");
        assert!(other >= 100, "other flows in fixture: {other}");
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..50_000 {
            let mut buf = if i % 2 == 0 { EDGE_52.to_vec() } else { LEGACY_15.to_vec() };
            for _ in 0..(i % 5) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x % buf.len() as u64) as usize;
                buf[at] = (x >> 32) as u8;
            }
            buf.truncate((x >> 40) as usize % (buf.len() + 1));
            if let Detect::Need(n) = detect_preface(&buf) {
                assert!(n > buf.len());
            }
        }
    }
}
