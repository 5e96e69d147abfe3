//! STUN over UDP, and the RTP/RTCP checks used after STUN.
#![no_main]

use leakscope::dissect::stun;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stun::classify(data);
    let _ = stun::looks_like_rtp(data);
    let _ = stun::looks_like_rtcp(data);
    if let Ok(s) = stun::Stun::new_checked(data) {
        let _ = (s.msg_type().class(), s.length(), s.transaction_id());
        for a in s.attributes() {
            let _ = a;
        }
    }
});
