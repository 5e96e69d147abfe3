//! Geo enrichment: tiny databases written by the test suite (both country shapes), and the real
//! shared databases when present.

mod support;

use std::net::IpAddr;
use std::path::Path;

use leakscope::classify::{Geo, GeoInfo, Ruleset};
use support::mmdb::{Value, Writer, map, s};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn asn_rec(n: u32, org: &str) -> Value {
    map(&[("autonomous_system_number", Value::U32(n)), ("autonomous_system_organization", s(org))])
}

fn write(dir: &Path, name: &str, w: &Writer) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, w.build()).unwrap();
    p
}

fn tiny_asn() -> Writer {
    let mut w = Writer::new("GeoLite2-ASN");
    w.insert("157.240.0.0/16", &asn_rec(32934, "Facebook, Inc."))
        .insert("2a03:2880::/32", &asn_rec(32934, "Facebook, Inc."))
        .insert("8.8.8.0/24", &asn_rec(15169, "Google LLC"));
    w
}

#[test]
fn tiny_asn_and_geoip2_country() {
    let dir = tempfile::tempdir().unwrap();
    let asn = write(dir.path(), "asn.mmdb", &tiny_asn());
    let mut c = Writer::new("GeoLite2-Country");
    let us = map(&[("iso_code", s("US")), ("names", map(&[("en", s("United States"))]))]);
    c.insert(
        "157.240.0.0/16",
        &map(&[("country", us.clone()), ("continent", map(&[("code", s("NA"))]))]),
    )
    // Only the registered country: used as a fallback.
    .insert("2a03:2880::/32", &map(&[("registered_country", map(&[("iso_code", s("IE"))]))]));
    let country = write(dir.path(), "country.mmdb", &c);
    let geo = Geo::open(Some(&asn), Some(&country)).unwrap();
    assert_eq!(
        geo.lookup(ip("157.240.1.1")),
        GeoInfo { asn: Some(32934), as_org: Some("Facebook, Inc.".into()), cc: Some("US".into()) }
    );
    assert_eq!(geo.lookup(ip("2a03:2880:f0ff::1")).cc.as_deref(), Some("IE"));
    assert_eq!(geo.lookup(ip("8.8.8.8")).asn, Some(15169));
    assert_eq!(geo.lookup(ip("8.8.8.8")).cc, None);
    assert_eq!(geo.lookup(ip("10.0.0.1")), GeoInfo::default());
    let rules = Ruleset::builtin();
    let ev = geo.lookup(ip("157.240.1.1")).asn_evidence(&rules).unwrap();
    assert_eq!(ev.text, "asn:AS32934");
    assert_eq!(&*rules.endpoint(ev.endpoint).name, "meta.network");
    assert!(geo.lookup(ip("8.8.8.8")).asn_evidence(&rules).is_none());
}

#[test]
fn tiny_flat_country_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Writer::new("geo-whois-asn-country");
    c.insert("157.240.0.0/16", &map(&[("country_code", s("US"))]))
        .insert("157.240.7.0/24", &map(&[("country_code", s("SE"))]));
    let country = write(dir.path(), "country.mmdb", &c);
    let geo = Geo::open_in(&[], None, Some(&country)).unwrap();
    assert_eq!(geo.lookup(ip("157.240.1.1")).cc.as_deref(), Some("US"));
    assert_eq!(geo.lookup(ip("157.240.7.9")).cc.as_deref(), Some("SE"), "narrower network wins");
    assert_eq!(geo.lookup(ip("157.240.1.1")).asn, None, "no ASN database");
    assert!(geo.asn_path().is_none());
}

#[test]
fn default_search_and_open_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "GeoLite2-ASN.mmdb", &tiny_asn());
    let geo = Geo::open_in(&[Path::new("/nonexistent"), dir.path()], None, None).unwrap();
    assert_eq!(geo.asn_path(), Some(dir.path().join("GeoLite2-ASN.mmdb").as_path()));
    assert!(geo.country_path().is_none());
    assert_eq!(geo.lookup(ip("157.240.1.1")).asn, Some(32934));

    let missing = dir.path().join("missing.mmdb");
    let err = Geo::open(Some(&missing), None).unwrap_err();
    assert!(err.to_string().starts_with(&missing.display().to_string()), "{err}");
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"not a database").unwrap();
    let err = Geo::open(None, Some(&junk)).unwrap_err();
    assert!(err.to_string().contains("junk.mmdb"), "{err}");
}

#[test]
fn real_shared_databases() {
    let Some(data) = support::shared_data("geo/asn.mmdb") else {
        return;
    };
    let geo =
        Geo::open(Some(&data.join("geo/asn.mmdb")), Some(&data.join("geo/country.mmdb"))).unwrap();
    let fb = geo.lookup(ip("157.240.0.1"));
    assert_eq!(fb.asn, Some(32934));
    assert_eq!(fb.as_org.as_deref(), Some("Facebook, Inc."));
    assert!(fb.cc.as_deref().is_some_and(|c| c.len() == 2), "{fb:?}");
    assert_eq!(geo.lookup(ip("31.13.64.1")).asn, Some(32934));
    assert_eq!(geo.lookup(ip("2a03:2880::1")).asn, Some(32934));
    let g = geo.lookup(ip("8.8.8.8"));
    assert_eq!((g.asn, g.as_org.as_deref()), (Some(15169), Some("Google LLC")));
    assert_eq!(g.cc.as_deref(), Some("US"));
    let rules = Ruleset::builtin();
    assert_eq!(fb.asn_evidence(&rules).unwrap().text, "asn:AS32934");
}

/// `leakscope geo status` names the databases in use, their type, and answers a probe.
#[test]
fn geo_status_names_the_databases() {
    let dir = tempfile::tempdir().unwrap();
    let asn = write(dir.path(), "GeoLite2-ASN.mmdb", &tiny_asn());
    let mut c = Writer::new("geo-whois-asn-country");
    c.insert("157.240.0.0/16", &map(&[("country_code", s("US"))]));
    let country = write(dir.path(), "country.mmdb", &c);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leakscope"))
        .args(["geo", "status", "--asn-db"])
        .arg(&asn)
        .arg("--country-db")
        .arg(&country)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("ASN database: {} (GeoLite2-ASN", asn.display())), "{text}");
    assert!(text.contains(&format!("country database: {}", country.display())), "{text}");
    assert!(text.contains("check: 157.240.0.1 -> AS32934 Facebook, Inc., country US"), "{text}");
    assert!(!text.contains("Get one"), "both databases are there: {text}");
}
