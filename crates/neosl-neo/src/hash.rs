//! Fixed-size hashes with Neo's conventions.
//!
//! Inside Neo (in scripts, transactions and storage) hashes are little-endian byte arrays. The
//! display form used by RPC, explorers and tooling is `0x` followed by the bytes *reversed*, in
//! lowercase hex. [`UInt160`] and [`UInt256`] keep the internal order and convert at the edges.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{NeoError, Result};

macro_rules! neo_hash {
    ($name:ident, $len:expr, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;
            /// All zero bytes.
            pub const ZERO: Self = Self([0u8; $len]);

            /// From bytes in Neo's internal (little-endian) order.
            pub const fn from_le_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// From a slice in internal order; the length must be exact.
            pub fn from_le_slice(bytes: &[u8]) -> Result<Self> {
                let array: [u8; $len] = bytes.try_into().map_err(|_| {
                    NeoError::invalid(
                        $what,
                        format!("expected {} bytes, got {}", $len, bytes.len()),
                    )
                })?;
                Ok(Self(array))
            }

            /// From bytes in display (big-endian) order.
            pub fn from_be_bytes(mut bytes: [u8; $len]) -> Self {
                bytes.reverse();
                Self(bytes)
            }

            /// The internal (little-endian) bytes: what scripts and transactions contain.
            pub const fn to_le_bytes(&self) -> [u8; $len] {
                self.0
            }

            /// The internal bytes, borrowed.
            pub fn as_le_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The display-order bytes.
            pub fn to_be_bytes(&self) -> [u8; $len] {
                let mut out = self.0;
                out.reverse();
                out
            }

            /// Parses the display form: hex of the reversed bytes, with or without `0x`.
            pub fn parse_display(text: &str) -> Result<Self> {
                let digits = text
                    .strip_prefix("0x")
                    .or_else(|| text.strip_prefix("0X"))
                    .unwrap_or(text);
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(digits, &mut bytes).map_err(|e| NeoError::InvalidHex {
                    what: $what,
                    reason: format!("{e} (expected {} hex digits)", $len * 2),
                })?;
                Ok(Self::from_be_bytes(bytes))
            }

            /// Parses hex of the internal (little-endian) order, as found inside scripts.
            pub fn parse_le_hex(text: &str) -> Result<Self> {
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(text, &mut bytes).map_err(|e| NeoError::InvalidHex {
                    what: $what,
                    reason: e.to_string(),
                })?;
                Ok(Self(bytes))
            }
        }

        impl fmt::Display for $name {
            /// `0x` + reversed lowercase hex.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{}", hex::encode(self.to_be_bytes()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = NeoError;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse_display(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse_display(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

neo_hash!(
    UInt160,
    20,
    "UInt160",
    "A 160-bit hash: a script hash (account or contract)."
);
neo_hash!(
    UInt256,
    32,
    "UInt256",
    "A 256-bit hash: a transaction or block hash."
);

impl UInt160 {
    /// The script hash of `script`: Hash160 (RIPEMD-160 of SHA-256).
    pub fn of_script(script: &[u8]) -> Self {
        Self(neosl_crypto::hash::hash160(script))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_reversed_hex() {
        let gas = UInt160::parse_display("0xd2a4cff31913016155e38e474a2c06d08be276cf").expect("ok");
        assert_eq!(gas.to_le_bytes()[0], 0xcf);
        assert_eq!(
            gas.to_string(),
            "0xd2a4cff31913016155e38e474a2c06d08be276cf"
        );
        assert_eq!(
            UInt160::parse_display("d2a4cff31913016155e38e474a2c06d08be276cf").expect("no prefix"),
            gas
        );
        assert_eq!(
            UInt160::parse_le_hex("cf76e28bd0062c4a478ee35561011319f3cfa4d2").expect("ok"),
            gas
        );
        let json = serde_json::to_string(&gas).expect("serialize");
        assert_eq!(json, "\"0xd2a4cff31913016155e38e474a2c06d08be276cf\"");
        assert_eq!(
            serde_json::from_str::<UInt160>(&json).expect("deserialize"),
            gas
        );
    }

    #[test]
    fn bad_hex_is_refused() {
        assert!(matches!(
            UInt160::parse_display("0x1234"),
            Err(NeoError::InvalidHex { .. })
        ));
        assert!(UInt160::parse_display("0xzz a4cff31913016155e38e474a2c06d08be276cf").is_err());
        assert!(UInt256::parse_display("").is_err());
        assert!(UInt160::from_le_slice(&[0; 21]).is_err());
    }
}
