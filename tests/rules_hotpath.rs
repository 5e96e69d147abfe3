//! The hot path: host, address, signature and ASN lookups allocate nothing, and are fast.
//!
//! Counting allocations needs a `GlobalAlloc`, whose impl is `unsafe`; it lives in this test crate
//! only (the library denies `unsafe_code` outside its two reasoned places, the mapped capture reader
//! and the prefetch hint) and just forwards to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::time::Instant;

use leakscope::classify::Ruleset;

struct Counting;

thread_local! {
    /// Allocations made by this thread: the test harness's own threads allocate concurrently.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to `System`, which upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: a thread being torn down has no counter left, and needs none.
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const HOSTS: &[&str] = &[
    "g.whatsapp.net",
    "MMG.WhatsApp.NET.",
    "media-fra3-1.cdn.whatsapp.net",
    "scontent-fra3-1.xx.fbcdn.net",
    "whatsapp-cdn-shv-01-fra3.fbcdn.net",
    "fbcdn-profile-a.akamaihd.net",
    "a.very.long.name.that.is.not.meta.example.com",
    "example.org",
];

const IPS: &[&str] =
    &["157.240.2.53", "157.240.9.1", "2a03:2880:f0ff::1", "8.8.8.8", "::ffff:31.13.64.61"];

#[test]
fn lookups_do_not_allocate_and_are_fast() {
    let rules = Ruleset::builtin();
    let ips: Vec<IpAddr> = IPS.iter().map(|s| s.parse().unwrap()).collect();
    let rounds = 20_000;
    let before = allocs();
    let (mut host_hits, mut ip_hits, mut other_hits) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    for _ in 0..rounds {
        for h in HOSTS {
            host_hits += usize::from(rules.match_host(std::hint::black_box(h)).is_some());
        }
    }
    let host_ns = t.elapsed().as_nanos() / (rounds * HOSTS.len()) as u128;
    let t = Instant::now();
    for _ in 0..rounds {
        for ip in &ips {
            ip_hits += usize::from(rules.match_ip(std::hint::black_box(*ip)).is_some());
        }
    }
    let ip_ns = t.elapsed().as_nanos() / (rounds * ips.len()) as u128;
    for _ in 0..rounds {
        other_hits += usize::from(
            rules
                .match_signature(std::hint::black_box(
                    leakscope::dissect::Signature::WhatsappPreface,
                ))
                .is_some(),
        );
        other_hits += usize::from(rules.match_asn(std::hint::black_box(32934)).is_some());
    }
    let allocs = allocs() - before;
    assert_eq!(allocs, 0, "lookups allocated {allocs} times");
    assert_eq!((host_hits, ip_hits, other_hits), (rounds * 6, rounds * 4, rounds * 2));
    let build = if cfg!(debug_assertions) { "debug" } else { "optimised" };
    eprintln!("{host_ns} ns per host lookup, {ip_ns} ns per address lookup ({build} build)");
    // Only an optimised build says anything about speed. The target is ~100 ns; the bound is loose
    // because the machine is shared, and catches only a gross regression (e.g. a linear scan).
    if !cfg!(debug_assertions) {
        assert!(host_ns < 1_000 && ip_ns < 1_000, "{host_ns} / {ip_ns} ns per lookup");
    }
}
