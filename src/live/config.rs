//! The daemon's configuration file (`--config FILE`, TOML): every option of `leakscope capture`,
//! command-line flags overriding it. Unknown keys and bad values are errors naming `file:line`.
//! `contrib/leakscope.toml` is a commented example.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::output::pcap::PcapKeep;

/// The file as written. Every field is optional: the command line or a default fills the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Interface to capture on.
    pub interface: Option<String>,
    /// BPF filter, tcpdump syntax.
    pub filter: Option<String>,
    /// Output directory.
    pub out: Option<PathBuf>,
    /// Rotation: a size (`100M`) or a duration of packet time (`1h`).
    pub rotate: Option<Spanned<String>>,
    /// Gzip rotated files.
    pub compress_rotated: Option<bool>,
    /// Extra rule directories, layered over the builtin rules.
    pub rules_dir: Option<Vec<PathBuf>>,
    /// MaxMind ASN database (`.mmdb`).
    pub asn_db: Option<PathBuf>,
    /// MaxMind country database (`.mmdb`).
    pub country_db: Option<PathBuf>,
    /// User to switch to after opening the interface (`root` keeps root).
    pub user: Option<String>,
    /// OUI registry for MAC vendor names (default: searched in the usual places).
    pub oui_file: Option<PathBuf>,
    /// The watched devices' networks (CIDR), e.g. the hotspot's `10.42.0.0/24`.
    pub local_networks: Option<Vec<Spanned<String>>>,
    /// Bytes kept of each frame.
    pub snaplen: Option<u32>,
    /// Kernel capture buffer: bytes, or a size such as `64M`.
    pub buffer_size: Option<Spanned<SizeValue>>,
    /// Promiscuous mode.
    pub promisc: Option<bool>,
    /// Seconds between stats lines.
    pub stats_interval: Option<u64>,
    /// Also save packets to this pcap file.
    pub write_pcap: Option<PathBuf>,
    /// Which packets `write_pcap` keeps: `meta` or `all`.
    pub write_pcap_keep: Option<PcapKeep>,
    /// Flow table timeouts and limits.
    pub flows: Option<FlowSection>,
}

/// `[flows]`: timeouts in seconds and the table size.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSection {
    /// TCP idle timeout.
    pub tcp_timeout: Option<u64>,
    /// UDP idle timeout.
    pub udp_timeout: Option<u64>,
    /// ICMP and other protocols' idle timeout.
    pub icmp_timeout: Option<u64>,
    /// Active timeout.
    pub active_timeout: Option<u64>,
    /// Most live flows.
    pub max_flows: Option<usize>,
    /// Most devices held.
    pub max_devices: Option<usize>,
}

/// A size given as a number of bytes or as text with a unit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    /// Bytes.
    Bytes(u64),
    /// `64M`, `512K`, `1G`.
    Text(String),
}

/// Parses `64M`-style sizes (K, M, G: powers of 1024) or plain bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let bad = |why| SizeError { text: text.to_owned(), why };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad(SizeWhy::NotANumber))?;
    let mult = match unit {
        "" | "B" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return Err(bad(SizeWhy::UnknownUnit(unit.to_owned()))),
    };
    n.checked_mul(mult).ok_or_else(|| bad(SizeWhy::TooLarge))
}

/// A size that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("size {text:?}: {why}")]
pub struct SizeError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: SizeWhy,
}

/// What is wrong with a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeWhy {
    /// No leading number.
    #[error("expected e.g. 64M")]
    NotANumber,
    /// A unit not known.
    #[error("unknown unit {0:?} (K, M, G)")]
    UnknownUnit(String),
    /// Past 64 bits.
    #[error("too large")]
    TooLarge,
}

/// A configuration file that cannot be read or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type, at a line.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The TOML parser's message.
        message: String,
    },
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A configuration file with the text kept, so that later checks can name lines too.
pub struct LoadedConfig {
    /// The file.
    pub path: PathBuf,
    text: String,
    /// Its contents.
    pub config: DaemonConfig,
}

impl LoadedConfig {
    /// Reads and parses `path`. Errors read `path:line: message`.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(path, text)
    }

    /// Parses `text` as if read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<LoadedConfig, ConfigError> {
        match toml::from_str::<DaemonConfig>(&text) {
            Ok(config) => Ok(LoadedConfig { path: path.to_owned(), text, config }),
            Err(e) => {
                let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
                let message = e.message().trim_end().to_owned();
                Err(ConfigError::Parse { path: path.to_owned(), line, message })
            }
        }
    }

    /// `path:line: message` for a value at `span`.
    pub fn error_at<T>(&self, v: &Spanned<T>, message: impl std::fmt::Display) -> String {
        format!("{}:{}: {message}", self.path.display(), line_of(&self.text, v.span().start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
        LoadedConfig::parse(Path::new("/etc/leakscope/leakscope.toml"), text.to_owned())
    }

    #[test]
    fn unknown_keys_name_file_and_line() {
        let e = parse("interface = \"wlan0\"\n\nintreface = \"x\"\n").err().unwrap().to_string();
        assert!(e.starts_with("/etc/leakscope/leakscope.toml:3: unknown field `intreface`"), "{e}");
        let e = parse("[flows]\ntcp_timeout = 3\nudp = 4\n").err().unwrap();
        assert!(matches!(e, ConfigError::Parse { line: 3, .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.starts_with("/etc/leakscope/leakscope.toml:3: unknown field `udp`"), "{e}");
    }

    #[test]
    fn values_keep_their_lines() {
        let c = parse("interface = \"wlan0\"\nrotate = \"1x\"\nbuffer_size = \"64M\"\n").unwrap();
        let r = c.config.rotate.as_ref().unwrap();
        assert_eq!(c.error_at(r, "bad"), "/etc/leakscope/leakscope.toml:2: bad");
        match c.config.buffer_size.as_ref().unwrap().get_ref() {
            SizeValue::Text(t) => assert_eq!(parse_size(t), Ok(64 << 20)),
            SizeValue::Bytes(_) => panic!("text expected"),
        }
    }

    #[test]
    fn contrib_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/leakscope.toml");
        LoadedConfig::load(&path).unwrap();
    }
}
