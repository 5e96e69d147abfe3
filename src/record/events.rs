//! `events.jsonl`: things that happen inside flows or apart from them (DNS answers, DHCP, ARP,
//! HTTP request heads; the exposure map's devices, sessions, activities and exposures), one JSON
//! object per line with a `kind`.

use std::net::IpAddr;

use serde::Serialize;

/// One line of `events.jsonl`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A DNS response.
    Dns(DnsEvent),
    /// A DHCP message: what a device says about itself when it joins.
    Dhcp(DhcpEvent),
    /// An ARP message: a device claiming an address.
    Arp(super::observed::ArpEvent),
    /// A cleartext HTTP request head (names only: no path, query or cookie value).
    Http(super::observed::HttpEvent),
    /// A STUN mapped address: the public address the server (Meta's relay) saw.
    Stun(super::observed::StunEvent),
    /// The names in a TLS server's leaf certificate.
    TlsCert(super::observed::TlsCertEvent),
    /// A local device and everything known about it (written at the end).
    Device(Box<super::exposure::DeviceEvent>),
    /// A usage session of a device (WhatsApp chat activity between long quiet gaps).
    Session(super::exposure::SessionEvent),
    /// Something a device did with Meta: message burst, media transfer, call, registration,
    /// telemetry.
    Activity(super::exposure::ActivityEvent),
    /// A field of WhatsApp's privacy policy and what this device exposed of it on the wire.
    Exposure(super::exposure::ExposureEvent),
}

/// A DHCP message (client or server), metadata only.
#[derive(Clone, Debug, Serialize)]
pub struct DhcpEvent {
    /// Packet time.
    pub ts: f64,
    /// Flow the message belongs to.
    pub uid: String,
    /// Client hardware address from the message (`chaddr`), else the frame's source MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Message type: 1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, 6 NAK, 7 RELEASE, 8 INFORM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_type: Option<u8>,
    /// Host name the device announced (option 12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Vendor class (option 60), e.g. `android-dhcp-14`: an OS signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    /// Parameter request list (option 55), the classic DHCP OS fingerprint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameter_request_list: Vec<u8>,
    /// Address requested (option 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_ip: Option<std::net::Ipv4Addr>,
    /// Address assigned (`yiaddr` of an OFFER/ACK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_ip: Option<std::net::Ipv4Addr>,
    /// Client identifier (option 61), hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// A DNS response as seen by the client that asked.
#[derive(Clone, Debug, Serialize)]
pub struct DnsEvent {
    /// Packet time of the response.
    pub ts: f64,
    /// Flow the response belongs to.
    pub uid: String,
    /// The device that asked (destination of the response).
    pub client: IpAddr,
    /// The resolver that answered.
    pub server: IpAddr,
    /// First question name.
    pub query: String,
    /// First question type number (1 A, 28 AAAA, 65 HTTPS, …).
    pub qtype: u16,
    /// Response code (0 NOERROR, 3 NXDOMAIN, …).
    pub rcode: u8,
    /// Addresses answered (A and AAAA), with their TTLs.
    pub answers: Vec<DnsAnswerAddr>,
    /// CNAME targets in the answer, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cnames: Vec<String>,
    /// Android app of the flow, from a PCAPdroid trailer (as the flow record's `app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Box<str>>,
}

/// An answered address.
#[derive(Clone, Debug, Serialize)]
pub struct DnsAnswerAddr {
    /// The address.
    pub addr: IpAddr,
    /// Its TTL, seconds.
    pub ttl: u32,
}
