//! What a legacy WhatsApp client (chat protocol 1.x, 2015 and before) sent in clear before its
//! stream turned encrypted: the client build in the stream start (`Android-2.12.84`) and, in the
//! `<auth>` node, the account's phone number as the `user` attribute.
//!
//! Layout, read from the 2015 captures (`whatsapp_login_chat.pcap`, `whatsapp_voice_and_message.pcap`,
//! `waze.pcap`): after `WA 01 05`, frames of a 3-byte header (flag nibble, 20-bit length; flag
//! `8` = encrypted) and a FunXMPP node. Frame 1 is the stream start, frame 2 the features, frame 3
//! `<auth>`: `f8 06 0c 56 bf b5 fc 0c "393473461768" fc 50 …` (list of 6, tag `0c` auth,
//! `56`=`bf` mechanism WAUTH-2, `b5`=user as a string) or `… 0c b5 ff 87 55 21 98 …` (user
//! nibble-packed: `ff`, byte count with the odd-length bit, two digits per byte).
//!
//! The number is masked while parsing ([`MaskedPhone`]): only the country calling code and the
//! last two digits leave this module; the digits live in a stack buffer that is dropped here.

use core::fmt;

/// Token of the `auth` tag in the 1.x dictionary.
const TAG_AUTH: u8 = 0x0c;
/// Token of the `user` attribute in the 1.x dictionary.
const ATTR_USER: u8 = 0xb5;
/// FunXMPP list headers: 8-bit and 16-bit size.
const LIST_8: u8 = 0xf8;
const LIST_16: u8 = 0xf9;
/// String with an 8-bit, 20-bit, 32-bit length.
const BINARY_8: u8 = 0xfc;
const BINARY_20: u8 = 0xfd;
const BINARY_32: u8 = 0xfe;
/// A `user@server` pair of two values.
const JID_PAIR: u8 = 0xfa;
/// Nibble-packed (digits, `-`, `.`) and hex-packed strings.
const NIBBLE_8: u8 = 0xff;
const HEX_8: u8 = 0xfb;
/// Two-byte dictionary tokens.
const DICT_FIRST: u8 = 0xec;
const DICT_LAST: u8 = 0xef;
/// Frame flag of an encrypted frame: nothing after it is in clear.
const FLAG_ENCRYPTED: u8 = 0x8;
/// Clear frames looked at before giving up (stream start, features, auth, and some slack).
const MAX_FRAMES: usize = 6;
/// Phone numbers: E.164 allows at most 15 digits; shorter than 7 is not a subscriber number.
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// A phone number reduced to what may be shown: `+55…10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedPhone {
    /// Country calling code (1–3 digits).
    pub country_code: Box<str>,
    /// Last two digits.
    pub last_two: [u8; 2],
}

impl fmt::Display for MaskedPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.last_two;
        write!(f, "+{}…{}{}", self.country_code, a as char, b as char)
    }
}

/// Two-digit ITU-T E.164 country calling codes; `1` and `7` are one digit, every other code
/// has three (ITU-T E.164 list of assigned codes).
const TWO_DIGIT_CODES: &[u8] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// Masks international digits (no `+`): `None` unless they look like a phone number.
pub fn mask_phone(digits: &[u8]) -> Option<MaskedPhone> {
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
        || !digits.iter().all(u8::is_ascii_digit)
        || digits[0] == b'0'
    {
        return None;
    }
    let two = (digits[0] - b'0') * 10 + (digits[1] - b'0');
    let cc_len = match digits[0] {
        b'1' | b'7' => 1,
        _ if TWO_DIGIT_CODES.contains(&two) => 2,
        _ => 3,
    };
    let cc = core::str::from_utf8(&digits[..cc_len]).ok()?;
    let n = digits.len();
    Some(MaskedPhone { country_code: cc.into(), last_two: [digits[n - 2], digits[n - 1]] })
}

/// What the clear part of a legacy stream told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyLogin {
    /// The client build named in the stream start, e.g. `Android-2.12.84`.
    pub resource: Option<String>,
    /// The account's phone number, masked.
    pub phone: Option<MaskedPhone>,
}

/// Outcome of [`login`] on the bytes gathered so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A frame is not complete yet.
    Need,
    /// Decided: what was found (possibly nothing) before encryption started.
    Done(LegacyLogin),
}

/// Reads the clear frames of a legacy stream; `frames` starts just past the `WA` header.
pub fn login(frames: &[u8]) -> Step {
    let mut at = 0;
    let mut found = LegacyLogin::default();
    for i in 0..MAX_FRAMES {
        let Some(h) = frames.get(at..at + 3) else { return Step::Need };
        if h[0] >> 4 & FLAG_ENCRYPTED != 0 {
            break;
        }
        let len = usize::from(h[0] & 0x0f) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let Some(node) = frames.get(at + 3..at + 3 + len) else { return Step::Need };
        if i == 0 {
            found.resource = super::whatsapp::stream_start_resource(&frames[at..at + 3 + len]);
        }
        if let Some(phone) = auth_user(node) {
            found.phone = Some(phone);
            break;
        }
        at += 3 + len;
    }
    Step::Done(found)
}

