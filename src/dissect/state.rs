//! Per-flow dissection: which parsers still have a chance on this flow, what they found, and the
//! bounded buffers they need. Once every parser has decided, the buffers are freed and later
//! packets of the flow cost one branch.


use super::dns::{self, DnsMessage};
use super::ja4::{self, Transport as Ja4Transport};
use super::quic::{self, QuicInitialState, QuicProgress};
use super::stream::ClientStream;
use super::tls::{self, ClientHello, ParseError};
use super::whatsapp::{self, Detect};
use crate::decode::{Decoded, Transport, tcp_flags};

/// Client data segments looked at before giving up on a TCP flow.
const MAX_TCP_SEGMENTS: u8 = 12;
/// Datagrams (either direction) looked at before giving up on a UDP flow.
const MAX_UDP_DATAGRAMS: u8 = 8;

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
}

impl AppInfo {
    /// Names of the dissector signatures that matched (see `classify::KNOWN_SIGNATURES`).
    pub fn signatures(&self) -> impl Iterator<Item = &'static str> {
        self.wa_version.is_some().then_some("whatsapp_preface").into_iter()
    }
}

/// Something a parser found that outlives the flow record (events, name caches).
#[derive(Debug)]
pub enum Observation {
    /// A DNS response.
    Dns(DnsMessage),
    /// A TLS or QUIC ClientHello.
    Hello(Box<ClientHello>),
}

/// Which parsers are still undecided on a TCP flow.
#[derive(Debug, Default)]
struct TcpTries {
    stream: ClientStream,
    segments: u8,
    tls: bool,
    wa: bool,
}

/// Bounded per-flow parser state; dropped once all parsers have decided.
#[derive(Debug)]
enum Active {
    Tcp(Box<TcpTries>),
    Udp { seen: u8, quic: Option<Box<QuicInitialState>> },
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
}

impl FlowDissect {
    /// Whether the flow has had a packet yet.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Looks at one packet of the flow. `from_orig`: sent by the originator.
    pub fn packet(&mut self, d: &Decoded<'_>, from_orig: bool, out: &mut Vec<Observation>) {
        if !self.started {
            self.started = true;
            self.active = match d.transport {
                Transport::Tcp(_) => Some(Active::Tcp(Box::new(TcpTries {
                    tls: true,
                    wa: true,
                    ..TcpTries::default()
                }))),
                Transport::Udp { .. } => Some(Active::Udp { seen: 0, quic: None }),
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
            (Active::Udp { seen, quic }, Transport::Udp { payload, .. }) => {
                *seen += 1;
                match udp_datagram(payload, from_orig, quic, &mut self.app, out) {
                    UdpStep::Dns => {
                        self.active = Some(Active::Dns);
                        return;
                    }
                    UdpStep::Done => true,
                    UdpStep::More => *seen >= MAX_UDP_DATAGRAMS,
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
    let undecided = t.tls || t.wa;
    !undecided || t.segments >= MAX_TCP_SEGMENTS || t.stream.full()
}

enum UdpStep {
    /// The flow is DNS: keep parsing responses.
    Dns,
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
    if dns::looks_like_dns_response(payload) {
        app.app_proto = Some("dns");
        dns_response(payload, app, out);
        return UdpStep::Dns;
    }
    UdpStep::More
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

