//! `contrib/spark/leakscope_spark.py` under `spark-submit --master local[2]`, once, over a small
//! corpus built from the bundled captures: a rotated group (a capture split into three files),
//! a single-file group, a group with a truncated file (damaged: the records before the fault
//! are kept), a file that is not a capture (failed), an empty directory and a stray text file.
//! The job's records per capture and dataset equal plain `leakscope replay` runs of each group,
//! its flows equal theirs row for row (uid, packets, bytes), the rotated group's flows equal the
//! unsplit capture's (a group is never split), and the bad groups are reported while the others
//! are written. Needs `spark-submit` (PyPI's pyspark) and Java: skipped without them, except
//! under CI=true (scripts/install-deps.sh installs them there).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_leakscope");

/// `spark-submit` (`$SPARK_SUBMIT`, else PATH, else the one inside pyspark's package, where
/// pip put it when its scripts directory is not on PATH) when it, pyspark and Java are there.
fn spark_submit() -> Option<PathBuf> {
    let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
    let mut submit =
        std::env::var_os("SPARK_SUBMIT").map_or_else(|| "spark-submit".into(), PathBuf::from);
    if !ok(Command::new(&submit).arg("--version")) {
        let code = "import os, pyspark; print(os.path.dirname(pyspark.__file__))";
        if let Ok(o) = Command::new("python3").args(["-c", code]).output() {
            submit =
                PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("bin/spark-submit");
        }
    }
    let missing = if !ok(Command::new(&submit).arg("--version")) {
        "spark-submit"
    } else if !ok(Command::new("python3").args(["-c", "import pyspark"])) {
        "python3's pyspark"
    } else if !ok(Command::new("java").arg("-version")) {
        "java"
    } else {
        return Some(submit);
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{missing} is required in CI (scripts/install-deps.sh installs pyspark and Java)");
    }
    eprintln!(
        "SKIPPED spark_job: no {missing} (pip install pyspark; apt install openjdk-17-jre-headless)"
    );
    None
}

/// Splits a pcap into `n` files of consecutive records, each with the original file header:
/// what a capture rotated by size or time looks like.
fn split_pcap(src: &Path, dir: &Path, n: usize) {
    let data = std::fs::read(src).unwrap();
    let le = match data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a pcap", src.display()),
    };
    let mut records = Vec::new();
    let mut off = 24;
    while off < data.len() {
        let b: [u8; 4] = data[off + 8..off + 12].try_into().unwrap();
        let len = if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) } as usize;
        records.push(&data[off..off + 16 + len]);
        off += 16 + len;
    }
    std::fs::create_dir_all(dir).unwrap();
    for (i, chunk) in records.chunks(records.len().div_ceil(n)).enumerate() {
        let mut out = data[..24].to_vec();
        chunk.iter().for_each(|r| out.extend_from_slice(r));
        std::fs::write(dir.join(format!("part-{i:03}.pcap")), out).unwrap();
    }
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), n);
}

/// A plain `leakscope replay` of `rel` run from `corpus`, as the job runs it: exit code,
/// records per dataset (`flows`, `events/KIND`) and the flows keyed by uid.
struct Plain {
    code: i32,
    records: BTreeMap<String, u64>,
    flows: BTreeMap<String, [i64; 4]>,
}

fn plain_replay(corpus: &Path, rel: &str, out: &Path) -> Plain {
    let st = Command::new(BIN)
        .current_dir(corpus)
        .args(["replay", "-q", "--out"])
        .arg(out)
        .arg("--sqlite")
        .arg(out.join("db.sqlite"))
        .arg(rel)
        .output()
        .unwrap();
    let mut records = BTreeMap::new();
    let mut flows = BTreeMap::new();
    for (file, kind) in [("flows.jsonl", None), ("events.jsonl", Some("kind"))] {
        let text = std::fs::read_to_string(out.join(file)).unwrap_or_default();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let name = match kind {
                None => {
                    let n = |k: &str| v[k].as_i64().unwrap();
                    let row = [n("orig_pkts"), n("resp_pkts"), n("orig_bytes"), n("resp_bytes")];
                    flows.insert(v["uid"].as_str().unwrap().to_owned(), row);
                    "flows".to_owned()
                }
                Some(k) => format!("events/{}", v[k].as_str().unwrap()),
            };
            *records.entry(name).or_default() += 1;
        }
    }
    Plain { code: st.status.code().unwrap(), records, flows }
}

