//! Withdrawals to a Neo address the user names, paid from the GasBank treasury account (a key
//! derived from the GasBank master secret, funded by the operator).
//!
//! A withdrawal is one database transaction: the ledger debit, the withdrawal row and a
//! `gasbank.withdrawal` item of the outbox ([`neosl_chainwork::Outbox`]). The outbox's worker
//! sends the transfer and, when it is final, settles it in the transaction that records it:
//! confirmed, or refunded (same reference) if it faulted or could not be sent. A crash at any
//! point, a restart or a second replica neither loses it nor sends it twice; the same request
//! again answers the recorded withdrawal.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::SignerEntry;
use neosl_chainwork::{Built, Outbox, Outcome, WorkError, WorkItem, WorkKind, WorkState};
use neosl_crypto::{MasterKey, kdf};
use neosl_neo::{Address, contract, native};
use neosl_runtime::service::Chain;
use num_bigint::BigInt;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row};

use crate::{GasBank, GasBankError, Owner, Result};

/// The outbox kind of a withdrawal.
pub const WITHDRAWAL: &str = "gasbank.withdrawal";

/// The outbox kind of a top-up: GAS from the treasury to one of the platform's own accounts
/// (a fulfilment account running low), with no ledger entry (no user's money moves).
pub const TOP_UP: &str = "gasbank.topup";

/// How long `wait` waits for the transfer to be final.
const WAIT: Duration = Duration::from_secs(25);

/// A withdrawal's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The request's reference.
    pub reference_id: String,
    /// The user.
    pub user_id: String,
    /// The destination.
    pub to_address: String,
    /// The amount in 10⁻⁸ GAS.
    pub amount: i64,
    /// The transfer, once submitted.
    pub tx_hash: Option<String>,
    /// `pending`, `submitted`, `confirmed` or `failed` (refunded).
    pub state: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// The treasury's key: derived from the GasBank master key (HKDF, info `gasbank-treasury`).
fn treasury_key(master: &MasterKey) -> Result<neosl_crypto::SecretKey> {
    kdf::derive_signing_key(master, b"treasury", "gasbank-treasury")
        .map_err(|e| GasBankError::Internal(e.to_string()))
}

/// The treasury's address for `master` (the operator funds it).
pub fn treasury_address(master: &MasterKey) -> Result<Address> {
    Ok(Address::from_public_key(
        &treasury_key(master)?.public_key(),
    ))
}

/// What the outbox item carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    user_id: String,
    to: String,
    amount: i64,
}

/// Withdrawals from the treasury.
#[derive(Clone)]
pub struct Withdrawals {
    bank: GasBank,
    outbox: Outbox,
    treasury: Arc<LocalKeySigner>,
}

impl std::fmt::Debug for Withdrawals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Withdrawals")
            .field("treasury", &self.treasury_address())
            .finish_non_exhaustive()
    }
}

impl Withdrawals {
    /// Withdrawals over `bank` and `outbox`, paid from the treasury key derived from `master`.
    pub fn new(bank: GasBank, master: &MasterKey, outbox: Outbox) -> Result<Self> {
        let key = treasury_key(master)?;
        Ok(Self {
            bank,
            outbox,
            treasury: Arc::new(LocalKeySigner::new(key)),
        })
    }

    /// The treasury's address: the operator funds it; withdrawals are paid from it.
    pub fn treasury_address(&self) -> Address {
        Address::from_script_hash(self.treasury.account())
    }

    /// The outbox kind that sends and settles withdrawals (run it with the outbox's worker).
    pub fn work_kind(&self) -> Arc<dyn WorkKind> {
        Arc::new(WithdrawalKind {
            bank: self.bank.clone(),
            treasury: self.treasury.clone(),
        })
    }

    /// Every outbox kind paid from the treasury: withdrawals and top-ups.
    pub fn work_kinds(&self) -> Vec<Arc<dyn WorkKind>> {
        vec![
            self.work_kind(),
            Arc::new(TopUpKind {
                treasury: self.treasury.clone(),
            }),
        ]
    }

    /// The withdrawal recorded under `reference` (the full reference), with the transfer's
    /// progress from the outbox.
    pub async fn record(&self, reference: &str) -> Result<Option<Withdrawal>> {
        let row = sqlx::query(
            "SELECT reference_id, user_id, to_address, amount, tx_hash, state, error FROM gasbank_withdrawals WHERE reference_id = $1",
        )
        .bind(reference)
        .fetch_optional(self.bank.database().pool())
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let mut record = Withdrawal {
            reference_id: r.try_get(0)?,
            user_id: r.try_get(1)?,
            to_address: r.try_get(2)?,
            amount: r.try_get(3)?,
            tx_hash: r.try_get(4)?,
            state: r.try_get(5)?,
            error: r.try_get(6)?,
        };
        if record.state == "pending"
            && let Some(item) = self.outbox.item(WITHDRAWAL, reference).await?
        {
            if item.state == WorkState::Submitted {
                record.state = "submitted".into();
            }
            record.tx_hash = record.tx_hash.or(item.tx_hash);
        }
        Ok(Some(record))
    }

