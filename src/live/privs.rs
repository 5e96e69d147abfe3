//! Dropping root after the interface is open: capture needs `CAP_NET_RAW`, nothing after does.

use std::path::Path;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Uid, User, setgid, setgroups, setuid};

/// The user to switch to: `requested`, else the invoking user under sudo, else `nobody` when
/// running as root; `None` means stay
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
    // Under sudo, the person who typed the command: their outputs are theirs to read and
    // delete (`--user nobody` for the narrowest account instead).
    if requested.is_none()
        && let Some((uid, gid)) = crate::output::owner::sudo_owner()
        && let Ok(Some(mut user)) = User::from_uid(Uid::from_raw(uid))
    {
        user.gid = Gid::from_raw(gid);
        return Ok(Some(user));
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

/// What [`drop_capabilities`] could do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapsDropped {
    /// The bounding set was emptied (needs `CAP_SETPCAP`: root can, a setcap binary cannot).
    pub bounding: bool,
}

/// Gives up every capability for good, once the interface is open and the files outside the
/// output directory are created: in root mode (after switching user, which needs `CAP_SETUID`)
/// and in setcap mode, where the process keeps `CAP_NET_RAW`/`CAP_NET_ADMIN` otherwise. Empties
/// the bounding set where allowed and sets no-new-privs, so nothing can be regained through
/// exec. Must run before any thread is started (capabilities are per thread; later threads
/// inherit the empty sets); it checks every thread of the process and fails if one kept any.
pub fn drop_capabilities(user: Option<&User>) -> anyhow::Result<CapsDropped> {
    use caps::CapSet;
    // The bounding set first: dropping from it needs CAP_SETPCAP, gone a moment later.
    let bounding =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false);
    if bounding {
        for cap in caps::runtime::thread_all_supported() {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("cannot drop {cap} from the bounding set"))?;
        }
    }
    if let Some(u) = user {
        drop_to(u)?;
    }
    nix::sys::prctl::set_no_new_privs().context("cannot set no-new-privs")?;
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).with_context(|| format!("cannot clear the {set:?} capabilities"))?;
    }
    let kept = threads_with_capabilities();
    if !kept.is_empty() {
        bail!("capabilities still held by thread(s) {}", kept.join(", "));
    }
    Ok(CapsDropped { bounding })
}

/// Threads of this process whose effective or permitted set is not empty (from
/// `/proc/self/task/*/status`).
pub fn threads_with_capabilities() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut kept = Vec::new();
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let held = status.lines().any(|l| {
            (l.starts_with("CapEff:") || l.starts_with("CapPrm:"))
                && l.split_whitespace()
                    .nth(1)
                    .is_some_and(|v| !v.trim_start_matches('0').is_empty())
        });
        if held {
            kept.push(task.file_name().to_string_lossy().into_owned());
        }
    }
    kept
}
