//! `leakscope capture --udp` on loopback: a PCAPdroid-format capture streamed as PCAPdroid's UDP
//! exporter sends it (header datagram, then one record per datagram) gives the same flow records
//! as replaying the file; a sender outside `--allow` is refused and counted.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The datagrams PCAPdroid would send for this capture: the preamble (pcap global header, or
/// pcapng section header + interface block), then one record (block) each; PCAPdroid's uid
/// map blocks travel in the stream, each before its app's first packet.
fn datagrams(file: &[u8]) -> Vec<Vec<u8>> {
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    if file[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut at = 0;
        let mut preamble = Vec::new();
        while at < file.len() {
            let len = le32(file, at + 4);
            let block = file[at..at + len].to_vec();
            if ![0x0a0d_0d0a, 1].contains(&le32(file, at)) {
                out.push(block);
            } else {
                preamble.extend(block);
            }
            at += len;
        }
        out.insert(0, preamble);
    } else {
        out.push(file[..24].to_vec());
        let mut at = 24;
        while at < file.len() {
            let len = 16 + le32(file, at + 8);
            out.push(file[at..at + len].to_vec());
            at += len;
        }
    }
    out
}

struct Capture {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Capture {
    fn start(port: u16, out: &Path, extra: &[&std::ffi::OsStr]) -> Capture {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leakscope"))
            .args(["capture", "--udp", &format!("127.0.0.1:{port}"), "--allow", "127.0.0.1/32"])
            .args(extra)
            .args(["--stats-interval", "1", "--user", "root", "-o"])
            .arg(out)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("leakscope runs");
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut c = Capture { child, lines, seen: Vec::new() };
        c.wait_for("capturing on udp:127.0.0.1");
        c
    }

    fn wait_for(&mut self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(20);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(l) = self.lines.recv_timeout(left) else { break };
            let hit = l.contains(needle);
            self.seen.push(l);
            if hit {
                return;
            }
        }
        panic!("no line with {needle:?}; got:\n{}", self.seen.join("\n"));
    }

    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let st = self.child.wait().unwrap();
        self.seen.extend(self.lines.try_iter());
        assert!(st.success(), "exit {st:?}:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The last `stats.jsonl` line, once it shows `delivered` packets.
fn wait_delivered(out: &Path, delivered: u64) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(out.join("stats.jsonl")).unwrap_or_default();
        if let Some(last) = text.lines().last() {
            let v: Value = serde_json::from_str(last).unwrap();
            if v["delivered"].as_u64() >= Some(delivered) || Instant::now() > end {
                return v;
            }
        }
        assert!(Instant::now() < end, "no stats line with {delivered} packets delivered: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Flow records by uid, without `ts` (the order of records written at the end may differ).
fn records(out: &Path) -> std::collections::BTreeMap<String, Value> {
    let text = std::fs::read_to_string(out.join("flows.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut r: Value = serde_json::from_str(l).unwrap();
            // Packet time aside; `source` (the replayed file) has no live counterpart.
            r.as_object_mut().unwrap().remove("ts");
            r.as_object_mut().unwrap().remove("source");
            (r["uid"].as_str().unwrap().to_owned(), r)
        })
        .collect()
}

fn stream_and_compare(name: &str) {
    stream_and_compare_with(name, false);
}

/// Streams `name`; with `save`, `--write-pcap` keeps every packet received, and replaying that
/// file gives the same records again.
fn stream_and_compare_with(name: &str, save: bool) {
    // One stream at a time: two captures and two senders at once on a small CI machine are what
    // overflowed a receive buffer once in seven runs.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let path = common::root().join("captures/pcapdroid").join(name);
    let grams = datagrams(&std::fs::read(&path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let port = free_port();
    let saved = dir.path().join("saved.pcap");
    let extra: Vec<&std::ffi::OsStr> = if save {
        vec![
            "--write-pcap".as_ref(),
            saved.as_os_str(),
            "--write-pcap-keep".as_ref(),
            "all".as_ref(),
        ]
    } else {
        Vec::new()
    };
    let mut cap = Capture::start(port, &out, &extra);
    // A stranger first: refused, counted, and its bytes never reach the pipeline.
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger.send_to(&grams[0], ("127.0.0.1", port)).unwrap();
    stranger.send_to(&grams[1], ("127.0.0.1", port)).unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, g) in grams.iter().enumerate() {
        phone.send_to(g, ("127.0.0.1", port)).unwrap();
        // Paced (about 4 000 datagrams/s), so that the kernel's receive buffer never overflows
        // even when the machine is busy: a dropped datagram would be a missing packet.
        if i % 4 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let is_packet = |g: &Vec<u8>| g[..4] != [0xad, 0x0b, 0, 0];
    let packets = grams.iter().skip(1).filter(|g| is_packet(g)).count() as u64;
    let stats = wait_delivered(&out, packets);
    cap.stop();
    let udp = &stats["udp"];
    assert_eq!(stats["delivered"], packets, "{stats}");
    assert_eq!(udp["refused"], 2, "{stats}");
    assert_eq!(udp["headers"], 1, "{stats}");
    assert_eq!((udp["malformed"].as_u64(), udp["no_header"].as_u64()), (Some(0), Some(0)));
    let live = records(&out);
    // The same binary replays the file, with the same (default) geo databases as the capture.
    let replay_out = dir.path().join("replay");
    let st = Command::new(env!("CARGO_BIN_EXE_leakscope"))
        .args(["replay", "-q", "--out"])
        .arg(&replay_out)
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    let replayed = records(&replay_out);
    if std::env::var_os("PCAPDROID_LIVE_DEBUG").is_some() {
        eprintln!("stats {stats}");
        for r in live.values() {
            eprintln!("live   {r}");
        }
        for r in replayed.values() {
            eprintln!("replay {r}");
        }
    }
    assert_eq!(live.len(), replayed.len(), "{name}");
    assert!(live.len() >= 10, "{name}: {} records", live.len());
    for (uid, r) in &replayed {
        assert_eq!(live.get(uid), Some(r), "{name}: flow {uid} differs from the replayed one");
    }
    if name.contains("trailer") || name.contains("apps") {
        assert!(live.values().all(|r| r["app"].is_string()), "{name}: a flow without app");
    }
    if save {
        let again = dir.path().join("again");
        let st = Command::new(env!("CARGO_BIN_EXE_leakscope"))
            .args(["replay", "-q", "--out"])
            .arg(&again)
            .arg(&saved)
            .status()
            .unwrap();
        assert!(st.success());
        let again = records(&again);
        assert_eq!(again, replayed, "{name}: the saved packets replay differently");
    }
}

#[test]
fn pcapdroid_pcapng_stream_names_the_apps() {
    stream_and_compare("phone-apps.pcapng");
}

#[test]
fn write_pcap_keeps_what_the_stream_brought() {
    // With the trailer: the saved file names the apps again.
    stream_and_compare_with("phone-trailer.pcap", true);
}

#[test]
fn pcap_stream_with_trailer_gives_the_replayed_records() {
    stream_and_compare("phone-trailer.pcap");
}

#[test]
fn pcapng_stream_gives_the_replayed_records() {
    stream_and_compare("phone-raw.pcapng");
}
