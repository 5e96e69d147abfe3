//! The HTML report in headless Chromium, at a desktop (1400 px) and a phone (400 px) width: no
//! script or console error, no horizontal overflow (also with 126 devices), nothing fetched,
//! every read-back value escaped, activities linked to their flows. Screenshots go to
//! `$LEAKSCOPE_SCREENSHOTS` when set (`docs/` holds the committed ones).
//! Skips (saying so) without Chromium; fails under CI (`CI=true`), where install-deps installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn chromium(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: chromium is required under CI (scripts/install-deps.sh installs it)");
    }
    eprintln!("SKIPPED {test}: no chromium in PATH (apt-get install chromium)");
    None
}

/// Appended to a copy of the page: measures the layout once the page's own script ran, sorts the
/// flow table by bytes sent (twice: descending), clicks the first activity's flows link, and writes what it saw into the DOM for `--dump-dom`.
const PROBE: &str = "<script>(function(){var b=document.body,d=document.documentElement;
b.dataset.sw=String(Math.max(d.scrollWidth,b.scrollWidth));b.dataset.iw=String(window.innerWidth);
b.dataset.res=String(performance.getEntriesByType('resource').length);
b.dataset.scripts=String(document.scripts.length);
var ft=document.getElementById('flowtable');if(ft){var th=ft.tHead.rows[0].cells[9];th.click();th.click();
var v=[].map.call(ft.tBodies[0].rows,function(r){return +r.cells[9].dataset.v;});
b.dataset.sorted=String(v.length>1&&v[0]>v[v.length-1]&&v.every(function(x,i){return i==0||v[i-1]>=x;}));}
var a=document.querySelector('a.uids');if(a){a.click();
b.dataset.linked=a.dataset.uids.split(' ').length+'/'+document.getElementById('fcount').textContent;}
})();</script>";

/// Runs headless Chromium on `page` at `width` px; returns (DOM, stderr). With `shot`, also a
/// screenshot (a second run: `--dump-dom` and `--screenshot` do not combine).
///
/// Chromium's window is at least 500 px wide, so the page is measured in an iframe of exactly
/// `width` px (`srcdoc`: same origin, so the wrapper can read what the probe wrote).
fn chromium_run(browser: &Path, page: &Path, width: u32, shot: Option<&Path>) -> (String, String) {
    let html = std::fs::read_to_string(page).unwrap();
    let at = html.rfind("</body>").expect("</body>");
    let probed = format!("{}{PROBE}{}", &html[..at], &html[at..]);
    let wrap = |doc: &str, height: u32, name: &str| {
        let path = page.with_extension(name);
        let doc = doc.replace('&', "&amp;").replace('"', "&quot;");
        std::fs::write(
            &path,
            format!(
                "<!doctype html><html><body style=\"margin:0;background:#f6f7f9\"><iframe id=\"p\" style=\"border:0;display:block\" width=\"{width}\" height=\"{height}\" srcdoc=\"{doc}\"></iframe>\
<script>document.getElementById('p').addEventListener('load',function(){{var s=this.contentDocument;\
var o=document.createElement('pre');o.id='probe';o.textContent=JSON.stringify(Object.assign({{}},s.body.dataset,s.documentElement.dataset));\
document.body.appendChild(o);document.body.appendChild(document.importNode(s.body,true));}});</script></body></html>"
            ),
        )
        .unwrap();
        path
    };
    let wrapper = wrap(&probed, 900, "probe.html");
    let run = |extra: &[String], target: &Path, w: u32| {
        let profile = tempfile::tempdir().unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        let err = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--allow-file-access-from-files",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--window-size={w},{}", if shot.is_some() { 2400 } else { 900 }))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", target.display()))
            .current_dir(profile.path())
            .stdin(Stdio::null())
            .stdout(out.reopen().unwrap())
            .stderr(err.reopen().unwrap())
            .spawn()
            .expect("chromium starts");
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(90) {
                child.kill().ok();
                child.wait().ok();
                panic!("chromium did not finish in 90 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let read =
            |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
        (read(&out), read(&err))
    };
    let (dom, log) = run(&["--dump-dom".into()], &wrapper, width.max(500) + 100);
    if let Some(shot) = shot {
        let _ = std::fs::remove_file(shot);
        // The page itself where the window can be that wide; else the iframe, 2400 px tall.
        let (target, w) = if width >= 500 {
            (page.to_path_buf(), width)
        } else {
            (wrap(&html, 2400, "shot.html"), 500)
        };
        let (_, slog) = run(&[format!("--screenshot={}", shot.display())], &target, w);
        let png = std::fs::read(shot).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "no screenshot at {}: {slog}",
            shot.display()
        );
    }
    (dom, log)
}

