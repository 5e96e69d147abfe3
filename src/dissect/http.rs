//! HTTP/1.x request-head dissector and WhatsApp User-Agent parser.
//!
//! Kept: method, path (query and fragment dropped: their values can carry identifiers), host,
//! User-Agent, Content-Type and the *names* of cookies. Cookie values, other header values and
//! the body are never copied.

use core::fmt;

use crate::record::flow::secs_us;
use crate::record::observed::HttpEvent;

/// Largest request head looked at; a head not complete within it is refused.
pub const MAX_HEAD_LEN: usize = 8 * 1024;
/// Headers walked per request.
pub const MAX_HEADERS: usize = 100;
/// Longest path kept, in bytes (cut on a character boundary).
pub const MAX_PATH_LEN: usize = 256;
/// Longest header value kept (Host, Content-Type).
pub const MAX_VALUE_LEN: usize = 256;
/// Longest User-Agent kept.
pub const MAX_USER_AGENT_LEN: usize = 512;
/// Cookie names kept per request.
pub const MAX_COOKIE_NAMES: usize = 32;
/// Longest cookie name kept.
pub const MAX_COOKIE_NAME_LEN: usize = 64;

/// Request methods recognised, each followed by a space on the wire.
const METHODS: [&str; 9] =
    ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"];

/// Why a request head could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The head is not complete yet (no blank line within the bytes given).
    #[error("http: incomplete request head")]
    Incomplete,
    /// Not an HTTP/1.x request, or a broken one.
    #[error("http: malformed request: {0}")]
    Malformed(&'static str),
}

/// Metadata of one HTTP/1.x request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method, one of the recognised tokens.
    pub method: &'static str,
    /// Path only: no query, no fragment, no scheme or authority (absolute-form targets are
    /// reduced to their path); at most [`MAX_PATH_LEN`] bytes.
    pub path: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// Host header, lowercased.
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Names of the cookies sent, in order, never their values.
    pub cookie_names: Vec<String>,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// Length of the head, blank line included: where the body starts.
    pub head_len: usize,
}

/// Cheap check on a flow's first bytes: a known method token followed by a space.
pub fn looks_like_http_request(buf: &[u8]) -> bool {
    method_of(buf).is_some()
}

fn method_of(buf: &[u8]) -> Option<&'static str> {
    METHODS
        .iter()
        .find(|m| buf.len() > m.len() && buf.starts_with(m.as_bytes()) && buf[m.len()] == b' ')
        .copied()
}

/// Parses an HTTP/1.x request head from the start of a client stream.
pub fn parse_request(buf: &[u8]) -> Result<HttpRequest, HttpError> {
    let method = method_of(buf).ok_or(HttpError::Malformed("no request method"))?;
    let window = &buf[..buf.len().min(MAX_HEAD_LEN)];
    let Some(end) = find(window, b"\r\n\r\n") else {
        return Err(if buf.len() >= MAX_HEAD_LEN {
            HttpError::Malformed("request head larger than 8 KiB")
        } else {
            HttpError::Incomplete
        });
    };
    let head = &buf[..end];
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let request_line = lines.next().unwrap_or_default();
    let (path, version_minor) =
        request_target(request_line.get(method.len() + 1..).unwrap_or_default())?;
    let mut req = HttpRequest {
        method,
        path,
        version_minor,
        host: None,
        user_agent: None,
        cookie_names: Vec::new(),
        content_type: None,
        head_len: end + 4,
    };
    for (i, line) in lines.enumerate() {
        if i >= MAX_HEADERS {
            return Err(HttpError::Malformed("too many headers"));
        }
        header(&mut req, line)?;
    }
    Ok(req)
}

/// Splits "TARGET HTTP/1.x" into the kept path and the minor version.
fn request_target(rest: &[u8]) -> Result<(String, u8), HttpError> {
    let sp = rest
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(HttpError::Malformed("request line without version"))?;
    let version_minor = match &rest[sp + 1..] {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        _ => return Err(HttpError::Malformed("not HTTP/1.0 or HTTP/1.1")),
    };
    let target = &rest[..sp];
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(HttpError::Malformed("bad request target"));
    }
    Ok((path_of(target), version_minor))
}

/// Keeps the path of a request target: origin-form as is, absolute-form without scheme and
/// authority, authority-form (CONNECT) and "*" as given; query and fragment dropped.
fn path_of(target: &[u8]) -> String {
    let mut t = target;
    if let Some(after_scheme) = find(t, b"://").map(|i| &t[i + 3..]) {
        t = after_scheme
            .iter()
            .position(|&b| b == b'/')
            .map_or(b"/".as_slice(), |i| &after_scheme[i..]);
    }
    let cut = t.iter().position(|&b| b == b'?' || b == b'#');
    bounded_text(&t[..cut.unwrap_or(t.len())], MAX_PATH_LEN)
}

