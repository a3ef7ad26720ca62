//! Neo N3 addresses and WIF private keys, both Base58Check.
//!
//! An address is Base58Check(`0x35` ‖ script hash in internal order); the checksum is the first
//! four bytes of Hash256 (double SHA-256). WIF is Base58Check(`0x80` ‖ 32-byte key ‖ `0x01`).

use std::fmt;
use std::str::FromStr;

use neosl_crypto::hash::hash256;
use neosl_crypto::{PublicKey, SecretKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::script::verification_script;
use crate::{NeoError, Result, UInt160};

/// The address version byte of Neo N3.
pub const ADDRESS_VERSION: u8 = 0x35;
const WIF_VERSION: u8 = 0x80;
const WIF_COMPRESSED_FLAG: u8 = 0x01;

/// A Neo N3 address. Holds the script hash; formats as Base58Check.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(UInt160);

impl Address {
    /// The address of a script hash.
    pub fn from_script_hash(hash: UInt160) -> Self {
        Self(hash)
    }

    /// The address of a single-signature account.
    pub fn from_public_key(key: &PublicKey) -> Self {
        Self(UInt160::of_script(&verification_script(key)))
    }

    /// The script hash behind this address.
    pub fn script_hash(&self) -> UInt160 {
        self.0
    }

    /// Parses an address, checking the checksum and the version byte.
    pub fn parse(text: &str) -> Result<Self> {
        let payload = base58check_decode(text, "address")?;
        if payload.len() != 21 {
            return Err(NeoError::invalid(
                "address",
                format!("payload must be 21 bytes, got {}", payload.len()),
            ));
        }
        if payload[0] != ADDRESS_VERSION {
            return Err(NeoError::WrongVersion {
                expected: ADDRESS_VERSION,
                actual: payload[0],
            });
        }
        Ok(Self(UInt160::from_le_slice(&payload[1..])?))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut payload = Vec::with_capacity(21);
        payload.push(ADDRESS_VERSION);
        payload.extend_from_slice(self.0.as_le_bytes());
        f.write_str(&base58check_encode(&payload))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = NeoError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Encodes a private key as WIF (compressed-key form, as Neo uses).
pub fn wif_encode(key: &SecretKey) -> Zeroizing<String> {
    let mut payload = Zeroizing::new(Vec::with_capacity(34));
    payload.push(WIF_VERSION);
    payload.extend_from_slice(key.to_bytes().as_slice());
    payload.push(WIF_COMPRESSED_FLAG);
    Zeroizing::new(base58check_encode(&payload))
}

/// Decodes a WIF private key, checking checksum, version byte and compression flag.
pub fn wif_decode(text: &str) -> Result<SecretKey> {
    let payload = Zeroizing::new(base58check_decode(text, "WIF")?);
    if payload.len() != 34 {
        return Err(NeoError::invalid(
            "WIF",
            format!("payload must be 34 bytes, got {}", payload.len()),
        ));
    }
    if payload[0] != WIF_VERSION {
        return Err(NeoError::WrongVersion {
            expected: WIF_VERSION,
            actual: payload[0],
        });
    }
    if payload[33] != WIF_COMPRESSED_FLAG {
        return Err(NeoError::invalid(
            "WIF",
            "missing the compressed-key flag 0x01",
        ));
    }
    Ok(SecretKey::from_slice(&payload[1..33])?)
}

fn base58check_encode(payload: &[u8]) -> String {
    let mut data = Zeroizing::new(Vec::with_capacity(payload.len() + 4));
    data.extend_from_slice(payload);
    data.extend_from_slice(&hash256(payload)[..4]);
    bs58::encode(data.as_slice()).into_string()
}

fn base58check_decode(text: &str, what: &'static str) -> Result<Vec<u8>> {
    let data = Zeroizing::new(
        bs58::decode(text)
            .into_vec()
            .map_err(|e| NeoError::invalid(what, format!("not Base58: {e}")))?,
    );
    if data.len() < 5 {
        return Err(NeoError::invalid(what, "too short for Base58Check"));
    }
    let (payload, checksum) = data.split_at(data.len() - 4);
    if !neosl_crypto::hash::constant_time_eq(&hash256(payload)[..4], checksum) {
        return Err(NeoError::BadChecksum);
    }
    Ok(payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_checks() {
        let key = SecretKey::from_bytes(&[7; 32]).expect("valid");
        let address = Address::from_public_key(&key.public_key());
        let text = address.to_string();
        assert!(text.starts_with('N'), "{text}");
        assert_eq!(Address::parse(&text).expect("parses"), address);
        // Flip one character: the checksum catches it.
        let mut chars: Vec<char> = text.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let tampered: String = chars.into_iter().collect();
        assert!(Address::parse(&tampered).is_err());
        // Another version byte: refused with WrongVersion.
        let mut payload = vec![0x17];
        payload.extend_from_slice(address.script_hash().as_le_bytes());
        let legacy = base58check_encode(&payload);
        assert_eq!(
            Address::parse(&legacy),
            Err(NeoError::WrongVersion {
                expected: 0x35,
                actual: 0x17
            })
        );
        assert!(Address::parse("0OIl").is_err());
        assert!(Address::parse("").is_err());
    }

    #[test]
    fn wif_round_trip_and_checks() {
        let key = SecretKey::from_bytes(&[9; 32]).expect("valid");
        let wif = wif_encode(&key);
        assert!(wif.starts_with('K') || wif.starts_with('L'), "{}", *wif);
        let back = wif_decode(&wif).expect("decodes");
        assert_eq!(back.public_key(), key.public_key());
        let mut payload = vec![0x80];
        payload.extend_from_slice(&[9; 32]);
        let uncompressed = base58check_encode(&payload);
        assert!(wif_decode(&uncompressed).is_err());
        payload.push(0x02);
        assert!(wif_decode(&base58check_encode(&payload)).is_err());
        let mut zero = vec![0x80];
        zero.extend_from_slice(&[0; 32]);
        zero.push(1);
        assert!(matches!(
            wif_decode(&base58check_encode(&zero)),
            Err(NeoError::Crypto(_))
        ));
    }

    #[test]
    fn known_answer_single_validator_committee_address() {
        // A NeoGo single-validator network's standby committee key; its 1-of-1 multi-signature
        // account holds the genesis NEO and GAS at this documented address.
        let bytes =
            hex::decode("02b3622bf4017bdfe317c58aed5f4c753f206b7db896046fa7d774bbc4bf7f8dc2")
                .expect("hex");
        let key = PublicKey::from_slice(&bytes).expect("on curve");
        let script = crate::script::multisig_verification_script(1, &[key]).expect("1-of-1");
        let address = Address::from_script_hash(UInt160::of_script(&script));
        assert_eq!(address.to_string(), "NfgHwwTi3wHAS8aFAN243C5vGbkYDpqLHP");
        assert_eq!(
            Address::parse("NfgHwwTi3wHAS8aFAN243C5vGbkYDpqLHP")
                .expect("parses")
                .script_hash(),
            UInt160::of_script(&script)
        );
    }

    proptest! {
        #[test]
        fn address_round_trip(bytes in any::<[u8; 20]>()) {
            let address = Address::from_script_hash(UInt160::from_le_bytes(bytes));
            prop_assert_eq!(Address::parse(&address.to_string()).expect("parses"), address);
        }
    }
}
