//! Crypto-PAn (Xu, Fan, Ammar, Moon 2002): prefix-preserving address anonymisation with AES-128.
//! Two addresses sharing a k-bit prefix map to two addresses sharing a k-bit prefix, and no more;
//! without the key the mapping cannot be inverted. IPv6 uses the same construction over 128 bits.

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

/// A keyed Crypto-PAn instance.
pub struct CryptoPan {
    cipher: Aes128,
    /// AES(pad key): the bits that fill the block past the prefix being encrypted.
    pad: u128,
}

impl CryptoPan {
    /// From 32 bytes of key material: the AES key, then the pad seed (as in the reference code).
    pub fn new(key: &[u8; 32]) -> Self {
        let mut k = [0u8; 16];
        k.copy_from_slice(&key[..16]);
        let cipher = Aes128::new(&Array::from(k));
        let mut pad = [0u8; 16];
        pad.copy_from_slice(&key[16..]);
        let mut block = Array::from(pad);
        cipher.encrypt_block(&mut block);
        CryptoPan { cipher, pad: u128::from_be_bytes(block.into()) }
    }

    fn prf_msb(&self, input: u128) -> u128 {
        let mut block = Array::from(input.to_be_bytes());
        self.cipher.encrypt_block(&mut block);
        u128::from(block[0] >> 7)
    }

    /// Anonymises the top `bits` bits of `addr` (left-aligned in a u128): bit i of the result is
    /// bit i of the input XOR the first bit of AES(first i input bits ‖ pad bits).
    fn anonymize_bits(&self, addr: u128, bits: u32) -> u128 {
        let mut otp = 0u128;
        for i in 0..bits {
            // First i bits of the address, the rest from the pad.
            let keep = if i == 0 { 0 } else { u128::MAX << (128 - i) };
            let input = (addr & keep) | (self.pad & !keep);
            otp |= self.prf_msb(input) << (127 - i);
        }
        addr ^ otp
    }

    /// Anonymises an IPv4 address.
    pub fn ipv4(&self, a: u32) -> u32 {
        (self.anonymize_bits(u128::from(a) << 96, 32) >> 96) as u32
    }

    /// Anonymises an IPv6 address.
    pub fn ipv6(&self, a: u128) -> u128 {
        self.anonymize_bits(a, 128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference implementation's published key and sample pairs (`sample_trace_raw.txt` →
    /// `sample_trace_sanitized.txt`), so this is Crypto-PAn and not merely something like it.
    #[test]
    fn reference_vectors() {
        let key: [u8; 32] = [
            21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143,
            131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
        ];
        let c = CryptoPan::new(&key);
        let pairs = [
            ("128.11.68.132", "135.242.180.132"),
            ("129.118.74.4", "134.136.186.123"),
            ("130.132.252.244", "133.68.164.234"),
            ("141.223.7.43", "141.167.8.160"),
            ("141.233.145.108", "141.129.237.235"),
            ("152.163.225.39", "151.140.114.167"),
            ("156.29.3.236", "147.225.12.42"),
            ("165.247.96.84", "162.9.99.234"),
            ("166.107.77.190", "160.132.178.185"),
            ("192.102.249.13", "252.138.62.131"),
        ];
        for (raw, anon) in pairs {
            let raw: std::net::Ipv4Addr = raw.parse().unwrap();
            let anon: std::net::Ipv4Addr = anon.parse().unwrap();
            assert_eq!(std::net::Ipv4Addr::from(c.ipv4(raw.into())), anon, "{raw}");
        }
    }

    #[test]
    fn prefix_preserving_v6() {
        let c = CryptoPan::new(&[7; 32]);
        let a = c.ipv6(0x2001_0db8_0000_0000_0000_0000_0000_0001);
        let b = c.ipv6(0x2001_0db8_0000_0000_ffff_0000_0000_0002);
        // Same /64 in → same /64 out; the 65th bit and later differ as the inputs differ.
        assert_eq!((a ^ b).leading_zeros(), 64);
    }
}
