//! Damaged capture files, generated here from byte builders: each is read up to the fault, the
//! error names the file and the byte offset, the output written so far is flushed, nothing
//! panics, and the exit status is non-zero. Packets the decoder cannot use are counted, not fatal.

mod builders;

use std::net::Ipv4Addr;

use builders::{Pcap, Pcapng, replay_bin, udp};

fn dns_query(id: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    q
}

/// Three UDP flows, one packet each.
fn three_flows() -> Vec<Vec<u8>> {
    let dev = Ipv4Addr::new(192, 168, 1, 20);
    (0..3u16)
        .map(|i| udp((dev, 40000 + i), (Ipv4Addr::new(9, 9, 9, 9), 53), &dns_query(i)))
        .collect()
}

struct Run {
    code: Option<i32>,
    stderr: String,
    flows: Vec<serde_json::Value>,
}

fn run(name: &str, bytes: &[u8]) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join(name);
    std::fs::write(&input, bytes).expect("write");
    let out = dir.path().join("out");
    let o = replay_bin(&out, &[&input], &[]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{name}: panic: {stderr}");
    let flows = std::fs::read_to_string(out.join("flows.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole JSON lines only"))
        .collect();
    (Run { code: o.status.code(), stderr, flows }, dir)
}

fn assert_fault(r: &Run, name: &str, what: &str, offset: Option<usize>) {
    assert_eq!(r.code, Some(1), "{name}: exit status; stderr: {}", r.stderr);
    assert!(r.stderr.contains(name), "{name}: error names the file: {}", r.stderr);
    assert!(r.stderr.contains(what), "{name}: error says {what:?}: {}", r.stderr);
    if let Some(off) = offset {
        assert!(
            r.stderr.contains(&format!("offset {off}")),
            "{name}: error names offset {off}: {}",
            r.stderr
        );
    }
}

#[test]
fn truncated_pcap_keeps_the_packets_before_the_cut() {
    let mut cap = Pcap::ethernet();
    for (i, f) in three_flows().iter().enumerate() {
        cap.record(1_700_000_000_000_000 + i as u64, f);
    }
    let last = *cap.offsets.last().unwrap();
    // Cut in the middle of the last record's data.
    let (r, _d) = run("cut.pcap", &cap.bytes[..last + 16 + 10]);
    assert_fault(&r, "cut.pcap", "truncated", Some(last));
    assert_eq!(r.flows.len(), 2, "the two whole packets' flows are written");
    // Cut inside a record header.
    let (r, _d) = run("cut-header.pcap", &cap.bytes[..last + 7]);
    assert_fault(&r, "cut-header.pcap", "truncated", Some(last));
    assert_eq!(r.flows.len(), 2);
    // Cut inside the file header.
    let (r, _d) = run("cut-filehdr.pcap", &cap.bytes[..10]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("cut-filehdr.pcap"), "{}", r.stderr);
}

#[test]
fn wrong_magic() {
    let (r, _d) = run("notes.pcap", b"this is not a capture at all\n");
    assert_fault(&r, "notes.pcap", "not a pcap or pcapng capture", None);
    let (r, _d) = run("empty.pcap", b"");
    assert_fault(&r, "empty.pcap", "not a pcap or pcapng capture", None);
}

/// pcapng says readers skip blocks they do not know; leakscope does, and reads on.
#[test]
fn pcapng_unknown_block_is_skipped() {
    let mut ng = Pcapng::ethernet();
    let flows = three_flows();
    ng.packet(1_700_000_000_000_000, &flows[0]);
    ng.block(0x0bad_beef, b"vendor stuff here");
    ng.packet(1_700_000_000_000_001, &flows[1]);
    let (r, _d) = run("unknown-block.pcapng", &ng.bytes);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.flows.len(), 2);
}

/// A block whose length field is too small to be a block is corruption: reported where it starts.
#[test]
fn pcapng_block_with_impossible_length() {
    let mut ng = Pcapng::ethernet();
    let flows = three_flows();
    ng.packet(1_700_000_000_000_000, &flows[0]);
    let bad = ng.bytes.len();
    ng.bytes.extend_from_slice(&0x0bad_beefu32.to_le_bytes());
    ng.bytes.extend_from_slice(&4u32.to_le_bytes()); // < 12: not a block
    ng.bytes.extend_from_slice(&[0; 32]);
    let (r, _d) = run("bad-block.pcapng", &ng.bytes);
    assert_fault(&r, "bad-block.pcapng", "at byte offset", Some(bad));
    assert_eq!(r.flows.len(), 1);
}

