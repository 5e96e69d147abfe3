//! Capture files: pcap (µs and ns) and pcapng (several interfaces, mixed link types), optionally
//! gzip-compressed. The format is detected from magic bytes, never from the file name.
//!
//! A damaged file does not stop the run: every complete packet is delivered, then the fault is
//! reported with the byte offset where it starts.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::filter::Filter;
use super::{LinkType, Packet, PacketSink, Timestamp};

/// Initial reader buffer; grown for larger records up to [`MAX_BUFFER`].
const INITIAL_BUFFER: usize = 1 << 20;
/// A record larger than this is treated as corruption, not as a packet.
const MAX_BUFFER: usize = 64 << 20;

/// libpcap's `LT_LINKTYPE` mask for the pcap header's link type field.
const LINKTYPE_MASK: u32 = 0x03ff_ffff;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // µs, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // µs, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // ns, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // ns, big-endian
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// What went wrong with one input file. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The input.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The first bytes are not a pcap, pcapng or gzip magic.
    #[error("{}: not a pcap or pcapng capture (starts with {magic})", path.display())]
    NotACapture {
        /// The input.
        path: PathBuf,
        /// The first bytes, in hex.
        magic: String,
    },
    /// The file ends in the middle of a record.
    #[error("{}: truncated: last record incomplete at byte offset {offset}{}", path.display(), gz_note(*.compressed))]
    Truncated {
        /// The input.
        path: PathBuf,
        /// Offset (in the uncompressed stream) where the incomplete record starts.
        offset: u64,
        /// Whether offsets count uncompressed bytes of a gzip file.
        compressed: bool,
    },
    /// A record could not be parsed.
    #[error("{}: malformed record at byte offset {offset}{}: {detail}", path.display(), gz_note(*.compressed))]
    Malformed {
        /// The input.
        path: PathBuf,
        /// Offset (in the uncompressed stream) of the bad record.
        offset: u64,
        /// Whether offsets count uncompressed bytes of a gzip file.
        compressed: bool,
        /// What the parser said.
        detail: String,
    },
    /// The file's link type is not one leakscope decodes.
    #[error("{}: unsupported link type {linktype}", path.display())]
    UnsupportedLinkType {
        /// The input.
        path: PathBuf,
        /// The link type found.
        linktype: LinkType,
    },
    /// The BPF filter does not compile for this file's link type.
    #[error("{}: filter {expr:?} does not compile for link type {linktype}: {detail}", path.display())]
    Filter {
        /// The input.
        path: PathBuf,
        /// The filter expression.
        expr: String,
        /// The link type it was compiled for.
        linktype: LinkType,
        /// libpcap's message.
        detail: String,
    },
}

fn gz_note(compressed: bool) -> &'static str {
    if compressed { " (uncompressed)" } else { "" }
}

/// Counts for one file.
#[derive(Debug, Default, Clone)]
pub struct FileSummary {
    /// Packets read from the file (before the filter).
    pub packets: u64,
    /// Packets delivered after the filter.
    pub delivered: u64,
    /// Packets on interfaces with a link type leakscope cannot decode.
    pub unsupported: u64,
    /// Those link types (first few).
    pub unsupported_linktypes: Vec<LinkType>,
}

/// Per-interface facts of a pcapng section.
#[derive(Clone, Copy)]
struct Interface {
    linktype: LinkType,
    /// Timestamp units per second (`if_tsresol`).
    units_per_sec: u64,
    /// `if_tsoffset`, in seconds.
    offset_secs: i64,
}

/// Opens a capture file, undoing gzip, and checks its magic. Peeking goes through `fill_buf`, so
/// nothing is consumed and the parser's first read sees a full buffer.
fn open(path: &Path) -> Result<(Box<dyn Read + Send>, bool), CaptureError> {
    let io_err = |source| CaptureError::Io { path: path.to_owned(), source };
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(io_err)?);
    let compressed = file.fill_buf().map_err(io_err)?.starts_with(&GZIP_MAGIC);
    let mut reader: Box<dyn BufRead + Send> = if compressed {
        Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(file)
    };
    let head = reader.fill_buf().map_err(io_err)?;
    let magic: [u8; 4] = head.get(..4).and_then(|h| h.try_into().ok()).unwrap_or_default();
    if !PCAP_MAGICS.contains(&magic) && magic != PCAPNG_MAGIC {
        let magic = head.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
        return Err(CaptureError::NotACapture { path: path.to_owned(), magic });
    }
    Ok((Box::new(reader), compressed))
}

