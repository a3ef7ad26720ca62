//! AccountPool persistence on SQLite or PostgreSQL (one set of queries over sqlx `Any`).
//!
//! Concurrency rests on the database: allocation is one `UPDATE … WHERE id IN (SELECT … FOR
//! UPDATE SKIP LOCKED)` on PostgreSQL (a single serialized statement on SQLite), so no account is
//! ever handed to two locks, whatever the number of callers and processes. Balance updates lock
//! the account row first. Every multi-step change is one transaction.

use std::collections::BTreeMap;

use neosl_runtime::db::{Backend, Database, DbError, Migration};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

/// The AccountPool's migrations.
pub const MIGRATIONS: &[Migration] = &[
    neosl_runtime::migration!(1, "pool", "0001_pool.sql"),
    neosl_runtime::migration!(2, "audit chain", "0002_audit_chain.sql"),
    neosl_runtime::migration!(3, "allocation order", "0003_allocation_order.sql"),
];

const ACCOUNT_COLUMNS: &str = "id, address, script_hash, public_key, status, lock_id, locked_by, lock_expires_at, last_used_at, created_at";

/// An account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The account id.
    pub id: String,
    /// Its address.
    pub address: String,
    /// Its script hash (display form).
    pub script_hash: String,
    /// Its compressed public key, hex.
    pub public_key: String,
    /// `active`, `retiring` or `retired`.
    pub status: String,
    /// The lock holding it.
    pub lock_id: Option<String>,
    /// The service holding it.
    pub locked_by: Option<String>,
    /// When the lock expires.
    pub lock_expires_at: Option<i64>,
    /// When it was last allocated.
    pub last_used_at: i64,
    /// When it was created.
    pub created_at: i64,
}

impl AccountRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get(0)?,
            address: row.try_get(1)?,
            script_hash: row.try_get(2)?,
            public_key: row.try_get(3)?,
            status: row.try_get(4)?,
            lock_id: row.try_get(5)?,
            locked_by: row.try_get(6)?,
            lock_expires_at: row.try_get(7)?,
            last_used_at: row.try_get(8)?,
            created_at: row.try_get(9)?,
        })
    }

    /// Whether `service` holds an unexpired lock on it at `now`.
    pub fn held_by(&self, service: &str, now: i64) -> bool {
        self.locked_by.as_deref() == Some(service) && self.lock_expires_at.is_some_and(|e| e > now)
    }
}

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Its id.
    pub id: String,
    /// Its address.
    pub address: String,
    /// Its script hash (display form).
    pub script_hash: String,
    /// Its compressed public key, hex.
    pub public_key: String,
}

/// A token balance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    /// The account.
    pub account_id: String,
    /// `GAS`, `NEO` or the token hash.
    pub token_type: String,
    /// The token contract (display form).
    pub script_hash: String,
    /// The tracked amount.
    pub tracked: i64,
    /// The amount last read from the chain.
    pub chain_amount: Option<String>,
    /// When it was read.
    pub synced_at: Option<i64>,
}

impl BalanceRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            account_id: row.try_get(0)?,
            token_type: row.try_get(1)?,
            script_hash: row.try_get(2)?,
            tracked: row.try_get(3)?,
            chain_amount: row.try_get(4)?,
            synced_at: row.try_get(5)?,
        })
    }
}

/// A signature someone asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignAttempt {
    /// The account.
    pub account_id: String,
    /// The calling service.
    pub service_id: String,
    /// The transaction hash (display form).
    pub hash: String,
}

/// A signature the store authorized (and audited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The account.
    pub account_id: String,
    /// The service.
    pub service_id: String,
    /// The transaction hash (display form).
    pub hash: String,
    /// The lock it was signed under.
    pub lock_id: Option<String>,
}

/// An audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `sign` or `transfer`.
    pub kind: String,
    /// The account.
    pub account_id: String,
    /// The service.
    pub service_id: String,
    /// The lock under which it happened.
    pub lock_id: Option<String>,
    /// The transaction hash.
    pub hash: String,
    /// Extra facts (JSON).
    pub detail: String,
    /// When.
    pub created_at: i64,
}

/// Totals for `/pool-info`.
#[derive(Debug, Clone, Default)]
pub struct PoolCounts {
    /// Accounts by status.
    pub by_status: BTreeMap<String, i64>,
    /// Accounts under an unexpired lock.
    pub locked: i64,
    /// Locked accounts by service.
    pub locks_by_service: BTreeMap<String, i64>,
}

