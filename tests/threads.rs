//! `replay --threads N`: every output file is byte-identical to `--threads 1`, on every capture
//! of the project, every shared capture (ndpi/, activity/) and a generated many-device capture
//! whose idle sweeps end flows of several workers at once.

mod builders;
mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use leakscope::replay::{ReplayOptions, replay};

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read output dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n != "manifest.json") {
                let rel = p.strip_prefix(dir).expect("inside").to_owned();
                out.push((rel, std::fs::read(&p).expect("read output")));
            }
        }
    }
    out.sort();
    out
}

/// Replays `inputs` with `threads` workers and every output (JSON Lines, SQLite, CSV, Parquet);
/// returns every file written.
fn outputs(inputs: &[PathBuf], run: Run, anonymize: bool) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let mut opts = ReplayOptions::new(inputs.to_vec(), Some(out.clone()));
    (opts.threads, opts.thread_backlog) = run;
    opts.sqlite = Some(out.join("flows.sqlite"));
    opts.csv = Some(out.join("flows.csv"));
    opts.parquet = Some(out.join("parquet"));
    if anonymize {
        opts.anonymize = Some(leakscope::anonymize::AnonymizeConfig {
            key: b"threads test key".to_vec(),
            keep_oui: false,
            local_prefixes: Vec::new(),
        });
    }
    if let Some(data) = common::shared_data() {
        opts.asn_db = Some(data.join("geo/asn.mmdb"));
        opts.country_db = Some(data.join("geo/country.mmdb"));
    }
    replay(&opts).expect("replay runs");
    files(&out)
}

/// Threads, and the backlog that sends new devices to the reading thread's worker.
type Run = (usize, Option<u64>);

/// The runs compared with one thread. A small capture seldom fills a worker thread's backlog,
/// so with the default most devices go to the worker threads (only near the input's end, where
/// the backlog shrinks, do new ones stay on the reading thread); with a backlog of 1 each
/// worker thread gets one device (its packets then wait until the chunk is sent) and the rest
/// go to worker 0, on the reading thread: both ways of running a device are compared.
const RUNS: [Run; 4] = [(2, None), (4, None), (2, Some(1)), (4, Some(1))];

/// Fails, naming the file and the first differing line, unless every run of [`RUNS`] wrote what
/// one thread did. Returns the number of flow records, so callers can see the capture was not
/// empty.
fn same_across_threads(inputs: &[PathBuf], anonymize: bool) -> usize {
    let one = outputs(inputs, (1, None), anonymize);
    assert!(one.iter().any(|(p, _)| p == Path::new("flows.jsonl")), "{inputs:?}: no flows.jsonl");
    for run in RUNS {
        let threads = format!("{run:?}");
        let many = outputs(inputs, run, anonymize);
        let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(names(&one), names(&many), "{inputs:?}: files written, --threads {threads}");
        for ((name, a), (_, b)) in one.iter().zip(&many) {
            if a != b {
                let line = a
                    .split(|&c| c == b'\n')
                    .zip(b.split(|&c| c == b'\n'))
                    .position(|(x, y)| x != y);
                panic!(
                    "{inputs:?}: {} differs with --threads {threads} (line {line:?})",
                    name.display()
                );
            }
        }
    }
    let flows = one.iter().find(|(p, _)| p == Path::new("flows.jsonl")).expect("flows");
    flows.1.iter().filter(|&&c| c == b'\n').count()
}

/// Capture files under `dir`, recursively, sorted.
fn captures_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read capture dir") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if p.is_dir() {
                todo.push(p);
            } else if [".pcap", ".pcapng", ".cap", ".pcap.gz"].iter().any(|x| name.ends_with(x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn project_captures_are_byte_identical_across_thread_counts() {
    let all = captures_under(&common::root().join("captures"));
    assert!(all.len() >= 8, "project captures: {all:?}");
    let mut records = 0;
    for c in &all {
        records += same_across_threads(std::slice::from_ref(c), false);
    }
    assert!(records > 0);
    // All of them as one replay (file boundaries, `source`), and anonymised.
    assert!(same_across_threads(&all, true) > 0);
}

#[test]
fn shared_captures_are_byte_identical_across_thread_counts() {
    let Some(shared) = common::shared_captures("threads") else { return };
    let all = captures_under(&shared);
    assert!(all.len() > 20, "shared captures: {}", all.len());
    let mut records = 0;
    for c in &all {
        records += same_across_threads(std::slice::from_ref(c), false);
    }
    assert!(records > 100, "shared captures gave {records} flow records");
    assert!(same_across_threads(&all, false) > 0);
}

/// Forty devices, each asking the router's DNS and talking to a few servers now and then over
/// ten minutes: the idle sweeps (UDP 60 s) end flows of every worker at the same packets, and
/// port reuse starts new flows under the same 5-tuple.
#[test]
fn generated_many_device_capture_is_byte_identical_across_thread_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devices.pcap");
    let mut pcap = builders::Pcap::ethernet();
    let router = Ipv4Addr::new(192, 168, 7, 1);
    let servers =
        [Ipv4Addr::new(157, 240, 1, 35), Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(31, 13, 64, 51)];
    let mut ts = 1_700_000_000_000_000u64;
    for round in 0..60u64 {
        for dev in 0..40u8 {
            let me = Ipv4Addr::new(192, 168, 7, 10 + dev);
            let sport = 40_000 + u16::from(dev) * 7 + (round % 5) as u16;
            pcap.record(ts, &builders::udp((me, sport), (router, 53), b"query"));
            pcap.record(ts + 300, &builders::udp((router, 53), (me, sport), b"answer"));
            if (round + u64::from(dev)) % 3 == 0 {
                let s = servers[(round as usize + dev as usize) % servers.len()];
                pcap.record(ts + 500, &builders::udp((me, sport + 1000), (s, 443), b"hello"));
                pcap.record(ts + 900, &builders::udp((s, 443), (me, sport + 1000), b"world"));
            }
            ts += 7_919 * (1 + u64::from(dev % 3));
        }
        // Every few rounds a long pause: idle flows of every device expire together.
        ts += if round % 7 == 6 { 70_000_000 } else { 2_000_000 };
    }
    pcap.write(&path);
    assert!(same_across_threads(&[path], false) > 100);
}
