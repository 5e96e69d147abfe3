//! The layering rule of `src/lib.rs`, checked on the source: every `crate::…` path in a module of
//! a stage names the same stage or one below it, and the folders' import graph has no cycle.
//! The binary's files (`main.rs`, `cli_capture.rs`, `cli_generate.rs`) are the top and use the
//! library as `leakscope::…`, so they are not read.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Stages, lowest first; a stage may import its own level and the levels below.
const LEVELS: &[&[&str]] = &[
    &["record", "term", "testing"],
    &["capture"],
    &["decode"],
    &["flow"],
    &["dissect"],
    &["classify"],
    &["policy"],
    &["exposure"],
    &["output", "anonymize"],
    &["pipeline"],
    &["assembly"],
    &["parallel"],
    &["replay"],
    &["manifest", "cli"],
    &["live"],
    &["report", "lookup"],
];

const BINARY: &[&str] = &["main", "cli_capture", "cli_generate"];

fn level(stage: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.contains(&stage))
}

/// The top-level modules named by `crate::…` paths in `text` (comments skipped; `use
/// crate::{a::x, b}` names `a` and `b`).
fn crate_imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        // `leakscope_crate::` or `$crate::` are other crates' paths.
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split at commas outside nested braces.
            let (mut depth, mut start) = (0usize, 0usize);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(group[start..j].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(group[start..j].trim()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Breaches of the rule among `files` (stage, file name, text): imports upwards, unknown
/// stages, and folder cycles.
fn violations(files: &[(String, String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (stage, file, text) in files {
        let Some(from) = level(stage) else {
            problems.push(format!("{file}: stage `{stage}` has no level in LEVELS"));
            continue;
        };
        for target in crate_imports(text) {
            if &target == stage {
                continue;
            }
            match level(&target) {
                None => problems.push(format!("{file}: imports `{target}`, which has no level")),
                Some(to) if to > from => problems.push(format!(
                    "{file}: `{stage}` (level {from}) imports higher stage `{target}` (level {to})"
                )),
                Some(_) => {
                    graph.entry(stage.clone()).or_default().insert(target);
                }
            }
        }
    }
    problems.extend(cycles(&graph));
    problems
}

/// One message per folder cycle found (depth-first search, each back edge).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == n) {
            out.push(format!("folder cycle: {} -> {n}", path[i..].join(" -> ")));
            return;
        }
        if !done.insert(n.to_owned()) {
            return;
        }
        path.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten() {
            visit(m, graph, path, done, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, graph, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String, String)>) {
    for e in std::fs::read_dir(dir).expect("src readable") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).expect("under src").to_string_lossy().into_owned();
            let first = rel.split('/').next().expect("component");
            let stage = first.trim_end_matches(".rs").to_owned();
            if stage == "lib" || BINARY.contains(&stage.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("readable");
            out.push((stage, rel, text));
        }
    }
}

#[test]
fn no_stage_imports_a_higher_one_and_no_folder_cycle() {
    let root = common::root().join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 50, "read the sources: {}", files.len());
    let problems = violations(&files);
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_upward_imports_groups_and_cycles() {
    let f = |stage: &str, text: &str| (stage.to_owned(), format!("{stage}/x.rs"), text.to_owned());
    // Allowed: downward, own stage, comments, other crates' `crate::`.
    let ok = [
        f("flow", "use crate::decode::Ip;\nuse crate::flow::key::FlowKey;"),
        f("record", "// see crate::pipeline\nlet x = $crate::pipeline::X;"),
    ];
    assert_eq!(violations(&ok), Vec::<String>::new());
    // Upward, also inside a `use crate::{…}` group and on a path in an expression.
    let up = [
        f("record", "use crate::{flow::key::FlowKey, pipeline::{Pipeline, X}};"),
        f("decode", "fn f() { crate::report::load(); }"),
    ];
    let v = violations(&up);
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(v[0].contains("`record` (level 0) imports higher stage `flow`"), "{v:?}");
    assert!(v[1].contains("imports higher stage `pipeline`"), "{v:?}");
    assert!(v[2].contains("`decode` (level 2) imports higher stage `report`"), "{v:?}");
    // Two stages of one level importing each other: a folder cycle.
    let cycle = [f("output", "use crate::anonymize::A;"), f("anonymize", "use crate::output::B;")];
    let v = violations(&cycle);
    assert_eq!(v, vec!["folder cycle: anonymize -> output -> anonymize".to_owned()]);
    // A stage without a level is reported, not skipped.
    assert_eq!(violations(&[f("newstage", "")]).len(), 1);
}