/// Per-token totals for `/pool-info`.
#[derive(Debug, Clone)]
pub struct TokenTotals {
    /// `GAS`, `NEO`, or the hash.
    pub token_type: String,
    /// The contract.
    pub script_hash: String,
    /// Sum of tracked balances.
    pub tracked_total: String,
    /// Sum of tracked balances of locked accounts.
    pub locked_total: String,
    /// Accounts whose chain balance differs from the tracked one.
    pub mismatches: i64,
}

/// Why a release was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseRefusal {
    /// No lock with that id.
    UnknownLock,
    /// The lock (or an account) is held by another service.
    NotHolder,
    /// An account id does not exist.
    UnknownAccount(String),
    /// The lock expired or was released.
    Expired,
}

/// The AccountPool's tables.
#[derive(Debug, Clone)]
pub struct PoolStore {
    db: Database,
    audit_key: Option<std::sync::Arc<neosl_crypto::SecretBytes>>,
    /// This store's own suffix of its chain ids (`<service>@<writer>`): each pool instance
    /// appends to chains of its own, so replicas never wait on one another's commits.
    writer: String,
}

fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PoolStore {
    /// Opens the store and applies migrations.
    pub async fn open(db: Database) -> Result<Self, DbError> {
        db.migrate("accountpool", MIGRATIONS).await?;
        Ok(Self {
            db,
            audit_key: None,
            writer: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        })
    }

    /// The same store extending the audit chain under the key derived from `master` (HKDF,
    /// salt `accountpool`, info `pool-audit`): only the pool can add records that verify.
    pub fn with_audit_key(
        mut self,
        master: &neosl_crypto::MasterKey,
    ) -> neosl_crypto::Result<Self> {
        self.audit_key = Some(std::sync::Arc::new(audit_key(master)?));
        Ok(self)
    }

    fn key(&self) -> Result<&[u8], sqlx::Error> {
        self.audit_key
            .as_deref()
            .map(neosl_crypto::SecretBytes::expose)
            .ok_or_else(|| sqlx::Error::Protocol("the audit key is not set".into()))
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Serializes pool filling across processes (a PostgreSQL advisory lock held by a dedicated
    /// connection until the guard drops; on SQLite the single connection already serializes).
    pub async fn fill_lock(&self) -> Result<FillGuard, sqlx::Error> {
        match self.db.backend() {
            Backend::Sqlite => Ok(FillGuard(None)),
            Backend::Postgres => {
                let mut conn = self.db.pool().acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(neosl_runtime::db::advisory_lock_key("accountpool-fill"))
                    .execute(&mut *conn)
                    .await?;
                Ok(FillGuard(Some(conn)))
            }
        }
    }

    /// Active accounts.
    pub async fn count_active(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM pool_accounts WHERE status = 'active'")
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)
    }

    /// All accounts.
    pub async fn count_all(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM pool_accounts")
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)
    }

    /// Inserts accounts with zero balance rows for `tokens`, in one transaction. Rows travel as
    /// one JSON parameter per statement (expanded by the database), which is far cheaper than
    /// thousands of bind parameters.
    pub async fn insert_accounts(
        &self,
        accounts: &[NewAccount],
        tokens: &[(&str, String)],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let (insert_accounts, insert_balances) = match self.db.backend() {
            Backend::Sqlite => (
                "INSERT INTO pool_accounts (id, address, script_hash, public_key, created_at) \
                 SELECT json_extract(value, '$.i'), json_extract(value, '$.a'), json_extract(value, '$.h'), json_extract(value, '$.k'), $2 \
                 FROM json_each($1)",
                "INSERT INTO pool_account_balances (account_id, token_type, script_hash, tracked, updated_at) \
                 SELECT json_extract(value, '$.i'), $2, $3, 0, $4 FROM json_each($1)",
            ),
            Backend::Postgres => (
                "INSERT INTO pool_accounts (id, address, script_hash, public_key, created_at) \
                 SELECT x.i, x.a, x.h, x.k, $2 FROM json_to_recordset($1::json) AS x(i text, a text, h text, k text)",
                "INSERT INTO pool_account_balances (account_id, token_type, script_hash, tracked, updated_at) \
                 SELECT x.i, $2, $3, 0, $4 FROM json_to_recordset($1::json) AS x(i text)",
            ),
        };
        let rows: Vec<serde_json::Value> = accounts
            .iter()
            .map(|a| serde_json::json!({ "i": a.id, "a": a.address, "h": a.script_hash, "k": a.public_key }))
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(insert_accounts)
            .bind(rows.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for (token_type, hash) in tokens {
            sqlx::query(insert_balances)
                .bind(rows.as_str())
                .bind(*token_type)
                .bind(hash.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// For each attempted signature, checks that the account is held by the service under an
    /// unexpired lock and, for those that are, appends one audit record per (service, account)
    /// holding every hash, chained, in the same transaction (on PostgreSQL the checked rows are
    /// held `FOR SHARE`, so no release or re-allocation slips between the check and the
    /// record). Returns the attempts that passed: only those may be signed. Audit first: no
    /// signature leaves the pool without its record.
    pub async fn authorize_signatures(
        &self,
        attempts: &[SignAttempt],
        now: i64,
    ) -> Result<Vec<Authorized>, sqlx::Error> {
        let key = self.key()?;
        let mut ids: Vec<&str> = attempts.iter().map(|a| a.account_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let ids = serde_json::to_string(&ids).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let sql = match self.db.backend() {
            Backend::Sqlite => {
                "SELECT a.id, a.locked_by, a.lock_id FROM pool_accounts AS a JOIN json_each($1) AS j ON a.id = j.value \
                 WHERE a.lock_expires_at > $2"
            }
            Backend::Postgres => {
                "SELECT a.id, a.locked_by, a.lock_id FROM pool_accounts AS a \
                 WHERE a.id IN (SELECT value FROM json_array_elements_text($1::json)) AND a.lock_expires_at > $2 \
                 ORDER BY a.id FOR SHARE"
            }
        };
        let mut tx = self.db.pool().begin().await?;
        let mut holders: std::collections::HashMap<String, (Option<String>, Option<String>)> =
            std::collections::HashMap::new();
        for row in sqlx::query(sql)
            .bind(ids.as_str())
            .bind(now)
            .fetch_all(&mut *tx)
            .await?
        {
            holders.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
        }
        let mut authorized = Vec::with_capacity(attempts.len());
        // (service, account) → (lock, hashes), in a stable order.
        let mut groups: BTreeMap<(String, String), (Option<String>, Vec<String>)> = BTreeMap::new();
        for attempt in attempts {
            let Some((Some(holder), lock)) = holders.get(&attempt.account_id) else {
                continue;
            };
            if *holder != attempt.service_id {
                continue;
            }
            groups
                .entry((attempt.service_id.clone(), attempt.account_id.clone()))
                .or_insert_with(|| (lock.clone(), Vec::new()))
                .1
                .push(attempt.hash.clone());
            authorized.push(Authorized {
                account_id: attempt.account_id.clone(),
                service_id: attempt.service_id.clone(),
                hash: attempt.hash.clone(),
                lock_id: lock.clone(),
            });
        }
        let mut by_service: BTreeMap<String, Vec<crate::audit::NewRecord>> = BTreeMap::new();
        for ((service, account), (lock, hashes)) in groups {
            by_service
                .entry(service)
                .or_default()
                .push(crate::audit::NewRecord {
                    kind: "sign".into(),
                    account_id: account,
                    lock_id: lock,
                    hashes,
                    detail: String::new(),
                    created_at: now,
                });
        }
        for (service, records) in by_service {
            self.append_chained(&mut tx, key, &service, records).await?;
        }
        tx.commit().await?;
        Ok(authorized)
    }

    /// Appends `records` to `service`'s chain inside `tx` (under the service's named lock, so
    /// replicas extend one chain in turn).
    async fn append_chained(
        &self,
        tx: &mut Transaction<'_, Any>,
        key: &[u8],
        service: &str,
        records: Vec<crate::audit::NewRecord>,
    ) -> Result<(), sqlx::Error> {
        if records.is_empty() {
            return Ok(());
        }
        let chain = format!("{service}@{}", self.writer);
        neosl_runtime::db::lock_named(tx, self.db.backend(), &format!("pool-audit:{chain}"))
            .await?;
        let head = sqlx::query("SELECT seq, digest FROM pool_audit_heads WHERE chain_id = $1")
            .bind(&chain)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| -> Result<(i64, [u8; 32]), sqlx::Error> {
                Ok((r.try_get(0)?, digest_of(&r.try_get::<String, _>(1)?)?))
            })
            .transpose()?;
        let (chained, head) = crate::audit::chain(key, &chain, head, records);
        for chunk in chained.chunks(500) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * 13, 13)))
                .collect();
            let sql = format!(
                "INSERT INTO pool_audit_records (chain_id, service_id, seq, kind, account_id, lock_id, hashes, hash_count, detail, \
                 created_at, prev_digest, digest, mac) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
            for r in chunk {
                query = query
                    .bind(r.chain_id.as_str())
                    .bind(service)
                    .bind(r.seq)
                    .bind(r.fields.kind.as_str())
                    .bind(r.fields.account_id.as_str())
                    .bind(r.fields.lock_id.as_deref())
                    .bind(
                        serde_json::to_string(&r.fields.hashes)
                            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?,
                    )
                    .bind(r.fields.hashes.len() as i64)
                    .bind(r.fields.detail.as_str())
                    .bind(r.fields.created_at)
                    .bind(hex::encode(r.prev_digest))
                    .bind(hex::encode(r.digest))
                    .bind(hex::encode(r.mac));
            }
            query.execute(&mut **tx).await?;
        }
        if let Some(head) = head {
            sqlx::query(
                "INSERT INTO pool_audit_heads (chain_id, service_id, seq, digest, mac) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (chain_id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest, mac = excluded.mac",
            )
            .bind(&chain)
            .bind(service)
            .bind(head.seq)
            .bind(hex::encode(head.digest))
            .bind(hex::encode(head.mac))
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Locks up to `count` free active accounts (least recently used first) for `service` under
    /// a new lock. Returns fewer than `count` (and changes nothing) when too few are free.
    pub async fn allocate(
        &self,
        service: &str,
        purpose: &str,
        count: u32,
        lock_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        let skip_locked = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE pool_accounts SET lock_id = $1, locked_by = $2, lock_purpose = $3, locked_at = $4, lock_expires_at = $5, last_used_at = $4 \
             WHERE id IN (SELECT id FROM pool_accounts WHERE status = 'active' AND (lock_id IS NULL OR lock_expires_at <= $4) \
             ORDER BY last_used_at, created_at, id LIMIT $6 {skip_locked}) RETURNING {ACCOUNT_COLUMNS}"
        );
        let mut tx = self.db.pool().begin().await?;
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(lock_id)
            .bind(service)
            .bind(purpose)
            .bind(now)
            .bind(expires_at)
            .bind(count as i64)
            .fetch_all(&mut *tx)
            .await?;
        let accounts = rows
            .iter()
            .map(AccountRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if accounts.len() < count as usize {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        sqlx::query("INSERT INTO pool_locks (lock_id, service_id, purpose, account_count, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(lock_id)
            .bind(service)
            .bind(purpose)
            .bind(count as i64)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(accounts)
    }

    /// Releases exactly the accounts of `lock_id` still held under it.
    pub async fn release_lock(
        &self,
        service: &str,
        lock_id: &str,
        now: i64,
    ) -> Result<Result<u64, ReleaseRefusal>, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let owner: Option<String> =
            sqlx::query("SELECT service_id FROM pool_locks WHERE lock_id = $1")
                .bind(lock_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        match owner {
            None => return Ok(Err(ReleaseRefusal::UnknownLock)),
            Some(o) if o != service => return Ok(Err(ReleaseRefusal::NotHolder)),
            Some(_) => {}
        }
        let released = sqlx::query(
            "UPDATE pool_accounts SET lock_id = NULL, locked_by = NULL, lock_purpose = NULL, locked_at = NULL, lock_expires_at = NULL \
             WHERE lock_id = $1 AND locked_by = $2",
        )
        .bind(lock_id)
        .bind(service)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE pool_locks SET released_at = $2 WHERE lock_id = $1 AND released_at IS NULL",
        )
        .bind(lock_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(released))
    }

    /// Extends `service`'s live lock `lock_id` (and its accounts) to `expires_at`; an expired
    /// or released lock cannot be renewed (its accounts may be someone else's by now).
    pub async fn renew_lock(
        &self,
        service: &str,
        lock_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Result<u64, ReleaseRefusal>, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let row = sqlx::query(
            "SELECT service_id, expires_at, released_at FROM pool_locks WHERE lock_id = $1",
        )
        .bind(lock_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(ReleaseRefusal::UnknownLock));
        };
        let (owner, expiry, released): (String, i64, Option<i64>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if owner != service {
            return Ok(Err(ReleaseRefusal::NotHolder));
        }
        if released.is_some() || expiry <= now {
            return Ok(Err(ReleaseRefusal::Expired));
        }
        let renewed = sqlx::query(
            "UPDATE pool_accounts SET lock_expires_at = $3 WHERE lock_id = $1 AND locked_by = $2",
        )
        .bind(lock_id)
        .bind(service)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE pool_locks SET expires_at = $2 WHERE lock_id = $1")
            .bind(lock_id)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(renewed))
    }

    /// Releases the given accounts, all or none: each must be held by `service`.
    pub async fn release_accounts(
        &self,
        service: &str,
        ids: &[String],
    ) -> Result<Result<u64, ReleaseRefusal>, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let lock_rows = match self.db.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT id, locked_by FROM pool_accounts WHERE id IN ({}){lock_rows}",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let mut holders = BTreeMap::new();
        for row in &rows {
            holders.insert(
                row.try_get::<String, _>(0)?,
                row.try_get::<Option<String>, _>(1)?,
            );
        }
        for id in ids {
            match holders.get(id) {
                None => return Ok(Err(ReleaseRefusal::UnknownAccount(id.clone()))),
                Some(holder) if holder.as_deref() != Some(service) => {
                    return Ok(Err(ReleaseRefusal::NotHolder));
                }
                Some(_) => {}
            }
        }
        let sql = format!(
            "UPDATE pool_accounts SET lock_id = NULL, locked_by = NULL, lock_purpose = NULL, locked_at = NULL, lock_expires_at = NULL \
             WHERE locked_by = $1 AND id IN ({})",
            placeholders(2, ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(service);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let released = query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(Ok(released))
    }

    /// Releases everything `service` holds.
    pub async fn release_all(&self, service: &str, now: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let released = sqlx::query(
            "UPDATE pool_accounts SET lock_id = NULL, locked_by = NULL, lock_purpose = NULL, locked_at = NULL, lock_expires_at = NULL \
             WHERE locked_by = $1",
        )
        .bind(service)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE pool_locks SET released_at = $2 WHERE service_id = $1 AND released_at IS NULL",
        )
        .bind(service)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(released)
    }

    /// Frees every account whose lock expired; returns how many.
    pub async fn sweep_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let freed = sqlx::query(
            "UPDATE pool_accounts SET lock_id = NULL, locked_by = NULL, lock_purpose = NULL, locked_at = NULL, lock_expires_at = NULL \
             WHERE lock_id IS NOT NULL AND lock_expires_at <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE pool_locks SET released_at = expires_at WHERE released_at IS NULL AND expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(freed)
    }

    /// The accounts with these ids (missing ids are simply absent).
    pub async fn accounts_by_id(&self, ids: &[&str]) -> Result<Vec<AccountRow>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM pool_accounts WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for id in ids {
            query = query.bind(*id);
        }
        query
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(AccountRow::from_row)
            .collect()
    }

    /// The accounts `service` holds under unexpired locks, with their balances.
    pub async fn held_accounts(
        &self,
        service: &str,
        now: i64,
    ) -> Result<Vec<(AccountRow, Vec<BalanceRow>)>, sqlx::Error> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM pool_accounts WHERE locked_by = $1 AND lock_expires_at > $2 ORDER BY locked_at, id"
        );
        let accounts: Vec<AccountRow> = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(service)
            .bind(now)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(AccountRow::from_row)
            .collect::<Result<_, _>>()?;
        let balances = self
            .balances_of(&accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
            .await?;
        Ok(accounts
            .into_iter()
            .map(|a| {
                let mine = balances
                    .iter()
                    .filter(|b| b.account_id == a.id)
                    .cloned()
                    .collect();
                (a, mine)
            })
            .collect())
    }

    /// Every locked account (any service), for the balance sync.
    pub async fn locked_accounts(&self, now: i64) -> Result<Vec<AccountRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM pool_accounts WHERE lock_id IS NOT NULL AND lock_expires_at > $1"
        );
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(now)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(AccountRow::from_row)
            .collect()
    }

    /// Balance rows of these accounts.
    pub async fn balances_of(&self, ids: &[&str]) -> Result<Vec<BalanceRow>, sqlx::Error> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT account_id, token_type, script_hash, tracked, chain_amount, synced_at FROM pool_account_balances \
                 WHERE account_id IN ({}) ORDER BY account_id, token_type",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.db.pool()).await? {
                out.push(BalanceRow::from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Runs `update` on the tracked balance of (`account_id`, `script_hash`) while holding the
    /// account row, provided `service` holds the account at `now`. `update` gets the current
    /// amount and returns the new one or a refusal. Returns the account row's check result.
    pub async fn update_tracked<E>(
        &self,
        account_id: &str,
        token_type: &str,
        script_hash: &str,
        now: i64,
        check: impl FnOnce(&AccountRow) -> Result<(), E>,
        update: impl FnOnce(i64) -> Result<i64, E>,
    ) -> Result<Result<BalanceRow, E>, UpdateError> {
        let mut tx = self.db.pool().begin().await?;
        let lock_rows = match self.db.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM pool_accounts WHERE id = $1{lock_rows}");
        let Some(row) = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(UpdateError::UnknownAccount);
        };
        let account = AccountRow::from_row(&row)?;
        if let Err(e) = check(&account) {
            return Ok(Err(e));
        }
        let current: i64 = sqlx::query(
            "SELECT tracked FROM pool_account_balances WHERE account_id = $1 AND script_hash = $2",
        )
        .bind(account_id)
        .bind(script_hash)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or(0);
        let new = match update(current) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        upsert_tracked(&mut tx, account_id, token_type, script_hash, new, now).await?;
        let row = sqlx::query(
            "SELECT account_id, token_type, script_hash, tracked, chain_amount, synced_at FROM pool_account_balances \
             WHERE account_id = $1 AND script_hash = $2",
        )
        .bind(account_id)
        .bind(script_hash)
        .fetch_one(&mut *tx)
        .await?;
        let balance = BalanceRow::from_row(&row)?;
        tx.commit().await?;
        Ok(Ok(balance))
    }

    /// Records chain balances for an account; with `follow`, the tracked amounts are set to the
    /// chain's too (after the pool's own transfers). Tokens absent from `amounts` are zero.
    pub async fn set_chain_balances(
        &self,
        account_id: &str,
        amounts: &[(String, String, String)],
        now: i64,
        follow: bool,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE pool_account_balances SET chain_amount = '0', synced_at = $2 WHERE account_id = $1")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for (token_type, script_hash, amount) in amounts {
            sqlx::query(
                "INSERT INTO pool_account_balances (account_id, token_type, script_hash, tracked, chain_amount, synced_at, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $5, $5) \
                 ON CONFLICT (account_id, script_hash) DO UPDATE SET chain_amount = $4, synced_at = $5",
            )
            .bind(account_id)
            .bind(token_type.as_str())
            .bind(script_hash.as_str())
            .bind(amount.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if follow {
            sqlx::query(
                "UPDATE pool_account_balances SET tracked = CAST(chain_amount AS BIGINT), updated_at = $2 \
                 WHERE account_id = $1 AND chain_amount IS NOT NULL AND LENGTH(chain_amount) <= 18",
            )
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Appends audit records.
    pub async fn record_audit(&self, entries: &[AuditEntry]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        self.record_audit_in(&mut tx, entries).await?;
        tx.commit().await
    }

    /// [`PoolStore::record_audit`] inside the caller's transaction: each entry one chained
    /// record of its service.
    pub async fn record_audit_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        entries: &[AuditEntry],
    ) -> Result<(), sqlx::Error> {
        let key = self.key()?;
        let mut by_service: BTreeMap<&str, Vec<crate::audit::NewRecord>> = BTreeMap::new();
        for e in entries {
            by_service
                .entry(e.service_id.as_str())
                .or_default()
                .push(crate::audit::NewRecord {
                    kind: e.kind.clone(),
                    account_id: e.account_id.clone(),
                    lock_id: e.lock_id.clone(),
                    hashes: vec![e.hash.clone()],
                    detail: e.detail.clone(),
                    created_at: e.created_at,
                });
        }
        for (service, records) in by_service {
            self.append_chained(tx, key, service, records).await?;
        }
        Ok(())
    }

    /// What was signed and sent, newest first, one entry per hash, optionally for one account,
    /// service or hash ("who signed this hash, when"); entries from before the chain follow
    /// the chained ones.
    pub async fn audit(
        &self,
        account: Option<&str>,
        service: Option<&str>,
        hash: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        // A hash is matched inside the record's list as its quoted JSON string, in the display
        // form the records hold (`0x` and lower-case hex).
        let normal = hash.map(|h| {
            let digits = h.trim().trim_start_matches("0x").to_ascii_lowercase();
            format!("0x{digits}")
        });
        let hash = normal.as_deref();
        let pattern = hash.map(|h| format!("%\"{}\"%", h.replace(['%', '_', '"', '\\'], "")));
        let rows = sqlx::query(
            "SELECT kind, account_id, service_id, lock_id, hashes, detail, created_at FROM pool_audit_records \
             WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR service_id = $2) AND ($3 IS NULL OR hashes LIKE $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(account)
        .bind(service)
        .bind(pattern.as_deref())
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        let mut entries = Vec::new();
        for r in &rows {
            let hashes: Vec<String> = serde_json::from_str(&r.try_get::<String, _>(4)?)
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            for h in hashes.into_iter().rev() {
                if hash.is_some_and(|wanted| wanted != h) {
                    continue;
                }
                entries.push(AuditEntry {
                    kind: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    service_id: r.try_get(2)?,
                    lock_id: r.try_get(3)?,
                    hash: h,
                    detail: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                });
            }
        }
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let left = limit - entries.len() as i64;
        if left > 0 {
            let legacy = sqlx::query(
                "SELECT kind, account_id, service_id, lock_id, hash, detail, created_at FROM pool_audit \
                 WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR service_id = $2) AND ($3 IS NULL OR hash = $3) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(account)
            .bind(service)
            .bind(hash)
            .bind(left)
            .fetch_all(self.db.pool())
            .await?;
            for r in &legacy {
                entries.push(AuditEntry {
                    kind: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    service_id: r.try_get(2)?,
                    lock_id: r.try_get(3)?,
                    hash: r.try_get(4)?,
                    detail: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                });
            }
        }
        Ok(entries)
    }

    /// Verifies every audit chain (with the key: every MAC too); answers each chain's record
    /// count, or the first record that does not fit. One read-only snapshot (a pool that keeps
    /// signing meanwhile is not mistaken for a broken one); beyond the digests, every row's
    /// `service_id` must be its chain's service and its stored hash list the canonical text
    /// of the hashes the digest covers (what `audit --hash` searches), and rows at positions
    /// below 1 count as inserted.
    pub async fn verify_audit(
        &self,
        key: Option<&[u8]>,
    ) -> Result<Result<Vec<(String, u64)>, crate::audit::Break>, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let mut heads: BTreeMap<String, crate::audit::Head> = BTreeMap::new();
        for r in sqlx::query("SELECT chain_id, seq, digest, mac FROM pool_audit_heads")
            .fetch_all(&mut *tx)
            .await?
        {
            let chain: String = r.try_get(0)?;
            heads.insert(
                chain.clone(),
                crate::audit::Head {
                    chain_id: chain,
                    seq: r.try_get(1)?,
                    digest: digest_of(&r.try_get::<String, _>(2)?)?,
                    mac: digest_of(&r.try_get::<String, _>(3)?)?,
                },
            );
        }
        let mut chains: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT chain_id FROM pool_audit_records")
                .fetch_all(&mut *tx)
                .await?;
        chains.extend(heads.keys().cloned());
        chains.sort();
        chains.dedup();
        let mut counts = Vec::with_capacity(chains.len());
        for chain in chains {
            let broken = |seq: i64, reason: &str| crate::audit::Break {
                chain_id: chain.clone(),
                seq,
                reason: reason.to_owned(),
            };
            let service = chain.rsplit_once('@').map_or(chain.as_str(), |(s, _)| s);
            let mut verifier = crate::audit::Verifier::new(key, &chain);
            let mut after = i64::MIN;
            loop {
                let page = sqlx::query(
                    "SELECT seq, kind, account_id, lock_id, hashes, detail, created_at, prev_digest, digest, mac, service_id \
                     FROM pool_audit_records WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT 5000",
                )
                .bind(&chain)
                .bind(after)
                .fetch_all(&mut *tx)
                .await?;
                if page.is_empty() {
                    break;
                }
                for r in &page {
                    let seq: i64 = r.try_get(0)?;
                    let stored: String = r.try_get(4)?;
                    let hashes: Vec<String> = serde_json::from_str(&stored).unwrap_or_default();
                    if serde_json::to_string(&hashes).ok().as_deref() != Some(stored.as_str()) {
                        return Ok(Err(broken(
                            seq,
                            "altered: its hash list is not the text it was written as",
                        )));
                    }
                    if r.try_get::<String, _>(10)? != service {
                        return Ok(Err(broken(
                            seq,
                            "altered: it names another service than its chain's",
                        )));
                    }
                    let fields = crate::audit::NewRecord {
                        kind: r.try_get(1)?,
                        account_id: r.try_get(2)?,
                        lock_id: r.try_get(3)?,
                        hashes,
                        detail: r.try_get(5)?,
                        created_at: r.try_get(6)?,
                    };
                    let record = crate::audit::Record {
                        chain_id: chain.clone(),
                        seq,
                        fields,
                        prev_digest: digest_of(&r.try_get::<String, _>(7)?).unwrap_or([0xff; 32]),
                        digest: digest_of(&r.try_get::<String, _>(8)?).unwrap_or([0xff; 32]),
                        mac: digest_of(&r.try_get::<String, _>(9)?).unwrap_or([0xff; 32]),
                    };
                    if let Err(broken) = verifier.push(&record) {
                        return Ok(Err(broken));
                    }
                    after = seq;
                }
            }
            match verifier.finish(heads.get(&chain)) {
                Ok(n) => counts.push((chain, n)),
                Err(broken) => return Ok(Err(broken)),
            }
        }
        tx.commit().await?;
        Ok(Ok(counts))
    }

    /// Counts for `/pool-info`.
    pub async fn counts(&self, now: i64) -> Result<PoolCounts, sqlx::Error> {
        let mut counts = PoolCounts::default();
        for row in sqlx::query("SELECT status, COUNT(*) FROM pool_accounts GROUP BY status")
            .fetch_all(self.db.pool())
            .await?
        {
            counts.by_status.insert(row.try_get(0)?, row.try_get(1)?);
        }
        for row in sqlx::query("SELECT locked_by, COUNT(*) FROM pool_accounts WHERE lock_id IS NOT NULL AND lock_expires_at > $1 GROUP BY locked_by")
            .bind(now)
            .fetch_all(self.db.pool())
            .await?
        {
            let n: i64 = row.try_get(1)?;
            counts.locked += n;
            counts.locks_by_service.insert(row.try_get(0)?, n);
        }
        Ok(counts)
    }

    /// Per-token totals for `/pool-info`.
    pub async fn token_totals(&self, now: i64) -> Result<Vec<TokenTotals>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT b.token_type, b.script_hash, CAST(COALESCE(SUM(b.tracked), 0) AS TEXT), \
             CAST(COALESCE(SUM(CASE WHEN a.lock_id IS NOT NULL AND a.lock_expires_at > $1 THEN b.tracked ELSE 0 END), 0) AS TEXT), \
             COALESCE(SUM(CASE WHEN b.chain_amount IS NOT NULL AND b.chain_amount <> CAST(b.tracked AS TEXT) THEN 1 ELSE 0 END), 0) \
             FROM pool_account_balances b JOIN pool_accounts a ON a.id = b.account_id \
             GROUP BY b.token_type, b.script_hash ORDER BY b.token_type",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenTotals {
                    token_type: r.try_get(0)?,
                    script_hash: r.try_get(1)?,
                    tracked_total: r.try_get(2)?,
                    locked_total: r.try_get(3)?,
                    mismatches: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Balances whose chain amount differs from the tracked one (at most `limit`).
    pub async fn mismatches(&self, limit: i64) -> Result<Vec<BalanceRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT account_id, token_type, script_hash, tracked, chain_amount, synced_at FROM pool_account_balances \
             WHERE chain_amount IS NOT NULL AND chain_amount <> CAST(tracked AS TEXT) ORDER BY account_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(BalanceRow::from_row).collect()
    }

    /// Marks up to `limit` unlocked active accounts created before `cutoff` as retiring.
    pub async fn mark_retiring(
        &self,
        cutoff: i64,
        limit: i64,
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        let skip_locked = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE pool_accounts SET status = 'retiring', retiring_at = $3 WHERE id IN (SELECT id FROM pool_accounts \
             WHERE status = 'active' AND lock_id IS NULL AND created_at <= $1 ORDER BY created_at, id LIMIT $2 {skip_locked})"
        );
        Ok(sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(cutoff)
            .bind(limit)
            .bind(now)
            .execute(self.db.pool())
            .await?
            .rows_affected())
    }

    /// Accounts in the retiring state.
    pub async fn retiring(&self, limit: i64) -> Result<Vec<AccountRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM pool_accounts WHERE status = 'retiring' ORDER BY retiring_at, id LIMIT $1"
        );
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(AccountRow::from_row)
            .collect()
    }

    /// Retiring → retired.
    pub async fn mark_retired(&self, id: &str, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pool_accounts SET status = 'retired', retired_at = $2 WHERE id = $1 AND status = 'retiring'")
            .bind(id)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Sets `key` to `new` if it is currently `expected` (None = absent): a compare-and-set that
    /// lets one replica of many run a periodic job.
    pub async fn claim_meta(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, sqlx::Error> {
        let changed = match expected {
            None => sqlx::query(
                "INSERT INTO pool_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(new)
            .execute(self.db.pool())
            .await?
            .rows_affected(),
            Some(old) => {
                sqlx::query("UPDATE pool_meta SET value = $3 WHERE key = $1 AND value = $2")
                    .bind(key)
                    .bind(old)
                    .bind(new)
                    .execute(self.db.pool())
                    .await?
                    .rows_affected()
            }
        };
        Ok(changed == 1)
    }

    /// The value of `key`.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query("SELECT value FROM pool_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()
    }
}

async fn upsert_tracked(
    tx: &mut Transaction<'_, Any>,
    account_id: &str,
    token_type: &str,
    script_hash: &str,
    tracked: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pool_account_balances (account_id, token_type, script_hash, tracked, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account_id, script_hash) DO UPDATE SET tracked = $4, updated_at = $5",
    )
    .bind(account_id)
    .bind(token_type)
    .bind(script_hash)
    .bind(tracked)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Holds the fill lock; dropping it closes its connection, which releases the lock.
pub struct FillGuard(Option<sqlx::pool::PoolConnection<Any>>);

impl Drop for FillGuard {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

/// Errors of [`PoolStore::update_tracked`].
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such account.
    #[error("unknown account")]
    UnknownAccount,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// The audit chain's key: HKDF of the master key (salt `accountpool`, info `pool-audit`).
pub fn audit_key(
    master: &neosl_crypto::MasterKey,
) -> neosl_crypto::Result<neosl_crypto::SecretBytes> {
    neosl_crypto::kdf::derive_key(master.expose(), b"accountpool", b"pool-audit", 32)
}

fn digest_of(text: &str) -> Result<[u8; 32], sqlx::Error> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| sqlx::Error::Protocol(format!("{text:?} is not a 32-byte digest")))
}
