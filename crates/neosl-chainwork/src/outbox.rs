//! The outbox: chain work that must finish, whatever crashes or replicas do.
//!
//! An item is recorded in the caller's database transaction, with the business change it
//! carries out, either `planned` (the worker builds its transaction) or already `submitted`
//! (the caller built and signed it and sends it now). The worker of each replica claims open
//! items under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and moves them on:
//!
//! - `planned`: its [`WorkKind`] builds and signs the transaction; the signed bytes are
//!   recorded (`submitted`) *before* they are sent, and only by the replica that still holds
//!   the claim, so two replicas never send two different transactions for one item.
//! - `submitted`: the transaction is looked up on chain. Included: `confirmed` (HALT) or
//!   `failed` (FAULT). Not included and its valid-until-block passed: built again (a new
//!   transaction; the old one can never be included any more) or failed after the kind's
//!   attempts. Otherwise the same bytes are sent again (idempotent).
//! - `confirmed` / `failed` are final: the state change is conditional, so exactly one
//!   replica records it, and the kind's [`WorkKind::settle`] runs in that same transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use neosl_chain::ChainError;
use neosl_neo::UInt256;
use neosl_neo::tx::Transaction;
use neosl_runtime::clock::SharedClock;
use neosl_runtime::db::{Backend, Database, DbError};
use neosl_runtime::service::Chain;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Any, Row};
use tokio::sync::watch;

/// Where an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkState {
    /// Waiting for its transaction to be built.
    Planned,
    /// Its transaction is signed, recorded and sent (perhaps again).
    Submitted,
    /// Its transaction is in a block and ended in HALT.
    Confirmed,
    /// It cannot finish: its transaction faulted, could not be built, or expired too often.
    Failed,
}

impl WorkState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Submitted => "submitted",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        Ok(match text {
            "planned" => Self::Planned,
            "submitted" => Self::Submitted,
            "confirmed" => Self::Confirmed,
            "failed" => Self::Failed,
            other => return Err(sqlx::Error::Decode(format!("work state {other:?}").into())),
        })
    }

    /// Whether nothing will change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Failed)
    }
}

/// One item of chain work.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkItem {
    /// Its id.
    pub id: String,
    /// Its kind (which [`WorkKind`] handles it).
    pub kind: String,
    /// The business reference, unique per kind.
    pub reference: String,
    /// What the kind needs to build and settle it.
    pub payload: Value,
    /// Where it is.
    pub state: WorkState,
    /// Its current (or final) transaction.
    pub tx_hash: Option<String>,
    /// The last block its current transaction can be included in.
    pub valid_until_block: Option<u32>,
    /// Transactions built for it so far.
    pub attempts: i64,
    /// The last thing that went wrong.
    pub last_error: Option<String>,
    /// The final outcome, once final.
    pub outcome: Option<Outcome>,
    /// When it was recorded (Unix ms).
    pub created_at: i64,
    /// When it last changed (Unix ms).
    pub updated_at: i64,
}

/// How an item ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Included, HALT.
    Confirmed {
        /// The transaction.
        tx_hash: String,
        /// GAS the script consumed, 10⁻⁸.
        gas_consumed: i64,
        /// What the transaction emitted, in order.
        #[serde(default)]
        notifications: Vec<Emitted>,
    },
    /// Included, FAULT.
    Faulted {
        /// The transaction.
        tx_hash: String,
        /// The VM's exception.
        exception: String,
    },
    /// Never included: it could not be built or sent, or expired too often.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Whether the work was done (HALT).
    pub fn confirmed(&self) -> bool {
        matches!(self, Self::Confirmed { .. })
    }
}

/// A notification of a confirmed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emitted {
    /// The emitting contract (display form).
    pub contract: String,
    /// The event name.
    pub name: String,
    /// Its arguments, as stack-item JSON.
    pub state: Value,
}

/// A transaction a kind built for an item.
#[derive(Debug, Clone)]
pub struct Built {
    /// Signed, ready to send.
    pub transaction: Transaction,
}

/// Why a kind could not build an item's transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// It may work later (the chain is unreachable, a signer is busy).
    #[error("{0}")]
    Transient(String),
    /// It will never work (the script faults, the item is malformed).
    #[error("{0}")]
    Permanent(String),
}

