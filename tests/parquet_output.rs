//! `--parquet DIR`: every dataset read back with the `parquet` crate holds exactly the rows of
//! `flows.jsonl`/`events.jsonl` (every column), in hive partitions by UTC date; and, when
//! Python has `duckdb` and `pyarrow` (required under CI=true), DuckDB and pyarrow agree too
//! (scripts/check-parquet.py), and DuckDB's answers to the research questions of
//! docs/queries.md equal SQLite's.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use leakscope::replay::{ReplayOptions, replay};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

/// Timestamp columns that hold whole seconds in the JSONL (integers, not floats).
const WHOLE_SECONDS: &[&str] = &["not_before", "not_after", "hour"];
/// Columns that hold an object's JSON text.
const JSON_TEXT: &[&str] = &["activities"];

/// Replays `inputs` with `--out` and `--parquet` (and `--sqlite`).
fn replay_both(inputs: Vec<PathBuf>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ReplayOptions::new(inputs, Some(dir.path().join("out")));
    opts.parquet = Some(dir.path().join("pq"));
    opts.sqlite = Some(dir.path().join("out.db"));
    replay(&opts).expect("replay");
    dir
}

/// One Arrow value as the JSONL writes it (`None`: the JSONL leaves the field out).
fn json_of(name: &str, a: &ArrayRef, i: usize) -> Option<Value> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).into(),
        DataType::Timestamp(_, tz) => {
            assert_eq!(tz.as_deref(), Some("UTC"), "{name}");
            let us = a.as_primitive::<TimestampMicrosecondType>().value(i);
            if WHOLE_SECONDS.contains(&name) {
                assert_eq!(us % 1_000_000, 0, "{name}");
                (us / 1_000_000).into()
            } else {
                (us as f64 / 1e6).into()
            }
        }
        DataType::Utf8 if JSON_TEXT.contains(&name) => {
            serde_json::from_str(a.as_string::<i32>().value(i)).unwrap()
        }
        DataType::Utf8 => a.as_string::<i32>().value(i).into(),
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| json_of(name, &items, j).unwrap()).collect())
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut o = Map::new();
            for (f, c) in fields.iter().zip(s.columns()) {
                if let Some(v) = json_of(f.name(), c, i) {
                    o.insert(f.name().clone(), v);
                }
            }
            Value::Object(o)
        }
        t => panic!("{name}: unexpected type {t}"),
    })
}

/// Every row of the dataset at `dir`, checked to sit in the partition of its `ts` date.
fn read_dataset(dir: &Path) -> Vec<Value> {
    let mut rows = Vec::new();
    for part in std::fs::read_dir(dir).unwrap() {
        let part = part.unwrap().path();
        let name = part.file_name().unwrap().to_str().unwrap().to_owned();
        let date = name.strip_prefix("date=").unwrap_or_else(|| panic!("{name}: not a partition"));
        for file in std::fs::read_dir(&part).unwrap() {
            let file = file.unwrap().path();
            let fname = file.file_name().unwrap().to_str().unwrap();
            assert!(fname.starts_with("part-") && fname.ends_with(".parquet"), "{fname} left over");
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let s: ArrayRef = std::sync::Arc::new(arrow_array::StructArray::from(batch));
                for i in 0..s.len() {
                    let row = json_of("", &s, i).unwrap();
                    let us = (row["ts"].as_f64().unwrap() * 1e6).round() as i64;
                    assert_eq!(utc_date(us.div_euclid(1_000_000)), date, "{}", file.display());
                    rows.push(row);
                }
            }
        }
    }
    rows
}

fn utc_date(secs: i64) -> String {
    // Independent of the crate: the civil date by repeated day counting is too slow; use the
    // `date` arithmetic of Howard Hinnant like the crate does, written out again here.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{m:02}-{d:02}", yoe + era * 400 + i64::from(m <= 2))
}

