//! Jobs and uploaded code on the platform database.
//!
//! A job moves `queued → running → succeeded | failed`, or to `refused` (it could not start: a
//! secret missing or not granted to this service). A replica runs a job only while it holds
//! its claim (`claimed_by`, `claim_until`); a claim that lapses (the replica died) is taken
//! over and the job runs again from the start (programs have no effects but their output). The
//! final state is written conditionally on the claim, in the transaction that settles the fee,
//! so a job is finished and charged once.

use neosl_runtime::db::Database;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use crate::error::ConfidentialError;
use crate::runtime::Limits;

/// The store's migrations.
pub const MIGRATIONS: &[neosl_runtime::db::Migration] = &[neosl_runtime::migration!(
    1,
    "confidential",
    "0001_confidential.sql",
    shared
)];

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Its id.
    pub id: String,
    /// Who pays and sees it: a user id, or `contract:<hash>` for a contract's request.
    pub owner: String,
    /// `http`, or `onchain:<request>` for a contract's request.
    pub origin: String,
    /// `wasm` or `js`.
    pub engine: String,
    /// SHA-256 of the code (hex).
    pub code_hash: String,
    /// The code (hex).
    pub code: String,
    /// The input (hex).
    pub input: String,
    /// SHA-256 of the input (hex).
    pub input_hash: String,
    /// The granted secrets' names.
    pub secrets: Vec<String>,
    /// Its limits.
    pub limits: Limits,
    /// See the module.
    pub state: String,
    /// How many times a replica started it.
    pub attempts: i64,
    /// The GasBank reservation's reference.
    pub reservation: Option<String>,
    /// What was reserved.
    pub fee_reserved: i64,
    /// What was charged.
    pub fee_charged: Option<i64>,
    /// The output (hex).
    pub output: Option<String>,
    /// SHA-256 of the output (hex).
    pub output_hash: Option<String>,
    /// The signature over the result message (hex).
    pub signature: Option<String>,
    /// Fuel used.
    pub fuel_used: Option<i64>,
    /// Why it failed or was refused.
    pub error_code: Option<String>,
    /// What happened.
    pub error_message: Option<String>,
    /// The program's log.
    pub log: Option<String>,
    /// Submitted (Unix ms).
    pub created_at: i64,
    /// Last started (Unix ms).
    pub started_at: Option<i64>,
    /// Finished (Unix ms).
    pub finished_at: Option<i64>,
}

const JOB_COLUMNS: &str = "id, owner, origin, engine, code_hash, code, input, input_hash, secrets, limits, state, attempts, \
     reservation, fee_reserved, fee_charged, output, output_hash, signature, fuel_used, error_code, error_message, log, \
     created_at, started_at, finished_at";

fn json_err(e: serde_json::Error) -> ConfidentialError {
    ConfidentialError::Database(e.to_string())
}

fn job_of(r: &sqlx::any::AnyRow) -> Result<JobRow, ConfidentialError> {
    let secrets: String = r.try_get(8)?;
    let limits: String = r.try_get(9)?;
    Ok(JobRow {
        id: r.try_get(0)?,
        owner: r.try_get(1)?,
        origin: r.try_get(2)?,
        engine: r.try_get(3)?,
        code_hash: r.try_get(4)?,
        code: r.try_get(5)?,
        input: r.try_get(6)?,
        input_hash: r.try_get(7)?,
        secrets: serde_json::from_str(&secrets).map_err(json_err)?,
        limits: serde_json::from_str(&limits).map_err(json_err)?,
        state: r.try_get(10)?,
        attempts: r.try_get(11)?,
        reservation: r.try_get(12)?,
        fee_reserved: r.try_get(13)?,
        fee_charged: r.try_get(14)?,
        output: r.try_get(15)?,
        output_hash: r.try_get(16)?,
        signature: r.try_get(17)?,
        fuel_used: r.try_get(18)?,
        error_code: r.try_get(19)?,
        error_message: r.try_get(20)?,
        log: r.try_get(21)?,
        created_at: r.try_get(22)?,
        started_at: r.try_get(23)?,
        finished_at: r.try_get(24)?,
    })
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// `succeeded`, `failed` or `refused`.
    pub state: &'static str,
    /// What was charged (None: released).
    pub fee_charged: Option<i64>,
    /// The output (hex).
    pub output: Option<String>,
    /// Its hash (hex).
    pub output_hash: Option<String>,
    /// The signature (hex).
    pub signature: Option<String>,
    /// Fuel used.
    pub fuel_used: Option<i64>,
    /// Why it failed.
    pub error_code: Option<String>,
    /// What happened.
    pub error_message: Option<String>,
    /// The log.
    pub log: Option<String>,
}

