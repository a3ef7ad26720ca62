//! Signing with pool accounts: `/sign` (coalesced: concurrent requests share one authorize-and-
//! audit statement) and `/batch-sign` (keys derived once per account, signing on all cores).
//! A signature leaves only for a lock the caller holds, and only with its audit row.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use neosl_accountpool_api::*;
use neosl_chain::ChainError;
use neosl_chain::signer::TxSigner;
use neosl_crypto::{MasterKey, PublicKey, kdf};
use neosl_neo::UInt256;
use neosl_neo::script::verification_script;
use neosl_neo::tx::{Witness, sign_data};

use crate::error::Failure;
use crate::service::*;
use crate::store::{AccountRow, Authorized, SignAttempt};
use neosl_runtime::error::DomainError as _;

impl AccountPool {
    /// `/sign`. Concurrent calls are authorized (and audited) together in one statement: each
    /// call waits only for the database round trip already under way, so the cost of the
    /// lock check and audit write is shared under load and adds nothing when idle.
    pub async fn sign(
        &self,
        caller: &str,
        account_id: &str,
        tx_hash: &str,
    ) -> Result<Signed, Failure> {
        let hash = parse_hash(tx_hash)?;
        if !is_account_id(account_id) {
            return Err(Failure::UnknownAccount(account_id.to_owned()));
        }
        let network = self.network()?;
        let attempt = SignAttempt {
            account_id: account_id.to_owned(),
            service_id: caller.to_owned(),
            hash: hash.to_string(),
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sign_queue()
            .send((attempt, reply))
            .await
            .map_err(|_| Failure::Internal("the signing queue stopped".into()))?;
        // Sign while the authorization is under way; the signature leaves only if authorized
        // (and so audited); otherwise it is dropped here.
        let signed = sign_with(&self.master, account_id, &sign_data(network, &hash));
        let authorized = answer
            .await
            .map_err(|_| Failure::Internal("the signing queue dropped a request".into()))??;
        if !authorized {
            return Err(self.refusal(caller, account_id).await);
        }
        let (signature, public_key) = signed?;
        Ok(signed_view(account_id, &signature, &public_key))
    }

    fn sign_queue(&self) -> &tokio::sync::mpsc::Sender<SignTicket> {
        self.sign_queue.get_or_init(|| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<SignTicket>(4096);
            let store = self.store.clone();
            let clock = self.clock.clone();
            tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < 512 {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let attempts: Vec<SignAttempt> = batch.iter().map(|(a, _)| a.clone()).collect();
                    match store
                        .authorize_signatures(&attempts, clock.now_millis())
                        .await
                    {
                        Ok(authorized) => {
                            let ok: std::collections::HashSet<(String, String, String)> =
                                authorized
                                    .into_iter()
                                    .map(|a: Authorized| (a.account_id, a.service_id, a.hash))
                                    .collect();
                            for (attempt, reply) in batch {
                                let key = (attempt.account_id, attempt.service_id, attempt.hash);
                                let _ = reply.send(Ok(ok.contains(&key)));
                            }
                        }
                        Err(e) => {
                            let failure = Failure::internal(e);
                            for (_, reply) in batch {
                                let _ = reply.send(Err(failure.clone()));
                            }
                        }
                    }
                }
            });
            tx
        })
    }

    /// Why `caller` may not sign with `account_id` (the slow path, after a refusal).
    async fn refusal(&self, caller: &str, account_id: &str) -> Failure {
        match self.store.accounts_by_id(&[account_id]).await {
            Ok(mut rows) => match rows.pop() {
                None => Failure::UnknownAccount(account_id.to_owned()),
                Some(account) => check_holder(&account, caller, self.clock.now_millis())
                    .err()
                    .unwrap_or_else(|| {
                        // Held now, but not when the signature was authorized: report it as expired.
                        Failure::LockExpired(account_id.to_owned())
                    }),
            },
            Err(e) => Failure::from(e),
        }
    }

    /// `/batch-sign`: one statement authorizes and audits every well-formed item, keys are
    /// derived once per account, and signing runs on all cores.
    pub async fn batch_sign(
        &self,
        caller: &str,
        items: &[BatchItem],
    ) -> Result<BatchSigned, Failure> {
        if items.is_empty() || items.len() > MAX_BATCH_SIGN {
            return Err(Failure::Invalid(format!(
                "requests holds 1 to {MAX_BATCH_SIGN} items"
            )));
        }
        let network = self.network()?;
        let mut results: Vec<Option<BatchResult>> = vec![None; items.len()];
        let fail = |index: usize, account_id: &str, f: Failure| BatchResult {
            index,
            account_id: account_id.to_owned(),
            signed: None,
            code: Some(f.code().to_owned()),
            error: Some(f.to_string()),
        };
        let mut candidates: Vec<(usize, UInt256)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match parse_hash(&item.tx_hash) {
                Ok(_) if !is_account_id(&item.account_id) => {
                    results[index] = Some(fail(
                        index,
                        &item.account_id,
                        Failure::UnknownAccount(item.account_id.clone()),
                    ))
                }
                Ok(hash) => candidates.push((index, hash)),
                Err(f) => results[index] = Some(fail(index, &item.account_id, f)),
            }
        }
        let attempts: Vec<SignAttempt> = candidates
            .iter()
            .map(|(i, h)| SignAttempt {
                account_id: items[*i].account_id.clone(),
                service_id: caller.to_owned(),
                hash: h.to_string(),
            })
            .collect();
        // Sign every well-formed item on all cores while the database authorizes and audits them
        // in one statement; only authorized (so audited) signatures leave, the rest are dropped.
        let mut by_account: BTreeMap<String, Vec<(usize, UInt256)>> = BTreeMap::new();
        for (index, hash) in &candidates {
            by_account
                .entry(items[*index].account_id.clone())
                .or_default()
                .push((*index, *hash));
        }
        let signing = tokio::task::spawn_blocking({
            let master = self.master.clone();
            let groups: Vec<(String, Vec<(usize, UInt256)>)> = by_account.into_iter().collect();
            move || sign_groups(&master, network, &groups)
        });
        let authorized: std::collections::HashSet<(String, String)> = if attempts.is_empty() {
            Default::default()
        } else {
            self.store
                .authorize_signatures(&attempts, self.clock.now_millis())
                .await?
                .into_iter()
                .map(|a| (a.account_id, a.hash))
                .collect()
        };
        let signed = signing.await.map_err(Failure::internal)?;
        // Refused items: one lookup to say why.
        let mut refused: Vec<&str> = candidates
            .iter()
            .filter(|(i, h)| !authorized.contains(&(items[*i].account_id.clone(), h.to_string())))
            .map(|(i, _)| items[*i].account_id.as_str())
            .collect();
        refused.sort_unstable();
        refused.dedup();
        let rows: HashMap<String, AccountRow> = if refused.is_empty() {
            HashMap::new()
        } else {
            self.store
                .accounts_by_id(&refused)
                .await?
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect()
        };
        let now = self.clock.now_millis();
        for (index, account_id, hash, result) in signed {
            results[index] = Some(
                if authorized.contains(&(account_id.clone(), hash.to_string())) {
                    match result {
                        Ok(s) => BatchResult {
                            index,
                            account_id,
                            signed: Some(s),
                            code: None,
                            error: None,
                        },
                        Err(f) => fail(index, &account_id, f),
                    }
                } else {
                    let why = match rows.get(&account_id) {
                        None => Failure::UnknownAccount(account_id.clone()),
                        Some(a) => check_holder(a, caller, now)
                            .err()
                            .unwrap_or_else(|| Failure::LockExpired(account_id.clone())),
                    };
                    fail(index, &account_id, why)
                },
            );
        }
        Ok(BatchSigned {
            results: results.into_iter().flatten().collect(),
        })
    }
}