/// Reads every packet of `path` into `sink`, applying `filter`. On a fault, the packets before it
/// have been delivered and the error says where the file went wrong.
pub fn read_file<S: PacketSink>(
    path: &Path,
    filter: Option<&mut Filter>,
    sink: &mut S,
) -> (FileSummary, Option<CaptureError>) {
    let mut summary = FileSummary::default();
    let err = match open(path) {
        Ok((reader, compressed)) => {
            let mut ctx = FileReader { path, compressed, filter, summary: &mut summary };
            ctx.run(reader, sink).err()
        }
        Err(e) => Some(e),
    };
    (summary, err)
}

struct FileReader<'p> {
    path: &'p Path,
    compressed: bool,
    filter: Option<&'p mut Filter>,
    summary: &'p mut FileSummary,
}

impl FileReader<'_> {
    fn run<S: PacketSink>(
        &mut self,
        input: Box<dyn Read + Send>,
        sink: &mut S,
    ) -> Result<(), CaptureError> {
        let mut reader = pcap_parser::create_reader(INITIAL_BUFFER, input)
            .map_err(|e| self.malformed(0, format!("{e:?}")))?;
        let mut legacy: Option<(LinkType, bool)> = None;
        let mut ifaces: Vec<Interface> = Vec::new();
        let mut capacity = INITIAL_BUFFER;
        let mut last_ts = Timestamp::default();
        loop {
            let offset = reader.consumed() as u64;
            match reader.next() {
                Ok((len, block)) => {
                    match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            // The upper bits may carry FCS facts; libpcap masks them off.
                            let lt = LinkType(h.network.0 as u32 & LINKTYPE_MASK);
                            if !lt.is_supported() {
                                return Err(CaptureError::UnsupportedLinkType {
                                    path: self.path.to_owned(),
                                    linktype: lt,
                                });
                            }
                            self.prepare_filter(lt)?;
                            legacy = Some((lt, h.is_nanosecond_precision()));
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let (lt, nanos) = legacy.unwrap_or((LinkType::ETHERNET, false));
                            let frac =
                                if nanos { b.ts_usec as i64 } else { b.ts_usec as i64 * 1000 };
                            last_ts = Timestamp::from_secs_nanos(b.ts_sec as i64, frac);
                            self.deliver(sink, last_ts, lt, b.data, b.origlen)?;
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            let linktype = LinkType(idb.linktype.0 as u32);
                            if linktype.is_supported() {
                                self.prepare_filter(linktype)?;
                            }
                            ifaces.push(Interface {
                                linktype,
                                units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                                offset_secs: idb.ts_offset(),
                            });
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(iface) = ifaces.get(epb.if_id as usize).copied() else {
                                return Err(self.malformed(
                                    offset,
                                    format!("packet on undeclared interface {}", epb.if_id),
                                ));
                            };
                            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            last_ts = ng_timestamp(units, iface);
                            self.deliver_ng(sink, last_ts, iface.linktype, epb.data, epb.origlen)?;
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            // Simple packets carry no timestamp: they inherit the previous one.
                            let Some(iface) = ifaces.first().copied() else {
                                return Err(self.malformed(
                                    offset,
                                    "simple packet before any interface".into(),
                                ));
                            };
                            self.deliver_ng(sink, last_ts, iface.linktype, spb.data, spb.origlen)?;
                        }
                        PcapBlockOwned::NG(_) => {} // statistics, name resolution, custom, unknown
                    }
                    reader.consume(len);
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    reader.refill().map_err(|e| self.malformed(offset, format!("{e:?}")))?
                }
                Err(PcapError::UnexpectedEof) => return Err(self.truncated(offset)),
                Err(PcapError::BufferTooSmall) => {
                    if capacity >= MAX_BUFFER || !reader.grow(capacity * 2) {
                        return Err(self
                            .malformed(offset, format!("record larger than {MAX_BUFFER} bytes")));
                    }
                    capacity *= 2;
                    reader.refill().map_err(|e| self.malformed(offset, format!("{e:?}")))?;
                }
                Err(PcapError::ReadError) => {
                    return Err(CaptureError::Io {
                        path: self.path.to_owned(),
                        source: io::Error::other("read failed (corrupt gzip stream?)"),
                    });
                }
                Err(e) => {
                    let detail = format!("{e:?}");
                    // A parse error right at the end of a short file is a truncation, not corruption.
                    if reader.reader_exhausted() {
                        return Err(self.truncated(offset));
                    }
                    return Err(self.malformed(offset, detail));
                }
            }
        }
    }

    fn deliver_ng<S: PacketSink>(
        &mut self,
        sink: &mut S,
        ts: Timestamp,
        lt: LinkType,
        data: &[u8],
        wire_len: u32,
    ) -> Result<(), CaptureError> {
        if !lt.is_supported() {
            self.summary.packets += 1;
            self.summary.unsupported += 1;
            if self.summary.unsupported_linktypes.len() < 4
                && !self.summary.unsupported_linktypes.contains(&lt)
            {
                self.summary.unsupported_linktypes.push(lt);
            }
            return Ok(());
        }
        self.deliver(sink, ts, lt, data, wire_len)
    }

    fn deliver<S: PacketSink>(
        &mut self,
        sink: &mut S,
        ts: Timestamp,
        linktype: LinkType,
        data: &[u8],
        wire_len: u32,
    ) -> Result<(), CaptureError> {
        self.summary.packets += 1;
        if let Some(f) = self.filter.as_deref_mut()
            && !f.matches(linktype, data)
        {
            return Ok(());
        }
        self.summary.delivered += 1;
        sink.packet(&Packet { ts, linktype, data, wire_len });
        Ok(())
    }

    fn prepare_filter(&mut self, lt: LinkType) -> Result<(), CaptureError> {
        let Some(f) = self.filter.as_deref_mut() else { return Ok(()) };
        f.prepare(lt).map_err(|detail| CaptureError::Filter {
            path: self.path.to_owned(),
            expr: f.expr().to_owned(),
            linktype: lt,
            detail,
        })
    }

    fn truncated(&self, offset: u64) -> CaptureError {
        CaptureError::Truncated { path: self.path.to_owned(), offset, compressed: self.compressed }
    }

    fn malformed(&self, offset: u64, detail: String) -> CaptureError {
        CaptureError::Malformed {
            path: self.path.to_owned(),
            offset,
            compressed: self.compressed,
            detail,
        }
    }
}

