//! Floods: memory stays bounded and throughput holds.
//!
//! One test, alone in its process, so `/proc/self/status` (VmRSS, VmHWM) measures only it and the
//! process-wide reassembly budget is its own. Sizes default small for `cargo test`; the numbers in
//! FUZZING.md come from
//!   LEAKSCOPE_FLOOD_PACKETS=10000000 cargo test --release --test flood -- --nocapture

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use etherparse::PacketBuilder;
use leakscope::capture::{LinkType, Packet, PacketSink, Timestamp};
use leakscope::classify::names::{NameCache, NameCacheConfig};
use leakscope::classify::{Geo, Ruleset};
use leakscope::dissect::stream;
use leakscope::flow::FlowConfig;
use leakscope::output::NullSink;
use leakscope::pipeline::{Pipeline, PipelineConfig};

/// Counts live heap bytes, so the per-flow cost is the program's own and the same on every machine
/// (RSS also holds the allocator's slack and page rounding, which vary with the libc and the kernel).
struct Counting;
static HEAP: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size(), Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size(), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        HEAP.fetch_add(new, Relaxed);
        HEAP.fetch_sub(l.size(), Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// (VmRSS, VmHWM) in KiB.
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn pipeline(max_flows: usize) -> Pipeline {
    Pipeline::new(PipelineConfig {
        flow: FlowConfig { max_flows, ..FlowConfig::default() },
        sink: Box::new(NullSink),
        classify: true,
        rules: Ruleset::builtin(),
        geo: Geo::default(),
    })
}

/// An Ethernet/IPv4/TCP frame template; [`Frame::set`] patches addresses, ports and sequence.
struct Frame(Vec<u8>);

impl Frame {
    fn tcp(syn: bool, payload: &[u8]) -> Self {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [157, 240, 1, 35], 64)
            .tcp(40000, 443, 1, 65535);
        b = if syn { b.syn() } else { b.ack(1).psh() };
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        Frame(v)
    }
    /// Source address and port; the sequence number. (Checksums are not checked by the decoder.)
    fn set(&mut self, src: u32, sport: u16, seq: u32) -> &[u8] {
        self.0[26..30].copy_from_slice(&src.to_be_bytes());
        self.0[34..36].copy_from_slice(&sport.to_be_bytes());
        self.0[38..42].copy_from_slice(&seq.to_be_bytes());
        &self.0
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn feed(p: &mut Pipeline, ts: &mut i64, data: &[u8]) {
    *ts += 1_000; // 1 µs apart: no idle timeout fires, the table fills
    p.packet(&Packet { ts: Timestamp(*ts), linktype: LinkType::ETHERNET, data, wire_len: 0 });
}

#[test]
fn floods_stay_bounded() {
    let mut report = String::new();
    let mut line = |s: String| {
        eprintln!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    let mut ts = 1_700_000_000_000_000_000i64;

    // 1. Per-flow cost: RSS with N live (half-open, SYN-only) flows minus RSS with none.
    let n = env("LEAKSCOPE_FLOOD_LIVE", 50_000);
    let mut syn = Frame::tcp(true, b"");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (rss0, _) = rss_kib();
    let heap0 = HEAP.load(Relaxed);
    let mut p = pipeline(n as usize + 1);
    for i in 0..n {
        let r = rng.next();
        feed(
            &mut p,
            &mut ts,
            syn.set(0x0a00_0000 | (i as u32 & 0x00ff_ffff), r as u16 | 1, r as u32),
        );
    }
    assert_eq!(p.live_flows() as u64, n);
    let (rss1, _) = rss_kib();
    let heap_per_flow = HEAP.load(Relaxed).saturating_sub(heap0) as u64 / n;
    let per_flow = (rss1.saturating_sub(rss0)) * 1024 / n;
    line(format!(
        "per-flow: {n} live SYN flows: heap {heap_per_flow} B/flow; RSS {rss0} KiB -> {rss1} KiB = {per_flow} B/flow"
    ));
    // The flows go to a Meta prefix, so each also keeps an activity log: the classifier's cost.
    // The heap count is exact; RSS adds the allocator's slack (seen: 485 to 517 B on two machines).
    assert!(heap_per_flow < 512, "{heap_per_flow} heap bytes per flow >= 512 B");
    assert!(per_flow < 640, "{per_flow} B of RSS per flow >= 640 B");
    let s = p.finish().unwrap();
    assert_eq!(s.records, n);

    // 2. SYN flood with random source ports through a full table.
    let packets = env("LEAKSCOPE_FLOOD_PACKETS", 400_000);
    let max_flows = env("LEAKSCOPE_FLOOD_MAX_FLOWS", 20_000) as usize;
    let (rss_before, _) = rss_kib();
    let mut p = pipeline(max_flows);
    let started = Instant::now();
    let mut checkpoints = Vec::new();
    for i in 0..packets {
        let r = rng.next();
        let src = 0x0a00_0000 | ((r >> 16) as u32 & 0x00ff_ffff);
        feed(&mut p, &mut ts, syn.set(src, r as u16, (r >> 32) as u32));
        if (i + 1) % 1_000_000 == 0 || i + 1 == packets {
            let secs = started.elapsed().as_secs_f64();
            checkpoints.push((i + 1, (i + 1) as f64 / secs));
            assert!(p.live_flows() <= max_flows);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let (_, hwm) = rss_kib();
    let s = p.finish().unwrap();
    let live_at_end = s.table.flows - s.table.evicted;
    line(format!(
        "SYN flood: {packets} packets, max_flows {max_flows}: {} flows, {} evicted, {} records, {:.2} s, VmHWM {hwm} KiB (RSS before {rss_before} KiB)",
        s.table.flows, s.table.evicted, s.records, secs
    ));
    for (k, pps) in &checkpoints {
        line(format!("  after {k} packets: {pps:.0} packets/s (cumulative)"));
    }
    assert!(s.table.evicted >= s.table.flows - max_flows as u64, "evictions counted");
    assert_eq!(s.records, s.table.flows, "every flow, evicted or not, is emitted");
    assert!(live_at_end <= s.table.flows);
    // Bounded: the table's share (max_flows × 1 KiB) plus slack for the allocator and the test.
    let bound = rss_before + max_flows as u64 + 64 * 1024;
    assert!(hwm <= bound.max(rss1 + 64 * 1024), "VmHWM {hwm} KiB > {bound} KiB");
    // Throughput does not collapse as the table churns: the last rate within 3× of the first.
    if let (Some(first), Some(last)) = (checkpoints.first(), checkpoints.last()) {
        assert!(last.1 * 3.0 >= first.1, "throughput collapsed: {first:?} -> {last:?}");
    }

    // 3. Half-open TLS-looking flows, interleaved: each sends SYN then 11 segments (under the
    //    12-segment give-up) of a ClientHello that claims 16 KiB and never ends, so each stream
    //    buffers 15.4 KB while undecided. The budget caps the sum.
    let budget = 32 << 20;
    stream::set_budget(budget);
    let flows = env("LEAKSCOPE_FLOOD_TLS_FLOWS", 6_000) as u32;
    let mut hello = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc, 0x03, 0x03];
    hello.resize(1400, 0x41);
    let mut first = Frame::tcp(false, &hello);
    let mut more = Frame::tcp(false, &[0x42; 1400]);
    let refused_before = stream::refused();
    let (rss_before, _) = rss_kib();
    let mut p = pipeline(flows as usize + 1);
    let mut peak_held = 0;
    for f in 0..flows {
        feed(&mut p, &mut ts, syn.set(0x0a00_0000 | f, 50_000, 999));
    }
    for f in 0..flows {
        feed(&mut p, &mut ts, first.set(0x0a00_0000 | f, 50_000, 1000));
    }
    for k in 1..11u32 {
        for f in 0..flows {
            feed(&mut p, &mut ts, more.set(0x0a00_0000 | f, 50_000, 1000 + 1400 * k));
        }
        peak_held = peak_held.max(stream::held());
    }
    let (rss_after, hwm) = rss_kib();
    let refused = stream::refused() - refused_before;
    line(format!(
        "half-open TLS flood: {flows} flows x 15.4 KB: peak held {peak_held} B (budget {budget}), {refused} segments refused, RSS {rss_before} -> {rss_after} KiB, VmHWM {hwm} KiB"
    ));
    assert!(peak_held <= budget);
    assert!(refused > 0 || u64::from(flows) * 15_400 <= budget as u64, "budget never hit");
    assert!(peak_held > budget / 2, "the flood did fill the buffers: {peak_held}");
    p.finish().unwrap();
    assert_eq!(stream::held(), 0, "every buffer given back");
    stream::set_budget(stream::DEFAULT_BUDGET);

    // 4. DNS name cache: 1 M distinct (client, address) answers into a 200 k cache.
    let cfg = NameCacheConfig::default();
    let answers = env("LEAKSCOPE_FLOOD_DNS", 1_000_000);
    let (rss_before, _) = rss_kib();
    let mut c = NameCache::new(cfg);
    for i in 0..answers {
        let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i as u32 & 0xffff)));
        let addr = IpAddr::V4(Ipv4Addr::from(0x9df0_0000u32.wrapping_add(i as u32)));
        c.insert(client, addr, "scontent-lhr8-1.xx.fbcdn.net", 60, Timestamp(ts + i as i64));
    }
    let (rss_after, _) = rss_kib();
    line(format!(
        "DNS name cache: {answers} answers, max {}: {} kept, {} evicted, RSS +{} KiB ({} B/entry)",
        cfg.max_entries,
        c.len(),
        c.evicted(),
        rss_after.saturating_sub(rss_before),
        rss_after.saturating_sub(rss_before) * 1024 / c.len().max(1) as u64
    ));
    assert!(c.len() <= cfg.max_entries);
    assert_eq!(c.evicted(), answers.saturating_sub(cfg.max_entries as u64));
    // Refreshing one name forever does not grow anything.
    for i in 0..(3 * cfg.max_entries as i64) {
        c.insert(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "x",
            1,
            Timestamp(ts + i),
        );
    }
    assert!(c.len() <= cfg.max_entries);
    if let Ok(path) = std::env::var("LEAKSCOPE_FLOOD_REPORT") {
        std::fs::write(path, report).unwrap();
    }
}
