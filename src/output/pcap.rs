//! `--write-pcap FILE`: keeps the packets of Meta-labelled flows in a pcap file, for a closer
//! look in Wireshark. Unlike every other output this one holds payload: it is opt-in.
//!
//! A flow is often named only by its third or fourth packet (the TLS ClientHello after the
//! handshake), so packets of flows not decided yet are held back, in arrival order, until their
//! flow is decided: kept (Meta) or dropped. Holding in one queue, instead of per flow, keeps the
//! file in capture order, so replaying it gives the same records as the run that wrote it. The
//! queue is bounded in time ([`MAX_HOLD`], packet clock) and bytes ([`MAX_HELD_BYTES`]): a packet
//! still undecided at its limit is dropped and counted.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use foldhash::fast::RandomState;

use super::error::{OutputError, again};
use crate::capture::{LinkType, Packet, Timestamp};
use crate::classify::mark::{FlowMark, FlowVerdicts};

/// Which packets `--write-pcap` keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PcapKeep {
    /// Packets of flows labelled Meta (and DNS answers naming Meta hosts, with their queries).
    #[default]
    Meta,
    /// Every captured packet.
    All,
}

/// Longest a packet waits for its flow's verdict (packet time).
pub const MAX_HOLD: Timestamp = Timestamp(10_000_000_000);
/// Most bytes held waiting for verdicts; beyond it the oldest undecided packets are dropped.
pub const MAX_HELD_BYTES: usize = 64 << 20;

/// Per-packet cost of holding, on top of the frame: the record and the queue slot.
const HELD_OVERHEAD: usize = 64;

/// What `--write-pcap` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PcapOutStats {
    /// Packets written.
    pub written: u64,
    /// Packets held for a verdict, then dropped because their flow was not Meta's.
    pub not_meta: u64,
    /// Packets dropped still undecided when their hold time or the byte budget ran out.
    pub undecided: u64,
    /// Packets of a link type other than the file's (a replay over mixed captures).
    pub other_linktype: u64,
}

/// A packet waiting for its flow's verdict.
struct Held {
    ts: Timestamp,
    wire_len: u32,
    data: Box<[u8]>,
    /// The flow whose verdict decides; `None`: already decided to keep (queued only to stay in
    /// order behind undecided packets).
    flow: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Open,
    Keep,
    Drop,
}

/// A flow with packets in the queue.
struct Pending {
    decision: Decision,
    held: u32,
}

/// Nanosecond-resolution pcap (libpcap ≥ 1.5, Wireshark, tcpdump read it): timestamps are kept
/// exactly as captured, so a replay of the file gives the same records.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Largest frame a record may announce; ours are never longer than the captured frame.
const PCAP_SNAPLEN: u32 = 262_144;

/// The pcap writer and its hold queue. The file is written here, not through libpcap's
/// `pcap_dump`, whose stdio buffering loses write errors (a full disk would go unnoticed).
pub struct PcapOut {
    out: BufWriter<File>,
    /// First write error, reported by [`PcapOut::flush`] and [`PcapOut::finish`].
    error: Option<std::io::Error>,
    path: PathBuf,
    linktype: LinkType,
    keep: PcapKeep,
    queue: VecDeque<Held>,
    held_bytes: usize,
    pending: HashMap<u64, Pending, RandomState>,
    stats: PcapOutStats,
}

impl PcapOut {
    /// Creates (truncates) `path` for frames of `linktype`.
    pub fn create(path: &Path, linktype: LinkType, keep: PcapKeep) -> Result<PcapOut, OutputError> {
        Self::with_file(Self::open(path)?, path, linktype, keep)
    }

    /// Opens (truncates) `path` for a writer whose link type is known later
    /// ([`PcapOut::with_file`]): live capture opens it while still privileged.
    pub fn open(path: &Path) -> Result<File, OutputError> {
        super::create::open(path, super::create::Mode::Truncate)
            .map_err(|source| OutputError::Open { what: "cannot write pcap", source })
    }

    /// The writer over `file`, opened at `path` by [`PcapOut::open`], for frames of `linktype`.
    pub fn with_file(
        file: File,
        path: &Path,
        linktype: LinkType,
        keep: PcapKeep,
    ) -> Result<PcapOut, OutputError> {
        let err = |e| OutputError::io(path, "cannot write pcap", e);
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        header[16..20].copy_from_slice(&PCAP_SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&linktype.0.to_le_bytes());
        out.write_all(&header).map_err(err)?;
        Ok(PcapOut {
            out,
            error: None,
            path: path.to_owned(),
            linktype,
            keep,
            queue: VecDeque::new(),
            held_bytes: 0,
            pending: HashMap::default(),
            stats: PcapOutStats::default(),
        })
    }

    /// Whether the pipeline must note flow verdicts for this writer.
    pub fn needs_verdicts(&self) -> bool {
        self.keep == PcapKeep::Meta
    }

