//! TLS ClientHello: from records (TCP, SSLv2 format included), from a bare handshake message
//! (QUIC CRYPTO) and from a DTLS datagram, then the JA3/JA4 fingerprints of whatever parsed;
//! and the server's first flight: ServerHello and the leaf of the Certificate chain (x509), at
//! the 16 KiB per-flow cap the pipeline uses and at a cap cut to the input's length.
#![no_main]

use leakscope::dissect::{cert, ja4, stream, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = cert::parse_server_certificate(data, stream::MAX_STREAM) {
        assert!(c.san_dns.len() <= cert::MAX_SAN_NAMES);
        let _ = c.names().count();
    }
    let _ = cert::parse_server_certificate(data, data.len());
    for ch in [
        tls::parse_client_hello_records(data),
        tls::parse_client_hello_handshake(data),
        tls::parse_dtls_client_hello(data),
    ]
    .into_iter()
    .flatten()
    {
        let _ = ja4::ja4(&ch, ja4::HelloTransport::Tcp);
        let _ = ja4::ja4(&ch, ja4::HelloTransport::Quic);
        let _ = ja4::ja4(&ch, ja4::HelloTransport::Dtls);
        let _ = ja4::ja3_hash(&ch);
    }
});
