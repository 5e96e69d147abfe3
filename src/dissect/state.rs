//! Per-flow dissection: which parsers still have a chance on this flow, what they found, and the
//! bounded buffers they need. Once every parser has decided, the buffers are freed and later
//! packets of the flow cost one branch.

use super::dhcp::{self, DhcpMessage};
use super::dns::{self, DnsMessage};
use super::http::{self, HttpError, HttpRequest};
use super::ja4::{self, Transport as Ja4Transport};
use super::quic::{self, QuicInitialState, QuicProgress};
use super::stream::ClientStream;
use super::stun::{self, StunInfo};
use super::tls::{self, ClientHello, ParseError};
use super::whatsapp::{self, Detect};
use crate::decode::{Decoded, Transport, tcp_flags};

/// Client data segments looked at before giving up on a TCP flow.
const MAX_TCP_SEGMENTS: u8 = 12;
/// Datagrams (either direction) looked at before giving up on a UDP flow.
const MAX_UDP_DATAGRAMS: u8 = 8;
/// On a STUN flow, datagrams looked at for the media (RTP/RTCP) that follows.
const MAX_STUN_DATAGRAMS: u8 = 48;

/// What dissection learnt about a flow: metadata only.
#[derive(Debug, Default, Clone)]
pub struct AppInfo {
    /// Application protocol: `tls`, `quic`, `http`, `dns`, `whatsapp_chat`, `stun`, `rtp`, ….
    pub app_proto: Option<&'static str>,
    /// TLS/QUIC SNI, HTTP Host.
    pub server_name: Option<Box<str>>,
    /// Where `server_name` came from: `tls_sni`, `quic_sni`, `http_host`.
    pub name_source: Option<&'static str>,
    /// First ALPN value offered.
    pub alpn: Option<Box<str>>,
    /// JA4 client fingerprint.
    pub ja4: Option<Box<str>>,
    /// JA3 client fingerprint (MD5).
    pub ja3: Option<Box<str>>,
    /// QUIC version of the Initial.
    pub quic_version: Option<u32>,
    /// WhatsApp chat protocol version from the preface, e.g. "6.3".
    pub wa_version: Option<Box<str>>,
    /// The WhatsApp preface used edge routing (`ED` prefix).
    pub wa_edge_routing: bool,
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
}

impl AppInfo {
    /// A few bits that change when dissection learns something that can name the server (a name,
    /// a signature, STUN): the classifier only needs another look when they change.
    pub fn naming_signals(&self) -> u8 {
        u8::from(self.server_name.is_some())
            | u8::from(self.wa_version.is_some()) << 1
            | u8::from(self.stun_whatsapp_relay) << 2
            | u8::from(self.stun_facebook_realm) << 3
            | u8::from(self.stun_messages > 0 || self.rtp_packets > 0) << 4
    }

    /// Names of the dissector signatures that matched (see `classify::KNOWN_SIGNATURES`).
    pub fn signatures(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.wa_version.is_some(), "whatsapp_preface"),
            (self.stun_whatsapp_relay, "stun_whatsapp_relay"),
            (self.stun_facebook_realm, "stun_realm_facebook"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
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
}

/// Which parsers are still undecided on a TCP flow.
#[derive(Debug, Default)]
struct TcpTries {
    stream: ClientStream,
    segments: u8,
    tls: bool,
    wa: bool,
    http: bool,
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
}

/// Per-flow dissection state.
#[derive(Debug, Default)]
pub struct FlowDissect {
    active: Option<Active>,
    started: bool,
    /// Findings so far.
    pub app: AppInfo,
    /// Activity over time, for flows that look like Meta's.
    pub activity: crate::flow::activity::ActivityTrack,
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
                Transport::Udp { .. } => Some(Active::Udp { seen: 0, quic: None, stun: false }),
                _ => None,
            };
        }
        let Some(active) = self.active.as_mut() else { return };
        let done = match (active, d.transport) {
            (Active::Tcp(t), Transport::Tcp(seg)) => {
                if !from_orig {
                    false
                } else if seg.flags & tcp_flags::SYN != 0 {
                    t.stream.syn(seg.seq);
                    false
                } else if seg.payload.is_empty() {
                    false
                } else {
                    t.segments += 1;
                    t.stream.segment(seg.seq, seg.payload);
                    tcp_client_bytes(t, &mut self.app, out)
                }
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
            _ => false,
        };
        if done {
            self.active = None;
        }
    }
}