    /// Takes `pkt`, which the pipeline has just processed; `verdicts` are the pipeline's notes
    /// on it (required when [`PcapOut::needs_verdicts`]).
    pub fn packet(&mut self, pkt: &Packet<'_>, verdicts: Option<&mut FlowVerdicts>) {
        if pkt.linktype != self.linktype {
            self.stats.other_linktype += 1;
            return;
        }
        let v = match (self.keep, verdicts) {
            (PcapKeep::Meta, Some(v)) => v,
            _ => return self.write(pkt.ts, pkt.wire_len, pkt.data),
        };
        self.apply_ended(v);
        let mut keep = false;
        let mut open = None;
        for &(id, mark) in &v.touched {
            let decided = match mark {
                FlowMark::Meta => Decision::Keep,
                FlowMark::NotMeta => Decision::Drop,
                FlowMark::Undecided => {
                    open = open.or(Some(id));
                    Decision::Open
                }
            };
            keep |= mark == FlowMark::Meta;
            if decided != Decision::Open
                && let Some(p) = self.pending.get_mut(&id)
            {
                p.decision = decided;
            }
        }
        if keep && self.queue.is_empty() {
            self.write(pkt.ts, pkt.wire_len, pkt.data);
        } else if keep || open.is_some() {
            let flow = if keep { None } else { open };
            if let Some(id) = flow {
                self.pending
                    .entry(id)
                    .or_insert(Pending { decision: Decision::Open, held: 0 })
                    .held += 1;
            }
            self.held_bytes += pkt.data.len() + HELD_OVERHEAD;
            self.queue.push_back(Held {
                ts: pkt.ts,
                wire_len: pkt.wire_len,
                data: pkt.data.into(),
                flow,
            });
        }
        self.drain(pkt.ts, false);
    }

    /// Applies the verdicts of flows ended by the clock (a silent link) and writes what they
    /// release.
    pub fn tick(&mut self, now: Timestamp, verdicts: Option<&mut FlowVerdicts>) {
        if let Some(v) = verdicts {
            self.apply_ended(v);
        }
        self.drain(now, false);
    }

    /// Settles the queue after the pipeline has written every flow: kept packets are written,
    /// still undecided ones dropped. Then flushes.
    pub fn finish(
        &mut self,
        verdicts: Option<&mut FlowVerdicts>,
    ) -> Result<PcapOutStats, OutputError> {
        if let Some(v) = verdicts {
            self.apply_ended(v);
        }
        self.drain(Timestamp(i64::MAX), true);
        self.flush()?;
        Ok(self.stats)
    }

    fn apply_ended(&mut self, v: &mut FlowVerdicts) {
        for (id, meta) in v.ended.drain(..) {
            if let Some(p) = self.pending.get_mut(&id) {
                p.decision = if meta { Decision::Keep } else { Decision::Drop };
            }
        }
    }

    /// Writes or drops decided packets from the head of the queue; an undecided head waits
    /// until it is older than [`MAX_HOLD`] or the queue is over budget (or `all`).
    fn drain(&mut self, now: Timestamp, all: bool) {
        while let Some(head) = self.queue.front() {
            let decision = match head.flow {
                None => Decision::Keep,
                Some(id) => self.pending.get(&id).map_or(Decision::Drop, |p| p.decision),
            };
            let expired = all
                || self.held_bytes > MAX_HELD_BYTES
                || now.nanos().saturating_sub(head.ts.nanos()) > MAX_HOLD.nanos();
            if decision == Decision::Open && !expired {
                break;
            }
            let head = self.queue.pop_front().expect("front exists");
            self.held_bytes -= head.data.len() + HELD_OVERHEAD;
            match decision {
                Decision::Keep => self.write(head.ts, head.wire_len, &head.data),
                Decision::Drop => self.stats.not_meta += 1,
                Decision::Open => self.stats.undecided += 1,
            }
            if let Some(id) = head.flow
                && let Some(p) = self.pending.get_mut(&id)
            {
                p.held -= 1;
                if p.held == 0 {
                    self.pending.remove(&id);
                }
            }
        }
    }

