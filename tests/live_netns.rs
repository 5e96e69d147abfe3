//! End-to-end live capture inside two private network namespaces the test creates ("phone" and
//! "laptop", a veth pair, 10.99.0.2/24 and 10.99.0.1/24): nothing leaves the machine. Needs root
//! and `ip netns`; skips without them, except under CI (`CI=true`), where it fails.
//!
//! The traffic comes from `tests/live/traffic.py` (a DNS responder and TCP sinks on the laptop, a
//! DNS query, a TLS ClientHello and a WhatsApp preface from the phone).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::{Value, json};

const LAPTOP_ADDR: &str = "10.99.0.1";
const PHONE_ADDR: &str = "10.99.0.2";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why the test cannot run; fails under CI.
fn skip(test: &str, why: &str) {
    if in_ci() {
        panic!("{test}: {why} (required in CI)");
    }
    eprintln!("SKIPPED {test}: {why}");
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair; deleted on drop, also when the test fails.
struct Netns {
    phone: String,
    laptop: String,
    /// The laptop side of the veth: the capture interface.
    iface: String,
}

impl Netns {
    /// Creates the namespaces, or says why not (and returns `None`).
    fn create(test: &str, tag: &str) -> Option<Netns> {
        if !nix::unistd::Uid::effective().is_root() {
            skip(test, "needs root to create network namespaces");
            return None;
        }
        let probe = Command::new("ip").args(["netns", "list"]).output();
        if !probe.is_ok_and(|o| o.status.success()) {
            skip(test, "`ip netns` is not available (install iproute2)");
            return None;
        }
        if Command::new("python3").arg("-V").output().is_err() {
            skip(test, "python3 is not available");
            return None;
        }
        let id = std::process::id() % 100_000;
        let ns = Netns {
            phone: format!("lsp-{tag}-{id}"),
            laptop: format!("lsl-{tag}-{id}"),
            iface: format!("lsv{tag}{id}"),
        };
        let peer = format!("lsw{tag}{id}");
        run_ok(Command::new("ip").args(["netns", "add", &ns.phone]));
        run_ok(Command::new("ip").args(["netns", "add", &ns.laptop]));
        run_ok(Command::new("ip").args([
            "link", "add", &ns.iface, "netns", &ns.laptop, "type", "veth", "peer", "name", &peer,
            "netns", &ns.phone,
        ]));
        for (netns, dev, addr) in
            [(&ns.laptop, &ns.iface, LAPTOP_ADDR), (&ns.phone, &peer, PHONE_ADDR)]
        {
            // No IPv6: router solicitations and MLD would make the flow list vary.
            run_ok(&mut ns.exec(netns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]));
            run_ok(&mut ns.exec(netns, &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]));
            run_ok(&mut ns.exec(netns, &["ip", "addr", "add", &format!("{addr}/24"), "dev", dev]));
            run_ok(&mut ns.exec(netns, &["ip", "link", "set", dev, "up"]));
            run_ok(&mut ns.exec(netns, &["ip", "link", "set", "lo", "up"]));
        }
        Some(ns)
    }

    fn exec(&self, netns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", netns]).args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in [&self.phone, &self.laptop] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// A background process whose stderr (or stdout) lines are collected; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(mut cmd: Command, watch_stdout: bool) -> Proc {
        if watch_stdout {
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        } else {
            cmd.stderr(Stdio::piped()).stdout(Stdio::null());
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let (tx, lines) = mpsc::channel();
        let reader: Box<dyn std::io::Read + Send> = if watch_stdout {
            Box::new(child.stdout.take().expect("stdout"))
        } else {
            Box::new(child.stderr.take().expect("stderr"))
        };
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines, seen: Vec::new() }
    }

    /// Waits for a line containing `needle`.
    fn wait_for(&mut self, needle: &str, within: Duration) {
        let end = Instant::now() + within;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?} within {within:?}; got:\n{}", self.seen.join("\n"));
    }

    fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).unwrap_or_else(|e| panic!("kill {pid} {sig}: {e}"));
    }

    /// SIGTERM, then waits (bounded) for the exit.
    fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let end = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return st;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("no exit within {within:?} of SIGTERM; output:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn traffic_py() -> PathBuf {
    common::root().join("tests/live/traffic.py")
}

