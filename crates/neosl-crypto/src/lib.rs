//! Pure cryptographic primitives of the Neo Service Layer.
//!
//! Everything here is deterministic computation on bytes: no I/O, no clocks (randomness comes
//! from the operating system's CSPRNG through `aws-lc-rs`), no async runtime. The crate is the
//! only place in the workspace that touches private-key bytes directly; every type that holds
//! secret material zeroizes it on drop and never prints it through `Debug` or `Display`.
//!
//! - [`hash`]: SHA-256, Neo's Hash256 and Hash160, HMAC-SHA256.
//! - [`kdf`]: HKDF-SHA256 and the platform's key derivations (pool accounts, master keys).
//! - [`aead`]: AES-256-GCM with the `nonce ‖ ciphertext ‖ tag` layout and subject/purpose envelopes.
//! - [`ecdsa`]: ECDSA over NIST P-256 (secp256r1), the curve Neo N3 uses.
//! - [`legacy`]: AES-256-ECB, only for decoding NEP-2 keys.
//! - [`vrf`]: ECVRF-P256-SHA256-TAI (RFC 9381).
//! - [`secret`]: owned secret byte strings and the master key type.

pub mod aead;
pub mod ecdsa;
mod error;
pub mod hash;
pub mod kdf;
pub mod legacy;
pub mod secret;
pub mod vrf;

pub use ecdsa::{PublicKey, SecretKey, Signature};
pub use error::{CryptoError, Result};
pub use secret::{MasterKey, SecretBytes};

/// Fills `dest` with bytes from the operating system's CSPRNG.
///
/// # Panics
/// Only if the operating system cannot supply randomness, which leaves no safe way to go on.
pub fn random_bytes(dest: &mut [u8]) {
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(dest).expect("the operating system's random number generator failed");
}

/// Returns `N` random bytes from the operating system's CSPRNG.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    random_bytes(&mut out);
    out
}
