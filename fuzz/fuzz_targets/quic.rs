//! QUIC Initial: header protection, decryption, CRYPTO reassembly and the ClientHello inside, over
//! up to 8 datagrams (separated by the 4 bytes `QDGM` in the input), plus gQUIC: Q046's cleartext
//! CHLO, and Q050/T05x's gQUIC frames and CHLO on the input taken as a decrypted payload (behind
//! the AEAD tag, the fuzzer cannot reach them through the decryptor).
#![no_main]

use leakscope::dissect::quic::{self, QuicInitialState, q050};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quic::looks_like_quic_initial(data);
    let _ = quic::gquic_client_hello(data);
    let mut st = QuicInitialState::new();
    for dgram in split(data, b"QDGM").take(8) {
        let _ = st.feed_client_datagram(dgram);
    }
    // Q050: CRYPTO data contiguous from offset 0 (bounded like the decryptor's), then the CHLO.
    let mut crypto = Vec::new();
    let _ = q050::read_frames(data, |offset, bytes| {
        if usize::try_from(offset) == Ok(crypto.len())
            && crypto.len() + bytes.len() <= quic::MAX_CRYPTO_LEN
        {
            crypto.extend_from_slice(bytes);
        }
        Ok(())
    });
    let _ = q050::chlo_progress(q050::Q050, &crypto, 1);
    let _ = q050::chlo_progress(q050::Q050, data, 1);
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