/// Flows of the job's `flows/` dataset by capture, keyed by uid; checks the date partitions.
fn job_flows(dir: &Path) -> BTreeMap<String, BTreeMap<String, [i64; 4]>> {
    let mut by_capture: BTreeMap<String, BTreeMap<String, [i64; 4]>> = BTreeMap::new();
    let mut files = 0;
    for part in std::fs::read_dir(dir).unwrap() {
        let part = part.unwrap().path();
        let name = part.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with(['_', '.']) {
            continue;
        }
        assert!(name.starts_with("date="), "{name}: not a date partition");
        for f in std::fs::read_dir(&part).unwrap() {
            let f = f.unwrap().path();
            let fname = f.file_name().unwrap().to_str().unwrap();
            if !fname.ends_with(".parquet") || fname.starts_with('.') {
                continue;
            }
            files += 1;
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let b = batch.unwrap();
                let s = |c: &str| b.column_by_name(c).unwrap().as_string::<i32>().clone();
                let n = |c: &str| b.column_by_name(c).unwrap().as_primitive::<Int64Type>().clone();
                let (capture, uid) = (s("capture"), s("uid"));
                let cols = ["orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes"].map(n);
                for i in 0..b.num_rows() {
                    let row = cols.each_ref().map(|c| c.value(i));
                    let old = by_capture
                        .entry(capture.value(i).to_owned())
                        .or_default()
                        .insert(uid.value(i).to_owned(), row);
                    assert!(old.is_none(), "{} written twice", uid.value(i));
                }
            }
        }
    }
    assert!(files > 0, "no Parquet file under {}", dir.display());
    by_capture
}

/// The statements of docs/queries.md written for `engine` (the code after each `-- ENGINE…`
/// comment line, up to a blank line, another comment or the fence), view definitions left out.
fn doc_queries(engine: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(common::root().join("docs/queries.md")).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        if let Some(q) = cur.as_mut() {
            if !(line.trim().is_empty() || line.starts_with("```") || line.starts_with("-- ")) {
                q.push_str(line);
                q.push('\n');
                continue;
            }
            out.push(cur.take().unwrap());
        }
        if line.starts_with(&format!("-- {engine}")) {
            cur = Some(String::new());
        }
    }
    out.retain(|q| !q.starts_with("CREATE"));
    out
}

/// A value as text both engines agree on: whole numbers as integers, other numbers to the µs,
/// Spark's timestamps (`2026-01-01T10:00:00.000000Z`) as epoch seconds like SQLite's columns.
fn canon(v: &Value) -> String {
    let num = |f: f64| if f.fract() == 0.0 { format!("{}", f as i64) } else { format!("{f:.6}") };
    match v {
        Value::Number(n) => num(n.as_f64().unwrap()),
        Value::String(s) if s.len() >= 26 && s.as_bytes()[10] == b'T' && s.ends_with('Z') => {
            let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
            let (y, m, d) = (n(0..4), n(5..7), n(8..10));
            // Days from the civil date (H. Hinnant's algorithm).
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y - era * 400;
            let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
            let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
            let us = n(20..26)
                + 1_000_000 * (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19));
            num(us as f64 / 1e6)
        }
        v => v.to_string(),
    }
}

/// Rows of a SQLite answer, each as column → canonical text.
fn sqlite_rows(db: &Path, sql: &str) -> Vec<BTreeMap<String, String>> {
    use rusqlite::types::Value as V;
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    let names: Vec<String> = st.column_names().map(str::to_owned).collect();
    let rows = st.query_map([], |r| {
        (0..names.len()).map(|i| r.get::<_, V>(i)).collect::<Result<Vec<_>, _>>()
    });
    rows.unwrap()
        .map(|r| {
            let vals = r.unwrap().into_iter().map(|v| match v {
                V::Null => Value::Null,
                V::Integer(i) => i.into(),
                V::Real(f) => f.into(),
                V::Text(t) => t.into(),
                V::Blob(_) => panic!("blob"),
            });
            names.iter().cloned().zip(vals.map(|v| canon(&v))).collect()
        })
        .collect()
}

/// Rows of one `--sql` answer of the job (JSON lines), by capture, without that column.
fn spark_rows(dir: &Path) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut by: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let f = f.unwrap().path();
        if !f.file_name().unwrap().to_str().unwrap().starts_with("part-") {
            continue;
        }
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let Value::Object(mut o) = serde_json::from_str(line).unwrap() else { panic!() };
            let capture = o.remove("capture").unwrap().as_str().unwrap().to_owned();
            by.entry(capture)
                .or_default()
                .push(o.iter().map(|(k, v)| (k.clone(), canon(v))).collect());
        }
    }
    by
}

