//! Under `sudo`, the files a run creates belong to the person who typed the command
//! (`SUDO_UID`/`SUDO_GID`), not to root: they can read, move and delete their own results.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `(uid, gid)` of the user who ran `sudo`, when this process is root and sudo said who
/// (`SUDO_UID`, `SUDO_GID`; a root invoker counts as none).
pub fn sudo_owner() -> Option<(u32, u32)> {
    if !nix::unistd::Uid::effective().is_root() {
        return None;
    }
    let var = |k: &str| std::env::var(k).ok()?.trim().parse::<u32>().ok();
    let uid = var("SUDO_UID").filter(|&u| u != 0)?;
    let gid = var("SUDO_GID").unwrap_or(uid);
    Some((uid, gid))
}

/// Hands each of `paths` that exists and belongs to root to the sudo user (a file or directory
/// of anyone else keeps its owner; links are not followed). Returns the paths changed.
pub fn give_to_sudo_user<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<&'a Path> {
    let Some((uid, gid)) = sudo_owner() else { return Vec::new() };
    let mut changed = Vec::new();
    for p in paths {
        let Ok(meta) = std::fs::symlink_metadata(p) else { continue };
        if meta.uid() != 0 || meta.file_type().is_symlink() {
            continue;
        }
        match std::os::unix::fs::lchown(p, Some(uid), Some(gid)) {
            Ok(()) => changed.push(p),
            Err(e) => tracing::warn!(path = %p.display(), "cannot hand to the sudo user: {e}"),
        }
    }
    changed
}
