//! MAC vendor names from an OUI registry: the IEEE file as Debian's `ieee-data` and hwdata ship it
//! (`00-1A-11   (hex)\t\tGoogle, Inc.`), or the one-line-per-prefix lists of arp-scan and nmap
//! (`001A11\tGoogle, Inc.`). Looked up once at the end, for the MACs seen only, so the
//! (multi-megabyte) file is never held in memory. No file: no vendor names, and a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where distributions put an OUI registry, searched in this order when `--oui-file` is not given.
pub const SEARCH_PATHS: &[&str] = &[
    "/usr/share/ieee-data/oui.txt",      // Debian, Ubuntu: ieee-data
    "/usr/share/hwdata/oui.txt",         // Fedora, Arch, openSUSE, Alpine: hwdata
    "/usr/share/arp-scan/ieee-oui.txt",  // arp-scan (Debian, Arch, ...)
    "/usr/share/nmap/nmap-mac-prefixes", // nmap (any distribution)
];

/// The registry to read: `explicit` when given, else the first of [`SEARCH_PATHS`] present.
pub fn find(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_owned()),
        None => SEARCH_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()),
    }
}

/// What to call a MAC whose locally-administered bit is set (randomised, as phones do per network).
pub const LOCALLY_ADMINISTERED: &str = "locally administered (randomised)";

/// Vendor names for `macs` (`aa:bb:cc:dd:ee:ff`), keyed by MAC. `path` is the registry from
/// [`find`]; `None` or an unreadable file gives the randomised MACs only, with a warning.
pub fn vendors(path: Option<&Path>, macs: &[&str]) -> BTreeMap<String, String> {
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
    let file = match path.map(|p| (p, std::fs::File::open(p))) {
        Some((p, Ok(f))) => (p, f),
        Some((p, Err(e))) => {
            tracing::warn!("OUI registry {}: {e}; MAC vendor names left out", p.display());
            return out;
        }
        None => {
            tracing::warn!(
                "no OUI registry found (looked for {}); MAC vendor names left out: install ieee-data (Debian, Ubuntu) or hwdata, or pass --oui-file",
                SEARCH_PATHS.join(", ")
            );
            return out;
        }
    };
    let found = match scan(file.1, &wanted) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("OUI registry {}: {e}; MAC vendor names left out", file.0.display());
            return out;
        }
    };
    for &m in macs {
        if let Some(v) =
            m.get(0..8).and_then(|p| found.get(&p.replace(':', "-").to_ascii_uppercase()))
        {
            out.insert(m.to_owned(), v.clone());
        }
    }
    out
}

/// Bytes of the registry read at a time: the IEEE file is 5 MB, held whole it was the largest
/// allocation of a replay.
const CHUNK: u64 = 256 * 1024;

/// Reads the registry in whole-line chunks and keeps the `wanted` prefixes' vendors.
fn scan(
    mut f: std::fs::File,
    wanted: &BTreeSet<String>,
) -> std::io::Result<BTreeMap<String, String>> {
    use std::io::Read;
    let mut found = BTreeMap::new();
    let mut buf = Vec::with_capacity(CHUNK as usize + 4096);
    let mut ieee = None;
    loop {
        let n = (&mut f).take(CHUNK).read_to_end(&mut buf)?;
        let cut =
            if n == 0 { buf.len() } else { memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1) };
        let whole = &buf[..cut];
        if !whole.is_empty() {
            // The IEEE file says "(hex)" on its first entries; prefix lists never do.
            let is_ieee =
                *ieee.get_or_insert_with(|| memchr::memmem::find(whole, b"(hex)").is_some());
            let lines =
                if is_ieee { ieee_lines(whole, wanted) } else { prefix_lines(whole, wanted) };
            found.extend(lines);
        }
        buf.drain(..cut);
        if n == 0 {
            return Ok(found);
        }
    }
}

/// The IEEE file: lines look like "00-00-0C   (hex)\t\tCisco Systems, Inc". Jumps from one
/// "(hex)" to the next (SIMD search) instead of walking 150 000 lines.
fn ieee_lines(data: &[u8], wanted: &BTreeSet<String>) -> BTreeMap<String, String> {
    // The registry has ~32 000 entries and a capture a few devices: compare the 8-byte prefix
    // as one word against a handful of words, not as strings through the set.
    let keys: Vec<u64> = wanted
        .iter()
        .filter_map(|w| <[u8; 8]>::try_from(w.as_bytes()).ok().map(u64::from_ne_bytes))
        .collect();
    let mut found = BTreeMap::new();
    for at in memchr::memmem::find_iter(data, b"(hex)") {
        // "XX-XX-XX   (hex)": the line starts a few bytes before the marker.
        let start = memchr::memrchr(b'\n', &data[at.saturating_sub(64)..at])
            .map_or(at.saturating_sub(64), |i| at.saturating_sub(64) + i + 1);
        let Some(prefix) = data.get(start..start + 8) else { continue };
        let word = u64::from_ne_bytes(prefix.try_into().expect("8 bytes"));
        if !keys.contains(&word) {
            continue;
        }
        let Ok(prefix) = std::str::from_utf8(prefix) else { continue };
        let rest = &data[at + 5..];
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let vendor = String::from_utf8_lossy(&rest[..end]).trim().to_owned();
        found.insert(prefix.to_owned(), vendor);
    }
    found
}

