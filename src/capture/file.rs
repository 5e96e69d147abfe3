//! Capture files: pcap (µs and ns) and pcapng (several interfaces, mixed link types), optionally
//! gzip-compressed. The format is detected from magic bytes, never from the file name.
//!
//! A damaged file does not stop the run: every complete packet is delivered, then the fault is
//! reported with the byte offset where it starts.

use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapBlock, PcapBlockOwned, PcapError};

use super::filter::Filter;
use super::mapped::MappedReader;
use super::paths::Input;
use super::shared::SharedReader;
use super::{Lent, LinkType, Packet, PacketSink, Timestamp};

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
    /// The file ends inside its file header (pcap) or first section header (pcapng).
    #[error("{}: truncated: the file ends inside its {what} header, after {len} bytes{}", path.display(), gz_note(*.compressed))]
    TruncatedHeader {
        /// The input.
        path: PathBuf,
        /// "pcap" or "pcapng".
        what: &'static str,
        /// Bytes the file holds.
        len: u64,
        /// Whether `len` counts uncompressed bytes of a gzip file.
        compressed: bool,
    },
    /// Reading failed part way (damaged gzip data, an I/O error): the complete records before
    /// the fault were read.
    #[error("{}: {}", path.display(), stream_msg(*.offset, *.compressed, detail))]
    Stream {
        /// The input.
        path: PathBuf,
        /// Bytes read before the fault (uncompressed for gzip).
        offset: u64,
        /// Whether the file is gzip-compressed.
        compressed: bool,
        /// The fault, in words.
        detail: String,
    },
    /// A file found in a directory is no longer a regular file when opened.
    #[error("{}: not a regular file (it changed after the directory was listed): skipped", path.display())]
    NotRegular {
        /// The input.
        path: PathBuf,
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
    #[error("{}: filter {expr:?} does not compile for link type {linktype}: {source}", path.display())]
    Filter {
        /// The input.
        path: PathBuf,
        /// The filter expression.
        expr: String,
        /// The link type it was compiled for.
        linktype: LinkType,
        /// libpcap's message.
        #[source]
        source: super::filter::FilterError,
    },
}

fn stream_msg(offset: u64, compressed: bool, detail: &str) -> String {
    let at = if compressed {
        format!("damaged gzip data after {offset} uncompressed bytes")
    } else {
        format!("read failed at byte offset {offset}")
    };
    format!("{at}: {detail}; the complete records before it were read")
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

/// What the byte stream met, shared between the parser's reader and the file reader.
#[derive(Default)]
struct StreamState {
    /// Bytes read from the (decompressed) stream.
    bytes: u64,
    /// The read error that ended it, if one did.
    error: Option<io::Error>,
    /// The end was reached.
    done: bool,
}

/// The (decompressed) capture as the parser reads it. Each read fills the buffer, so a short
/// read means the end, and a read error (damaged gzip data, EIO) ends the stream instead of
/// failing the read: the parser then delivers every complete record before the fault, and the
/// error is reported after them. Bytes peeked at open are served first.
struct Stream {
    inner: Box<dyn Read + Send>,
    head: Vec<u8>,
    head_pos: usize,
    state: Arc<Mutex<StreamState>>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let from_head = (self.head.len() - self.head_pos).min(buf.len());
        buf[..from_head].copy_from_slice(&self.head[self.head_pos..self.head_pos + from_head]);
        self.head_pos += from_head;
        let mut n = from_head;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while n < buf.len() && !st.done {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => st.done = true,
                Ok(k) => {
                    n += k;
                    st.bytes += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    st.error = Some(e);
                    st.done = true;
                }
            }
        }
        Ok(n)
    }
}

/// An opened capture: its stream, its first bytes and whether it is gzip.
struct Opened {
    stream: Stream,
    /// The file again, when it is a regular file (it can be mapped).
    regular: Option<std::fs::File>,
    head: Vec<u8>,
    compressed: bool,
}

