//! What dissection names on a flow, as types: the application protocol and where the server
//! name came from. Dissectors set them, the classifier and the exposure map read them, the
//! outputs write them as their snake_case names.

use serde::Serialize;

/// Application protocol recognised by a dissector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppProto {
    Tls,
    Dtls,
    Quic,
    Http,
    Dns,
    Dhcp,
    /// WhatsApp's chat protocol (Noise or legacy 1.x stream).
    WhatsappChat,
    Stun,
    Rtp,
}

impl AppProto {
    /// The name written in the outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Dtls => "dtls",
            Self::Quic => "quic",
            Self::Http => "http",
            Self::Dns => "dns",
            Self::Dhcp => "dhcp",
            Self::WhatsappChat => "whatsapp_chat",
            Self::Stun => "stun",
            Self::Rtp => "rtp",
        }
    }
}

/// Where a flow's server name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    TlsSni,
    DtlsSni,
    QuicSni,
    GquicSni,
    /// The server certificate's CN or subjectAltName.
    TlsCert,
    HttpHost,
    StunRealm,
    /// The name the client looked up for the server address.
    Dns,
}

impl NameSource {
    /// The name written in the outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TlsSni => "tls_sni",
            Self::DtlsSni => "dtls_sni",
            Self::QuicSni => "quic_sni",
            Self::GquicSni => "gquic_sni",
            Self::TlsCert => "tls_cert",
            Self::HttpHost => "http_host",
            Self::StunRealm => "stun_realm",
            Self::Dns => "dns",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_as_str() {
        use AppProto::*;
        for p in [Tls, Dtls, Quic, Http, Dns, Dhcp, WhatsappChat, Stun, Rtp] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        use NameSource as N;
        for s in [
            N::TlsSni,
            N::DtlsSni,
            N::QuicSni,
            N::GquicSni,
            N::TlsCert,
            N::HttpHost,
            N::StunRealm,
            N::Dns,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