/// A row with floats written to 16 significant digits (µs of an epoch time), so that a
/// last-bit difference of JSON number parsing does not count; the text sorts rows for a
/// multiset comparison.
fn canonical(v: &Value) -> String {
    fn norm(v: &Value) -> Value {
        match v {
            Value::Number(n) if n.is_f64() => {
                Value::String(format!("{:.15e}", n.as_f64().unwrap()))
            }
            Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), norm(v))).collect())
            }
            v => v.clone(),
        }
    }
    norm(v).to_string()
}

fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Compares every dataset with the JSONL; returns rows per dataset.
fn check_equal(dir: &Path) -> BTreeMap<String, usize> {
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in jsonl(&dir.join("out/flows.jsonl")) {
        want.entry("flows".into()).or_default().push(canonical(&f));
    }
    for mut e in jsonl(&dir.join("out/events.jsonl")) {
        let kind = e.as_object_mut().unwrap().remove("kind").unwrap();
        want.entry(format!("events/{}", kind.as_str().unwrap())).or_default().push(canonical(&e));
    }
    let pq = dir.join("pq");
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if pq.join("flows").is_dir() {
        got.insert("flows".into(), read_dataset(&pq.join("flows")).iter().map(canonical).collect());
    }
    if let Ok(kinds) = std::fs::read_dir(pq.join("events")) {
        for k in kinds {
            let k = k.unwrap();
            let name = format!("events/{}", k.file_name().to_str().unwrap());
            got.insert(name, read_dataset(&k.path()).iter().map(canonical).collect());
        }
    }
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    let mut counts = BTreeMap::new();
    for (k, w) in &mut want {
        let g = got.get_mut(k).unwrap();
        w.sort();
        g.sort();
        assert_eq!(g.len(), w.len(), "{k}: rows");
        if let Some(i) = (0..w.len()).find(|&i| w[i] != g[i]) {
            panic!("{k}: first difference\n jsonl:   {}\n parquet: {}", w[i], g[i]);
        }
        counts.insert(k.clone(), w.len());
    }
    counts
}

#[test]
fn bundled_captures_round_trip() {
    let root = common::root().join("captures");
    let mut all = BTreeMap::new();
    for name in ["exposure-day.pcap", "sample-hotspot.pcap", "gquic-q050.pcap"] {
        let dir = replay_both(vec![root.join(name)]);
        let counts = check_equal(dir.path());
        assert!(counts.get("flows").copied().unwrap_or(0) > 0, "{name}: {counts:?}");
        all.extend(counts.into_keys().map(|k| (k, ())));
    }
    // The exposure map's kinds and the packet-level ones were all exercised.
    for k in [
        "flows",
        "events/dns",
        "events/device",
        "events/session",
        "events/activity",
        "events/exposure",
    ] {
        assert!(all.contains_key(k), "{k} never written: {all:?}");
    }
}

