//! Lowercase hex for digests and MAC addresses, from a table: `format!("{:02x}")` goes through
//! the formatting machinery for every byte, which was 4 % of a replay's instructions (two MACs
//! per flow record, JA3 and JA4 digests per TLS hello).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lowercase hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(m: [u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        push_hex(&mut s, std::slice::from_ref(b));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_the_formatter() {
        let all: Vec<u8> = (0..=255).collect();
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), want);
        let m = [0x00, 0x1a, 0xff, 0x80, 0x09, 0xa0];
        assert_eq!(
            mac_string(m),
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )
        );
    }
}
