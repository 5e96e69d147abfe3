//! Build facts for `leakscope --version` and the man pages: the git commit and the build date.
//!
//! Sets `LEAKSCOPE_COMMIT` (12 hex digits, or `unknown`) and `LEAKSCOPE_BUILD_DATE` (YYYY-MM-DD,
//! UTC). Works without git and without `.git` (a crate tarball: cargo writes the commit to
//! `.cargo_vcs_info.json`). `SOURCE_DATE_EPOCH` fixes the date, for reproducible packages.
//! Reruns only when HEAD moves, so a plain rebuild does not recompile the crate.

use std::path::{Path, PathBuf};
use std::process::Command;

// Only the date function is needed here; the rest of the file serves the crate.
#[allow(dead_code)]
#[path = "src/record/civil.rs"]
mod civil;
use civil::civil_from_days;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let commit = git_commit(&dir).or_else(|| vcs_info_commit(&dir));
    let commit = commit.map_or_else(|| "unknown".to_owned(), |c| c.chars().take(12).collect());
    println!("cargo:rustc-env=LEAKSCOPE_COMMIT={commit}");
    println!("cargo:rustc-env=LEAKSCOPE_BUILD_DATE={}", build_date());
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// HEAD of the repository this crate is the top of (not of an enclosing one, e.g. a crate
/// unpacked inside someone's home repository). Registers the files that move with HEAD.
fn git_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if !same(Path::new(&top), dir) {
        return None;
    }
    let mut watch = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watch.extend(git(dir, &["symbolic-ref", "-q", "HEAD"])); // refs/heads/<branch>
    for name in watch {
        // --git-path resolves worktrees (HEAD is per worktree, refs are shared).
        // A missing file would rerun this script on every build.
        let path = git(dir, &["rev-parse", "--git-path", &name]).map(|p| dir.join(p));
        if let Some(p) = path.filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    git(dir, &["rev-parse", "HEAD"])
}

/// `cargo package` records the commit in `.cargo_vcs_info.json`: `{"git": {"sha1": "…"}}`.
fn vcs_info_commit(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    let sha = &rest[start..start + len];
    sha.bytes().all(|b| b.is_ascii_hexdigit()).then(|| sha.to_owned())
}

fn build_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_secs() as i64)
        });
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}
