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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    /// Ethernet + IPv4 + UDP, no payload, from 192.168.1.2 to `dst`.
    fn frame(dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
        f[14] = 0x45; // version 4, 20-byte header
        f[16..18].copy_from_slice(&28u16.to_be_bytes()); // total length
        f[22] = 64; // TTL
        f[23] = 17; // UDP
        f[26..30].copy_from_slice(&[192, 168, 1, 2]);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&443u16.to_be_bytes());
        f[38..40].copy_from_slice(&8u16.to_be_bytes());
        f
    }

    #[test]
    fn meta_mode_keeps_packets_to_meta_prefixes_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.pcap");
        let rules = Ruleset::builtin();
        let mut out = PcapOut::create(&path, LinkType::ETHERNET, PcapKeep::Meta, rules).unwrap();
        let (meta, other) = (frame([157, 240, 1, 1]), frame([192, 0, 2, 7]));
        for data in [&meta, &other, &meta] {
            let pkt = Packet {
                ts: Timestamp(1_767_261_600_000_000_000),
                linktype: LinkType::ETHERNET,
                data,
                wire_len: data.len() as u32,
            };
            out.packet(&pkt);
        }
        assert_eq!(out.written(), 2);
        out.flush().unwrap();
        drop(out);
        // 24-byte file header + 2 × (16-byte record header + 42 bytes).
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24 + 2 * (16 + 42));
    }
}
