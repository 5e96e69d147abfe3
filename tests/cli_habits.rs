//! The command line as tcpdump and Zeek users expect it (issue 16): record fields shared with
//! other tools, tcpdump's options, CSV, provenance, lookup, logs, directory replay.

mod builders;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};

use builders::{Pcap, bin, udp};

fn leakscope() -> Command {
    Command::new(bin())
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("output file");
    text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

const DEV: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 5);
const SRV: Ipv4Addr = Ipv4Addr::new(157, 240, 1, 1);

/// Two files: a flow that starts in the first and goes on in the second, and one that starts in
/// the second.
fn two_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    let mut p = Pcap::ethernet();
    p.record(1_000_000, &udp((DEV, 40000), (SRV, 3478), b"x"));
    p.write(&a);
    let mut p = Pcap::ethernet();
    p.record(2_000_000, &udp((SRV, 3478), (DEV, 40000), b"y"));
    p.record(3_000_000, &udp((DEV, 40001), (SRV, 3478), b"z"));
    p.write(&b);
    (a, b)
}

#[test]
fn records_name_the_file_of_their_first_packet() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_files(tmp.path());
    let out = tmp.path().join("out");
    ok(&builders::replay_bin(&out, &[&a, &b], &[]));
    let flows = lines(&out.join("flows.jsonl"));
    let by_port = |p: u64| flows.iter().find(|f| f["orig_p"] == p).expect("flow");
    assert_eq!(by_port(40000)["source"], a.to_str().unwrap());
    assert_eq!(by_port(40000)["resp_pkts"], 1, "the flow spans both files");
    assert_eq!(by_port(40001)["source"], b.to_str().unwrap());
}

#[test]
fn community_ids_are_the_ones_wireshark_computes() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let theirs = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["--enable-protocol", "communityid", "-T", "fields", "-e", "communityid"])
        .output();
    let Some(theirs) = theirs.ok().filter(|o| o.status.success()) else {
        assert!(!builders::in_ci(), "tshark is needed in CI");
        eprintln!("SKIPPED community_ids_are_the_ones_wireshark_computes: no tshark");
        return;
    };
    let theirs: std::collections::BTreeSet<String> =
        String::from_utf8_lossy(&theirs.stdout).lines().map(str::to_owned).collect();
    let tmp = tempfile::tempdir().unwrap();
    ok(&builders::replay_bin(tmp.path(), &[&pcap], &[]));
    let ours: std::collections::BTreeSet<String> = lines(&tmp.path().join("flows.jsonl"))
        .iter()
        .map(|f| f["community_id"].as_str().expect("community_id").to_owned())
        .collect();
    assert!(ours.len() > 10, "{ours:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn anonymised_records_carry_the_community_id_of_their_pseudonyms() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let (plain, anon) = (tmp.path().join("plain"), tmp.path().join("anon"));
    ok(&builders::replay_bin(&plain, &[&pcap], &[]));
    ok(&builders::replay_bin(&anon, &[&pcap], &["--anonymize", "key"]));
    let (plain, anon) = (lines(&plain.join("flows.jsonl")), lines(&anon.join("flows.jsonl")));
    assert_eq!(plain.len(), anon.len());
    let mut changed = 0;
    for (p, a) in plain.iter().zip(&anon) {
        let proto = match a["proto"].as_str().unwrap() {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            other => other.parse().unwrap(),
        };
        let port = |k: &str| a[k].as_u64().unwrap() as u16;
        let addr = |k: &str| a[k].as_str().unwrap().parse().unwrap();
        let want = leakscope::record::community_id::community_id(
            0,
            addr("orig_h"),
            port("orig_p"),
            addr("resp_h"),
            port("resp_p"),
            proto,
        );
        assert_eq!(a["community_id"], want.as_str());
        changed += usize::from(p["community_id"] != a["community_id"]);
    }
    assert!(changed > 10, "the real addresses' ids must not survive: {changed}");
}