fn header(req: &mut HttpRequest, line: &[u8]) -> Result<(), HttpError> {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Ok(()); // obsolete line folding: a continuation we do not need
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::Malformed("header line without colon"))?;
    let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
    if name.eq_ignore_ascii_case(b"host") {
        req.host = Some(bounded_text(value, MAX_VALUE_LEN).to_ascii_lowercase());
    } else if name.eq_ignore_ascii_case(b"user-agent") {
        req.user_agent = Some(bounded_text(value, MAX_USER_AGENT_LEN));
    } else if name.eq_ignore_ascii_case(b"content-type") {
        req.content_type = Some(bounded_text(value, MAX_VALUE_LEN));
    } else if name.eq_ignore_ascii_case(b"cookie") {
        cookie_names(&mut req.cookie_names, value);
    }
    Ok(())
}

/// Appends the names of a Cookie header (`a=1; b=2`), dropping every value.
fn cookie_names(out: &mut Vec<String>, value: &[u8]) {
    for pair in value.split(|&b| b == b';') {
        if out.len() >= MAX_COOKIE_NAMES {
            return;
        }
        let name = trim(pair.split(|&b| b == b'=').next().unwrap_or_default());
        if !name.is_empty() {
            out.push(bounded_text(name, MAX_COOKIE_NAME_LEN));
        }
    }
}

/// The cookie *names* a response head sets (`Set-Cookie: datr=…; Path=/`), from the bytes of
/// the server's first segment; values and attributes are never read. Empty when `buf` does not
/// start an HTTP/1.x response. The head may be cut by the segment's end: a name counts once
/// its `=` arrived, so a name cut short does not.
pub fn set_cookie_names(buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let window = &buf[..buf.len().min(MAX_HEAD_LEN)];
    if !window.starts_with(b"HTTP/1.") {
        return out;
    }
    let head = find(window, b"\r\n\r\n").map_or(window, |end| &window[..end]);
    for line in head.split(|&b| b == b'\n').skip(1).take(MAX_HEADERS) {
        let line = trim_cr(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if out.len() < MAX_COOKIE_NAMES && line[..colon].eq_ignore_ascii_case(b"set-cookie") {
            let value = trim(&line[colon + 1..]);
            let pair = value.split(|&b| b == b';').next().unwrap_or_default();
            if let Some(eq) = pair.iter().position(|&b| b == b'=') {
                let name = trim(&pair[..eq]);
                if !name.is_empty() {
                    out.push(bounded_text(name, MAX_COOKIE_NAME_LEN));
                }
            }
        }
    }
    out
}

/// Lossy UTF-8 of at most `max` bytes, cut on a character boundary.
fn bounded_text(b: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(max)]);
    let mut s = s.into_owned();
    if s.len() > max {
        // Replacement characters can make the string longer than the bytes it came from.
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

/// Fields of a WhatsApp User-Agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaUserAgent {
    /// App version after `WhatsApp/`, e.g. "2.23.20.76".
    pub app_version: String,
    /// Platform: "Android", "iOS", ... from `Android/9` style tokens or the one-letter code of
    /// the link-preview fetcher (`A` Android, `i` iOS); the raw letter if unknown.
    pub os: Option<String>,
    /// Platform version, e.g. "9".
    pub os_version: Option<String>,
    /// Device model from `Device/…`, e.g. "samsung-SM-G960F".
    pub device: Option<String>,
}

