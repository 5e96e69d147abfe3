//! Events the pipeline emits straight from packets, besides DNS and DHCP: ARP (who holds which
//! address on the LAN), the metadata of cleartext HTTP requests and the names in TLS server
//! certificates.

use std::net::Ipv4Addr;

use serde::Serialize;

/// An ARP request or reply: a device claiming an address.
#[derive(Clone, Debug, Serialize)]
pub struct ArpEvent {
    /// Packet time.
    pub ts: f64,
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender MAC.
    pub mac: String,
    /// Sender address (0.0.0.0 in an address probe).
    pub ip: Ipv4Addr,
    /// Address asked about or answered for.
    pub target_ip: Ipv4Addr,
}

/// A STUN response's mapped address: the device's address as the STUN server saw it, i.e. the
/// public (NAT) address Meta sees.
#[derive(Clone, Debug, Serialize)]
pub struct StunEvent {
    /// Packet time.
    pub ts: f64,
    /// The flow's uid.
    pub uid: String,
    /// XOR-MAPPED-ADDRESS (else MAPPED-ADDRESS): address and port.
    pub mapped_address: std::net::SocketAddr,
}

/// A cleartext HTTP request head: never the path, query, body or any cookie value.
#[derive(Clone, Debug, Serialize)]
pub struct HttpEvent {
    /// Packet time of the request's first byte seen.
    pub ts: f64,
    /// The flow's uid.
    pub uid: String,
    /// Request method.
    pub method: &'static str,
    /// Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// User-Agent header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Names of the cookies sent, in order; values are never kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookie_names: Vec<String>,
    /// Android app of the flow, from a PCAPdroid trailer (as the flow record's `app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Box<str>>,
}

/// The names and facts of a TLS server's leaf certificate (never the certificate itself).
#[derive(Debug, Clone, Serialize)]
pub struct TlsCertEvent {
    /// Packet time of the segment that completed the leaf certificate.
    pub ts: f64,
    /// The flow's uid.
    pub uid: String,
    /// Subject commonName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_cn: Option<String>,
    /// subjectAltName DNS names (at most 16).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub san_dns: Vec<String>,
    /// subjectAltName DNS names in the certificate, kept or not.
    pub san_count: u32,
    /// Issuer organizationName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_org: Option<String>,
    /// Validity start, seconds since the Unix epoch.
    pub not_before: i64,
    /// Validity end, seconds since the Unix epoch.
    pub not_after: i64,
    /// JA4X-style OID fingerprint.
    pub ja4x: String,
    /// Android app of the flow, from a PCAPdroid trailer (as the flow record's `app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Box<str>>,
}
