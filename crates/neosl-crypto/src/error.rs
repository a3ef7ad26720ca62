use thiserror::Error;

/// Errors of the crypto crate. None of them carries secret bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// An input had the wrong length.
    #[error("{what} must be {expected} bytes, got {actual}")]
    InvalidLength {
        /// What was being parsed.
        what: &'static str,
        /// The length that is required (or the minimum).
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
    /// A private key scalar was zero or not below the curve order.
    #[error("private key is not a valid P-256 scalar")]
    InvalidSecretKey,
    /// Bytes that do not encode a point on P-256 (bad prefix, off-curve, or the identity).
    #[error("public key is not a valid P-256 point")]
    InvalidPublicKey,
    /// A signature whose `r` or `s` is zero or not below the curve order.
    #[error("signature is malformed: r and s must be in [1, n-1]")]
    MalformedSignature,
    /// HKDF was asked for more than 255 × 32 bytes of output.
    #[error("HKDF output length {0} exceeds 8160 bytes")]
    KdfOutputTooLong(usize),
    /// Authenticated decryption failed: wrong key, wrong associated data or tampered bytes.
    #[error("decryption failed: wrong key, wrong context or tampered ciphertext")]
    DecryptionFailed,
    /// The underlying cryptographic library refused an operation it should not refuse.
    #[error("internal cryptographic failure in {0}")]
    Internal(&'static str),
}

/// Result alias of the crypto crate.
pub type Result<T> = std::result::Result<T, CryptoError>;
