//! QUIC versions and their Initial packet protection keys (RFC 9001 §5.1-5.2, RFC 9369).

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;

use super::QuicFailure;

/// Header-protection sample length (RFC 9001 §5.4.2).
pub(super) const SAMPLE_LEN: usize = 16;

/// HKDF labels of a version's packet protection keys.
#[derive(Debug, Clone, Copy)]
pub(super) struct Labels {
    pub(super) key: &'static [u8],
    pub(super) iv: &'static [u8],
    pub(super) hp: &'static [u8],
}

pub(super) const LABELS_V1: Labels = Labels { key: b"quic key", iv: b"quic iv", hp: b"quic hp" };
pub(super) const LABELS_V2: Labels =
    Labels { key: b"quicv2 key", iv: b"quicv2 iv", hp: b"quicv2 hp" };

pub(super) const SALT_V1: [u8; 20] = hex20(b"38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
pub(super) const SALT_V2: [u8; 20] = hex20(b"0dede3def700a6db819381be6e269dcbf9bd2ed9");
pub(super) const SALT_DRAFT29: [u8; 20] = hex20(b"afbfec289993d24c9e9786f19c6111e04390a899");
pub(super) const SALT_DRAFT23: [u8; 20] = hex20(b"c3eef712c72ebb5a11a7d2432bb46365bef9f502");
pub(super) const SALT_DRAFT22: [u8; 20] = hex20(b"7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
pub(super) const SALT_T050: [u8; 20] = hex20(b"7ff579e5acd072915580304c43a2367c60488310");
pub(super) const SALT_T051: [u8; 20] = hex20(b"7a4edef4e7ccee5fa4506c19124fc8ccda6e033d");

/// Decodes 40 hex digits at compile time (keeps the salts readable and checkable).
pub(super) const fn hex20(s: &[u8; 40]) -> [u8; 20] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit"),
        }
    }
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// QUIC version numbers with special meaning here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicVersion(pub u32);

impl QuicVersion {
    /// RFC 9000.
    pub const V1: Self = Self(0x0000_0001);
    /// RFC 9369.
    pub const V2: Self = Self(0x6b33_43cf);
    /// Meta mvfst speaking draft-22.
    pub const MVFST_22: Self = Self(0xface_b001);
    /// Meta mvfst speaking draft-27.
    pub const MVFST_27: Self = Self(0xface_b002);
    /// Meta mvfst experimental (draft-27 based).
    pub const MVFST_EXP: Self = Self(0xface_b00e);

    /// Versions 0x?a?a?a?a are reserved to exercise version negotiation (RFC 9000 §15).
    pub fn is_reserved(self) -> bool {
        self.0 & 0x0f0f_0f0f == 0x0a0a_0a0a
    }
}

/// Initial packet protection parameters of one version.
#[derive(Debug, Clone, Copy)]
pub(super) struct VersionParams {
    pub(super) salt: &'static [u8; 20],
    pub(super) labels: Labels,
    /// Long-header packet type bits of Initial: 0b00, but 0b01 in v2 (RFC 9369 §3.2).
    pub(super) initial_type: u8,
}

impl VersionParams {
    pub(super) fn for_version(v: QuicVersion) -> Result<Self, QuicFailure> {
        let v1_like = |salt| Ok(Self { salt, labels: LABELS_V1, initial_type: 0 });
        match v.0 {
            0x0000_0001 => v1_like(&SALT_V1),
            0x6b33_43cf => Ok(Self { salt: &SALT_V2, labels: LABELS_V2, initial_type: 1 }),
            // IETF drafts 22..=34 (0xff0000NN). 33 and 34 already use the v1 salt. Drafts
            // before 22 used a different long header (4-bit CID lengths): not supported.
            0xff00_0016 => v1_like(&SALT_DRAFT22),
            0xff00_0017..=0xff00_001c => v1_like(&SALT_DRAFT23),
            0xff00_001d..=0xff00_0020 => v1_like(&SALT_DRAFT29),
            0xff00_0021..=0xff00_0022 => v1_like(&SALT_V1),
            0xface_b001 => v1_like(&SALT_DRAFT22),
            // Any other 0xfaceb00X is mvfst, treated like draft-27.
            0xface_b000..=0xface_b00f => v1_like(&SALT_DRAFT23),
            // Google's Q050 and TLS-based T05x: IETF-style Initials around gQUIC frames.
            0x5430_3530 => v1_like(&SALT_T050),
            0x5430_3531 => v1_like(&SALT_T051),
            0x5130_3530 => v1_like(&super::q050::SALT_Q050),
            other => Err(QuicFailure::Unsupported(other)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key derivation (RFC 9001 §5.1-5.2).

/// Client Initial packet protection keys of one connection.
pub(super) struct InitialKeys {
    pub(super) aead: Aes128Gcm,
    pub(super) iv: [u8; 12],
    pub(super) hp: Aes128,
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, into `out`.
pub(super) fn expand_label(
    prk: &Hkdf<Sha256>,
    label: &[u8],
    out: &mut [u8],
) -> Result<(), QuicFailure> {
    const PREFIX: &[u8] = b"tls13 ";
    let len = u16::try_from(out.len()).map_err(|_| QuicFailure::Malformed("label length"))?;
    let label_len = u8::try_from(PREFIX.len() + label.len())
        .map_err(|_| QuicFailure::Malformed("label length"))?;
    let info: [&[u8]; 5] = [&len.to_be_bytes(), &[label_len], PREFIX, label, &[0]];
    prk.expand_multi_info(&info, out).map_err(|_| QuicFailure::Malformed("hkdf expand"))
}

/// Derives the client Initial secret from the version salt and the client's first DCID.
pub(super) fn client_initial_secret(salt: &[u8], dcid: &[u8]) -> Result<[u8; 32], QuicFailure> {
    let (_, initial) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut secret = [0u8; 32];
    expand_label(&initial, b"client in", &mut secret)?;
    Ok(secret)
}

impl InitialKeys {
    pub(super) fn derive(params: &VersionParams, dcid: &[u8]) -> Result<Self, QuicFailure> {
        let secret = client_initial_secret(params.salt, dcid)?;
        Self::from_secret(&secret, params.labels)
    }

    pub(super) fn from_secret(secret: &[u8; 32], labels: Labels) -> Result<Self, QuicFailure> {
        let prk =
            Hkdf::<Sha256>::from_prk(secret).map_err(|_| QuicFailure::Malformed("hkdf prk"))?;
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&prk, labels.key, &mut key)?;
        expand_label(&prk, labels.iv, &mut iv)?;
        expand_label(&prk, labels.hp, &mut hp)?;
        Ok(Self { aead: Aes128Gcm::new(&Array::from(key)), iv, hp: Aes128::new(&Array::from(hp)) })
    }

    /// Header-protection mask: AES-128-ECB of the 16-byte sample (RFC 9001 §5.4.3).
    pub(super) fn hp_mask(&self, sample: [u8; SAMPLE_LEN]) -> [u8; SAMPLE_LEN] {
        let mut block = Array::from(sample);
        self.hp.encrypt_block(&mut block);
        block.into()
    }

    /// Per-packet nonce: IV XOR left-padded packet number (RFC 9001 §5.3).
    pub(super) fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, p) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        nonce
    }
}