fn start_capture(ns: &Netns, out: &Path, extra: &[&str]) -> Proc {
    let mut cmd =
        ns.exec(&ns.laptop, &[env!("CARGO_BIN_EXE_leakscope"), "capture", "-i", &ns.iface]);
    cmd.arg("-o").arg(out).args(["--stats-interval", "1"]).args(extra);
    let mut p = Proc::spawn(cmd, false);
    p.wait_for("capturing on", Duration::from_secs(10));
    p
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// The last `stats.jsonl` line, written at shutdown.
fn final_stats(out: &Path) -> Value {
    let lines = read_jsonl(&out.join("stats.jsonl"));
    let last = lines.last().expect("stats lines").clone();
    assert_eq!(last["final"], true, "last stats line is the final one: {last}");
    last
}

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[p];
    }
    v.as_u64().unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

/// Every packet pcap counted (received − dropped) reached the pipeline, and every packet the
/// pipeline got is in a flow record or a tally. (Not on loopback, where the kernel counts each
/// packet twice: these tests capture on a veth.)
fn assert_accounted(stats: &Value, flows: &[Value]) {
    let (received, dropped) = (u(stats, &["received"]), u(stats, &["dropped"]));
    let delivered = u(stats, &["delivered"]);
    assert!(delivered >= received - dropped, "pcap counted more than was delivered: {stats}");
    let pipeline = u(stats, &["pipeline", "packets"]);
    assert_eq!(pipeline, delivered, "packets lost between capture thread and pipeline: {stats}");
    let in_flows: u64 = flows.iter().map(|f| u(f, &["orig_pkts"]) + u(f, &["resp_pkts"])).sum();
    let errors: u64 = stats["pipeline"]["decode_errors"]
        .as_object()
        .expect("decode_errors")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    let tallied = in_flows + u(stats, &["pipeline", "not_ip"]) + errors;
    assert_eq!(tallied, pipeline, "packets neither in a flow nor tallied: {stats}");
}

/// Packets of `filter` in a pcap, as tcpdump counts them: independent of leakscope.
fn tcpdump_count(pcap: &Path, filter: &str) -> u64 {
    let out = run_ok(Command::new("tcpdump").arg("-nr").arg(pcap).arg(filter));
    out.lines().count() as u64
}

/// A record without the fields that depend on when the packet was timestamped.
fn timeless(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().expect("record");
    o.remove("ts");
    o.remove("duration");
    // Replay names the capture file; a live record has none.
    o.remove("source");
    v
}