/// A value the probe saw, from the wrapper's `<pre id="probe">` JSON.
fn attr(dom: &str, name: &str) -> Option<String> {
    let at = dom.find("<pre id=\"probe\">")? + "<pre id=\"probe\">".len();
    let json = dom[at..at + dom[at..].find("</pre>")?]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v: Value = serde_json::from_str(&json).ok()?;
    v.get(name).and_then(|x| x.as_str()).map(str::to_string)
}
/// Layout, errors and network at one width.
fn check_page(browser: &Path, page: &Path, width: u32, shot: Option<&Path>) -> String {
    let (dom, log) = chromium_run(browser, page, width, shot);
    let what = format!("{} at {width} px", page.display());
    assert_eq!(
        attr(&dom, "ok").as_deref(),
        Some("1"),
        "{what}: the page script did not run to its end:\n{log}"
    );
    assert!(attr(&dom, "error").is_none(), "{what}: script error {:?}", attr(&dom, "error"));
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused"))
        .collect();
    assert!(console.is_empty(), "{what}: console messages: {console:?}");
    let num = |k: &str| -> i64 {
        attr(&dom, k).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{what}: no {k}"))
    };
    assert_eq!(num("iw"), i64::from(width), "{what}: the window is not {width} px wide");
    assert!(
        num("sw") <= num("iw"),
        "{what}: horizontal overflow: {} px wide in {} px",
        num("sw"),
        num("iw")
    );
    assert_eq!(num("res"), 0, "{what}: the page loaded resources");
    dom
}

/// Escapes nothing itself: the page must.
const HOSTILE: &str = "<script>document.body.dataset.pwned='1'</script>\"'><img src=x onerror=\"document.body.dataset.pwned='1'\">&amp;";

/// An output directory made from the exposure-day replay: `copies` more phones with Meta
/// contacts, `quiet` more devices without, and hostile strings in names the report shows.
fn crafted(src: &Path, dst: &Path, copies: usize, quiet: usize) {
    let events = std::fs::read_to_string(src.join("events.jsonl")).unwrap();
    let mut out = String::new();
    let phone = "00:1a:11:00:00:0a";
    for line in events.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let is = |k: &str| kind == k;
        if is("device") && v["device"] == "02:00:00:00:00:fe" {
            v["hostname"] = Value::from(HOSTILE);
            for i in 0..quiet {
                let mut q = v.clone();
                q["device"] = Value::from(format!("06:00:00:00:{:02x}:{:02x}", i / 256, i % 256));
                q["hostname"] = Value::from(format!("quiet-device-with-a-long-name-{i}"));
                out.push_str(&format!("{q}\n"));
            }
        }
        if is("device") && v["device"] == phone {
            v["hostname"] = Value::from(format!("galaxy-s23 {HOSTILE}"));
            v["user_agents"] = Value::from(vec![HOSTILE]);
        }
        if is("exposure")
            && v["device"] == phone
            && v["evidence"].as_array().is_some_and(|e| !e.is_empty())
        {
            v["evidence"][0] = Value::from(HOSTILE);
        }
        let copy_of_phone = v["device"] == phone
            && ["device", "session", "activity", "exposure"].iter().any(|k| is(k));
        out.push_str(&format!("{v}\n"));
        if copy_of_phone {
            for i in 0..copies {
                let mut c = v.clone();
                c["device"] = Value::from(format!("00:1a:11:00:01:{i:02x}"));
                if is("device") {
                    c["hostname"] = Value::from(format!("phone-{i}"));
                }
                out.push_str(&format!("{c}\n"));
            }
        }
    }
    std::fs::write(dst.join("events.jsonl"), out).unwrap();
    let flows = std::fs::read_to_string(src.join("flows.jsonl")).unwrap();
    let mut fout = String::new();
    for (i, line) in flows.lines().enumerate() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if i == 0 {
            v["server_name"] = Value::from(HOSTILE);
        }
        fout.push_str(&format!("{v}\n"));
    }
    std::fs::write(dst.join("flows.jsonl"), fout).unwrap();
}

