//! NEP-2 encrypted keys and NEP-6 wallet files (read-only), so that development tooling can use
//! keys from standard Neo wallets such as the NeoGo single-validator test wallet.
//!
//! Passwords are used as given (UTF-8 bytes); NEP-2 asks for NFC normalization, which is the
//! identity for ASCII passwords, the only kind this project's tooling uses.

use neosl_crypto::hash::hash256;
use neosl_crypto::legacy::{aes256_ecb_decrypt_32, aes256_ecb_encrypt_32};
use neosl_crypto::{SecretKey, kdf};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::{Address, NeoError, Result};

const NEP2_PREFIX: [u8; 3] = [0x01, 0x42, 0xe0];

/// scrypt parameters of NEP-2 (`n` is the cost, a power of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ScryptParams {
    /// CPU/memory cost, a power of two.
    pub n: u64,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for ScryptParams {
    /// The NEP-2 defaults: N = 16384, r = 8, p = 8.
    fn default() -> Self {
        Self {
            n: 16384,
            r: 8,
            p: 8,
        }
    }
}

impl ScryptParams {
    fn log_n(&self) -> Result<u8> {
        if !self.n.is_power_of_two() || self.n < 2 {
            return Err(NeoError::invalid(
                "scrypt parameters",
                format!("n = {} is not a power of two ≥ 2", self.n),
            ));
        }
        Ok(self.n.trailing_zeros() as u8)
    }
}

fn derive_halves(
    password: &str,
    address_hash: &[u8],
    params: ScryptParams,
) -> Result<neosl_crypto::SecretBytes> {
    Ok(kdf::scrypt(
        password.as_bytes(),
        address_hash,
        params.log_n()?,
        params.r,
        params.p,
        64,
    )?)
}

/// Encrypts a private key with NEP-2.
pub fn nep2_encrypt(key: &SecretKey, password: &str, params: ScryptParams) -> Result<String> {
    let address = Address::from_public_key(&key.public_key()).to_string();
    let address_hash = &hash256(address.as_bytes())[..4];
    let derived = derive_halves(password, address_hash, params)?;
    let (half1, half2) = derived.expose().split_at(32);
    let mut xored = Zeroizing::new([0u8; 32]);
    for (i, b) in key.to_bytes().iter().enumerate() {
        xored[i] = b ^ half1[i];
    }
    let half2: &[u8; 32] = half2
        .try_into()
        .map_err(|_| NeoError::invalid("NEP-2", "derived key size"))?;
    let encrypted = aes256_ecb_encrypt_32(half2, &xored)?;
    let mut payload = Vec::with_capacity(39);
    payload.extend_from_slice(&NEP2_PREFIX);
    payload.extend_from_slice(address_hash);
    payload.extend_from_slice(&encrypted);
    let checksum = hash256(&payload);
    payload.extend_from_slice(&checksum[..4]);
    Ok(bs58::encode(payload).into_string())
}

/// Decrypts a NEP-2 key; a wrong password is detected through the address hash.
pub fn nep2_decrypt(nep2: &str, password: &str, params: ScryptParams) -> Result<SecretKey> {
    let data = bs58::decode(nep2)
        .into_vec()
        .map_err(|e| NeoError::invalid("NEP-2", format!("not Base58: {e}")))?;
    if data.len() != 43 {
        return Err(NeoError::invalid(
            "NEP-2",
            format!("expected 43 bytes, got {}", data.len()),
        ));
    }
    let (payload, checksum) = data.split_at(39);
    if hash256(payload)[..4] != *checksum {
        return Err(NeoError::BadChecksum);
    }
    if payload[..3] != NEP2_PREFIX {
        return Err(NeoError::invalid(
            "NEP-2",
            "not an encrypted Neo key (prefix)",
        ));
    }
    let address_hash = &payload[3..7];
    let encrypted: &[u8; 32] = payload[7..39]
        .try_into()
        .map_err(|_| NeoError::invalid("NEP-2", "size"))?;
    let derived = derive_halves(password, address_hash, params)?;
    let (half1, half2) = derived.expose().split_at(32);
    let half2: &[u8; 32] = half2
        .try_into()
        .map_err(|_| NeoError::invalid("NEP-2", "derived key size"))?;
    let mut plain = aes256_ecb_decrypt_32(half2, encrypted)?;
    for (i, b) in plain.iter_mut().enumerate() {
        *b ^= half1[i];
    }
    let key =
        SecretKey::from_bytes(&plain).map_err(|_| NeoError::invalid("NEP-2", "wrong password"))?;
    let address = Address::from_public_key(&key.public_key()).to_string();
    if hash256(address.as_bytes())[..4] != *address_hash {
        return Err(NeoError::invalid("NEP-2", "wrong password"));
    }
    Ok(key)
}

