//! TLS ClientHello: from records (TCP), from a bare handshake message (QUIC CRYPTO) and from a
//! DTLS datagram, then the JA3/JA4 fingerprints of whatever parsed.
#![no_main]

use leakscope::dissect::{ja4, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for ch in [
        tls::parse_client_hello_records(data),
        tls::parse_client_hello_handshake(data),
        tls::parse_dtls_client_hello(data),
    ]
    .into_iter()
    .flatten()
    {
        let _ = ja4::ja4(&ch, ja4::Transport::Tcp);
        let _ = ja4::ja4(&ch, ja4::Transport::Quic);
        let _ = ja4::ja4(&ch, ja4::Transport::Dtls);
        let _ = ja4::ja3_hash(&ch);
    }
});