impl From<ChainError> for WorkError {
    fn from(e: ChainError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// What a kind of chain work does.
#[async_trait]
pub trait WorkKind: Send + Sync {
    /// The kind's name (`gasbank.withdrawal`).
    fn kind(&self) -> &'static str;

    /// Transactions built for one item at most (expiries count).
    fn max_attempts(&self) -> i64 {
        5
    }

    /// Builds and signs the item's transaction.
    async fn build(&self, item: &WorkItem, chain: &Chain) -> Result<Built, WorkError>;

    /// Settles the outcome inside `tx`, the transaction that makes the item final (so the
    /// business effect and the final state commit together, exactly once).
    async fn settle(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> Result<(), sqlx::Error>;

    /// Best-effort follow-up after the item is final and committed (refresh a cache, sync a
    /// balance); never needed for correctness.
    async fn after_settled(&self, item: &WorkItem, outcome: &Outcome) {
        let _ = (item, outcome);
    }
}

/// Errors of the outbox.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The same reference was recorded with another payload.
    #[error("work {kind}/{reference} exists with other terms")]
    Conflict {
        /// The kind.
        kind: String,
        /// The reference.
        reference: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The transaction could not be serialized.
    #[error(transparent)]
    Protocol(#[from] neosl_neo::NeoError),
}

const COLUMNS: &str = "id, kind, reference, payload, state, tx_hash, valid_until_block, attempts, last_error, outcome, created_at, updated_at, tx_bytes";

fn item_of(row: &sqlx::any::AnyRow) -> Result<(WorkItem, Option<String>), sqlx::Error> {
    let payload: String = row.try_get(3)?;
    let outcome: Option<String> = row.try_get(9)?;
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    Ok((
        WorkItem {
            id: row.try_get(0)?,
            kind: row.try_get(1)?,
            reference: row.try_get(2)?,
            payload: serde_json::from_str(&payload).map_err(decode)?,
            state: WorkState::parse(&row.try_get::<String, _>(4)?)?,
            tx_hash: row.try_get(5)?,
            valid_until_block: row
                .try_get::<Option<i64>, _>(6)?
                .and_then(|v| u32::try_from(v).ok()),
            attempts: row.try_get(7)?,
            last_error: row.try_get(8)?,
            outcome: outcome
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(decode)?,
            created_at: row.try_get(10)?,
            updated_at: row.try_get(11)?,
        },
        row.try_get(12)?,
    ))
}

/// The outbox over the platform database.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: Database,
    clock: SharedClock,
    replica: String,
    lease: Duration,
    batch: i64,
}

impl Outbox {
    /// The outbox (migrating its tables); each value is one claimant (one per process).
    pub async fn open(db: Database, clock: SharedClock) -> Result<Self, DbError> {
        crate::migrate(&db).await?;
        Ok(Self {
            db,
            clock,
            replica: uuid::Uuid::new_v4().to_string(),
            lease: Duration::from_secs(30),
            batch: 32,
        })
    }

    /// The same outbox with another claim lease (how long a dead replica's items wait before
    /// another takes them over).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Records `planned` work in the caller's transaction; recording the same
    /// (kind, reference, payload) again answers the existing item's id.
    pub async fn plan_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        kind: &str,
        reference: &str,
        payload: &Value,
    ) -> Result<String, OutboxError> {
        self.insert_in(tx, kind, reference, payload, None).await
    }

    /// Records work whose transaction the caller built, in the caller's transaction, as
    /// `submitted`; the caller sends it after committing (and the worker again if needed).
    pub async fn submitted_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        kind: &str,
        reference: &str,
        payload: &Value,
        signed: &Transaction,
    ) -> Result<String, OutboxError> {
        self.insert_in(tx, kind, reference, payload, Some(signed))
            .await
    }

    async fn insert_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        kind: &str,
        reference: &str,
        payload: &Value,
        signed: Option<&Transaction>,
    ) -> Result<String, OutboxError> {
        let payload_text = payload.to_string();
        let existing =
            sqlx::query("SELECT id, payload FROM chain_work WHERE kind = $1 AND reference = $2")
                .bind(kind)
                .bind(reference)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(row) = existing {
            let stored: String = row.try_get(1)?;
            if serde_json::from_str::<Value>(&stored).ok().as_ref() != Some(payload) {
                return Err(OutboxError::Conflict {
                    kind: kind.to_owned(),
                    reference: reference.to_owned(),
                });
            }
            return Ok(row.try_get(0)?);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now_millis();
        let (state, hash, bytes, vub, attempts) = match signed {
            Some(t) => (
                WorkState::Submitted,
                Some(t.hash()?.to_string()),
                Some(hex::encode(t.to_bytes()?)),
                Some(i64::from(t.valid_until_block)),
                1i64,
            ),
            None => (WorkState::Planned, None, None, None, 0),
        };
        sqlx::query(
            "INSERT INTO chain_work (id, kind, reference, payload, state, tx_hash, tx_bytes, valid_until_block, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&id)
        .bind(kind)
        .bind(reference)
        .bind(payload_text)
        .bind(state.as_str())
        .bind(hash)
        .bind(bytes)
        .bind(vub)
        .bind(attempts)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// The item of `kind` for `reference`.
    pub async fn item(&self, kind: &str, reference: &str) -> Result<Option<WorkItem>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM chain_work WHERE kind = $1 AND reference = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(reference)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| item_of(&r).map(|(item, _)| item))
            .transpose()
    }

    /// Waits (polling the row, up to `timeout`) until the item is final; answers it as it is
    /// then.
    pub async fn wait_final(
        &self,
        kind: &str,
        reference: &str,
        timeout: Duration,
    ) -> Result<Option<WorkItem>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let item = self.item(kind, reference).await?;
            let done = item.as_ref().is_none_or(|i| i.state.is_final());
            if done || tokio::time::Instant::now() >= deadline {
                return Ok(item);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Claims up to the batch size of open items of `kind` that no other replica's live claim
    /// holds (this replica renews its own claims each round).
    async fn claim(&self, kind: &str) -> Result<Vec<(WorkItem, Option<String>)>, sqlx::Error> {
        let now = self.clock.now_millis();
        let lease_until = now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let skip_locked = self.db.backend().for_update_skip_locked();
        let sql = format!(
            "UPDATE chain_work SET claimed_by = $1, lease_until = $2 WHERE id IN (\
               SELECT id FROM chain_work WHERE kind = $3 AND state IN ('planned', 'submitted') \
               AND (lease_until < $4 OR claimed_by = $1) AND not_before <= $4 ORDER BY created_at, id LIMIT $5{skip_locked}) \
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.replica)
            .bind(lease_until)
            .bind(kind)
            .bind(now)
            .bind(self.batch)
            .fetch_all(self.db.pool())
            .await?;
        let mut items: Vec<_> = rows.iter().map(item_of).collect::<Result<_, _>>()?;
        items.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
        Ok(items)
    }

    /// One round for `kinds`: claims what is open and moves each item as far as it can go now.
    /// Answers how many items became final.
    pub async fn step(
        &self,
        kinds: &[Arc<dyn WorkKind>],
        chain: &Chain,
    ) -> Result<usize, sqlx::Error> {
        let mut finished = 0;
        for kind in kinds {
            for (item, bytes) in self.claim(kind.kind()).await? {
                let result = match item.state {
                    WorkState::Planned => self.build_and_send(kind.as_ref(), &item, chain).await,
                    WorkState::Submitted => {
                        self.follow(kind.as_ref(), &item, bytes.as_deref(), chain)
                            .await
                    }
                    WorkState::Confirmed | WorkState::Failed => Ok(false),
                };
                match result {
                    Ok(true) => finished += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, kind = %item.kind, reference = %item.reference, "chain work failed this round");
                    }
                }
            }
        }
        Ok(finished)
    }

    async fn build_and_send(
        &self,
        kind: &dyn WorkKind,
        item: &WorkItem,
        chain: &Chain,
    ) -> Result<bool, sqlx::Error> {
        if item.attempts >= kind.max_attempts() {
            let reason = format!(
                "gave up after {} transactions: {}",
                item.attempts,
                item.last_error.as_deref().unwrap_or("none was included")
            );
            return self.finish(kind, item, Outcome::Failed { reason }).await;
        }
        let built = match kind.build(item, chain).await {
            Ok(built) => built,
            Err(WorkError::Permanent(reason)) => {
                return self.finish(kind, item, Outcome::Failed { reason }).await;
            }
            Err(WorkError::Transient(reason)) => {
                self.back_off(item, &reason).await?;
                return Ok(false);
            }
        };
        let tx = &built.transaction;
        let (hash, bytes) = match (tx.hash(), tx.to_bytes()) {
            (Ok(h), Ok(b)) => (h, b),
            (Err(e), _) | (_, Err(e)) => {
                let reason = format!("the built transaction is invalid: {e}");
                return self.finish(kind, item, Outcome::Failed { reason }).await;
            }
        };
        // Recorded before it is sent, and only while this replica holds the claim.
        let recorded = sqlx::query(
            "UPDATE chain_work SET state = 'submitted', tx_hash = $3, tx_bytes = $4, valid_until_block = $5, \
             attempts = attempts + 1, updated_at = $6 WHERE id = $1 AND claimed_by = $2 AND state = 'planned'",
        )
        .bind(&item.id)
        .bind(&self.replica)
        .bind(hash.to_string())
        .bind(hex::encode(&bytes))
        .bind(i64::from(tx.valid_until_block))
        .bind(self.clock.now_millis())
        .execute(self.db.pool())
        .await?;
        if recorded.rows_affected() == 0 {
            return Ok(false);
        }
        tracing::info!(kind = %item.kind, reference = %item.reference, tx = %hash, "chain work submitted");
        if let Err(e) = chain.submitter.send(tx).await {
            self.refused(kind, item, &hash, &e).await?;
        }
        Ok(false)
    }

    /// A send the node refused outright: the transaction is neither in the pool nor on chain
    /// (those answer "already exists"), so building another one is safe.
    async fn refused(
        &self,
        kind: &dyn WorkKind,
        item: &WorkItem,
        hash: &UInt256,
        e: &ChainError,
    ) -> Result<(), sqlx::Error> {
        if e.is_transient() {
            // Maybe it arrived; the next round looks it up and sends the same bytes again.
            return self.note(item, &e.to_string()).await;
        }
        tracing::warn!(kind = %item.kind, reference = %item.reference, tx = %hash, error = %e, "the node refused the transaction; building another");
        let _ = kind;
        self.replan(item, &e.to_string()).await
    }

    async fn follow(
        &self,
        kind: &dyn WorkKind,
        item: &WorkItem,
        bytes: Option<&str>,
        chain: &Chain,
    ) -> Result<bool, sqlx::Error> {
        let Some(hash) = item
            .tx_hash
            .as_deref()
            .and_then(|h| UInt256::parse_display(h).ok())
        else {
            return self
                .replan(item, "the recorded transaction hash is unreadable")
                .await
                .map(|()| false);
        };
        match chain.rpc.get_application_log(&hash).await {
            Ok(log) => {
                let Some(execution) = log
                    .executions
                    .into_iter()
                    .find(|e| e.trigger == "Application")
                else {
                    return Ok(false);
                };
                let outcome = if execution.halted() {
                    Outcome::Confirmed {
                        tx_hash: hash.to_string(),
                        gas_consumed: execution.gasconsumed,
                        notifications: execution
                            .notifications
                            .iter()
                            .map(|n| Emitted {
                                contract: n.contract.to_string(),
                                name: n.eventname.clone(),
                                state: n.state.to_json(),
                            })
                            .collect(),
                    }
                } else {
                    Outcome::Faulted {
                        tx_hash: hash.to_string(),
                        exception: execution.exception.unwrap_or_else(|| "FAULT".into()),
                    }
                };
                self.finish(kind, item, outcome).await
            }
            Err(e) if e.is_not_found() => {
                let height = match chain.rpc.get_block_count().await {
                    Ok(count) => count.saturating_sub(1),
                    Err(e) => return self.note(item, &e.to_string()).await.map(|()| false),
                };
                if item.valid_until_block.is_some_and(|vub| height > vub) {
                    // It can never be included now: another transaction may be built.
                    self.replan(item, "expired without inclusion").await?;
                    return Ok(false);
                }
                let resend = bytes
                    .and_then(|b| hex::decode(b).ok())
                    .and_then(|b| Transaction::from_bytes(&b).ok());
                match resend {
                    Some(tx) => {
                        if let Err(e) = chain.submitter.send(&tx).await {
                            self.refused(kind, item, &hash, &e).await?;
                        }
                    }
                    None => {
                        self.replan(item, "the recorded transaction is unreadable")
                            .await?
                    }
                }
                Ok(false)
            }
            Err(e) => self.note(item, &e.to_string()).await.map(|()| false),
        }
    }

    /// Back to `planned` (the current transaction can never be included), if this replica
    /// still holds the claim.
    async fn replan(&self, item: &WorkItem, reason: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE chain_work SET state = 'planned', tx_hash = NULL, tx_bytes = NULL, valid_until_block = NULL, \
             last_error = $3, updated_at = $4, lease_until = 0 WHERE id = $1 AND claimed_by = $2 AND state = 'submitted'",
        )
        .bind(&item.id)
        .bind(&self.replica)
        .bind(reason)
        .bind(self.clock.now_millis())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn note(&self, item: &WorkItem, error: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE chain_work SET last_error = $2, updated_at = $3 WHERE id = $1")
            .bind(&item.id)
            .bind(error)
            .bind(self.clock.now_millis())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn back_off(&self, item: &WorkItem, error: &str) -> Result<(), sqlx::Error> {
        let now = self.clock.now_millis();
        sqlx::query(
            "UPDATE chain_work SET last_error = $2, not_before = $3, lease_until = 0, updated_at = $4 WHERE id = $1 AND claimed_by = $5",
        )
        .bind(&item.id)
        .bind(error)
        .bind(now + 2_000)
        .bind(now)
        .bind(&self.replica)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Makes the item final with `outcome` and settles it, in one transaction; exactly one
    /// caller ever succeeds (the change is conditional on the item being open).
    async fn finish(
        &self,
        kind: &dyn WorkKind,
        item: &WorkItem,
        outcome: Outcome,
    ) -> Result<bool, sqlx::Error> {
        let state = if outcome.confirmed() {
            WorkState::Confirmed
        } else {
            WorkState::Failed
        };
        let tx_hash = match &outcome {
            Outcome::Confirmed { tx_hash, .. } | Outcome::Faulted { tx_hash, .. } => {
                Some(tx_hash.clone())
            }
            Outcome::Failed { .. } => None,
        };
        let outcome_text =
            serde_json::to_string(&outcome).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let mut tx = self.db.pool().begin().await?;
        // What the chain showed, any replica may record (for the transaction it showed); a
        // failure without a transaction only the claimant, in the state it saw.
        let changed = match &tx_hash {
            Some(hash) => sqlx::query(
                "UPDATE chain_work SET state = $2, outcome = $3, updated_at = $5 \
                 WHERE id = $1 AND state = 'submitted' AND tx_hash = $4",
            )
            .bind(&item.id)
            .bind(state.as_str())
            .bind(outcome_text)
            .bind(hash)
            .bind(self.clock.now_millis()),
            None => sqlx::query(
                "UPDATE chain_work SET state = $2, outcome = $3, updated_at = $5 \
                 WHERE id = $1 AND state = $4 AND claimed_by = $6",
            )
            .bind(&item.id)
            .bind(state.as_str())
            .bind(outcome_text)
            .bind(item.state.as_str())
            .bind(self.clock.now_millis())
            .bind(&self.replica),
        }
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        kind.settle(&mut tx, item, &outcome).await?;
        tx.commit().await?;
        tracing::info!(kind = %item.kind, reference = %item.reference, ?outcome, "chain work final");
        kind.after_settled(item, &outcome).await;
        Ok(true)
    }

    /// Runs rounds for `kinds` every `interval` until `shutdown`.
    pub async fn run(
        self,
        kinds: Vec<Arc<dyn WorkKind>>,
        chain: Chain,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.step(&kinds, &chain).await {
                tracing::warn!(error = %e, "the chain work round failed; retrying");
            }
            if neosl_runtime::service::pause(interval, &mut shutdown).await {
                return;
            }
        }
    }

    /// Items still open, oldest first (for `/ready` and operators).
    pub async fn open_items(&self, limit: i64) -> Result<Vec<WorkItem>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM chain_work WHERE state IN ('planned', 'submitted') ORDER BY created_at LIMIT $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| item_of(r).map(|(item, _)| item))
            .collect()
    }

    /// Items of `kind` still open, oldest first, read in `tx` (so a caller holding a named lock
    /// can decide whether to plan another).
    pub async fn open_items_of_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        kind: &str,
    ) -> Result<Vec<WorkItem>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM chain_work WHERE kind = $1 AND state IN ('planned', 'submitted') ORDER BY created_at"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| item_of(r).map(|(item, _)| item))
            .collect()
    }

    /// The backend (for callers that branch on the dialect).
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}
