//! `events.jsonl`: things that happen inside flows or apart from them (DNS answers now; devices,
//! sessions, activities and exposures later), one JSON object per line with a `kind`.

use std::net::IpAddr;

use serde::Serialize;

use crate::dissect::dns::{DnsData, DnsMessage};
use crate::flow::record::secs_us;

/// One line of `events.jsonl`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A DNS response.
    Dns(DnsEvent),
}

/// A DNS response as seen by the client that asked.
#[derive(Debug, Serialize)]
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
}

/// An answered address.
#[derive(Debug, Serialize)]
pub struct DnsAnswerAddr {
    /// The address.
    pub addr: IpAddr,
    /// Its TTL, seconds.
    pub ttl: u32,
}

impl DnsEvent {
    /// Builds the event from a parsed response.
    pub fn new(ts_nanos: i64, uid: String, client: IpAddr, server: IpAddr, m: &DnsMessage) -> Self {
        let (query, qtype) = m.questions.first().map(|(n, t)| (n.clone(), t.0)).unwrap_or_default();
        let mut answers = Vec::new();
        let mut cnames = Vec::new();
        for a in &m.answers {
            match &a.data {
                DnsData::A(v4) => answers.push(DnsAnswerAddr { addr: IpAddr::V4(*v4), ttl: a.ttl }),
                DnsData::Aaaa(v6) => {
                    answers.push(DnsAnswerAddr { addr: IpAddr::V6(*v6), ttl: a.ttl })
                }
                DnsData::Cname(t) => cnames.push(t.clone()),
                DnsData::Other => {}
            }
        }
        DnsEvent {
            ts: secs_us(ts_nanos),
            uid,
            client,
            server,
            query,
            qtype,
            rcode: m.rcode.0,
            answers,
            cnames,
        }
    }
}
