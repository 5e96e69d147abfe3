//! Rule files: the loader (`load`) validates the TOML and merges layers (the `builtin` rules,
//! then directories) into a [`Ruleset`] (`ruleset`), the structure the hot path queries (built
//! once); every problem is a [`RuleError`] (`error`); `summary` counts what was loaded for
//! `leakscope rules check`. The tests of the whole stay here.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};

use super::hosts::{FnvMap, HostMatch, HostMatcher, HostPattern};
use super::prefixes::{PrefixMatch, PrefixTable, parse_prefix};
use crate::record::Role;

mod builtin;
mod error;
mod load;
mod ruleset;
mod summary;

pub use builtin::*;
pub use error::*;
pub use load::*;
pub use ruleset::*;
pub use summary::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::Signature;

    fn ep(r: &Ruleset, host: &str) -> Option<String> {
        r.match_host(host).map(|m| r.endpoint(m.endpoint).name.to_string())
    }

    #[test]
    fn builtin_hosts_land_on_their_endpoints() {
        let r = Ruleset::builtin();
        for (host, want) in [
            ("g.whatsapp.net", "whatsapp.chat"),
            ("c.whatsapp.net", "whatsapp.chat"),
            ("e1.whatsapp.net", "whatsapp.chat"),
            ("e16.whatsapp.net", "whatsapp.chat"),
            ("whatsapp-chatd-edge-shv-01-fra3.facebook.com", "whatsapp.chat"),
            ("v.whatsapp.net", "whatsapp.registration"),
            ("mmg.whatsapp.net", "whatsapp.media"),
            ("MMG-FNA.whatsapp.net.", "whatsapp.media"),
            ("mms.whatsapp.net", "whatsapp.media"),
            ("media-fra3-1.cdn.whatsapp.net", "whatsapp.media"),
            ("x.cdn.whatsapp.net", "whatsapp.media"),
            ("media.fmct2-1.fna.whatsapp.net", "whatsapp.media"),
            ("whatsapp-cdn-shv-01-fra3.fbcdn.net", "whatsapp.media"),
            ("pps.whatsapp.net", "whatsapp.profile_pictures"),
            ("static.whatsapp.net", "whatsapp.static"),
            ("crashlogs.whatsapp.net", "whatsapp.crashlogs"),
            ("dit.whatsapp.net", "whatsapp.telemetry"),
            ("web.whatsapp.com", "whatsapp.web"),
            ("graph.whatsapp.com", "whatsapp.graph"),
            ("graph.whatsapp.net", "whatsapp.graph"),
            ("e17.whatsapp.net", "whatsapp.other"),
            ("whatsapp.com", "whatsapp.other"),
            ("wa.me", "whatsapp.other"),
            ("graph.facebook.com", "facebook.graph"),
            ("b-graph.facebook.com", "facebook.graph"),
            ("scontent-fra3-1.fbcdn.net", "facebook.cdn"),
            ("video.fmct2-3.fna.fbcdn.net", "facebook.video"),
            ("fbcdn-profile-a.akamaihd.net", "facebook.cdn"),
            ("s-static.ak.facebook.com", "facebook.cdn"),
            ("connect.facebook.net", "facebook.analytics"),
            ("an.facebook.com", "facebook.analytics"),
            ("www.facebook.com", "facebook.other"),
            ("facebook.com", "facebook.other"),
            ("fb.me", "facebook.other"),
            ("fbsbx.com", "facebook.cdn"),
            ("fbwat.ch", "facebook.other"),
            ("edge-mqtt.facebook.com", "messenger.chat"),
            ("mqtt-mini.facebook.com", "messenger.chat"),
            ("mqtt.facebook.com", "facebook.other"),
            ("www.messenger.com", "messenger.other"),
            ("m.me", "messenger.other"),
            ("i.instagram.com", "instagram.api"),
            ("www.instagram.com", "instagram.other"),
            ("scontent-fra3-1.cdninstagram.com", "instagram.cdn"),
            ("z-m-scontent.cdninstagram.com", "instagram.cdn"),
            ("instagram.faae1-1.fna.fbcdn.net", "instagram.cdn"),
            ("igcdn-photos-a-a.akamaihd.net", "instagram.cdn"),
            ("instagr.am", "instagram.other"),
            ("www.threads.net", "threads.other"),
            ("threads.com", "threads.other"),
            ("star.c10r.facebook.com", "meta.edge"),
            ("star-mini.c10r.facebook.com", "meta.edge"),
            ("scontent.xx.fbcdn.net", "meta.edge"),
            ("about.meta.com", "meta.other"),
        ] {
            assert_eq!(ep(&r, host).as_deref(), Some(want), "{host}");
        }
        for host in ["example.com", "notwhatsapp.net", "whatsapp.net.example.com", "fb.example"] {
            assert_eq!(ep(&r, host), None, "{host}");
        }
    }

    #[test]
    fn builtin_addresses_signatures_and_asns() {
        let r = Ruleset::builtin();
        let ip = |s: &str| {
            r.match_ip(s.parse().unwrap())
                .map(|m| (r.endpoint(m.endpoint).name.to_string(), m.prefix.to_string()))
        };
        // A WhatsApp /32 beats Meta's /17.
        assert_eq!(ip("157.240.2.53"), Some(("whatsapp.other".into(), "157.240.2.53/32".into())));
        assert_eq!(ip("157.240.2.55"), Some(("meta.network".into(), "157.240.0.0/17".into())));
        assert_eq!(ip("157.240.0.61"), Some(("whatsapp.other".into(), "157.240.0.60/31".into())));
        assert_eq!(ip("2a03:2880:f0ff::1"), Some(("meta.network".into(), "2a03:2880::/32".into())));
        assert_eq!(ip("8.8.8.8"), None);
        let sig = |s: &str| {
            let s = Signature::ALL.into_iter().find(|x| x.name() == s)?;
            r.match_signature(s).map(|e| r.endpoint(e).name.to_string())
        };
        assert_eq!(sig("whatsapp_preface").as_deref(), Some("whatsapp.chat"));
        assert_eq!(sig("stun_whatsapp_relay").as_deref(), Some("whatsapp.calls"));
        assert_eq!(sig("stun_realm_facebook").as_deref(), Some("facebook.calls"));
        assert_eq!(sig("nope"), None);
        for asn in [32934, 63293, 54115, 34825] {
            assert_eq!(
                r.match_asn(asn).map(|e| r.endpoint(e).name.to_string()).as_deref(),
                Some("meta.network")
            );
        }
        assert_eq!(r.match_asn(15169), None);
        let chat = r.endpoint_by_name("whatsapp.chat").unwrap();
        assert!(chat.uses_port(PortProto::Tcp, 5222) && chat.uses_port(PortProto::Tcp, 443));
        assert!(!chat.uses_port(PortProto::Udp, 5222));
        assert!(r.endpoint_by_name("whatsapp.calls").unwrap().uses_port(PortProto::Udp, 3478));
        let wa = r.endpoint_by_name("whatsapp.media").unwrap();
        assert_eq!(r.service(wa.id.service()).display.as_ref(), "WhatsApp");
        assert_eq!(wa.service.as_ref(), "whatsapp");
        assert_eq!(wa.role, Role::Media);
    }

    #[test]
    fn every_rules_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if (name.ends_with(".toml") || name.ends_with(".txt")) && name != CATALOGUE_FILE {
                let want = format!("rules/{name}");
                assert!(BUILTIN.iter().any(|(n, _)| *n == want), "{want} is not in BUILTIN");
            }
        }
    }

    /// Writes `files` into a fresh directory and loads it (without the builtin rules unless asked).
    fn load_files(
        files: &[(&str, &str)],
        builtin: bool,
    ) -> (tempfile::TempDir, Result<Ruleset, RulesErrors>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let r = Ruleset::load(&[dir.path().to_path_buf()], builtin);
        (dir, r)
    }

    /// The error lines with the temp dir replaced by `D`.
    fn errors(files: &[(&str, &str)], builtin: bool) -> Vec<String> {
        let (dir, r) = load_files(files, builtin);
        let d = dir.path().display().to_string();
        r.expect_err("should fail").0.iter().map(|e| e.to_string().replace(&d, "D")).collect()
    }

    #[test]
    fn every_problem_is_reported_with_file_and_line() {
        let bad = r#"[service.whatsapp]
display = "WhatsApp"

[service.whatsapp.role.chat]
hosts = [
  "g.whatsapp.net",
  "a..whatsapp.net",
  "g.whatsapp.net",
]
prefixes = ["157.240.0.0/33", "157.240.1.0/16", "2a03:2880::/32"]
ports = ["tcp/5222", "sctp/1", "udp/9-1"]
signatures = ["whatsapp_prefase"]
asns = [32934, -1]

[service.whatsapp.role.other]
hosts = ["G.whatsapp.net", "*.*.whatsapp.net"]
prefixes = ["2a03:2880::/32"]
asns = [32934]

[service.Bad.role."x y"]
hosts = ["ok.example"]

[service.whatsapp.role.gateway]
hosts = ["gw.whatsapp.example"]
"#;
        let got = errors(&[("whatsapp.toml", bad)], false);
        let want = [
            r#"D/whatsapp.toml:7: host "a..whatsapp.net": empty label"#,
            r#"D/whatsapp.toml:8: host "g.whatsapp.net": duplicate in whatsapp.chat (first at D/whatsapp.toml:6)"#,
            r#"D/whatsapp.toml:10: prefix "157.240.0.0/33": invalid prefix length"#,
            r#"D/whatsapp.toml:10: prefix "157.240.1.0/16": host bits set (the network is 157.240.0.0/16)"#,
            r#"D/whatsapp.toml:11: port "sctp/1": unknown transport "sctp" (tcp or udp)"#,
            r#"D/whatsapp.toml:11: port "udp/9-1": empty or zero port range"#,
            r#"D/whatsapp.toml:12: signature "whatsapp_prefase": unknown (known: whatsapp_preface, stun_whatsapp_relay, stun_realm_facebook)"#,
            r#"D/whatsapp.toml:13: asn -1: not a 32-bit AS number"#,
            r#"D/whatsapp.toml:16: host "g.whatsapp.net": claimed by whatsapp.other and by whatsapp.chat (at D/whatsapp.toml:6)"#,
            r#"D/whatsapp.toml:16: host "*.*.whatsapp.net": `*` only as the whole first label (`*.d`) or at the end of the first label (`p*.d`)"#,
            r#"D/whatsapp.toml:17: prefix "2a03:2880::/32": claimed by whatsapp.other and by whatsapp.chat (at D/whatsapp.toml:10)"#,
            r#"D/whatsapp.toml:18: asn "AS32934": claimed by whatsapp.other and by whatsapp.chat (at D/whatsapp.toml:13)"#,
            r#"D/whatsapp.toml:23: role "gateway": unknown (known: chat, media, registration, profile_pictures, static, crashlogs, telemetry, analytics, payments, web, graph, api, cdn, video, calls, edge, network, other)"#,
        ];
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing {w}\ngot:\n{}", got.join("\n"));
        }
        assert!(
            got.iter()
                .any(|g| g.starts_with("D/whatsapp.toml:") && g.contains("service name \"Bad\"")),
            "{got:?}"
        );
        assert!(got.iter().any(|g| g.contains("role name \"x y\"")), "{got:?}");
    }

    #[test]
    fn syntax_and_unknown_keys_name_the_line() {
        let a = "[service.x.role.api]\nhosts = [\"a.example\"]\nhostz = [\"b.example\"]\n\n\
                 [service.x.role.cdn]\nprefixes = [\"10.0.0.0/33\"]\n";
        let got = errors(
            &[
                ("a.toml", a),
                ("b.toml", "[service.z]\ndisplay = \"Z\"\ncolour = 3\n[services.q]\n"),
                ("c.toml", "[service.q.role.web]\nhosts = [\"a.example\"\n"),
                ("d.toml", "[service.q.role.video]\nprefixes = \"1.2.3.0/24\"\n"),
                ("e.toml", "service = 3\n"),
            ],
            false,
        );
        assert_eq!(got.len(), 7, "{got:#?}");
        assert!(got[0].starts_with("D/a.toml:3: unknown field `hostz`"), "{got:?}");
        // The bad key in role api hides nothing in role cdn.
        assert_eq!(got[1], r#"D/a.toml:6: prefix "10.0.0.0/33": invalid prefix length"#);
        assert_eq!(got[2], "D/b.toml:3: unknown field `colour`, expected one of `display`, `role`");
        assert_eq!(got[3], "D/b.toml:4: unknown field `services`, expected `service`");
        assert!(got[4].starts_with("D/c.toml:"), "{got:?}");
        assert!(got[5].starts_with("D/d.toml:2: invalid type"), "{got:?}");
        assert_eq!(got[6], "D/e.toml:1: invalid type for `service`, expected a table");
    }

    #[test]
    fn prefix_files_report_their_own_lines() {
        let toml = "[service.x.role.api]\nprefix_files = [\"nets.txt\", \"missing.txt\"]\n";
        let nets =
            "# header kept\n10.0.0.0/8\n\n10.1.0.0/16 # comment\n10.0.0.0/33\n10.0.0.300\nbogus\n";
        let got = errors(&[("x.toml", toml), ("nets.txt", nets)], false);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], r#"D/nets.txt:5: prefix "10.0.0.0/33": invalid prefix length"#);
        assert_eq!(got[1], r#"D/nets.txt:6: prefix "10.0.0.300": invalid IP address"#);
        assert_eq!(got[2], "D/nets.txt:7: not a CIDR prefix (5 characters, not quoted)");
        assert!(got[3].starts_with("D/x.toml:2: cannot read: D/missing.txt:"), "{got:?}");
    }

    #[test]
    fn bad_values_are_quoted_short_and_escaped() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\u{1b}[2J"), r#""\u{1b}[2J""#);
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(QUOTE_MAX)));
    }

    #[test]
    fn only_regular_utf8_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_text(Path::new("/dev/zero")).unwrap_err().to_string(),
            "not a regular file"
        );
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_text(&fifo).unwrap_err().to_string(), "not a regular file");
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"10.0.0.0/8\n# caf\xe9\n").unwrap();
        assert_eq!(
            read_text(&latin1).unwrap_err().to_string(),
            "not UTF-8 text (line 2, byte offset 16)"
        );
        let big = dir.path().join("big.txt");
        std::fs::File::create(&big).unwrap().set_len(MAX_RULES_FILE + 1).unwrap();
        assert!(read_text(&big).unwrap_err().to_string().contains("limit"));
        // A file that is not a prefix list is given up after a few lines, none quoted.
        let toml = "[service.x.role.api]\nprefix_files = [\"shadow\"]\n";
        let shadow = "root:$6$salt$hash:19000:0:99999:7:::\n".repeat(50);
        let got = errors(&[("x.toml", toml), ("shadow", &shadow)], false);
        assert_eq!(got.len(), MAX_BAD_PREFIX_LINES + 1, "{got:?}");
        assert!(got.iter().all(|g| !g.contains("salt")), "{got:?}");
    }

    #[test]
    fn missing_or_empty_dirs_are_errors() {
        let got = errors(&[("readme.md", "no rules here")], false);
        assert_eq!(got, ["D: no *.toml rule files"]);
        let e = Ruleset::load(&[PathBuf::from("/nonexistent/leakscope-rules")], false).unwrap_err();
        assert!(
            e.0[0].to_string().starts_with("/nonexistent/leakscope-rules: cannot read:"),
            "{e}"
        );
    }

    #[test]
    fn role_defined_twice_in_one_layer_is_reported() {
        let a = "[service.x.role.api]\nhosts = [\"a.example\"]\n";
        let b = "[service.x.role.api]\nhosts = [\"b.example\"]\n";
        let got = errors(&[("a.toml", a), ("b.toml", b)], false);
        assert_eq!(got, [r#"D/b.toml:1: role "api": duplicate in x.api (first at D/a.toml:1)"#]);
    }

    #[test]
    fn user_layer_extends_and_overrides_builtin() {
        let user = r#"
[service.whatsapp.role.media]
display = "WhatsApp media (mine)"
hosts = ["mmg2.whatsapp.net"]
ports = ["tcp/443"]

# Moves g.whatsapp.net from whatsapp.chat to a new role; no error across layers.
[service.whatsapp.role.api]
hosts = ["g.whatsapp.net"]
prefixes = ["157.240.2.53/32"]

[service.acme]
display = "Acme"
[service.acme.role.api]
hosts = [".acme.example"]
"#;
        let (_dir, r) = load_files(&[("user.toml", user)], true);
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ep(&r, "g.whatsapp.net").as_deref(), Some("whatsapp.api"));
        assert_eq!(ep(&r, "mmg2.whatsapp.net").as_deref(), Some("whatsapp.media"));
        assert_eq!(ep(&r, "mmg.whatsapp.net").as_deref(), Some("whatsapp.media"), "builtin kept");
        assert_eq!(ep(&r, "api.acme.example").as_deref(), Some("acme.api"));
        let m = r.match_ip("157.240.2.53".parse().unwrap()).unwrap();
        assert_eq!(&*r.endpoint(m.endpoint).name, "whatsapp.api");
        let media = r.endpoint_by_name("whatsapp.media").unwrap();
        assert_eq!(&*media.display, "WhatsApp media (mine)");
        assert_eq!(media.ports, [PortRange::parse("tcp/443").unwrap()]);
        // Later dirs override earlier ones the same way.
        let d2 = tempfile::tempdir().unwrap();
        std::fs::write(
            d2.path().join("z.toml"),
            "[service.acme.role.web]\nhosts = [\"api.acme.example\"]\n",
        )
        .unwrap();
        let d1 = tempfile::tempdir().unwrap();
        std::fs::write(d1.path().join("u.toml"), user).unwrap();
        let r = Ruleset::load(&[d1.path().into(), d2.path().into()], true).unwrap();
        assert_eq!(ep(&r, "api.acme.example").as_deref(), Some("acme.web"));
        assert_eq!(ep(&r, "www.acme.example").as_deref(), Some("acme.api"));
    }

    #[test]
    fn check_returns_counts() {
        let s = check(&[]).unwrap();
        assert_eq!(s.services, 6);
        let chat = s.roles.iter().find(|r| r.endpoint == "whatsapp.chat").unwrap();
        assert_eq!((chat.hosts, chat.signatures, chat.ports), (19, 1, 4));
        assert!(s.to_string().contains("whatsapp.chat"));
    }

    #[test]
    fn ports_parse() {
        assert_eq!(PortRange::parse("UDP/40000-40100").unwrap().to_string(), "udp/40000-40100");
        assert_eq!(PortRange::parse("tcp/5222").unwrap().to_string(), "tcp/5222");
        assert!(PortRange::parse("5222").is_err());
        assert!(PortRange::parse("tcp/70000").is_err());
        assert!(PortRange::parse("tcp/0").is_err());
    }

    #[test]
    fn builtin_rules_load_without_problems() {
        let r = Ruleset::load(&[], true).unwrap_or_else(|e| panic!("{e}"));
        let s = r.summary();
        println!("{s}");
        assert!(s.hosts > 50 && s.prefixes > 300, "{s}");
        assert_eq!(s.asns, 4);
        assert_eq!(s.signatures, KNOWN_SIGNATURES.len());
    }
}
