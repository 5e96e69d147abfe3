//! A legacy pcap reader whose buffer can be lent to other threads.
//!
//! `replay --threads` hands its workers packets as (buffer, range) instead of copies: a copy of
//! every packet on the reading thread, and a second cache miss on it in the worker, cost more
//! than a worker's share of the work saves (docs/scale.md, "Every core"). So the buffer the file
//! is read into is an `Arc`: the reader refills it in place while nobody else holds it, and
//! otherwise moves its unread tail into a spare buffer that nobody holds any more, so that no
//! byte a worker can still see is ever written.
//!
//! It parses records with `pcap-parser`'s own functions and follows its `LegacyPcapReader`
//! step for step (the same errors at the same offsets); pcapng keeps `pcap-parser`'s reader.

use std::io::Read;
use std::sync::Arc;

use pcap_parser::nom::{self, IResult, Needed, Offset};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{
    LegacyPcapBlock, PcapBlockOwned, PcapError, PcapHeader, parse_pcap_frame, parse_pcap_frame_be,
    parse_pcap_frame_modified, parse_pcap_header,
};

/// Retired buffers kept for reuse; more are freed.
const SPARES: usize = 32;

pub(super) type ParseFn = fn(&[u8]) -> IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// The file header at the start of `data`, and the record parser it calls for; the errors are
/// `pcap_parser::create_reader`'s for a legacy pcap file.
pub(super) fn read_header(data: &[u8]) -> Result<(PcapHeader, ParseFn), PcapError<&'static [u8]>> {
    let header = match parse_pcap_header(data) {
        Ok((_, h)) => h,
        Err(nom::Err::Incomplete(Needed::Size(n))) => return Err(PcapError::Incomplete(n.into())),
        Err(nom::Err::Incomplete(Needed::Unknown)) => return Err(PcapError::Incomplete(0)),
        Err(_) => return Err(PcapError::HeaderNotRecognized),
    };
    let parse = parse_fn(&header);
    Ok((header, parse))
}

/// The byte order of a file's records when they have 16-byte headers (`Some(true)`: big
/// endian), which [`whole_record`] reads; `None` for the modified format's 24-byte headers.
pub(super) fn record_order(header: &PcapHeader) -> Option<bool> {
    (!header.is_modified_format()).then(|| header.is_bigendian())
}

/// The record at the start of `data` when it lies whole there: the block `pcap-parser`'s
/// `parse_pcap_frame` (or `_be`) returns for it, and its length. A replay's per-packet path:
/// no [`PcapBlockOwned`], no call through [`ParseFn`]. `None`: the reader's `next` says what
/// else is there (a short buffer, the end, a record too large).
#[inline]
pub(super) fn whole_record(data: &[u8], big_endian: bool) -> Option<(LegacyPcapBlock<'_>, usize)> {
    let header: &[u8; 16] = data.get(..16)?.try_into().ok()?;
    let word = |at: usize| {
        let b = [header[at], header[at + 1], header[at + 2], header[at + 3]];
        if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    };
    let caplen = word(8);
    let end = 16usize.checked_add(caplen as usize)?;
    let bytes = data.get(16..end)?;
    let block = LegacyPcapBlock {
        ts_sec: word(0),
        ts_usec: word(4),
        caplen,
        origlen: word(12),
        data: bytes,
    };
    Some((block, end))
}

/// The record parser for a file with this header.
pub(super) fn parse_fn(header: &PcapHeader) -> ParseFn {
    match (header.is_modified_format(), header.is_bigendian()) {
        (true, _) => parse_pcap_frame_modified,
        (false, true) => parse_pcap_frame_be,
        (false, false) => parse_pcap_frame,
    }
}

/// A streaming legacy pcap reader over a lendable buffer ([`SharedReader::buffer`]).
pub struct SharedReader<R> {
    header: PcapHeader,
    reader: R,
    /// The buffer; its unread bytes are `start..end`.
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
    consumed: usize,
    exhausted: bool,
    parse: ParseFn,
    /// [`record_order`] of the file.
    order: Option<bool>,
    /// Buffers given up while lent; reused once their last holder drops them.
    spare: Vec<Arc<Vec<u8>>>,
}

