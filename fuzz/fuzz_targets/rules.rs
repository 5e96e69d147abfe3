//! The rules loader on fuzzed TOML: syntax, schema checks, host patterns, CIDR prefixes, port
//! ranges, prefix files. Input: a rule file, optionally followed by `\n#--prefixes--\n` and the
//! text of a prefix file named `p.txt`.
#![no_main]

use leakscope::classify::Ruleset;
use libfuzzer_sys::fuzz_target;

const SEP: &str = "\n#--prefixes--\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (toml, prefixes) = text.split_once(SEP).unwrap_or((text, ""));
    let files = [("fuzz.toml", toml), ("p.txt", prefixes)];
    if let Ok(rules) = Ruleset::from_texts(&files, false) {
        let _ = rules.summary().to_string();
        let _ = rules.match_host("mmg.whatsapp.net");
        let _ = rules.match_ip("157.240.1.1".parse().expect("ip"));
    }
});
