//! DHCP/BOOTP message and options.
#![no_main]

use leakscope::dissect::dhcp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dhcp::parse(data);
    if let Ok(d) = dhcp::Dhcp::new_checked(data) {
        let _ = (d.op(), d.client_mac(), d.has_magic_cookie(), d.options());
    }
});
