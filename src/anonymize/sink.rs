//! [`AnonymizeSink`]: rewrites every record before the sinks downstream see it, so no output
//! format can forget a field.

use crate::record::FlowRecord;
use std::net::SocketAddr;

use crate::record::events::{DhcpEvent, DnsAnswerAddr, DnsEvent, Event};
use crate::record::observed::{ArpEvent, HttpEvent, StunEvent, TlsCertEvent};
use crate::record::sink::{RecordSink, SinkError};

use super::{AnonymizeConfig, Anonymizer};

/// Replaces device identifiers with keyed pseudonyms, then passes records on to `S`.
pub struct AnonymizeSink<S> {
    anon: Anonymizer,
    inner: S,
}

impl<S: RecordSink> AnonymizeSink<S> {
    /// Wraps `inner`.
    pub fn new(cfg: &AnonymizeConfig, inner: S) -> Self {
        AnonymizeSink { anon: Anonymizer::new(cfg), inner }
    }

    /// The flow record as it may be shared.
    pub fn flow_record(&self, rec: &FlowRecord) -> FlowRecord {
        let mut r = rec.clone();
        self.rewrite_flow(&mut r);
        r
    }

    /// [`Self::flow_record`] in place.
    pub fn rewrite_flow(&self, r: &mut FlowRecord) {
        let a = &self.anon;
        r.orig_h = a.ip(r.orig_h);
        r.resp_h = a.ip(r.resp_h);
        // The id of the real addresses would let anyone test guesses of them.
        r.community_id = crate::record::community_id::of_record(r);
        r.orig_mac = r.orig_mac.as_deref().map(|m| a.mac_text(m));
        r.resp_mac = r.resp_mac.as_deref().map(|m| a.mac_text(m));
        r.server_name = r.server_name.as_deref().map(|n| a.dns_name(n).into());
        r.evidence = r.evidence.iter().map(|e| a.evidence(e)).collect();
        r.device = r.device.as_deref().map(|d| a.device_id(d).into());
        // The masked phone number still narrows the account down: removed.
        r.wa_phone = None;
    }

    /// Learns from an event which names are devices' (DHCP host names, DNS names answered with
    /// a device address), before it or anything later is rewritten.
    fn learn(&mut self, ev: &Event) {
        let a = &mut self.anon;
        match ev {
            Event::Dhcp(e) => {
                if let Some(h) = &e.hostname {
                    a.learn_host_name(h);
                }
            }
            Event::Dns(e) => {
                for x in &e.answers {
                    a.learn_answer(&e.query, x.addr);
                    for c in &e.cnames {
                        a.learn_answer(c, x.addr);
                    }
                }
            }
            _ => {}
        }
    }

    /// The event as it may be shared. Exhaustive on purpose: a new event kind must decide here
    /// what it reveals before it compiles.
    pub fn event_record(&mut self, ev: &Event) -> Event {
        self.learn(ev);
        let a = &self.anon;
        match ev {
            Event::Dns(e) => Event::Dns(DnsEvent {
                ts: e.ts,
                uid: e.uid.clone(),
                client: a.ip(e.client),
                server: a.ip(e.server),
                query: a.dns_name(&e.query),
                qtype: e.qtype,
                rcode: e.rcode,
                answers: e
                    .answers
                    .iter()
                    .map(|x| DnsAnswerAddr { addr: a.ip(x.addr), ttl: x.ttl })
                    .collect(),
                cnames: e.cnames.iter().map(|c| a.dns_name(c)).collect(),
                app: e.app.clone(),
            }),
            Event::Dhcp(e) => Event::Dhcp(DhcpEvent {
                ts: e.ts,
                uid: e.uid.clone(),
                mac: e.mac.as_deref().map(|m| a.mac_text(m)),
                msg_type: e.msg_type,
                hostname: e.hostname.as_deref().map(|h| a.name(h)),
                // An OS signal, not an identity: kept.
                vendor_class: e.vendor_class.clone(),
                parameter_request_list: e.parameter_request_list.clone(),
                requested_ip: e.requested_ip.map(|ip| a.ipv4(ip)),
                assigned_ip: e.assigned_ip.map(|ip| a.ipv4(ip)),
                // Usually `01` + the MAC: a device identifier.
                client_id: e.client_id.as_deref().map(|c| a.name(c)),
            }),
            Event::Arp(e) => Event::Arp(ArpEvent {
                ts: e.ts,
                op: e.op,
                mac: a.mac_text(&e.mac),
                ip: a.ipv4(e.ip),
                target_ip: a.ipv4(e.target_ip),
            }),
            Event::Http(e) => Event::Http(HttpEvent {
                ts: e.ts,
                uid: e.uid.clone(),
                method: e.method,
                host: e.host.as_deref().map(|h| a.dns_name(h)),
                // App and OS versions: the finding, not an identity.
                user_agent: e.user_agent.clone(),
                cookie_names: e.cookie_names.clone(),
                app: e.app.clone(),
            }),
            Event::Stun(e) => Event::Stun(StunEvent {
                ts: e.ts,
                uid: e.uid.clone(),
                // The user's public address: identifying although public.
                mapped_address: SocketAddr::new(
                    a.public_ip(e.mapped_address.ip()),
                    e.mapped_address.port(),
                ),
            }),
            Event::TlsCert(e) => Event::TlsCert(TlsCertEvent {
                subject_cn: e.subject_cn.as_deref().map(|h| a.dns_name(h)),
                san_dns: e.san_dns.iter().map(|h| a.dns_name(h)).collect(),
                // The CA and the OID shape: the finding, not an identity.
                ..e.clone()
            }),
            Event::Device(e) => {
                let mut d = e.clone();
                d.device = a.device_id(&d.device);
                d.mac = d.mac.as_deref().map(|m| a.mac_text(m));
                d.addresses = d.addresses.iter().map(|&ip| a.ip(ip)).collect();
                d.hostname = d.hostname.as_deref().map(|h| a.name(h));
                if !a.keep_oui() {
                    d.oui_vendor = None;
                }
                Event::Device(d)
            }
            Event::Session(e) => {
                let mut s = e.clone();
                s.device = a.device_id(&s.device);
                Event::Session(s)
            }
            Event::Activity(e) => {
                let mut x = e.clone();
                x.device = a.device_id(&x.device);
                Event::Activity(x)
            }
            Event::Exposure(e) => {
                let mut x = e.clone();
                x.device = a.device_id(&x.device);
                x.evidence = x
                    .evidence
                    .iter()
                    .filter(|t| !a.drops_evidence(t))
                    .filter_map(|t| a.exposure_evidence(t))
                    .collect();
                x.value = x.value.as_deref().and_then(|v| a.exposure_value(&x.field, v));
                Event::Exposure(x)
            }
        }
    }
}

impl<S: RecordSink> RecordSink for AnonymizeSink<S> {
    fn flow(&mut self, rec: &mut FlowRecord) {
        self.rewrite_flow(rec);
        self.inner.flow(rec);
    }
    fn event(&mut self, ev: &Event) {
        let e = self.event_record(ev);
        self.inner.event(&e);
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }
    fn reopen(&mut self) -> Result<(), SinkError> {
        self.inner.reopen()
    }
}
