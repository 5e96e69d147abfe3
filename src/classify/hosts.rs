//! Host-name patterns and the compiled host matcher.
//!
//! Three pattern kinds (see `rules/README.md`):
//! - exact: `g.whatsapp.net`
//! - suffix at a dot: `.whatsapp.net` or `*.whatsapp.net` (the domain itself and every name under it)
//! - label prefix: `media-*.cdn.whatsapp.net` (first label starts with `media-`, the name lies under
//!   `cdn.whatsapp.net`), or `fbcdn-*` (first label starts with `fbcdn-`, any domain)
//!
//! Precedence, most specific first: exact; then the pattern anchored at the longest domain (a label
//! prefix `P*.S` and a suffix `.S` share the anchor `S`; at the same anchor the label prefix wins as it
//! constrains one label more, and a longer `P` beats a shorter one); unanchored label prefixes last.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use super::ids::EndpointId;

/// Longest DNS name in text form (RFC 1035), without the trailing dot.
pub(crate) const MAX_NAME_LEN: usize = 253;

/// A parsed, normalised (lower-case, no trailing dot) host pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// Matches exactly this name.
    Exact(String),
    /// Matches this domain and every name under it (written `.d` or `*.d`).
    Suffix(String),
    /// Matches names whose first label starts with `prefix` and that lie under `anchor`
    /// (any domain when `anchor` is empty).
    LabelPrefix {
        /// Required start of the first label, non-empty.
        prefix: String,
        /// Domain the name must lie under; empty for any.
        anchor: String,
    },
}

impl fmt::Display for HostPattern {
    /// The canonical text form, also the key used to find duplicates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Suffix(d) => write!(f, ".{d}"),
            HostPattern::LabelPrefix { prefix, anchor } if anchor.is_empty() => {
                write!(f, "{prefix}*")
            }
            HostPattern::LabelPrefix { prefix, anchor } => write!(f, "{prefix}*.{anchor}"),
        }
    }
}

/// Why a host pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Nothing but dots or spaces.
    #[error("empty pattern")]
    Empty,
    /// `*` alone as the first label.
    #[error("a lone `*` label: write `*.domain` for a suffix")]
    LoneStar,
    /// The name is longer than DNS allows.
    #[error("longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// Two dots in a row.
    #[error("empty label")]
    EmptyLabel,
    /// A label longer than 63 characters (the label).
    #[error("label {q} longer than 63 characters", q = super::quote::quote(.0))]
    LongLabel(String),
    /// `*` elsewhere than the first label.
    #[error("`*` only as the whole first label (`*.d`) or at the end of the first label (`p*.d`)")]
    MisplacedStar,
    /// A character not allowed in a host name.
    #[error("invalid character {0:?} (use punycode for IDNs)")]
    BadChar(char),
}

impl HostPattern {
    /// Parses a pattern as written in a rule file; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<HostPattern, PatternError> {
        let lower = text.trim().to_ascii_lowercase();
        let s = lower.strip_suffix('.').unwrap_or(&lower);
        if s.is_empty() {
            return Err(PatternError::Empty);
        }
        if let Some(domain) = s.strip_prefix("*.").or_else(|| s.strip_prefix('.')) {
            check_domain(domain)?;
            return Ok(HostPattern::Suffix(domain.to_string()));
        }
        let (first, rest) = match s.split_once('.') {
            Some((f, r)) => (f, r),
            None => (s, ""),
        };
        if let Some(prefix) = first.strip_suffix('*') {
            if prefix.is_empty() {
                return Err(PatternError::LoneStar);
            }
            check_label(prefix)?;
            if !rest.is_empty() {
                check_domain(rest)?;
            }
            return Ok(HostPattern::LabelPrefix {
                prefix: prefix.to_string(),
                anchor: rest.to_string(),
            });
        }
        check_domain(s)?;
        Ok(HostPattern::Exact(s.to_string()))
    }
}

