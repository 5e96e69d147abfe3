//! Regular capture files read through a memory map: the parser reads blocks in place, so the
//! bytes are not copied from the page cache into a buffer (with `read`, that copy and the page
//! cache lookups were a fifth of a replay's time). Pages already read are dropped from the
//! mapping as the reader moves on, so the resident size stays a few MiB whatever the file's size.
//!
//! A file truncated by another program while it is mapped makes the process fault (SIGBUS), as
//! with any mapped reader (ripgrep, git); small files and pipes are read with `read`, and
//! `LEAKSCOPE_NO_MMAP=1` turns maps off.
//!
//! The only module with `unsafe`: creating the map, and dropping pages from it.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::{Advice, Mmap, UncheckedAdvice};
use pcap_parser::nom::{self, IResult, Needed, Offset};
use pcap_parser::pcap::{
    LegacyPcapBlock, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified,
    parse_pcap_header,
};
use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le, parse_sectionheaderblock};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapHeader};

/// Files smaller than this are read with `read`: a map's set-up costs more than the copy.
pub const MIN_MAPPED: u64 = 1 << 20;
/// Bytes between two drops of the pages behind the reader.
const DROP_EVERY: usize = 4 << 20;

/// A read-only map of a whole regular file.
pub struct MappedFile {
    map: Mmap,
}

impl MappedFile {
    /// Maps `file` if it is a regular file of at least [`MIN_MAPPED`] bytes and maps are not
    /// turned off; `None` means: read it as a stream.
    pub fn open(file: &File) -> Option<MappedFile> {
        if std::env::var_os("LEAKSCOPE_NO_MMAP").is_some_and(|v| v != "0") {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() < MIN_MAPPED || usize::try_from(meta.len()).is_err() {
            return None;
        }
        // SAFETY: the map is read-only and private to this process; the file changing under
        // it is the documented risk above (a fault, never a wrong value read twice).
        let map = unsafe { Mmap::map(file) }.ok()?;
        let _ = map.advise(Advice::Sequential);
        Some(MappedFile { map })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Drops the pages of `[from, to)` from this process's mapping (they stay in the page
    /// cache): the resident size then counts only the pages ahead of the reader.
    fn drop_pages(&self, from: usize, to: usize) {
        // memmap2 widens the range to whole pages; a page the reader is still in may go and is
        // read again from the page cache when touched.
        if to > from {
            // SAFETY: a shared read-only file map: the pages are read again from the file if
            // touched, with the same contents; nothing of this process writes to them.
            let _ = unsafe {
                self.map.unchecked_advise_range(UncheckedAdvice::DontNeed, from, to - from)
            };
        }
    }

    /// Maps the pages of the block from `at` in one call, instead of a fault every few pages.
    fn populate(&self, at: usize) {
        let len = DROP_EVERY.min(self.map.len().saturating_sub(at));
        if len > 0 {
            let _ = self.map.advise_range(Advice::PopulateRead, at, len);
        }
    }

    /// Feeds the file to `f` in blocks, dropping each block's pages after it (for hashing).
    pub fn for_each_block(&self, mut f: impl FnMut(&[u8])) {
        let data = self.bytes();
        let mut at = 0;
        while at < data.len() {
            let end = (at + DROP_EVERY).min(data.len());
            self.populate(at);
            f(&data[at..end]);
            self.drop_pages(at, end);
            at = end;
        }
    }
}

type LegacyParse = fn(&[u8]) -> IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// The file's format, known from its first bytes.
enum Format {
    Legacy { header: PcapHeader, parse: LegacyParse },
    Ng { big_endian: bool },
}

/// [`PcapReaderIterator`] over a mapped file: the same blocks, errors and offsets as
/// pcap-parser's streaming readers, without their buffer. The whole rest of the file is always
/// "in the buffer", so a block that needs more bytes is a truncation, and a block the parser
/// rejects with bytes after it is a corruption (`reader_exhausted` only at the very end).
pub struct MappedReader<'m> {
    file: &'m MappedFile,
    format: Format,
    pos: usize,
    dropped: usize,
}

impl<'m> MappedReader<'m> {
    /// Reads the file header (pcap) or checks the first section header (pcapng), as
    /// `pcap_parser::create_reader` does.
    pub fn new(file: &'m MappedFile) -> Result<Self, PcapError<&'static [u8]>> {
        let data = file.bytes();
        if data.is_empty() {
            return Err(PcapError::Eof);
        }
        let format = if parse_sectionheaderblock(data).is_ok() {
            Format::Ng { big_endian: false }
        } else {
            match parse_pcap_header(data) {
                Ok((_, header)) => {
                    let parse: LegacyParse = if header.is_modified_format() {
                        parse_pcap_frame_modified
                    } else if header.is_bigendian() {
                        parse_pcap_frame_be
                    } else {
                        parse_pcap_frame
                    };
                    Format::Legacy { header, parse }
                }
                Err(nom::Err::Incomplete(Needed::Size(n))) => {
                    return Err(PcapError::Incomplete(n.into()));
                }
                Err(nom::Err::Incomplete(Needed::Unknown)) => return Err(PcapError::Incomplete(0)),
                Err(_) => return Err(PcapError::HeaderNotRecognized),
            }
        };
        file.populate(0);
        Ok(MappedReader { file, format, pos: 0, dropped: 0 })
    }
}

impl PcapReaderIterator for MappedReader<'_> {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&[u8]>> {
        let data = &self.file.bytes()[self.pos..];
        let parsed = match &mut self.format {
            Format::Legacy { header, parse } => {
                if self.pos == 0 {
                    return Ok((header.size(), PcapBlockOwned::from(header.clone())));
                }
                if data.is_empty() {
                    return Err(PcapError::Eof);
                }
                parse(data).map(|(rem, b)| (data.offset(rem), PcapBlockOwned::from(b)))
            }
            Format::Ng { big_endian } => {
                if data.is_empty() {
                    return Err(PcapError::Eof);
                }
                let parse = if *big_endian { parse_block_be } else { parse_block_le };
                parse(data).map(|(rem, b)| {
                    if let Block::SectionHeader(shb) = &b {
                        *big_endian = shb.big_endian();
                    }
                    (data.offset(rem), PcapBlockOwned::from(b))
                })
            }
        };
        match parsed {
            Ok(block) => Ok(block),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
            // Everything is here: a block that needs more bytes runs past the file's end.
            Err(nom::Err::Incomplete(_)) => Err(PcapError::UnexpectedEof),
        }
    }

