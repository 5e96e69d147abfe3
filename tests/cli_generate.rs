//! `leakscope --version` and `leakscope generate man|completions`: what `make deb` packages,
//! checked without building the package (scripts/test-deb.sh checks the package itself).

use std::path::Path;
use std::process::Command;

fn leakscope(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_leakscope")).args(args).output().unwrap();
    assert!(out.status.success(), "leakscope {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn version_names_the_commit_and_build_date() {
    let out = String::from_utf8(leakscope(&["--version"]).stdout).unwrap();
    let rest = out.trim().strip_prefix(concat!("leakscope ", env!("CARGO_PKG_VERSION"), " ("));
    let (commit, date) =
        rest.and_then(|r| r.strip_suffix(')')?.split_once(' ')).unwrap_or_else(|| {
            panic!("--version: {out:?}, want 'leakscope VERSION (COMMIT YYYY-MM-DD)'")
        });
    let d: Vec<&str> = date.split('-').collect();
    assert!(
        d.len() == 3
            && d.iter().zip([4, 2, 2]).all(|(p, n)| p.len() == n && p.parse::<u32>().is_ok()),
        "build date {date:?}"
    );
    // The commit of this checkout, when it is one (a crate tarball without .git says unknown).
    let head = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(h) => assert!(h.starts_with(commit) && commit.len() == 12, "{commit} is not HEAD {h}"),
        None => assert_eq!(commit, "unknown"),
    }
}

#[test]
fn man_pages_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    leakscope(&["generate", "man", man.to_str().unwrap()]);
    let pages = names(&man);
    for want in
        ["leakscope.1", "leakscope-replay.1", "leakscope-capture.1", "leakscope-rules-check.1"]
    {
        assert!(pages.iter().any(|p| p == want), "{want} not in {pages:?}");
    }
    for p in &pages {
        let text = std::fs::read_to_string(man.join(p)).unwrap();
        let title = p.trim_end_matches(".1");
        let th = format!("\n.TH {title} 1 ");
        assert!(text.contains(&th), "{p}: no {th:?} line");
        assert!(text.contains(".SH NAME"), "{p}: no NAME section");
    }
    // The flags are the clap definitions': a flag added to replay is in its page.
    let replay = std::fs::read_to_string(man.join("leakscope-replay.1")).unwrap();
    assert!(replay.contains("oui\\-file"), "leakscope-replay.1 lacks --oui-file");
}

#[test]
fn completions_for_bash_zsh_fish() {
    let dir = tempfile::tempdir().unwrap();
    leakscope(&["generate", "completions", dir.path().to_str().unwrap()]);
    assert_eq!(names(dir.path()), ["_leakscope", "leakscope.bash", "leakscope.fish"]);
    let only = tempfile::tempdir().unwrap();
    leakscope(&["generate", "completions", "--shell", "fish", only.path().to_str().unwrap()]);
    assert_eq!(names(only.path()), ["leakscope.fish"]);
    // The bash script registers itself and completes subcommands.
    let bash = dir.path().join("leakscope.bash");
    let script = format!(
        "source '{}'; complete -p leakscope; COMP_WORDS=(leakscope re); COMP_CWORD=1; \
         _leakscope leakscope re leakscope; echo \"${{COMPREPLY[*]}}\"",
        bash.display()
    );
    let Ok(out) = Command::new("bash").args(["-c", &script]).output() else {
        eprintln!("SKIPPED bash completion load: no bash");
        return;
    };
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("-F _leakscope leakscope"), "complete -p: {out}");
    assert!(out.lines().last().is_some_and(|l| l.split(' ').any(|w| w == "replay")), "{out}");
}
