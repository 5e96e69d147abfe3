//! Expands the command line's inputs: files as given, directories recursively, sorted, so that
//! replaying a directory is deterministic.
//!
//! Each real directory and file is read once, whatever links lead to it (device and inode
//! number identify it), so a link to `.` or to a parent directory cannot make the walk loop or
//! replay a file twice. Inside a directory only regular files are read: a FIFO, socket or device
//! there would block or never end. Inputs named on the command line are read whatever they are
//! (`-` for standard input, a FIFO). Everything skipped is said, one note each.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A capture to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The file (`-`: standard input).
    pub path: PathBuf,
    /// Named on the command line (read whatever it is), rather than found in a directory (read
    /// only if it is a regular file).
    pub named: bool,
}

/// What the inputs expand to.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Captures, in reading order.
    pub files: Vec<Input>,
    /// One note per entry not read, naming it and saying why (files of a directory that are
    /// not captures: one note for all of them).
    pub skipped: Vec<String>,
}

/// Extensions of capture files: read whatever they hold, so damage is reported, not skipped.
const CAPTURE_EXTENSIONS: &[&str] = &["pcap", "pcapng", "cap", "ntar", "dmp"];

/// Magic numbers: pcap (µs and ns, both byte orders) and pcapng.
fn capture_magic(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    head.len() >= 4 && MAGICS.iter().any(|m| head[..4] == *m)
}

/// Whether a file found in a directory is worth reading as a capture: a capture extension, or
/// the magic number of one (inside gzip too). A README, nDPI's `.out` labels or a rotated
/// `events.jsonl.gz` are not; a file that cannot be opened is read, so the error is reported.
fn looks_like_capture(path: &Path) -> bool {
    use std::io::Read;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if ext.as_deref().is_some_and(|e| CAPTURE_EXTENSIONS.contains(&e)) {
        return true;
    }
    let Ok(f) = std::fs::File::open(path) else { return true };
    let mut head = Vec::with_capacity(4);
    if f.take(4).read_to_end(&mut head).is_err() {
        return true;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let Ok(f) = std::fs::File::open(path) else { return true };
        head.clear();
        let _ = flate2::read::GzDecoder::new(f).take(4).read_to_end(&mut head);
    }
    capture_magic(&head)
}

/// Device and inode: what a file is, whatever its name.
type FileId = (u64, u64);

fn id(m: &Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// Expands `inputs` into capture files. Directories are walked recursively; their entries are
/// sorted by path and hidden files are skipped. A missing input is an error naming it.
pub fn expand(inputs: &[PathBuf]) -> Result<Expanded, (PathBuf, io::Error)> {
    let mut w = Walk::default();
    for input in inputs {
        if input == Path::new("-") {
            w.out.files.push(Input { path: input.clone(), named: true });
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| (input.clone(), e))?;
        if meta.is_dir() {
            w.walk(input, &meta).map_err(|e| (input.clone(), e))?;
        } else {
            w.file(input, &meta, true);
        }
    }
    if !w.not_captures.is_empty() {
        let n = w.not_captures.len();
        let more = if n > 3 { format!(" and {} more", n - 3) } else { String::new() };
        let names: Vec<String> =
            w.not_captures.iter().take(3).map(|p| p.display().to_string()).collect();
        w.out
            .skipped
            .push(format!("skipped {n} file(s) that are not captures: {}{more}", names.join(", ")));
    }
    Ok(w.out)
}

#[derive(Default)]
struct Walk {
    /// Directories walked, with the path they were first met under.
    dirs: HashMap<FileId, PathBuf>,
    /// Files taken, likewise.
    files: HashMap<FileId, PathBuf>,
    /// Files of directories that are not captures, noted once at the end.
    not_captures: Vec<PathBuf>,
    out: Expanded,
}

impl Walk {
    fn file(&mut self, path: &Path, meta: &Metadata, named: bool) {
        if let Some(first) = self.files.get(&id(meta)) {
            let msg = format!("the same file as {}", first.display());
            return self.skip(path, &msg);
        }
        self.files.insert(id(meta), path.to_owned());
        self.out.files.push(Input { path: path.to_owned(), named });
    }

    fn skip(&mut self, path: &Path, why: &str) {
        self.out.skipped.push(format!("{}: skipped: {why}", path.display()));
    }

    /// Depth first, entries sorted; an explicit stack, so a deep tree cannot overflow ours.
    fn walk(&mut self, root: &Path, meta: &Metadata) -> io::Result<()> {
        // The directories being walked, outermost first: a link to one of them is a loop.
        let mut chain: Vec<FileId> = Vec::new();
        let mut stack: Vec<std::vec::IntoIter<PathBuf>> = Vec::new();
        self.enter(root, meta, &mut chain, &mut stack)?;
        while let Some(entries) = stack.last_mut() {
            let Some(path) = entries.next() else {
                stack.pop();
                chain.pop();
                continue;
            };
            let hidden =
                path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.skip(&path, &format!("cannot follow: {e}"));
                    continue;
                }
            };
            let t = meta.file_type();
            if t.is_dir() {
                self.enter(&path, &meta, &mut chain, &mut stack)?;
            } else if t.is_file() {
                if looks_like_capture(&path) {
                    self.file(&path, &meta, false);
                } else {
                    self.not_captures.push(path);
                }
            } else {
                let kind = if t.is_fifo() {
                    "a FIFO"
                } else if t.is_socket() {
                    "a socket"
                } else {
                    "a device"
                };
                self.skip(&path, &format!("{kind}, not a regular file (name it to read it)"));
            }
        }
        Ok(())
    }

    fn enter(
        &mut self,
        dir: &Path,
        meta: &Metadata,
        chain: &mut Vec<FileId>,
        stack: &mut Vec<std::vec::IntoIter<PathBuf>>,
    ) -> io::Result<()> {
        let me = id(meta);
        if let Some(first) = self.dirs.get(&me) {
            let why = if chain.contains(&me) {
                format!("a link back to {}, which contains it (a loop)", first.display())
            } else {
                format!("the same directory as {}", first.display())
            };
            self.skip(dir, &why);
            return Ok(());
        }
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<_>>()?;
        entries.sort();
        self.dirs.insert(me, dir.to_owned());
        chain.push(me);
        stack.push(entries.into_iter());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_to_ancestors_and_duplicates_are_read_once() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::write(root.join("a.pcap"), b"x").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b.pcap"), b"x").unwrap();
        symlink(".", root.join("loop1")).unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        symlink("a.pcap", root.join("z-again.pcap")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        let e = expand(&[root.to_owned()]).unwrap();
        let names: Vec<_> = e.files.iter().map(|i| i.path.strip_prefix(root).unwrap()).collect();
        assert_eq!(names, [Path::new("a.pcap"), Path::new("sub/b.pcap")]);
        assert!(e.files.iter().all(|i| !i.named));
        let notes = e.skipped.join("\n");
        assert!(notes.contains("loop1: skipped: a link back to"), "{notes}");
        assert!(notes.contains("up: skipped: a link back to"), "{notes}");
        assert!(notes.contains("z-again.pcap: skipped: the same file as"), "{notes}");
        assert!(notes.contains("dangling: skipped: cannot follow"), "{notes}");
        assert_eq!(e.skipped.len(), 4, "{notes}");
    }
}
