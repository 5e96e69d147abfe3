//! Helpers for the unit tests of every stage.

/// A xorshift64 generator: the same numbers on every machine, so a randomised test that fails
/// fails again.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// A legacy pcap file (µs, little-endian, Ethernet) of `n` records of varied sizes, now and
/// then one (10 000 bytes) larger than a small reader buffer or mapped window.
pub fn legacy_pcap(n: usize) -> Vec<u8> {
    let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend(65_535u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    for i in 0..n {
        let len = if i % 700 == 350 { 10_000 } else { 20 + (i * 37) % 300 };
        f.extend((i as u32).to_le_bytes());
        f.extend(((i * 7) as u32 % 1_000_000).to_le_bytes());
        f.extend((len as u32).to_le_bytes());
        f.extend((len as u32 + 4).to_le_bytes());
        f.extend((0..len).map(|j| (i + j) as u8));
    }
    f
}