/// Runs the TCP parsers on the client's bytes; returns whether all have decided.
fn tcp_client_bytes(t: &mut TcpTries, app: &mut AppInfo, out: &mut Vec<Observation>) -> bool {
    let bytes = t.stream.bytes();
    if t.tls {
        match tls::parse_client_hello_records(bytes) {
            Ok(hello) => {
                t.tls = false;
                t.wa = false;
                app.app_proto = Some("tls");
                record_hello(app, &hello, Ja4Transport::Tcp, "tls_sni");
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
                app.app_proto = Some("whatsapp_chat");
                app.wa_version = Some(p.version.to_string().into());
                app.wa_edge_routing = p.edge_routing;
            }
            Detect::Need(_) => {}
            Detect::NoMatch => t.wa = false,
        }
    }
    if t.http && !http::looks_like_http_request(bytes) && bytes.len() >= 8 {
        t.http = false;
    }
    if t.http {
        match http::parse_request(bytes) {
            Ok(req) => {
                t.http = false;
                app.app_proto = Some("http");
                if let Some(host) = &req.host {
                    app.server_name = Some(host.as_str().into());
                    app.name_source = Some("http_host");
                }
                app.user_agent = req.user_agent.as_deref().map(Into::into);
                out.push(Observation::Http(Box::new(req)));
            }
            Err(HttpError::Incomplete) => {}
            Err(_) => t.http = false,
        }
    }
    let undecided = t.tls || t.wa || t.http;
    !undecided || t.segments >= MAX_TCP_SEGMENTS || t.stream.full()
}

enum UdpStep {
    /// The flow is DNS: keep parsing responses.
    Dns,
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
    app: &mut AppInfo,
    out: &mut Vec<Observation>,
) -> UdpStep {
    if let Some(state) = quic.as_mut() {
        if !from_orig {
            return UdpStep::More;
        }
        return match state.feed_client_datagram(payload) {
            QuicProgress::Done(hello) => {
                app.quic_version = Some(state.version);
                record_hello(app, &hello, Ja4Transport::Quic, "quic_sni");
                out.push(Observation::Hello(hello));
                UdpStep::Done
            }
            QuicProgress::NeedMore => UdpStep::More,
            QuicProgress::Failed(_) => UdpStep::Done,
        };
    }
    if from_orig && quic::looks_like_quic_initial(payload) {
        app.app_proto = Some("quic");
        let mut state = Box::new(QuicInitialState::new());
        let step = match state.feed_client_datagram(payload) {
            QuicProgress::Done(hello) => {
                app.quic_version = Some(state.version);
                record_hello(app, &hello, Ja4Transport::Quic, "quic_sni");
                out.push(Observation::Hello(hello));
                UdpStep::Done
            }
            QuicProgress::NeedMore => UdpStep::More,
            QuicProgress::Failed(_) => UdpStep::Done,
        };
        app.quic_version = Some(state.version);
        *quic = Some(state);
        return step;
    }
    if let Some(info) = stun::classify(payload) {
        note_stun(app, info, out);
        return UdpStep::Stun;
    }
    if let Ok(msg) = dhcp::parse(payload)
        && msg.message_type.is_some()
    {
        // DHCP: every message of the exchange matters (DISCOVER, REQUEST, ACK), each its own
        // datagram; the flow's window of datagrams bounds the work.
        app.app_proto = Some("dhcp");
        out.push(Observation::Dhcp(Box::new(msg)));
        return UdpStep::More;
    }
    if dns::looks_like_dns_response(payload) {
        app.app_proto = Some("dns");
        dns_response(payload, app, out);
        return UdpStep::Dns;
    }
    UdpStep::More
}

/// A datagram on a flow already seen carrying STUN: more STUN, or RTP/RTCP media. Returns
/// whether there is nothing more to learn.
fn stun_flow_datagram(payload: &[u8], app: &mut AppInfo, out: &mut Vec<Observation>) -> bool {
    if let Some(info) = stun::classify(payload) {
        note_stun(app, info, out);
    } else if stun::looks_like_rtp(payload).is_some() || stun::looks_like_rtcp(payload).is_some() {
        app.rtp_packets += 1;
        app.app_proto = Some("rtp");
    }
    // A few media packets confirm the call; the flow counters measure the rest.
    app.rtp_packets >= 4
}

/// Bounded number of STUN messages reported as observations per flow.
const MAX_STUN_OBSERVATIONS: u16 = 4;

fn note_stun(app: &mut AppInfo, info: StunInfo, out: &mut Vec<Observation>) {
    if app.app_proto.is_none() {
        app.app_proto = Some("stun");
    }
    app.stun_messages = app.stun_messages.saturating_add(1);
    app.stun_whatsapp_relay |= info.whatsapp_relay;
    app.stun_facebook_realm |= info.facebook_realm;
    if app.server_name.is_none()
        && let Some(realm) = &info.realm
    {
        app.server_name = Some(realm.as_str().into());
        app.name_source = Some("stun_realm");
    }
    if app.stun_messages <= MAX_STUN_OBSERVATIONS {
        out.push(Observation::Stun(Box::new(info)));
    }
}

fn dns_response(payload: &[u8], app: &mut AppInfo, out: &mut Vec<Observation>) {
    if let Ok(msg) = dns::parse(payload)
        && msg.is_response
    {
        app.dns_responses += 1;
        out.push(Observation::Dns(msg));
    }
}

fn record_hello(app: &mut AppInfo, hello: &ClientHello, t: Ja4Transport, source: &'static str) {
    if let Some(sni) = &hello.sni {
        app.server_name = Some(sni.as_str().into());
        app.name_source = Some(source);
    }
    app.alpn = hello.alpn.first().map(|a| a.as_str().into());
    app.ja4 = Some(ja4::ja4(hello, t).into());
    app.ja3 = Some(ja4::ja3_hash(hello).into());
}