fn check_domain(d: &str) -> Result<(), PatternError> {
    if d.len() > MAX_NAME_LEN {
        return Err(PatternError::TooLong);
    }
    d.split('.').try_for_each(check_label)
}

fn check_label(l: &str) -> Result<(), PatternError> {
    if l.is_empty() {
        return Err(PatternError::EmptyLabel);
    }
    if l.len() > 63 {
        return Err(PatternError::LongLabel(l.to_owned()));
    }
    if let Some(c) = l.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(if c == '*' { PatternError::MisplacedStar } else { PatternError::BadChar(c) });
    }
    Ok(())
}

/// A fast non-keyed hash (8 bytes per step, then a final mix): host keys are short and the tables
/// are built once from trusted rules, so traffic can only look up, never insert or grow a bucket.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        // Spread the bits: the table uses both the low bits (bucket) and the top bits (tag).
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(tail) ^ (rest.len() as u64) << 59)
            .wrapping_mul(K);
        self.0 = h;
    }
}

pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A host-name match: which endpoint, and the pattern (canonical form) that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMatch<'r> {
    /// The matched endpoint.
    pub endpoint: EndpointId,
    /// The winning pattern, canonical text (`.whatsapp.net`, `media-*.cdn.whatsapp.net`).
    pub pattern: &'r str,
}

/// `(prefix, endpoint, pattern index)` of one label-prefix pattern.
type LabelPrefix = (Box<str>, EndpointId, u32);

/// Everything anchored at one domain, so each step of the walk is a single hash lookup.
#[derive(Debug, Default)]
struct Node {
    /// Exact pattern for this very name.
    exact: Option<(EndpointId, u32)>,
    /// Suffix pattern for this domain.
    suffix: Option<(EndpointId, u32)>,
    /// Label prefixes anchored here, longest prefix first.
    label_prefixes: Vec<LabelPrefix>,
}

/// Compiled host matcher: one hash lookup per parent domain of the name, no allocation.
#[derive(Debug, Default)]
pub(crate) struct HostMatcher {
    /// Canonical texts, indexed by the `u32` in the nodes.
    patterns: Vec<Box<str>>,
    /// Keyed by domain; "" holds the unanchored label prefixes.
    nodes: FnvMap<Box<str>, Node>,
}

impl HostMatcher {
    /// Builds the matcher from patterns whose duplicates the caller has already resolved; in
    /// O(n log n), however many label prefixes share an anchor.
    pub(crate) fn build<'p>(
        patterns: impl IntoIterator<Item = (&'p HostPattern, EndpointId)>,
    ) -> Self {
        let mut m = HostMatcher::default();
        for (pattern, endpoint) in patterns {
            m.insert(pattern, endpoint);
        }
        for node in m.nodes.values_mut() {
            // Longest prefix first; stable, so equal lengths keep their insertion order.
            node.label_prefixes.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
        }
        m
    }

