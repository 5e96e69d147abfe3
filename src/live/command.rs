//! `leakscope capture` and `leakscope interfaces` once the command line is read (the binary
//! merges flags over the config file into [`LiveOptions`]): run, record the manifest, summarise.

use std::path::Path;

use super::LiveOptions;
use crate::capture::iface;

/// Runs `leakscope capture` with `opts` (flags and config file already merged), records the
/// manifest and prints the summary.
pub fn capture(opts: &LiveOptions) -> anyhow::Result<()> {
    let out: &Path = &opts.out;
    let recorder = crate::manifest::Recorder::capture(&opts.capture.interface, &opts.rules_dirs);
    let o = super::run(opts, |iface, lt| {
        // The line tests and scripts wait for: capture has started.
        let what = if iface.starts_with("udp:") { "PCAPdroid stream" } else { lt.name() };
        crate::term::say(&format!(
            "leakscope: capturing on {iface} ({what}), writing to {}",
            out.display()
        ));
    })?;
    let c = &o.capture;
    let counts = serde_json::json!({
        "received": c.received,
        "dropped": c.dropped,
        "if_dropped": c.if_dropped,
        "delivered": c.delivered,
        "flow_records": o.run.records,
        "meta_records": o.run.meta_records,
        "bytes_written": o.bytes_written,
        "decode_errors": o.run.packets.decode_errors.total(),
        "certs_capped": o.run.certs_capped,
        "carried_evicted": o.run.carried_evicted,
        "segments_refused": crate::dissect::stream::refused(),
        "exposure_caps": opts.exposure.caps.count(),
        "wall_seconds": o.elapsed.as_secs_f64(),
    });
    // Rotated files move on (and get compressed): only the inputs side is recorded.
    if let Err(e) = recorder.finish(out, counts, &[]) {
        crate::term::say(&format!("leakscope: manifest not written: {e}"));
    }
    crate::term::say(&format!(
        "leakscope: {} received, {} dropped by the kernel, {} by the interface, {} delivered; \
         {} flow records ({} to Meta, {} bytes), {} decode errors, {:.1} s",
        c.received,
        c.dropped,
        c.if_dropped,
        c.delivered,
        o.run.records,
        o.run.meta_records,
        o.bytes_written,
        o.run.packets.decode_errors.total(),
        o.elapsed.as_secs_f64()
    ));
    if let Some(u) = c.udp {
        crate::term::say(&format!(
            "leakscope: udp: {} datagrams, {} refused (outside --allow), {} malformed, {} \
             without a stream header, {} out of order, {} over the sender limit, {} senders \
             timed out",
            u.datagrams,
            u.refused,
            u.malformed,
            u.no_header,
            u.out_of_order,
            u.over_sender_limit,
            u.senders_timed_out
        ));
    }
    if let Some(p) = o.pcap {
        crate::term::say(&format!("leakscope: {}", crate::output::pcap::summary(&p)));
    }
    Ok(())
}

/// Runs `leakscope interfaces`.
pub fn interfaces() -> anyhow::Result<()> {
    let list = iface::list()?;
    for i in &list {
        println!("{i}");
    }
    println!("\n{}", iface::HEURISTIC);
    Ok(())
}
