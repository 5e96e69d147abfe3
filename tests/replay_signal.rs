//! A replay stopped by SIGINT or SIGTERM ends as if its input ended there: whole outputs,
//! Parquet files with their footers, a manifest that says so, the shell's exit status.

mod builders;

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use builders::{Pcap, udp};

#[test]
fn a_signal_stops_a_replay_with_whole_outputs() {
    // 6 000 flows of one 1 000-byte datagram each: ~6 MB, more than the reader's buffer.
    let mut pcap = Pcap::ethernet();
    let payload = [0x5au8; 1000];
    for i in 0..6_000u32 {
        let src = (Ipv4Addr::new(192, 168, 1, 20), 10_000 + (i % 50_000) as u16);
        let dst = (Ipv4Addr::new(203, 0, 113, (i / 250) as u8), 9_999);
        pcap.record(1_700_000_000_000_000 + u64::from(i) * 1_000, &udp(src, dst, &payload));
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.pcap");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_leakscope"))
        .args(["-q", "replay", "-o"])
        .arg(&out)
        .arg("--parquet")
        .arg(out.join("lake"))
        .arg(&fifo)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half the capture, then the signal while the reader waits for more, then the rest: the
    // packets after the signal are read but not replayed.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let half = pcap.bytes.len() / 2;
    w.write_all(&pcap.bytes[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(200));
    let _ = w.write_all(&pcap.bytes[half..]);
    drop(w);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped by SIGINT"), "{stderr}");

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let counts = &manifest["counts"];
    assert_eq!(counts["interrupted"], "SIGINT");
    let packets = counts["packets"].as_u64().unwrap();
    assert!(packets > 0 && packets < 6_000, "replayed {packets} of 6 000 packets");
    // Every flow of every replayed packet is written, as whole lines.
    let flows = std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
    assert!(flows.ends_with('\n'));
    let lines: Vec<serde_json::Value> =
        flows.lines().map(|l| serde_json::from_str(l).expect("a whole JSON line")).collect();
    assert_eq!(lines.len() as u64, counts["flow_records"].as_u64().unwrap());
    assert_eq!(lines.len() as u64, packets, "one flow a packet");
    // Parquet files all have their footers: none is left under its temporary name.
    let mut parquet = 0;
    let mut stack = vec![out.join("lake")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "{name} has no footer");
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".parquet") {
                parquet += 1;
                let bytes = std::fs::read(&p).unwrap();
                assert!(bytes.ends_with(b"PAR1"), "{name}: no footer magic");
            }
        }
    }
    assert!(parquet > 0);
}
