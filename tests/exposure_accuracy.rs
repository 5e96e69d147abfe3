//! The exposure map against what people did, on real labelled captures: `TRUTH.tsv` in
//! `captures/activity` of the shared captures (its own recordings and four nDPI captures). Prints
//! recall and false activities per kind, and fails below the goals:
//!
//! - usage sessions and media items (uploads + downloads): at least 90 % found;
//! - message-burst rows: at least 80 % fully found (the count in the window lies in the row's range);
//! - every answered call found, with its talk time within 2 s; no unanswered attempt as a call;
//! - at most one false activity per capture.
//!
//! Rows with confidence `low` are not in the recall. `scripts/exposure-accuracy.sh` copies the
//! printed table into `docs/exposure.md`.
//!
//! Matching: an activity belongs to a row when it overlaps the row's window (`start_s`–`end_s`
//! from the capture's first packet, widened by 2 s; `-` = the whole capture). A row of count N
//! (or LO–HI) finds min(matched, LO) of LO; a reported activity of a kind beyond the row's HI,
//! or of a kind the capture's rows say is absent (count 0, or a `call` where the row is
//! `no_call`), is false.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use leakscope::capture::{Packet, PacketSink, file::read_file};
use serde_json::Value;

const SLACK_S: f64 = 2.0;
const TALK_TOLERANCE_S: f64 = 2.0;

struct Row {
    capture: String,
    kind: String,
    lo: u64,
    hi: u64,
    window: Option<(f64, f64)>,
    answer: Option<f64>,
    media: Option<String>,
}

fn parse_truth(text: &str) -> Vec<Row> {
    let num = |s: &str| (s != "-").then(|| s.parse::<f64>().expect("time"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("capture\t") && !l.trim().is_empty())
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert!(c.len() >= 9, "TRUTH.tsv: short line {l:?}");
            if c[8] == "low" {
                return None;
            }
            let (lo, hi) = match c[2].split_once('-') {
                Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                None => (c[2].parse().unwrap(), c[2].parse().unwrap()),
            };
            let window = num(c[3]).zip(num(c[4]));
            Some(Row {
                capture: c[0].into(),
                kind: c[1].into(),
                lo,
                hi,
                window,
                answer: num(c[5]),
                media: (c[6] != "-").then(|| c[6].into()),
            })
        })
        .collect()
}

/// First packet time of a capture.
struct First(Option<f64>);
impl PacketSink for First {
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.0.get_or_insert(pkt.ts.nanos() as f64 / 1e9);
    }
}

fn locate(shared: &Path, name: &str) -> PathBuf {
    let a = shared.join("activity/pcap").join(name);
    if a.is_file() { a } else { shared.join("ndpi/meta/pcap").join(name) }
}

/// Per kind: (truth, found, false).
#[derive(Default, Clone, Copy)]
struct Score {
    truth: u64,
    found: u64,
    false_: u64,
}

/// A reported activity: (kind, start, end, talk seconds, media), times from the first packet.
type Act = (String, f64, f64, Option<f64>, Option<String>);

struct Capture {
    name: String,
    acts: Vec<Act>,
}

fn load(shared: &Path, name: &str) -> Capture {
    let path = locate(shared, name);
    let mut first = First(None);
    let (_, err) = read_file(&path, None, &mut first);
    assert!(err.is_none(), "{name}: {err:?}");
    let t0 = first.0.expect("a packet");
    let (_, dir, _) = common::replay_to_temp(&[path]);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("events.jsonl");
    let mut acts = Vec::new();
    for l in text.lines() {
        let e: Value = serde_json::from_str(l).expect("JSON line");
        let kind = match e["kind"].as_str() {
            Some("session") => "session",
            Some("activity") => e["activity"].as_str().unwrap(),
            _ => continue,
        };
        let f = |k: &str| e[k].as_f64();
        acts.push((
            kind.to_owned(),
            f("ts").unwrap() - t0,
            f("end").unwrap() - t0,
            f("talk_secs"),
            e["media"].as_str().map(str::to_owned),
        ));
    }
    Capture { name: name.into(), acts }
}

/// The kinds scored. `no_call` rows score `call_attempt` and forbid `call`.
const KINDS: [&str; 6] =
    ["session", "message_burst", "media_upload", "media_download", "call", "call_attempt"];