    /// Withdraws `amount` of `user_id`'s available balance to `to`: debited now, sent by the
    /// outbox. With `wait`, answers once the transfer is final (or after a while, as it is).
    pub async fn withdraw(
        &self,
        user_id: &str,
        to: &Address,
        amount: i64,
        reference: &str,
        wait: bool,
    ) -> Result<Withdrawal> {
        let reference = format!("withdraw:{user_id}:{reference}");
        match self.record(&reference).await? {
            Some(existing)
                if existing.to_address != to.to_string() || existing.amount != amount =>
            {
                return Err(GasBankError::ReferenceConflict(reference));
            }
            Some(_) => {}
            None => self.record_new(user_id, to, amount, &reference).await?,
        }
        if wait {
            self.outbox.wait_final(WITHDRAWAL, &reference, WAIT).await?;
        }
        self.record(&reference)
            .await?
            .ok_or_else(|| GasBankError::Internal("the withdrawal vanished".into()))
    }

    async fn record_new(
        &self,
        user_id: &str,
        to: &Address,
        amount: i64,
        reference: &str,
    ) -> Result<()> {
        let owner = Owner::User(user_id.to_owned());
        let order = Order {
            user_id: user_id.to_owned(),
            to: to.to_string(),
            amount,
        };
        let payload =
            serde_json::to_value(&order).map_err(|e| GasBankError::Internal(e.to_string()))?;
        let mut tx = self.bank.database().pool().begin().await?;
        // Debit first: if the balance does not cover it, nothing is recorded or sent.
        self.bank
            .posting_in(
                &mut tx,
                &owner,
                "withdraw",
                -amount,
                reference,
                Some(&order.to),
            )
            .await?;
        let now = self.bank.clock().now_millis();
        sqlx::query(
            "INSERT INTO gasbank_withdrawals (reference_id, user_id, to_address, amount, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
        )
        .bind(reference)
        .bind(user_id)
        .bind(&order.to)
        .bind(amount)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.outbox
            .plan_in(&mut tx, WITHDRAWAL, reference, &payload)
            .await
            .map_err(|e| GasBankError::Internal(e.to_string()))?;
        tx.commit().await?;
        Ok(())
    }
}

/// What a top-up carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUp {
    /// The receiving platform account.
    pub to: String,
    /// GAS, 10⁻⁸.
    pub amount: i64,
}

/// Plans a top-up of `to` by `amount` from the treasury, unless one to `to` is already on its
/// way (replicas asking at once plan one: they take a named lock first); the gateway's treasury
/// worker sends it. Answers whether one was planned.
pub async fn request_top_up(
    outbox: &Outbox,
    to: &Address,
    amount: i64,
    now_ms: i64,
) -> Result<bool> {
    let internal = |e: sqlx::Error| GasBankError::Internal(e.to_string());
    let to_text = to.to_string();
    let payload = serde_json::to_value(TopUp {
        to: to_text.clone(),
        amount,
    })
    .map_err(|e| GasBankError::Internal(e.to_string()))?;
    let mut tx = outbox.database().pool().begin().await?;
    neosl_runtime::db::lock_named(&mut tx, outbox.backend(), &format!("{TOP_UP}:{to_text}"))
        .await
        .map_err(internal)?;
    let on_its_way = outbox
        .open_items_of_in(&mut tx, TOP_UP)
        .await
        .map_err(internal)?
        .iter()
        .any(|item| item.payload["to"] == to_text.as_str());
    if on_its_way {
        return Ok(false);
    }
    outbox
        .plan_in(
            &mut tx,
            TOP_UP,
            &format!("topup:{to_text}:{now_ms}"),
            &payload,
        )
        .await
        .map_err(|e| GasBankError::Internal(e.to_string()))?;
    tx.commit().await?;
    Ok(true)
}

/// Watches the treasury's GAS: below `low`, a warning in the log (once, when it crosses) and
/// in `/ready` (the `treasury` check stays passing: withdrawals and top-ups still work until
/// the GAS is gone).
pub struct TreasuryWatch {
    rpc: neosl_chain::RpcClient,
    treasury: Address,
    low: i64,
    warning: std::sync::Mutex<Option<String>>,
}

impl TreasuryWatch {
    /// Watches `treasury` against `low` (10⁻⁸ GAS).
    pub fn new(rpc: neosl_chain::RpcClient, treasury: Address, low: i64) -> Self {
        Self {
            rpc,
            treasury,
            low,
            warning: std::sync::Mutex::new(None),
        }
    }

