//! Load sender for the live-capture benchmark (`scripts/live-load.sh`): sends the frames of a
//! capture out of an interface as fast as the kernel takes them, or at a set rate.
//!
//! tcpreplay sends one frame per `send(2)` and, on a 2-core machine, runs out of CPU before the
//! capture side does. This sender loads the capture into memory and hands the kernel 256 frames
//! per `sendmmsg(2)` on an `AF_PACKET` socket that bypasses the qdisc layer, so the kernel's own
//! per-frame work is what is left.
//!
//!     cargo run --release --example load-sender -- IFACE CAPTURE [--loops N] [--pps RATE]
//!
//! Linux only; needs CAP_NET_RAW. Prints what it sent and the rate reached.

use std::ffi::CString;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use leakscope::capture::file::read_file;
use leakscope::capture::{Packet, PacketSink};

/// Frames handed to the kernel per `sendmmsg`.
const BATCH: usize = 256;

/// Frames of a capture, back to back.
#[derive(Default)]
struct Frames {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl PacketSink for Frames {
    fn packet(&mut self, pkt: &Packet<'_>) {
        self.spans.push((self.bytes.len(), pkt.data.len()));
        self.bytes.extend_from_slice(pkt.data);
    }
}

struct Args {
    iface: String,
    capture: PathBuf,
    loops: u64,
    pps: Option<f64>,
}

fn args() -> Result<Args, String> {
    let usage = "usage: load-sender IFACE CAPTURE [--loops N] [--pps RATE]";
    let mut it = std::env::args().skip(1);
    let mut pos = Vec::new();
    let (mut loops, mut pps) = (1, None);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value; {usage}"));
        match a.as_str() {
            "--loops" => loops = value("--loops")?.parse().map_err(|e| format!("--loops: {e}"))?,
            "--pps" => pps = Some(value("--pps")?.parse().map_err(|e| format!("--pps: {e}"))?),
            _ => pos.push(a),
        }
    }
    let [iface, capture] = <[String; 2]>::try_from(pos).map_err(|_| usage.to_owned())?;
    Ok(Args { iface, capture: capture.into(), loops, pps })
}

/// An `AF_PACKET` socket bound to `iface`, sending only.
fn open(iface: &str) -> io::Result<i32> {
    let name = CString::new(iface).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: plain libc calls on values owned here; every result is checked.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        // Protocol 0: the socket receives nothing, so it costs the receive path nothing.
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = index as i32;
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        if libc::bind(fd, (&raw const sll).cast(), len) < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&raw const one).cast(),
            size,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

fn main() -> Result<(), String> {
    let a = args()?;
    let mut frames = Frames::default();
    let (_, err) = read_file(&a.capture, None, &mut frames);
    if let Some(e) = err {
        return Err(format!("{e}"));
    }
    if frames.spans.is_empty() {
        return Err(format!("{}: no packets", a.capture.display()));
    }
    let fd = open(&a.iface).map_err(|e| format!("{}: {e}", a.iface))?;
    let base = frames.bytes.as_mut_ptr();
    let mut iov: Vec<libc::iovec> = frames
        .spans
        .iter()
        // SAFETY: every span lies inside `frames.bytes`, which outlives the sends.
        .map(|&(at, len)| libc::iovec { iov_base: unsafe { base.add(at) }.cast(), iov_len: len })
        .collect();
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msgs: Vec<libc::mmsghdr> = iov
        .iter_mut()
        .map(|v| {
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let per_loop_bytes: u64 = frames.spans.iter().map(|&(_, l)| l as u64).sum();
    let (mut sent, mut retries) = (0u64, 0u64);
    let start = Instant::now();
    for _ in 0..a.loops {
        let mut at = 0;
        while at < msgs.len() {
            if let Some(pps) = a.pps {
                // Paced per batch: sleep until this frame is due.
                let due = Duration::from_secs_f64(sent as f64 / pps);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let n = (msgs.len() - at).min(BATCH);
            // SAFETY: `msgs[at..at + n]` are initialised headers pointing into live buffers.
            let r = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr().add(at), n as u32, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => {
                        retries += 1;
                        std::thread::yield_now();
                        continue;
                    }
                    _ => return Err(format!("{}: sendmmsg: {e}", a.iface)),
                }
            }
            at += r as usize;
            sent += r as u64;
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let bytes = per_loop_bytes * a.loops;
    println!(
        "sent {sent} packets ({:.1} MB) in {secs:.3} s = {:.0} packets/s, {:.0} Mbit/s ({retries} retries)",
        bytes as f64 / 1e6,
        sent as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e6
    );
    Ok(())
}
