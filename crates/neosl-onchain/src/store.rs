//! The requests the worker follows, and its fulfilment accounts.

use neosl_runtime::clock::SharedClock;
use neosl_runtime::db::{Database, DbError, Migration};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

/// The on-chain worker's migrations (one SQL for both backends).
pub const MIGRATIONS: &[Migration] = &[neosl_runtime::migration!(
    1,
    "onchain",
    "0001_onchain.sql",
    shared
)];

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Seen on chain, waiting for its service.
    Pending,
    /// The requesting contract's GasBank account cannot pay the fee yet.
    WaitingForBalance,
    /// Served and signed, waiting to be sent.
    Prepared,
    /// In a fulfilment transaction that is on its way.
    Batched,
    /// Fulfilled, and the callback ran.
    Fulfilled,
    /// Fulfilled (the result is on chain), but the callback raised or was skipped.
    CallbackFailed,
    /// Past its deadline without a fulfilment.
    Expired,
    /// It cannot be served (its service refused it, or its fulfilment is invalid).
    Failed,
}

impl Status {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::WaitingForBalance => "waiting_for_balance",
            Self::Prepared => "prepared",
            Self::Batched => "batched",
            Self::Fulfilled => "fulfilled",
            Self::CallbackFailed => "callback_failed",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "waiting_for_balance" => Self::WaitingForBalance,
            "prepared" => Self::Prepared,
            "batched" => Self::Batched,
            "fulfilled" => Self::Fulfilled,
            "callback_failed" => Self::CallbackFailed,
            "expired" => Self::Expired,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Whether nothing will change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Fulfilled | Self::CallbackFailed | Self::Expired | Self::Failed
        )
    }
}

/// A request from a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The gateway contract (display form).
    pub gateway: String,
    /// Its id on that gateway.
    pub request_id: u64,
    /// The service.
    pub service_id: String,
    /// The requesting contract (display form).
    pub requester: String,
    /// The payload (hex).
    pub payload: String,
    /// The callback method.
    pub callback: String,
    /// The deadline (block time, Unix ms).
    pub deadline: i64,
    /// The request's transaction.
    pub request_tx: String,
    /// Its block.
    pub block_index: u32,
    /// Where it is.
    pub status: Status,
    /// Why it waits, failed, or why its callback failed.
    pub reason: Option<String>,
    /// The fee charged (or held) for it, 10⁻⁸ GAS.
    pub fee: Option<i64>,
    /// The fulfilment's transaction.
    pub fulfil_tx: Option<String>,
    /// When it was seen (Unix ms).
    pub created_at: i64,
    /// When it last changed (Unix ms).
    pub updated_at: i64,
    /// The service contract's event for it (stack-item JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
    /// Whether the service succeeded (once served).
    #[serde(skip)]
    pub success: Option<bool>,
    /// The result (hex, once served).
    #[serde(skip)]
    pub result: Option<String>,
    /// The TEE signature (hex, once served).
    #[serde(skip)]
    pub signature: Option<String>,
}

const COLUMNS: &str = "gateway, request_id, service_id, requester, payload, callback, deadline, request_tx, block_index, \
     status, reason, fee, fulfil_tx, created_at, updated_at, event, success, result, signature";

fn request_of(row: &sqlx::any::AnyRow) -> Result<Request, sqlx::Error> {
    let status: String = row.try_get(9)?;
    let event: Option<String> = row.try_get(15)?;
    let success: Option<i64> = row.try_get(16)?;
    let instance: String = row.try_get(0)?;
    Ok(Request {
        gateway: instance.split('@').next().unwrap_or_default().to_owned(),
        request_id: u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or_default(),
        service_id: row.try_get(2)?,
        requester: row.try_get(3)?,
        payload: row.try_get(4)?,
        callback: row.try_get(5)?,
        deadline: row.try_get(6)?,
        request_tx: row.try_get(7)?,
        block_index: u32::try_from(row.try_get::<i64, _>(8)?).unwrap_or_default(),
        status: Status::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("status {status:?}").into()))?,
        reason: row.try_get(10)?,
        fee: row.try_get(11)?,
        fulfil_tx: row.try_get(12)?,
        created_at: row.try_get(13)?,
        updated_at: row.try_get(14)?,
        event: event.and_then(|e| serde_json::from_str(&e).ok()),
        success: success.map(|s| s != 0),
        result: row.try_get(17)?,
        signature: row.try_get(18)?,
    })
}

