//! `leakscope generate man|completions DIR`: man pages and shell completions from the clap
//! definitions, so they cannot drift from the flags. `make deb` packages their output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use clap_complete::Shell;

/// The version line: package version, git commit, build date (set by build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("LEAKSCOPE_COMMIT"),
    " ",
    env!("LEAKSCOPE_BUILD_DATE"),
    ")"
);

#[derive(Subcommand)]
pub enum GenerateCmd {
    /// Man pages: leakscope.1 and one per subcommand (leakscope-replay.1, ...).
    Man {
        /// Directory to write them to (created if missing), e.g. ~/.local/share/man/man1.
        dir: PathBuf,
    },
    /// Shell completions: leakscope.bash, _leakscope (zsh), leakscope.fish.
    Completions {
        /// Directory to write them to (created if missing).
        dir: PathBuf,
        /// Only this shell (repeatable) [default: bash, zsh and fish].
        #[arg(long, value_enum)]
        shell: Vec<CompletionShell>,
    },
}

/// The shells with completions; what distributions package for command-line tools.
#[derive(Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Writes the files and lists them on stdout.
pub fn run(what: &GenerateCmd, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let written = match what {
        GenerateCmd::Man { dir } => man_pages(cmd, dir)?,
        GenerateCmd::Completions { dir, shell } => completions(cmd, dir, shell)?,
    };
    for p in written {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))
}

fn man_pages(cmd: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    create_dir(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let mut todo = vec![cmd];
    while let Some(cmd) = todo.pop() {
        todo.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        // The build date, not today's: regenerating the same build gives the same pages.
        let man = clap_mangen::Man::new(cmd)
            .date(env!("LEAKSCOPE_BUILD_DATE"))
            .source(concat!("leakscope ", env!("CARGO_PKG_VERSION")))
            .manual("leakscope manual");
        let path = dir.join(man.get_filename());
        let mut out = Vec::new();
        man.render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("{}: cannot write", path.display()))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

fn completions(
    mut cmd: clap::Command,
    dir: &Path,
    shells: &[CompletionShell],
) -> anyhow::Result<Vec<PathBuf>> {
    create_dir(dir)?;
    let all = [CompletionShell::Bash, CompletionShell::Zsh, CompletionShell::Fish];
    let shells = if shells.is_empty() { &all[..] } else { shells };
    let mut written = Vec::new();
    for s in shells {
        let shell = match s {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        };
        let path = clap_complete::generate_to(shell, &mut cmd, "leakscope", dir)
            .with_context(|| format!("{}: cannot write the {shell} completions", dir.display()))?;
        written.push(path);
    }
    Ok(written)
}
