//! QUIC Initial: header protection, decryption, CRYPTO reassembly and the ClientHello inside, over
//! up to 8 datagrams (separated by the 4 bytes `QDGM` in the input), plus gQUIC Q046.
#![no_main]

use leakscope::dissect::quic::{self, QuicInitialState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quic::looks_like_quic_initial(data);
    let _ = quic::gquic_client_hello(data);
    let mut st = QuicInitialState::new();
    for dgram in split(data, b"QDGM").take(8) {
        let _ = st.feed_client_datagram(dgram);
    }
});

fn split<'a>(mut data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        match data.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                let (head, tail) = data.split_at(i);
                data = &tail[sep.len()..];
                Some(head)
            }
            None => Some(std::mem::take(&mut data)),
        }
    })
}
