//! A legacy pcap reader over the file's own pages, mapped a window at a time.
//!
//! Reading a capture with `read` copies every byte into a buffer, though the pipeline looks at
//! little more than each packet's headers, and with `--threads` the copy runs on the reading
//! thread, which every worker waits on. Mapped, the reader touches only the record headers and
//! the bytes routing reads, and a worker only the bytes it parses (one-thread replay of
//! `bench.pcap`: 0.94 of the copying reader's wall time, BENCHMARKS.md). The window is an `Arc` a sink may hold (as
//! [`super::shared::SharedReader`]'s buffer): it stays mapped while anyone holds it, and the
//! reader maps the next one beside it. Windows are small, so the mapped pages in use stay
//! bounded by the packets in flight, not by the file.
//!
//! Only for a regular, uncompressed file; stdin, pipes and gzip keep the copying reader. It
//! maps at most the length the file had when opened, and before each window looks again: a
//! file cut short since is read to its new end (a truncation), so that only a cut inside the
//! window being read (a few milliseconds of work) can end the replay with SIGBUS. Follows [`super::shared::SharedReader`] (and so
//! `pcap-parser`'s `LegacyPcapReader`): the same blocks, errors and offsets.

use std::fs::File;
use std::sync::Arc;

use memmap2::{Advice, Mmap, MmapOptions};
use pcap_parser::nom::{self, Needed, Offset};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapBlock, PcapBlockOwned, PcapError, PcapHeader};

use super::prefetch::prefetch;
use super::shared::{ParseFn, read_header, record_order, whole_record};

/// Bytes mapped at a time (more for a larger record).
const WINDOW: usize = 4 << 20;
/// Bytes mapped at a time when the sink runs threads beside the reader. Unmapping a window
/// interrupts every other core the process runs on (a TLB shootdown, an IPI that a virtual
/// machine's cores pay dearly for): on `bench.pcap` with `--threads 2`, 4 MiB windows cost 44
/// shootdowns a run, 16 MiB ones 13, and the run 4–5 % less wall time, for 12 MiB more mapped
/// pages in use (BENCHMARKS.md). One thread unmaps without interrupting anyone.
const THREADED_WINDOW: usize = 16 << 20;
/// How far ahead of the record being read its bytes are asked for ([`prefetch`]).
const AHEAD: usize = 8 << 10;
/// A cache line.
const LINE: usize = 64;

/// A mapped part of the file (empty for an empty file: a zero-length map is an error).
pub struct Window(Option<Mmap>);

impl AsRef<[u8]> for Window {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// A legacy pcap reader over mapped windows of `file`.
pub struct MappedReader {
    file: File,
    /// File length at open: nothing past it is mapped.
    size: u64,
    header: PcapHeader,
    parse: ParseFn,
    /// [`record_order`] of the file.
    order: Option<bool>,
    /// Bytes `base..base + window.len()` of the file; unread from `start`.
    window: Arc<Window>,
    base: u64,
    start: usize,
    consumed: usize,
    /// What the copying reader's buffer would hold: a record needing more is too large, as
    /// there (`BufferTooSmall`, then `grow`).
    capacity: usize,
    /// Bytes mapped at a time ([`WINDOW`]).
    step: usize,
    /// Bytes the next window must hold at least (a record larger than a window).
    need: usize,
    /// Bytes of the window asked for so far ([`AHEAD`]).
    ahead: usize,
}

impl MappedReader {
    /// Maps the start of `file` and reads its pcap header; `capacity` as the copying reader's
    /// buffer; `threaded`: whether the packets go to threads other than the reader's (16 MiB
    /// windows instead of 4: each unmapping interrupts those threads' cores). The errors are
    /// `pcap_parser::create_reader`'s for a legacy pcap file.
    pub fn new(
        file: File,
        capacity: usize,
        threaded: bool,
    ) -> Result<Self, PcapError<&'static [u8]>> {
        Self::with_window(file, capacity, if threaded { THREADED_WINDOW } else { WINDOW })
    }

    /// As [`MappedReader::new`], mapping `step` bytes at a time.
    fn with_window(
        file: File,
        capacity: usize,
        step: usize,
    ) -> Result<Self, PcapError<&'static [u8]>> {
        let size = file.metadata().or(Err(PcapError::ReadError))?.len();
        let window = map(&file, 0, size, step).or(Err(PcapError::ReadError))?;
        let data = (*window).as_ref();
        if data.is_empty() {
            return Err(PcapError::Eof);
        }
        let (header, parse) = read_header(data)?;
        Ok(MappedReader {
            file,
            size,
            order: record_order(&header),
            header,
            parse,
            window,
            base: 0,
            start: 0,
            consumed: 0,
            capacity,
            step,
            need: 0,
            ahead: 0,
        })
    }

    /// The window the packets [`PcapReaderIterator::next`] returns live in.
    pub fn window(&self) -> &Arc<Window> {
        &self.window
    }

    /// Whether the window reaches the end of the file.
    fn at_end(&self) -> bool {
        self.base + (*self.window).as_ref().len() as u64 >= self.size
    }
}