/// A NEP-6 wallet file, as far as tooling needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct Nep6Wallet {
    /// The wallet's accounts.
    pub accounts: Vec<Nep6Account>,
    /// The scrypt parameters its keys are encrypted with.
    #[serde(default)]
    pub scrypt: Option<ScryptParams>,
}

/// One account of a NEP-6 wallet.
#[derive(Debug, Clone, Deserialize)]
pub struct Nep6Account {
    /// The account's address.
    pub address: String,
    /// The NEP-2 encrypted key, if the wallet holds one.
    pub key: Option<String>,
    /// The verification contract.
    pub contract: Option<Nep6Contract>,
}

/// The verification contract of a NEP-6 account.
#[derive(Debug, Clone, Deserialize)]
pub struct Nep6Contract {
    /// The verification script, base64.
    pub script: String,
}

impl Nep6Wallet {
    /// Parses the JSON of a NEP-6 wallet.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| NeoError::invalid("NEP-6 wallet", e.to_string()))
    }

    /// Decrypts the key of the account with `address`.
    pub fn decrypt(&self, address: &str, password: &str) -> Result<SecretKey> {
        let account = self
            .accounts
            .iter()
            .find(|a| a.address == address)
            .ok_or_else(|| NeoError::invalid("NEP-6 wallet", format!("no account {address}")))?;
        let nep2 = account
            .key
            .as_deref()
            .ok_or_else(|| NeoError::invalid("NEP-6 wallet", "account has no key"))?;
        nep2_decrypt(nep2, password, self.scrypt.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neogo_single_validator_wallet() {
        // A real N3 wallet written by NeoGo (its single-validator test wallet, password "one").
        let wallet = Nep6Wallet::from_json(
            r#"{"accounts":[{"address":"Nhfg3TbpwogLvDGVvAvqyThbsHgoSUKwtn",
                "key":"6PYM8VdX3hY4B51UJxmm8D41RQMbpJT8aYHibyQ67gjkUPmvQgu51Y5UQR",
                "contract":{"script":"DCECs2Ir9AF73+MXxYrtX0x1PyBrfbiWBG+n13S7xL9/jcJBVuezJw=="}}],
                "scrypt":{"n":2,"r":1,"p":1}}"#,
        )
        .expect("parses");
        let key = wallet
            .decrypt("Nhfg3TbpwogLvDGVvAvqyThbsHgoSUKwtn", "one")
            .expect("decrypts");
        assert_eq!(
            key.public_key().to_string(),
            "02b3622bf4017bdfe317c58aed5f4c753f206b7db896046fa7d774bbc4bf7f8dc2"
        );
        assert!(
            wallet
                .decrypt("Nhfg3TbpwogLvDGVvAvqyThbsHgoSUKwtn", "two")
                .is_err()
        );
    }

    #[test]
    fn encrypt_decrypt_round_trip() {
        let key = SecretKey::generate();
        let params = ScryptParams { n: 4, r: 1, p: 1 };
        let nep2 = nep2_encrypt(&key, "pw", params).expect("encrypts");
        assert!(nep2.starts_with("6P"));
        assert_eq!(
            nep2_decrypt(&nep2, "pw", params)
                .expect("decrypts")
                .public_key(),
            key.public_key()
        );
    }
}