    /// Reads the treasury's balance once and updates the warning.
    pub async fn check(&self) {
        let Ok(balances) = self
            .rpc
            .get_nep17_balances(&self.treasury.script_hash())
            .await
        else {
            return; // The chain's own readiness check reports an unreachable node.
        };
        let gas = balances.of(&native::GAS);
        let warning = (gas < BigInt::from(self.low)).then(|| {
            format!(
                "the GasBank treasury {} holds {gas} (10^-8 GAS), below {}: fund it, or withdrawals and fulfilment accounts' top-ups will stop",
                self.treasury, self.low
            )
        });
        let Ok(mut slot) = self.warning.lock() else {
            return;
        };
        if warning.is_some() && slot.is_none() {
            tracing::warn!(treasury = %self.treasury, %gas, low = self.low, "the GasBank treasury runs low on GAS");
        }
        *slot = warning;
    }

    /// Checks every `interval` until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            self.check().await;
            if neosl_runtime::service::pause(interval, &mut shutdown).await {
                return;
            }
        }
    }
}

#[async_trait]
impl neosl_runtime::server::Readiness for TreasuryWatch {
    fn name(&self) -> &str {
        "treasury"
    }

    async fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    async fn warning(&self) -> Option<String> {
        self.warning.lock().ok().and_then(|w| w.clone())
    }
}

/// Sends top-ups from the treasury.
struct TopUpKind {
    treasury: Arc<LocalKeySigner>,
}

fn gas_from(
    treasury: &Arc<LocalKeySigner>,
    to: &str,
    amount: i64,
) -> std::result::Result<Vec<u8>, WorkError> {
    let to = Address::parse(to).map_err(|e| WorkError::Permanent(e.to_string()))?;
    contract::nep17_transfer(
        &native::GAS,
        &treasury.account(),
        &to.script_hash(),
        &BigInt::from(amount),
        None,
    )
    .map_err(|e| WorkError::Permanent(e.to_string()))
}

#[async_trait]
impl WorkKind for TopUpKind {
    fn kind(&self) -> &'static str {
        TOP_UP
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let top_up: TopUp = serde_json::from_value(item.payload.clone())
            .map_err(|e| WorkError::Permanent(format!("unreadable top-up: {e}")))?;
        let script = gas_from(&self.treasury, &top_up.to, top_up.amount)?;
        let signers = [SignerEntry::called_by_entry(self.treasury.clone())];
        let transaction = chain.submitter.build(script, &signers, vec![]).await?;
        Ok(Built { transaction })
    }

    async fn settle(
        &self,
        _tx: &mut sqlx::Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> std::result::Result<(), sqlx::Error> {
        if !outcome.confirmed() {
            tracing::warn!(reference = %item.reference, ?outcome, "a top-up from the treasury failed (is the treasury funded?)");
        }
        Ok(())
    }
}

/// Sends and settles withdrawals.
struct WithdrawalKind {
    bank: GasBank,
    treasury: Arc<LocalKeySigner>,
}

fn order_of(item: &WorkItem) -> std::result::Result<Order, WorkError> {
    serde_json::from_value(item.payload.clone())
        .map_err(|e| WorkError::Permanent(format!("unreadable withdrawal: {e}")))
}

#[async_trait]
impl WorkKind for WithdrawalKind {
    fn kind(&self) -> &'static str {
        WITHDRAWAL
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let order = order_of(item)?;
        let script = gas_from(&self.treasury, &order.to, order.amount)?;
        let signers = [SignerEntry::called_by_entry(self.treasury.clone())];
        let transaction = chain.submitter.build(script, &signers, vec![]).await?;
        Ok(Built { transaction })
    }

    async fn settle(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> std::result::Result<(), sqlx::Error> {
        let order = order_of(item).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
        let now = self.bank.clock().now_millis();
        let (state, tx_hash, error) = match outcome {
            Outcome::Confirmed { tx_hash, .. } => ("confirmed", Some(tx_hash.as_str()), None),
            Outcome::Faulted { tx_hash, exception } => {
                ("failed", Some(tx_hash.as_str()), Some(exception.clone()))
            }
            Outcome::Failed { reason } => ("failed", None, Some(reason.clone())),
        };
        if state == "failed" {
            tracing::warn!(reference = %item.reference, error = ?error, "withdrawal failed; refunding");
            self.bank
                .posting_in(
                    tx,
                    &Owner::User(order.user_id.clone()),
                    "refund",
                    order.amount,
                    &item.reference,
                    None,
                )
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        }
        sqlx::query(
            "UPDATE gasbank_withdrawals SET state = $2, tx_hash = COALESCE($3, tx_hash), error = $4, updated_at = $5 WHERE reference_id = $1",
        )
        .bind(&item.reference)
        .bind(state)
        .bind(tx_hash)
        .bind(error)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