/// Signs `data` with the key of `account_id`; the key lives only inside this call.
fn sign_with(
    master: &MasterKey,
    account_id: &str,
    data: &[u8],
) -> Result<(neosl_crypto::Signature, PublicKey), Failure> {
    let key = kdf::derive_pool_account_key(master, account_id).map_err(Failure::internal)?;
    let signing = key.signing_key().map_err(Failure::internal)?;
    let signature = signing.sign(data).map_err(Failure::internal)?;
    Ok((signature, key.public_key()))
}

fn signed_view(
    account_id: &str,
    signature: &neosl_crypto::Signature,
    public_key: &PublicKey,
) -> Signed {
    let witness = Witness::single_sig(signature, public_key);
    Signed {
        account_id: account_id.to_owned(),
        signature: hex::encode(signature.to_bytes()),
        public_key: public_key.to_string(),
        witness: WitnessView {
            invocation: BASE64.encode(&witness.invocation),
            verification: BASE64.encode(&witness.verification),
        },
    }
}

/// Signs each group's hashes with its account's key (derived once per group), on all cores.
fn sign_groups(
    master: &MasterKey,
    network: u32,
    groups: &[(String, Vec<(usize, UInt256)>)],
) -> Vec<(usize, String, UInt256, Result<Signed, Failure>)> {
    on_all_cores(groups, |part| {
        let mut out = Vec::new();
        for (account_id, hashes) in part {
            let key = kdf::derive_pool_account_key(master, account_id)
                .map_err(Failure::internal)
                .and_then(|k| Ok((k.signing_key().map_err(Failure::internal)?, k.public_key())));
            for (index, hash) in hashes {
                let result = key
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|(signing, public)| {
                        let sig = signing
                            .sign(&sign_data(network, hash))
                            .map_err(Failure::internal)?;
                        Ok(signed_view(account_id, &sig, public))
                    });
                out.push((*index, account_id.clone(), *hash, result));
            }
        }
        out
    })
}

/// Signs for a pool account inside the AccountPool: the key is derived per signature.
pub(crate) struct LocalPoolSigner {
    master: Arc<MasterKey>,
    account_id: String,
    verification_script: Vec<u8>,
}

impl LocalPoolSigner {
    pub(crate) fn new(master: Arc<MasterKey>, account: &AccountRow) -> Result<Self, Failure> {
        let key_bytes = hex::decode(&account.public_key).map_err(Failure::internal)?;
        let key = PublicKey::from_slice(&key_bytes).map_err(Failure::internal)?;
        Ok(Self {
            master,
            account_id: account.id.clone(),
            verification_script: verification_script(&key),
        })
    }
}

#[async_trait::async_trait]
impl TxSigner for LocalPoolSigner {
    fn verification_script(&self) -> Vec<u8> {
        self.verification_script.clone()
    }

    async fn sign(&self, network: u32, tx_hash: &UInt256) -> neosl_chain::Result<Witness> {
        let (signature, public) =
            sign_with(&self.master, &self.account_id, &sign_data(network, tx_hash))
                .map_err(|e| ChainError::Signer(e.to_string()))?;
        Ok(Witness::single_sig(&signature, &public))
    }
}
