//! The classifier: turns what dissection saw on a flow, the names learnt from DNS, the server
//! address and its ASN into a [`Verdict`] with all its evidence.

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;

use super::carried::{CarriedConfig, CarriedNames};
use super::geo::{Geo, GeoInfo};
use super::names::{NameCache, NameCacheConfig};
use super::rules::{EndpointId, PortProto, Ruleset};
use super::verdict::{Confidence, Evidence, Verdict, VerdictBuilder};
use crate::capture::Timestamp;
use crate::dissect::dns::{DnsMessage, resolve_addresses};
use crate::dissect::{AppInfo, Signature};
use crate::record::{AppProto, NameSource, Role};

/// Call relays (and call sockets) remembered at most; past it the memory starts afresh.
const MAX_RELAYS: usize = 16_384;
const PROTO_UDP: u8 = 17;
const PROTO_TCP: u8 = 6;

/// What the classifier needs to know about a finished flow.
#[derive(Debug, Clone, Copy)]
pub struct FlowFacts<'a> {
    /// IP protocol number.
    pub proto: u8,
    /// The device the flow belongs to ([`crate::exposure::local::LocalNets::device_side`]):
    /// what was learnt from traffic is looked up under it.
    pub part: IpAddr,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Originator port.
    pub orig_p: u16,
    /// Responder port.
    pub resp_p: u16,
    /// Dissection results.
    pub app: &'a AppInfo,
}

/// A flow's classification.
#[derive(Debug, Clone, Default)]
pub struct Classification {
    /// The verdict, when any rule matched.
    pub verdict: Option<Verdict>,
    /// ASN and country of the responder.
    pub geo: GeoInfo,
}

/// Rules, databases and what was learnt from traffic so far.
pub struct Classifier {
    rules: Ruleset,
    geo: Geo,
    names: NameCache,
    /// Names other flows of a device gave a server address.
    carried: CarriedNames,
    /// (device, relay address, port) → endpoint, learnt from STUN relay signatures. Like every
    /// learnt fact, per device: one device's flows never label another's.
    relays: HashMap<(IpAddr, IpAddr, u16), EndpointId, RandomState>,
    /// (device, device address, port) → endpoint: the local socket of a call. The media of a
    /// call may go straight to the other party's address, so later STUN/RTP flows from that
    /// socket belong to the same call.
    call_sockets: HashMap<(IpAddr, IpAddr, u16), EndpointId, RandomState>,
}

impl Classifier {
    /// A classifier over `rules` and `geo`.
    pub fn new(rules: Ruleset, geo: Geo) -> Self {
        Classifier {
            rules,
            geo,
            names: NameCache::new(NameCacheConfig::default()),
            carried: CarriedNames::new(CarriedConfig::default()),
            relays: HashMap::default(),
            call_sockets: HashMap::default(),
        }
    }

    /// Learns, as soon as a call signature is seen on a flow of device `part`, its relay and
    /// its device socket.
    pub fn learn_call(
        &mut self,
        part: IpAddr,
        signature: Signature,
        device: (IpAddr, u16),
        relay: (IpAddr, u16),
    ) {
        let Some(ep) = self.rules.match_signature(signature) else { return };
        if self.relays.len() >= MAX_RELAYS {
            self.relays.clear();
        }
        if self.call_sockets.len() >= MAX_RELAYS {
            self.call_sockets.clear();
        }
        self.relays.insert((part, relay.0, relay.1), ep);
        self.call_sockets.insert((part, device.0, device.1), ep);
    }

    /// The rules in use.
    pub fn rules(&self) -> &Ruleset {
        &self.rules
    }

    /// Replaces the rules (SIGHUP reload); learnt names and relays are kept.
    pub fn set_rules(&mut self, rules: Ruleset) {
        self.relays.clear();
        self.rules = rules;
    }

    /// Learns the names in a DNS response received by `client`.
    pub fn learn_dns(&mut self, ts: Timestamp, client: IpAddr, msg: &DnsMessage) {
        for r in resolve_addresses(msg) {
            self.names.insert(client, r.addr, &r.query, r.ttl, ts);
            self.learn_name(client, r.addr, &r.query, ts);
        }
    }

    /// Learns that a flow of `device` named `server` (SNI, certificate, HTTP Host, DNS), so
    /// flows without a name of their own can carry it.
    pub fn learn_name(&mut self, device: IpAddr, server: IpAddr, name: &str, ts: Timestamp) {
        let rules = &self.rules;
        let service = |n: &str| rules.match_host(n).map(|m| m.endpoint.service());
        self.carried.learn(device, server, name, ts, service);
    }

    /// (device, address) pairs dropped from the carried-name table because it was full.
    pub fn carried_evicted(&self) -> u64 {
        self.carried.evicted()
    }