/// The masked `user` of an `<auth>` node.
fn auth_user(node: &[u8]) -> Option<MaskedPhone> {
    let mut r = Reader { buf: node, at: 0 };
    let size = match r.byte()? {
        LIST_8 => usize::from(r.byte()?),
        LIST_16 => usize::from(r.byte()?) << 8 | usize::from(r.byte()?),
        _ => return None,
    };
    if r.byte()? != TAG_AUTH {
        return None;
    }
    for _ in 0..size.saturating_sub(1) / 2 {
        let key = r.byte()?;
        if key == ATTR_USER {
            return r.phone();
        }
        r.skip_value(key)?;
        r.skip_value_at()?;
    }
    None
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    /// Skips the rest of a value whose first byte `b` was read.
    fn skip_value(&mut self, b: u8) -> Option<()> {
        let n = match b {
            DICT_FIRST..=DICT_LAST => 1,
            BINARY_8 | NIBBLE_8 | HEX_8 => {
                let n = usize::from(self.byte()?);
                if b == BINARY_8 { n } else { n & 0x7f }
            }
            BINARY_20 => {
                let h = self.take(3)?;
                usize::from(h[0] & 0x0f) << 16 | usize::from(h[1]) << 8 | usize::from(h[2])
            }
            BINARY_32 => {
                let h = self.take(4)?;
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize
            }
            JID_PAIR => {
                self.skip_value_at()?;
                return self.skip_value_at();
            }
            LIST_8 | LIST_16 => return None,
            _ => 0,
        };
        self.take(n).map(|_| ())
    }

    fn skip_value_at(&mut self) -> Option<()> {
        let b = self.byte()?;
        self.skip_value(b)
    }

    /// Reads the user value as a masked phone number; the digits stay on this stack frame.
    fn phone(&mut self) -> Option<MaskedPhone> {
        let mut digits = [0u8; MAX_DIGITS];
        let mut n = 0;
        let mut push = |d: u8, n: &mut usize| -> Option<()> {
            *digits.get_mut(*n)? = d;
            *n += 1;
            Some(())
        };
        match self.byte()? {
            BINARY_8 => {
                let len = usize::from(self.byte()?);
                for &b in self.take(len)? {
                    push(b, &mut n)?;
                }
            }
            NIBBLE_8 => {
                let h = self.byte()?;
                let bytes = self.take(usize::from(h & 0x7f))?;
                let nibbles = (bytes.len() * 2).saturating_sub(usize::from(h >> 7));
                for i in 0..nibbles {
                    let v = if i % 2 == 0 { bytes[i / 2] >> 4 } else { bytes[i / 2] & 0x0f };
                    if v > 9 {
                        return None;
                    }
                    push(b'0' + v, &mut n)?;
                }
            }
            _ => return None,
        }
        mask_phone(&digits[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// whatsapp_login_chat.pcap stream 0 past `WA 01 05`: stream start, features, then `<auth>`
    /// with the user as a string (digits replaced by a made-up number of the same shape).
    const STRING_USER: &[u8] = b"\x00\x00\x1a\xf8\x05\x01\xa5\x91\x89\xfc\x12iPhone-2.12.2-5222\
\x00\x00\x19\xf8\x02\x9c\xf8\x04\xf8\x01\xfc\x07privacy\xf8\x01\x80\xf8\x01\x40\xf8\x01\x78\
\x00\x00\x18\xf8\x06\x0c\x56\xbf\xb5\xfc\x0c390000000068\xfc\x02ab";

    /// whatsapp_voice_and_message.pcap stream 0: the user nibble-packed (13 digits, odd), then a
    /// two-byte dictionary token pair before the mechanism (digits made up).
    const NIBBLE_USER: &[u8] = b"\x00\x00\x10\xf8\x08\x0c\xb5\xff\x87\x55\x21\x00\x00\x00\x01\x0f\
\xec\x4e\xa6\x56\xbf\x80\x00\x05xxxxx";

    #[test]
    fn string_user_is_masked() {
        let Step::Done(l) = login(STRING_USER) else { panic!("need") };
        assert_eq!(l.resource.as_deref(), Some("iPhone-2.12.2-5222"));
        assert_eq!(l.phone.unwrap().to_string(), "+39…68");
    }

    #[test]
    fn nibble_user_is_masked() {
        let Step::Done(l) = login(NIBBLE_USER) else { panic!("need") };
        assert_eq!(l.phone.unwrap().to_string(), "+55…10");
    }

    #[test]
    fn truncation_waits_and_encryption_stops() {
        for cut in 0..STRING_USER.len() {
            assert_eq!(login(&STRING_USER[..cut]), Step::Need, "cut {cut}");
        }
        // An encrypted frame first: nothing in clear.
        assert_eq!(login(b"\x80\x00\x03abc"), Step::Done(LegacyLogin::default()));
    }

    #[test]
    fn masking_rules() {
        assert_eq!(mask_phone(b"15551234567").unwrap().to_string(), "+1…67");
        assert_eq!(mask_phone(b"5511981150059").unwrap().to_string(), "+55…59");
        assert_eq!(mask_phone(b"972501234567").unwrap().to_string(), "+972…67");
        assert_eq!(mask_phone(b"123"), None);
        assert_eq!(mask_phone(b"0123456789"), None);
        assert_eq!(mask_phone(b"12345a7890"), None);
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000 {
            let mut buf = if i % 2 == 0 { STRING_USER.to_vec() } else { NIBBLE_USER.to_vec() };
            for _ in 0..(i % 6) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x % buf.len() as u64) as usize;
                buf[at] = (x >> 32) as u8;
            }
            let _ = login(&buf);
        }
    }
}