fn prefix_lines(data: &[u8], wanted: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(hex) = line.get(..6).filter(|h| h.iter().all(u8::is_ascii_hexdigit)) else {
            continue;
        };
        if !line.get(6).is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let h = std::str::from_utf8(hex).unwrap_or_default().to_ascii_uppercase();
        let key = format!("{}-{}-{}", &h[0..2], &h[2..4], &h[4..6]);
        if wanted.contains(&key) {
            found.insert(key, String::from_utf8_lossy(&line[7..]).trim().to_owned());
        }
    }
    found
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
        let macs = ["00:1a:11:00:00:01", "02:00:00:00:00:01", "00:00:00:00:00:09"];
        let v = vendors(Some(&p), &macs);
        assert_eq!(v["00:1a:11:00:00:01"], "Google, Inc.");
        assert_eq!(v["02:00:00:00:00:01"], LOCALLY_ADMINISTERED);
        assert!(!v.contains_key("00:00:00:00:00:09"));
        let v = vendors(Some(Path::new("/nonexistent")), &macs);
        assert_eq!(v.len(), 1, "only the randomised MAC without a registry: {v:?}");
        assert_eq!(vendors(None, &macs), v);
    }

    /// arp-scan's ieee-oui.txt and nmap's nmap-mac-prefixes, as their Debian packages ship them.
    #[test]
    fn prefix_lists() {
        let dir = tempfile::tempdir().unwrap();
        let macs = ["00:1a:11:00:00:01", "f4:f5:d8:00:00:02", "00:00:0c:00:00:03"];
        for (name, text) in [
            (
                "ieee-oui.txt",
                "# arp-scan\n0050C27D5\tDEUTA-WERKE GmbH\n001A11\tGoogle, Inc.\nF4F5D8\tGoogle, Inc.\n",
            ),
            (
                "nmap-mac-prefixes",
                "# nmap\n000000 Xerox\n001A11 Google\nf4f5d8 Google\n00000C1 Not an OUI\n",
            ),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let v = vendors(Some(&p), &macs);
            assert!(v["00:1a:11:00:00:01"].starts_with("Google"), "{name}: {v:?}");
            assert!(v["f4:f5:d8:00:00:02"].starts_with("Google"), "{name}: {v:?}");
            assert!(
                !v.contains_key("00:00:0c:00:00:03"),
                "{name}: a longer prefix is no OUI: {v:?}"
            );
        }
    }

    /// A registry larger than a read chunk: entries on both sides of every chunk edge are found.
    #[test]
    fn large_registry_read_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("oui.txt");
        let mut text = String::from("OUI/MA-L\n\n");
        let mut macs = Vec::new();
        for i in 0..40_000u32 {
            let (a, b, c) = ((i >> 16) as u8, (i >> 8) as u8, i as u8);
            text.push_str(&format!("{a:02X}-{b:02X}-{c:02X}   (hex)\t\tVendor {i}\n"));
            text.push_str(&format!("{a:02X}{b:02X}{c:02X}     (base 16)\t\tVendor {i}\n\n"));
            if i % 997 == 0 {
                macs.push((format!("{a:02x}:{b:02x}:{c:02x}:00:00:01"), format!("Vendor {i}")));
            }
        }
        assert!(text.len() as u64 > 4 * CHUNK);
        std::fs::write(&p, text).unwrap();
        let list: Vec<&str> = macs.iter().map(|(m, _)| m.as_str()).collect();
        let v = vendors(Some(&p), &list);
        for (m, want) in &macs {
            assert_eq!(v.get(m), Some(want), "{m}");
        }
    }

    #[test]
    fn explicit_file_wins_over_the_search() {
        let p = Path::new("/some/oui.txt");
        assert_eq!(find(Some(p)).as_deref(), Some(p));
        let searched = find(None);
        assert!(searched.as_ref().is_none_or(|f| SEARCH_PATHS.iter().any(|s| f == Path::new(s))));
    }
}