    /// The name `client` looked up for `server` before `at`.
    pub fn dns_name(&self, client: IpAddr, server: IpAddr, at: Timestamp) -> Option<&str> {
        self.names.lookup(client, server, at)
    }

    /// Names held in the DNS cache.
    pub fn cached_names(&self) -> usize {
        self.names.len()
    }

    /// Whether the flow already points at a Meta endpoint, from cheap evidence only (names,
    /// signatures, learnt call relays, prefixes; no ASN lookup, no allocation). Used to decide,
    /// while a flow runs, whether its activity over time is worth logging.
    /// `first`: the flow's first look; later looks skip the address and the DNS name, which
    /// cannot have changed.
    pub fn looks_meta(&self, f: &FlowFacts<'_>, first: bool) -> bool {
        let app = f.app;
        let named = |n: Option<&str>| n.is_some_and(|n| self.rules.match_host(n).is_some());
        app.signatures().any(|s| self.rules.match_signature(s).is_some())
            || (f.proto == PROTO_UDP && self.learnt_call(f))
            || named(app.server_name.as_deref())
            || (first && self.rules.match_ip(f.resp_h).is_some())
            || (first && named(app.dns_name.as_deref()))
    }

    /// Whether a call relay or call socket learnt for the flow's device is one of its ends (most
    /// runs learn none: the hash is then skipped).
    fn learnt_call(&self, f: &FlowFacts<'_>) -> bool {
        let (relays, sockets) = (&self.relays, &self.call_sockets);
        (!relays.is_empty() && relays.contains_key(&(f.part, f.resp_h, f.resp_p)))
            || (!sockets.is_empty()
                && (sockets.contains_key(&(f.part, f.orig_h, f.orig_p))
                    || sockets.contains_key(&(f.part, f.resp_h, f.resp_p))))
    }

    /// Relabels a flow that only an address tied to WhatsApp or Meta (`whatsapp.other`,
    /// `meta.*`) as the WhatsApp chat endpoint when its traffic has a chat connection's shape
    /// (`chat_shaped`, judged by the caller from the flow's activity log) and it uses a chat
    /// port: evidence `behaviour:chat`, confidence `behaviour`, weaker than any name.
    pub fn chat_by_behaviour(&self, f: &FlowFacts<'_>, v: &mut Verdict, chat_shaped: bool) {
        if !chat_shaped || v.confidence >= Confidence::Behaviour || f.proto != PROTO_TCP {
            return;
        }
        let now = self.rules.endpoint(v.endpoint);
        let generic =
            &*now.service == "meta" || (&*now.service == "whatsapp" && now.role == Role::Other);
        let Some(chat) = self.rules.endpoint_of("whatsapp", Role::Chat) else { return };
        if !generic || !chat.uses_port(PortProto::Tcp, f.resp_p) {
            return;
        }
        v.endpoint = chat.id;
        v.service = chat.id.service();
        v.confidence = Confidence::Behaviour;
        v.evidence.insert(0, "behaviour:chat".into());
    }

    /// Classifies a flow from all the evidence available.
    pub fn classify(&mut self, f: &FlowFacts<'_>) -> Classification {
        self.classify_at(f, None)
    }

