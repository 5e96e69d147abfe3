//! Combining evidence into a verdict: the strongest evidence picks the endpoint; weaker or
//! conflicting evidence stays in the list so a reader can see why.

use std::fmt;

use super::rules::{EndpointId, ServiceId};

/// How an endpoint was recognised, weakest first (so `Ord` ranks strength).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Confidence {
    /// The address is announced by an autonomous system the rules list (e.g. AS32934).
    Asn,
    /// The address lies in a listed prefix.
    Prefix,
    /// Another flow of the same device named this server address (SNI, certificate, HTTP Host
    /// or DNS), and every name seen for the address agrees on the service: weaker than any name
    /// of the flow's own, stronger than the address alone.
    Carried,
    /// The traffic's shape matches an endpoint's (`behaviour:chat`: a WhatsApp chat connection
    /// already open when the capture began): stronger than an address or a name carried from another flow, weaker than
    /// any name of the flow's own.
    Behaviour,
    /// A DNS answer seen on the wire mapped the address to a listed name.
    Dns,
    /// An HTTP `Host` header named a listed host.
    HttpHost,
    /// The server's TLS certificate (subject CN or subjectAltName) named a listed host.
    Cert,
    /// A TLS/QUIC SNI named a listed host.
    Sni,
    /// A dissector recognised the protocol itself (e.g. the WhatsApp preface).
    Signature,
}

impl Confidence {
    /// Prefix of evidence strings: `sig`, `sni`, `cert`, `http`, `dns`, `behaviour`, `carried`,
    /// `prefix`, `asn`.
    pub fn tag(self) -> &'static str {
        match self {
            Confidence::Asn => "asn",
            Confidence::Prefix => "prefix",
            Confidence::Carried => "carried",
            Confidence::Behaviour => "behaviour",
            Confidence::Dns => "dns",
            Confidence::HttpHost => "http",
            Confidence::Cert => "cert",
            Confidence::Sni => "sni",
            Confidence::Signature => "sig",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// One piece of evidence: its kind, the endpoint it points to, and a printable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Kind (and strength).
    pub kind: Confidence,
    /// Endpoint it points to.
    pub endpoint: EndpointId,
    /// `kind:value`, e.g. `sni:mmg.whatsapp.net`, `prefix:157.240.0.0/17`, `asn:AS32934`.
    pub text: String,
}

impl Evidence {
    /// Evidence whose text is `tag:value` (`value` without the tag).
    pub fn new(kind: Confidence, endpoint: EndpointId, value: impl fmt::Display) -> Evidence {
        Evidence { kind, endpoint, text: format!("{}:{value}", kind.tag()) }
    }

    /// `sig:NAME`.
    pub fn signature(endpoint: EndpointId, name: &str) -> Evidence {
        Evidence::new(Confidence::Signature, endpoint, name)
    }

    /// `sni:NAME`.
    pub fn sni(endpoint: EndpointId, name: &str) -> Evidence {
        Evidence::new(Confidence::Sni, endpoint, name)
    }

    /// `http:NAME`.
    pub fn http_host(endpoint: EndpointId, name: &str) -> Evidence {
        Evidence::new(Confidence::HttpHost, endpoint, name)
    }

    /// `cert:NAME`.
    pub fn cert(endpoint: EndpointId, name: &str) -> Evidence {
        Evidence::new(Confidence::Cert, endpoint, name)
    }

    /// `carried:NAME`.
    pub fn carried(endpoint: EndpointId, name: &str) -> Evidence {
        Evidence::new(Confidence::Carried, endpoint, name)
    }

    /// `dns:NAME`.
    pub fn dns(endpoint: EndpointId, name: &str) -> Evidence {
        Evidence::new(Confidence::Dns, endpoint, name)
    }

    /// `prefix:CIDR`.
    pub fn prefix(endpoint: EndpointId, prefix: ipnet::IpNet) -> Evidence {
        Evidence::new(Confidence::Prefix, endpoint, prefix)
    }

    /// `asn:ASn`.
    pub fn asn(endpoint: EndpointId, asn: u32) -> Evidence {
        Evidence::new(Confidence::Asn, endpoint, format_args!("AS{asn}"))
    }
}

/// The outcome for a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Service of the winning endpoint.
    pub service: ServiceId,
    /// Endpoint named by the strongest evidence.
    pub endpoint: EndpointId,
    /// Strength of that evidence.
    pub confidence: Confidence,
    /// All evidence, strongest first (ties in arrival order), duplicates removed; evidence that
    /// points elsewhere is kept so conflicts are visible.
    pub evidence: Vec<String>,
}

