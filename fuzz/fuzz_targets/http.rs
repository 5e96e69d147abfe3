//! HTTP/1 request head, response Set-Cookie names and the WhatsApp User-Agent parser.
#![no_main]

use leakscope::dissect::http;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = http::looks_like_http_request(data);
    let _ = http::set_cookie_names(data);
    if let Ok(req) = http::parse_request(data)
        && let Some(ua) = req.user_agent.as_deref()
    {
        let _ = http::parse_whatsapp_user_agent(ua);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = http::parse_whatsapp_user_agent(s);
    }
});
