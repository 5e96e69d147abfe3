//! Replay over real and broken inputs: determinism, clear errors, nothing lost.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn leakscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakscope"))
}

#[test]
fn replaying_twice_gives_identical_flows() {
    let Some(shared) = common::shared_captures("replaying_twice_gives_identical_flows") else {
        return;
    };
    let inputs = vec![shared.join("ndpi/meta/pcap"), shared.join("ndpi/negative/pcap")];
    let (_, a, _) = common::replay_to_temp(&inputs);
    let (_, b, flows) = common::replay_to_temp(&inputs);
    let read = |d: &tempfile::TempDir| std::fs::read(d.path().join("flows.jsonl")).unwrap();
    assert!(flows.len() > 800, "expected the whole corpus, got {} flows", flows.len());
    assert!(read(&a) == read(&b), "flows.jsonl differs between two replays");
}

#[test]
fn truncated_capture_reports_file_and_offset_and_exits_nonzero() {
    let Some(shared) = common::shared_captures("truncated_capture_reports") else { return };
    let f = shared.join("ndpi/negative/pcap/fuzz-2021-10-13.pcap");
    let out = tempfile::tempdir().unwrap();
    let res = leakscope().args(["-q", "replay", "-o"]).arg(out.path()).arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("fuzz-2021-10-13.pcap: truncated"), "stderr: {stderr}");
    assert!(stderr.contains("byte offset 24"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(out.path().join("flows.jsonl").exists());
}

#[test]
fn damaged_file_among_good_ones_loses_nothing() {
    let Some(shared) = common::shared_captures("damaged_file_among_good_ones") else { return };
    let good = shared.join("ndpi/meta/pcap/whatsapp.pcap");
    let bad = shared.join("ndpi/negative/pcap/fuzz-2021-10-13.pcap");
    let fuzzed = shared.join("ndpi/negative/pcap/dhcp-fuzz.pcapng");
    let (outcome, _d, flows) = common::replay_to_temp(&[bad, good, fuzzed]);
    assert_eq!(outcome.faults.len(), 1, "{:?}", outcome.faults);
    // whatsapp.pcap: 86 one-way flows, 679 packets; dhcp-fuzz: 1 malformed DHCP datagram.
    assert_eq!(flows.len(), 87);
    let pkts: u64 = flows
        .iter()
        .map(|f| f["orig_pkts"].as_u64().unwrap() + f["resp_pkts"].as_u64().unwrap())
        .sum();
    assert_eq!(pkts, 680);
    assert_eq!(outcome.stats.packets.packets, 680);
}

#[test]
fn not_a_capture_and_missing_file_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, "hello, this is text\n").unwrap();
    let res = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(dir.path().join("o"))
        .arg(&text)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        stderr.contains("notes.pcap: not a pcap or pcapng capture (starts with 68 65 6c 6c"),
        "{stderr}"
    );

    let missing = PathBuf::from("/nonexistent/capture.pcap");
    let res = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(dir.path().join("o"))
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1));
    assert!(stderr.starts_with("leakscope: /nonexistent/capture.pcap: No such file"), "{stderr}");
}

#[test]
fn bpf_filter_selects_packets_and_bad_filter_is_an_error() {
    let Some(shared) = common::shared_captures("bpf_filter") else { return };
    let f = shared.join("ndpi/meta/pcap/whatsapp_voice_and_message.pcap");
    let dir = tempfile::tempdir().unwrap();
    let res = leakscope()
        .args(["-q", "replay", "-f", "udp port 3478", "-o"])
        .arg(dir.path())
        .arg(&f)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let text = std::fs::read_to_string(dir.path().join("flows.jsonl")).unwrap();
    assert!(text.lines().count() >= 3);
    assert!(text.lines().all(|l| l.contains("\"resp_p\":3478")), "{text}");
    let res = leakscope()
        .args(["-q", "replay", "-f", "port nonsense", "-o"])
        .arg(dir.path())
        .arg(&f)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1));
    assert!(stderr.contains("filter \"port nonsense\""), "{stderr}");
}

/// A little-endian µs pcap with one frame.
fn pcap_with(linktype: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(0xa1b2_c3d4u32.to_le_bytes());
    v.extend(2u16.to_le_bytes());
    v.extend(4u16.to_le_bytes());
    v.extend([0u8; 8]);
    v.extend(65535u32.to_le_bytes());
    v.extend(linktype.to_le_bytes());
    v.extend(1_700_000_000u32.to_le_bytes());
    v.extend(0u32.to_le_bytes());
    v.extend((frame.len() as u32).to_le_bytes());
    v.extend((frame.len() as u32).to_le_bytes());
    v.extend(frame);
    v
}

#[test]
fn unsupported_link_type_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("usb.pcap");
    std::fs::write(&f, pcap_with(189, &[0u8; 40])).unwrap();
    let res = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(dir.path().join("o"))
        .arg(&f)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("usb.pcap: unsupported link type 189 (unknown)"), "{stderr}");
}

#[test]
fn raw_ip_pcap_and_gzip_by_magic_not_name() {
    // A raw-IPv4 UDP datagram, stored gzip-compressed under a misleading name.
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(40000, 5000)
        .write(&mut ip, b"hi")
        .unwrap();
    let pcap = pcap_with(101, &ip);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("capture.txt");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &pcap).unwrap();
    std::fs::write(&f, gz.finish().unwrap()).unwrap();
    let (outcome, _d, flows) = common::replay_to_temp(&[f]);
    assert!(outcome.faults.is_empty(), "{:?}", outcome.faults);
    assert_eq!(flows.len(), 1);
    assert_eq!(
        (flows[0]["orig_p"].as_u64(), flows[0]["resp_p"].as_u64()),
        (Some(40000), Some(5000))
    );
}

/// Inputs named on the command line are read whatever they are: `-` (standard input) and a
/// FIFO give the same flows as the file (a FIFO inside a directory is skipped instead).
#[test]
fn stdin_and_a_named_fifo_are_read() {
    let sample =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/sample-hotspot.pcap");
    let dir = tempfile::tempdir().unwrap();
    // The records name their input (`source`): compared without it.
    let flows = |out: &std::path::Path| {
        let text = std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
        let v: Vec<serde_json::Value> = text
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("source");
                v
            })
            .collect();
        v
    };
    let file_out = dir.path().join("file");
    let o = leakscope().args(["-q", "replay", "-o"]).arg(&file_out).arg(&sample).output().unwrap();
    assert!(o.status.success());

    let stdin_out = dir.path().join("stdin");
    let o = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(&stdin_out)
        .arg("-")
        .stdin(std::fs::File::open(&sample).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(flows(&stdin_out) == flows(&file_out));

    let fifo = dir.path().join("fifo.pcap");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo_out = dir.path().join("fifo-out");
    let child = leakscope().args(["-q", "replay", "-o"]).arg(&fifo_out).arg(&fifo).spawn().unwrap();
    std::fs::write(&fifo, std::fs::read(&sample).unwrap()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(flows(&fifo_out) == flows(&file_out));
}
