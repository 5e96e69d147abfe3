//! The rules embedded in the binary, and the signature names dissectors emit.

use crate::dissect::Signature;

/// Dissector signatures a rule may name. Dissectors emit these names; a rule naming anything else
/// could never match, so it is reported as a typo.
pub const KNOWN_SIGNATURES: &[&str] = &[
    Signature::WhatsappPreface.name(),
    Signature::StunWhatsappRelay.name(),
    Signature::StunRealmFacebook.name(),
];

/// The default rules, embedded so the binary works without a rules directory.
/// `(path shown in messages, contents)`, in file-name order like a directory load; prefix files are
/// found here by file name.
pub(super) const BUILTIN: &[(&str, &str)] = &[
    ("rules/facebook.toml", include_str!("../../../rules/facebook.toml")),
    ("rules/instagram.toml", include_str!("../../../rules/instagram.toml")),
    ("rules/messenger.toml", include_str!("../../../rules/messenger.toml")),
    ("rules/meta-asn-prefixes.txt", include_str!("../../../rules/meta-asn-prefixes.txt")),
    ("rules/meta.toml", include_str!("../../../rules/meta.toml")),
    ("rules/threads.toml", include_str!("../../../rules/threads.toml")),
    (
        "rules/whatsapp-server-addresses.txt",
        include_str!("../../../rules/whatsapp-server-addresses.txt"),
    ),
    ("rules/whatsapp.toml", include_str!("../../../rules/whatsapp.toml")),
];

/// The embedded rule files, `(name, contents)` (for the provenance manifest's rules hash).
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN
}
