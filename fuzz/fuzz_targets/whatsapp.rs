//! WhatsApp chat connection preface (`WA`/`ED` + version + Noise start) and a legacy client's
//! clear login frames.
#![no_main]

use leakscope::dissect::{wa_legacy, whatsapp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let whatsapp::Detect::Match(p) = whatsapp::detect_preface(data) {
        let _ = wa_legacy::login(&data[p.header_end.min(data.len())..]);
    }
    let _ = wa_legacy::login(data);
});
