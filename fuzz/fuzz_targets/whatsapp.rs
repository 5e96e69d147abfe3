//! WhatsApp chat connection preface (`WA`/`ED` + version + Noise start).
#![no_main]

use leakscope::dissect::whatsapp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whatsapp::detect_preface(data);
});
