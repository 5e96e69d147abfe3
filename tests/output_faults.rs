//! Output faults end in a clear error naming the file and a non-zero exit, never silent loss:
//! an unwritable output directory, a full device, a full file system.

mod builders;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use builders::{Pcap, Tmpfs, bin, in_ci, replay_bin, udp};

/// A capture of `n` one-packet UDP flows.
fn capture(dir: &Path, n: u32) -> std::path::PathBuf {
    let mut cap = Pcap::ethernet();
    for i in 0..n {
        let src = (Ipv4Addr::new(192, 168, 1, 20), 10_000 + (i % 50_000) as u16);
        let dst = (Ipv4Addr::from(0x0909_0000 + i), 53);
        cap.record(1_700_000_000_000_000 + u64::from(i), &udp(src, dst, b"x"));
    }
    let path = dir.join("in.pcap");
    cap.write(&path);
    path
}

fn assert_failed(o: &std::process::Output, names: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(stderr.contains(names), "error names {names:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn output_directory_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path(), 3);
    // A file where a directory must be: fails even for root (permissions would not).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let out = blocker.join("out");
    let o = replay_bin(&out, &[&input], &[]);
    assert_failed(&o, &out.display().to_string());
}

#[test]
fn output_file_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path(), 3);
    let out = dir.path().join("out");
    // flows.jsonl is a directory: File::create fails.
    std::fs::create_dir_all(out.join("flows.jsonl")).unwrap();
    let o = replay_bin(&out, &[&input], &[]);
    assert_failed(&o, "flows.jsonl");
}

/// `flows.jsonl -> /dev/full` in the output directory: outputs are never written through a
/// link (see `docs/limits.md`), so this is refused up front; a full file system in directory
/// mode is `file_system_fills_up` below.
#[test]
fn link_in_output_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path(), 3);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink("/dev/full", out.join("flows.jsonl")).unwrap();
    let o = replay_bin(&out, &[&input], &[]);
    assert_failed(&o, "flows.jsonl: is a symbolic link: refusing to write through it");
}

/// `--out -` with standard output redirected to /dev/full.
#[test]
fn full_device_on_stdout() {
    if !Path::new("/dev/full").exists() {
        assert!(!in_ci(), "/dev/full missing in CI");
        eprintln!("SKIPPED full_device_on_stdout: no /dev/full");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = capture(dir.path(), 3);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = Command::new(bin())
        .args(["replay", "-q", "--out", "-"])
        .arg(&input)
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_failed(&o, "standard output: write failed");
}

/// A 64 KiB tmpfs fills up mid-run: the error names the file, the exit status is 1, and the
/// file holds only whole lines up to the fault.
#[test]
fn file_system_fills_up() {
    let Some(tmpfs) = Tmpfs::mount("64k", "file_system_fills_up") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mnt = &tmpfs.path;
    // ~2000 flow records of ~400 bytes: several times 64 KiB.
    let input = capture(dir.path(), 2000);
    let out = mnt.join("out");
    let o = replay_bin(&out, &[&input], &[]);
    assert_failed(&o, &format!("{}: write failed", out.join("flows.jsonl").display()));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No space left"));
    // Cut back to the last complete line: never half a record.
    let flows = std::fs::read(out.join("flows.jsonl")).unwrap();
    assert_eq!(flows.last(), Some(&b'\n'));
}

/// `--write-pcap` onto /dev/full: libpcap's own dump writer would lose this error in its stdio
/// buffer; ours reports it, and the flow outputs are still written whole.
#[test]
fn full_device_for_write_pcap() {
    if !Path::new("/dev/full").exists() {
        assert!(!in_ci(), "/dev/full missing in CI");
        eprintln!("SKIPPED full_device_for_write_pcap: no /dev/full");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/sample-hotspot.pcap");
    let o = replay_bin(&out, &[&sample], &["--write-pcap", "/dev/full"]);
    assert_failed(&o, "/dev/full: write failed");
    let flows = std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
    assert_eq!(flows.lines().count(), 14, "every flow record still written");
}