#[test]
fn exposure_map_finds_what_people_did() {
    let Some(shared) = common::shared_captures("exposure_accuracy") else { return };
    let truth_path = shared.join("activity/TRUTH.tsv");
    let rows = parse_truth(&std::fs::read_to_string(&truth_path).expect("TRUTH.tsv"));
    let mut names: Vec<&str> = rows.iter().map(|r| r.capture.as_str()).collect();
    names.dedup();
    names.sort();
    names.dedup();
    let mut score: BTreeMap<&str, Score> = KINDS.iter().map(|k| (*k, Score::default())).collect();
    let (mut burst_rows, mut burst_full) = (0, 0);
    let mut failures = Vec::new();
    let mut false_by_capture = Vec::new();
    for name in names {
        let cap = load(&shared, name);
        let mut false_here = 0;
        for kind in KINDS {
            let mine: Vec<&Row> = rows
                .iter()
                .filter(|r| r.capture == cap.name)
                .filter(|r| {
                    r.kind == kind
                        || (kind == "call_attempt" && r.kind == "no_call")
                        // An unanswered attempt forbids a call; an answered call, an attempt.
                        || (kind == "call" && r.kind == "no_call")
                        || (kind == "call_attempt" && r.kind == "call")
                })
                .collect();
            if mine.is_empty() {
                continue; // not labelled in this capture: not judged
            }
            let reported: Vec<_> = cap.acts.iter().filter(|a| a.0 == kind).collect();
            let mut hi_total = 0;
            let s = score.get_mut(kind).unwrap();
            for r in &mine {
                let (lo, hi) = match (kind, r.kind.as_str()) {
                    ("call", "no_call") | ("call_attempt", "call") => (0, 0),
                    _ => (r.lo, r.hi),
                };
                hi_total += hi;
                let inside: Vec<_> = reported
                    .iter()
                    .filter(|a| match r.window {
                        Some((ws, we)) => a.1 <= we + SLACK_S && a.2 >= ws - SLACK_S,
                        None => true,
                    })
                    .collect();
                let n = inside.len() as u64;
                s.truth += lo;
                s.found += n.min(lo);
                if kind == "message_burst" {
                    burst_rows += 1;
                    burst_full += u64::from((lo..=hi).contains(&n));
                }
                if kind == "call" && r.kind == "call" && r.lo > 0 {
                    let want = r.window.unwrap().1 - r.answer.unwrap();
                    match inside.first() {
                        Some(a) => {
                            let talk = a.3.unwrap_or(f64::NAN);
                            println!(
                                "call in {name}: talk {talk:.1} s (truth {want:.1} s), {} (truth {})",
                                a.4.as_deref().unwrap_or("-"),
                                r.media.as_deref().unwrap_or("-")
                            );
                            if (talk - want).abs() > TALK_TOLERANCE_S || a.4 != r.media {
                                failures.push(format!(
                                    "{name}: call talk {talk:.1} s (truth {want:.1}), media {:?} (truth {:?})",
                                    a.4, r.media
                                ));
                            }
                        }
                        None => failures.push(format!("{name}: answered call not found")),
                    }
                }
                if kind == "call" && r.kind == "no_call" && n > 0 {
                    failures.push(format!("{name}: an unanswered call attempt reported as a call"));
                }
            }
            let extra = (reported.len() as u64).saturating_sub(hi_total);
            s.false_ += extra;
            false_here += extra;
        }
        false_by_capture.push((name.to_owned(), false_here));
    }

    println!("Truth: {}", truth_path.display());
    println!("| kind | labelled | found | recall | false activities |");
    println!("|---|---|---|---|---|");
    for (kind, s) in &score {
        let recall = if s.truth == 0 { 100.0 } else { 100.0 * s.found as f64 / s.truth as f64 };
        println!("| {kind} | {} | {} | {recall:.0} % | {} |", s.truth, s.found, s.false_);
    }
    println!(
        "| message_burst rows fully found | {burst_rows} | {burst_full} | {:.0} % | |",
        100.0 * burst_full as f64 / burst_rows.max(1) as f64
    );
    for (name, n) in &false_by_capture {
        println!("false activities in {name}: {n}");
    }

    let pct = |f: u64, t: u64| if t == 0 { 100.0 } else { 100.0 * f as f64 / t as f64 };
    let sess = score["session"];
    let media = (
        score["media_upload"].found + score["media_download"].found,
        score["media_upload"].truth + score["media_download"].truth,
    );
    if pct(sess.found, sess.truth) < 90.0 {
        failures.push(format!("sessions found {} of {}", sess.found, sess.truth));
    }
    if pct(media.0, media.1) < 90.0 {
        failures.push(format!("media items found {} of {}", media.0, media.1));
    }
    if pct(burst_full, burst_rows) < 80.0 {
        failures.push(format!("burst rows fully found {burst_full} of {burst_rows}"));
    }
    for (name, n) in &false_by_capture {
        if *n > 1 {
            failures.push(format!("{name}: {n} false activities"));
        }
    }
    assert!(failures.is_empty(), "below the goals:\n{}", failures.join("\n"));
}

#[test]
fn truth_parses_ranges_and_skips_low_confidence() {
    let rows = parse_truth(
        "# c\ncapture\tkind\tcount\ts\te\ta\tm\tsrc\tconf\tnote\n\
         a.pcap\tmessage_burst\t7-10\t1.1\t136.0\t-\t-\tx\tmedium\t\n\
         a.pcap\tsession\t1\t-\t-\t-\t-\tx\tlow\t\n\
         a.pcap\tcall\t1\t6.5\t14.3\t12.4\taudio\tx\thigh\t\n",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].lo, rows[0].hi, rows[0].window), (7, 10, Some((1.1, 136.0))));
    assert_eq!((rows[1].answer, rows[1].media.as_deref()), (Some(12.4), Some("audio")));
}