fn flows_of(out: &Path) -> Vec<serde_json::Value> {
    lines(&out.join("flows.jsonl"))
}

#[test]
fn trailing_words_are_a_bpf_filter_and_r_names_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_files(tmp.path());
    let out = tmp.path().join("words");
    ok(&builders::replay_bin(&out, &[&a, &b], &["udp", "and", "src", "port", "40001"]));
    let ports: Vec<_> = flows_of(&out).iter().map(|f| f["orig_p"].clone()).collect();
    assert_eq!(ports, [40001]);
    // -r: every positional word is filter.
    let out = tmp.path().join("r");
    let o = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(&out)
        .arg("-r")
        .arg(&a)
        .arg("-r")
        .arg(&b)
        .args(["src", "port", "3478"])
        .output()
        .unwrap();
    ok(&o);
    let f = flows_of(&out);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0]["orig_pkts"].as_u64(), f[0]["resp_pkts"].as_u64()), (Some(0), Some(1)));
    // A filter twice, or none of the inputs, is an error.
    let o = builders::replay_bin(&out, &[&a], &["udp", "-f", "tcp"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("two filters"), "{o:?}");
    let o = leakscope().args(["-q", "replay", "-o"]).arg(&out).args(["udp"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such capture"), "{o:?}");
}

#[test]
fn count_and_duration_stop_a_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_files(tmp.path());
    let pkts = |f: &[serde_json::Value]| -> u64 {
        f.iter().map(|r| r["orig_pkts"].as_u64().unwrap() + r["resp_pkts"].as_u64().unwrap()).sum()
    };
    for (args, want_pkts, want_flows) in [
        (&["-c", "2"][..], 2, 1),
        (&["-c", "1"][..], 1, 1),
        (&["--count", "3"][..], 3, 2),
        (&["--duration", "1.5s"][..], 2, 1),
        (&["--duration", "1"][..], 1, 1),
    ] {
        let out = tmp.path().join(args.join("_"));
        ok(&builders::replay_bin(&out, &[&a, &b], args));
        let f = flows_of(&out);
        assert_eq!((pkts(&f), f.len()), (want_pkts, want_flows), "{args:?}");
    }
}

#[test]
fn stdin_and_w_work_as_with_tcpdump() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = two_files(tmp.path());
    let out = tmp.path().join("stdin");
    let kept = tmp.path().join("kept.pcap");
    let o = leakscope()
        .args(["-q", "replay", "-", "-o"])
        .arg(&out)
        .arg("-w")
        .arg(&kept)
        .args(["--write-pcap-keep", "all"])
        .stdin(std::fs::File::open(&a).unwrap())
        .output()
        .unwrap();
    ok(&o);
    let f = flows_of(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["source"], "-");
    // The kept file is the input again (one packet).
    let o = builders::replay_bin(&tmp.path().join("again"), &[&kept], &[]);
    ok(&o);
    assert_eq!(flows_of(&tmp.path().join("again"))[0]["orig_pkts"], 1);
}