/// A request as its `ServiceRequest` event announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The request id.
    pub request_id: u64,
    /// The service.
    pub service_id: String,
    /// The requesting contract (display form).
    pub requester: String,
    /// The payload (hex).
    pub payload: String,
    /// The callback method.
    pub callback: String,
    /// The deadline.
    pub deadline: i64,
    /// The request's transaction.
    pub request_tx: String,
    /// Its block.
    pub block_index: u32,
}

/// The worker's tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    clock: SharedClock,
    gateway: String,
}

impl Store {
    /// The store of `gateway`'s requests (migrating the tables).
    pub async fn open(db: Database, clock: SharedClock, gateway: String) -> Result<Self, DbError> {
        db.migrate("onchain", MIGRATIONS).await?;
        Ok(Self { db, clock, gateway })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The gateway.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Records an announced request (once; a second announcement changes nothing).
    pub async fn insert_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        a: &Announced,
    ) -> Result<(), sqlx::Error> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO onchain_requests (gateway, request_id, service_id, requester, payload, callback, deadline, \
             request_tx, block_index, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10) ON CONFLICT (gateway, request_id) DO NOTHING",
        )
        .bind(&self.gateway)
        .bind(i64::try_from(a.request_id).unwrap_or(i64::MAX))
        .bind(&a.service_id)
        .bind(&a.requester)
        .bind(&a.payload)
        .bind(&a.callback)
        .bind(a.deadline)
        .bind(&a.request_tx)
        .bind(i64::from(a.block_index))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Attaches the service contract's event to its request.
    pub async fn attach_event_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request_id: u64,
        event: &serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE onchain_requests SET event = $3, updated_at = $4 WHERE gateway = $1 AND request_id = $2 AND event IS NULL",
        )
        .bind(&self.gateway)
        .bind(i64::try_from(request_id).unwrap_or(i64::MAX))
        .bind(event.to_string())
        .bind(self.now())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Sets the final status the chain reports (fulfilled, callback failed, expired).
    pub async fn finish_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request_id: u64,
        status: Status,
        reason: Option<&str>,
        fulfil_tx: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE onchain_requests SET status = $3, reason = COALESCE($4, reason), fulfil_tx = COALESCE($5, fulfil_tx), \
             updated_at = $6, claimed_by = NULL WHERE gateway = $1 AND request_id = $2 \
             AND status NOT IN ('fulfilled', 'callback_failed', 'expired')",
        )
        .bind(&self.gateway)
        .bind(i64::try_from(request_id).unwrap_or(i64::MAX))
        .bind(status.as_str())
        .bind(reason)
        .bind(fulfil_tx)
        .bind(self.now())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` requests in `statuses` that no other replica's live claim holds,
    /// oldest first, for `lease_ms`.
    pub async fn claim(
        &self,
        replica: &str,
        statuses: &[Status],
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Request>, sqlx::Error> {
        let now = self.now();
        let list = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let skip = self.db.backend().for_update_skip_locked();
        let sql = format!(
            "UPDATE onchain_requests SET claimed_by = $1, lease_until = $2 WHERE (gateway, request_id) IN (\
               SELECT gateway, request_id FROM onchain_requests WHERE gateway = $3 AND status IN ({list}) \
               AND (lease_until < $4 OR claimed_by = $1) ORDER BY request_id LIMIT $5{skip}) RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(replica)
            .bind(now + lease_ms)
            .bind(&self.gateway)
            .bind(now)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        let mut claimed: Vec<Request> = rows.iter().map(request_of).collect::<Result<_, _>>()?;
        claimed.sort_by_key(|r| r.request_id);
        Ok(claimed)
    }

    /// Moves a claimed request on (only while `replica` holds it), releasing the claim.
    pub async fn update(
        &self,
        replica: &str,
        request_id: u64,
        change: Change<'_>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let changed = self.update_in(&mut tx, replica, request_id, change).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// [`Store::update`] inside the caller's transaction.
    pub async fn update_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        replica: &str,
        request_id: u64,
        change: Change<'_>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE onchain_requests SET status = $4, reason = $5, fee = COALESCE($6, fee), success = COALESCE($7, success), \
             result = COALESCE($8, result), signature = COALESCE($9, signature), batch = $10, updated_at = $11, \
             claimed_by = NULL, lease_until = 0 \
             WHERE gateway = $1 AND request_id = $2 AND claimed_by = $3 \
             AND status NOT IN ('fulfilled', 'callback_failed', 'expired')",
        )
        .bind(&self.gateway)
        .bind(i64::try_from(request_id).unwrap_or(i64::MAX))
        .bind(replica)
        .bind(change.status.as_str())
        .bind(change.reason)
        .bind(change.fee)
        .bind(change.success.map(i64::from))
        .bind(change.result)
        .bind(change.signature)
        .bind(change.batch)
        .bind(self.now())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a batch's requests back to `prepared` (their transaction failed; their results
    /// and signatures still hold).
    pub async fn unbatch_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        batch: &str,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE onchain_requests SET status = 'prepared', batch = NULL, updated_at = $3, claimed_by = NULL, lease_until = 0 \
             WHERE gateway = $1 AND batch = $2 AND status = 'batched'",
        )
        .bind(&self.gateway)
        .bind(batch)
        .bind(self.now())
        .execute(&mut **tx)
        .await?
        .rows_affected())
    }

    /// The request `request_id`.
    pub async fn get(&self, request_id: u64) -> Result<Option<Request>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM onchain_requests WHERE gateway = $1 AND request_id = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.gateway)
            .bind(i64::try_from(request_id).unwrap_or(i64::MAX))
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| request_of(&r))
            .transpose()
    }

    /// [`Store::get`] inside the caller's transaction.
    pub async fn get_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request_id: u64,
    ) -> Result<Option<Request>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM onchain_requests WHERE gateway = $1 AND request_id = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.gateway)
            .bind(i64::try_from(request_id).unwrap_or(i64::MAX))
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| request_of(&r))
            .transpose()
    }

    /// Requests, newest first, optionally of one requesting contract and in one status;
    /// pending ones (every status not final) first when `open_first`.
    pub async fn list(
        &self,
        requester: Option<&str>,
        status: Option<Status>,
        limit: i64,
    ) -> Result<Vec<Request>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM onchain_requests WHERE gateway = $1 AND ($2 = '' OR requester = $2) \
             AND ($3 = '' OR status = $3) \
             ORDER BY CASE WHEN status IN ('fulfilled', 'callback_failed', 'expired', 'failed') THEN 1 ELSE 0 END, \
             request_id DESC LIMIT $4"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.gateway)
            .bind(requester.unwrap_or_default())
            .bind(status.map(Status::as_str).unwrap_or_default())
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(request_of)
            .collect()
    }

    /// Requests past `deadline_before` that are still open on this side.
    pub async fn overdue(
        &self,
        deadline_before: i64,
        limit: i64,
    ) -> Result<Vec<Request>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM onchain_requests WHERE gateway = $1 AND deadline < $2 \
             AND status IN ('pending', 'waiting_for_balance', 'prepared') ORDER BY request_id LIMIT $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.gateway)
            .bind(deadline_before)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(request_of)
            .collect()
    }

    /// How many requests are in each status.
    pub async fn counts(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query(
            "SELECT status, COUNT(*) FROM onchain_requests WHERE gateway = $1 GROUP BY status ORDER BY status",
        )
        .bind(&self.gateway)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }
}

/// A change to a claimed request.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The new status.
    pub status: Status,
    /// Why.
    pub reason: Option<&'a str>,
    /// The fee held for it.
    pub fee: Option<i64>,
    /// The service's answer, once served.
    pub success: Option<bool>,
    /// Its result (hex).
    pub result: Option<&'a str>,
    /// Its signature (hex).
    pub signature: Option<&'a str>,
    /// The batch it is in.
    pub batch: Option<&'a str>,
}

impl<'a> Change<'a> {
    /// Only a new status and reason.
    pub fn to(status: Status, reason: Option<&'a str>) -> Self {
        Self {
            status,
            reason,
            fee: None,
            success: None,
            result: None,
            signature: None,
            batch: None,
        }
    }
}
