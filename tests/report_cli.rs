//! `leakscope report` from the command line: it tells what it was given when that is not an
//! output, reads rotated and gzipped events files in order, and filters and formats.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakscope")).arg("report").args(args).output().expect("runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

/// The exposure-day capture replayed into a temporary output directory.
fn day() -> tempfile::TempDir {
    let (_, dir, _) = common::replay_to_temp(&[common::root().join("captures/exposure-day.pcap")]);
    dir
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn wrong_inputs_are_named_and_fail() {
    let out = day();
    let dir = out.path();
    std::fs::write(dir.join("notes.txt"), b"\x00\x01random bytes\xff").unwrap();
    let readme = common::root().join("README.md").display().to_string();
    let pcap = common::root().join("captures/exposure-day.pcap").display().to_string();
    let cases = [
        (p(dir, "flows.jsonl"), "holds flow records"),
        (readme, "is not a leakscope output"),
        (pcap.clone(), "is a capture"),
        (p(dir, "notes.txt"), "is not a leakscope output"),
        (common::root().join("captures").display().to_string(), "holds captures"),
        (p(dir, "missing"), "cannot open"),
    ];
    for (input, says) in cases {
        let o = report(&[&input]);
        let (stdout, stderr) = text(&o);
        assert!(!o.status.success(), "{input}: exit 0\n{stdout}");
        assert!(stderr.contains(says), "{input}: expected {says:?} in {stderr}");
        assert!(stdout.is_empty(), "{input}: printed a report: {stdout}");
    }
    // The capture error says what to run instead.
    let (_, stderr) = text(&report(&[&pcap]));
    assert!(stderr.contains("leakscope replay"), "{stderr}");
    // --html with a wrong input writes no page.
    let page = dir.join("page.html");
    assert!(
        !report(&[&p(dir, "flows.jsonl"), "--html", &page.display().to_string()]).status.success()
    );
    assert!(!page.exists());
}

#[test]
fn rotated_and_gzipped_events_read_in_order() {
    let out = day();
    let dir = out.path();
    let whole = text(&report(&[&p(dir, ".")])).0;
    let json_whole = text(&report(&[&p(dir, "."), "--format", "json"])).0;
    assert!(whole.contains("3 device(s), 2 with Meta contacts"), "{whole}");
    // Split events.jsonl as a live run would: stamped files, the oldest gzipped, the current one.
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let lines: Vec<&str> = events.lines().collect();
    let n = lines.len() / 3;
    let rotated = tempfile::tempdir().unwrap();
    let r = rotated.path();
    let gz = std::fs::File::create(r.join("events-20260101T100000Z.jsonl.gz")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
    enc.write_all((lines[..n].join("\n") + "\n").as_bytes()).unwrap();
    enc.finish().unwrap();
    std::fs::write(r.join("events-20260101T100000Z-1.jsonl"), lines[n..2 * n].join("\n") + "\n")
        .unwrap();
    std::fs::write(r.join("events.jsonl"), lines[2 * n..].join("\n") + "\n").unwrap();
    std::fs::copy(dir.join("flows.jsonl"), r.join("flows.jsonl")).unwrap();
    let split = text(&report(&[&r.display().to_string()])).0;
    assert_eq!(split, whole, "the rotated files give another report");
    // The same events in the same order: the JSON is equal but for the file names read.
    let json_split = text(&report(&[&r.display().to_string(), "--format", "json"])).0;
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v.as_object_mut().unwrap().remove("sources");
        v
    };
    assert_eq!(strip(&json_split), strip(&json_whole));
    let sources =
        serde_json::from_str::<serde_json::Value>(&json_split).unwrap()["sources"].clone();
    let names: Vec<String> = sources
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Path::new(s.as_str().unwrap()).file_name().unwrap().to_string_lossy().into())
        .collect();
    assert_eq!(
        names,
        [
            "events-20260101T100000Z.jsonl.gz",
            "events-20260101T100000Z-1.jsonl",
            "events.jsonl",
            "flows.jsonl"
        ]
    );
}

