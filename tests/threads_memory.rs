//! `replay --threads 2` over large frames (64 KiB, as a capture with segmentation offload has
//! them) holds a bounded amount of the file, not a chunk's worth of 4 096 such frames. One test,
//! alone in its process, so that `/proc/self/status` measures only it.

mod builders;

use std::io::Write;
use std::net::Ipv4Addr;

use leakscope::replay::{ReplayOptions, replay};

/// Peak resident memory of this process so far, KiB.
fn hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number")
}

#[test]
fn large_frames_do_not_pile_up_between_reader_and_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jumbo.pcap");
    // 3 000 frames of 60 000 bytes (180 MB), from 30 devices, written as they are built.
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(&builders::Pcap::ethernet().bytes).unwrap();
    let payload = vec![0x42u8; 59_958];
    for i in 0..3_000u32 {
        let me = Ipv4Addr::new(192, 168, 9, 10 + (i % 30) as u8);
        let frame = builders::udp((me, 40_000), (Ipv4Addr::new(198, 51, 100, 7), 9_000), &payload);
        let ts = 1_700_000_000_000_000u64 + u64::from(i) * 1_000;
        let n = frame.len() as u32;
        for v in [(ts / 1_000_000) as u32, (ts % 1_000_000) as u32, n, n] {
            f.write_all(&v.to_le_bytes()).unwrap();
        }
        f.write_all(&frame).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let before = hwm_kib();
    let opts = ReplayOptions { threads: 2, ..ReplayOptions::new(vec![path], None) };
    let o = replay(&opts).expect("replay");
    assert_eq!(o.stats.packets.packets, 3_000);
    let grew = hwm_kib().saturating_sub(before);
    eprintln!("peak memory grew by {grew} KiB over a 180 MB capture of 60 KB frames");
    // Chunks of at most 4 MiB, two queued per worker, and the reader's spare buffers.
    assert!(grew < 64 * 1024, "peak memory grew by {grew} KiB");
}
