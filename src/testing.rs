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

/// `packet` with one to three random bytes changed among its first `head`, and one time in four
/// cut short at a random length: how the parsers' differential tests make packets that lie.
pub fn mutate(rand: &mut impl FnMut() -> u64, packet: &[u8], head: usize) -> Vec<u8> {
    let mut m = packet.to_vec();
    for _ in 0..(rand() % 3 + 1) {
        let at = (rand() % head as u64) as usize % m.len();
        m[at] = rand() as u8;
    }
    if rand().is_multiple_of(4) {
        m.truncate((rand() as usize) % (m.len() + 1));
    }
    m
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

/// [`legacy_pcap`]'s file written big-endian with nanosecond timestamps (each record's
/// fraction the microseconds times 1 000, plus 999): the other byte order and resolution.
pub fn legacy_pcap_be_nanos(n: usize) -> Vec<u8> {
    let le = legacy_pcap(n);
    let word = |at: usize| u32::from_le_bytes(le[at..at + 4].try_into().expect("4 bytes"));
    let mut f = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend(word(16).to_be_bytes());
    f.extend(word(20).to_be_bytes());
    let mut at = 24;
    while at < le.len() {
        let caplen = word(at + 8) as usize;
        f.extend(word(at).to_be_bytes());
        f.extend((word(at + 4) * 1000 + 999).to_be_bytes());
        f.extend(word(at + 8).to_be_bytes());
        f.extend(word(at + 12).to_be_bytes());
        f.extend_from_slice(&le[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    f
}
