//! Balances and transfers: tracked balances, NEP-17 transfers from locked accounts (recorded in
//! the outbox with their audit row, then sent and followed by the outbox's worker), and the
//! chain figures beside the tracked ones.

use std::sync::Arc;
use std::time::Duration;

use neosl_accountpool_api::*;
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::SignerEntry;
use neosl_chain::{ChainError, RpcClient, RpcErrorKind};
use neosl_neo::contract::nep17_transfer;
use neosl_neo::param::ContractParameter;
use neosl_neo::{Address, UInt160};
use num_bigint::BigInt;

use async_trait::async_trait;
use neosl_chainwork::{Built, Outbox, Outcome, WorkError, WorkItem, WorkKind};
use neosl_runtime::clock::SharedClock;

use crate::Chain;
use crate::error::Failure;
use crate::service::*;
use crate::signing::LocalPoolSigner;
use crate::store::{AccountRow, AuditEntry, PoolStore, UpdateError};

/// The outbox kind of a pool transfer (its reference is the transaction hash).
pub const TRANSFER: &str = "accountpool.transfer";

/// How long `/transfer` with `wait` waits for the block.
const TRANSFER_WAIT: Duration = Duration::from_secs(25);

impl AccountPool {
    fn outbox(&self) -> Result<&Outbox, Failure> {
        self.outbox
            .as_ref()
            .ok_or_else(|| Failure::ChainUnavailable("no chain RPC is configured".into()))
    }

    /// The outbox kind that follows this pool's transfers (run it with the outbox's worker).
    pub fn transfer_kind(&self, chain: &Chain) -> Arc<dyn WorkKind> {
        Arc::new(TransferKind {
            store: self.store.clone(),
            rpc: chain.rpc.clone(),
            clock: self.clock.clone(),
        })
    }

    /// `/balance`.
    pub async fn update_balance(
        &self,
        caller: &str,
        request: &BalanceUpdate,
    ) -> Result<BalanceView, Failure> {
        if !is_account_id(&request.account_id) {
            return Err(Failure::UnknownAccount(request.account_id.clone()));
        }
        let (token_type, hash) = parse_token(&request.token)?;
        let op = match (&request.delta, &request.absolute) {
            (Some(d), None) => (true, parse_amount(&d.0, "delta")?),
            (None, Some(a)) => (false, parse_amount(&a.0, "absolute")?),
            _ => {
                return Err(Failure::Invalid(
                    "give exactly one of delta and absolute".into(),
                ));
            }
        };
        let now = self.clock.now_millis();
        let result = self
            .store
            .update_tracked(
                &request.account_id,
                &token_type,
                &hash.to_string(),
                now,
                |account| check_holder(account, caller, now),
                |current| {
                    let new = if op.0 {
                        BigInt::from(current) + &op.1
                    } else {
                        op.1.clone()
                    };
                    if new < BigInt::from(0) {
                        return Err(Failure::InsufficientBalance(format!(
                            "the tracked balance is {current}; the result would be negative"
                        )));
                    }
                    i64::try_from(&new).map_err(|_| {
                        Failure::AmountOutOfRange("the result exceeds 2^63 - 1".into())
                    })
                },
            )
            .await
            .map_err(|e| match e {
                UpdateError::UnknownAccount => Failure::UnknownAccount(request.account_id.clone()),
                UpdateError::Sql(e) => Failure::from(e),
            })??;
        Ok(balance_view(&result))
    }

    /// `/transfer`: a NEP-17 transfer from a locked account, signed here.
    pub async fn transfer(
        &self,
        caller: &str,
        request: &TransferRequest,
    ) -> Result<TransferResult, Failure> {
        let chain = self.chain()?.clone();
        if !is_account_id(&request.account_id) {
            return Err(Failure::UnknownAccount(request.account_id.clone()));
        }
        let to = Address::parse(&request.to_address)
            .map_err(|e| Failure::Invalid(format!("to_address: {e}")))?;
        let amount = parse_amount(&request.amount.0, "amount")?;
        if amount <= BigInt::from(0) {
            return Err(Failure::Invalid("amount must be positive".into()));
        }
        let (_, token) = parse_token(&request.token)?;
        let data = request
            .data
            .as_ref()
            .map(ContractParameter::from_json)
            .transpose()
            .map_err(|e| Failure::Invalid(format!("data: {e}")))?;
        let account = self
            .store
            .accounts_by_id(&[request.account_id.as_str()])
            .await?
            .pop()
            .ok_or_else(|| Failure::UnknownAccount(request.account_id.clone()))?;
        check_holder(&account, caller, self.clock.now_millis())?;
        let from = UInt160::parse_display(&account.script_hash).map_err(Failure::internal)?;
        let balances = chain
            .rpc
            .get_nep17_balances(&from)
            .await
            .map_err(chain_failure)?;
        let available = balances.of(&token);
        if available < amount {
            return Err(Failure::InsufficientBalance(format!(
                "the account holds {available} on chain, {amount} was asked"
            )));
        }
        let script = nep17_transfer(&token, &from, &to.script_hash(), &amount, data.as_ref())
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let signer: Arc<dyn TxSigner> =
            Arc::new(LocalPoolSigner::new(self.master.clone(), &account)?);
        let tx = chain
            .submitter
            .build(script, &[SignerEntry::called_by_entry(signer)], vec![])
            .await
            .map_err(chain_failure)?;
        let hash = tx.hash().map_err(Failure::internal)?;
        let outbox = self.outbox()?;
        // The audit row and the outbox item commit together, before the transaction is sent:
        // after a crash the outbox's worker sends it again (the same bytes) and follows it.
        let payload = serde_json::json!({ "account_id": account.id, "service_id": caller });
        let mut db = self.store.database().pool().begin().await?;
        outbox
            .submitted_in(&mut db, TRANSFER, &hash.to_string(), &payload, &tx)
            .await
            .map_err(Failure::internal)?;
        self.store
            .record_audit_in(
                &mut db,
                &[AuditEntry {
                    kind: "transfer".into(),
                    account_id: account.id.clone(),
                    service_id: caller.to_owned(),
                    lock_id: account.lock_id.clone(),
                    hash: hash.to_string(),
                    detail: serde_json::json!({
                        "to": request.to_address, "amount": amount.to_string(), "token": token.to_string(),
                        "system_fee": tx.system_fee, "network_fee": tx.network_fee,
                    })
                    .to_string(),
                    created_at: self.clock.now_millis(),
                }],
            )
            .await?;
        db.commit().await?;
        if let Err(e) = chain.submitter.send(&tx).await {
            // Refused outright (not merely unreachable): the outbox records why and fails it.
            if !e.is_transient() {
                return Err(chain_failure(e));
            }
            tracing::warn!(error = %e, tx = %hash, "sending a transfer failed; the outbox sends it again");
        }
        let mut result = TransferResult {
            tx_hash: hash.to_string(),
            vm_state: None,
            gas_consumed: None,
            exception: None,
        };
        if request.wait {
            let item = outbox
                .wait_final(TRANSFER, &hash.to_string(), TRANSFER_WAIT)
                .await?;
            match item.and_then(|i| i.outcome) {
                Some(Outcome::Confirmed { gas_consumed, .. }) => {
                    self.sync_account(&account, true).await?;
                    result.vm_state = Some("HALT".into());
                    result.gas_consumed = Some(gas_consumed.to_string());
                }
                Some(Outcome::Faulted { exception, .. }) => {
                    self.sync_account(&account, true).await?;
                    result.vm_state = Some("FAULT".into());
                    result.exception = Some(exception);
                }
                Some(Outcome::Failed { reason }) => return Err(Failure::ChainUnavailable(reason)),
                None => {}
            }
        }
        Ok(result)
    }