    fn insert(&mut self, pattern: &HostPattern, endpoint: EndpointId) {
        let idx = self.patterns.len() as u32;
        self.patterns.push(pattern.to_string().into_boxed_str());
        fn node<'a>(nodes: &'a mut FnvMap<Box<str>, Node>, key: &str) -> &'a mut Node {
            nodes.entry(key.into()).or_default()
        }
        match pattern {
            HostPattern::Exact(n) => node(&mut self.nodes, n).exact = Some((endpoint, idx)),
            HostPattern::Suffix(d) => node(&mut self.nodes, d).suffix = Some((endpoint, idx)),
            HostPattern::LabelPrefix { prefix, anchor } => {
                let list = &mut node(&mut self.nodes, anchor).label_prefixes;
                list.push((prefix.as_str().into(), endpoint, idx));
            }
        }
    }

    /// Number of patterns.
    pub(crate) fn len(&self) -> usize {
        self.patterns.len()
    }

    /// The endpoint of every pattern (for counts).
    pub(crate) fn endpoints(&self) -> impl Iterator<Item = EndpointId> + '_ {
        self.nodes.values().flat_map(|n| {
            let lp = n.label_prefixes.iter().map(|(_, e, _)| *e);
            n.exact.iter().chain(n.suffix.iter()).map(|(e, _)| *e).chain(lp)
        })
    }

    /// Finds the most specific pattern for `name` (case-insensitive, trailing dot tolerated).
    pub(crate) fn find(&self, name: &str) -> Option<HostMatch<'_>> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return None;
        }
        // Lower-case into a stack buffer only when needed: no allocation on the hot path.
        let mut buf = [0u8; MAX_NAME_LEN];
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            let out = &mut buf[..name.len()];
            out.copy_from_slice(name.as_bytes());
            out.make_ascii_lowercase();
            std::str::from_utf8(out).ok()?
        } else {
            name
        };
        let hit = |(endpoint, idx): (EndpointId, u32)| HostMatch {
            endpoint,
            pattern: &self.patterns[idx as usize],
        };
        if let Some(node) = self.nodes.get(name)
            && let Some(m) = node.exact.or(node.suffix)
        {
            return Some(hit(m));
        }
        let (first, rest) = name.split_once('.').unwrap_or((name, ""));
        let prefixed = |node: &Node| {
            let &(_, e, i) =
                node.label_prefixes.iter().find(|(p, _, _)| first.starts_with(&**p))?;
            Some((e, i))
        };
        // Walk the parent domains, longest first: the first hit is the most specific.
        let mut anchor = rest;
        while !anchor.is_empty() {
            if let Some(node) = self.nodes.get(anchor)
                && let Some(m) = prefixed(node).or(node.suffix)
            {
                return Some(hit(m));
            }
            anchor = anchor.split_once('.').map_or("", |(_, r)| r);
        }
        self.nodes.get("").and_then(prefixed).map(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn pattern_kinds_and_canonical_form() {
        assert_eq!(p("g.whatsapp.net"), HostPattern::Exact("g.whatsapp.net".into()));
        assert_eq!(p("G.WhatsApp.NET."), HostPattern::Exact("g.whatsapp.net".into()));
        assert_eq!(p(".whatsapp.net"), HostPattern::Suffix("whatsapp.net".into()));
        assert_eq!(p("*.whatsapp.net"), p(".whatsapp.net"), "both spellings are one key");
        assert_eq!(p("*.whatsapp.net").to_string(), ".whatsapp.net");
        assert_eq!(
            p("media-*.cdn.whatsapp.net"),
            HostPattern::LabelPrefix { prefix: "media-".into(), anchor: "cdn.whatsapp.net".into() }
        );
        assert_eq!(p("media-*.cdn.whatsapp.net").to_string(), "media-*.cdn.whatsapp.net");
        assert_eq!(
            p("fbcdn-*"),
            HostPattern::LabelPrefix { prefix: "fbcdn-".into(), anchor: String::new() }
        );
        assert_eq!(p("fbcdn-*").to_string(), "fbcdn-*");
    }

    #[test]
    fn bad_patterns_say_why() {
        let err = |s: &str| HostPattern::parse(s).unwrap_err().to_string();
        assert_eq!(err(""), "empty pattern");
        assert_eq!(err("."), "empty pattern");
        assert_eq!(err("a..b"), "empty label");
        assert!(err("*").contains("lone `*`"));
        assert!(err("*.*.whatsapp.net").contains("`*` only"));
        assert!(err("a.*.whatsapp.net").contains("`*` only"));
        assert!(err("me*dia.whatsapp.net").contains("`*` only"));
        assert!(err("wh@tsapp.net").contains("invalid character '@'"));
        assert!(err("wéb.whatsapp.net").contains("punycode"));
        assert!(err(&format!("{}.net", "a".repeat(64))).contains("longer than 63"));
    }

    fn matcher(list: &[&str]) -> HostMatcher {
        let pats: Vec<HostPattern> = list.iter().map(|s| p(s)).collect();
        HostMatcher::build(pats.iter().enumerate().map(|(i, p)| (p, EndpointId::test(i as u16))))
    }

    fn hit<'a>(m: &'a HostMatcher, name: &str) -> Option<&'a str> {
        m.find(name).map(|h| h.pattern)
    }

    #[test]
    fn suffix_matches_at_a_dot_including_the_apex() {
        let m = matcher(&[".whatsapp.net"]);
        assert_eq!(hit(&m, "whatsapp.net"), Some(".whatsapp.net"));
        assert_eq!(hit(&m, "a.b.whatsapp.net"), Some(".whatsapp.net"));
        assert_eq!(hit(&m, "notwhatsapp.net"), None);
        assert_eq!(hit(&m, "whatsapp.net.evil.com"), None);
        assert_eq!(hit(&m, "net"), None);
    }

    #[test]
    fn case_trailing_dot_and_junk_are_tolerated() {
        let m = matcher(&["g.whatsapp.net", ".fbcdn.net"]);
        assert_eq!(hit(&m, "G.WhatsApp.Net."), Some("g.whatsapp.net"));
        assert_eq!(hit(&m, "SCONTENT.XX.FBCDN.NET"), Some(".fbcdn.net"));
        assert_eq!(hit(&m, ""), None);
        assert_eq!(hit(&m, "."), None);
        assert_eq!(hit(&m, "..fbcdn.net"), Some(".fbcdn.net"));
        assert_eq!(hit(&m, &format!("{}.fbcdn.net", "a".repeat(300))), None, "over 253 chars");
        assert_eq!(hit(&m, "ü.fbcdn.net"), Some(".fbcdn.net"), "non-ASCII does not panic");
    }

    #[test]
    fn most_specific_wins() {
        let m = matcher(&[
            ".whatsapp.net",
            "g.whatsapp.net",
            ".cdn.whatsapp.net",
            "media-*.cdn.whatsapp.net",
            "media-fra*.cdn.whatsapp.net",
            ".fbcdn.net",
            "whatsapp-cdn-*.fbcdn.net",
            ".xx.fbcdn.net",
            "fbcdn-*",
            "fb*",
        ]);
        // exact beats every suffix
        assert_eq!(hit(&m, "g.whatsapp.net"), Some("g.whatsapp.net"));
        // longest suffix
        assert_eq!(hit(&m, "x.whatsapp.net"), Some(".whatsapp.net"));
        assert_eq!(hit(&m, "x.cdn.whatsapp.net"), Some(".cdn.whatsapp.net"));
        // same anchor: label prefix beats the suffix; longer prefix beats shorter
        assert_eq!(hit(&m, "media-ams1.cdn.whatsapp.net"), Some("media-*.cdn.whatsapp.net"));
        assert_eq!(hit(&m, "media-fra3.cdn.whatsapp.net"), Some("media-fra*.cdn.whatsapp.net"));
        assert_eq!(hit(&m, "media-x.deep.cdn.whatsapp.net"), Some("media-*.cdn.whatsapp.net"));
        assert_eq!(hit(&m, "whatsapp-cdn-shv-01-fra3.fbcdn.net"), Some("whatsapp-cdn-*.fbcdn.net"));
        // a longer suffix beats a label prefix anchored higher up
        assert_eq!(hit(&m, "whatsapp-cdn-1.xx.fbcdn.net"), Some(".xx.fbcdn.net"));
        // unanchored label prefixes come last, longest prefix first
        assert_eq!(hit(&m, "fbcdn-profile-a.akamaihd.net"), Some("fbcdn-*"));
        assert_eq!(hit(&m, "fbstatic-a.akamaihd.net"), Some("fb*"));
        assert_eq!(hit(&m, "fbcdn-x.fbcdn.net"), Some(".fbcdn.net"));
        // the label prefix applies to the first label only
        assert_eq!(hit(&m, "a.media-1.cdn.whatsapp.net"), Some(".cdn.whatsapp.net"));
        assert_eq!(hit(&m, "example.com"), None);
    }
}
