//! Triggers, firings and positions on the platform database.
//!
//! A firing is the unit of exactly-once: `(trigger_id, firing_key)` is unique, where the key is
//! what fired it (`at:<ms>` for a cron time, `event:<tx>:<index>` for a notification,
//! `round:<id>` for a price round, `cross:<n>` for a balance crossing). Every evaluator inserts
//! with `ON CONFLICT DO NOTHING`, so replicas, restarts and replays cannot fire twice; the
//! executor moves a firing on only under its claim and with conditional updates.

use neosl_runtime::db::Database;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use crate::error::AutomationError;
use crate::spec::TriggerSpec;

/// The store's migrations.
pub const MIGRATIONS: &[neosl_runtime::db::Migration] = &[
    neosl_runtime::migration!(1, "automation", "0001_automation.sql", shared),
    neosl_runtime::migration!(2, "firing attempts", "0002_attempts.sql", shared),
];

/// Transactions a firing may need before it is given up as `failed`.
pub const MAX_ATTEMPTS: i64 = 5;

/// A trigger as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Its id.
    pub id: String,
    /// The GasBank account that pays (`user:<id>` or `contract:<hash>`).
    pub owner: String,
    /// Its name.
    pub name: String,
    /// `cron`, `price`, `threshold` or `event`.
    pub kind: String,
    /// `active`, `disabled`, `paused` (with the reason: it could not pay) or `completed`.
    pub state: String,
    /// Why it is paused or completed.
    pub state_reason: Option<String>,
    /// A cron trigger's next time (Unix ms).
    pub next_fire_at: Option<i64>,
    /// What was registered.
    pub spec: TriggerSpec,
    /// Registered (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

/// One firing and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// Its id.
    pub id: String,
    /// The trigger.
    pub trigger_id: String,
    /// The paying account.
    pub owner: String,
    /// What fired it.
    pub firing_key: String,
    /// When it was due (Unix ms).
    pub due_at: i64,
    /// `due`, `claimed`, `planned` (its transaction on its way), `executed`, `faulted`,
    /// `skipped` or `failed` (never landed).
    pub state: String,
    /// Why it was skipped, or the VM's exception.
    pub reason: Option<String>,
    /// What fired it (event arguments, price, balance), JSON.
    pub input: Option<serde_json::Value>,
    /// The transaction.
    pub tx_hash: Option<String>,
    /// GAS the transaction cost (system + network fee, 10⁻⁸).
    pub gas_used: Option<i64>,
    /// What the owner was charged in all (10⁻⁸ GAS).
    pub fee: Option<i64>,
    /// Transactions it has needed so far.
    pub attempts: i64,
    /// Recorded (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

/// Columns derived from a spec for the evaluators' indexes.
#[derive(Debug, Clone, Default)]
pub struct Indexed {
    /// Cron: the first time.
    pub next_fire_at: Option<i64>,
    /// Price: the pair.
    pub pair: Option<String>,
    /// Price and threshold: `above` or `below`.
    pub direction: Option<String>,
    /// Price (8 decimals) and threshold (smallest unit).
    pub threshold: Option<i64>,
    /// Whether it fires again after crossing back.
    pub rearm: bool,
    /// Price: `armed` or `waiting` when the current price is known.
    pub cross_state: Option<String>,
    /// Event: contract and name.
    pub event: Option<(String, String)>,
}

/// The tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

const TRIGGER_COLUMNS: &str =
    "id, owner, name, kind, state, state_reason, next_fire_at, spec, created_at, updated_at";
const FIRING_COLUMNS: &str = "id, trigger_id, owner, firing_key, due_at, state, reason, input, tx_hash, gas_used, fee, attempts, created_at, updated_at";

