use thiserror::Error;

/// Errors of the Neo protocol crate: every way an input can be malformed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NeoError {
    /// Bytes ended before the structure did.
    #[error("unexpected end of data while reading {0}")]
    UnexpectedEnd(&'static str),
    /// A length or count above what Neo allows.
    #[error("{what} is too large: {actual} > {max}")]
    TooLarge {
        /// What was being read or built.
        what: &'static str,
        /// The limit.
        max: u64,
        /// The value found.
        actual: u64,
    },
    /// Bytes left over after a complete structure.
    #[error("{0} trailing bytes after the structure")]
    TrailingBytes(usize),
    /// A structurally invalid value (the message says which and why).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A hex string that is not valid hex of the required length.
    #[error("invalid hex for {what}: {reason}")]
    InvalidHex {
        /// What was being parsed.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A Base58Check string whose checksum does not match.
    #[error("Base58Check checksum mismatch")]
    BadChecksum,
    /// An address or WIF with the wrong version byte.
    #[error("wrong version byte: expected 0x{expected:02x}, got 0x{actual:02x}")]
    WrongVersion {
        /// The version byte required.
        expected: u8,
        /// The version byte found.
        actual: u8,
    },
    /// A cryptographic input (key, signature) was invalid.
    #[error(transparent)]
    Crypto(#[from] neosl_crypto::CryptoError),
}

impl NeoError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

/// Result alias of the Neo protocol crate.
pub type Result<T> = std::result::Result<T, NeoError>;
