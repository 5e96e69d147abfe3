//! `--parquet` memory stays flat however long the input: the heap's peak while writing 120 k
//! flow records over three dates is no higher than its peak over the first 24 k (three row
//! groups of 8 k rows: the default 64 k makes the test slow without the optimiser). Counted by
//! a global allocator, so this file holds this one test only (no other test allocating beside
//! it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use leakscope::output::RecordSink;
use leakscope::output::parquet::ParquetSink;
use leakscope::record::{EndReason, FlowRecord};

/// Rows per row group.
const GROUP: usize = 8192;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

fn record(i: u64) -> FlowRecord {
    // One record a second from 23:00: 120 k records span two dates.
    let ts = 1_767_222_000.0 + i as f64 + 0.000_123;
    let orig = ("10.0.0.2".parse().unwrap(), 40000 + (i % 20000) as u16);
    FlowRecord {
        duration: 1.25,
        orig_pkts: i,
        resp_pkts: 1,
        orig_ip_bytes: 40,
        resp_ip_bytes: 40,
        orig_bytes: i * 3,
        conn_state: leakscope::record::ConnCode::Sf,
        history: "ShADadFf".into(),
        end_reason: EndReason::Fin,
        orig_mac: Some("00:1a:11:00:00:0a".into()),
        app_proto: Some(leakscope::record::AppProto::Tls),
        server_name: Some(format!("e{}.whatsapp.net", i % 97).into()),
        name_source: Some(leakscope::record::NameSource::TlsSni),
        ja4: Some("t13d1514h2_8daaf6152771_bc9a4605e104".into()),
        service: Some("whatsapp".into()),
        endpoint: Some("whatsapp.chat".into()),
        role: Some(leakscope::record::Role::Chat),
        confidence: Some("sni"),
        evidence: vec![format!("sni:e{}.whatsapp.net", i % 97), "prefix:157.240.0.0/17".into()],
        resp_asn: Some(32934),
        device: Some("00:1a:11:00:00:0a".into()),
        ..FlowRecord::bare(
            ts,
            format!("C{i:011}"),
            "tcp",
            orig,
            ("157.240.1.1".parse().unwrap(), 443),
        )
    }
}

#[test]
fn memory_is_flat_over_a_long_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::with_row_groups(&dir.path().join("pq"), GROUP).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    let mut i = 0;
    let mut write = |sink: &mut ParquetSink, n: u64| {
        for _ in 0..n {
            sink.flow(&mut record(i));
            i += 1;
        }
    };
    write(&mut sink, 24_000);
    let early = PEAK.swap(0, Ordering::Relaxed).saturating_sub(base);
    write(&mut sink, 96_000);
    let late = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    sink.finish().unwrap();
    eprintln!(
        "heap peak: {} KiB over 24 k records, {} KiB over the next 96 k",
        early >> 10,
        late >> 10
    );
    // Five times as many records, and a second date, may not need a second row group's worth.
    assert!(late < early + early / 4, "heap grows with the input: {early} then {late} bytes");
    // Three dates (23:00 on day one to 09:00 on day three), one file each, every row there.
    let mut rows = 0;
    let mut dates = Vec::new();
    for part in std::fs::read_dir(dir.path().join("pq/flows")).unwrap() {
        let part = part.unwrap().path();
        dates.push(part.file_name().unwrap().to_str().unwrap().to_owned());
        let f = part.join("part-00000.parquet");
        let r = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&f).unwrap())
            .unwrap();
        use parquet::file::reader::FileReader;
        let meta = r.metadata();
        for g in meta.row_groups() {
            assert!(g.num_rows() <= GROUP as i64, "row group of {} rows", g.num_rows());
        }
        rows += meta.file_metadata().num_rows();
    }
    dates.sort();
    assert_eq!(dates, ["date=2025-12-31", "date=2026-01-01", "date=2026-01-02"]);
    assert_eq!(rows, 120_000);
}