/// Live capture on the loopback interface, stopped by `-c` and by `--duration`. Needs root.
#[test]
fn count_and_duration_stop_a_capture() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(!builders::in_ci(), "needs root in CI");
        eprintln!("SKIPPED count_and_duration_stop_a_capture: needs root");
        return;
    }
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dur");
    let started = std::time::Instant::now();
    let o = leakscope()
        .args(["capture", "-i", "lo", "--user", "root", "--duration", "1", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    ok(&o);
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "{:?}", started.elapsed());
    assert!(out.join("flows.jsonl").exists());

    let out = tmp.path().join("count");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut child = leakscope()
        .args(["capture", "-i", "lo", "--user", "root", "-c", "3", "-o"])
        .arg(&out)
        .args(["udp", "and", "dst", "port", &port.to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("capturing on") {}
    assert!(line.contains("capturing on"), "{line}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        sock.send_to(b"ping", ("127.0.0.1", port)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "capture -c 3 did not stop");
    };
    assert!(status.success());
    let f = flows_of(&out);
    let pkts: u64 = f.iter().map(|r| r["orig_pkts"].as_u64().unwrap()).sum();
    assert_eq!(pkts, 3, "{f:?}");
}

#[test]
fn out_dash_streams_flows_and_events_with_a_kind() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let o = leakscope().args(["-q", "replay", "--out", "-"]).arg(&pcap).output().unwrap();
    ok(&o);
    let tmp = tempfile::tempdir().unwrap();
    ok(&builders::replay_bin(tmp.path(), &[&pcap], &[]));
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut flows = Vec::new();
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        let kind = v["kind"].as_str().expect("every line has a kind").to_owned();
        *kinds.entry(kind.clone()).or_default() += 1;
        if kind == "flow" {
            v.as_object_mut().unwrap().remove("kind");
            flows.push(v);
        }
    }
    // The same records as in the directory's two files.
    assert_eq!(flows, flows_of(tmp.path()));
    let events = lines(&tmp.path().join("events.jsonl"));
    assert_eq!(kinds.values().sum::<usize>(), flows.len() + events.len());
    assert!(kinds.contains_key("dns") && kinds.contains_key("device"), "{kinds:?}");
}

/// RFC 4180 rows (quoted fields with doubled quotes, CRLF line ends).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[test]
fn csv_holds_one_row_per_flow_record() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("flows.csv");
    let o =
        builders::replay_bin(&tmp.path().join("out"), &[&pcap], &["--csv", csv.to_str().unwrap()]);
    ok(&o);
    let rows = parse_csv(&std::fs::read_to_string(&csv).unwrap());
    let flows = flows_of(&tmp.path().join("out"));
    assert_eq!(rows.len(), flows.len() + 1);
    let header = &rows[0];
    assert_eq!(header[..4], ["time", "ts", "uid", "community_id"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, f) in rows[1..].iter().zip(&flows) {
        assert_eq!(row.len(), header.len());
        for name in ["uid", "community_id", "orig_h", "resp_h", "conn_state"] {
            assert_eq!(row[col(name)], f[name].as_str().unwrap(), "{name}");
        }
        assert_eq!(row[col("orig_bytes")], f["orig_bytes"].to_string());
        assert_eq!(row[col("server_name")], f["server_name"].as_str().unwrap_or(""));
        let evidence: Vec<&str> = f["evidence"]
            .as_array()
            .map(|a| a.iter().map(|e| e.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(row[col("evidence")], evidence.join(" "));
    }
    assert!(rows[1][0].starts_with("2026-01-01T"), "{:?}", rows[1]);
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(std::fs::read(path).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn manifest_records_inputs_and_verify_notices_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_files(tmp.path());
    let out = tmp.path().join("out");
    let csv = out.join("flows.csv");
    ok(&builders::replay_bin(
        &out,
        &[&a, &b],
        &["--anonymize", "secret-key", "--csv", csv.to_str().unwrap()],
    ));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["command"], "replay");
    assert_eq!(m["leakscope"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["leakscope"]["commit"].as_str().unwrap().len(), 12);
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    for (e, p) in inputs.iter().zip([&a, &b]) {
        assert_eq!(e["path"], p.to_str().unwrap());
        assert_eq!(e["size"], std::fs::metadata(p).unwrap().len());
        assert_eq!(e["sha256"], sha256_hex(p));
    }
    let outputs: Vec<&str> =
        m["outputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(outputs, ["flows.jsonl", "events.jsonl", "flows.csv"]);
    assert_eq!(m["counts"]["packets"], 3);
    assert_eq!(m["counts"]["flow_records"], 2);
    // What the bounds pushed out is on record, not only printed.
    for k in ["certs_capped", "carried_evicted", "segments_refused"] {
        assert_eq!(m["counts"][k], 0, "{k}");
    }
    assert_eq!(m["counts"]["exposure_caps"]["devices_evicted"], 0);
    assert!(m["started"].as_str().unwrap() <= m["ended"].as_str().unwrap());
    assert_eq!(m["rules"]["sha256"].as_str().unwrap().len(), 64);
    let args = m["arguments"].to_string();
    assert!(!args.contains("secret-key") && args.contains("***"), "{args}");

    let verify = || leakscope().arg("verify").arg(&out).output().unwrap();
    let o = verify();
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), 5, "{text}");
    // One byte more in an input: found, exit 1.
    let mut bytes = std::fs::read(&b).unwrap();
    bytes.push(0);
    std::fs::write(&b, &bytes).unwrap();
    let o = verify();
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains(&format!("CHANGED  input  {}", b.display())), "{text}");
    std::fs::remove_file(&a).unwrap();
    let text = String::from_utf8_lossy(&verify().stdout).into_owned();
    assert!(text.contains(&format!("MISSING  input  {}", a.display())), "{text}");
    // Not an output directory: an error that says so.
    let o = leakscope().arg("verify").arg(tmp.path()).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.json"));
}

#[test]
fn manifest_rules_hash_follows_the_rules_in_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = two_files(tmp.path());
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("extra.toml"),
        "[service.whatsapp.role.chat]\nhosts = [\"chat.example.org\"]\n",
    )
    .unwrap();
    let hash = |extra: &[&str], name: &str| {
        let out = tmp.path().join(name);
        ok(&builders::replay_bin(&out, &[&a], extra));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        m["rules"]["sha256"].as_str().unwrap().to_owned()
    };
    let plain = hash(&[], "plain");
    assert_eq!(plain, hash(&[], "again"));
    assert_ne!(plain, hash(&["--rules", rules.to_str().unwrap()], "extra"));
}