/// A snaplen shorter than the headers: each frame is cut inside its IP header. Not a file fault:
/// the frames are counted as decode errors, and the run succeeds.
#[test]
fn snaplen_shorter_than_headers() {
    let mut cap = Pcap::new(1, 20);
    for (i, f) in three_flows().iter().enumerate() {
        cap.record_raw(1_700_000_000_000_000 + i as u64, 20, f.len() as u32, &f[..20]);
    }
    let (r, _d) = run("snap20.pcap", &cap.bytes);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("3 decode errors"), "{}", r.stderr);
    assert!(r.flows.is_empty());
}

#[test]
fn zero_length_packets() {
    let mut cap = Pcap::ethernet();
    let flows = three_flows();
    cap.record(1_700_000_000_000_000, &flows[0]);
    cap.record_raw(1_700_000_000_000_001, 0, 0, b"");
    cap.record_raw(1_700_000_000_000_002, 0, 1500, b"");
    cap.record(1_700_000_000_000_003, &flows[1]);
    let (r, _d) = run("zero.pcap", &cap.bytes);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("2 decode errors"), "{}", r.stderr);
    assert_eq!(r.flows.len(), 2);
    // The same in pcapng.
    let mut ng = Pcapng::ethernet();
    ng.packet(1_700_000_000_000_000, &flows[0]);
    ng.packet(1_700_000_000_000_001, b"");
    ng.packet(1_700_000_000_000_002, &flows[1]);
    let (r, _d) = run("zero.pcapng", &ng.bytes);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.flows.len(), 2);
}

/// caplen 0xffffffff (and other absurd lengths): corruption at that record, no huge allocation,
/// the packets before it written.
#[test]
fn absurd_record_lengths() {
    for (name, caplen) in
        [("huge.pcap", u32::MAX), ("big.pcap", 0x7fff_ffff), ("over.pcap", 1 << 27)]
    {
        let mut cap = Pcap::ethernet();
        let flows = three_flows();
        cap.record(1_700_000_000_000_000, &flows[0]);
        cap.record(1_700_000_000_000_001, &flows[1]);
        cap.record_raw(1_700_000_000_000_002, caplen, caplen, &flows[2]);
        let bad = cap.offsets[2];
        let (r, _d) = run(name, &cap.bytes);
        assert_eq!(r.code, Some(1), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(name), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("offset {bad}")), "{name}: {}", r.stderr);
        assert_eq!(r.flows.len(), 2, "{name}");
    }
    // pcapng: an EPB whose captured length exceeds its block.
    let mut ng = Pcapng::ethernet();
    let flows = three_flows();
    ng.packet(1_700_000_000_000_000, &flows[0]);
    let bad = ng.bytes.len();
    let mut b = Vec::new();
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&flows[1]);
    ng.block(6, &b);
    let (r, _d) = run("huge.pcapng", &ng.bytes);
    assert_fault(&r, "huge.pcapng", "offset", Some(bad));
    assert_eq!(r.flows.len(), 1);
}

/// Several inputs: a damaged one does not stop the others; the exit status still says so.
#[test]
fn damaged_file_among_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut good = Pcap::ethernet();
    for (i, f) in three_flows().iter().enumerate() {
        good.record(1_700_000_000_000_000 + i as u64, f);
    }
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    std::fs::write(&a, &good.bytes[..good.bytes.len() - 5]).unwrap();
    let mut other = Pcap::ethernet();
    other.record(
        1_700_000_000_000_100,
        &udp(
            (Ipv4Addr::new(192, 168, 1, 21), 5000),
            (Ipv4Addr::new(9, 9, 9, 9), 53),
            &dns_query(9),
        ),
    );
    other.write(&b);
    let out = dir.path().join("out");
    let o = replay_bin(&out, &[a.as_path(), b.as_path()], &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a.pcap") && stderr.contains("truncated"), "{stderr}");
    let n = std::fs::read_to_string(out.join("flows.jsonl")).unwrap().lines().count();
    assert_eq!(n, 3, "two flows of a.pcap before the cut, one of b.pcap");
}
