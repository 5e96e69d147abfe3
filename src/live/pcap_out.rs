//! `--write-pcap FILE`: keeps the packets of chosen flows in a pcap file, for a closer look in
//! Wireshark. Unlike every other output this one holds payload: it is opt-in.

use std::path::{Path, PathBuf};

use crate::capture::{LinkType, Packet};
use crate::classify::Ruleset;
use crate::decode;

/// Which packets `--write-pcap` keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PcapKeep {
    /// Packets of flows whose address (either end) lies in a Meta prefix of the rules.
    #[default]
    Meta,
    /// Every captured packet.
    All,
}

/// The pcap writer with its keep predicate.
pub struct PcapOut {
    save: pcap::Savefile,
    path: PathBuf,
    keep: PcapKeep,
    rules: Ruleset,
    written: u64,
}

impl PcapOut {
    /// Creates (truncates) `path` for frames of `linktype`.
    pub fn create(
        path: &Path,
        linktype: LinkType,
        keep: PcapKeep,
        rules: Ruleset,
    ) -> Result<PcapOut, String> {
        let err = |e: pcap::Error| format!("{}: cannot write pcap: {e}", path.display());
        let dead = pcap::Capture::dead(pcap::Linktype(linktype.0 as i32)).map_err(err)?;
        let save = dead.savefile(path).map_err(err)?;
        Ok(PcapOut { save, path: path.to_owned(), keep, rules, written: 0 })
    }

    /// Replaces the rules the predicate uses (SIGHUP reload).
    pub fn set_rules(&mut self, rules: Ruleset) {
        self.rules = rules;
    }

    /// Whether `pkt` belongs to a flow worth keeping. Works per packet on the addresses, which
    /// are the same for every packet of a flow, so a kept flow is kept whole. Prefix rules only:
    /// flows recognised by name (SNI, DNS) on other addresses need the flow's verdict.
    pub fn keeps(&self, pkt: &Packet<'_>) -> bool {
        match self.keep {
            PcapKeep::All => true,
            PcapKeep::Meta => match decode::decode(pkt) {
                Ok(d) => {
                    self.rules.match_ip(d.src).is_some() || self.rules.match_ip(d.dst).is_some()
                }
                Err(_) => false,
            },
        }
    }

    /// Writes `pkt` if the predicate keeps it.
    pub fn packet(&mut self, pkt: &Packet<'_>) {
        if !self.keeps(pkt) {
            return;
        }
        let nanos = pkt.ts.nanos();
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: nanos.div_euclid(1_000_000_000) as libc::time_t,
                tv_usec: (nanos.rem_euclid(1_000_000_000) / 1000) as libc::suseconds_t,
            },
            caplen: pkt.data.len() as u32,
            len: pkt.wire_len,
        };
        self.save.write(&pcap::Packet::new(&header, pkt.data));
        self.written += 1;
    }

    /// Packets written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes to disk.
    pub fn flush(&mut self) -> Result<(), String> {
        self.save.flush().map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
