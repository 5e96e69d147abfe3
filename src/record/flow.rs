//! The flow record: one line of `flows.jsonl`. Field names follow Zeek's conn.log where one
//! exists; `docs/schema.md` documents every field and a test keeps the two in step.

use std::net::IpAddr;

use serde::Serialize;

use super::app::{AppProto, NameSource};

/// Why a record was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Both sides sent FIN.
    Fin,
    /// A side sent RST.
    Rst,
    /// No packet for the protocol's idle timeout.
    Idle,
    /// The flow lasted longer than the active timeout; it goes on under the same uid.
    ActiveTimeout,
    /// The input ended (replay) or capture stopped (live).
    EndOfInput,
    /// Pushed out of a full flow table.
    Evicted,
}

/// Zeek's `conn_state` code: how far each side got (see Zeek's `conn/main.zeek`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConnCode {
    S0,
    S1,
    Sf,
    Rej,
    S2,
    S3,
    Rsto,
    Rstr,
    Rstos0,
    Rstrh,
    Sh,
    Shr,
    Oth,
}

impl ConnCode {
    /// The code as Zeek writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S0 => "S0",
            Self::S1 => "S1",
            Self::Sf => "SF",
            Self::Rej => "REJ",
            Self::S2 => "S2",
            Self::S3 => "S3",
            Self::Rsto => "RSTO",
            Self::Rstr => "RSTR",
            Self::Rstos0 => "RSTOS0",
            Self::Rstrh => "RSTRH",
            Self::Sh => "SH",
            Self::Shr => "SHR",
            Self::Oth => "OTH",
        }
    }
}

pub use super::hex::mac_string;

/// One line of `flows.jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct FlowRecord {
    /// First packet of this record, epoch seconds with µs precision.
    pub ts: f64,
    /// Flow id; stays the same across active-timeout records; joins with `events.jsonl`.
    pub uid: String,
    /// Transport protocol: `tcp`, `udp`, `icmp`, `icmp6`, or the IP protocol number.
    pub proto: String,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port (ICMP: type of the first message).
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port (ICMP: code of the first message).
    pub resp_p: u16,
    /// Community ID v1 (seed 0) of the 5-tuple: the same flow's id in Zeek, Suricata and other
    /// tools' logs.
    pub community_id: super::community_id::CommunityId,
    /// Last packet minus first packet of this record, seconds.
    pub duration: f64,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes (header + payload, as the IP header states) from the originator.
    pub orig_ip_bytes: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// Transport payload bytes from the originator (sum over packets, retransmissions included).
    pub orig_bytes: u64,
    /// Transport payload bytes from the responder.
    pub resp_bytes: u64,
    /// Zeek connection state code: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH.
    pub conn_state: ConnCode,
    /// Zeek history letters (S SYN, H SYN-ACK, A pure ACK, D data, F FIN, R RST; responder
    /// lowercase; `^` first: direction flipped by the originator heuristics).
    pub history: String,
    /// Why this record was written.
    pub end_reason: EndReason,
    /// Originator MAC, when the link type has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orig_mac: Option<String>,
    /// Responder MAC, when the link type has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_mac: Option<String>,
    /// Outermost 802.1Q VLAN id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Set when the flow was carried inside a tunnel (`ip_in_ip`, `vxlan`, `gtp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<&'static str>,
    /// Packets of this flow that were IP fragments after the first.
    #[serde(skip_serializing_if = "is_zero")]
    pub fragments: u64,
    /// Application protocol recognised by a dissector: `tls`, `quic`, `http`, `dns`,
    /// `whatsapp_chat`, `stun`, `rtp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_proto: Option<AppProto>,
    /// Server name: TLS/QUIC SNI, HTTP Host, or the name the client looked up in DNS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<Box<str>>,
    /// Where `server_name` came from: `tls_sni`, `quic_sni`, `http_host`, `dns`, `stun_realm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_source: Option<NameSource>,
    /// First ALPN protocol the client offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<Box<str>>,
    /// JA4 fingerprint of the client's TLS/QUIC ClientHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<Box<str>>,
    /// JA3 fingerprint (MD5) of the ClientHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<Box<str>>,
    /// QUIC version of the client's Initial, hex (`0x00000001`, `0xfaceb002`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic_version: Option<String>,
    /// WhatsApp chat protocol version from the connection preface, e.g. `6.3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<Box<str>>,
    /// Legacy (1.x) WhatsApp clients: the build named in clear, e.g. `Android-2.12.84`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_client: Option<Box<str>>,
    /// Legacy (1.x) WhatsApp clients: the account's phone number from the clear login, masked
    /// to country code and last two digits (`+55…10`); never the full number. Removed under
    /// `--anonymize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_phone: Option<Box<str>>,
    /// Cookie names the server's first cleartext HTTP response sets (`Set-Cookie`), never values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set_cookie_names: Vec<String>,
    /// Service family the flow goes to: `whatsapp`, `facebook`, `instagram`, `messenger`,
    /// `threads`, `meta` (shared infrastructure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Box<str>>,
    /// Endpoint role, `service.role`, e.g. `whatsapp.media`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Box<str>>,
    /// The endpoint's role as an id, for the stages after the classifier (not written: the
    /// endpoint name holds it).
    #[serde(skip)]
    pub role: Option<super::Role>,
    /// Strength of the deciding evidence, strongest first: `signature`, `sni`, `http_host`,
    /// `dns`, `prefix`, `asn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<&'static str>,
    /// Every piece of evidence, strongest first, e.g. `sni:mmg.whatsapp.net`,
    /// `prefix:157.240.0.0/17`, `asn:AS32934`; conflicting evidence is kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Autonomous system of the responder (from `--asn-db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_asn: Option<u32>,
    /// Organisation of that autonomous system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_as_org: Option<String>,
    /// Country of the responder, ISO 3166-1 alpha-2 (from `--country-db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_cc: Option<String>,
    /// The local device the flow belongs to: its MAC when known, else its address (set by the
    /// exposure stage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Box<str>>,
    /// Android app behind the flow (package or app name, up to 20 bytes), from a PCAPdroid
    /// trailer; only in captures made on the phone with the trailer on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Box<str>>,
    /// Android uid of that app (10000 and up for installed apps), from the same trailer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<i32>,
    /// Replay: the capture file holding the flow's first packet (`-`: standard input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<std::sync::Arc<str>>,
    /// When the bytes of this record moved (time buckets), for flows that looked like Meta's
    /// while they ran. Not written to `flows.jsonl`.
    #[serde(skip)]
    pub activity: Option<Box<super::activity::ActivityLog>>,
}

