//! Requests, their accounts, deposits and legs on the platform database.
//!
//! A request moves `reserving → awaiting_deposit → mixing → delivered`, or to `refunding →
//! refunded` (a deposit that does not match the plan), `expired` (nothing deposited in time),
//! `abandoned` (it could not be set up), `stuck` (a transaction of its plan faulted; the
//! operator looks) or `compensated` (the user claimed the total from the bond on chain; what
//! had not moved stays with the operator). Every change is conditional on the state it leaves, so two replicas cannot
//! both make it. A deposit is keyed by `(tx_hash, notification)`: whichever replica or path
//! sees it first records it, nobody records it twice. A leg is planned into the outbox by the
//! conditional `waiting → planned` in the same transaction.

use neosl_runtime::db::Database;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use crate::error::MixerError;

/// The store's migrations.
pub const MIGRATIONS: &[neosl_runtime::db::Migration] = &[
    neosl_runtime::migration!(1, "mixer", "0001_mixer.sql", shared),
    neosl_runtime::migration!(2, "presigned deposits", "0002_presigned.sql", shared),
];

/// States whose totals the pool holds (or may soon).
pub const OPEN_STATES: &str = "('reserving', 'awaiting_deposit', 'mixing', 'refunding', 'stuck')";

/// A request as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    /// Its id (a random UUID: whoever knows it can follow the request).
    pub id: String,
    /// `Hash256(request bytes)`, hex.
    pub request_hash: Option<String>,
    /// The request bytes, hex.
    pub request_bytes: Option<String>,
    /// The TEE signature, hex.
    pub tee_signature: Option<String>,
    /// The user's script hash (display form).
    pub user_hash: String,
    /// What the targets receive.
    pub net: i64,
    /// The fee.
    pub fee: i64,
    /// What the user deposits.
    pub total: i64,
    /// The chosen mix option (ms, unscaled).
    pub mix_option_ms: i64,
    /// The window as this deployment runs it (ms).
    pub window_ms: i64,
    /// See the module.
    pub state: String,
    /// Why it is in that state.
    pub reason: Option<String>,
    /// The AccountPool lock holding its accounts.
    pub lock_id: Option<String>,
    /// Whether the accounts went back to the pool.
    pub released: bool,
    /// Deposits after this are late (Unix ms).
    pub deposit_deadline: i64,
    /// A dispute is possible after this (Unix ms).
    pub deadline: i64,
    /// When every deposit had arrived.
    pub funded_at: Option<i64>,
    /// When it was settled.
    pub settled_at: Option<i64>,
    /// `delivered`, `refunded` or `unfunded`.
    pub outcome: Option<String>,
    /// The transactions that settled it (display form), JSON.
    pub txids: Option<Vec<String>>,
    /// `Hash256` of them, hex.
    pub txids_hash: Option<String>,
    /// The TEE's completion signature, hex.
    pub proof_signature: Option<String>,
    /// Made (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

const REQUEST_COLUMNS: &str = "id, request_hash, request_bytes, tee_signature, user_hash, net, fee, total, \
    mix_option_ms, window_ms, state, reason, lock_id, released, deposit_deadline, deadline, funded_at, \
    settled_at, outcome, txids, txids_hash, proof_signature, created_at, updated_at";

