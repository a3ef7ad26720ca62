//! Who signs a transaction.
//!
//! [`TxSigner`] produces the witness of one account for a transaction hash. Local keys implement
//! it here; the AccountPool client implements it remotely, so key material can stay inside the
//! AccountPool while any service submits transactions.

use async_trait::async_trait;
use neosl_crypto::SecretKey;
use neosl_neo::script::{multisig_verification_script, opcode, verification_script};
use neosl_neo::tx::{Witness, sign_data};
use neosl_neo::{PublicKey, UInt160, UInt256};

use crate::{ChainError, Result};

/// Produces witnesses for one account.
#[async_trait]
pub trait TxSigner: Send + Sync {
    /// The account's verification script.
    fn verification_script(&self) -> Vec<u8>;

    /// The account (script hash of the verification script).
    fn account(&self) -> UInt160 {
        UInt160::of_script(&self.verification_script())
    }

    /// The witness for the transaction `tx_hash` on network `network`.
    async fn sign(&self, network: u32, tx_hash: &UInt256) -> Result<Witness>;
}

/// A single-signature account whose key is in this process.
pub struct LocalKeySigner {
    key: SecretKey,
    public_key: PublicKey,
}

impl LocalKeySigner {
    /// Wraps a private key.
    pub fn new(key: SecretKey) -> Self {
        let public_key = key.public_key();
        Self { key, public_key }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }
}

impl std::fmt::Debug for LocalKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalKeySigner({})", self.public_key)
    }
}

#[async_trait]
impl TxSigner for LocalKeySigner {
    fn verification_script(&self) -> Vec<u8> {
        verification_script(&self.public_key)
    }

    async fn sign(&self, network: u32, tx_hash: &UInt256) -> Result<Witness> {
        let signature = self
            .key
            .sign(&sign_data(network, tx_hash))
            .map_err(|e| ChainError::Signer(e.to_string()))?;
        Ok(Witness::single_sig(&signature, &self.public_key))
    }
}

/// An m-of-n multi-signature account with at least m of its keys in this process (for example
/// the single-validator committee account of a development chain).
pub struct LocalMultisigSigner {
    m: usize,
    script: Vec<u8>,
    /// Keys in the order of the verification script.
    keys: Vec<SecretKey>,
}

impl LocalMultisigSigner {
    /// An m-of-n account over `public_keys`; `keys` must hold at least `m` of the private keys.
    pub fn new(m: usize, public_keys: &[PublicKey], keys: Vec<SecretKey>) -> Result<Self> {
        let script = multisig_verification_script(m, public_keys)?;
        let (_, ordered) = neosl_neo::script::parse_multisig(&script)
            .ok_or_else(|| ChainError::Signer("multi-signature script does not parse".into()))?;
        let mut sorted_keys = Vec::new();
        for public in &ordered {
            if let Some(k) = keys.iter().find(|k| k.public_key() == *public) {
                sorted_keys.push(k.clone());
            }
        }
        if sorted_keys.len() < m {
            return Err(ChainError::Signer(format!(
                "{} of the {m} required keys are present",
                sorted_keys.len()
            )));
        }
        sorted_keys.truncate(m);
        Ok(Self {
            m,
            script,
            keys: sorted_keys,
        })
    }
}

impl std::fmt::Debug for LocalMultisigSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LocalMultisigSigner({}-of-n, {})",
            self.m,
            UInt160::of_script(&self.script)
        )
    }
}

#[async_trait]
impl TxSigner for LocalMultisigSigner {
    fn verification_script(&self) -> Vec<u8> {
        self.script.clone()
    }

    async fn sign(&self, network: u32, tx_hash: &UInt256) -> Result<Witness> {
        // Signatures in the order of the keys in the verification script.
        let data = sign_data(network, tx_hash);
        let mut invocation = Vec::with_capacity(66 * self.keys.len());
        for key in &self.keys {
            let sig = key
                .sign(&data)
                .map_err(|e| ChainError::Signer(e.to_string()))?;
            invocation.extend_from_slice(&[opcode::PUSHDATA1, 64]);
            invocation.extend_from_slice(&sig.to_bytes());
        }
        Ok(Witness {
            invocation,
            verification: self.script.clone(),
        })
    }
}