    /// Reads an account's balances from the chain; with `follow`, tracked amounts become the
    /// chain's (after the pool's own transfers).
    pub async fn sync_account(&self, account: &AccountRow, follow: bool) -> Result<(), Failure> {
        sync_one(
            &self.store,
            &self.chain()?.rpc,
            account,
            follow,
            self.clock.now_millis(),
        )
        .await
    }

    /// Syncs every locked account's chain balances; logs mismatches. Returns how many were read.
    pub async fn sync_locked(&self) -> Result<usize, Failure> {
        let accounts = self.store.locked_accounts(self.clock.now_millis()).await?;
        for account in &accounts {
            self.sync_account(account, false).await?;
        }
        for m in self.store.mismatches(100).await? {
            tracing::warn!(account = %m.account_id, token = %m.token_type, tracked = m.tracked, chain = ?m.chain_amount,
                "tracked balance differs from the chain");
        }
        Ok(accounts.len())
    }
}

pub(crate) fn chain_failure(e: ChainError) -> Failure {
    match &e {
        ChainError::Unavailable(m) => Failure::ChainUnavailable(m.clone()),
        ChainError::InvocationFault { exception } => Failure::TransferFailed(exception.clone()),
        ChainError::Rpc {
            kind: RpcErrorKind::InsufficientFunds,
            ..
        } => Failure::InsufficientBalance(
            "the account cannot pay the network and system fees in GAS".into(),
        ),
        ChainError::Expired { .. } | ChainError::NotIncluded { .. } => {
            Failure::ChainUnavailable(e.to_string())
        }
        _ => Failure::internal(e),
    }
}

pub(crate) async fn sync_one(
    store: &PoolStore,
    rpc: &RpcClient,
    account: &AccountRow,
    follow: bool,
    now: i64,
) -> Result<(), Failure> {
    let hash = UInt160::parse_display(&account.script_hash).map_err(Failure::internal)?;
    let balances = rpc.get_nep17_balances(&hash).await.map_err(chain_failure)?;
    let amounts: Vec<(String, String, String)> = balances
        .balances
        .iter()
        .map(|b| {
            (
                token_type_of(&b.assethash),
                b.assethash.to_string(),
                b.amount.to_string(),
            )
        })
        .collect();
    store
        .set_chain_balances(&account.id, &amounts, now, follow)
        .await?;
    Ok(())
}

/// Follows pool transfers to their block; the tracked balances then follow the chain.
struct TransferKind {
    store: PoolStore,
    rpc: RpcClient,
    clock: SharedClock,
}

#[async_trait]
impl WorkKind for TransferKind {
    fn kind(&self) -> &'static str {
        TRANSFER
    }

    /// A transfer is built (and its hash answered) by its request; one that expired unsent is
    /// failed, never rebuilt behind its caller's back.
    async fn build(&self, _item: &WorkItem, _chain: &Chain) -> Result<Built, WorkError> {
        Err(WorkError::Permanent(
            "the transfer expired without inclusion; ask for a new one".into(),
        ))
    }

    async fn settle(
        &self,
        _tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        _item: &WorkItem,
        _outcome: &Outcome,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn after_settled(&self, item: &WorkItem, _outcome: &Outcome) {
        let Some(id) = item.payload["account_id"].as_str() else {
            return;
        };
        let account = match self.store.accounts_by_id(&[id]).await {
            Ok(mut rows) => rows.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "reading a transferred account failed");
                None
            }
        };
        if let Some(account) = account
            && let Err(e) = sync_one(
                &self.store,
                &self.rpc,
                &account,
                true,
                self.clock.now_millis(),
            )
            .await
        {
            tracing::warn!(error = %e, "syncing balances after a transfer failed; the sync job retries");
        }
    }
}