/// Code uploaded for contracts, named by its upload id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRow {
    /// What a contract's payload names: SHA-256 of the uploader and the code hash (hex), so a
    /// contract runs exactly the upload it means, never another user's upload of the same code.
    pub upload_id: String,
    /// The user who uploaded it (and whose secrets it may use).
    pub owner: String,
    /// SHA-256 of the code (hex).
    pub code_hash: String,
    /// `wasm` or `js`.
    pub engine: String,
    /// The code (hex).
    #[serde(skip)]
    pub code: String,
    /// The owner's secrets each run is granted.
    pub secrets: Vec<String>,
    /// The contracts that may run it (display form).
    pub allowed_contracts: Vec<String>,
    /// The limits of each run.
    pub limits: Limits,
    /// Uploaded (Unix ms).
    pub created_at: i64,
}

/// The Confidential tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens the store, migrating its tables.
    pub async fn open(db: Database) -> Result<Self, ConfidentialError> {
        db.migrate("confidential", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Records a job; a job recorded `running` is claimed by `claimed_by` until `claim_until`.
    pub async fn insert(
        &self,
        job: &JobRow,
        claim: Option<(&str, i64)>,
    ) -> Result<(), ConfidentialError> {
        sqlx::query(
            "INSERT INTO confidential_jobs (id, owner, origin, engine, code_hash, code, input, input_hash, secrets, limits, state, \
             claimed_by, claim_until, attempts, reservation, fee_reserved, created_at, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&job.id)
        .bind(&job.owner)
        .bind(&job.origin)
        .bind(&job.engine)
        .bind(&job.code_hash)
        .bind(&job.code)
        .bind(&job.input)
        .bind(&job.input_hash)
        .bind(serde_json::to_string(&job.secrets).map_err(json_err)?)
        .bind(serde_json::to_string(&job.limits).map_err(json_err)?)
        .bind(&job.state)
        .bind(claim.map(|c| c.0))
        .bind(claim.map(|c| c.1))
        .bind(job.attempts)
        .bind(&job.reservation)
        .bind(job.fee_reserved)
        .bind(job.created_at)
        .bind(job.started_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Claims the oldest queued job, or a running one whose claim lapsed, for `replica` until
    /// `until`.
    pub async fn claim_next(
        &self,
        replica: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<JobRow>, ConfidentialError> {
        let sql = format!(
            "UPDATE confidential_jobs SET state = 'running', claimed_by = $1, claim_until = $2, attempts = attempts + 1, started_at = $3 \
             WHERE id IN (SELECT id FROM confidential_jobs WHERE state = 'queued' OR (state = 'running' AND claim_until < $3) \
             ORDER BY created_at LIMIT 1{}) \
             AND (state = 'queued' OR (state = 'running' AND claim_until < $3)) RETURNING {JOB_COLUMNS}",
            self.db.backend().for_update_skip_locked()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(replica)
            .bind(until)
            .bind(now)
            .fetch_optional(self.db.pool())
            .await?
            .as_ref()
            .map(job_of)
            .transpose()
    }

    /// Extends `replica`'s claim on job `id`; false when it is no longer held.
    pub async fn renew(
        &self,
        id: &str,
        replica: &str,
        until: i64,
    ) -> Result<bool, ConfidentialError> {
        Ok(sqlx::query(
            "UPDATE confidential_jobs SET claim_until = $3 WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(replica)
        .bind(until)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Writes the end of job `id` if `replica` still holds it, inside `tx`; false otherwise.
    pub async fn finish_in(
        tx: &mut Transaction<'_, Any>,
        id: &str,
        replica: &str,
        finish: &Finish,
        now: i64,
    ) -> Result<bool, ConfidentialError> {
        Ok(sqlx::query(
            "UPDATE confidential_jobs SET state = $3, fee_charged = $4, output = $5, output_hash = $6, signature = $7, fuel_used = $8, \
             error_code = $9, error_message = $10, log = $11, finished_at = $12, claimed_by = NULL, claim_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(replica)
        .bind(finish.state)
        .bind(finish.fee_charged)
        .bind(&finish.output)
        .bind(&finish.output_hash)
        .bind(&finish.signature)
        .bind(finish.fuel_used)
        .bind(&finish.error_code)
        .bind(&finish.error_message)
        .bind(&finish.log)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1)
    }

    /// One job.
    pub async fn get(&self, id: &str) -> Result<Option<JobRow>, ConfidentialError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM confidential_jobs WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .as_ref()
            .map(job_of)
            .transpose()
    }

    /// The owner's jobs, newest first, before `before` (Unix ms) when given.
    pub async fn list(
        &self,
        owner: &str,
        state: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<JobRow>, ConfidentialError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM confidential_jobs WHERE owner = $1 AND ($2 = '' OR state = $2) AND created_at < $3 \
             ORDER BY created_at DESC, id LIMIT $4"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(state.unwrap_or(""))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(job_of)
            .collect()
    }

    /// How many jobs wait or run.
    pub async fn open_jobs(&self) -> Result<i64, ConfidentialError> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM confidential_jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(self.db.pool())
        .await?)
    }

    /// Records uploaded code (replacing the owner's earlier upload of the same code).
    pub async fn put_code(&self, code: &CodeRow) -> Result<(), ConfidentialError> {
        sqlx::query(
            "INSERT INTO confidential_code (upload_id, owner, code_hash, engine, code, secrets, allowed_contracts, limits, created_at) \
             VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (owner, code_hash) DO UPDATE SET engine = excluded.engine, \
             code = excluded.code, secrets = excluded.secrets, allowed_contracts = excluded.allowed_contracts, limits = excluded.limits",
        )
        .bind(&code.owner)
        .bind(&code.code_hash)
        .bind(&code.engine)
        .bind(&code.code)
        .bind(serde_json::to_string(&code.secrets).map_err(json_err)?)
        .bind(serde_json::to_string(&code.allowed_contracts).map_err(json_err)?)
        .bind(serde_json::to_string(&code.limits).map_err(json_err)?)
        .bind(code.created_at)
        .bind(&code.upload_id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn codes(&self, sql: &str, key: &str) -> Result<Vec<CodeRow>, ConfidentialError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(key)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let secrets: String = r.try_get(4)?;
                let allowed: String = r.try_get(5)?;
                let limits: String = r.try_get(6)?;
                Ok(CodeRow {
                    upload_id: r.try_get(8)?,
                    owner: r.try_get(0)?,
                    code_hash: r.try_get(1)?,
                    engine: r.try_get(2)?,
                    code: r.try_get(3)?,
                    secrets: serde_json::from_str(&secrets).map_err(json_err)?,
                    allowed_contracts: serde_json::from_str(&allowed).map_err(json_err)?,
                    limits: serde_json::from_str(&limits).map_err(json_err)?,
                    created_at: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// The upload `upload_id`.
    pub async fn code_by_upload(
        &self,
        upload_id: &str,
    ) -> Result<Option<CodeRow>, ConfidentialError> {
        Ok(self
            .codes(
                "SELECT owner, code_hash, engine, code, secrets, allowed_contracts, limits, created_at, upload_id FROM confidential_code \
                 WHERE upload_id = $1",
                upload_id,
            )
            .await?
            .into_iter()
            .next())
    }

    /// The owner's uploads, newest first.
    pub async fn code_of(&self, owner: &str) -> Result<Vec<CodeRow>, ConfidentialError> {
        self.codes(
            "SELECT owner, code_hash, engine, code, secrets, allowed_contracts, limits, created_at, upload_id FROM confidential_code \
             WHERE owner = $1 ORDER BY created_at DESC, code_hash LIMIT 200",
            owner,
        )
        .await
    }
}