#[test]
fn lookup_names_the_rule_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let file = rules.join("lab.toml");
    std::fs::write(
        &file,
        "# lab servers\n[service.whatsapp.role.chat]\nhosts = [\n  \"chat.lab.example\",\n]\nprefixes = [\"192.0.2.0/24\"]\n",
    )
    .unwrap();
    let run =
        |q: &[&str]| leakscope().arg("lookup").arg("--rules").arg(&rules).args(q).output().unwrap();
    let o = run(&["chat.lab.example", "192.0.2.7"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("chat.lab.example: whatsapp.chat"), "{text}");
    assert!(text.contains(&format!("{}:4", file.display())), "{text}");
    assert!(text.contains("192.0.2.7: whatsapp.chat"), "{text}");
    assert!(text.contains("by prefix 192.0.2.0/24"), "{text}");
    assert!(text.contains(&format!("{}:6", file.display())), "{text}");
    // The built-in rules, and a miss (exit 1, like grep).
    let o = run(&["mmg.whatsapp.net"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("rules/whatsapp.toml:"));
    let o = run(&["example.org"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no host rule matches"));
}

#[test]
fn logs_carry_no_colour_codes_and_can_be_json() {
    let pcap = root().join("captures/sample-hotspot.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    // stderr is a pipe here, as under systemd.
    let o = leakscope().args(["-vv", "replay", "-o"]).arg(&out).arg(&pcap).output().unwrap();
    ok(&o);
    assert!(o.stderr.len() > 200, "debug logs expected");
    assert!(!o.stderr.contains(&0x1b), "{}", String::from_utf8_lossy(&o.stderr));

    let o = leakscope()
        .args(["-v", "--log-format", "json", "replay", "-o"])
        .arg(&out)
        .arg(&pcap)
        .output()
        .unwrap();
    ok(&o);
    let text = String::from_utf8(o.stderr).unwrap();
    let recs: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON log line")).collect();
    assert!(recs.len() >= 2, "{text}");
    assert!(recs.iter().all(|r| r["level"].is_string() && r["fields"]["message"].is_string()));
    assert!(recs.iter().any(|r| r["fields"]["message"] == "file done"), "{text}");
    assert!(recs.iter().any(|r| r["fields"]["message"].as_str().unwrap().contains("flow records")));
    // A failure too.
    let o = leakscope()
        .args(["--log-format", "json", "replay", "-o"])
        .arg(&out)
        .arg("/nonexistent/x.pcap")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(r["level"], "ERROR");
    assert!(r["fields"]["message"].as_str().unwrap().contains("/nonexistent/x.pcap"));
}

#[test]
fn directory_replay_skips_files_that_are_not_captures() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("caps");
    std::fs::create_dir(&dir).unwrap();
    let (a, b) = two_files(&dir);
    std::fs::write(dir.join("README.md"), "# what these captures are\n").unwrap();
    std::fs::write(dir.join("a.pcap.out"), "Detected protocols: ...\n").unwrap();
    let gz = |path: &Path, data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(data).unwrap();
        e.finish().unwrap();
    };
    gz(&dir.join("events-1.jsonl.gz"), b"{\"kind\":\"dns\"}\n");
    gz(&dir.join("zz-capture.gz"), &std::fs::read(&b).unwrap());
    std::fs::remove_file(&b).unwrap();
    let out = tmp.path().join("out");
    let o = builders::replay_bin(&out, &[&dir], &[]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("not captures")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("skipped 3 file(s) that are not captures"), "{err}");
    assert!(err.contains("0 damaged input(s)"), "{err}");
    assert!(err.contains("2 file(s)"), "{err}");
    assert_eq!(flows_of(&out).len(), 2);
    let _ = a;
    // Named, it is still an error; a damaged file with a capture's name is still damaged.
    let o = builders::replay_bin(&out, &[&dir.join("README.md")], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a pcap or pcapng capture"));
    std::fs::write(dir.join("junk.pcap"), "not really").unwrap();
    let o = builders::replay_bin(&out, &[&dir], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 damaged input(s)"));
}

/// Under sudo (faked with its variables: the test runs as root), what a run creates belongs to
/// the invoking user; an existing directory keeps its owner.
#[test]
fn under_sudo_outputs_belong_to_the_invoking_user() {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::Uid::effective().is_root() {
        assert!(!builders::in_ci(), "needs root in CI");
        eprintln!("SKIPPED under_sudo_outputs_belong_to_the_invoking_user: needs root");
        return;
    }
    let owner = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        (m.uid(), m.gid())
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = two_files(tmp.path());
    let out = tmp.path().join("new-out");
    let csv = tmp.path().join("flows.csv");
    let o = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(&out)
        .arg("--csv")
        .arg(&csv)
        .arg(&a)
        .env("SUDO_UID", "4242")
        .env("SUDO_GID", "4343")
        .output()
        .unwrap();
    ok(&o);
    for p in [
        &out,
        &out.join("flows.jsonl"),
        &out.join("events.jsonl"),
        &out.join("manifest.json"),
        &csv,
    ] {
        assert_eq!(owner(p), (4242, 4343), "{}", p.display());
    }
    // Without sudo's variables: root's, as before. An existing directory is not taken over.
    let o = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(tmp.path())
        .arg(&a)
        .env("SUDO_UID", "4242")
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(owner(tmp.path()).0, 0);
    assert_eq!(owner(&tmp.path().join("flows.jsonl")), (4242, 4242));
    let o = leakscope()
        .args(["-q", "replay", "-o"])
        .arg(tmp.path().join("plain"))
        .arg(&a)
        .env_remove("SUDO_UID")
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(owner(&tmp.path().join("plain/flows.jsonl")).0, 0);

    // Capture: the process itself becomes the invoking user (here `daemon`, uid 1).
    let Ok(Some(daemon)) = nix::unistd::User::from_name("daemon") else {
        eprintln!("SKIPPED capture part: no user daemon");
        return;
    };
    let cap = tmp.path().join("cap");
    let o = leakscope()
        .args(["capture", "-i", "lo", "--duration", "1", "-o"])
        .arg(&cap)
        .env("SUDO_UID", daemon.uid.to_string())
        .env("SUDO_GID", daemon.gid.to_string())
        .output()
        .unwrap();
    ok(&o);
    let want = (daemon.uid.as_raw(), daemon.gid.as_raw());
    assert_eq!(owner(&cap), want);
    assert_eq!(owner(&cap.join("flows.jsonl")), want);
    assert_eq!(owner(&cap.join("manifest.json")), want);
}

/// `capture --live` on the loopback: the screen names the device and the endpoint a lab rule
/// gives 127.0.0.2. Needs root.
#[test]
fn live_view_shows_devices_and_their_meta_endpoints() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(!builders::in_ci(), "needs root in CI");
        eprintln!("SKIPPED live_view_shows_devices_and_their_meta_endpoints: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("lab.toml"),
        "[service.whatsapp.role.chat]\nprefixes = [\"127.0.0.2/32\"]\n",
    )
    .unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sock.send_to(b"hello", "127.0.0.2:5222");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let o = leakscope()
        .args(["capture", "-i", "lo", "--user", "root", "--live", "--duration", "3", "--rules"])
        .arg(&rules)
        .arg("-o")
        .arg(tmp.path().join("out"))
        .args(["udp", "port", "5222"])
        .output()
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    ok(&o);
    let screen = String::from_utf8_lossy(&o.stdout);
    let last = screen.rsplit("leakscope capture on lo").next().unwrap();
    assert!(last.contains("1 talking to Meta"), "{screen}");
    let row =
        last.lines().find(|l| l.starts_with("127.0.0.1")).unwrap_or_else(|| panic!("{screen}"));
    assert!(row.contains("whatsapp.chat") && row.contains("127.0.0.2"), "{row}");
}

/// `leakscope watch` is `capture --live`. Needs root.
#[test]
fn watch_is_capture_live() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(!builders::in_ci(), "needs root in CI");
        eprintln!("SKIPPED watch_is_capture_live: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = leakscope()
        .args(["watch", "-i", "lo", "--user", "root", "--duration", "1.5", "-o"])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    ok(&o);
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.starts_with("leakscope capture on lo"), "{screen}");
    assert!(screen.contains("DEVICE") && screen.contains("META ENDPOINT"), "{screen}");
    assert!(tmp.path().join("out/flows.jsonl").exists());
}

/// `bench --against N` alternates its runs with runs on N threads and prints both medians and
/// the throughput ratio pair by pair: one run line per pair, and the printed ratio the median of
/// those lines' own ratios.
#[test]
fn bench_against_pairs_its_runs() {
    let sample = root().join("captures/sample-hotspot.pcap");
    let o = leakscope()
        .args(["bench", "-r", "3", "--threads", "2", "--against", "1"])
        .arg(&sample)
        .output()
        .expect("run leakscope");
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("median of 3 runs (dissection and classification, 2 thread(s))"), "{out}");
    let line = out.lines().find(|l| l.starts_with("median of 3 runs on 1 thread(s)")).expect(&out);
    let ratio: f64 = line
        .split("pairs: ")
        .nth(1)
        .and_then(|r| r.split('x').next())
        .and_then(|r| r.parse().ok())
        .expect(line);
    // One line per pair, each with both runs' times; the ratio is their pairs' median.
    let secs = |s: &str| -> f64 { s.trim_end_matches(" s").parse().expect(s) };
    let mut pairs: Vec<f64> = err
        .lines()
        .filter(|l| l.starts_with("run "))
        .map(|l| {
            let (two, one) = l.split_once("; on 1 thread(s): ").expect(l);
            let two = two.split(": ").nth(1).and_then(|t| t.split(',').next()).expect(l);
            secs(one) / secs(two)
        })
        .collect();
    assert_eq!(pairs.len(), 3, "{err}");
    pairs.sort_by(f64::total_cmp);
    assert!((ratio / pairs[1] - 1.0).abs() < 0.01, "{ratio} against the pairs' {pairs:?}");
    // Without it: no pairs, no ratio.
    let o = leakscope().args(["bench", "-r", "1"]).arg(&sample).output().expect("run leakscope");
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("pairs"));
}
