//! Per-flow dissection: which parsers still have a chance on this flow, what they found, and the
//! bounded buffers they need. Once every parser has decided, the buffers are freed and later
//! packets of the flow cost one branch.

use super::cert::{self, CertError, CertInfo};
use super::dhcp::{self, DhcpMessage};
use super::dns::{self, DnsMessage};
use super::http::{self, HttpError, HttpRequest};
use super::ja4::{self, HelloTransport};
use super::quic::{self, QuicInitialState, QuicProgress};
use super::rtp;
use super::signature::Signature;
use super::stream::{self, ClientStream};
use super::stun::{self, StunInfo};
use super::tls::{self, ClientHello, ParseError};
use super::wa_legacy;
use super::whatsapp::{self, Detect};
use crate::decode::{Decoded, Transport, tcp_flags};
use crate::record::{AppProto, NameSource};

/// Client data segments looked at before giving up on a TCP flow.
const MAX_TCP_SEGMENTS: u8 = 12;
/// Responder data segments looked at for the server Certificate before giving up (the 16 KiB
/// stream cap usually ends the wait first: servers send full-sized segments).
const MAX_SERVER_SEGMENTS: u8 = 64;
/// Datagrams (either direction) looked at before giving up on a UDP flow.
const MAX_UDP_DATAGRAMS: u8 = 8;
/// On a STUN flow, datagrams looked at for the media (RTP/RTCP) that follows.
const MAX_STUN_DATAGRAMS: u8 = 48;

/// What dissection learnt about a flow: metadata only.
#[derive(Debug, Default, Clone)]
pub struct AppInfo {
    /// Application protocol: `tls`, `quic`, `http`, `dns`, `whatsapp_chat`, `stun`, `rtp`, ….
    pub app_proto: Option<AppProto>,
    /// TLS/QUIC SNI, HTTP Host.
    pub server_name: Option<Box<str>>,
    /// Where `server_name` came from: `tls_sni`, `quic_sni`, `gquic_sni`, `dtls_sni`,
    /// `tls_cert`, `http_host`, `stun_realm`.
    pub name_source: Option<NameSource>,
    /// The server certificate's other names (subjectAltName DNS names), when `server_name` came
    /// from it: the classifier tries them after `server_name`.
    pub cert_names: Option<Box<[Box<str>]>>,
    /// First ALPN value offered.
    pub alpn: Option<Box<str>>,
    /// JA4 client fingerprint.
    pub ja4: Option<Box<str>>,
    /// JA3 client fingerprint (MD5).
    pub ja3: Option<Box<str>>,
    /// QUIC version of the Initial.
    pub quic_version: Option<u32>,
    /// WhatsApp chat protocol version from the preface, e.g. "6.3".
    pub protocol_version: Option<Box<str>>,
    /// The WhatsApp preface used edge routing (`ED` prefix).
    pub wa_edge_routing: bool,
    /// Legacy (1.x) stream: the client build it named in clear, e.g. `Android-2.12.84`.
    pub wa_client: Option<Box<str>>,
    /// Legacy (1.x) stream: the account's phone number from its clear login, masked (`+55…10`).
    pub wa_phone: Option<Box<str>>,
    /// Responses parsed on a DNS flow.
    pub dns_responses: u32,
    /// Name the client looked up for the server address (DNS cache), set at the flow's start.
    pub dns_name: Option<Box<str>>,
    /// STUN messages seen.
    pub stun_messages: u16,
    /// A STUN message had WhatsApp's relay types or attributes.
    pub stun_whatsapp_relay: bool,
    /// A STUN realm named Facebook (Messenger/Facebook calls).
    pub stun_facebook_realm: bool,
    /// RTP or RTCP packets seen within the dissection window of a STUN flow.
    pub rtp_packets: u16,
    /// HTTP User-Agent of the first request.
    pub user_agent: Option<Box<str>>,
    /// Cookie names the server's first HTTP response head sets (never values).
    pub set_cookie_names: Vec<String>,
    /// The Android app behind the flow, from a PCAPdroid trailer.
    pub android: Option<Box<crate::capture::pcapdroid::AndroidApp>>,
}

