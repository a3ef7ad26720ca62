//! Sealed secrets and the owners' audit log on the platform database.
//!
//! A write, a delete and every use by a service add an audit row in the same transaction as
//! what they record, so the log cannot miss a use that happened.

use neosl_runtime::db::{Database, lock_named};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use crate::error::SecretsError;
use crate::vault::Sealed;

/// The store's migrations.
pub const MIGRATIONS: &[neosl_runtime::db::Migration] = &[neosl_runtime::migration!(
    1,
    "secrets",
    "0001_secrets.sql",
    shared
)];

/// What the owner sees of a secret (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// The services that may use it.
    pub allowed_services: Vec<String>,
    /// The value's length in bytes.
    pub value_size: i64,
    /// 1 when first written, then one more per write.
    pub version: i64,
    /// First written (Unix ms).
    pub created_at: i64,
    /// Last written (Unix ms).
    pub updated_at: i64,
}

/// One line of an owner's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its id.
    pub id: String,
    /// The secret.
    pub name: String,
    /// `owner` for the owner's own writes and deletes, else the service that used it.
    pub actor: String,
    /// `write`, `delete` or `use`.
    pub action: String,
    /// What for (a job id for a use).
    pub purpose: String,
    /// `ok`, or the code of the refusal.
    pub outcome: String,
    /// When (Unix ms).
    pub at: i64,
}

/// A stored row, sealed.
#[derive(Debug, Clone)]
pub struct SealedRow {
    /// Its metadata.
    pub info: SecretInfo,
    /// The sealed value.
    pub sealed: Sealed,
}

/// An audit line to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    /// Whose.
    pub owner: &'a str,
    /// Which secret.
    pub name: &'a str,
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// What for.
    pub purpose: &'a str,
    /// `ok` or a refusal code.
    pub outcome: &'a str,
}

/// The Secrets tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

const COLUMNS: &str = "name, allowed_services, value_size, version, created_at, updated_at, ciphertext, wrapped_key, master_id";

fn row_of(r: &sqlx::any::AnyRow) -> Result<SealedRow, SecretsError> {
    let allowed: String = r.try_get(1)?;
    let decode =
        |text: String| hex::decode(text).map_err(|e| SecretsError::Database(e.to_string()));
    Ok(SealedRow {
        info: SecretInfo {
            name: r.try_get(0)?,
            allowed_services: serde_json::from_str(&allowed)
                .map_err(|e| SecretsError::Database(e.to_string()))?,
            value_size: r.try_get(2)?,
            version: r.try_get(3)?,
            created_at: r.try_get(4)?,
            updated_at: r.try_get(5)?,
        },
        sealed: Sealed {
            ciphertext: decode(r.try_get(6)?)?,
            wrapped_key: decode(r.try_get(7)?)?,
            master_id: r.try_get(8)?,
        },
    })
}