    fn consume(&mut self, offset: usize) {
        self.pos += offset;
        if self.pos - self.dropped >= DROP_EVERY {
            self.file.drop_pages(self.dropped, self.pos);
            self.dropped = self.pos;
            self.file.populate(self.pos);
        }
    }

    fn consume_noshift(&mut self, offset: usize) {
        self.pos += offset;
    }

    fn consumed(&self) -> usize {
        self.pos
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        Ok(())
    }

    fn position(&self) -> usize {
        0
    }

    fn grow(&mut self, _new_size: usize) -> bool {
        false
    }

    fn data(&self) -> &[u8] {
        &self.file.bytes()[self.pos..]
    }

    fn reader_exhausted(&self) -> bool {
        self.pos >= self.file.bytes().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pcap_with(records: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend([0; 8]);
        v.extend(65535u32.to_le_bytes());
        v.extend(1u32.to_le_bytes());
        for i in 0..records {
            v.extend((i as u32).to_le_bytes());
            v.extend(0u32.to_le_bytes());
            v.extend((len as u32).to_le_bytes());
            v.extend((len as u32).to_le_bytes());
            v.extend(std::iter::repeat_n(i as u8, len));
        }
        v
    }

    fn mapped(bytes: &[u8]) -> MappedFile {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        MappedFile::open(&f).expect("a regular file above the threshold is mapped")
    }

    #[test]
    fn reads_every_record_and_then_ends() {
        let m = mapped(&pcap_with(2000, 1000));
        let mut r = MappedReader::new(&m).expect("pcap header");
        let mut n = 0;
        loop {
            match r.next() {
                Ok((len, PcapBlockOwned::Legacy(b))) => {
                    assert_eq!(b.data[0], (n % 256) as u8);
                    assert_eq!(b.ts_sec, n);
                    n += 1;
                    r.consume(len);
                }
                Ok((len, _)) => r.consume(len),
                Err(PcapError::Eof) => break,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(n, 2000);
        assert_eq!(r.consumed(), m.bytes().len());
    }

    #[test]
    fn a_record_past_the_end_is_an_unexpected_end() {
        let mut bytes = pcap_with(1100, 1000);
        bytes.truncate(bytes.len() - 10);
        let m = mapped(&bytes);
        let mut r = MappedReader::new(&m).expect("pcap header");
        let err = loop {
            match r.next() {
                Ok((len, _)) => r.consume(len),
                Err(e) => break format!("{e:?}"),
            }
        };
        assert_eq!(err, "UnexpectedEof");
    }

    #[test]
    fn small_files_are_not_mapped() {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(&pcap_with(10, 100)).expect("write");
        assert!(MappedFile::open(&f).is_none());
    }

    #[test]
    fn blocks_cover_the_file_once() {
        let bytes = pcap_with(9000, 1000);
        let m = mapped(&bytes);
        let mut seen = Vec::new();
        m.for_each_block(|b| seen.extend_from_slice(b));
        assert_eq!(seen, bytes);
    }
}