impl AppInfo {
    /// A few bits that change when dissection learns something that can name the server (a name,
    /// a signature, STUN): the classifier only needs another look when they change.
    pub fn naming_signals(&self) -> u8 {
        u8::from(self.server_name.is_some())
            | u8::from(self.protocol_version.is_some()) << 1
            | u8::from(self.stun_whatsapp_relay) << 2
            | u8::from(self.stun_facebook_realm) << 3
            | u8::from(self.stun_messages > 0 || self.rtp_packets > 0) << 4
    }

    /// The dissector signatures that matched.
    pub fn signatures(&self) -> impl Iterator<Item = Signature> {
        [
            (self.protocol_version.is_some(), Signature::WhatsappPreface),
            (self.stun_whatsapp_relay, Signature::StunWhatsappRelay),
            (self.stun_facebook_realm, Signature::StunRealmFacebook),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

/// An [`AppInfo`] allocated only once a parser finds something: most flows of a flood (and
/// every flow a parser gives up on) find nothing, and an inline `AppInfo` would cost each live
/// flow 168 bytes. Reads see an empty `AppInfo`; the first write allocates.
#[derive(Debug, Default, Clone)]
pub struct Findings(Option<Box<AppInfo>>);

/// What reads of a flow with no findings see.
static NOTHING_FOUND: std::sync::LazyLock<AppInfo> = std::sync::LazyLock::new(AppInfo::default);

impl std::ops::Deref for Findings {
    type Target = AppInfo;
    fn deref(&self) -> &AppInfo {
        match self.0.as_deref() {
            Some(found) => found,
            None => &NOTHING_FOUND,
        }
    }
}

impl std::ops::DerefMut for Findings {
    fn deref_mut(&mut self) -> &mut AppInfo {
        self.0.get_or_insert_default()
    }
}

/// Something a parser found that outlives the flow record (events, name caches).
#[derive(Debug)]
pub enum Observation {
    /// A DNS response.
    Dns(DnsMessage),
    /// A TLS or QUIC ClientHello.
    Hello(Box<ClientHello>),
    /// An HTTP request head.
    Http(Box<HttpRequest>),
    /// A STUN message (the first few of a flow).
    Stun(Box<StunInfo>),
    /// A DHCP message.
    Dhcp(Box<DhcpMessage>),
    /// The names and facts of a TLS server's leaf certificate.
    Cert(Box<CertInfo>),
}

/// Which parsers are still undecided on a TCP flow.
#[derive(Debug, Default)]
struct TcpTries {
    stream: ClientStream,
    segments: u8,
    tls: bool,
    wa: bool,
    /// A legacy (1.x) WhatsApp stream: where its clear frames start, until its login is read.
    legacy: Option<usize>,
    http: bool,
    /// The responder's first data was checked for a DNS-over-TCP response.
    server_checked: bool,
    /// Waiting for the server's cleartext Certificate (a hello without SNI was seen).
    cert: bool,
    /// The responder's initial sequence number, kept until the hello tells whether `server` is
    /// needed.
    server_isn: Option<u32>,
    /// The responder's first bytes, gathered only while `cert` is set: boxed, so the common flow
    /// (a hello with SNI) does not carry a second reassembly buffer.
    server: Option<Box<ServerBytes>>,
}

/// The responder's side of a TLS flow whose hello had no SNI, read for its Certificate.
#[derive(Debug, Default)]
struct ServerBytes {
    stream: ClientStream,
    segments: u8,
    /// Bytes needed before the Certificate reader can make progress.
    need: usize,
}

/// Bounded per-flow parser state; dropped once all parsers have decided.
#[derive(Debug)]
enum Active {
    Tcp(Box<TcpTries>),
    Udp {
        seen: u8,
        quic: Option<Box<QuicInitialState>>,
        stun: bool,
    },
    /// A DNS flow: every response is parsed (cheap, and the answers matter).
    Dns,
    /// DNS over TCP: every responder segment is parsed as length-prefixed messages.
    DnsTcp,
    /// A DHCP flow: every datagram is parsed. Many clients share one flow (0.0.0.0:68 →
    /// 255.255.255.255:67 carries every DISCOVER of the network), so a per-flow window would
    /// miss the devices that join later; one message per datagram bounds the work.
    Dhcp,
}

/// The BOOTP server and client ports.
const DHCP_PORTS: [u16; 2] = [67, 68];

/// Per-flow dissection state.
#[derive(Debug, Default)]
pub struct FlowDissect {
    active: Option<Active>,
    started: bool,
    /// Findings so far.
    pub app: Findings,
}

impl FlowDissect {
    /// Whether the flow has had a packet yet.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether some parser is still looking at this flow's packets.
    pub fn dissecting(&self) -> bool {
        self.active.is_some()
    }

    /// Looks at one packet of the flow. `from_orig`: sent by the originator.
    pub fn packet(&mut self, d: &Decoded<'_>, from_orig: bool, out: &mut Vec<Observation>) {
        if !self.started {
            self.started = true;
            self.active = match d.transport {
                Transport::Tcp(_) => Some(Active::Tcp(Box::new(TcpTries {
                    tls: true,
                    wa: true,
                    http: true,
                    ..TcpTries::default()
                }))),
                Transport::Udp { sport, dport, .. }
                    if DHCP_PORTS.contains(&sport) && DHCP_PORTS.contains(&dport) =>
                {
                    Some(Active::Dhcp)
                }
                Transport::Udp { .. } => Some(Active::Udp { seen: 0, quic: None, stun: false }),
                _ => None,
            };
        }
        let Some(active) = self.active.as_mut() else { return };
        let done = match (active, d.transport) {
            (Active::Tcp(t), Transport::Tcp(seg)) => {
                if !from_orig {
                    if seg.flags & tcp_flags::SYN != 0 {
                        t.server_isn = Some(seg.seq);
                    }
                    if seg.payload.is_empty() {
                        false
                    } else if t.server_checked {
                        t.cert && server_cert_bytes(t, seg.seq, seg.payload, &mut self.app, out)
                    } else {
                        t.server_checked = true;
                        if self.app.app_proto == Some(AppProto::Http) {
                            self.app.set_cookie_names = http::set_cookie_names(seg.payload);
                        }
                        if tcp_dns_responses(seg.payload, &mut self.app, out) {
                            self.active = Some(Active::DnsTcp);
                            return;
                        }
                        if t.cert {
                            server_cert_bytes(t, seg.seq, seg.payload, &mut self.app, out);
                        }
                        t.decided()
                    }
                } else if seg.flags & tcp_flags::SYN != 0 {
                    t.stream.syn(seg.seq);
                    false
                } else if seg.payload.is_empty() || t.client_decided() {
                    false
                } else {
                    t.segments += 1;
                    t.stream.segment(seg.seq, seg.payload);
                    tcp_client_bytes(t, &mut self.app, out);
                    if t.client_decided() {
                        // Keep no client bytes once every parser has decided.
                        t.stream = ClientStream::default();
                    }
                    t.decided()
                }
            }
            (Active::DnsTcp, Transport::Tcp(seg)) => {
                if !from_orig && !seg.payload.is_empty() {
                    tcp_dns_responses(seg.payload, &mut self.app, out);
                }
                false
            }
            (Active::Udp { seen, quic, stun }, Transport::Udp { payload, .. }) => {
                *seen += 1;
                if *stun {
                    stun_flow_datagram(payload, &mut self.app, out) || *seen >= MAX_STUN_DATAGRAMS
                } else {
                    match udp_datagram(payload, from_orig, quic, &mut self.app, out) {
                        UdpStep::Dns => {
                            self.active = Some(Active::Dns);
                            return;
                        }
                        UdpStep::Dhcp => {
                            self.active = Some(Active::Dhcp);
                            return;
                        }
                        UdpStep::Stun => {
                            *stun = true;
                            false
                        }
                        UdpStep::Done => true,
                        UdpStep::More => *seen >= MAX_UDP_DATAGRAMS,
                    }
                }
            }
            (Active::Dns, Transport::Udp { payload, .. }) => {
                dns_response(payload, &mut self.app, out);
                false
            }
            (Active::Dhcp, Transport::Udp { payload, .. }) => {
                dhcp_message(payload, &mut self.app, out);
                false
            }
            _ => false,
        };
        if done {
            self.active = None;
        }
    }
}

impl TcpTries {
    /// Whether every parser, client and server side, has decided.
    fn decided(&self) -> bool {
        self.client_decided() && self.server_checked && !self.cert
    }

    /// Whether every client-side parser has decided, or the window is spent.
    fn client_decided(&self) -> bool {
        !(self.tls || self.wa || self.http || self.legacy.is_some())
            || self.segments >= MAX_TCP_SEGMENTS
            || self.stream.full()
    }
}

/// Most DNS messages parsed from one TCP segment.
const MAX_DNS_PER_SEGMENT: usize = 16;

/// Parses the DNS responses at the start of a responder segment (RFC 1035 §4.2.2 framing).
/// Returns whether any was found. A message split over segments is skipped, not reassembled.
fn tcp_dns_responses(mut buf: &[u8], app: &mut Findings, out: &mut Vec<Observation>) -> bool {
    let mut found = false;
    for _ in 0..MAX_DNS_PER_SEGMENT {
        let Ok((msg, used)) = dns::parse_tcp(buf) else { break };
        if !msg.is_response {
            break;
        }
        found = true;
        app.app_proto = Some(AppProto::Dns);
        app.dns_responses += 1;
        out.push(Observation::Dns(msg));
        buf = &buf[used..];
    }
    found
}

/// Runs the TCP parsers on the client's bytes.
fn tcp_client_bytes(t: &mut TcpTries, app: &mut Findings, out: &mut Vec<Observation>) {
    let bytes = t.stream.bytes();
    if t.tls {
        match tls::parse_client_hello_records(bytes) {
            Ok(hello) => {
                t.tls = false;
                t.wa = false;
                app.app_proto = Some(AppProto::Tls);
                // Without SNI, a TLS 1.2-or-older server names itself in its Certificate.
                t.cert = hello.sni.is_none();
                record_hello(app, &hello, HelloTransport::Tcp, NameSource::TlsSni);
                out.push(Observation::Hello(Box::new(hello)));
            }
            Err(ParseError::Incomplete { .. }) => {}
            Err(_) => t.tls = false,
        }
    }
    if t.wa {
        match whatsapp::detect_preface(bytes) {
            Detect::Match(p) => {
                t.wa = false;
                t.tls = false;
                app.app_proto = Some(AppProto::WhatsappChat);
                app.protocol_version = Some(p.version.to_string().into());
                app.wa_edge_routing = p.edge_routing;
                if p.version.major == 1 {
                    t.legacy = Some(p.header_end);
                }
            }
            Detect::Need(_) => {}
            Detect::NoMatch => t.wa = false,
        }
    }
    if let Some(at) = t.legacy
        && let wa_legacy::Step::Done(login) = wa_legacy::login(bytes.get(at..).unwrap_or(&[]))
    {
        t.legacy = None;
        app.wa_client = login.resource.map(Into::into);
        app.wa_phone = login.phone.map(|p| p.to_string().into());
    }
    if t.http && !http::looks_like_http_request(bytes) && bytes.len() >= 8 {
        t.http = false;
    }
    if t.http {
        match http::parse_request(bytes) {
            Ok(req) => {
                t.http = false;
                app.app_proto = Some(AppProto::Http);
                if let Some(host) = &req.host {
                    app.server_name = Some(host.as_str().into());
                    app.name_source = Some(NameSource::HttpHost);
                }
                app.user_agent = req.user_agent.as_deref().map(Into::into);
                out.push(Observation::Http(Box::new(req)));
            }
            Err(HttpError::Incomplete) => {}
            Err(_) => t.http = false,
        }
    }
}

/// Feeds a responder segment to the Certificate reader; returns whether the flow's dissection
/// is over (the certificate was read or will not come, and the client side has decided).
fn server_cert_bytes(
    t: &mut TcpTries,
    seq: u32,
    payload: &[u8],
    app: &mut AppInfo,
    out: &mut Vec<Observation>,
) -> bool {
    let isn = t.server_isn;
    let s = t.server.get_or_insert_with(|| {
        let mut s = Box::<ServerBytes>::default();
        if let Some(isn) = isn {
            s.stream.syn(isn);
        }
        s
    });
    s.segments += 1;
    // Parse again only once the bytes the last try asked for are there.
    if s.stream.segment(seq, payload) && s.stream.bytes().len() >= s.need {
        match cert::parse_server_certificate(s.stream.bytes(), stream::MAX_STREAM) {
            Ok(info) => {
                if let Some(name) = info.primary_name() {
                    app.server_name = Some(name.into());
                    app.name_source = Some(NameSource::TlsCert);
                    let rest: Box<[Box<str>]> = info.names().skip(1).map(Into::into).collect();
                    app.cert_names = (!rest.is_empty()).then_some(rest);
                }
                out.push(Observation::Cert(Box::new(info)));
                t.cert = false;
            }
            Err(CertError::Incomplete { need }) => s.need = s.stream.bytes().len() + need,
            Err(CertError::TooLarge { .. }) => {
                cert::count_capped();
                t.cert = false;
            }
            Err(_) => t.cert = false,
        }
    }
    if s.segments >= MAX_SERVER_SEGMENTS || s.stream.full() {
        if t.cert && s.stream.full() {
            cert::count_capped();
        }
        t.cert = false;
    }
    if !t.cert {
        t.server = None;
    }
    t.decided()
}

enum UdpStep {
    /// The flow is DNS: keep parsing responses.
    Dns,
    /// The flow is DHCP: keep parsing messages.
    Dhcp,
    /// The flow is STUN: look for more STUN and the media that follows.
    Stun,
    /// Nothing more to learn.
    Done,
    /// Look at more datagrams.
    More,
}

fn udp_datagram(
    payload: &[u8],
    from_orig: bool,
    quic: &mut Option<Box<QuicInitialState>>,
    app: &mut Findings,
    out: &mut Vec<Observation>,
) -> UdpStep {
    if let Some(state) = quic.as_mut() {
        return if from_orig { feed_quic(state, payload, app, out) } else { UdpStep::More };
    }
    if from_orig && quic::looks_like_quic_initial(payload) {
        app.app_proto = Some(AppProto::Quic);
        let state = quic.insert(Box::new(QuicInitialState::new()));
        let step = feed_quic(state, payload, app, out);
        app.quic_version = Some(state.version);
        return step;
    }
    if from_orig && let Some(hello) = quic::gquic_client_hello(payload) {
        // Google QUIC before Q050: the CHLO is cleartext.
        app.app_proto = Some(AppProto::Quic);
        record_chlo(app, hello);
        return UdpStep::Done;
    }
    if let Some(info) = stun::classify(payload) {
        note_stun(app, info, out);
        return UdpStep::Stun;
    }
    // Either end may be the DTLS client (in WebRTC the roles follow ICE, not the first packet).
    if tls::looks_like_dtls_handshake(payload) {
        if let Ok(hello) = tls::parse_dtls_client_hello(payload) {
            app.app_proto = Some(AppProto::Dtls);
            record_hello(app, &hello, HelloTransport::Dtls, NameSource::DtlsSni);
            out.push(Observation::Hello(Box::new(hello)));
            return UdpStep::Done;
        }
        return UdpStep::More;
    }
    if dhcp_message(payload, app, out) {
        // DHCP on other ports (relays): from now on every datagram, as on ports 67/68.
        return UdpStep::Dhcp;
    }
    if dns::looks_like_dns_response(payload) {
        app.app_proto = Some(AppProto::Dns);
        dns_response(payload, app, out);
        return UdpStep::Dns;
    }
    UdpStep::More
}

/// Feeds a client datagram to the QUIC Initial decryptor.
fn feed_quic(
    state: &mut QuicInitialState,
    payload: &[u8],
    app: &mut Findings,
    out: &mut Vec<Observation>,
) -> UdpStep {
    match state.feed_client_datagram(payload) {
        QuicProgress::Done(hello) => {
            app.quic_version = Some(state.version);
            record_hello(app, &hello, HelloTransport::Quic, NameSource::QuicSni);
            out.push(Observation::Hello(hello));
            UdpStep::Done
        }
        QuicProgress::Chlo(hello) => {
            record_chlo(app, hello);
            UdpStep::Done
        }
        QuicProgress::NeedMore => UdpStep::More,
        QuicProgress::Failed(_) => UdpStep::Done,
    }
}

/// A gQUIC CHLO's version and server name (cleartext before Q050, decrypted from Q050 on).
fn record_chlo(app: &mut Findings, hello: quic::GquicHello) {
    app.quic_version = Some(hello.version);
    if let Some(sni) = hello.sni {
        app.server_name = Some(sni.into());
        app.name_source = Some(NameSource::GquicSni);
    }
}

/// A datagram on a flow already seen carrying STUN: more STUN, or RTP/RTCP media. Returns
/// whether there is nothing more to learn.
fn stun_flow_datagram(payload: &[u8], app: &mut Findings, out: &mut Vec<Observation>) -> bool {
    if let Some(info) = stun::classify(payload) {
        note_stun(app, info, out);
    } else if app.ja4.is_none()
        && tls::looks_like_dtls_handshake(payload)
        && let Ok(hello) = tls::parse_dtls_client_hello(payload)
    {
        // WebRTC's DTLS handshake after ICE: fingerprinted, while the flow stays a STUN/media
        // flow (its name, if any, is the relay's realm).
        record_fingerprints(app, &hello, HelloTransport::Dtls);
    } else if rtp::looks_like_rtp(payload).is_some() || rtp::looks_like_rtcp(payload).is_some() {
        app.rtp_packets += 1;
        app.app_proto = Some(AppProto::Rtp);
    }
    // A few media packets confirm the call; the flow counters measure the rest.
    app.rtp_packets >= 4
}

/// Bounded number of STUN messages reported as observations per flow.
const MAX_STUN_OBSERVATIONS: u16 = 4;

fn note_stun(app: &mut Findings, info: StunInfo, out: &mut Vec<Observation>) {
    if app.app_proto.is_none() {
        app.app_proto = Some(AppProto::Stun);
    }
    app.stun_messages = app.stun_messages.saturating_add(1);
    app.stun_whatsapp_relay |= info.whatsapp_relay;
    app.stun_facebook_realm |= info.facebook_realm;
    if app.server_name.is_none()
        && let Some(realm) = &info.realm
    {
        app.server_name = Some(realm.as_str().into());
        app.name_source = Some(NameSource::StunRealm);
    }
    if app.stun_messages <= MAX_STUN_OBSERVATIONS {
        out.push(Observation::Stun(Box::new(info)));
    }
}

/// Parses one DHCP message (every message of an exchange matters: DISCOVER, REQUEST, ACK).
/// Returns whether it was one.
fn dhcp_message(payload: &[u8], app: &mut Findings, out: &mut Vec<Observation>) -> bool {
    match dhcp::parse(payload) {
        Ok(msg) if msg.message_type.is_some() => {
            app.app_proto = Some(AppProto::Dhcp);
            out.push(Observation::Dhcp(Box::new(msg)));
            true
        }
        _ => false,
    }
}

fn dns_response(payload: &[u8], app: &mut Findings, out: &mut Vec<Observation>) {
    if let Ok(msg) = dns::parse(payload)
        && msg.is_response
    {
        app.dns_responses += 1;
        out.push(Observation::Dns(msg));
    }
}

fn record_hello(app: &mut Findings, hello: &ClientHello, t: HelloTransport, source: NameSource) {
    if let Some(sni) = &hello.sni {
        app.server_name = Some(sni.as_str().into());
        app.name_source = Some(source);
    }
    record_fingerprints(app, hello, t);
}

/// The hello's ALPN, JA4 and JA3, without naming the flow.
fn record_fingerprints(app: &mut Findings, hello: &ClientHello, t: HelloTransport) {
    app.alpn = hello.alpn.first().map(|a| a.as_str().into());
    app.ja4 = Some(ja4::ja4(hello, t).into());
    app.ja3 = Some(ja4::ja3_hash(hello).into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_ip;
    use etherparse::PacketBuilder;

    /// A DNS response for `g.whatsapp.net` → 157.240.0.53, built by hand.
    fn dns_response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend(b"\x01g\x08whatsapp\x03net\x00\x00\x01\x00\x01");
        m.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 157, 240, 0, 53]);
        m
    }

    fn tcp(from_client: bool, payload: &[u8]) -> Vec<u8> {
        let (a, b) = ([10, 42, 0, 2], [10, 42, 0, 1]);
        let (src, dst, sp, dp) = if from_client { (a, b, 40000, 53) } else { (b, a, 53, 40000) };
        let mut v = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .tcp(sp, dp, 1, 1000)
            .ack(1)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    #[test]
    fn dns_over_tcp_responses_are_parsed() {
        let mut f = FlowDissect::default();
        let mut out = Vec::new();
        let mut query = vec![0, 20];
        query.extend([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'g', 0, 0, 1, 0, 1, 0]);
        f.packet(&decode_ip(&tcp(true, &query)).unwrap(), true, &mut out);
        let resp = dns_response();
        let mut framed = (resp.len() as u16).to_be_bytes().to_vec();
        framed.extend(&resp);
        framed.extend((resp.len() as u16).to_be_bytes());
        framed.extend(&resp); // two messages in one segment
        f.packet(&decode_ip(&tcp(false, &framed)).unwrap(), false, &mut out);
        assert_eq!(f.app.app_proto, Some(AppProto::Dns));
        assert_eq!(out.iter().filter(|o| matches!(o, Observation::Dns(_))).count(), 2);
    }

    #[test]
    fn dns_response_found_on_any_udp_port() {
        let mut f = FlowDissect::default();
        let mut out = Vec::new();
        let mut v = Vec::new();
        PacketBuilder::ipv4([10, 42, 0, 1], [10, 42, 0, 2], 64)
            .udp(5300, 41000)
            .write(&mut v, &dns_response())
            .unwrap();
        f.packet(&decode_ip(&v).unwrap(), true, &mut out);
        assert_eq!(f.app.app_proto, Some(AppProto::Dns));
        let Some(Observation::Dns(m)) = out.first() else { panic!("no DNS observation") };
        assert_eq!(m.questions[0].0, "g.whatsapp.net");
    }

    #[test]
    fn decided_tcp_flow_keeps_no_client_bytes() {
        let mut f = FlowDissect::default();
        let mut out = Vec::new();
        f.packet(&decode_ip(&tcp(true, b"\x16\x03\x01\x00\x05hello")).unwrap(), true, &mut out);
        f.packet(&decode_ip(&tcp(true, b"GARBAGE!")).unwrap(), true, &mut out);
        let Some(Active::Tcp(t)) = &f.active else { panic!("tcp state dropped too early") };
        assert!(t.client_decided());
        assert!(t.stream.bytes().is_empty());
        f.packet(&decode_ip(&tcp(false, b"server says hi")).unwrap(), false, &mut out);
        assert!(f.active.is_none(), "all parsers decided: state freed");
    }
}