#[test]
fn spark_job_matches_plain_replays_and_reports_bad_groups() {
    let Some(submit) = spark_submit() else { return };
    let caps = common::root().join("captures");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    split_pcap(&caps.join("exposure-day.pcap"), &corpus.join("phone-a"), 3);
    std::fs::copy(caps.join("sample-hotspot.pcap"), corpus.join("hotspot.pcap")).unwrap();
    std::fs::create_dir_all(corpus.join("phone-c")).unwrap();
    std::fs::copy(caps.join("gquic-q050.pcap"), corpus.join("phone-c/part-000.pcap")).unwrap();
    let hotspot = std::fs::read(caps.join("sample-hotspot.pcap")).unwrap();
    std::fs::write(corpus.join("phone-c/part-001.pcap"), &hotspot[..100_000]).unwrap();
    std::fs::write(corpus.join("garbage.pcap"), b"this is not a capture").unwrap();
    std::fs::create_dir_all(corpus.join("empty")).unwrap();
    std::fs::write(corpus.join("notes.txt"), b"not a group").unwrap();

    let out = tmp.path().join("lake");
    let summary = tmp.path().join("summary.json");
    // The research questions as docs/queries.md asks them of the lake, answered in this run.
    let (spark_sql, sqlite_sql) = (doc_queries("Spark SQL"), doc_queries("SQLite"));
    assert_eq!((spark_sql.len(), sqlite_sql.len()), (3, 3), "docs/queries.md: {spark_sql:?}");
    let sql_file = tmp.path().join("queries.sql");
    let named: Vec<String> =
        spark_sql.iter().enumerate().map(|(i, q)| format!("-- name: q{i}\n{q}")).collect();
    std::fs::write(&sql_file, named.join("")).unwrap();
    let started = std::time::Instant::now();
    let run = Command::new(&submit)
        .current_dir(tmp.path())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("PYSPARK_PYTHON", "python3")
        .args(["--master", "local[2]", "--conf", "spark.ui.enabled=false"])
        .args(["--conf", "spark.sql.shuffle.partitions=2", "--files", BIN])
        .arg(common::root().join("contrib/spark/leakscope_spark.py"))
        .args([&corpus, &out])
        .arg("--summary")
        .arg(&summary)
        .arg("--sql")
        .arg(&sql_file)
        .output()
        .unwrap();
    // spark-submit passes the Python driver's stderr to its own stdout.
    let log = String::from_utf8_lossy(&run.stdout) + String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "spark-submit failed:\n{log}");
    eprintln!("spark-submit took {:.1} s", started.elapsed().as_secs_f64());
    assert!(log.contains("1 other file(s) ignored"), "{log}");

    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let groups: BTreeMap<&str, &Value> = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["capture"].as_str().unwrap(), g))
        .collect();
    assert_eq!(
        groups.keys().copied().collect::<Vec<_>>(),
        ["empty", "garbage.pcap", "hotspot.pcap", "phone-a", "phone-c"]
    );
    let status = |c: &str| groups[c]["status"].as_str().unwrap();
    assert_eq!(status("phone-a"), "ok");
    assert_eq!(status("hotspot.pcap"), "ok");
    assert_eq!(status("empty"), "empty");
    assert_eq!(status("phone-c"), "damaged", "{}", groups["phone-c"]);
    assert_eq!(status("garbage.pcap"), "failed", "{}", groups["garbage.pcap"]);
    let tail = groups["garbage.pcap"]["stderr_tail"].as_str().unwrap();
    assert!(tail.contains("not a pcap or pcapng capture"), "{tail}");
    assert!(groups["phone-c"]["stderr_tail"].as_str().unwrap().contains("truncated"));
    assert_eq!(groups["phone-a"]["files"], 3);

    let lake_flows = job_flows(&out.join("flows"));
    let plain_dir = tmp.path().join("plain");
    for name in ["phone-a", "hotspot.pcap", "phone-c", "garbage.pcap"] {
        let plain = plain_replay(&corpus, name, &plain_dir.join(name));
        let g = groups[name];
        assert_eq!(g["exit_code"].as_i64(), Some(i64::from(plain.code)), "{name}");
        let got: BTreeMap<String, u64> =
            serde_json::from_value(g["records"].clone()).unwrap_or_default();
        assert_eq!(got, plain.records, "{name}: records per dataset, job against plain replay");
        assert_eq!(g["flow_records"].as_u64(), Some(plain.flows.len() as u64), "{name}");
        let empty = BTreeMap::new();
        assert_eq!(lake_flows.get(name).unwrap_or(&empty), &plain.flows, "{name}: flows");
        if name != "garbage.pcap" {
            assert!(!plain.flows.is_empty(), "{name}: no flows to compare");
        }
    }
    assert_eq!(lake_flows.len(), 3, "{:?}", lake_flows.keys());
    // Spark SQL on the lake answers like SQLite on each group's own replay.
    for (i, lite) in sqlite_sql.iter().enumerate() {
        let spark = spark_rows(&out.join(format!("queries/q{i}")));
        for name in ["phone-a", "hotspot.pcap", "phone-c"] {
            let mut want = sqlite_rows(&plain_dir.join(name).join("db.sqlite"), lite);
            let mut got = spark.get(name).cloned().unwrap_or_default();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{name}: Spark SQL against SQLite for\n{lite}");
        }
        assert!(!spark.is_empty(), "q{i}: no answer at all");
    }
    // The calls question is not vacuous: the day and the hotspot sample hold calls.
    let calls = spark_rows(&out.join("queries/q1"));
    assert!(calls.contains_key("phone-a") && calls.contains_key("hotspot.pcap"), "{calls:?}");
    // The rotated group is the whole capture: same flows, uids included.
    let whole = plain_replay(&caps, "exposure-day.pcap", &plain_dir.join("whole"));
    assert_eq!(lake_flows["phone-a"], whole.flows, "a flow was cut at a file boundary");
    assert!(out.join("groups").is_dir() && !out.join("_staging").exists());
}