/// Collects evidence for one flow; `finish` picks the strongest. Ties go to the first added.
#[derive(Debug, Clone, Default)]
pub struct VerdictBuilder {
    items: Vec<Evidence>,
}

impl VerdictBuilder {
    /// Adds one piece of evidence (builder style: `VerdictBuilder::default().add(e).finish()`).
    #[must_use]
    #[allow(clippy::should_implement_trait)] // `add` reads best here; `+` on a builder would not
    pub fn add(mut self, e: Evidence) -> Self {
        self.push(e);
        self
    }

    /// Adds one piece of evidence in place (for loops).
    pub fn push(&mut self, e: Evidence) {
        if !self.items.iter().any(|x| x.text == e.text && x.endpoint == e.endpoint) {
            self.items.push(e);
        }
    }

    /// Whether no evidence was added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The verdict, or `None` without evidence.
    pub fn finish(mut self) -> Option<Verdict> {
        // Stable sort: among equal strengths the first added stays first and wins.
        self.items.sort_by_key(|e| std::cmp::Reverse(e.kind));
        let best = self.items.first()?;
        Some(Verdict {
            service: best.endpoint.service(),
            endpoint: best.endpoint,
            confidence: best.kind,
            evidence: self.items.into_iter().map(|e| e.text).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Ruleset;

    #[test]
    fn strongest_evidence_decides_and_conflicts_stay_listed() {
        let r = Ruleset::builtin();
        let id = |n: &str| r.endpoint_by_name(n).unwrap().id;
        let (chat, media, meta) = (id("whatsapp.chat"), id("whatsapp.media"), id("meta.network"));
        let v = VerdictBuilder::default()
            .add(Evidence::asn(meta, 32934))
            .add(Evidence::prefix(meta, "157.240.0.0/17".parse().unwrap()))
            .add(Evidence::dns(chat, "g.whatsapp.net"))
            .add(Evidence::sni(media, "mmg.whatsapp.net"))
            .add(Evidence::sni(media, "mmg.whatsapp.net"))
            .finish()
            .unwrap();
        assert_eq!(v.endpoint, media);
        assert_eq!(r.service(v.service).name.as_ref(), "whatsapp");
        assert_eq!(v.confidence, Confidence::Sni);
        assert_eq!(
            v.evidence,
            ["sni:mmg.whatsapp.net", "dns:g.whatsapp.net", "prefix:157.240.0.0/17", "asn:AS32934"]
        );
        let v = VerdictBuilder::default()
            .add(Evidence::sni(media, "mmg.whatsapp.net"))
            .add(Evidence::signature(chat, "whatsapp_preface"))
            .finish()
            .unwrap();
        assert_eq!((v.endpoint, v.confidence), (chat, Confidence::Signature));
        assert_eq!(v.evidence, ["sig:whatsapp_preface", "sni:mmg.whatsapp.net"]);
    }

    #[test]
    fn ties_go_to_the_first_and_empty_gives_none() {
        let r = Ruleset::builtin();
        let a = r.endpoint_by_name("facebook.other").unwrap().id;
        let b = r.endpoint_by_name("messenger.chat").unwrap().id;
        let v = VerdictBuilder::default()
            .add(Evidence::http_host(b, "edge-mqtt.facebook.com"))
            .add(Evidence::http_host(a, "www.facebook.com"))
            .finish()
            .unwrap();
        assert_eq!(v.endpoint, b);
        assert_eq!(v.evidence.len(), 2);
        assert!(VerdictBuilder::default().finish().is_none());
        assert!(Confidence::Signature > Confidence::Sni && Confidence::Sni > Confidence::HttpHost);
        assert!(Confidence::Sni > Confidence::Cert && Confidence::Cert > Confidence::HttpHost);
        assert!(Confidence::HttpHost > Confidence::Dns && Confidence::Dns > Confidence::Behaviour);
        assert!(
            Confidence::Behaviour > Confidence::Carried && Confidence::Carried > Confidence::Prefix
        );
        assert!(Confidence::Prefix > Confidence::Asn);
    }
}
