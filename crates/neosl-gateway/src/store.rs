//! The gateway's tables: users, sessions, API keys, wallet login nonces.

use neosl_runtime::db::{Database, DbError, Migration};
use sqlx::Row;

/// The gateway's migrations.
pub const MIGRATIONS: &[Migration] = &[
    neosl_runtime::migration!(1, "gateway", "0001_gateway.sql"),
    neosl_runtime::migration!(2, "security", "0002_security.sql"),
    neosl_runtime::migration!(3, "shared rate-limit buckets", "0003_rate_buckets.sql"),
];

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The token was current: the session now has the new one. (session, user)
    Rotated(String, String),
    /// The token had been rotated away before: the session it belonged to is now revoked.
    Reused,
    /// No live session knows the token.
    Unknown,
}

/// A new API key's record.
#[derive(Debug, Clone, Copy)]
pub struct NewApiKey<'a> {
    /// Its owner.
    pub user_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// SHA-256 of the key (the key itself is never stored).
    pub key_hash: &'a str,
    /// Its first characters, to recognise it.
    pub prefix: &'a str,
    /// What it may do.
    pub scopes: &'a [String],
}

/// An API key found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyOwner {
    /// The key id.
    pub key_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its scopes, as stored.
    pub scopes: String,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The e-mail address (password users).
    pub email: Option<String>,
    /// The Neo address (wallet users).
    pub neo_address: Option<String>,
    /// When the user registered (Unix ms).
    pub created_at: i64,
}

/// An API key as its owner sees it (never the key itself, after creation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// The key id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// When it was created.
    pub created_at: i64,
    /// When it was last used.
    pub last_used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// What it may do (`*`, an area, either with `:read`).
    pub scopes: Vec<String>,
}

/// The gateway's storage.
#[derive(Debug, Clone)]
pub struct GatewayStore {
    db: Database,
}

fn user(row: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        neo_address: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

impl GatewayStore {
    /// Opens the store and applies migrations.
    pub async fn open(db: Database) -> Result<Self, DbError> {
        db.migrate("gateway", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Creates a password user; `None` when the e-mail is taken.
    pub async fn create_password_user(
        &self,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>, sqlx::Error> {
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = sqlx::query(
            "INSERT INTO gateway_users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok((inserted == 1).then(|| User {
            id,
            email: Some(email.to_owned()),
            neo_address: None,
            created_at: now,
        }))
    }

    /// The user with this e-mail and their password hash.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
        let row = sqlx::query("SELECT id, email, neo_address, created_at, password_hash FROM gateway_users WHERE email = $1")
            .bind(email)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| {
            Ok((
                user(&r)?,
                r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
            ))
        })
        .transpose()
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, sqlx::Error> {
        sqlx::query("SELECT id, email, neo_address, created_at FROM gateway_users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| user(&r))
            .transpose()
    }

    /// The user of a Neo address, created on first login.
    pub async fn user_for_address(&self, address: &str, now: i64) -> Result<User, sqlx::Error> {
        sqlx::query("INSERT INTO gateway_users (id, neo_address, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(address)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        let row = sqlx::query(
            "SELECT id, email, neo_address, created_at FROM gateway_users WHERE neo_address = $1",
        )
        .bind(address)
        .fetch_one(self.db.pool())
        .await?;
        user(&row)
    }

    /// Starts a session; returns its id.
    pub async fn create_session(
        &self,
        user_id: &str,
        refresh_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<String, sqlx::Error> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO gateway_sessions (id, user_id, refresh_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(user_id)
            .bind(refresh_hash)
            .bind(now)
            .bind(expires_at)
            .execute(self.db.pool())
            .await?;
        Ok(id)
    }

    /// Whether session `id` of `user_id` is live.
    pub async fn session_live(
        &self,
        id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("SELECT 1 FROM gateway_sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3")
            .bind(id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(self.db.pool())
            .await?
            .is_some())
    }

    /// Rotates a session's refresh token: the old one stops working and is remembered, so that
    /// presenting it again revokes the session (a stolen token used after its owner rotated, or
    /// the owner after the thief did: either way one of them must not hold the session).
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<Refresh, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let row = sqlx::query(
            "UPDATE gateway_sessions SET refresh_hash = $2 WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > $3 \
             RETURNING id, user_id",
        )
        .bind(old_hash)
        .bind(new_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let session: String = row.try_get(0)?;
            let user: String = row.try_get(1)?;
            sqlx::query(
                "INSERT INTO gateway_rotated_refresh (refresh_hash, session_id, rotated_at) VALUES ($1, $2, $3)",
            )
            .bind(old_hash)
            .bind(&session)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Refresh::Rotated(session, user));
        }
        let reused =
            sqlx::query("SELECT session_id FROM gateway_rotated_refresh WHERE refresh_hash = $1")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(reused) = reused else {
            return Ok(Refresh::Unknown);
        };
        let session: String = reused.try_get(0)?;
        sqlx::query(
            "UPDATE gateway_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(&session)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Refresh::Reused)
    }

    /// Revokes a session.
    pub async fn revoke_session(&self, id: &str, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE gateway_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Creates an API key record, unless the user already holds `max_live` live keys (then
    /// `None`). The count and the insert are one transaction, serialised per user.
    pub async fn create_api_key(
        &self,
        key: NewApiKey<'_>,
        max_live: u32,
        now: i64,
    ) -> Result<Option<ApiKeyInfo>, sqlx::Error> {
        let NewApiKey {
            user_id,
            name,
            key_hash,
            prefix,
            scopes,
        } = key;
        let mut tx = self.db.pool().begin().await?;
        if self.db.backend() == neosl_runtime::db::Backend::Postgres {
            sqlx::query("SELECT id FROM gateway_users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let live: i64 = sqlx::query(
            "SELECT COUNT(*) FROM gateway_api_keys WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if live >= i64::from(max_live) {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO gateway_api_keys (id, user_id, name, key_hash, prefix, created_at, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(user_id)
            .bind(name)
            .bind(key_hash)
            .bind(prefix)
            .bind(now)
            .bind(scopes.join(","))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ApiKeyInfo {
            id,
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            scopes: scopes.to_vec(),
        }))
    }

    /// The owner and id of a live API key with this hash (and notes its use).
    pub async fn api_key_owner(
        &self,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<ApiKeyOwner>, sqlx::Error> {
        let row = sqlx::query(
            "UPDATE gateway_api_keys SET last_used_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL RETURNING id, user_id, scopes",
        )
        .bind(key_hash)
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok(ApiKeyOwner {
                key_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                scopes: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// A user's API keys.
    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyInfo>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, last_used_at, revoked_at, scopes FROM gateway_api_keys WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyInfo {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    prefix: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    last_used_at: r.try_get(4)?,
                    revoked_at: r.try_get(5)?,
                    scopes: r
                        .try_get::<String, _>(6)?
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .collect()
    }

    /// Revokes the user's key `id`; false when there is no such key of theirs.
    pub async fn revoke_api_key(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("UPDATE gateway_api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .bind(now)
            .execute(self.db.pool())
            .await?
            .rows_affected()
            == 1)
    }

    /// Issues a login nonce for an address.
    pub async fn create_nonce(
        &self,
        nonce: &str,
        address: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO gateway_wallet_nonces (nonce, address, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(nonce)
        .bind(address)
        .bind(expires_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Consumes a nonce (once): true when it was issued for `address`, unused and unexpired.
    pub async fn use_nonce(
        &self,
        nonce: &str,
        address: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE gateway_wallet_nonces SET used_at = $3 WHERE nonce = $1 AND address = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(nonce)
        .bind(address)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1)
    }
}
