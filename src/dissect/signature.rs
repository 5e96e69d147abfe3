//! Dissector signatures: facts a dissector establishes that rules may name (`signatures = [...]`
//! in `rules/*.toml`). The one list of them; the classifier and the rule loader use these ids.

use std::fmt;

/// A signature a dissector emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signature {
    /// WhatsApp's chat connection preface (`WA` and a version) on the first client bytes.
    WhatsappPreface,
    /// A STUN message with WhatsApp relay attributes.
    StunWhatsappRelay,
    /// A STUN message whose realm is Facebook's.
    StunRealmFacebook,
}

impl Signature {
    /// Every signature.
    pub const ALL: [Signature; 3] =
        [Signature::WhatsappPreface, Signature::StunWhatsappRelay, Signature::StunRealmFacebook];

    /// The name rules use.
    pub const fn name(self) -> &'static str {
        match self {
            Signature::WhatsappPreface => "whatsapp_preface",
            Signature::StunWhatsappRelay => "stun_whatsapp_relay",
            Signature::StunRealmFacebook => "stun_realm_facebook",
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