impl fmt::Display for WaUserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WhatsApp {}", self.app_version)?;
        if let Some(os) = &self.os {
            write!(f, " on {os}")?;
        }
        if let Some(v) = &self.os_version {
            write!(f, " {v}")?;
        }
        if let Some(d) = &self.device {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// Longest single User-Agent token kept.
const MAX_UA_TOKEN_LEN: usize = 64;

/// Parses a WhatsApp User-Agent. Forms seen in public code and traffic:
/// `WhatsApp/2.23.20.76 A` (link previews; `i` on iOS), `WhatsApp/2.19.7 Android/9
/// Device/samsung-SM-G960F` (registration and media), `WhatsApp/2.2037.6 Mozilla/5.0 (…)`
/// (desktop/web wrapper) and browsers embedding `… WhatsApp/2.24.13.78` (in-app browser).
pub fn parse_whatsapp_user_agent(ua: &str) -> Option<WaUserAgent> {
    let ua = ua.get(..ua.len().min(MAX_USER_AGENT_LEN)).unwrap_or(ua);
    let mut tokens = ua.split_ascii_whitespace();
    let app_version =
        tokens.by_ref().find_map(|t| t.strip_prefix("WhatsApp/")).filter(|v| is_version(v))?;
    let mut out = WaUserAgent {
        app_version: app_version.to_owned(),
        os: None,
        os_version: None,
        device: None,
    };
    for (i, token) in tokens.enumerate() {
        if token.len() > MAX_UA_TOKEN_LEN {
            continue;
        }
        match token.split_once('/') {
            Some(("Device", model)) if !model.is_empty() => out.device = Some(model.to_owned()),
            Some((
                os @ ("Android" | "iOS" | "iPhone" | "Windows" | "SMBA" | "SMBI" | "KaiOS"),
                v,
            )) if out.os.is_none() => {
                out.os = Some(os.to_owned());
                out.os_version = (!v.is_empty()).then(|| v.to_owned());
            }
            // The letter code comes right after the version ("WhatsApp/2.23.20.76 A").
            None if i == 0 && token.len() == 1 => out.os = Some(platform_letter(token)),
            _ => {}
        }
    }
    Some(out)
}

/// One-letter platform codes of WhatsApp's link-preview fetcher.
fn platform_letter(letter: &str) -> String {
    match letter {
        "A" => "Android".to_owned(),
        "i" => "iOS".to_owned(),
        other => other.to_owned(),
    }
}

fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl HttpEvent {
    /// The event for a parsed request.
    pub fn new(ts_nanos: i64, uid: String, r: &HttpRequest) -> Self {
        HttpEvent {
            ts: secs_us(ts_nanos),
            uid,
            method: r.method,
            host: r.host.clone(),
            user_agent: r.user_agent.clone(),
            cookie_names: r.cookie_names.clone(),
            app: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::bytes::unhex;

    const REQ: &[u8] = b"GET /v/t62.7118-24/abc.enc?ccb=11-4&oh=SECRET&oe=64 HTTP/1.1\r\n\
Host: MMG.WhatsApp.net\r\n\
User-Agent: WhatsApp/2.19.7 Android/9 Device/samsung-SM-G960F\r\n\
Cookie: datr=SECRETVALUE; sb=SECRET2;  wd=1x1\r\n\
Content-Type: application/octet-stream\r\n\
X-Other: ignored\r\n\
\r\n\
BODY";

    #[test]
    fn set_cookie_names_only() {
        let head = b"HTTP/1.1 200 OK\r\nSet-Cookie: datr=SECRET; expires=Thu; Max-Age=63072000; path=/; domain=.facebook.com; secure; httponly\r\nset-cookie: fr=SECRET2; Path=/\r\nContent-Type: text/html\r\n\r\nbody";
        assert_eq!(set_cookie_names(head), ["datr", "fr"]);
        // Cut inside the second header: the first name counts, the cut one does not.
        assert_eq!(set_cookie_names(&head[..70]), ["datr"]);
        assert_eq!(set_cookie_names(&head[..30]), Vec::<String>::new());
        assert!(set_cookie_names(b"GET / HTTP/1.1\r\nSet-Cookie: a=b\r\n\r\n").is_empty());
    }

    #[test]
    fn parses_request_head_metadata_only() {
        let r = parse_request(REQ).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/v/t62.7118-24/abc.enc");
        assert_eq!(r.version_minor, 1);
        assert_eq!(r.host.as_deref(), Some("mmg.whatsapp.net"));
        assert_eq!(
            r.user_agent.as_deref(),
            Some("WhatsApp/2.19.7 Android/9 Device/samsung-SM-G960F")
        );
        assert_eq!(r.cookie_names, ["datr", "sb", "wd"]);
        assert_eq!(r.content_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(r.head_len, REQ.len() - 4);
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("SECRET"), "value leaked: {dbg}");
    }

    #[test]
    fn incomplete_until_blank_line() {
        for cut in 4..REQ.len() - 4 {
            assert_eq!(parse_request(&REQ[..cut]), Err(HttpError::Incomplete), "cut {cut}");
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_LEN + 10, b'a');
        assert!(matches!(parse_request(&huge), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn absolute_form_and_long_paths() {
        let r = parse_request(b"POST http://Example.com:8080/a/b?x=1#f HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r.path, "/a/b");
        assert_eq!(r.version_minor, 0);
        let r = parse_request(b"CONNECT g.whatsapp.net:443 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.path, "g.whatsapp.net:443");
        let mut long = b"GET /".to_vec();
        long.extend(std::iter::repeat_n(0xc3, 600)); // broken UTF-8
        long.extend_from_slice(b" HTTP/1.1\r\n\r\n");
        assert!(parse_request(&long).unwrap().path.len() <= MAX_PATH_LEN);
    }

    #[test]
    fn rejects_non_http() {
        assert!(!looks_like_http_request(b"GETX / HTTP/1.1"));
        assert!(!looks_like_http_request(b"GET"));
        assert!(!looks_like_http_request(&[0x16, 0x03, 0x01]));
        assert!(looks_like_http_request(b"OPTIONS "));
        assert!(matches!(parse_request(b"GET / HTTP/2.0\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(parse_request(b"GET  HTTP/1.1\r\n\r\n"), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn whatsapp_user_agents() {
        let ua =
            parse_whatsapp_user_agent("WhatsApp/2.19.7 Android/9 Device/samsung-SM-G960F").unwrap();
        assert_eq!(ua.app_version, "2.19.7");
        assert_eq!(ua.os.as_deref(), Some("Android"));
        assert_eq!(ua.os_version.as_deref(), Some("9"));
        assert_eq!(ua.device.as_deref(), Some("samsung-SM-G960F"));
        assert_eq!(ua.to_string(), "WhatsApp 2.19.7 on Android 9 (samsung-SM-G960F)");

        let ua = parse_whatsapp_user_agent("WhatsApp/2.23.20.76 A").unwrap();
        assert_eq!(ua.app_version, "2.23.20.76");
        assert_eq!(ua.os.as_deref(), Some("Android"));
        assert_eq!(ua.device, None);

        let ua = parse_whatsapp_user_agent("WhatsApp/2.22.24.81 i").unwrap();
        assert_eq!(ua.os.as_deref(), Some("iOS"));

        let ua =
            parse_whatsapp_user_agent("WhatsApp/2.26.37.71 Android/15 Device/Samsung-SM-S928B")
                .unwrap();
        assert_eq!(ua.os_version.as_deref(), Some("15"));

        // Desktop/web wrapper and in-app browser: version only.
        let ua = parse_whatsapp_user_agent(
            "WhatsApp/2.2037.6 Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_6) AppleWebKit/537.36",
        )
        .unwrap();
        assert_eq!((ua.app_version.as_str(), ua.os), ("2.2037.6", None));
        let ua = parse_whatsapp_user_agent(
            "Mozilla/5.0 (Linux; Android 14; wv) Chrome/126.0 Mobile Safari/537.36 WhatsApp/2.24.13.78",
        )
        .unwrap();
        assert_eq!(ua.app_version, "2.24.13.78");

        assert_eq!(parse_whatsapp_user_agent("Mozilla/5.0 (X11; Linux x86_64)"), None);
        assert_eq!(parse_whatsapp_user_agent("WhatsApp/ A"), None);
        assert_eq!(parse_whatsapp_user_agent("WhatsApp/x.y"), None);
    }

    /// First client bytes of real HTTP flows (scripts/extract-dissect-fixtures.sh): each parses,
    /// keeps no query string, and the other flows' first bytes are not taken for HTTP.
    #[test]
    fn real_captures_parse() {
        let fixture = include_str!("../../tests/fixtures/http/requests.tsv");
        let mut parsed = 0;
        for line in fixture.lines() {
            let buf = unhex(line.rsplit('\t').next().unwrap());
            let r = parse_request(&buf).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(!r.path.contains('?'), "{}", r.path);
            assert!(r.host.is_some(), "{line}");
            parsed += 1;
        }
        assert!(parsed >= 30, "{parsed}");
        let others = include_str!("../../tests/fixtures/whatsapp/first_client_bytes.tsv");
        for line in others.lines().filter(|l| !l.contains("HTTP")) {
            let buf = unhex(line.rsplit('\t').next().unwrap());
            assert!(!looks_like_http_request(&buf), "{line}");
        }
    }

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let mut x: u64 = 0xdead_beef_cafe_f00d;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..30_000 {
            let mut buf = REQ.to_vec();
            for _ in 0..rnd() % 8 {
                let at = rnd() as usize % buf.len();
                buf[at] = match rnd() % 4 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b' ',
                    _ => rnd() as u8,
                };
            }
            buf.truncate(rnd() as usize % (buf.len() + 1));
            if let Ok(r) = parse_request(&buf) {
                assert!(r.path.len() <= MAX_PATH_LEN);
                assert!(r.cookie_names.len() <= MAX_COOKIE_NAMES);
            }
            if let Ok(s) = std::str::from_utf8(&buf) {
                let _ = parse_whatsapp_user_agent(s);
            }
        }
    }
}