/// Converts pcapng timestamp units to a [`Timestamp`], exactly for the common resolutions.
fn ng_timestamp(units: u64, iface: Interface) -> Timestamp {
    let nanos = match iface.units_per_sec {
        1_000_000 => i128::from(units) * 1_000,
        1_000_000_000 => i128::from(units),
        0 => 0,
        ups => i128::from(units) * 1_000_000_000 / i128::from(ups),
    };
    let nanos = nanos + i128::from(iface.offset_secs) * 1_000_000_000;
    Timestamp(nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions_are_exact() {
        let us =
            Interface { linktype: LinkType::ETHERNET, units_per_sec: 1_000_000, offset_secs: 0 };
        assert_eq!(ng_timestamp(1_700_000_000_123_456, us).0, 1_700_000_000_123_456_000);
        let ns = Interface { units_per_sec: 1_000_000_000, ..us };
        assert_eq!(ng_timestamp(1_700_000_000_123_456_789, ns).0, 1_700_000_000_123_456_789);
        let ms = Interface { units_per_sec: 1_000, offset_secs: 10, ..us };
        assert_eq!(ng_timestamp(1_500, ms).0, 11_500_000_000);
        let bin = Interface { units_per_sec: 1 << 20, ..us };
        assert_eq!(ng_timestamp(1 << 20, bin).0, 1_000_000_000);
    }
}