#[test]
fn live_capture_of_a_phone_equals_replay() {
    let test = "live_capture_of_a_phone_equals_replay";
    let Some(ns) = Netns::create(test, "a") else { return };
    let have_tcpdump = Command::new("tcpdump").arg("--version").output().is_ok();
    if !have_tcpdump {
        skip(test, "tcpdump is not available");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let raw = dir.path().join("tcpdump.pcap");
    let live_pcap = dir.path().join("live.pcap");

    // An independent witness of what crossed the veth. Immediate mode: otherwise packets still
    // in a TPACKET_V3 block when it is stopped never reach the file.
    let mut witness =
        ns.exec(&ns.laptop, &["tcpdump", "--immediate-mode", "-U", "-n", "-i", &ns.iface, "-w"]);
    witness.arg(&raw);
    let mut witness = Proc::spawn(witness, false);
    witness.wait_for("listening on", Duration::from_secs(10));
    // The default --write-pcap keeps Meta flows by verdict: here the server is a test address
    // outside every Meta prefix, so only the SNI, the preface and the DNS answer name them.
    let mut capture = start_capture(&ns, &out, &["--write-pcap", live_pcap.to_str().unwrap()]);
    let mut server = ns.exec(&ns.laptop, &["python3"]);
    server.arg(traffic_py()).args(["serve", LAPTOP_ADDR]);
    let mut server = Proc::spawn(server, true);
    server.wait_for("ready", Duration::from_secs(10));

    let mut phone = ns.exec(&ns.phone, &["timeout", "20", "python3"]);
    phone.arg(traffic_py()).args(["phone", LAPTOP_ADDR]);
    let answered = run_ok(&mut phone);
    assert_eq!(answered.trim(), LAPTOP_ADDR, "the test resolver's answer");
    std::thread::sleep(Duration::from_millis(300));

    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));
    witness.terminate(Duration::from_secs(10));
    drop(server);

    let flows = read_jsonl(&out.join("flows.jsonl"));
    let find = |proto: &str, port: u64| -> &Value {
        flows
            .iter()
            .find(|f| f["proto"] == proto && f["resp_p"] == port && f["orig_h"] == PHONE_ADDR)
            .unwrap_or_else(|| panic!("no {proto} flow to port {port} in {flows:#?}"))
    };
    let dns = find("udp", 53);
    assert_eq!((u(dns, &["orig_pkts"]), u(dns, &["resp_pkts"])), (1, 1), "{dns}");
    for (port, what) in [(443, "TLS ClientHello"), (5222, "WhatsApp preface")] {
        let f = find("tcp", port);
        let expected = tcpdump_count(&raw, &format!("tcp port {port}"));
        assert_eq!(u(f, &["orig_pkts"]) + u(f, &["resp_pkts"]), expected, "{what}: {f}");
        assert_eq!(f["conn_state"], "SF", "{what}: {f}");
        assert!(u(f, &["orig_bytes"]) > 0, "{what}: {f}");
    }
    // Classified live as in replay: the SNI names WhatsApp chat, the preface is its signature,
    // and the DNS answer names the server of the preface connection.
    let tls = find("tcp", 443);
    assert_eq!(
        (&tls["service"], &tls["endpoint"], &tls["server_name"], &tls["confidence"]),
        (&json!("whatsapp"), &json!("whatsapp.chat"), &json!("g.whatsapp.net"), &json!("sni")),
        "{tls}"
    );
    let wa = find("tcp", 5222);
    assert_eq!(
        (&wa["service"], &wa["endpoint"], &wa["server_name"], &wa["confidence"]),
        (
            &json!("whatsapp"),
            &json!("whatsapp.chat"),
            &json!("g.whatsapp.net"),
            &json!("signature")
        ),
        "{wa}"
    );
    let stats = final_stats(&out);
    assert_eq!(u(&stats, &["dropped"]), 0, "{stats}");
    assert_accounted(&stats, &flows);
    let meta = flows.iter().filter(|f| !f["service"].is_null()).count() as u64;
    assert_eq!(u(&stats, &["meta_records"]), meta, "{stats}");
    // The pcap holds the Meta flows' packets and the DNS exchange, as counted.
    let dns_and_meta: u64 = flows
        .iter()
        .filter(|f| !f["service"].is_null() || f["app_proto"] == "dns")
        .map(|f| u(f, &["orig_pkts"]) + u(f, &["resp_pkts"]))
        .sum();
    assert_eq!(u(&stats, &["write_pcap", "written"]), dns_and_meta, "{stats}");
    assert_eq!(tcpdump_count(&live_pcap, ""), dns_and_meta, "packets in {}", live_pcap.display());

    // Live equals replay of tcpdump's capture; replaying leakscope's own pcap gives the same
    // Meta flows and the DNS conversation that named them, nothing else.
    let live: Vec<Value> = flows.iter().map(timeless).collect();
    let (_, _keep, replayed) = common::replay_to_temp(std::slice::from_ref(&raw));
    let replayed: Vec<Value> = replayed.iter().map(timeless).collect();
    assert_eq!(live, replayed, "live records differ from a replay of tcpdump's capture");
    let without_uid = |v: &Value| {
        let mut v = timeless(v);
        v.as_object_mut().expect("record").remove("uid");
        v
    };
    let kept: Vec<Value> = flows
        .iter()
        .filter(|f| !f["service"].is_null() || f["app_proto"] == "dns")
        .map(without_uid)
        .collect();
    assert_eq!(kept.len(), 3, "DNS, TLS and preface flows: {kept:#?}");
    let (_, _keep, replayed) = common::replay_to_temp(std::slice::from_ref(&live_pcap));
    let replayed: Vec<Value> = replayed.iter().map(without_uid).collect();
    assert_eq!(kept, replayed, "Meta flows differ in a replay of --write-pcap's file");
}