    fn write(&mut self, ts: Timestamp, wire_len: u32, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let nanos = ts.nanos();
        let data = &data[..data.len().min(PCAP_SNAPLEN as usize)];
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&(nanos.div_euclid(1_000_000_000) as u32).to_le_bytes());
        header[4..8].copy_from_slice(&(nanos.rem_euclid(1_000_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&wire_len.max(data.len() as u32).to_le_bytes());
        match self.out.write_all(&header).and_then(|()| self.out.write_all(data)) {
            Ok(()) => self.stats.written += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> PcapOutStats {
        self.stats
    }

    /// Packets waiting for a verdict.
    pub fn held(&self) -> usize {
        self.queue.len()
    }

    /// Flushes to disk; reports the first write error, if any.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
        // The error stays (later packets are dropped); each flush reports it again.
        match &self.error {
            None => Ok(()),
            Some(e) => Err(OutputError::io(&self.path, "write failed", again(e))),
        }
    }
}

/// One line for the end-of-run summary.
pub fn summary(s: &PcapOutStats) -> String {
    format!(
        "--write-pcap: {} packets written, {} held and dropped as not Meta, {} dropped undecided, \
         {} of another link type skipped",
        s.written, s.not_meta, s.undecided, s.other_linktype
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(data: &[u8], secs: i64) -> Packet<'_> {
        Packet {
            ts: Timestamp(1_767_261_600_000_000_000 + secs * 1_000_000_000),
            linktype: LinkType::ETHERNET,
            data,
            wire_len: data.len() as u32,
        }
    }

    fn touched<'a>(v: &'a mut FlowVerdicts, marks: &[(u64, FlowMark)]) -> &'a mut FlowVerdicts {
        v.touched.clear();
        v.touched.extend_from_slice(marks);
        v
    }

    fn out(dir: &Path) -> PcapOut {
        PcapOut::create(&dir.join("meta.pcap"), LinkType::ETHERNET, PcapKeep::Meta).unwrap()
    }

    #[test]
    fn undecided_packets_wait_for_their_flow_and_keep_capture_order() {
        use FlowMark::*;
        let dir = tempfile::tempdir().unwrap();
        let mut o = out(dir.path());
        let mut v = FlowVerdicts::default();
        let frame = [0u8; 60];
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(1, Undecided)]))); // SYN of flow 1
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(2, Undecided)]))); // flow 2
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(3, Meta)]))); // Meta, behind them
        assert_eq!((o.stats().written, o.held()), (0, 3));
        o.packet(&pkt(&frame, 1), Some(touched(&mut v, &[(1, Meta)]))); // flow 1 named
        // Flow 1's first packet goes out; flow 2 still blocks the rest, in order.
        assert_eq!((o.stats().written, o.held()), (1, 3));
        o.packet(&pkt(&frame, 1), Some(touched(&mut v, &[(2, NotMeta)])));
        assert_eq!((o.stats().written, o.held()), (3, 0));
        assert_eq!(o.stats().not_meta, 1);
        // Nothing held: a Meta packet is written at once, a non-Meta one dropped.
        o.packet(&pkt(&frame, 2), Some(touched(&mut v, &[(4, Meta)])));
        o.packet(&pkt(&frame, 2), Some(touched(&mut v, &[(5, NotMeta)])));
        assert_eq!((o.stats().written, o.held()), (4, 0));
    }

    #[test]
    fn flows_decided_by_their_record_and_by_the_hold_limit() {
        use FlowMark::*;
        let dir = tempfile::tempdir().unwrap();
        let mut o = out(dir.path());
        let mut v = FlowVerdicts::default();
        let frame = [0u8; 60];
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(1, Undecided)])));
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(2, Undecided)])));
        // Flow 1 ends labelled Meta (say by ASN); the clock releases it.
        v.ended.push((1, true));
        o.tick(pkt(&frame, 1).ts, Some(&mut v));
        assert_eq!((o.stats().written, o.held()), (1, 1));
        // Flow 2 never decides: dropped once older than MAX_HOLD.
        o.tick(pkt(&frame, 11).ts, Some(&mut v));
        assert_eq!((o.stats().written, o.held(), o.stats().undecided), (1, 0, 1));
    }

    #[test]
    fn finish_writes_kept_drops_undecided_and_the_file_holds_what_was_counted() {
        use FlowMark::*;
        let dir = tempfile::tempdir().unwrap();
        let mut o = out(dir.path());
        let mut v = FlowVerdicts::default();
        let frame = [0u8; 42];
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(1, Undecided)])));
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(2, Undecided)])));
        o.packet(&pkt(&frame, 0), Some(touched(&mut v, &[(1, Undecided)])));
        v.touched.clear();
        v.ended.push((1, true));
        let s = o.finish(Some(&mut v)).unwrap();
        assert_eq!((s.written, s.undecided, s.not_meta), (2, 1, 0));
        drop(o);
        // 24-byte file header + 2 × (16-byte record header + 42 bytes).
        let len = std::fs::metadata(dir.path().join("meta.pcap")).unwrap().len();
        assert_eq!(len, 24 + 2 * (16 + 42));
    }

    #[test]
    fn keep_all_writes_every_packet_of_the_files_link_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.pcap");
        let mut o = PcapOut::create(&path, LinkType::ETHERNET, PcapKeep::All).unwrap();
        let frame = [0u8; 42];
        o.packet(&pkt(&frame, 0), None);
        let mut other = pkt(&frame, 0);
        other.linktype = LinkType(101);
        o.packet(&other, None);
        assert_eq!((o.stats().written, o.stats().other_linktype), (1, 1));
    }
}