fn trigger_from(row: &sqlx::any::AnyRow) -> Result<Trigger, AutomationError> {
    let spec: String = row.try_get("spec")?;
    Ok(Trigger {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        state: row.try_get("state")?,
        state_reason: row.try_get("state_reason")?,
        next_fire_at: row.try_get("next_fire_at")?,
        spec: serde_json::from_str(&spec)
            .map_err(|e| AutomationError::Database(format!("stored spec: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn firing_from(row: &sqlx::any::AnyRow) -> Result<Firing, sqlx::Error> {
    let input: Option<String> = row.try_get("input")?;
    Ok(Firing {
        id: row.try_get("id")?,
        trigger_id: row.try_get("trigger_id")?,
        owner: row.try_get("owner")?,
        firing_key: row.try_get("firing_key")?,
        due_at: row.try_get("due_at")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        input: input.and_then(|i| serde_json::from_str(&i).ok()),
        tx_hash: row.try_get("tx_hash")?,
        gas_used: row.try_get("gas_used")?,
        fee: row.try_get("fee")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A firing to record.
#[derive(Debug, Clone)]
pub struct NewFiring<'a> {
    /// The trigger.
    pub trigger_id: &'a str,
    /// Its owner.
    pub owner: &'a str,
    /// What fired it.
    pub key: String,
    /// When it was due.
    pub due_at: i64,
    /// `due`, or `skipped` with a reason.
    pub skipped: Option<&'a str>,
    /// What fired it.
    pub input: Option<serde_json::Value>,
}

impl Store {
    /// Opens the store, migrating its tables.
    pub async fn open(db: Database) -> Result<Self, AutomationError> {
        db.migrate("automation", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Registers a trigger unless its owner has `max_per_owner` already.
    pub async fn insert(
        &self,
        owner: &str,
        spec: &TriggerSpec,
        indexed: &Indexed,
        max_per_owner: usize,
        now: i64,
    ) -> Result<Trigger, AutomationError> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.db.pool().begin().await?;
        neosl_runtime::db::lock_named(
            &mut tx,
            self.db.backend(),
            &format!("automation:owner:{owner}"),
        )
        .await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM automation_triggers WHERE owner = $1 AND state <> 'deleted'",
        )
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_owner {
            return Err(AutomationError::TooManyTriggers(max_per_owner));
        }
        let state = if spec.enabled { "active" } else { "disabled" };
        let (event_contract, event_name) = indexed
            .event
            .clone()
            .map_or((None, None), |(c, n)| (Some(c), Some(n)));
        sqlx::query(
            "INSERT INTO automation_triggers (id, owner, name, kind, spec, state, next_fire_at, pair, direction, threshold, \
             rearm, event_contract, event_name, cross_state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
        )
        .bind(&id)
        .bind(owner)
        .bind(&spec.name)
        .bind(spec.condition.kind())
        .bind(serde_json::to_string(spec).unwrap_or_default())
        .bind(state)
        .bind(indexed.next_fire_at)
        .bind(indexed.pair.as_deref())
        .bind(indexed.direction.as_deref())
        .bind(indexed.threshold)
        .bind(i64::from(indexed.rearm))
        .bind(event_contract)
        .bind(event_name)
        .bind(indexed.cross_state.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get(Some(owner), &id).await
    }

    /// A trigger (of `owner`, when given).
    pub async fn get(&self, owner: Option<&str>, id: &str) -> Result<Trigger, AutomationError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS} FROM automation_triggers WHERE id = $1 AND state <> 'deleted'"
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(AutomationError::UnknownTrigger)?;
        let trigger = trigger_from(&row)?;
        if owner.is_some_and(|o| o != trigger.owner) {
            return Err(AutomationError::UnknownTrigger);
        }
        Ok(trigger)
    }

    /// An owner's triggers, newest first.
    pub async fn list(&self, owner: &str, limit: i64) -> Result<Vec<Trigger>, AutomationError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS} FROM automation_triggers WHERE owner = $1 AND state <> 'deleted' \
             ORDER BY created_at DESC, id LIMIT $2"
        )))
        .bind(owner)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(trigger_from).collect()
    }

    /// Sets a trigger's state; answers whether it existed (and was `from`, when given).
    pub async fn set_state(
        &self,
        id: &str,
        from: Option<&str>,
        state: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, AutomationError> {
        let done = sqlx::query(
            "UPDATE automation_triggers SET state = $1, state_reason = $2, updated_at = $3 \
             WHERE id = $4 AND state <> 'deleted' AND ($5 IS NULL OR state = $5)",
        )
        .bind(state)
        .bind(reason)
        .bind(now)
        .bind(id)
        .bind(from)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a cron trigger's next time (`None`: its schedule has ended).
    pub async fn set_next_fire(
        &self,
        id: &str,
        next: Option<i64>,
        now: i64,
    ) -> Result<(), AutomationError> {
        sqlx::query(
            "UPDATE automation_triggers SET next_fire_at = $1, updated_at = $2, \
             state = CASE WHEN $1 IS NULL THEN 'completed' ELSE state END WHERE id = $3",
        )
        .bind(next)
        .bind(now)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Records a firing in `tx` unless it exists; answers whether it was new.
    pub async fn insert_firing_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        f: &NewFiring<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let (state, reason) = match f.skipped {
            Some(reason) => ("skipped", Some(reason)),
            None => ("due", None),
        };
        let done = sqlx::query(
            "INSERT INTO automation_firings (id, trigger_id, owner, firing_key, due_at, state, reason, input, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (trigger_id, firing_key) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(f.trigger_id)
        .bind(f.owner)
        .bind(&f.key)
        .bind(f.due_at)
        .bind(state)
        .bind(reason)
        .bind(f.input.as_ref().map(serde_json::Value::to_string))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A trigger's firings, newest first.
    pub async fn firings(
        &self,
        trigger_id: &str,
        limit: i64,
    ) -> Result<Vec<Firing>, AutomationError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FIRING_COLUMNS} FROM automation_firings WHERE trigger_id = $1 \
             ORDER BY due_at DESC, created_at DESC LIMIT $2"
        )))
        .bind(trigger_id)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(firing_from).collect::<Result<_, _>>()?)
    }

    /// One firing.
    pub async fn firing(&self, id: &str) -> Result<Option<Firing>, AutomationError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FIRING_COLUMNS} FROM automation_firings WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(firing_from).transpose()?)
    }

    /// Cron triggers due by `now` (active or paused), earliest first.
    pub async fn due_cron(&self, now: i64, limit: i64) -> Result<Vec<Trigger>, AutomationError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS} FROM automation_triggers WHERE kind = 'cron' AND next_fire_at <= $1 \
             AND state IN ('active', 'paused') ORDER BY next_fire_at LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(trigger_from).collect()
    }

    /// Moves a cron trigger from `old` to `next` (`None`: it has ended) in `tx`; answers
    /// whether this caller moved it (so only one replica records its firings).
    pub async fn advance_cron_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        old: i64,
        next: Option<i64>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE automation_triggers SET next_fire_at = $1, updated_at = $2, \
             state = CASE WHEN $1 IS NULL THEN 'completed' ELSE state END, \
             state_reason = CASE WHEN $1 IS NULL THEN 'the schedule has ended' ELSE state_reason END \
             WHERE id = $3 AND next_fire_at = $4",
        )
        .bind(next)
        .bind(now)
        .bind(id)
        .bind(old)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Triggers of one event (active or paused).
    pub async fn event_triggers(
        &self,
        tx: &mut Transaction<'_, Any>,
        contract: &str,
        name: &str,
    ) -> Result<Vec<Trigger>, AutomationError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS} FROM automation_triggers WHERE event_contract = $1 AND event_name = $2 \
             AND state IN ('active', 'paused')"
        )))
        .bind(contract)
        .bind(name)
        .fetch_all(&mut **tx)
        .await?;
        rows.iter().map(trigger_from).collect()
    }

    /// For a pair's new price: arms the price triggers that should be, then answers those
    /// that cross now (armed, and met by `price`).
    pub async fn price_crossings(
        &self,
        pair: &str,
        price: i64,
    ) -> Result<Vec<Trigger>, AutomationError> {
        const MET: &str = "((direction = 'above' AND $2 > threshold) OR (direction = 'below' AND $2 < threshold))";
        let mut tx = self.db.pool().begin().await?;
        // New triggers learn where the price is without firing; a trigger whose condition no
        // longer holds is armed for the next crossing (once, unless it re-arms).
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE automation_triggers SET cross_state = CASE WHEN {MET} THEN 'waiting' ELSE 'armed' END \
             WHERE kind = 'price' AND pair = $1 AND cross_state IS NULL"
        )))
        .bind(pair)
        .bind(price)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE automation_triggers SET cross_state = 'armed' WHERE kind = 'price' AND pair = $1 \
             AND (cross_state = 'waiting' OR (cross_state = 'fired' AND rearm = 1)) AND NOT {MET}"
        )))
        .bind(pair)
        .bind(price)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS} FROM automation_triggers WHERE kind = 'price' AND pair = $1 \
             AND cross_state = 'armed' AND state IN ('active', 'paused') AND {MET}"
        )))
        .bind(pair)
        .bind(price)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(trigger_from).collect()
    }

    /// Marks a crossing fired in `tx` (conditionally: one replica wins); answers the
    /// crossing's number when this caller fired it.
    pub async fn fire_crossing_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        now: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE automation_triggers SET cross_state = 'fired', crossings = crossings + 1, updated_at = $1 \
             WHERE id = $2 AND cross_state = 'armed'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let n: i64 = sqlx::query_scalar("SELECT crossings FROM automation_triggers WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        Ok(Some(n))
    }

    /// Threshold triggers (active or paused).
    pub async fn threshold_triggers(
        &self,
    ) -> Result<Vec<(Trigger, Option<String>)>, AutomationError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS}, cross_state FROM automation_triggers WHERE kind = 'threshold' \
             AND state IN ('active', 'paused')"
        )))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((trigger_from(r)?, r.try_get("cross_state")?)))
            .collect()
    }

    /// Sets a threshold trigger's crossing state from `from` (conditionally).
    pub async fn set_cross_state(
        &self,
        id: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool, AutomationError> {
        let done = sqlx::query(
            "UPDATE automation_triggers SET cross_state = $1 WHERE id = $2 \
             AND (($3 IS NULL AND cross_state IS NULL) OR cross_state = $3)",
        )
        .bind(to)
        .bind(id)
        .bind(from)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A named position (the last price round read per pair).
    pub async fn position(&self, name: &str) -> Result<i64, AutomationError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT value FROM automation_positions WHERE name = $1")
                .bind(name)
                .fetch_optional(self.db.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// Moves a position forward (never back) in `tx`.
    pub async fn advance_position_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        name: &str,
        value: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO automation_positions (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE automation_positions.value < excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` due firings for `replica` until `until`: for each trigger only its
    /// earliest, and only when none of its firings is claimed or on its way (so a trigger's
    /// firings run in order, one at a time).
    pub async fn claim(
        &self,
        replica: &str,
        now: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<Firing>, AutomationError> {
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT f.id FROM automation_firings f WHERE (f.state = 'due' OR (f.state = 'claimed' AND f.claim_until <= $1)) \
             AND f.due_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM automation_firings g WHERE g.trigger_id = f.trigger_id AND g.id <> f.id \
                 AND (g.state = 'planned' OR (g.state = 'claimed' AND g.claim_until > $1) \
                      OR (g.state IN ('due', 'claimed') AND (g.due_at < f.due_at OR (g.due_at = f.due_at AND g.firing_key < f.firing_key))))) \
             ORDER BY f.due_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        let mut claimed = Vec::new();
        for id in candidates {
            let done = sqlx::query(
                "UPDATE automation_firings SET state = 'claimed', claimed_by = $1, claim_until = $2, updated_at = $3 \
                 WHERE id = $4 AND (state = 'due' OR (state = 'claimed' AND claim_until <= $3))",
            )
            .bind(replica)
            .bind(until)
            .bind(now)
            .bind(&id)
            .execute(self.db.pool())
            .await?;
            if done.rows_affected() == 1
                && let Some(f) = self.firing(&id).await?
            {
                claimed.push(f);
            }
        }
        Ok(claimed)
    }

    /// Ends a claimed firing (`skipped` or `faulted` with a reason) in `tx`; answers whether
    /// the claim still held.
    pub async fn finish_claimed_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        replica: &str,
        state: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE automation_firings SET state = $1, reason = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'claimed' AND claimed_by = $5",
        )
        .bind(state)
        .bind(reason)
        .bind(now)
        .bind(id)
        .bind(replica)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Settles a planned firing with its transaction's outcome in `tx`.
    #[allow(clippy::too_many_arguments)]
    pub async fn settle_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        state: &str,
        reason: Option<&str>,
        tx_hash: Option<&str>,
        gas_used: Option<i64>,
        fee: Option<i64>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE automation_firings SET state = $1, reason = $2, tx_hash = $3, gas_used = $4, fee = $5, updated_at = $6 \
             WHERE id = $7 AND state = 'planned'",
        )
        .bind(state)
        .bind(reason)
        .bind(tx_hash)
        .bind(gas_used)
        .bind(fee)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a claimed firing planned in `tx` (conditionally on the claim).
    pub async fn plan_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        replica: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE automation_firings SET state = 'planned', updated_at = $1 WHERE id = $2 AND state = 'claimed' AND claimed_by = $3",
        )
        .bind(now)
        .bind(id)
        .bind(replica)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claimed firing back (it waits for the sending account's GAS).
    pub async fn unclaim(&self, id: &str, replica: &str, now: i64) -> Result<(), AutomationError> {
        sqlx::query(
            "UPDATE automation_firings SET state = 'due', claimed_by = NULL, claim_until = NULL, updated_at = $1 \
             WHERE id = $2 AND state = 'claimed' AND claimed_by = $3",
        )
        .bind(now)
        .bind(id)
        .bind(replica)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A planned firing whose transaction never landed: due again (another attempt) unless it
    /// has had [`MAX_ATTEMPTS`], then `failed`. Answers the state it is left in.
    pub async fn retry_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<&'static str, sqlx::Error> {
        let attempts: i64 =
            sqlx::query_scalar("SELECT attempts FROM automation_firings WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .unwrap_or(MAX_ATTEMPTS);
        let state = if attempts + 1 >= MAX_ATTEMPTS {
            "failed"
        } else {
            "due"
        };
        sqlx::query(
            "UPDATE automation_firings SET state = $1, reason = $2, attempts = attempts + 1, claimed_by = NULL, \
             claim_until = NULL, updated_at = $3 WHERE id = $4 AND state = 'planned'",
        )
        .bind(state)
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(state)
    }

    /// Executions (planned or finished on chain) of `owner` since `since`.
    pub async fn executions_since(&self, owner: &str, since: i64) -> Result<i64, AutomationError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM automation_firings WHERE owner = $1 AND updated_at >= $2 \
             AND state IN ('planned', 'executed', 'faulted')",
        )
        .bind(owner)
        .bind(since)
        .fetch_one(self.db.pool())
        .await?)
    }

    /// Paused triggers (to resume those whose owner can pay again).
    pub async fn paused(&self, limit: i64) -> Result<Vec<Trigger>, AutomationError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRIGGER_COLUMNS} FROM automation_triggers WHERE state = 'paused' ORDER BY updated_at LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(trigger_from).collect()
    }
}
