//! Opening output files safely. leakscope often runs as root and writes into directories other
//! users may write to: a `flows.jsonl -> /etc/passwd` link planted there must not be followed.
//! Every output file is opened with `O_NOFOLLOW` (the last component may not be a link) and must
//! then be a regular file with a single name, or a character device named on purpose
//! (`--write-pcap /dev/null`). Files that must be new (rotation, gzip) are created with `O_EXCL`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// How an output file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Created, or emptied if it exists (`replay -o`).
    Truncate,
    /// Created, or appended to (a restarted daemon, reopen after logrotate).
    Append,
    /// Must not exist yet (`O_EXCL`).
    New,
}

/// Opens `path` for writing without following a link at its last component. Errors name the file
/// and say why it was refused.
pub fn open(path: &Path, mode: Mode) -> io::Result<File> {
    let refuse = |why: &str| {
        io::Error::new(io::ErrorKind::PermissionDenied, format!("{}: {why}", path.display()))
    };
    // Refused before open(): opening a FIFO for writing would wait for a reader.
    if let Ok(m) = std::fs::symlink_metadata(path) {
        let t = m.file_type();
        if t.is_symlink() {
            return Err(refuse(LINK));
        }
        if t.is_fifo() || t.is_socket() || t.is_block_device() {
            return Err(refuse("not a regular file: refusing to write to it"));
        }
    }
    let mut o = OpenOptions::new();
    o.write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).mode(0o644);
    match mode {
        Mode::Truncate => o.create(true),
        Mode::Append => o.create(true).append(true),
        Mode::New => o.create_new(true),
    };
    let file = o.open(path).map_err(|e| match e.raw_os_error() {
        // A link planted between the check above and open().
        Some(libc::ELOOP) => refuse(LINK),
        _ => io::Error::new(e.kind(), format!("{}: cannot create: {e}", path.display())),
    })?;
    let meta = file.metadata()?;
    let t = meta.file_type();
    if t.is_file() {
        // A second name (hard link) would let this write change a file elsewhere.
        if meta.nlink() > 1 {
            return Err(refuse(&format!(
                "has {} hard links: refusing to write into a file that has other names",
                meta.nlink()
            )));
        }
        if mode == Mode::Truncate {
            file.set_len(0).map_err(|e| refuse(&format!("cannot truncate: {e}")))?;
        }
    } else if !t.is_char_device() {
        return Err(refuse("not a regular file: refusing to write to it"));
    }
    Ok(file)
}

const LINK: &str = "is a symbolic link: refusing to write through it (remove it, or name the \
                    target itself)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_hard_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("flows.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for mode in [Mode::Truncate, Mode::Append, Mode::New] {
            let e = open(&link, mode).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{mode:?}: {e}");
        }
        let hard = dir.path().join("events.jsonl");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(open(&hard, Mode::Truncate).unwrap_err().to_string().contains("hard links"));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");

        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(open(&fifo, Mode::Truncate).unwrap_err().to_string().contains("regular file"));

        let plain = dir.path().join("plain");
        std::fs::write(&plain, "old").unwrap();
        drop(open(&plain, Mode::Truncate).unwrap());
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "");
        assert!(open(&plain, Mode::New).is_err());
        drop(open(Path::new("/dev/null"), Mode::Truncate).unwrap());
    }
}