impl<R: Read> SharedReader<R> {
    /// Reads the file header of `reader` with a buffer of `capacity` bytes. The errors are
    /// `pcap_parser::create_reader`'s for a legacy pcap file.
    pub fn new(capacity: usize, mut reader: R) -> Result<Self, PcapError<&'static [u8]>> {
        let mut buf = vec![0u8; capacity];
        let sz = reader.read(&mut buf).or(Err(PcapError::ReadError))?;
        if sz == 0 {
            return Err(PcapError::Eof);
        }
        let (header, parse) = read_header(&buf[..sz])?;
        Ok(SharedReader {
            order: record_order(&header),
            header,
            reader,
            buf: Arc::new(buf),
            start: 0,
            end: sz,
            consumed: 0,
            exhausted: false,
            parse,
            spare: Vec::new(),
        })
    }

    /// The next record when it lies whole in the buffer, after the file header: what
    /// [`PcapReaderIterator::next`] would return for it, read in place (no block enum); the
    /// caller consumes it. `None`: call `next`.
    #[inline]
    pub fn next_whole(&mut self) -> Option<(LegacyPcapBlock<'_>, usize)> {
        if self.consumed == 0 {
            return None;
        }
        whole_record(&self.buf[self.start..self.end], self.order?)
    }

    /// The buffer the packets [`PcapReaderIterator::next`] returns live in. A holder keeps it
    /// unchanged; the reader moves on to another.
    pub fn buffer(&self) -> &Arc<Vec<u8>> {
        &self.buf
    }

    /// Makes `self.buf` a buffer of `size` bytes that nobody else holds, with the unread bytes
    /// at its start.
    fn own(&mut self, size: usize) {
        let (start, end) = (self.start, self.end);
        let len = end - start;
        if size == self.buf.len()
            && let Some(b) = Arc::get_mut(&mut self.buf)
        {
            b.copy_within(start..end, 0);
        } else {
            let reuse =
                self.spare.iter().position(|s| s.len() == size && Arc::strong_count(s) == 1);
            let mut fresh = match reuse {
                Some(i) => self.spare.swap_remove(i),
                None => Arc::new(vec![0u8; size]),
            };
            let b = Arc::get_mut(&mut fresh).expect("a buffer nobody holds");
            b[..len].copy_from_slice(&self.buf[start..end]);
            let old = std::mem::replace(&mut self.buf, fresh);
            // Spares of an old size are never reused; others wait for their holders.
            self.spare.retain(|s| s.len() == size);
            if old.len() == size && self.spare.len() < SPARES {
                self.spare.push(old);
            }
        }
        self.start = 0;
        self.end = len;
    }
}