fn request_from(row: &sqlx::any::AnyRow) -> Result<RequestRow, sqlx::Error> {
    let txids: Option<String> = row.try_get("txids")?;
    Ok(RequestRow {
        id: row.try_get("id")?,
        request_hash: row.try_get("request_hash")?,
        request_bytes: row.try_get("request_bytes")?,
        tee_signature: row.try_get("tee_signature")?,
        user_hash: row.try_get("user_hash")?,
        net: row.try_get("net")?,
        fee: row.try_get("fee")?,
        total: row.try_get("total")?,
        mix_option_ms: row.try_get("mix_option_ms")?,
        window_ms: row.try_get("window_ms")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        lock_id: row.try_get("lock_id")?,
        released: row.try_get::<i64, _>("released")? != 0,
        deposit_deadline: row.try_get("deposit_deadline")?,
        deadline: row.try_get("deadline")?,
        funded_at: row.try_get("funded_at")?,
        settled_at: row.try_get("settled_at")?,
        outcome: row.try_get("outcome")?,
        txids: txids.and_then(|t| serde_json::from_str(&t).ok()),
        txids_hash: row.try_get("txids_hash")?,
        proof_signature: row.try_get("proof_signature")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An account a request holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    /// The request.
    pub request_id: String,
    /// Its script hash (display form).
    pub address: String,
    /// The AccountPool's id.
    pub account_id: String,
    /// Its public key, hex.
    pub public_key: String,
    /// `deposit` or `hop`.
    pub role: String,
    /// What a deposit account should receive.
    pub expected: i64,
    /// What it has received from the user.
    pub received: i64,
}

fn account_from(row: &sqlx::any::AnyRow) -> Result<AccountRow, sqlx::Error> {
    Ok(AccountRow {
        request_id: row.try_get("request_id")?,
        address: row.try_get("address")?,
        account_id: row.try_get("account_id")?,
        public_key: row.try_get("public_key")?,
        role: row.try_get("role")?,
        expected: row.try_get("expected")?,
        received: row.try_get("received")?,
    })
}

/// A deposit seen for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRow {
    /// The transaction (display form).
    pub tx_hash: String,
    /// The notification's index in it.
    pub notification: i64,
    /// The deposit account (display form).
    pub address: String,
    /// Who sent it (display form; none for a mint).
    pub sender: Option<String>,
    /// How much.
    pub amount: i64,
    /// `accepted`, `returned` (sent back: late, foreign sender, or over the plan) or
    /// `unreturnable` (too small to pay its own return, or its account is no longer held).
    pub disposition: String,
    /// Why.
    pub reason: Option<String>,
    /// When it was seen (Unix ms).
    pub seen_at: i64,
}

/// One planned transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRow {
    /// The request.
    pub request_id: String,
    /// Its number in the request.
    pub seq: i64,
    /// Its stage.
    pub stage: i64,
    /// `mix`, `deliver`, `refund` or `return`.
    pub kind: String,
    /// The sender (display form).
    pub from_address: String,
    /// `[[to, amount], …]`.
    pub transfers: Vec<(String, i64)>,
    /// Not sent before (Unix ms).
    pub not_before: i64,
    /// `waiting`, `planned`, `confirmed`, `faulted` or `cancelled`.
    pub state: String,
    /// Transactions tried.
    pub attempts: i64,
    /// Why it faulted.
    pub reason: Option<String>,
    /// Its transaction once confirmed.
    pub tx_hash: Option<String>,
}

fn leg_from(row: &sqlx::any::AnyRow) -> Result<LegRow, sqlx::Error> {
    let transfers: String = row.try_get("transfers")?;
    Ok(LegRow {
        request_id: row.try_get("request_id")?,
        seq: row.try_get("seq")?,
        stage: row.try_get("stage")?,
        kind: row.try_get("kind")?,
        from_address: row.try_get("from_address")?,
        transfers: serde_json::from_str(&transfers).unwrap_or_default(),
        not_before: row.try_get("not_before")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        reason: row.try_get("reason")?,
        tx_hash: row.try_get("tx_hash")?,
    })
}

const LEG_COLUMNS: &str = "request_id, seq, stage, kind, from_address, transfers, not_before, state, \
    attempts, reason, tx_hash";

/// What a new request records before its accounts are chosen.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// Its id.
    pub id: &'a str,
    /// The user (display form).
    pub user_hash: &'a str,
    /// Net, fee, total.
    pub net: i64,
    /// The fee.
    pub fee: i64,
    /// The deposit.
    pub total: i64,
    /// The option (unscaled).
    pub mix_option_ms: i64,
    /// The window (scaled).
    pub window_ms: i64,
    /// Deposits after this are late.
    pub deposit_deadline: i64,
    /// A dispute is possible after this.
    pub deadline: i64,
}