#[test]
fn sigterm_in_the_middle_of_traffic_loses_nothing() {
    let test = "sigterm_in_the_middle_of_traffic_loses_nothing";
    let Some(ns) = Netns::create(test, "b") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // The other tests use the default inline hand-off; this one the batched one, whose channel
    // must be drained at shutdown too.
    let mut capture = start_capture(&ns, &out, &["--handoff", "batch"]);

    let mut flood = ns.exec(&ns.phone, &["timeout", "20", "python3"]);
    flood.arg(traffic_py()).args(["flood", LAPTOP_ADDR, "3"]);
    let mut flood = Proc::spawn(flood, true);
    std::thread::sleep(Duration::from_millis(1500));
    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));
    flood.wait_for("", Duration::from_secs(10));

    let flows = read_jsonl(&out.join("flows.jsonl"));
    let stats = final_stats(&out);
    eprintln!("{test}: {} flow records, final stats {stats}", flows.len());
    assert!(u(&stats, &["received"]) > 1000, "the flood was captured: {stats}");
    assert_accounted(&stats, &flows);
    assert!(
        flows.iter().all(|f| f["end_reason"] != "evicted"),
        "no flow evicted in a 64-flow flood"
    );
}

/// Runs the phone's traffic once (DNS, TLS, WhatsApp preface).
fn phone_once(ns: &Netns) {
    let mut phone = ns.exec(&ns.phone, &["timeout", "20", "python3"]);
    phone.arg(traffic_py()).args(["phone", LAPTOP_ADDR]);
    assert_eq!(run_ok(&mut phone).trim(), LAPTOP_ADDR);
}

/// Polls `cond` every 100 ms until it holds or `within` passes.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

#[test]
fn silent_link_expires_flows_and_sighup_reopens_outputs() {
    let test = "silent_link_expires_flows_and_sighup_reopens_outputs";
    let Some(ns) = Netns::create(test, "c") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let mut capture = start_capture(&ns, &out, &["--udp-timeout", "2", "--tcp-timeout", "2"]);
    let mut server = ns.exec(&ns.laptop, &["python3"]);
    server.arg(traffic_py()).args(["serve", LAPTOP_ADDR]);
    let mut server = Proc::spawn(server, true);
    server.wait_for("ready", Duration::from_secs(10));

    // No packet after the phone's: only the wall-clock tick can expire the DNS flow (idle) and
    // end the closed TCP flows (after the 5 s close linger), and the records must reach the
    // file (flushed every second) while capture goes on.
    phone_once(&ns);
    let flows = out.join("flows.jsonl");
    let all_written = || {
        let text = std::fs::read_to_string(&flows).unwrap_or_default();
        let records: Vec<Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
        let has = |port: u64, reason: &str| {
            records.iter().any(|v| v["resp_p"] == port && v["end_reason"] == reason)
        };
        has(53, "idle") && has(443, "fin") && has(5222, "fin")
    };
    assert!(
        eventually(Duration::from_secs(15), all_written),
        "flows not expired on a silent link: {:?}",
        std::fs::read_to_string(&flows)
    );

    // logrotate: move the file away, SIGHUP, and the next records go to a new flows.jsonl.
    let rotated = out.join("flows.jsonl.1");
    std::fs::rename(&flows, &rotated).expect("rename");
    capture.signal(Signal::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || flows.exists()), "SIGHUP did not reopen");
    phone_once(&ns);
    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));
    drop(server);

    let first = read_jsonl(&rotated);
    let second = read_jsonl(&flows);
    for (name, records) in [("before SIGHUP", &first), ("after SIGHUP", &second)] {
        for port in [53, 443, 5222] {
            assert_eq!(
                records.iter().filter(|f| f["resp_p"] == port).count(),
                1,
                "{name}: one flow to port {port}: {records:#?}"
            );
        }
    }
}

