//! IP → autonomous system and country, from MaxMind DB files (GeoLite2, DB-IP, or compatible).
//!
//! Both country shapes are read: GeoIP2's `{country: {iso_code}}` and the flat `{country_code}` of
//! the ip-location-db files, since users may point leakscope at either.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;

use super::rules::Ruleset;
use super::verdict::Evidence;

/// Where distributions and `geoipupdate` put the databases.
pub const DEFAULT_DIRS: &[&str] = &["/usr/share/GeoIP", "/var/lib/GeoIP"];
/// ASN database names looked for in the default directories, in order.
pub const ASN_NAMES: &[&str] =
    &["GeoLite2-ASN.mmdb", "GeoIP2-ASN.mmdb", "dbip-asn-lite.mmdb", "dbip-asn.mmdb"];
/// Country database names looked for in the default directories, in order (City files hold the country too).
pub const COUNTRY_NAMES: &[&str] = &[
    "GeoLite2-Country.mmdb",
    "GeoIP2-Country.mmdb",
    "dbip-country-lite.mmdb",
    "dbip-country.mmdb",
    "GeoLite2-City.mmdb",
    "dbip-city-lite.mmdb",
];

/// A database that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct GeoError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: MaxMindDbError,
}

/// What the databases say about one address; every field may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation, e.g. "Facebook, Inc.".
    pub as_org: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. "US".
    pub cc: Option<String>,
}

impl GeoInfo {
    /// `asn:AS32934` evidence when the rules list this ASN (Meta's ASNs in `rules/meta.toml`).
    pub fn asn_evidence(&self, rules: &Ruleset) -> Option<Evidence> {
        let asn = self.asn?;
        Some(Evidence::asn(rules.match_asn(asn)?, asn))
    }
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    /// GeoIP2 shape.
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    /// GeoIP2: where the network is registered, used when `country` is absent.
    #[serde(borrow)]
    registered_country: Option<IsoCode<'a>>,
    /// Flat shape (ip-location-db, DB-IP lite CSV-derived files).
    #[serde(borrow)]
    country_code: Option<&'a str>,
}

struct Db {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
}

impl Db {
    fn open(path: &Path) -> Result<Db, GeoError> {
        let reader = Reader::open_readfile(path)
            .map_err(|source| GeoError { path: path.to_path_buf(), source })?;
        Ok(Db { path: path.to_path_buf(), reader })
    }
}

/// Open ASN and country databases (either may be absent; `Geo::default()` has none and answers
/// every lookup with an empty [`GeoInfo`]). Clones share the open files.
#[derive(Default, Clone)]
pub struct Geo {
    asn: Option<Arc<Db>>,
    country: Option<Arc<Db>>,
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geo")
            .field("asn", &self.asn_path())
            .field("country", &self.country_path())
            .finish()
    }
}

impl Geo {
    /// Opens the given files; a `None` is searched for in [`DEFAULT_DIRS`] and may stay absent.
    /// A file that is given (or found) but cannot be read is an error.
    pub fn open(asn: Option<&Path>, country: Option<&Path>) -> Result<Geo, GeoError> {
        let dirs: Vec<&Path> = DEFAULT_DIRS.iter().map(Path::new).collect();
        Geo::open_in(&dirs, asn, country)
    }

    /// Like [`Geo::open`], searching `dirs` instead of the default directories.
    pub fn open_in(
        dirs: &[&Path],
        asn: Option<&Path>,
        country: Option<&Path>,
    ) -> Result<Geo, GeoError> {
        let pick = |given: Option<&Path>, names: &[&str]| -> Option<PathBuf> {
            given.map(Path::to_path_buf).or_else(|| {
                dirs.iter().flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
            })
        };
        Ok(Geo {
            asn: pick(asn, ASN_NAMES).map(|p| Db::open(&p).map(Arc::new)).transpose()?,
            country: pick(country, COUNTRY_NAMES)
                .map(|p| Db::open(&p).map(Arc::new))
                .transpose()?,
        })
    }

    /// The ASN database in use.
    pub fn asn_path(&self) -> Option<&Path> {
        self.asn.as_ref().map(|d| d.path.as_path())
    }

    /// The country database in use.
    pub fn country_path(&self) -> Option<&Path> {
        self.country.as_ref().map(|d| d.path.as_path())
    }

    /// `(database type, build time in epoch seconds)` of the ASN and the country database.
    pub fn describe(&self) -> [Option<(String, u64)>; 2] {
        [&self.asn, &self.country].map(|d| {
            d.as_ref().map(|d| {
                let m = d.reader.metadata();
                (m.database_type.clone(), m.build_epoch)
            })
        })
    }

    /// Looks `ip` up in both databases. A miss, a record of another shape or a damaged record
    /// leaves the field empty: enrichment never stops classification.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let mut info = GeoInfo::default();
        if let Some(db) = &self.asn
            && let Ok(res) = db.reader.lookup(ip)
            && let Ok(Some(rec)) = res.decode::<AsnRecord<'_>>()
        {
            info.asn = rec.autonomous_system_number;
            info.as_org = rec.autonomous_system_organization.map(str::to_string);
        }
        if let Some(db) = &self.country
            && let Ok(res) = db.reader.lookup(ip)
            && let Ok(Some(rec)) = res.decode::<CountryRecord<'_>>()
        {
            let country = rec.country.and_then(|c| c.iso_code);
            let registered = rec.registered_country.and_then(|c| c.iso_code);
            info.cc = rec.country_code.or(country).or(registered).map(str::to_string);
        }
        info
    }
}