/// Opens a capture file, undoing gzip, and checks its magic. A file found in a directory is
/// opened without blocking and must be a regular file (it may have changed since the listing).
fn open(input: &Input) -> Result<Opened, CaptureError> {
    let path = input.path.as_path();
    let io_err = |source| CaptureError::Io { path: path.to_owned(), source };
    let mut regular = None;
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        let mut o = std::fs::OpenOptions::new();
        o.read(true);
        if !input.named {
            o.custom_flags(libc::O_NONBLOCK);
        }
        let file = o.open(path).map_err(io_err)?;
        if !input.named && !file.metadata().map_err(io_err)?.is_file() {
            return Err(CaptureError::NotRegular { path: path.to_owned() });
        }
        if file.metadata().is_ok_and(|m| m.is_file()) {
            regular = file.try_clone().ok();
        }
        Box::new(file)
    };
    let mut raw = BufReader::with_capacity(1 << 16, raw);
    let compressed = raw.fill_buf().map_err(io_err)?.starts_with(&GZIP_MAGIC);
    let inner: Box<dyn Read + Send> =
        if compressed { Box::new(flate2::read::MultiGzDecoder::new(raw)) } else { Box::new(raw) };
    let state = Arc::new(Mutex::new(StreamState::default()));
    let mut stream = Stream { inner, head: Vec::new(), head_pos: 0, state };
    let mut head = vec![0u8; HEAD];
    let n = stream.read(&mut head).map_err(io_err)?;
    head.truncate(n);
    stream.head = head.clone();
    let stream_error = {
        let st = stream.state.lock().unwrap_or_else(|e| e.into_inner());
        st.error.as_ref().map(|e| e.to_string())
    };
    check_magic(path, &head, stream_error, compressed)?;
    Ok(Opened { stream, regular, head, compressed })
}

/// Checks that `head` starts with a capture's magic; otherwise says why not (the stream failed,
/// the file ends inside the magic, or it is something else).
fn check_magic(
    path: &Path,
    head: &[u8],
    stream_error: Option<String>,
    compressed: bool,
) -> Result<(), CaptureError> {
    let magic: [u8; 4] = head.get(..4).and_then(|h| h.try_into().ok()).unwrap_or_default();
    if PCAP_MAGICS.contains(&magic) || magic == PCAPNG_MAGIC {
        return Ok(());
    }
    if let Some(detail) = stream_error {
        return Err(CaptureError::Stream { path: path.to_owned(), offset: 0, compressed, detail });
    }
    let partial = !head.is_empty()
        && head.len() < 4
        && PCAP_MAGICS.iter().chain([&PCAPNG_MAGIC]).any(|m| m.starts_with(head));
    if partial {
        let what = if PCAPNG_MAGIC.starts_with(head) { "pcapng" } else { "pcap" };
        return Err(CaptureError::TruncatedHeader {
            path: path.to_owned(),
            what,
            len: head.len() as u64,
            compressed,
        });
    }
    let magic = head.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    Err(CaptureError::NotACapture { path: path.to_owned(), magic })
}

/// Bytes peeked at open: the magic, and enough of a pcapng section header to read its length.
const HEAD: usize = 12;

/// Reads every packet of the capture `path` (named on the command line) into `sink`, applying
/// `filter`. On a fault, the packets before it have been delivered and the error says where
/// the file went wrong.
pub fn read_file<S: PacketSink>(
    path: &Path,
    filter: Option<&mut Filter>,
    sink: &mut S,
) -> (FileSummary, Option<CaptureError>) {
    read_input(&Input { path: path.to_owned(), named: true }, filter, sink)
}

/// The size of `input` in bytes if it is a regular file that is not gzip-compressed (its
/// records' bytes, give or take the headers); `None` otherwise, or if it cannot be read.
pub fn plain_size(input: &Input) -> Option<u64> {
    if input.path.as_os_str() == "-" {
        return None;
    }
    // A pipe is never opened here: that would take bytes from the reader.
    let meta = std::fs::metadata(&input.path).ok().filter(std::fs::Metadata::is_file)?;
    let mut magic = [0u8; 2];
    std::fs::File::open(&input.path).ok()?.read_exact(&mut magic).ok()?;
    (magic != GZIP_MAGIC).then_some(meta.len())
}

