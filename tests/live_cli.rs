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

/// Long options listed by `leakscope SUB --help`.
fn long_options(sub: &str) -> Vec<String> {
    let (ok, out, err) = leakscope(&[sub, "--help"]);
    assert!(ok, "{err}");
    let mut opts: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim_start().split(' ').find(|w| w.starts_with("--")))
        .map(|w| w.trim_end_matches(',').to_owned())
        .collect();
    opts.sort();
    opts.dedup();
    opts
}

#[test]
fn capture_offers_every_output_option_of_replay() {
    let replay = long_options("replay");
    let capture = long_options("capture");
    assert!(replay.len() > 20 && replay.contains(&"--sqlite".to_owned()), "{replay:?}");
    // `--read` names replay's input files; capture's input is the interface or `--udp`.
    // `--threads`: live capture keeps one pipeline on the capture thread (docs/scale.md).
    let inputs = ["--read", "--threads"];
    let missing: Vec<&String> =
        replay.iter().filter(|o| !capture.contains(o) && !inputs.contains(&o.as_str())).collect();
    assert!(missing.is_empty(), "capture lacks {missing:?}");
}

/// The help texts repeat the flow table's defaults; they are taken from `FlowConfig::default`.
#[test]
fn help_shows_the_flow_defaults_in_use() {
    let d = leakscope::flow::FlowConfig::default();
    let secs = |ns: i64| (ns / 1_000_000_000).to_string();
    let (ok, out, err) = leakscope(&["replay", "--help"]);
    assert!(ok, "{err}");
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for (opt, want) in [
        ("--tcp-timeout", secs(d.tcp_idle)),
        ("--udp-timeout", secs(d.udp_idle)),
        ("--icmp-timeout", secs(d.other_idle)),
        ("--active-timeout", secs(d.active_timeout)),
        ("--max-flows", d.max_flows.to_string()),
    ] {
        let at = flat.find(&format!("{opt} <")).unwrap_or_else(|| panic!("{opt} in {flat}"));
        let shown = flat[at..].split("[default: ").nth(1).and_then(|r| r.split(']').next());
        assert_eq!(shown, Some(want.as_str()), "{opt}");
    }
}