impl FlowRecord {
    /// A record of a flow seen in one packet and nothing else: its start, id and 5-tuple (its
    /// Community ID computed), no counters, no names, no labels. The base for records built by
    /// hand, as `FlowRecord { orig_pkts: 3, ..FlowRecord::bare(…) }` (tests, tools).
    pub fn bare(
        ts: f64,
        uid: String,
        proto: &str,
        orig: (IpAddr, u16),
        resp: (IpAddr, u16),
    ) -> Self {
        let ((orig_h, orig_p), (resp_h, resp_p)) = (orig, resp);
        let mut r = FlowRecord {
            ts,
            uid,
            proto: proto.into(),
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            community_id: super::community_id::community_id(0, orig_h, orig_p, resp_h, resp_p, 0),
            duration: 0.0,
            orig_pkts: 0,
            resp_pkts: 0,
            orig_ip_bytes: 0,
            resp_ip_bytes: 0,
            orig_bytes: 0,
            resp_bytes: 0,
            conn_state: ConnCode::Oth,
            history: String::new(),
            end_reason: EndReason::EndOfInput,
            orig_mac: None,
            resp_mac: None,
            vlan: None,
            tunnel: None,
            fragments: 0,
            app_proto: None,
            server_name: None,
            name_source: None,
            alpn: None,
            ja4: None,
            ja3: None,
            quic_version: None,
            protocol_version: None,
            wa_client: None,
            wa_phone: None,
            set_cookie_names: Vec::new(),
            service: None,
            endpoint: None,
            role: None,
            confidence: None,
            evidence: Vec::new(),
            resp_asn: None,
            resp_as_org: None,
            resp_cc: None,
            device: None,
            app: None,
            app_uid: None,
            source: None,
            activity: None,
        };
        r.community_id = super::community_id::of_record(&r);
        r
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Rounds nanoseconds to seconds with µs precision, so JSON shows at most 6 decimals.
pub fn secs_us(nanos: i64) -> f64 {
    (nanos.div_euclid(1000)) as f64 / 1e6
}