/// Like [`read_file`], for an input from [`super::paths::expand`].
pub fn read_input<S: PacketSink>(
    input: &Input,
    filter: Option<&mut Filter>,
    sink: &mut S,
) -> (FileSummary, Option<CaptureError>) {
    let mut summary = FileSummary::default();
    let err = match open(input) {
        Ok(Opened { stream, regular, head, compressed }) => {
            let path = input.path.as_path();
            let state = stream.state.clone();
            let mut ctx = FileReader { path, compressed, filter, summary: &mut summary, head };
            let legacy = PCAP_MAGICS.iter().any(|m| ctx.head.starts_with(m));
            // Legacy pcap in a regular file: mapped; else read into a buffer. Either way the
            // sink may hold the bytes instead of copying them.
            let threaded = sink.threaded();
            let mapped = regular
                .filter(|_| legacy && !compressed)
                .and_then(|f| MappedReader::new(f, INITIAL_BUFFER, threaded).ok());
            let opened = if let Some(mut r) = mapped {
                let lend = |r: &MappedReader| Some(Lent::Mapped(r.window().clone()));
                Ok(ctx.run(&mut r, sink, lend, MappedReader::next_whole).err())
            } else if legacy {
                SharedReader::new(INITIAL_BUFFER, stream).map(|mut r| {
                    let lend = |r: &SharedReader<_>| Some(Lent::Read(r.buffer().clone()));
                    ctx.run(&mut r, sink, lend, SharedReader::next_whole).err()
                })
            } else {
                pcap_parser::create_reader(INITIAL_BUFFER, stream)
                    .map(|mut r| ctx.run(&mut *r, sink, |_| None, no_whole).err())
            };
            let err = match opened {
                Ok(err) => err,
                Err(e) => {
                    let fault = Fault::of(&e);
                    let st = state.lock().unwrap_or_else(|e| e.into_inner());
                    Some(ctx.header_fault(fault, st.bytes, st.done))
                }
            };
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            match (st.error.take(), err) {
                // The stream's fault explains an early end better than the parser does.
                (Some(e), None | Some(CaptureError::Truncated { .. })) => {
                    Some(CaptureError::Stream {
                        path: path.to_owned(),
                        offset: st.bytes,
                        compressed,
                        detail: if e.kind() == io::ErrorKind::UnexpectedEof {
                            "the data ends early (truncated)".into()
                        } else {
                            e.to_string()
                        },
                    })
                }
                (_, err) => err,
            }
        }
        Err(e) => Some(e),
    };
    (summary, err)
}

/// The `whole` of [`FileReader::run`] for readers without one (pcapng).
fn no_whole<R: ?Sized>(_: &mut R) -> Option<(LegacyPcapBlock<'_>, usize)> {
    None
}

struct FileReader<'p> {
    path: &'p Path,
    compressed: bool,
    filter: Option<&'p mut Filter>,
    summary: &'p mut FileSummary,
    /// The file's first bytes (up to [`HEAD`]).
    head: Vec<u8>,
}

/// A parser error, without the borrowed buffer some variants carry (never shown: it holds
/// capture bytes).
enum Fault {
    Eof,
    Incomplete,
    UnexpectedEof,
    BufferTooSmall,
    ReadError,
    Invalid,
}

impl Fault {
    fn of<I>(e: &PcapError<I>) -> Fault {
        match e {
            PcapError::Eof => Fault::Eof,
            PcapError::Incomplete(_) => Fault::Incomplete,
            PcapError::UnexpectedEof => Fault::UnexpectedEof,
            PcapError::BufferTooSmall => Fault::BufferTooSmall,
            PcapError::ReadError => Fault::ReadError,
            PcapError::HeaderNotRecognized
            | PcapError::NomError(..)
            | PcapError::OwnedNomError(..) => Fault::Invalid,
        }
    }
}

