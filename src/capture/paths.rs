//! Expands the command line's inputs: files as given, directories recursively, sorted, so that
//! replaying a directory is deterministic.

use std::io;
use std::path::{Path, PathBuf};

/// Expands `inputs` into capture files. Directories are walked recursively; their entries are
/// sorted by path and hidden files are skipped. A missing input is an error naming it.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, (PathBuf, io::Error)> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| (input.clone(), e))?;
        if meta.is_dir() {
            walk(input, &mut out).map_err(|e| (input.clone(), e))?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