#[test]
fn shared_captures_round_trip() {
    let Some(shared) = common::shared_captures("shared_captures_round_trip") else { return };
    let mut inputs = common::captures_in(&shared, "meta");
    inputs.extend(common::captures_in(&shared, "negative").into_iter().take(10));
    let dir = replay_both(inputs);
    let counts = check_equal(dir.path());
    assert!(counts["flows"] > 100, "{counts:?}");
    let activity: Vec<PathBuf> = std::fs::read_dir(shared.join("activity/pcap"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    python_check(dir.path());
    if !activity.is_empty() {
        // These hold calls: "endpoints contacted during calls" gets an answer to compare.
        let dir = replay_both(activity);
        check_equal(dir.path());
        python_check(dir.path());
    }
}

/// `--anonymize` reaches the Parquet datasets like every output: they equal the anonymised JSONL,
/// and the sample phone's address is in neither.
#[test]
fn anonymised_datasets_equal_the_anonymised_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ReplayOptions::new(
        vec![common::root().join("captures/sample-hotspot.pcap")],
        Some(dir.path().join("out")),
    );
    opts.parquet = Some(dir.path().join("pq"));
    opts.anonymize = Some(leakscope::anonymize::AnonymizeConfig {
        key: b"parquet-test-key".to_vec(),
        keep_oui: false,
        local_prefixes: Vec::new(),
    });
    replay(&opts).unwrap();
    check_equal(dir.path());
    let plain = replay_both(vec![common::root().join("captures/sample-hotspot.pcap")]);
    let device = read_dataset(&plain.path().join("pq/flows"))
        .iter()
        .find_map(|f| f.get("device").and_then(Value::as_str).map(str::to_owned))
        .expect("a flow with a device");
    let anonymised = read_dataset(&dir.path().join("pq/flows"));
    assert!(!anonymised.is_empty());
    for f in &anonymised {
        assert!(!f.to_string().contains(&device), "{device} in an anonymised row: {f}");
    }
}

/// A second run into the same directory adds parts, never overwrites.
#[test]
fn a_second_run_adds_parts() {
    let capture = common::root().join("captures/gquic-q050.pcap");
    let dir = tempfile::tempdir().unwrap();
    for out in ["a", "b"] {
        let mut opts = ReplayOptions::new(vec![capture.clone()], Some(dir.path().join(out)));
        opts.parquet = Some(dir.path().join("pq"));
        replay(&opts).unwrap();
    }
    let flows = read_dataset(&dir.path().join("pq/flows"));
    assert_eq!(flows.len(), 2 * jsonl(&dir.path().join("a/flows.jsonl")).len());
}

#[test]
fn duckdb_and_pyarrow_agree_with_jsonl_and_sqlite() {
    let dir = replay_both(vec![common::root().join("captures/exposure-day.pcap")]);
    let text = python_check(dir.path());
    // The day holds calls, so the calls question is answered, not vacuously equal.
    if let Some(text) = text {
        assert!(text.contains("during calls: 2 calls"), "{text}");
    }
}

/// scripts/check-parquet.py over `dir` (out/, pq/, out.db); skipped without duckdb/pyarrow,
/// except under CI=true (`None`). Returns what it printed.
fn python_check(dir: &Path) -> Option<String> {
    let probe = Command::new("python3").args(["-c", "import duckdb, pyarrow"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python3 with duckdb and pyarrow is required in CI (scripts/install-deps.sh)");
        }
        eprintln!("SKIPPED the DuckDB/pyarrow check: python3 lacks duckdb or pyarrow");
        return None;
    }
    let out = Command::new("python3")
        .arg(common::root().join("scripts/check-parquet.py"))
        .arg(dir.join("pq"))
        .arg(dir.join("out"))
        .arg(dir.join("out.db"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check-parquet.py failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("flows:"), "{text}");
    Some(text.into_owned())
}

/// Every field `docs/schema.md` documents for a kind is a column of that kind's dataset, in the
/// same order, and no column is undocumented (a field no capture exercises included).
#[test]
fn columns_follow_the_schema_doc() {
    use leakscope::output::parquet::schema;
    let doc = std::fs::read_to_string(common::root().join("docs/schema.md")).unwrap();
    let mut documented: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut kind: Option<String> = None;
    for line in doc.lines() {
        if line.starts_with("## `flows.jsonl`") {
            kind = Some("flows".into());
        } else if let Some(rest) = line.strip_prefix("### `kind: \"") {
            kind = rest.split('"').next().map(str::to_owned);
        } else if line.starts_with("## `manifest.json`") {
            // Not a record: the run's provenance file.
            kind = None;
        } else if line.starts_with("## ") && !line.starts_with("## `flows.jsonl`") {
            kind = kind.filter(|k| k != "flows");
        }
        let (Some(k), Some(rest)) = (&kind, line.strip_prefix("| `")) else { continue };
        let field = rest.split('`').next().unwrap();
        if field != "kind" {
            documented.entry(k.clone()).or_default().push(field.to_owned());
        }
    }
    let mut kinds: Vec<&str> = schema::KINDS.to_vec();
    kinds.push("flows");
    assert_eq!(documented.len(), kinds.len(), "{:?}", documented.keys());
    for k in kinds {
        let cols: Vec<String> =
            schema::of(k).unwrap().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(cols, documented[k], "{k}: columns against docs/schema.md");
    }
}
