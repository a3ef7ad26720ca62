//! Withdrawals to a Neo address the user names, paid from the GasBank treasury account (a key
//! derived from the GasBank master secret; deposits are swept into it by the operator).
//!
//! The ledger is debited when the transfer is submitted and refunded (same reference) if it
//! cannot be sent or faults on chain. A withdrawal row per reference makes replays safe: the
//! same request again answers the recorded withdrawal and sends nothing.

use std::sync::Arc;
use std::time::Duration;

use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_crypto::{MasterKey, kdf};
use neosl_neo::{Address, native, script};
use neosl_runtime::db::now_millis;
use num_bigint::BigInt;
use serde::Serialize;
use sqlx::Row;

use crate::{GasBank, GasBankError, Owner, Result};

/// A withdrawal's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Withdrawals from the treasury.
#[derive(Clone)]
pub struct Withdrawals {
    bank: GasBank,
    submitter: Submitter,
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
    /// Withdrawals over `bank`, paid from the treasury key derived from `master`.
    pub fn new(bank: GasBank, master: &MasterKey, submitter: Submitter) -> Result<Self> {
        let key = kdf::derive_signing_key(master, b"treasury", "gasbank-treasury")
            .map_err(|e| GasBankError::Database(e.to_string()))?;
        Ok(Self {
            bank,
            submitter,
            treasury: Arc::new(LocalKeySigner::new(key)),
        })
    }

    /// The treasury's address: the operator funds it; withdrawals are paid from it.
    pub fn treasury_address(&self) -> Address {
        Address::from_script_hash(self.treasury.account())
    }

    async fn record(&self, reference: &str) -> Result<Option<Withdrawal>> {
        let row = sqlx::query(
            "SELECT reference_id, user_id, to_address, amount, tx_hash, state, error FROM gasbank_withdrawals WHERE reference_id = $1",
        )
        .bind(reference)
        .fetch_optional(self.bank.database().pool())
        .await?;
        Ok(row
            .map(|r| -> std::result::Result<Withdrawal, sqlx::Error> {
                Ok(Withdrawal {
                    reference_id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    to_address: r.try_get(2)?,
                    amount: r.try_get(3)?,
                    tx_hash: r.try_get(4)?,
                    state: r.try_get(5)?,
                    error: r.try_get(6)?,
                })
            })
            .transpose()?)
    }

    async fn set_state(
        &self,
        reference: &str,
        state: &str,
        tx_hash: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE gasbank_withdrawals SET state = $2, tx_hash = COALESCE($3, tx_hash), error = $4, updated_at = $5 WHERE reference_id = $1")
            .bind(reference)
            .bind(state)
            .bind(tx_hash)
            .bind(error)
            .bind(now_millis())
            .execute(self.bank.database().pool())
            .await?;
        Ok(())
    }

    /// Withdraws `amount` of `user_id`'s available balance to `to`. With `wait`, answers after
    /// the transfer is in a block (and refunds if it faulted).
    pub async fn withdraw(
        &self,
        user_id: &str,
        to: &Address,
        amount: i64,
        reference: &str,
        wait: bool,
    ) -> Result<Withdrawal> {
        let reference = format!("withdraw:{user_id}:{reference}");
        if let Some(existing) = self.record(&reference).await? {
            if existing.to_address != to.to_string() || existing.amount != amount {
                return Err(GasBankError::ReferenceConflict(reference));
            }
            return Ok(existing);
        }
        let owner = Owner::User(user_id.to_owned());
        // Debit first: if the balance does not cover it, nothing is recorded or sent.
        self.bank
            .withdraw(&owner, amount, &reference, &to.to_string())
            .await?;
        let now = now_millis();
        sqlx::query(
            "INSERT INTO gasbank_withdrawals (reference_id, user_id, to_address, amount, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (reference_id) DO NOTHING",
        )
        .bind(&reference)
        .bind(user_id)
        .bind(to.to_string())
        .bind(amount)
        .bind(now)
        .execute(self.bank.database().pool())
        .await?;
        let script = script::nep17_transfer(
            &native::GAS,
            &self.treasury.account(),
            &to.script_hash(),
            &BigInt::from(amount),
            None,
        )
        .map_err(|e| GasBankError::Database(e.to_string()))?;
        let signers = [SignerEntry::called_by_entry(self.treasury.clone())];
        let sent = async {
            let tx = self.submitter.build(script, &signers, vec![]).await?;
            self.submitter
                .send_with_retry(&tx, Duration::from_secs(30))
                .await?;
            Ok::<_, neosl_chain::ChainError>(tx)
        }
        .await;
        let tx = match sent {
            Ok(tx) => tx,
            Err(e) => {
                self.fail(&owner, amount, &reference, &e.to_string())
                    .await?;
                return self
                    .record(&reference)
                    .await?
                    .ok_or_else(|| GasBankError::Database("withdrawal vanished".into()));
            }
        };
        let hash = tx
            .hash()
            .map_err(|e| GasBankError::Database(e.to_string()))?
            .to_string();
        self.set_state(&reference, "submitted", Some(&hash), None)
            .await?;
        let answer_reference = reference.clone();
        let this = self.clone();
        let settle = async move {
            match this.submitter.wait(&tx, Duration::from_secs(120)).await {
                Ok(outcome) if outcome.halted() => this.set_state(&reference, "confirmed", None, None).await,
                Ok(outcome) => this.fail(&owner, amount, &reference, &outcome.exception.unwrap_or_else(|| "FAULT".into())).await,
                Err(neosl_chain::ChainError::Expired { .. }) => this.fail(&owner, amount, &reference, "expired without inclusion").await,
                Err(e) => {
                    tracing::warn!(error = %e, reference, "withdrawal outcome unknown; it stays submitted");
                    Ok(())
                }
            }
            .map(|()| reference)
        };
        if wait {
            let reference = settle.await?;
            return self
                .record(&reference)
                .await?
                .ok_or_else(|| GasBankError::Database("withdrawal vanished".into()));
        }
        tokio::spawn(async move {
            if let Err(e) = settle.await {
                tracing::warn!(error = %e, "settling a withdrawal failed");
            }
        });
        self.record(&answer_reference)
            .await?
            .ok_or_else(|| GasBankError::Database("withdrawal vanished".into()))
    }

    async fn fail(&self, owner: &Owner, amount: i64, reference: &str, error: &str) -> Result<()> {
        tracing::warn!(reference, error, "withdrawal failed; refunding");
        self.bank.refund(owner, amount, reference).await?;
        self.set_state(reference, "failed", None, Some(error)).await
    }
}
