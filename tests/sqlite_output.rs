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