#[test]
fn formats_and_filters() {
    let out = day();
    let dir = p(out.path(), ".");
    let csv = text(&report(&[&dir, "--format", "csv"])).0;
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("device,mac,hostname,") && rows[0].contains(",ip_address,"));
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows.iter().any(|r| r.starts_with("00:1a:11:00:00:0a,") && r.contains("galaxy-s23")));
    assert!(rows[1..].iter().all(|r| r.split(',').count() >= 15));

    let json: serde_json::Value = serde_json::from_str(
        &text(&report(&[&dir, "--format", "json", "--device", "thinkpad-x1"])).0,
    )
    .unwrap();
    let devs = json["devices"].as_array().unwrap();
    assert_eq!(devs.len(), 1);
    assert_eq!(devs[0]["device"], "02:00:00:00:00:0b");
    assert!(
        json["exposures"].as_array().unwrap().iter().all(|e| e["device"] == "02:00:00:00:00:0b")
    );
    // By address too.
    let by_addr = text(&report(&[&dir, "--device", "10.42.0.23"])).0;
    assert!(by_addr.starts_with("1 device(s)") && by_addr.contains("galaxy-s23"), "{by_addr}");
    let o = report(&[&dir, "--device", "nobody"]);
    assert!(!o.status.success() && text(&o).1.contains("no device matches nobody"));

    // The laptop was seen 10:00:30–10:00:45 only; the phone's activities spread to 12:12.
    let all: serde_json::Value =
        serde_json::from_str(&text(&report(&[&dir, "--format", "json"])).0).unwrap();
    let late: serde_json::Value = serde_json::from_str(
        &text(&report(&[&dir, "--format", "json", "--since", "2026-01-01T11:00"])).0,
    )
    .unwrap();
    assert_eq!(late["devices"].as_array().unwrap().len(), 1, "{}", late["devices"]);
    let n = |v: &serde_json::Value, k: &str| v[k].as_array().unwrap().len();
    assert!(n(&late, "activities") > 0 && n(&late, "activities") < n(&all, "activities"));
    assert!(
        late["activities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["end"].as_f64().unwrap() >= 1_767_265_200.0)
    );
    let early: serde_json::Value = serde_json::from_str(
        &text(&report(&[&dir, "--format", "json", "--until", "1767261000"])).0,
    )
    .unwrap();
    assert_eq!(n(&early, "devices"), 0, "nothing happened before 09:50");
    let o = report(&[&dir, "--since", "yesterday"]);
    assert!(!o.status.success() && text(&o).1.contains("not a time"));
}

#[test]
fn the_report_shows_where_the_output_came_from() {
    // The command line writes the manifest (the library's replay does not).
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("out");
    let pcap = common::root().join("captures/exposure-day.pcap");
    let st = Command::new(env!("CARGO_BIN_EXE_leakscope"))
        .args(["replay", "-q", "-o"])
        .arg(&dir)
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success());
    let dir = dir.as_path();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let sha = manifest["inputs"][0]["sha256"].as_str().expect("the input was hashed").to_owned();
    let rules = manifest["rules"]["sha256"].as_str().unwrap().to_owned();
    let o = report(&[&dir.display().to_string()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("provenance: leakscope "))
        .unwrap_or_else(|| panic!("no provenance line in\n{stdout}"));
    assert!(line.contains(&rules[..16]), "{line}");
    assert!(
        stdout.contains(&format!(
            "exposure-day.pcap, {} bytes, sha256 {}",
            manifest["inputs"][0]["size"],
            &sha[..16]
        )),
        "{stdout}"
    );
    // The page holds the whole fingerprints.
    let page = dir.join("page.html");
    assert!(
        report(&[&dir.display().to_string(), "--html", &page.display().to_string()])
            .status
            .success()
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"provenance\"") && html.contains(&sha) && html.contains(&rules));
    // A manifest that is not one is left out; the report of the records still comes.
    std::fs::write(dir.join("manifest.json"), b"{\"not\": \"a manifest\"}").unwrap();
    let o = report(&[&dir.display().to_string()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("device(s)") && !stdout.contains("provenance:"), "{stdout}");
    assert!(stderr.contains("not a leakscope manifest"), "{stderr}");
}
