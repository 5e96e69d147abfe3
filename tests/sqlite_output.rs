//! `--sqlite`: Meta contacts per device per hour, queried from the database, agree with
//! `flows.jsonl`; the exposure tables hold the derived events.

mod common;

use std::collections::BTreeMap;

use leakscope::replay::{ReplayOptions, replay};

#[test]
fn meta_contacts_per_device_per_hour_agree_with_flows_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let capture = common::root().join("captures/exposure-day.pcap");
    let mut opts = ReplayOptions::new(vec![capture], Some(dir.path().join("out")));
    opts.sqlite = Some(db.clone());
    replay(&opts).unwrap();

    let text = std::fs::read_to_string(dir.path().join("out/flows.jsonl")).unwrap();
    let mut want: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in text.lines() {
        let f: serde_json::Value = serde_json::from_str(line).unwrap();
        if f.get("service").is_some() {
            let hour = (f["ts"].as_f64().unwrap() as i64).div_euclid(3600) * 3600;
            *want.entry((f["device"].as_str().unwrap().to_owned(), hour)).or_default() += 1;
        }
    }
    assert!(want.len() >= 4, "{want:?}");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut got: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let devices: Vec<String> = conn
        .prepare("SELECT device FROM devices ORDER BY device")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(devices.len(), 3);
    let mut per_hour = conn
        .prepare("SELECT hour, count(*) FROM flows WHERE device = ?1 AND service IS NOT NULL GROUP BY hour")
        .unwrap();
    for d in &devices {
        for row in
            per_hour.query_map([d], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).unwrap()
        {
            let (hour, n) = row.unwrap();
            got.insert((d.clone(), hour), n);
        }
    }
    assert_eq!(got, want);

    let total: i64 = conn.query_row("SELECT count(*) FROM flows", [], |r| r.get(0)).unwrap();
    assert_eq!(total as usize, text.lines().count());
    let sessions: i64 = conn.query_row("SELECT count(*) FROM sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(sessions, 4);
    let observed: i64 = conn
        .query_row(
            "SELECT count(*) FROM exposures WHERE device = '00:1a:11:00:00:0a' AND status = 'observed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(observed, 8);
    // The report reads the database like the directory.
    let from_db = leakscope::report::load(&db).unwrap();
    let from_dir = leakscope::report::load(&dir.path().join("out")).unwrap();
    assert_eq!(
        leakscope::report::text::render(&from_db),
        leakscope::report::text::render(&from_dir)
    );
}

#[test]
fn apps_of_a_pcapdroid_capture_are_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let capture = common::root().join("captures/pcapdroid/phone-apps.pcapng");
    let mut opts = ReplayOptions::new(vec![capture], Some(dir.path().join("out")));
    opts.sqlite = Some(db.clone());
    replay(&opts).unwrap();

    // Flows: the columns hold the records' app and uid, row for row.
    let text = std::fs::read_to_string(dir.path().join("out/flows.jsonl")).unwrap();
    let want: BTreeMap<String, (Option<String>, Option<i64>)> = text
        .lines()
        .map(|l| {
            let f: serde_json::Value = serde_json::from_str(l).unwrap();
            let app = f["app"].as_str().map(str::to_owned);
            (f["uid"].as_str().unwrap().to_owned(), (app, f["app_uid"].as_i64()))
        })
        .collect();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let got: BTreeMap<String, (Option<String>, Option<i64>)> = conn
        .prepare("SELECT uid, app, app_uid FROM flows")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, want);
    assert!(want.values().all(|(a, u)| a.is_some() && u.is_some()), "{want:?}");
    // Meta bytes per app of the phone, through the partial index.
    let q = "SELECT app, count(*) FROM flows WHERE device = ?1 AND app IS NOT NULL \
             AND service IS NOT NULL GROUP BY app ORDER BY app";
    let plan: String =
        conn.query_row(&format!("EXPLAIN QUERY PLAN {q}"), ["10.215.173.1"], |r| r.get(3)).unwrap();
    assert!(plan.contains("flows_by_device_app"), "{plan}");
    let per_app: Vec<(String, i64)> = conn
        .prepare(q)
        .unwrap()
        .query_map(["10.215.173.1"], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let names: Vec<&str> = per_app.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names, ["com.facebook.katana", "com.whatsapp"]);
    // Sessions and activity events name the app; exposures list the apps behind them.
    let sessions: Vec<(String, i64)> = conn
        .prepare("SELECT app, app_uid FROM sessions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|s| *s == ("com.whatsapp".to_owned(), 10_123)), "{sessions:?}");
    let unnamed: i64 = conn
        .query_row("SELECT count(*) FROM events WHERE kind = 'activity' AND app IS NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(unnamed, 0);
    let usage: String = conn
        .query_row("SELECT apps FROM exposures WHERE field = 'usage'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(usage, r#"["com.whatsapp"]"#);
    // Without apps the columns stay empty.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = dir2.path().join("out.db");
    let raw = common::root().join("captures/pcapdroid/phone-raw.pcap");
    let mut opts = ReplayOptions::new(vec![raw], Some(dir2.path().join("out")));
    opts.sqlite = Some(db2.clone());
    replay(&opts).unwrap();
    let conn = rusqlite::Connection::open(&db2).unwrap();
    let named: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM flows WHERE app IS NOT NULL OR app_uid IS NOT NULL) \
             + (SELECT count(*) FROM sessions WHERE app IS NOT NULL) \
             + (SELECT count(*) FROM events WHERE app IS NOT NULL) \
             + (SELECT count(*) FROM exposures WHERE apps IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(named, 0);
}
