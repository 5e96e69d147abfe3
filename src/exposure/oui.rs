//! MAC vendor names from the IEEE OUI registry as Debian's `ieee-data` ships it
//! (`/usr/share/ieee-data/oui.txt`). Looked up once at the end, for the MACs seen only, so the
//! (multi-megabyte) file is never held in memory. Missing file: no vendor names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where Debian's `ieee-data` puts the registry.
pub const DEFAULT_OUI_FILE: &str = "/usr/share/ieee-data/oui.txt";

/// What to call a MAC whose locally-administered bit is set (randomised, as phones do per network).
pub const LOCALLY_ADMINISTERED: &str = "locally administered (randomised)";

/// Vendor names for `macs` (`aa:bb:cc:dd:ee:ff`), keyed by MAC.
pub fn vendors(path: &Path, macs: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for &m in macs {
        let first = u8::from_str_radix(m.get(0..2).unwrap_or("00"), 16).unwrap_or(0);
        if first & 0x02 != 0 {
            out.insert(m.to_owned(), LOCALLY_ADMINISTERED.to_owned());
        } else if let Some(p) = m.get(0..8) {
            wanted.insert(p.replace(':', "-").to_ascii_uppercase());
        }
    }
    if wanted.is_empty() {
        return out;
    }
    let Ok(data) = std::fs::read(path) else { return out };
    let mut found = BTreeMap::new();
    // Lines look like "00-00-0C   (hex)\t\tCisco Systems, Inc".
    // Jump from one "(hex)" to the next (SIMD search) instead of walking 150 000 lines.
    for at in memchr::memmem::find_iter(&data, b"(hex)") {
        let start = data[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let Some(prefix) = data.get(start..start + 8).and_then(|p| std::str::from_utf8(p).ok())
        else {
            continue;
        };
        if !wanted.contains(prefix) {
            continue;
        }
        let rest = &data[at + 5..];
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let vendor = String::from_utf8_lossy(&rest[..end]).trim().to_owned();
        found.insert(prefix.to_owned(), vendor);
    }
    for &m in macs {
        if let Some(v) =
            m.get(0..8).and_then(|p| found.get(&p.replace(':', "-").to_ascii_uppercase()))
        {
            out.insert(m.to_owned(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_lines_and_random_macs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("oui.txt");
        std::fs::write(
            &p,
            "OUI/MA-L\n\n00-1A-11   (hex)\t\tGoogle, Inc.\n001A11     (base 16)\t\tGoogle, Inc.\n",
        )
        .unwrap();
        let v = vendors(&p, &["00:1a:11:00:00:01", "02:00:00:00:00:01", "00:00:00:00:00:09"]);
        assert_eq!(v["00:1a:11:00:00:01"], "Google, Inc.");
        assert_eq!(v["02:00:00:00:00:01"], LOCALLY_ADMINISTERED);
        assert!(!v.contains_key("00:00:00:00:00:09"));
        assert!(vendors(Path::new("/nonexistent"), &["00:1a:11:00:00:01"]).is_empty());
    }
}