impl<R: Read> PcapReaderIterator for SharedReader<R> {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&'_ [u8]>> {
        if self.consumed == 0 {
            return Ok((self.header.size(), PcapBlockOwned::from(self.header.clone())));
        }
        if self.start == self.end && self.start == 0 && self.exhausted {
            return Err(PcapError::Eof);
        }
        let data = &self.buf[self.start..self.end];
        match (self.parse)(data) {
            Ok((rem, b)) => Ok((data.offset(rem), PcapBlockOwned::from(b))),
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e),
            Err(nom::Err::Incomplete(_)) if self.exhausted => Err(PcapError::UnexpectedEof),
            Err(nom::Err::Incomplete(Needed::Size(n))) => {
                if data.len() + usize::from(n) >= self.buf.len() {
                    Err(PcapError::BufferTooSmall)
                } else {
                    Err(PcapError::Incomplete(n.into()))
                }
            }
            Err(nom::Err::Incomplete(Needed::Unknown)) => Err(PcapError::Incomplete(0)),
        }
    }

    fn consume(&mut self, offset: usize) {
        self.consume_noshift(offset);
        if self.start > self.buf.len() / 2 {
            self.own(self.buf.len());
        }
    }

    fn consume_noshift(&mut self, offset: usize) {
        let n = offset.min(self.end - self.start);
        self.start += n;
        self.consumed += n;
    }

    fn consumed(&self) -> usize {
        self.consumed
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        self.own(self.buf.len());
        if self.end == self.buf.len() {
            return Ok(());
        }
        let end = self.end;
        let b = Arc::get_mut(&mut self.buf).expect("own() leaves the buffer unshared");
        let sz = self.reader.read(&mut b[end..]).or(Err(PcapError::ReadError))?;
        self.exhausted = sz == 0;
        self.end += sz;
        Ok(())
    }

    fn position(&self) -> usize {
        self.start
    }

    fn grow(&mut self, new_size: usize) -> bool {
        if new_size <= self.buf.len() {
            return false;
        }
        self.own(new_size);
        true
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn reader_exhausted(&self) -> bool {
        self.exhausted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::LegacyPcapReader;

    /// Every record (offset, length, timestamp, bytes) and the final error, driven the way
    /// `capture::file` drives a reader; `hold` keeps every buffer a packet was read from, as
    /// busy workers do.
    fn drain<P: PcapReaderIterator>(
        r: &mut P,
        lend: impl Fn(&P) -> Option<Arc<Vec<u8>>>,
        hold: bool,
    ) -> (Vec<(usize, u32, Vec<u8>)>, String) {
        let (mut out, mut held) = (Vec::new(), Vec::new());
        let capacity = &mut 4096usize;
        loop {
            let at = r.consumed();
            let lent = lend(r);
            match r.next() {
                Ok((len, PcapBlockOwned::Legacy(b))) => {
                    out.push((at, b.ts_sec, b.data.to_vec()));
                    if hold && let Some(l) = lent {
                        assert!(
                            l.as_ptr_range().contains(&b.data.as_ptr()),
                            "packet in the lent buffer"
                        );
                        held.push(l);
                    }
                    r.consume_noshift(len);
                }
                Ok((len, _)) => r.consume_noshift(len),
                Err(PcapError::Incomplete(_)) => r.refill().expect("refill"),
                Err(PcapError::BufferTooSmall) => {
                    // As capture::file does: double the capacity (known to the caller).
                    *capacity *= 2;
                    assert!(r.grow(*capacity));
                    r.refill().expect("refill");
                }
                Err(e) => return (out, format!("{e:?}")),
            }
        }
    }

    #[test]
    fn reads_as_pcap_parser_does_whatever_the_holders() {
        let file = crate::testing::legacy_pcap(2_000);
        for cut in [file.len(), file.len() - 7, 24 + 16 + 5] {
            let bytes = &file[..cut];
            let mut theirs = LegacyPcapReader::new(4096, bytes).expect("theirs");
            let want = drain(&mut theirs, |_| None, false);
            for hold in [false, true] {
                let mut ours = SharedReader::new(4096, bytes).expect("ours");
                let got = drain(&mut ours, |r| Some(r.buffer().clone()), hold);
                assert_eq!(got.0.len(), want.0.len(), "cut {cut} hold {hold}");
                if cut == file.len() {
                    assert!(got.0.iter().any(|(_, _, d)| d.len() == 10_000), "a grown record");
                }
                assert!(got == want, "cut {cut} hold {hold}: {} vs {}", got.1, want.1);
            }
        }
    }

    /// The per-packet path reads record headers itself: at every cut of the records, in both
    /// byte orders, it finds what `pcap-parser` parses, or leaves the cut to `next`.
    #[test]
    fn whole_records_are_what_pcap_parser_reads() {
        let files = [crate::testing::legacy_pcap(40), crate::testing::legacy_pcap_be_nanos(40)];
        for file in &files {
            let (header, parse) = read_header(file).expect("header");
            let be = record_order(&header).expect("16-byte record headers");
            assert_eq!(be, file[0] == 0xa1);
            // From each record's start (and from inside some), every length up to 600 bytes.
            let mut starts = vec![24, 25, 24 + 16 + 3];
            let mut at = 24;
            while let Some((_, len)) = whole_record(&file[at..], be) {
                at += len;
                starts.push(at);
            }
            assert_eq!(at, file.len(), "every record read");
            for start in starts {
                for end in start..(start + 600).min(file.len()) {
                    let data = &file[start..end];
                    let ours = whole_record(data, be);
                    match parse(data) {
                        Ok((rem, b)) => {
                            let (o, len) = ours.expect("a whole record");
                            assert_eq!(len, data.len() - rem.len());
                            let fields = |b: &LegacyPcapBlock<'_>| {
                                (b.ts_sec, b.ts_usec, b.caplen, b.origlen, b.data.as_ptr())
                            };
                            assert_eq!(fields(&o), fields(&b), "at {start}..{end}");
                            assert_eq!(o.data.len(), b.data.len());
                        }
                        Err(_) => assert!(ours.is_none(), "at {start}..{end}"),
                    }
                }
            }
        }
        // The modified format's 24-byte record headers are left to `parse_pcap_frame_modified`.
        let modified = PcapHeader { magic_number: 0xa1b2_cd34, ..PcapHeader::new() };
        assert_eq!(record_order(&modified), None);
    }

    #[test]
    fn never_writes_a_held_buffer() {
        let file = crate::testing::legacy_pcap(500);
        let (mut r, mut capacity) = (SharedReader::new(2048, &file[..]).expect("reader"), 2048);
        let mut held: Vec<(Arc<Vec<u8>>, Vec<u8>)> = Vec::new();
        let mut records = 0;
        loop {
            match r.next() {
                Ok((len, _)) => {
                    records += 1;
                    held.push((r.buffer().clone(), r.buffer().to_vec()));
                    r.consume_noshift(len);
                }
                Err(PcapError::Incomplete(_)) => r.refill().expect("refill"),
                Err(PcapError::BufferTooSmall) => {
                    capacity *= 2;
                    assert!(r.grow(capacity));
                    r.refill().expect("refill");
                }
                Err(_) => break,
            }
            if held.len() > 40 {
                held.remove(0); // a worker done with a batch
            }
        }
        for (b, snapshot) in &held {
            assert_eq!(&b[..], &snapshot[..], "a held buffer changed");
        }
        assert_eq!(records, 501, "the header and every record");
        assert!(r.spare.len() <= SPARES);
    }
}
