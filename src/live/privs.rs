//! Dropping root after the interface is open: capture needs `CAP_NET_RAW`, nothing after does.

use std::path::Path;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Uid, User, setgid, setgroups, setuid};

/// The user to switch to: `requested`, or `nobody` when running as root; `None` means stay
/// (`root` requested, or not root: then there is nothing to drop, and asking for another user
/// is an error).
pub fn target_user(requested: Option<&str>) -> anyhow::Result<Option<User>> {
    let euid = Uid::effective();
    if !euid.is_root() {
        if let Some(name) = requested {
            let me = User::from_uid(euid).ok().flatten().map(|u| u.name);
            if me.as_deref() != Some(name) {
                bail!("--user {name}: switching user needs root (running as uid {euid})");
            }
        }
        return Ok(None);
    }
    let name = requested.unwrap_or("nobody");
    if name == "root" {
        return Ok(None);
    }
    let user = User::from_name(name)
        .with_context(|| format!("--user {name}: cannot look the user up"))?
        .with_context(|| format!("--user {name}: no such user"))?;
    Ok(Some(user))
}

/// Creates `dir` and, when it did not exist, hands it to `user`, so that rotation and SIGHUP
/// reopen still work after the switch. An existing directory keeps its owner (it could be
/// someone's home): it must already be writable by `user`.
pub fn prepare_dir(dir: &Path, user: Option<&User>) -> anyhow::Result<()> {
    let existed = dir.is_dir();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create output directory", dir.display()))?;
    if let Some(u) = user.filter(|_| !existed) {
        std::os::unix::fs::chown(dir, Some(u.uid.as_raw()), Some(u.gid.as_raw())).with_context(
            || format!("{}: cannot hand the output directory to {}", dir.display(), u.name),
        )?;
    }
    Ok(())
}

/// Switches to `user` for good: supplementary groups, group, then user (in that order: after
/// `setuid` the others are no longer allowed).
pub fn drop_to(user: &User) -> anyhow::Result<()> {
    let ctx = |what: &str| format!("--user {}: {what} failed", user.name);
    setgroups(&[user.gid]).with_context(|| ctx("setgroups"))?;
    setgid(user.gid).with_context(|| ctx("setgid"))?;
    setuid(user.uid).with_context(|| ctx("setuid"))?;
    // Paranoia: getting root back must be impossible now.
    if user.uid.as_raw() != 0
        && (setuid(Uid::from_raw(0)).is_ok() || setgid(Gid::from_raw(0)).is_ok())
    {
        bail!("--user {}: could regain root after dropping privileges", user.name);
    }
    Ok(())
}
