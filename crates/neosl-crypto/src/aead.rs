//! AES-256-GCM authenticated encryption.
//!
//! Layout of every sealed message: `nonce (12) ‖ ciphertext ‖ tag (16)`. Nonces are random
//! (96 bits), which is safe for up to about 2³² messages under one key.
//!
//! An *envelope* binds a ciphertext to a `subject` (whose data it is, e.g. a user id) and a
//! `purpose` (what it is, e.g. `secret/api-token`) through the associated data, so a ciphertext
//! copied to another row or used for another purpose fails to open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Result};

/// Length of the random nonce that starts every sealed message.
pub const NONCE_SIZE: usize = NONCE_LEN;
/// Length of the authentication tag that ends every sealed message.
pub const TAG_SIZE: usize = 16;

/// A 256-bit AES key. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AeadKey([u8; 32]);

impl AeadKey {
    /// Wraps 32 key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies a 32-byte slice.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "AES-256 key",
            expected: 32,
            actual: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(crate::random_array())
    }

    fn cipher(&self) -> Result<LessSafeKey> {
        let key = UnboundKey::new(&AES_256_GCM, &self.0)
            .map_err(|_| CryptoError::Internal("AES-256-GCM key"))?;
        Ok(LessSafeKey::new(key))
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey([REDACTED])")
    }
}

/// Encrypts `plaintext` with associated data `aad`; returns `nonce ‖ ciphertext ‖ tag`.
pub fn encrypt(key: &AeadKey, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let nonce_bytes: [u8; NONCE_SIZE] = crate::random_array();
    let mut out = Vec::with_capacity(NONCE_SIZE + plaintext.len() + TAG_SIZE);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(NONCE_SIZE);
    key.cipher()?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| CryptoError::Internal("AES-256-GCM seal"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts `nonce ‖ ciphertext ‖ tag` with associated data `aad`.
pub fn decrypt(key: &AeadKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < NONCE_SIZE + TAG_SIZE {
        return Err(CryptoError::InvalidLength {
            what: "sealed message",
            expected: NONCE_SIZE + TAG_SIZE,
            actual: sealed.len(),
        });
    }
    let (nonce_bytes, body) = sealed.split_at(NONCE_SIZE);
    let nonce = Nonce::try_assume_unique_for_key(nonce_bytes)
        .map_err(|_| CryptoError::Internal("AES-256-GCM nonce"))?;
    let mut buffer = body.to_vec();
    let plain_len = key
        .cipher()?
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| CryptoError::DecryptionFailed)?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

/// The associated data of an envelope: a domain tag, then `subject` and `purpose`, each
/// length-prefixed (u32 big-endian) so that no two (subject, purpose) pairs collide.
fn envelope_aad(subject: &str, purpose: &str) -> Vec<u8> {
    const DOMAIN: &[u8] = b"neosl/envelope/v1";
    let mut aad = Vec::with_capacity(DOMAIN.len() + 8 + subject.len() + purpose.len());
    aad.extend_from_slice(DOMAIN);
    for part in [subject, purpose] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Encrypts `plaintext` bound to `subject` and `purpose`.
pub fn seal_envelope(
    key: &AeadKey,
    subject: &str,
    purpose: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    encrypt(key, plaintext, &envelope_aad(subject, purpose))
}

/// Decrypts an envelope; fails unless `subject` and `purpose` are the ones it was sealed with.
pub fn open_envelope(
    key: &AeadKey,
    subject: &str,
    purpose: &str,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    decrypt(key, sealed, &envelope_aad(subject, purpose))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answer_nist_gcm_test_case_16() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV,
        // with associated data). Sealed with a fixed nonce through aws-lc directly, then opened
        // through our layout.
        let key = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .expect("hex");
        let iv = hex::decode("cafebabefacedbaddecaf888").expect("hex");
        let plaintext = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .expect("hex");
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").expect("hex");
        let expected_ct = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
        let expected_tag = "76fc6ece0f4e1768cddf8853bb2d551b";
        let mut sealed = iv.clone();
        sealed.extend(hex::decode(expected_ct).expect("hex"));
        sealed.extend(hex::decode(expected_tag).expect("hex"));
        let key = AeadKey::from_slice(&key).expect("32 bytes");
        assert_eq!(decrypt(&key, &sealed, &aad).expect("opens"), plaintext);
        // And our own seal of the same plaintext opens to the same bytes with a fresh nonce.
        let ours = encrypt(&key, &plaintext, &aad).expect("seal");
        assert_eq!(ours.len(), NONCE_SIZE + plaintext.len() + TAG_SIZE);
        assert_eq!(decrypt(&key, &ours, &aad).expect("opens"), plaintext);
    }

    #[test]
    fn tampering_and_wrong_context_fail() {
        let key = AeadKey::generate();
        let sealed = seal_envelope(&key, "user-1", "secret/api-token", b"hello").expect("seal");
        assert_eq!(
            open_envelope(&key, "user-1", "secret/api-token", &sealed).expect("opens"),
            b"hello"
        );
        assert_eq!(
            open_envelope(&key, "user-2", "secret/api-token", &sealed).err(),
            Some(CryptoError::DecryptionFailed)
        );
        assert_eq!(
            open_envelope(&key, "user-1", "secret/other", &sealed).err(),
            Some(CryptoError::DecryptionFailed)
        );
        // Moving bytes between subject and purpose does not collide.
        let shifted = seal_envelope(&key, "ab", "c", b"x").expect("seal");
        assert!(open_envelope(&key, "a", "bc", &shifted).is_err());
        let mut tampered = sealed.clone();
        tampered[NONCE_SIZE] ^= 1;
        assert!(open_envelope(&key, "user-1", "secret/api-token", &tampered).is_err());
        assert!(
            open_envelope(&AeadKey::generate(), "user-1", "secret/api-token", &sealed).is_err()
        );
        assert!(matches!(
            decrypt(&key, &sealed[..27], b""),
            Err(CryptoError::InvalidLength { actual: 27, .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trip(plaintext in any::<Vec<u8>>(), aad in any::<Vec<u8>>()) {
            let key = AeadKey::generate();
            let sealed = encrypt(&key, &plaintext, &aad).expect("seal");
            prop_assert_eq!(decrypt(&key, &sealed, &aad).expect("open"), plaintext);
        }
    }
}
