//! The report of a 40-phone capture, and of every shared capture, is read and rendered in under
//! a second (optimised build; a debug build gets 8 s, its template engine and JSON are slower).
//! The 40 phones are the exposure-day phone 40 times over: its MAC, address and DHCP host name
//! rewritten, each copy 37 s later than the one before, all interleaved in packet time.

mod common;

use std::path::Path;
use std::time::Instant;

const LIMIT_SECS: f64 = if cfg!(debug_assertions) { 8.0 } else { 1.0 };

fn replace_all(frame: &mut [u8], from: &[u8], to: &[u8]) {
    let mut i = 0;
    while i + from.len() <= frame.len() {
        if &frame[i..i + from.len()] == from {
            frame[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// The IPv4 header checksum again (addresses changed); UDP checksums zeroed (allowed over IPv4).
fn fix_checksums(frame: &mut [u8]) {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if frame.len() < 14 + ihl {
        return;
    }
    frame[24..26].copy_from_slice(&[0, 0]);
    let sum = frame[14..14 + ihl]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    frame[24..26].copy_from_slice(&sum.to_be_bytes());
    if frame[23] == 17 && frame.len() >= 14 + ihl + 8 {
        frame[14 + ihl + 6..14 + ihl + 8].copy_from_slice(&[0, 0]);
    }
}

/// Writes the 40-phone capture (classic little-endian pcap, like its source).
fn forty_phones(out: &Path) {
    let src = std::fs::read(common::root().join("captures/exposure-day.pcap")).unwrap();
    assert_eq!(src[..4], [0xd4, 0xc3, 0xb2, 0xa1], "expected a little-endian µs pcap");
    let mut packets: Vec<(u64, Vec<u8>)> = Vec::new();
    for k in 0..40u8 {
        let mut at = 24;
        while at + 16 <= src.len() {
            let u32_at = |o: usize| u32::from_le_bytes(src[o..o + 4].try_into().unwrap());
            let (sec, usec, incl) = (u32_at(at), u32_at(at + 4), u32_at(at + 8) as usize);
            let mut frame = src[at + 16..at + 16 + incl].to_vec();
            replace_all(
                &mut frame,
                &[0x00, 0x1a, 0x11, 0x00, 0x00, 0x0a],
                &[0x00, 0x1a, 0x11, 0x00, 0x01, k],
            );
            replace_all(&mut frame, &[10, 42, 0, 23], &[10, 42, 1, 10 + k]);
            replace_all(&mut frame, b"galaxy-s23", format!("phone-{k:04}").as_bytes());
            fix_checksums(&mut frame);
            let ts = (u64::from(sec) + 37 * u64::from(k)) * 1_000_000 + u64::from(usec);
            packets.push((ts, frame));
            at += 16 + incl;
        }
    }
    packets.sort_by_key(|p| p.0);
    let mut o = src[..24].to_vec();
    for (ts, frame) in packets {
        o.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        o.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        o.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        o.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        o.extend_from_slice(&frame);
    }
    std::fs::write(out, o).unwrap();
}

/// Loads and renders the report of `dir` (HTML and text); returns the seconds it took and the
/// page.
fn time_report(dir: &Path) -> (f64, String) {
    let started = Instant::now();
    let report = leakscope::report::load(dir).unwrap();
    let page = leakscope::report::html::render(&report);
    let _ = leakscope::report::text::render(&report);
    (started.elapsed().as_secs_f64(), page)
}

#[test]
fn forty_phones_render_in_under_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("forty.pcap");
    forty_phones(&pcap);
    let (_, out, _) = common::replay_to_temp(&[pcap]);
    let (secs, page) = time_report(out.path());
    let report = leakscope::report::load(out.path()).unwrap();
    let phones = report.devices.iter().filter(|d| d.device.starts_with("00:1a:11:00:01:")).count();
    assert_eq!(phones, 40, "the capture should hold 40 phones");
    assert!(report.devices.iter().filter(|d| d.meta_flows > 0).count() >= 40);
    assert!(page.contains("phone-0039"));
    eprintln!(
        "40 phones: {} devices, {} flows, page {} kB, {secs:.3} s",
        report.devices.len(),
        report.flows.len(),
        page.len() / 1000
    );
    assert!(secs < LIMIT_SECS, "40 phones: the report took {secs:.2} s (limit {LIMIT_SECS} s)");
}

#[test]
fn shared_captures_render_in_under_a_second() {
    let Some(shared) = common::shared_captures("shared_captures_render_in_under_a_second") else {
        return;
    };
    let mut inputs = common::captures_in(&shared, "meta");
    inputs.extend(common::captures_in(&shared, "negative"));
    let activity = shared.join("activity/pcap");
    if activity.is_dir() {
        inputs.push(activity);
    }
    let (_, out, _) = common::replay_to_temp(&inputs);
    let (secs, page) = time_report(out.path());
    eprintln!("shared captures: page {} kB, {secs:.3} s", page.len() / 1000);
    assert!(page.contains("<table id=\"devices\""));
    assert!(
        secs < LIMIT_SECS,
        "shared captures: the report took {secs:.2} s (limit {LIMIT_SECS} s)"
    );
}
