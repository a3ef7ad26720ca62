//! Owned secret byte strings.
//!
//! Both types zeroize their bytes when dropped and print only a redaction marker through
//! `Debug` and `Display`, so a secret cannot reach a log line by accident. Access to the bytes is
//! explicit (`expose`), which makes every use easy to find in review.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Result, kdf};

/// A secret byte string of any length, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`. The caller's vector is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes. Keep the borrow short and never log what it gives.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The root secret from which a service derives its business keys (for example every
/// AccountPool account key). At least [`MasterKey::MIN_LEN`] bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey(SecretBytes);

impl MasterKey {
    /// The shortest master key accepted.
    pub const MIN_LEN: usize = 32;
    /// The shortest coordinator seed accepted by [`MasterKey::from_coordinator_seed`].
    pub const MIN_SEED_LEN: usize = 16;

    /// Wraps `bytes` as a master key; fewer than 32 bytes are refused.
    pub fn new(bytes: SecretBytes) -> Result<Self> {
        if bytes.len() < Self::MIN_LEN {
            return Err(CryptoError::InvalidLength {
                what: "master key",
                expected: Self::MIN_LEN,
                actual: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// Derives the master key from a MarbleRun coordinator seed:
    /// HKDF-SHA256(ikm = seed, salt = `coordinator-master-key`, info = `neoaccounts`, 32 bytes).
    pub fn from_coordinator_seed(seed: &[u8]) -> Result<Self> {
        if seed.len() < Self::MIN_SEED_LEN {
            return Err(CryptoError::InvalidLength {
                what: "coordinator master seed",
                expected: Self::MIN_SEED_LEN,
                actual: seed.len(),
            });
        }
        let okm = kdf::derive_key(seed, b"coordinator-master-key", b"neoaccounts", 32)?;
        Ok(Self(okm))
    }

    /// The key bytes. Keep the borrow short and never log what it gives.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl fmt::Display for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_print_the_bytes() {
        let secret = SecretBytes::from_slice(&[0xab; 40]);
        let key = MasterKey::new(secret.clone()).expect("40 bytes is long enough");
        for text in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{key:?}"),
            format!("{key}"),
        ] {
            assert!(!text.contains("ab"), "{text}");
            assert!(!text.contains("171"), "{text}");
            assert!(text.contains("REDACTED"), "{text}");
        }
    }

    #[test]
    fn short_master_keys_and_seeds_are_refused() {
        assert_eq!(
            MasterKey::new(SecretBytes::from_slice(&[1; 31])).err(),
            Some(CryptoError::InvalidLength {
                what: "master key",
                expected: 32,
                actual: 31
            })
        );
        assert!(MasterKey::from_coordinator_seed(&[1; 15]).is_err());
        assert_eq!(
            MasterKey::from_coordinator_seed(&[1; 16]).map(|k| k.expose().len()),
            Ok(32)
        );
    }

    #[test]
    fn zeroize_clears_the_buffer() {
        let mut secret = SecretBytes::from_slice(&[7; 8]);
        secret.zeroize();
        assert!(secret.expose().iter().all(|b| *b == 0));
    }
}