impl Store {
    /// Opens the store, migrating its tables.
    pub async fn open(db: Database) -> Result<Self, SecretsError> {
        db.migrate("secrets", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Writes (creates or replaces) `owner`'s secret, refusing a new name beyond `max_per_owner`
    /// (decided under the owner's named lock, so concurrent writes cannot overshoot).
    pub async fn put(
        &self,
        owner: &str,
        info: &SecretInfo,
        sealed: &Sealed,
        max_per_owner: usize,
    ) -> Result<SecretInfo, SecretsError> {
        let mut tx = self.db.pool().begin().await?;
        lock_named(&mut tx, self.db.backend(), &format!("secrets:{owner}")).await?;
        let exists = sqlx::query("SELECT 1 FROM secrets_values WHERE owner = $1 AND name = $2")
            .bind(owner)
            .bind(&info.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            let count: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM secrets_values WHERE owner = $1",
            )
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
            if count >= i64::try_from(max_per_owner).unwrap_or(i64::MAX) {
                return Err(SecretsError::SecretLimit(max_per_owner));
            }
        }
        let allowed = serde_json::to_string(&info.allowed_services)
            .map_err(|e| SecretsError::Database(e.to_string()))?;
        sqlx::query(
            "INSERT INTO secrets_values (owner, name, ciphertext, wrapped_key, master_id, allowed_services, value_size, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) \
             ON CONFLICT (owner, name) DO UPDATE SET ciphertext = excluded.ciphertext, wrapped_key = excluded.wrapped_key, \
             master_id = excluded.master_id, allowed_services = excluded.allowed_services, value_size = excluded.value_size, \
             version = secrets_values.version + 1, updated_at = excluded.updated_at",
        )
        .bind(owner)
        .bind(&info.name)
        .bind(hex::encode(&sealed.ciphertext))
        .bind(hex::encode(&sealed.wrapped_key))
        .bind(&sealed.master_id)
        .bind(&allowed)
        .bind(info.value_size)
        .bind(info.updated_at)
        .execute(&mut *tx)
        .await?;
        Self::audit_in(
            &mut tx,
            &NewAudit {
                owner,
                name: &info.name,
                actor: "owner",
                action: "write",
                purpose: "",
                outcome: "ok",
            },
            info.updated_at,
        )
        .await?;
        let stored = Self::row_in(&mut tx, owner, &info.name)
            .await?
            .ok_or_else(|| SecretsError::NotFound(info.name.clone()))?;
        tx.commit().await?;
        Ok(stored.info)
    }

    async fn row_in(
        tx: &mut Transaction<'_, Any>,
        owner: &str,
        name: &str,
    ) -> Result<Option<SealedRow>, SecretsError> {
        let sql = format!("SELECT {COLUMNS} FROM secrets_values WHERE owner = $1 AND name = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(row_of)
            .transpose()
    }

    /// One secret, sealed.
    pub async fn get(&self, owner: &str, name: &str) -> Result<Option<SealedRow>, SecretsError> {
        let sql = format!("SELECT {COLUMNS} FROM secrets_values WHERE owner = $1 AND name = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
            .as_ref()
            .map(row_of)
            .transpose()
    }

    /// The owner's secrets, by name.
    pub async fn list(&self, owner: &str) -> Result<Vec<SecretInfo>, SecretsError> {
        let sql = format!("SELECT {COLUMNS} FROM secrets_values WHERE owner = $1 ORDER BY name");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| row_of(r).map(|row| row.info))
            .collect()
    }

    /// Deletes a secret (audited); false when there was none.
    pub async fn delete(&self, owner: &str, name: &str, now: i64) -> Result<bool, SecretsError> {
        let mut tx = self.db.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM secrets_values WHERE owner = $1 AND name = $2")
            .bind(owner)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if deleted {
            Self::audit_in(
                &mut tx,
                &NewAudit {
                    owner,
                    name,
                    actor: "owner",
                    action: "delete",
                    purpose: "",
                    outcome: "ok",
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// Reads `names` of `owner` for a use and records one audit line per name with its
    /// outcome (given by `judge`, which says `ok` or a refusal code for each row found, and is
    /// told `None` for a missing one), all in one transaction.
    pub async fn use_rows(
        &self,
        owner: &str,
        names: &[String],
        actor: &str,
        purpose: &str,
        now: i64,
        judge: impl Fn(&str, Option<&SealedRow>) -> &'static str,
    ) -> Result<Vec<(String, Option<SealedRow>, &'static str)>, SecretsError> {
        let mut tx = self.db.pool().begin().await?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let row = Self::row_in(&mut tx, owner, name).await?;
            let outcome = judge(name, row.as_ref());
            Self::audit_in(
                &mut tx,
                &NewAudit {
                    owner,
                    name,
                    actor,
                    action: "use",
                    purpose,
                    outcome,
                },
                now,
            )
            .await?;
            out.push((name.clone(), row, outcome));
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn audit_in(
        tx: &mut Transaction<'_, Any>,
        entry: &NewAudit<'_>,
        now: i64,
    ) -> Result<(), SecretsError> {
        sqlx::query(
            "INSERT INTO secrets_audit (id, owner, name, actor, action, purpose, outcome, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(entry.owner)
        .bind(entry.name)
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.purpose)
        .bind(entry.outcome)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The owner's audit log, newest first, optionally of one secret.
    pub async fn audit(
        &self,
        owner: &str,
        name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, SecretsError> {
        let rows = sqlx::query(
            "SELECT id, name, actor, action, purpose, outcome, at FROM secrets_audit \
             WHERE owner = $1 AND ($2 = '' OR name = $2) ORDER BY at DESC, id LIMIT $3",
        )
        .bind(owner)
        .bind(name.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    purpose: r.try_get(4)?,
                    outcome: r.try_get(5)?,
                    at: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Up to `limit` rows wrapped under master key `master_id`, with their owners.
    pub async fn wrapped_by(
        &self,
        master_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, SealedRow)>, SecretsError> {
        let sql = format!(
            "SELECT {COLUMNS}, owner FROM secrets_values WHERE master_id = $1 ORDER BY owner, name LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(master_id)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<String, _>(9)?, row_of(r)?)))
            .collect()
    }

    /// Replaces a row's wrapped key if it is still the one `before` read (a concurrent write or
    /// another replica's re-wrap wins); true when this call changed it.
    pub async fn replace_wrapping(
        &self,
        owner: &str,
        name: &str,
        before: &Sealed,
        after: &Sealed,
    ) -> Result<bool, SecretsError> {
        Ok(sqlx::query(
            "UPDATE secrets_values SET wrapped_key = $3, master_id = $4 \
             WHERE owner = $1 AND name = $2 AND wrapped_key = $5 AND master_id = $6",
        )
        .bind(owner)
        .bind(name)
        .bind(hex::encode(&after.wrapped_key))
        .bind(&after.master_id)
        .bind(hex::encode(&before.wrapped_key))
        .bind(&before.master_id)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// How many rows each master key id wraps.
    pub async fn masters(&self) -> Result<Vec<(String, i64)>, SecretsError> {
        let rows = sqlx::query(
            "SELECT master_id, CAST(COUNT(*) AS BIGINT) FROM secrets_values GROUP BY master_id ORDER BY master_id",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
