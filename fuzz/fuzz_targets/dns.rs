//! DNS over UDP and TCP, the response heuristic, and the address resolution of a parsed answer.
#![no_main]

use leakscope::dissect::dns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dns::looks_like_dns_response(data);
    if let Ok(m) = dns::parse(data) {
        let _ = dns::resolve_addresses(&m);
    }
    let _ = dns::parse_tcp(data);
});