    /// [`Self::classify`] for a flow that ran from `span.0` to `span.1` (packet time): a flow
    /// with no name of its own may then carry one that other flows gave its server.
    pub fn classify_at(
        &mut self,
        f: &FlowFacts<'_>,
        span: Option<(Timestamp, Timestamp)>,
    ) -> Classification {
        let mut b = VerdictBuilder::default();
        let app = f.app;
        if let (Some(name), Some(source)) = (app.server_name.as_deref(), app.name_source) {
            // A certificate names the server by its CN or any of its DNS SANs: the first listed.
            let others = app.cert_names.as_deref().unwrap_or_default().iter().map(|n| &**n);
            if let Some((name, m)) = std::iter::once(name)
                .chain(others)
                .find_map(|n| Some((n, self.rules.match_host(n)?)))
            {
                b.push(match source {
                    NameSource::HttpHost => Evidence::http_host(m.endpoint, name),
                    NameSource::TlsCert => Evidence::cert(m.endpoint, name),
                    _ => Evidence::sni(m.endpoint, name),
                });
            }
        }
        for sig in app.signatures() {
            if let Some(ep) = self.rules.match_signature(sig) {
                b.push(Evidence::signature(ep, sig.name()));
            }
        }
        if f.proto == PROTO_UDP {
            type Learnt = HashMap<(IpAddr, IpAddr, u16), EndpointId, RandomState>;
            let inherited = |map: &Learnt, key: (IpAddr, u16), what| {
                map.get(&(f.part, key.0, key.1)).map(|&endpoint| Evidence {
                    kind: Confidence::Signature,
                    endpoint,
                    text: format!("{what}:{}", std::net::SocketAddr::new(key.0, key.1)),
                })
            };
            if let Some(e) = inherited(&self.relays, (f.resp_h, f.resp_p), "relay") {
                b.push(e);
            }
            // The call socket may send first, or answer: the other party may open the direct
            // media flow to it (the device is then the responder).
            let media = matches!(app.app_proto, Some(AppProto::Stun | AppProto::Rtp));
            let socket = inherited(&self.call_sockets, (f.orig_h, f.orig_p), "call_socket")
                .or_else(|| inherited(&self.call_sockets, (f.resp_h, f.resp_p), "call_socket"));
            if let Some(e) = socket.filter(|_| media) {
                b.push(e);
            }
        }
        if let Some(name) = app.dns_name.as_deref()
            && let Some(m) = self.rules.match_host(name)
        {
            b.push(Evidence::dns(m.endpoint, name));
        }
        if let Some((first, last)) = span
            && app.server_name.is_none()
            && app.dns_name.is_none()
            && let Some(name) = self.carried.lookup(f.part, f.resp_h, first, last)
            && let Some(m) = self.rules.match_host(name)
        {
            b.push(Evidence::carried(m.endpoint, name));
        }
        if let Some(m) = self.rules.match_ip(f.resp_h) {
            b.push(Evidence::prefix(m.endpoint, m.prefix));
        }
        let geo = self.geo.lookup(f.resp_h);
        if let Some(e) = geo.asn_evidence(&self.rules) {
            b.push(e);
        }
        Classification { verdict: b.finish(), geo }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::verdict::Evidence;

    fn facts(app: &AppInfo, proto: u8, resp_p: u16) -> FlowFacts<'_> {
        let (orig_h, resp_h) = ("10.0.0.2".parse().unwrap(), "185.60.216.54".parse().unwrap());
        FlowFacts { proto, part: orig_h, orig_h, resp_h, orig_p: 40000, resp_p, app }
    }

    #[test]
    fn chat_behaviour_relabels_address_only_verdicts_on_chat_ports() {
        let c = Classifier::new(Ruleset::builtin(), Geo::default());
        let r = c.rules();
        let id = |n: &str| r.endpoint_by_name(n).unwrap().id;
        let by_prefix = || {
            VerdictBuilder::default()
                .add(Evidence::prefix(id("whatsapp.other"), "185.60.216.54/32".parse().unwrap()))
                .finish()
                .unwrap()
        };
        let app = AppInfo::default();
        let mut v = by_prefix();
        c.chat_by_behaviour(&facts(&app, PROTO_TCP, 5222), &mut v, true);
        assert_eq!((v.endpoint, v.confidence), (id("whatsapp.chat"), Confidence::Behaviour));
        assert_eq!(v.evidence, ["behaviour:chat", "prefix:185.60.216.54/32"]);
        // Not chat-shaped, not a chat port, not TCP, or named by something stronger: unchanged.
        for (shaped, proto, port) in
            [(false, PROTO_TCP, 443), (true, PROTO_TCP, 8443), (true, PROTO_UDP, 443)]
        {
            let mut v = by_prefix();
            c.chat_by_behaviour(&facts(&app, proto, port), &mut v, shaped);
            assert_eq!(v, by_prefix());
        }
        let mut v = VerdictBuilder::default()
            .add(Evidence::sni(id("whatsapp.media"), "mmg.whatsapp.net"))
            .finish()
            .unwrap();
        c.chat_by_behaviour(&facts(&app, PROTO_TCP, 443), &mut v, true);
        assert_eq!(v.endpoint, id("whatsapp.media"));
    }

    #[test]
    fn call_socket_matches_either_side() {
        let mut c = Classifier::new(Ruleset::builtin(), Geo::default());
        let dev: IpAddr = "192.168.1.20".parse().unwrap();
        c.learn_call(
            dev,
            Signature::StunWhatsappRelay,
            (dev, 40000),
            ("157.240.1.1".parse().unwrap(), 3478),
        );
        let app = AppInfo { app_proto: Some(AppProto::Rtp), ..AppInfo::default() };
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        // The other party opened the flow: the device's socket is the responder.
        let f = FlowFacts {
            proto: PROTO_UDP,
            part: dev,
            orig_h: peer,
            resp_h: dev,
            orig_p: 50000,
            resp_p: 40000,
            app: &app,
        };
        assert!(c.looks_meta(&f, true));
        let v = c.classify(&f).verdict.expect("a verdict");
        assert_eq!(v.evidence, ["call_socket:192.168.1.20:40000"]);
    }
}