/// What a new request must fit in.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// All open requests' totals at most.
    pub max_pool: i64,
    /// Requests waiting for deposits at most.
    pub max_pending: i64,
    /// The operator's free bond, when known.
    pub bond_free: Option<i64>,
}

/// The Mixer's tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens the store, migrating its tables.
    pub async fn open(db: Database) -> Result<Self, MixerError> {
        db.migrate("mixer", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Records a request as `reserving` if fewer than `limits.max_pending` requests wait for
    /// their deposits (each holds pool accounts) and the pool's cap and the operator's free bond
    /// (when known) can take its total next to every open request; decided under one named
    /// lock, so concurrent requests on any replica cannot overshoot together.
    pub async fn reserve(
        &self,
        new: &NewRequest<'_>,
        limits: &Limits,
        now: i64,
    ) -> Result<(), MixerError> {
        let (max_pool, bond_free) = (limits.max_pool, limits.bond_free);
        let mut tx = self.db.pool().begin().await?;
        neosl_runtime::db::lock_named(&mut tx, self.db.backend(), "mixer:capacity").await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mixer_requests WHERE state IN ('reserving', 'awaiting_deposit')",
        )
        .fetch_one(&mut *tx)
        .await?;
        if pending >= limits.max_pending {
            return Err(MixerError::TooManyPending);
        }
        let held = open_total_in(&mut tx).await?;
        if held + new.total > max_pool {
            return Err(MixerError::PoolCapacityExceeded {
                headroom: (max_pool - held).max(0),
            });
        }
        if bond_free.is_some_and(|free| held + new.total > free) {
            return Err(MixerError::BondExhausted);
        }
        sqlx::query(
            "INSERT INTO mixer_requests (id, user_hash, net, fee, total, mix_option_ms, window_ms, state, \
             deposit_deadline, deadline, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'reserving', $8, $9, $10, $10)",
        )
        .bind(new.id)
        .bind(new.user_hash)
        .bind(new.net)
        .bind(new.fee)
        .bind(new.total)
        .bind(new.mix_option_ms)
        .bind(new.window_ms)
        .bind(new.deposit_deadline)
        .bind(new.deadline)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What the open requests hold, and how many there are.
    pub async fn load(&self) -> Result<(i64, i64), MixerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total), 0) AS BIGINT) AS held FROM mixer_requests WHERE state IN {OPEN_STATES}"
        )))
        .fetch_one(self.db.pool())
        .await?;
        Ok((row.try_get("held")?, row.try_get("n")?))
    }

    /// Records the lock the request's accounts are held by (before anything is signed, so the
    /// accounts go back to the pool whatever happens next).
    pub async fn set_lock(&self, id: &str, lock_id: &str, now: i64) -> Result<(), MixerError> {
        sqlx::query("UPDATE mixer_requests SET lock_id = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(lock_id)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// `reserving → awaiting_deposit` with the signed request and its accounts.
    pub async fn activate(
        &self,
        id: &str,
        request_bytes: &str,
        request_hash: &str,
        signature: &str,
        accounts: &[AccountRow],
        now: i64,
    ) -> Result<bool, MixerError> {
        let mut tx = self.db.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE mixer_requests SET state = 'awaiting_deposit', request_bytes = $2, request_hash = $3, \
             tee_signature = $4, updated_at = $5 WHERE id = $1 AND state = 'reserving'",
        )
        .bind(id)
        .bind(request_bytes)
        .bind(request_hash)
        .bind(signature)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        for a in accounts {
            sqlx::query(
                "INSERT INTO mixer_accounts (request_id, address, account_id, public_key, role, expected, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(&a.address)
            .bind(&a.account_id)
            .bind(&a.public_key)
            .bind(&a.role)
            .bind(a.expected)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Moves a request from `from` to `to` (with the reason); false when it was not in `from`.
    pub async fn transition_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        from: &str,
        to: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE mixer_requests SET state = $3, reason = $4, updated_at = $5 WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(reason)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records the funding time.
    pub async fn funded_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE mixer_requests SET funded_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Settles a request from `from`: its outcome and completion proof.
    #[allow(clippy::too_many_arguments)]
    pub async fn settle_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        from: &str,
        to: &str,
        outcome: &str,
        txids: &[String],
        txids_hash: &str,
        proof_signature: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE mixer_requests SET state = $3, outcome = $4, txids = $5, txids_hash = $6, proof_signature = $7, \
             settled_at = $8, updated_at = $8 WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(outcome)
        .bind(serde_json::to_string(txids).unwrap_or_default())
        .bind(txids_hash)
        .bind(proof_signature)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1)
    }

    /// A request.
    pub async fn get(&self, id: &str) -> Result<RequestRow, MixerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(MixerError::UnknownRequest)?;
        Ok(request_from(&row)?)
    }

    /// A request, inside a transaction.
    pub async fn get_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
    ) -> Result<Option<RequestRow>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(request_from).transpose()
    }

    /// A request by its hash.
    pub async fn by_hash(&self, request_hash: &str) -> Result<Option<RequestRow>, MixerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests WHERE request_hash = $1"
        )))
        .bind(request_hash)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(request_from).transpose()?)
    }

    /// Requests in `state` whose deposit deadline has passed.
    pub async fn deposit_overdue(&self, now: i64) -> Result<Vec<RequestRow>, MixerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests WHERE state = 'awaiting_deposit' AND deposit_deadline < $1 \
             ORDER BY deposit_deadline LIMIT 100"
        )))
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(request_from).collect::<Result<_, _>>()?)
    }

    /// Requests left `reserving` (a crash while setting up) since before `before`.
    pub async fn stale_reservations(&self, before: i64) -> Result<Vec<RequestRow>, MixerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests WHERE state = 'reserving' AND updated_at < $1 LIMIT 100"
        )))
        .bind(before)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(request_from).collect::<Result<_, _>>()?)
    }

    /// Settled requests whose accounts may go back to the pool: held `hold_ms` past the later
    /// of the deposit deadline and settlement (`unfunded_hold_ms` for a request nothing was
    /// deposited to, so that requests never paid cannot keep the pool's accounts for long),
    /// with no leg on its way.
    pub async fn releasable(
        &self,
        now: i64,
        hold_ms: i64,
        unfunded_hold_ms: i64,
    ) -> Result<Vec<RequestRow>, MixerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests r WHERE released = 0 AND lock_id IS NOT NULL \
             AND state IN ('delivered', 'refunded', 'expired', 'abandoned', 'compensated') \
             AND deposit_deadline + (CASE WHEN state IN ('expired', 'abandoned') THEN $3 ELSE $2 END) < $1 \
             AND COALESCE(settled_at, 0) + (CASE WHEN state IN ('expired', 'abandoned') THEN $3 ELSE $2 END) < $1 \
             AND NOT EXISTS (SELECT 1 FROM mixer_legs l WHERE l.request_id = r.id AND l.state IN ('waiting', 'planned')) \
             LIMIT 100"
        )))
        .bind(now)
        .bind(hold_ms)
        .bind(unfunded_hold_ms)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(request_from).collect::<Result<_, _>>()?)
    }

    /// Requests still holding accounts (their locks need renewing).
    pub async fn holding(&self) -> Result<Vec<(String, String)>, MixerError> {
        let rows = sqlx::query(
            "SELECT id, lock_id FROM mixer_requests WHERE released = 0 AND lock_id IS NOT NULL",
        )
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.try_get("id").ok()?, r.try_get("lock_id").ok()?)))
            .collect())
    }

    /// Marks a request's accounts released.
    pub async fn mark_released(&self, id: &str, now: i64) -> Result<(), MixerError> {
        sqlx::query("UPDATE mixer_requests SET released = 1, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Recent requests, newest first, before `before` (Unix ms).
    pub async fn recent(&self, before: i64, limit: i64) -> Result<Vec<RequestRow>, MixerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM mixer_requests WHERE created_at < $1 AND state <> 'reserving' \
             ORDER BY created_at DESC LIMIT $2"
        )))
        .bind(before)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(request_from).collect::<Result<_, _>>()?)
    }

    /// A request's accounts.
    pub async fn accounts_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT request_id, address, account_id, public_key, role, expected, received FROM mixer_accounts \
             WHERE request_id = $1 ORDER BY role, address",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter().map(account_from).collect()
    }

    /// A request's accounts.
    pub async fn accounts(&self, id: &str) -> Result<Vec<AccountRow>, MixerError> {
        let mut tx = self.db.pool().begin().await?;
        let accounts = self.accounts_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(accounts)
    }

    /// The newest request account at `address` (display form), with its request's state.
    pub async fn account_at_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        address: &str,
    ) -> Result<Option<AccountRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT request_id, address, account_id, public_key, role, expected, received FROM mixer_accounts \
             WHERE address = $1 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(address)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(account_from).transpose()
    }

    /// One account of a request.
    pub async fn account_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        address: &str,
    ) -> Result<Option<AccountRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT request_id, address, account_id, public_key, role, expected, received FROM mixer_accounts \
             WHERE request_id = $1 AND address = $2",
        )
        .bind(id)
        .bind(address)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(account_from).transpose()
    }

    /// Adds to what a deposit account received from the user.
    pub async fn add_received_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        address: &str,
        amount: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE mixer_accounts SET received = received + $3 WHERE request_id = $1 AND address = $2",
        )
        .bind(id)
        .bind(address)
        .bind(amount)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records a deposit once; false when it was recorded before.
    pub async fn insert_deposit_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request_id: &str,
        deposit: &DepositRow,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "INSERT INTO mixer_deposits (tx_hash, notification, request_id, address, sender, amount, disposition, reason, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&deposit.tx_hash)
        .bind(deposit.notification)
        .bind(request_id)
        .bind(&deposit.address)
        .bind(deposit.sender.as_deref())
        .bind(deposit.amount)
        .bind(&deposit.disposition)
        .bind(deposit.reason.as_deref())
        .bind(deposit.seen_at)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1)
    }

    /// A request's deposits, in the order they were seen.
    pub async fn deposits(&self, id: &str) -> Result<Vec<DepositRow>, MixerError> {
        let rows = sqlx::query(
            "SELECT tx_hash, notification, address, sender, amount, disposition, reason, seen_at FROM mixer_deposits \
             WHERE request_id = $1 ORDER BY seen_at, tx_hash, notification",
        )
        .bind(id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| -> Result<DepositRow, sqlx::Error> {
                Ok(DepositRow {
                    tx_hash: r.try_get("tx_hash")?,
                    notification: r.try_get("notification")?,
                    address: r.try_get("address")?,
                    sender: r.try_get("sender")?,
                    amount: r.try_get("amount")?,
                    disposition: r.try_get("disposition")?,
                    reason: r.try_get("reason")?,
                    seen_at: r.try_get("seen_at")?,
                })
            })
            .collect::<Result<_, _>>()?)
    }

    /// Adds legs to a request, numbered after its existing ones.
    pub async fn insert_legs_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        legs: &[crate::plan::Leg],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM mixer_legs WHERE request_id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        for (i, leg) in legs.iter().enumerate() {
            let transfers: Vec<(String, i64)> = leg
                .transfers
                .iter()
                .map(|(to, a)| (to.to_string(), *a))
                .collect();
            sqlx::query(
                "INSERT INTO mixer_legs (request_id, seq, stage, kind, from_address, transfers, not_before, state, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8)",
            )
            .bind(id)
            .bind(next + i as i64)
            .bind(leg.stage)
            .bind(leg.kind.as_str())
            .bind(leg.from.to_string())
            .bind(serde_json::to_string(&transfers).unwrap_or_default())
            .bind(leg.not_before)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// A request's legs.
    pub async fn legs(&self, id: &str) -> Result<Vec<LegRow>, MixerError> {
        let mut tx = self.db.pool().begin().await?;
        let legs = self.legs_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(legs)
    }

    /// A request's legs, in order.
    pub async fn legs_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
    ) -> Result<Vec<LegRow>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEG_COLUMNS} FROM mixer_legs WHERE request_id = $1 ORDER BY seq"
        )))
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter().map(leg_from).collect()
    }

    /// Legs that may go now: waiting, due, and every leg of an earlier stage of the same kind
    /// family confirmed (returns and refunds have no predecessors).
    pub async fn due_legs(&self, now: i64, limit: i64) -> Result<Vec<LegRow>, MixerError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEG_COLUMNS} FROM mixer_legs l WHERE state = 'waiting' AND not_before <= $1 \
             AND NOT EXISTS (SELECT 1 FROM mixer_legs e WHERE e.request_id = l.request_id \
                 AND e.stage < l.stage AND e.stage > 0 AND e.state <> 'confirmed') \
             ORDER BY not_before LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(leg_from).collect::<Result<_, _>>()?)
    }

    /// Keeps a signed deposit to broadcast at `send_at`; false when it was handed over before.
    pub async fn insert_presigned(
        &self,
        request_id: &str,
        tx_hash: &str,
        raw: &str,
        send_at: i64,
        now: i64,
    ) -> Result<bool, MixerError> {
        Ok(sqlx::query(
            "INSERT INTO mixer_presigned (tx_hash, request_id, raw, send_at, state, updated_at) \
             VALUES ($1, $2, $3, $4, 'waiting', $5) ON CONFLICT DO NOTHING",
        )
        .bind(tx_hash)
        .bind(request_id)
        .bind(raw)
        .bind(send_at)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Signed deposits due to be broadcast: `(tx_hash, raw)`.
    pub async fn due_presigned(&self, now: i64) -> Result<Vec<(String, String)>, MixerError> {
        let rows = sqlx::query(
            "SELECT tx_hash, raw FROM mixer_presigned WHERE state = 'waiting' AND send_at <= $1 \
             ORDER BY send_at LIMIT 100",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.try_get("tx_hash").ok()?, r.try_get("raw").ok()?)))
            .collect())
    }

    /// Records what broadcasting a signed deposit did (`sent` or `failed`).
    pub async fn presigned_done(
        &self,
        tx_hash: &str,
        state: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), MixerError> {
        sqlx::query(
            "UPDATE mixer_presigned SET state = $2, reason = $3, updated_at = $4 WHERE tx_hash = $1 AND state = 'waiting'",
        )
        .bind(tx_hash)
        .bind(state)
        .bind(reason)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A request's signed deposits: `(tx_hash, state, reason)`.
    pub async fn presigned_of(
        &self,
        request_id: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, MixerError> {
        let rows = sqlx::query(
            "SELECT tx_hash, state, reason FROM mixer_presigned WHERE request_id = $1 ORDER BY send_at",
        )
        .bind(request_id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.try_get("tx_hash").ok()?,
                    r.try_get("state").ok()?,
                    r.try_get("reason").ok()?,
                ))
            })
            .collect())
    }

    /// Cancels a request's legs that have not gone yet.
    pub async fn cancel_legs_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE mixer_legs SET state = 'cancelled', updated_at = $2 WHERE request_id = $1 AND state = 'waiting' \
             AND kind <> 'return'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// `from → to` for a leg (with its transaction or reason); false when it was not `from`.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_leg_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        seq: i64,
        from: &str,
        to: &str,
        tx_hash: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let attempts = i64::from(to == "waiting");
        Ok(sqlx::query(
            "UPDATE mixer_legs SET state = $4, tx_hash = COALESCE($5, tx_hash), reason = $6, attempts = attempts + $7, \
             updated_at = $8 WHERE request_id = $1 AND seq = $2 AND state = $3",
        )
        .bind(id)
        .bind(seq)
        .bind(from)
        .bind(to)
        .bind(tx_hash)
        .bind(reason)
        .bind(attempts)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1)
    }
}

async fn open_total_in(tx: &mut Transaction<'_, Any>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM mixer_requests WHERE state IN {OPEN_STATES}"
    )))
    .fetch_one(&mut **tx)
    .await
}