fn render(dir: &Path, page: &Path) -> String {
    let report = leakscope::report::load(dir).unwrap();
    let html = leakscope::report::html::render(&report);
    std::fs::write(page, &html).unwrap();
    html
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium("html_report_renders_in_headless_chromium") else { return };
    let capture = common::root().join("captures/exposure-day.pcap");
    let (_, dir, _) = common::replay_to_temp(&[capture]);
    let page = dir.path().join("report.html");
    let html = render(dir.path(), &page);
    // Self-contained: nothing to fetch, and a policy that would refuse it.
    assert!(html.contains("content=\"default-src 'none';"), "no Content-Security-Policy");
    for needle in ["http://", "https://", "src=\"", "<link", "url("] {
        assert!(!html.contains(needle), "the page references {needle}");
    }
    // Absolute: Chromium runs in its profile directory.
    let shots = std::env::var_os("LEAKSCOPE_SCREENSHOTS")
        .map(|d| std::path::absolute(PathBuf::from(d)).unwrap());
    for (width, name) in [(1400, "report-desktop.png"), (400, "report-phone.png")] {
        let shot = shots.as_ref().map_or_else(|| dir.path().join(name), |d| d.join(name));
        let dom = check_page(&browser, &page, width, Some(&shot));
        assert!(dom.contains("<table id=\"devices\""), "no device table in the DOM");
        assert!(
            dom.contains("00:1a:11:00:00:0a") && dom.contains("galaxy-s23"),
            "phone row missing"
        );
        assert!(
            dom.contains("02:00:00:00:00:0b") && dom.contains("thinkpad-x1"),
            "laptop row missing"
        );
        assert!(dom.contains("id=\"flowtable\"") && dom.contains("id=\"matrix\""));
        assert_eq!(
            attr(&dom, "sorted").as_deref(),
            Some("true"),
            "the flow table does not sort by bytes sent"
        );
        // The first activity's link shows exactly its flows.
        let linked = attr(&dom, "linked").expect("an activity links to its flows");
        let (want, shown) = linked.split_once('/').unwrap();
        assert_eq!(want, shown, "the activity's flows link shows {shown} rows for {want} flows");
    }
}

#[test]
fn html_report_escapes_every_value_and_fits_126_devices() {
    let Some(browser) = chromium("html_report_escapes_every_value_and_fits_126_devices") else {
        return;
    };
    let capture = common::root().join("captures/exposure-day.pcap");
    let (_, src, _) = common::replay_to_temp(&[capture]);
    let dir = tempfile::tempdir().unwrap();
    // 1 + 23 phones and the laptop with Meta contacts, 1 + 100 quiet devices: 126.
    crafted(src.path(), dir.path(), 23, 100);
    let page = dir.path().join("report.html");
    let html = render(dir.path(), &page);
    assert!(
        !html.contains("<script>document.body") && !html.contains("<img src=x"),
        "a value went out unescaped"
    );
    assert!(html.contains("&lt;script&gt;document.body"), "the hostile name is not shown as text");
    let head = &html[html.find("<header>").unwrap()..html.find("</header>").unwrap()];
    assert!(head.contains("126 device(s), 25 with Meta contacts"), "{head}");
    assert!(html.contains("101 device(s) without Meta contacts"));
    for width in [1400, 400] {
        let dom = check_page(&browser, &page, width, None);
        assert!(attr(&dom, "pwned").is_none(), "an injected script ran at {width} px");
        // The page's three scripts (error hook, page, probe), none from the data.
        assert_eq!(attr(&dom, "scripts").as_deref(), Some("3"));
        assert!(!dom.contains("<img"), "an injected element is in the DOM");
    }
    let tall = html.matches("<section").count();
    assert!(tall <= 30, "{tall} sections: the quiet devices must fold into one line");
}
