//! A locked pool account as a transaction signer (feature `signer`).

use std::sync::Arc;

use async_trait::async_trait;
use neosl_chain::signer::TxSigner;
use neosl_neo::tx::Witness;
use neosl_neo::{UInt160, UInt256};

use crate::{AccountPoolApi, AccountView, PoolError, SignRequest, decode_hex};

/// A locked pool account as a transaction signer: the AccountPool signs, the key stays there.
pub struct PoolSigner {
    api: Arc<dyn AccountPoolApi>,
    account_id: String,
    verification_script: Vec<u8>,
}

impl PoolSigner {
    /// A signer for `account` (as returned by `/request`).
    pub fn new(api: Arc<dyn AccountPoolApi>, account: &AccountView) -> Result<Self, PoolError> {
        let key_bytes = decode_hex(&account.public_key)
            .ok_or_else(|| PoolError::new("internal_error", 502, "bad public key"))?;
        let key = neosl_neo::PublicKey::from_slice(&key_bytes)
            .map_err(|e| PoolError::new("internal_error", 502, e.to_string()))?;
        Ok(Self {
            api,
            account_id: account.id.clone(),
            verification_script: neosl_neo::script::verification_script(&key),
        })
    }
}

#[async_trait]
impl TxSigner for PoolSigner {
    fn verification_script(&self) -> Vec<u8> {
        self.verification_script.clone()
    }

    fn account(&self) -> UInt160 {
        UInt160::of_script(&self.verification_script)
    }

    async fn sign(&self, _network: u32, tx_hash: &UInt256) -> neosl_chain::Result<Witness> {
        // The AccountPool signs with its own network magic; the transaction's witness check on
        // chain catches a mismatch.
        let signed = self
            .api
            .sign(SignRequest {
                service_id: None,
                account_id: self.account_id.clone(),
                tx_hash: tx_hash.to_string(),
            })
            .await
            .map_err(|e| neosl_chain::ChainError::Signer(e.to_string()))?;
        let sig = decode_hex(&signed.signature)
            .ok_or_else(|| neosl_chain::ChainError::Signer("bad signature hex".into()))?;
        let signature = neosl_neo::Signature::from_slice(&sig)
            .map_err(|e| neosl_chain::ChainError::Signer(e.to_string()))?;
        Ok(Witness {
            invocation: neosl_neo::script::signature_invocation_script(&signature),
            verification: self.verification_script.clone(),
        })
    }
}