impl FileReader<'_> {
    /// Delivers every block of `reader` to `sink`.
    /// `lend`: the buffer the reader's packets live in, when it can be lent to the sink.
    /// `whole`: the reader's next record of a legacy file when it lies whole in its buffer (the
    /// common case, without `next`'s block enum), else `None` and `next` takes over.
    fn run<R, S>(
        &mut self,
        reader: &mut R,
        sink: &mut S,
        lend: impl Fn(&R) -> Option<Lent>,
        whole: impl Fn(&mut R) -> Option<(LegacyPcapBlock<'_>, usize)>,
    ) -> Result<(), CaptureError>
    where
        R: PcapReaderIterator + ?Sized,
        S: PacketSink,
    {
        // Dropped before each refill: a buffer held here could not be refilled in place.
        let mut lent = lend(reader);
        let mut legacy: Option<(LinkType, bool)> = None;
        let mut ifaces: Vec<Interface> = Vec::new();
        let mut capacity = INITIAL_BUFFER;
        let mut last_ts = Timestamp::default();
        let mut big_endian = false;
        // PCAPdroid's pcapng names apps in custom blocks and per-packet comments.
        let mut ng_apps = super::pcapdroid::NgApps::default();
        loop {
            if sink.done() {
                return Ok(());
            }
            let offset = reader.consumed() as u64;
            if let Some(format) = legacy
                && let Some((b, len)) = whole(reader)
            {
                last_ts = self.legacy_record(sink, offset, format, &b, &lent)?;
                reader.consume_noshift(len);
                continue;
            }
            let fault = match reader.next() {
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
                            let format = legacy.unwrap_or((LinkType::ETHERNET, false));
                            last_ts = self.legacy_record(sink, offset, format, &b, &lent)?;
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                            big_endian = shb.big_endian();
                            ifaces.clear();
                            ng_apps.clear();
                        }
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
                            // `data` holds the block's padding too: the frame is `caplen` bytes.
                            let data = &epb.data[..(epb.caplen as usize).min(epb.data.len())];
                            let app = if epb.options.is_empty() {
                                None
                            } else {
                                let opts = epb.options.iter();
                                ng_apps
                                    .packet(opts.map(|o| (o.code.0, o.as_bytes().unwrap_or(&[]))))
                            };
                            let (lt, len) = (iface.linktype, epb.origlen);
                            self.deliver_ng(sink, last_ts, lt, data, len, app.as_ref())?;
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            // Simple packets carry no timestamp: they inherit the previous one.
                            let Some(iface) = ifaces.first().copied() else {
                                return Err(self.malformed(
                                    offset,
                                    "simple packet before any interface".into(),
                                ));
                            };
                            let lt = iface.linktype;
                            self.deliver_ng(sink, last_ts, lt, spb.data, spb.origlen, None)?;
                        }
                        PcapBlockOwned::NG(Block::Custom(cb)) => {
                            ng_apps.custom_block(cb.pen, cb.data, big_endian);
                        }
                        PcapBlockOwned::NG(_) => {} // statistics, name resolution, unknown
                    }
                    // No shift per block: `refill` moves the short unread tail when the buffer runs out,
                    // where `consume` moved half the buffer every half buffer (a second copy of the file).
                    reader.consume_noshift(len);
                    continue;
                }
                Err(e) => Fault::of(&e),
            };
            match fault {
                Fault::Eof => return Ok(()),
                Fault::Incomplete => {
                    drop(lent.take());
                    reader.refill().map_err(|_| self.read_failed(offset))?;
                    lent = lend(reader);
                }
                Fault::UnexpectedEof => return Err(self.truncated(offset)),
                Fault::BufferTooSmall => {
                    drop(lent.take());
                    if capacity >= MAX_BUFFER || !reader.grow(capacity * 2) {
                        return Err(self
                            .malformed(offset, format!("record larger than {MAX_BUFFER} bytes")));
                    }
                    capacity *= 2;
                    drop(lent.take());
                    reader.refill().map_err(|_| self.read_failed(offset))?;
                    lent = lend(reader);
                }
                Fault::ReadError => return Err(self.read_failed(offset)),
                Fault::Invalid => {
                    // A parse error right at the end of a short file is a truncation, not corruption.
                    if reader.reader_exhausted() {
                        return Err(self.truncated(offset));
                    }
                    let detail = if legacy.is_some() {
                        "record header invalid".to_owned()
                    } else {
                        describe_ng_block(reader.data(), big_endian)
                    };
                    return Err(self.malformed(offset, detail));
                }
            }
        }
    }

    /// Why the file header could not be read: the file ends inside it, or it is invalid.
    fn header_fault(&self, fault: Fault, len: u64, at_end: bool) -> CaptureError {
        let ng = self.head.starts_with(&PCAPNG_MAGIC);
        let (what, need) = if ng {
            // Block total length, in the section's byte order (its magic follows at 8..12).
            let be = self.head.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d][..]);
            let n = self.head.get(4..8).map_or(12, |b| {
                let b: [u8; 4] = b.try_into().expect("4 bytes");
                if be { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
            });
            ("pcapng", u64::from(n.max(12)))
        } else {
            ("pcap", 24)
        };
        if (at_end && len < need) || matches!(fault, Fault::Incomplete | Fault::UnexpectedEof) {
            return CaptureError::TruncatedHeader {
                path: self.path.to_owned(),
                what,
                len,
                compressed: self.compressed,
            };
        }
        let detail = match fault {
            Fault::ReadError => return self.read_failed(0),
            _ if ng => describe_ng_block(&self.head, false),
            _ => "file header invalid".into(),
        };
        self.malformed(0, detail)
    }

    fn read_failed(&self, offset: u64) -> CaptureError {
        CaptureError::Stream {
            path: self.path.to_owned(),
            offset,
            compressed: self.compressed,
            detail: "read failed".into(),
        }
    }

    fn deliver_ng<S: PacketSink>(
        &mut self,
        sink: &mut S,
        ts: Timestamp,
        lt: LinkType,
        data: &[u8],
        wire_len: u32,
        app: Option<&std::sync::Arc<super::pcapdroid::AndroidApp>>,
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
        match app {
            None => self.deliver(sink, ts, lt, data, wire_len, &None),
            Some(app) => self.deliver_app(sink, Packet { ts, linktype: lt, data, wire_len }, app),
        }
    }

    /// A packet whose app PCAPdroid's pcapng names; apart from the app, as [`Self::deliver`].
    fn deliver_app<S: PacketSink>(
        &mut self,
        sink: &mut S,
        pkt: Packet<'_>,
        app: &std::sync::Arc<super::pcapdroid::AndroidApp>,
    ) -> Result<(), CaptureError> {
        if self.admit(pkt.linktype, pkt.data) {
            sink.app_packet(&pkt, app);
        }
        Ok(())
    }

    /// Counts a packet read, and whether it passes the filter (counted as delivered).
    #[inline]
    fn admit(&mut self, linktype: LinkType, data: &[u8]) -> bool {
        self.summary.packets += 1;
        if let Some(f) = self.filter.as_deref_mut()
            && !f.matches(linktype, data)
        {
            return false;
        }
        self.summary.delivered += 1;
        true
    }

    /// A legacy pcap record (at byte `offset` of a file of `format`: link type, nanosecond
    /// timestamps) to the sink; returns its time. Inlined: the per-packet path of a replay.
    #[inline(always)]
    fn legacy_record<S: PacketSink>(
        &mut self,
        sink: &mut S,
        offset: u64,
        (lt, nanos): (LinkType, bool),
        b: &LegacyPcapBlock<'_>,
        lent: &Option<Lent>,
    ) -> Result<Timestamp, CaptureError> {
        let (limit, unit) =
            if nanos { (1_000_000_000, "nanoseconds") } else { (1_000_000, "microseconds") };
        if b.ts_usec >= limit {
            return Err(self.malformed(
                offset,
                format!("the {unit} field of the timestamp is {}, not below {limit}", b.ts_usec),
            ));
        }
        let frac = if nanos { b.ts_usec as i64 } else { b.ts_usec as i64 * 1000 };
        let ts = Timestamp::from_secs_nanos(b.ts_sec as i64, frac);
        self.deliver(sink, ts, lt, b.data, b.origlen, lent)?;
        Ok(ts)
    }

    /// A packet to the sink, if the filter passes it; `lent`: the buffer `data` lies in, when
    /// the sink may hold it instead of copying.
    #[inline]
    fn deliver<S: PacketSink>(
        &mut self,
        sink: &mut S,
        ts: Timestamp,
        linktype: LinkType,
        data: &[u8],
        wire_len: u32,
        lent: &Option<Lent>,
    ) -> Result<(), CaptureError> {
        if !self.admit(linktype, data) {
            return Ok(());
        }
        let pkt = Packet { ts, linktype, data, wire_len };
        match lent {
            Some(buffer) => sink.lent_packet(&pkt, buffer),
            None => sink.packet(&pkt),
        }
        Ok(())
    }

    fn prepare_filter(&mut self, lt: LinkType) -> Result<(), CaptureError> {
        let Some(f) = self.filter.as_deref_mut() else { return Ok(()) };
        f.prepare(lt).map_err(|source| CaptureError::Filter {
            path: self.path.to_owned(),
            expr: f.expr().to_owned(),
            linktype: lt,
            source,
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

/// A pcapng block the parser rejected, in words: what its header says and what is wrong with it.
/// `data` starts at the block; `big_endian` is the section's byte order. Never shows its bytes.
fn describe_ng_block(data: &[u8], big_endian: bool) -> String {
    let word = |at: usize| {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let (Some(ty), Some(len)) = (word(0), word(4)) else {
        return "block header cut short".into();
    };
    if ty == 0x0a0d_0d0a {
        return "section header block invalid (byte-order magic or length)".into();
    }
    let block = format!("block of type 0x{ty:08x}");
    if len < 12 {
        return format!("{block} claims {len} bytes, less than the 12-byte minimum");
    }
    if len % 4 != 0 {
        return format!("{block} claims {len} bytes, not a multiple of 4");
    }
    match word(len as usize - 4) {
        Some(end) if end != len => {
            format!("{block}: length {len} at its start but {end} at its end")
        }
        _ => format!("{block}, {len} bytes: contents inconsistent with its length"),
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

    /// The size hint of `replay --threads`: regular files that are not gzip; never a pipe,
    /// which is not opened (that would take its bytes, or wait for a writer).
    #[test]
    fn plain_sizes_are_of_regular_uncompressed_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            Input { path, named: true }
        };
        assert_eq!(plain_size(&at("a.pcap", &[0xd4, 0xc3, 0xb2, 0xa1, 0, 0])), Some(6));
        assert_eq!(plain_size(&at("b.pcap.gz", &[0x1f, 0x8b, 8, 0])), None);
        assert_eq!(plain_size(&at("c.pcap", &[])), None);
        assert_eq!(plain_size(&Input { path: "-".into(), named: true }), None);
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert_eq!(plain_size(&Input { path: fifo, named: true }), None);
        }
    }

    /// A sink that runs threads of its own gets larger mapped windows (each unmapping
    /// interrupts the cores those threads run on); the packets are the same either way.
    #[test]
    fn threaded_sinks_get_larger_windows() {
        struct Windows {
            threaded: bool,
            largest: usize,
            packets: usize,
        }
        impl PacketSink for Windows {
            fn packet(&mut self, _: &Packet<'_>) {
                self.packets += 1;
            }
            fn lent_packet(&mut self, _: &Packet<'_>, buffer: &Lent) {
                self.packets += 1;
                self.largest = self.largest.max(buffer.bytes().len());
            }
            fn threaded(&self) -> bool {
                self.threaded
            }
        }
        let bytes = crate::testing::legacy_pcap(40_000);
        assert!(bytes.len() > 6 << 20, "more than one 4 MiB window: {}", bytes.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.pcap");
        std::fs::write(&path, &bytes).expect("write");
        let read = |threaded| {
            let mut sink = Windows { threaded, largest: 0, packets: 0 };
            let (_, err) = read_file(&path, None, &mut sink);
            assert!(err.is_none(), "{err:?}");
            sink
        };
        let (one, many) = (read(false), read(true));
        assert_eq!((one.packets, many.packets), (40_000, 40_000));
        assert_eq!(one.largest, 4 << 20, "one thread: 4 MiB windows");
        assert_eq!(many.largest, bytes.len(), "worker threads: the whole file in one window");
    }

    /// Both legacy readers, mapped (a plain file) and copying (gzip), in both byte orders and
    /// resolutions, deliver what `pcap-parser`'s own reader reads: the per-packet path that
    /// reads record headers itself changes nothing.
    #[test]
    fn legacy_files_read_as_pcap_parser_reads_them() {
        use std::io::Write;
        struct Packets(Vec<(i64, Vec<u8>, u32)>);
        impl PacketSink for Packets {
            fn packet(&mut self, p: &Packet<'_>) {
                self.0.push((p.ts.0, p.data.to_vec(), p.wire_len));
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let files =
            [crate::testing::legacy_pcap(3_000), crate::testing::legacy_pcap_be_nanos(3_000)];
        for (n, bytes) in files.iter().enumerate() {
            let mut want = Vec::new();
            let mut theirs = pcap_parser::LegacyPcapReader::new(1 << 20, &bytes[..]).expect("pcap");
            let nanos = bytes[2] == 0x3c;
            while let Ok((len, block)) = theirs.next() {
                if let PcapBlockOwned::Legacy(b) = block {
                    let frac = if nanos { b.ts_usec } else { b.ts_usec * 1000 };
                    let ts = i64::from(b.ts_sec) * 1_000_000_000 + i64::from(frac);
                    want.push((ts, b.data.to_vec(), b.origlen));
                }
                theirs.consume(len);
            }
            assert_eq!(want.len(), 3_000);
            let plain = dir.path().join(format!("{n}.pcap"));
            std::fs::write(&plain, bytes).expect("write");
            let gz = dir.path().join(format!("{n}.pcap.gz"));
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(bytes).expect("gzip");
            std::fs::write(&gz, z.finish().expect("gzip")).expect("write");
            for path in [plain, gz] {
                let mut got = Packets(Vec::new());
                let (summary, err) = read_file(&path, None, &mut got);
                assert!(err.is_none(), "{}: {err:?}", path.display());
                assert_eq!(summary.packets, 3_000);
                assert!(got.0 == want, "{}: packets differ", path.display());
            }
        }
    }

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

    #[test]
    fn bad_pcapng_blocks_are_described_from_their_header() {
        let block = |ty: u32, len: u32, end: u32| {
            let mut b = [ty.to_le_bytes(), len.to_le_bytes()].concat();
            b.resize(len.max(8) as usize - 4, 0xee);
            b.extend_from_slice(&end.to_le_bytes());
            b
        };
        let d = |b: &[u8]| describe_ng_block(b, false);
        assert_eq!(
            d(&block(6, 8, 8)),
            "block of type 0x00000006 claims 8 bytes, less than the 12-byte minimum"
        );
        assert_eq!(
            d(&block(6, 30, 30)),
            "block of type 0x00000006 claims 30 bytes, not a multiple of 4"
        );
        assert_eq!(
            d(&block(6, 32, 28)),
            "block of type 0x00000006: length 32 at its start but 28 at its end"
        );
        assert!(d(&block(6, 32, 32)).ends_with("contents inconsistent with its length"));
        assert_eq!(d(&[1, 2]), "block header cut short");
        // Never the block's bytes.
        assert!(!d(&block(6, 32, 28)).contains("238"));
    }
}
