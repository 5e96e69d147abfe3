//! `leakscope capture` and `leakscope interfaces` from the command line, without capturing:
//! configuration errors name the file and line, interface errors name the interface.

use std::process::Command;

fn leakscope(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_leakscope")).args(args).output().expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("leakscope.toml");
    std::fs::write(&cfg, "interface = \"lo\"\nout = \"/tmp/x\"\nintreface = \"eth0\"\n").unwrap();
    let (ok, _, err) = leakscope(&["capture", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    let want = format!("{}:3: unknown field `intreface`", cfg.display());
    assert!(err.contains(&want), "{err}");

    std::fs::write(&cfg, "interface = \"lo\"\n\nrotate = \"1x\"\n").unwrap();
    let (ok, _, err) = leakscope(&["capture", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&format!("{}:3: rotation \"1x\"", cfg.display())), "{err}");

    std::fs::write(&cfg, "local_networks = [\"10.42.0.0/24\",\n  \"10.42.0.0/33\"]\n").unwrap();
    let (ok, _, err) = leakscope(&["capture", "-i", "lo", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&format!("{}:2: local network", cfg.display())), "{err}");
}

#[test]
fn flags_are_checked_before_capture() {
    let (ok, _, err) = leakscope(&["capture", "-i", "lo", "--rotate", "100X"]);
    assert!(!ok && err.contains("--rotate: rotation \"100X\": unknown unit"), "{err}");
    let (ok, _, err) = leakscope(&["capture"]);
    assert!(!ok && err.contains("no interface"), "{err}");
}

#[test]
fn interface_errors_name_the_interface() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (ok, _, err) =
        leakscope(&["capture", "-i", "nosuchif0", "-o", out.to_str().unwrap(), "--user", "root"]);
    assert!(!ok);
    assert!(err.contains("interface nosuchif0"), "{err}");
}

#[test]
fn interfaces_lists_loopback_and_explains_the_guess() {
    let (ok, out, err) = leakscope(&["interfaces"]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.starts_with("lo ") && l.contains("loopback")), "{out}");
    assert!(out.contains("hotspot guess:"), "{out}");
}