/// The (CapEff, CapPrm, CapBnd) masks of every thread of `pid`.
fn thread_caps(pid: u32) -> Vec<(String, u64, u64, u64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir").flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let mask = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(u64::MAX)
        };
        let name = task.file_name().to_string_lossy().into_owned();
        out.push((name, mask("CapEff:"), mask("CapPrm:"), mask("CapBnd:")));
    }
    out
}

/// Issue 12 item 10: after the interface is open, no thread of the daemon holds a capability,
/// as root (switching to nobody, bounding set emptied) and as a setcap binary run by a user
/// (which kept CAP_NET_RAW and CAP_NET_ADMIN for the whole run before).
#[test]
fn no_thread_keeps_a_capability() {
    let test = "no_thread_keeps_a_capability";
    let Some(ns) = Netns::create(test, "d") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let pid_is_leakscope = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "leakscope")
    };

    // Root mode.
    let mut capture = start_capture(&ns, &dir.path().join("root-out"), &[]);
    let pid = capture.child.id();
    assert!(pid_is_leakscope(pid), "pid {pid} is the daemon");
    std::thread::sleep(Duration::from_millis(300)); // the capture thread is up
    let caps = thread_caps(pid);
    assert!(caps.len() >= 2, "the capture thread runs: {caps:?}");
    for (tid, eff, prm, bnd) in &caps {
        assert_eq!((*eff, *prm, *bnd), (0, 0, 0), "root mode, thread {tid}");
    }
    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));

    // setcap mode: a copy of the binary with the two capabilities, run by nobody.
    let bin = dir.path().join("leakscope");
    std::fs::copy(env!("CARGO_BIN_EXE_leakscope"), &bin).unwrap();
    if !Command::new("setcap")
        .arg("cap_net_raw,cap_net_admin+ep")
        .arg(&bin)
        .status()
        .is_ok_and(|s| s.success())
    {
        skip(test, "setcap is not available or the filesystem has no file capabilities");
        return;
    }
    let out = dir.path().join("setcap-out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mut cmd =
        ns.exec(&ns.laptop, &["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    cmd.arg(&bin).args(["capture", "-i", &ns.iface]).arg("-o").arg(&out);
    cmd.args(["--stats-interval", "1"]);
    let mut capture = Proc::spawn(cmd, false);
    capture.wait_for("capturing on", Duration::from_secs(10));
    let pid = capture.child.id();
    assert!(pid_is_leakscope(pid), "pid {pid} is the daemon");
    std::thread::sleep(Duration::from_millis(300)); // the capture thread is up
    for (tid, eff, prm, _) in thread_caps(pid) {
        assert_eq!((eff, prm), (0, 0), "setcap mode, thread {tid}");
    }
    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));
    assert!(out.join("stats.jsonl").exists(), "the setcap daemon wrote its outputs");
}

/// Issue 12 item 11: with its stderr pipe closed, the daemon died (exit 101) at its next log
/// line and flushed nothing. Now a broken stderr is ignored: it captures on, and SIGTERM still
/// writes everything.
#[test]
fn closed_stderr_neither_kills_nor_loses() {
    let test = "closed_stderr_neither_kills_nor_loses";
    let Some(ns) = Netns::create(test, "e") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let mut cmd =
        ns.exec(&ns.laptop, &[env!("CARGO_BIN_EXE_leakscope"), "capture", "-i", &ns.iface]);
    cmd.arg("-o").arg(&out).args(["--stats-interval", "1"]);
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("capturing on") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "daemon ended before capturing");
    }
    drop(err); // the pipe's reader is gone: every later write to stderr fails
    let mut server = ns.exec(&ns.laptop, &["python3"]);
    server.arg(traffic_py()).args(["serve", LAPTOP_ADDR]);
    let mut server = Proc::spawn(server, true);
    server.wait_for("ready", Duration::from_secs(10));
    phone_once(&ns);
    std::thread::sleep(Duration::from_millis(2500)); // stats lines (1 s) meet the closed pipe
    assert!(child.try_wait().unwrap().is_none(), "the daemon died on a closed stderr");
    nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let st = child.wait().unwrap();
    drop(server);
    assert!(st.success(), "capture exit {st}");
    let flows = read_jsonl(&out.join("flows.jsonl"));
    for port in [53, 443, 5222] {
        assert!(
            flows.iter().any(|f| f["resp_p"] == port),
            "flow to port {port} written: {flows:#?}"
        );
    }
    final_stats(&out); // the last stats line is the final one
}