/// Maps bytes `offset..` of `file` (`size` long): `want` of them, or up to its end.
#[allow(unsafe_code)]
fn map(file: &File, offset: u64, size: u64, want: usize) -> std::io::Result<Arc<Window>> {
    let len = (size.saturating_sub(offset)).min(want as u64) as usize;
    if len == 0 {
        return Ok(Arc::new(Window(None)));
    }
    // SAFETY: the map is read-only and private to this process. Another process truncating
    // the file while it is mapped ends the replay with SIGBUS, and one rewriting it changes
    // the bytes under the parser, which never trusts them (every length is checked); both are
    // the risks ripgrep accepts for its mapped search. `--threads` and the copy it saves are
    // why it is worth it (module documentation).
    let m = unsafe { MmapOptions::new().offset(offset).len(len).map(file)? };
    // Read once, front to back; the kernel may read ahead and drop behind.
    let _ = m.advise(Advice::Sequential);
    Ok(Arc::new(Window(Some(m))))
}

impl MappedReader {
    /// The next record when it lies whole in the window, after the file header: what
    /// [`PcapReaderIterator::next`] would return for it, read in place (no block enum); the
    /// caller consumes it. `None`: call `next`.
    #[inline]
    pub fn next_whole(&mut self) -> Option<(LegacyPcapBlock<'_>, usize)> {
        if self.consumed == 0 {
            return None;
        }
        let order = self.order?;
        self.prefetch_ahead();
        whole_record(&(*self.window).as_ref()[self.start..], order)
    }

    /// Asks for the next few records' bytes while this one is parsed.
    #[inline]
    fn prefetch_ahead(&mut self) {
        let window = (*self.window).as_ref();
        let target = (self.start + AHEAD).min(window.len());
        while self.ahead < target {
            prefetch(&window[self.ahead..]);
            self.ahead += LINE;
        }
    }
}

impl PcapReaderIterator for MappedReader {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&'_ [u8]>> {
        if self.consumed == 0 {
            return Ok((self.header.size(), PcapBlockOwned::from(self.header.clone())));
        }
        if self.start == (*self.window).as_ref().len() && self.at_end() {
            return Err(PcapError::Eof);
        }
        self.prefetch_ahead();
        let data = &(*self.window).as_ref()[self.start..];
        match (self.parse)(data) {
            Ok((rem, b)) => Ok((data.offset(rem), PcapBlockOwned::from(b))),
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e),
            Err(nom::Err::Incomplete(needed)) => {
                let n = match needed {
                    Needed::Size(n) => usize::from(n),
                    Needed::Unknown => 1,
                };
                // As the copying reader: a short remainder is a truncated file; a record
                // that outgrows its buffer makes it grow, and past the largest buffer it is
                // corrupt, whether or not the file ends there.
                if self.at_end() && data.len() < self.capacity {
                    return Err(PcapError::UnexpectedEof);
                }
                if data.len() + n >= self.capacity {
                    self.need = 0;
                    return Err(PcapError::BufferTooSmall);
                }
                self.need = data.len() + n;
                Err(PcapError::Incomplete(n))
            }
        }
    }

    fn consume(&mut self, offset: usize) {
        self.consume_noshift(offset);
    }

    fn consume_noshift(&mut self, offset: usize) {
        let n = offset.min((*self.window).as_ref().len() - self.start);
        self.start += n;
        self.consumed += n;
    }

    fn consumed(&self) -> usize {
        self.consumed
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        if self.at_end() {
            return Ok(());
        }
        let offset = self.base + self.start as u64;
        // Cut short since? Then that is where the file ends (pages past the end of a file
        // fault with SIGBUS when touched).
        let now = self.file.metadata().or(Err(PcapError::ReadError))?.len();
        self.size = self.size.min(now.max(offset));
        let want = self.step.max(self.need);
        self.window = map(&self.file, offset, self.size, want).or(Err(PcapError::ReadError))?;
        self.base = offset;
        self.start = 0;
        self.need = 0;
        self.ahead = 0;
        Ok(())
    }

    fn position(&self) -> usize {
        self.start
    }

    fn grow(&mut self, new_size: usize) -> bool {
        if new_size <= self.capacity {
            return false;
        }
        self.capacity = new_size;
        true
    }

    fn data(&self) -> &[u8] {
        &(*self.window).as_ref()[self.start..]
    }

    fn reader_exhausted(&self) -> bool {
        self.at_end()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use pcap_parser::LegacyPcapReader;

    fn file_of(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temporary file");
        f.write_all(bytes).expect("write");
        f
    }

    /// Every record (offset, seconds, bytes) and the final error, driven as `capture::file`
    /// drives a reader (grow by doubling on `BufferTooSmall`); `hold` keeps every window a
    /// packet came from, as busy workers do, and checks it still holds the packet at the end.
    fn drain<P: PcapReaderIterator>(
        r: &mut P,
        window: impl Fn(&P) -> Option<Arc<Window>>,
        hold: bool,
    ) -> (Vec<(usize, u32, Vec<u8>)>, String) {
        let (mut out, mut held) = (Vec::new(), Vec::new());
        let mut capacity = 4096usize;
        let end = loop {
            let at = r.consumed();
            let w = window(r);
            match r.next() {
                Ok((len, PcapBlockOwned::Legacy(b))) => {
                    out.push((at, b.ts_sec, b.data.to_vec()));
                    if hold && let Some(w) = w {
                        let bytes = (*w).as_ref();
                        let start = b.data.as_ptr() as usize - bytes.as_ptr() as usize;
                        held.push((w.clone(), start, b.data.to_vec()));
                    }
                    r.consume_noshift(len);
                }
                Ok((len, _)) => r.consume_noshift(len),
                Err(PcapError::Incomplete(_)) => r.refill().expect("refill"),
                Err(PcapError::BufferTooSmall) => {
                    capacity *= 2;
                    assert!(r.grow(capacity));
                    r.refill().expect("refill");
                }
                Err(e) => break format!("{e:?}"),
            }
        };
        for (w, start, data) in &held {
            assert_eq!(&(**w).as_ref()[*start..*start + data.len()], &data[..], "a held window");
        }
        (out, end)
    }

    #[test]
    fn reads_as_pcap_parser_does_across_windows() {
        let file = crate::testing::legacy_pcap(2_000);
        let mut corrupt = file[..24 + 16 + 40].to_vec();
        corrupt[24 + 8..24 + 12].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let cuts: Vec<Vec<u8>> = vec![
            file.clone(),
            file[..file.len() - 7].to_vec(),
            file[..24 + 16 + 5].to_vec(),
            file[..24].to_vec(),
            corrupt,
        ];
        for (n, bytes) in cuts.iter().enumerate() {
            let mut theirs = LegacyPcapReader::new(4096, &bytes[..]).expect("theirs");
            let want = drain(&mut theirs, |_| None, false);
            // Windows smaller than a large record, at unaligned offsets, and one window for all.
            for step in [4096, 5000, 1 << 20] {
                for hold in [false, true] {
                    let f = file_of(bytes);
                    let file = File::open(f.path()).expect("open");
                    let mut ours = MappedReader::with_window(file, 4096, step).expect("ours");
                    let got = drain(&mut ours, |r| Some(r.window().clone()), hold);
                    assert_eq!(got.0.len(), want.0.len(), "cut {n} step {step} hold {hold}");
                    assert!(got == want, "cut {n} step {step}: {} vs {}", got.1, want.1);
                }
            }
        }
        assert!(cuts[0].len() > 5 * 4096, "several windows");
    }

    #[test]
    fn a_file_cut_short_while_read_ends_as_a_truncation() {
        let bytes = crate::testing::legacy_pcap(2_000);
        let f = file_of(&bytes);
        let file = File::open(f.path()).expect("open");
        let mut r = MappedReader::with_window(file, 4096, 4096).expect("reader");
        // The first window's records, then the file is cut well past that window.
        let mut records = 0;
        while let Ok((len, _)) = r.next() {
            records += 1;
            r.consume_noshift(len);
        }
        let cut = 20_000;
        f.as_file().set_len(cut).expect("truncate");
        let mut theirs = LegacyPcapReader::new(4096, &bytes[..cut as usize]).expect("theirs");
        let want = drain(&mut theirs, |_| None, false);
        let rest = drain(&mut r, |r| Some(r.window().clone()), false);
        assert!(records > 1, "records before the cut");
        assert_eq!(records - 1 + rest.0.len(), want.0.len(), "every record before the cut");
        assert_eq!(rest.1, want.1, "ends as a truncated file does");
    }

    #[test]
    fn an_empty_file_is_no_capture() {
        let f = file_of(&[]);
        let file = File::open(f.path()).expect("open");
        assert!(matches!(MappedReader::new(file, 4096, false), Err(PcapError::Eof)));
    }
}