/// The output options of `replay` work live: a SQLite database and anonymised output, built by
/// the same assembly. The phone's and the laptop's (private) addresses never reach an output; the
/// database holds the records of flows.jsonl.
#[test]
fn live_capture_writes_sqlite_and_anonymised_output() {
    let test = "live_capture_writes_sqlite_and_anonymised_output";
    let Some(ns) = Netns::create(test, "s") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let db = out.join("flows.sqlite");
    let extra = ["--sqlite", db.to_str().unwrap(), "--anonymize", "live-test-key"];
    let mut capture = start_capture(&ns, &out, &extra);
    let mut server = ns.exec(&ns.laptop, &["python3"]);
    server.arg(traffic_py()).args(["serve", LAPTOP_ADDR]);
    let mut server = Proc::spawn(server, true);
    server.wait_for("ready", Duration::from_secs(10));
    phone_once(&ns);
    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));
    drop(server);

    let flows = read_jsonl(&out.join("flows.jsonl"));
    for port in [53, 443, 5222] {
        assert!(flows.iter().any(|f| f["resp_p"] == port), "a flow to port {port}: {flows:#?}");
    }
    for name in ["flows.jsonl", "events.jsonl"] {
        let text = std::fs::read_to_string(out.join(name)).expect(name);
        for addr in [PHONE_ADDR, LAPTOP_ADDR] {
            assert!(!text.contains(addr), "{name} shows {addr} despite --anonymize:\n{text}");
        }
    }
    let conn = rusqlite::Connection::open(&db).expect("database");
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT uid, orig_h, resp_p FROM flows ORDER BY uid")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let mut want: Vec<(String, String, i64)> = flows
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().expect(k).to_owned();
            (s("uid"), s("orig_h"), f["resp_p"].as_i64().expect("resp_p"))
        })
        .collect();
    want.sort();
    assert_eq!(rows, want, "the database holds the records of flows.jsonl");
    assert!(rows.iter().all(|(_, h, _)| h != PHONE_ADDR && h != LAPTOP_ADDR), "{rows:?}");
}

/// `capture --parquet`: SIGTERM writes every file's footer (no `.tmp` left), and the flows
/// dataset holds the records of flows.jsonl.
#[test]
fn live_capture_writes_parquet_footers_on_sigterm() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let test = "live_capture_writes_parquet_footers_on_sigterm";
    let Some(ns) = Netns::create(test, "q") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // Under the output directory, which the capture user may write.
    let lake = out.join("lake");
    let mut capture = start_capture(&ns, &out, &["--parquet", lake.to_str().unwrap()]);
    let mut server = ns.exec(&ns.laptop, &["python3"]);
    server.arg(traffic_py()).args(["serve", LAPTOP_ADDR]);
    let mut server = Proc::spawn(server, true);
    server.wait_for("ready", Duration::from_secs(10));
    phone_once(&ns);
    let st = capture.terminate(Duration::from_secs(20));
    assert!(st.success(), "capture exit {st}; output:\n{}", capture.seen.join("\n"));
    drop(server);

    let flows = read_jsonl(&out.join("flows.jsonl"));
    assert!(!flows.is_empty());
    let mut files = Vec::new();
    let mut stack = vec![lake.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.iter().all(|f| f.extension().is_some_and(|x| x == "parquet")), "{files:?}");
    let rows: i64 = files
        .iter()
        .filter(|f| f.starts_with(lake.join("flows")))
        .map(|f| {
            let r =
                SerializedFileReader::new(std::fs::File::open(f).expect("open")).expect("footer");
            r.metadata().file_metadata().num_rows()
        })
        .sum();
    assert_eq!(rows as usize, flows.len(), "flows dataset against flows.jsonl");
    assert!(files.iter().any(|f| f.starts_with(lake.join("events/dns"))), "{files:?}");
}
