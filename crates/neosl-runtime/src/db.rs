//! The database every service shares: SQLite (the embedded default, no set-up) or PostgreSQL
//! (production, Supabase-compatible), chosen by the URL scheme.
//!
//! Services use sqlx's `Any` driver with plain types only (TEXT, BIGINT, INTEGER), so one set of
//! queries serves both backends; where the dialects differ (row locking, DDL) a service asks
//! [`Database::backend`]. Each service owns an append-only list of migrations per backend,
//! applied once under a lock (an advisory lock on PostgreSQL, the write lock on SQLite) and
//! recorded with a checksum in `neosl_schema_migrations`, so an edited migration is refused.
//!
//! SQLite runs in WAL mode with one pooled connection: SQLite serializes writers anyway, and one
//! connection makes every multi-statement transaction atomic without `SQLITE_BUSY` upgrades.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL (production).
    Postgres,
}

/// What a database was created for: a development database (made in simulation mode) may hold
/// development credits, so it never serves in enclave mode; a production one never takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Created in simulation mode.
    Development,
    /// Created in enclave mode.
    Production,
}

impl Environment {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "development" => Some(Self::Development),
            "production" => Some(Self::Production),
            _ => None,
        }
    }
}

impl Backend {
    /// The suffix that locks the rows a `SELECT` reads until the transaction ends (PostgreSQL);
    /// empty on SQLite, where the one connection already serializes writers.
    pub fn for_update(self) -> &'static str {
        match self {
            Self::Postgres => " FOR UPDATE",
            Self::Sqlite => "",
        }
    }

    /// The suffix that locks rows and skips those another transaction holds (PostgreSQL).
    pub fn for_update_skip_locked(self) -> &'static str {
        match self {
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
            Self::Sqlite => "",
        }
    }
}

/// The key of a named advisory lock: the first 8 bytes of SHA-256 of the name, so each lock
/// is named where it is used instead of being a magic number.
pub fn advisory_lock_key(name: &str) -> i64 {
    let digest = neosl_crypto::hash::sha256(name.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// Takes the named lock until `tx` ends: a transaction-scoped advisory lock on PostgreSQL; on
/// SQLite the one pooled connection already serializes transactions.
pub async fn lock_named(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    name: &str,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(advisory_lock_key(name))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Row-level security for every table of the schema, applied after each component's
/// migrations on PostgreSQL (Supabase-compatible): RLS enabled, a policy that lets
/// `service_role` (the platform's role, which bypasses RLS anyway) do everything, and the
/// grants. Anonymous and authenticated Supabase roles see nothing. Idempotent.
const RLS_BOOTSTRAP: &str = r#"
DO $$
DECLARE t record;
BEGIN
    BEGIN
        CREATE ROLE service_role NOLOGIN BYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    FOR t IN SELECT c.relname, c.relrowsecurity FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r' LOOP
        IF NOT t.relrowsecurity THEN
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.relname);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema()
                       AND tablename = t.relname AND 'service_role' = ANY (roles)) THEN
            EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO service_role USING (true) WITH CHECK (true)',
                           t.relname || '_service_role', t.relname);
        END IF;
        EXECUTE format('GRANT ALL ON %I TO service_role', t.relname);
    END LOOP;
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'S' LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %I TO service_role', t.relname);
    END LOOP;
END
$$;
"#;

/// A [`Migration`] of the calling crate: `migration!(3, "withdrawals", "0003_withdrawals.sql")`
/// reads `migrations/sqlite/<file>` and `migrations/postgres/<file>`; with `, shared` one
/// `migrations/<file>` serves both backends.
#[macro_export]
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        $crate::db::Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $file
            )),
            postgres: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/postgres/",
                $file
            )),
        }
    };
    ($version:literal, $name:literal, $file:literal, shared) => {
        $crate::db::Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/", $file)),
            postgres: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/", $file)),
        }
    };
}

/// A migration: its version (unique within its component) and SQL per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, increasing.
    pub version: i64,
    /// A short name.
    pub name: &'static str,
    /// The SQLite script.
    pub sqlite: &'static str,
    /// The PostgreSQL script.
    pub postgres: &'static str,
}

/// Database errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is not `sqlite://…` or `postgres://…`.
    #[error("unsupported database URL (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl,
    /// An applied migration was changed.
    #[error(
        "migration {component}/{version} was changed after it was applied; migrations are append-only"
    )]
    MigrationChanged {
        /// The component.
        component: String,
        /// The version.
        version: i64,
    },
    /// A development database (created in simulation mode) asked to serve in enclave mode.
    #[error(
        "this database was created in simulation mode and may hold development credits: it cannot serve in enclave mode"
    )]
    DevelopmentDatabase,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Makes the SQLite database at `path` (a URL path, maybe with `?options`) owner-only before it
/// is opened: the file is created 0600 when missing (SQLite gives its `-wal` and `-shm` files
/// the database file's mode) and existing files are set to 0600. In-memory databases are left
/// alone.
fn protect_sqlite_files(path: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let (file, options) = path.split_once('?').unwrap_or((path, ""));
    if file.is_empty() || file == ":memory:" || options.contains("mode=memory") {
        return Ok(());
    }
    let file = std::path::Path::new(file);
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        let candidate = std::path::PathBuf::from(name);
        if candidate.exists() {
            std::fs::set_permissions(&candidate, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// A connection pool with its backend.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects to `url` (`sqlite://path` creates the file if needed). Within one process every
    /// service shares one pool per URL: for SQLite that is what keeps writers from tripping
    /// over each other (one connection), for PostgreSQL it bounds the connections.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        static POOLS: std::sync::OnceLock<
            tokio::sync::Mutex<std::collections::HashMap<String, Database>>,
        > = std::sync::OnceLock::new();
        let pools = POOLS.get_or_init(Default::default);
        let mut pools = pools.lock().await;
        if let Some(db) = pools.get(url).filter(|db| !db.pool.is_closed()) {
            return Ok(db.clone());
        }
        let db = Self::open(url).await?;
        pools.insert(url.to_owned(), db.clone());
        Ok(db)
    }

    /// A pool of its own, not shared with the rest of the process (tests that play two replicas).
    pub async fn connect_unshared(url: &str) -> Result<Self, DbError> {
        Self::open(url).await
    }

    async fn open(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            protect_sqlite_files(path).map_err(|e| DbError::Sql(sqlx::Error::Io(e)))?;
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = if path.contains("mode=") {
                url.to_owned()
            } else {
                format!("{url}{sep}mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(32)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Self { pool, backend })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies `component`'s migrations that are not applied yet.
    pub async fn migrate(&self, component: &str, migrations: &[Migration]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        match self.backend {
            Backend::Postgres => {
                lock_named(&mut tx, Backend::Postgres, "neosl-migrations").await?;
                tx.execute(
                    "CREATE TABLE IF NOT EXISTS neosl_schema_migrations (component TEXT NOT NULL, version BIGINT NOT NULL, \
                     name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))",
                )
                .await?;
                tx.execute("ALTER TABLE neosl_schema_migrations ENABLE ROW LEVEL SECURITY")
                    .await?;
            }
            Backend::Sqlite => {
                tx.execute(
                    "CREATE TABLE IF NOT EXISTS neosl_schema_migrations (component TEXT NOT NULL, version BIGINT NOT NULL, \
                     name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))",
                )
                .await?;
            }
        }
        let applied = sqlx::query(
            "SELECT version, checksum FROM neosl_schema_migrations WHERE component = $1",
        )
        .bind(component)
        .fetch_all(&mut *tx)
        .await?;
        let applied: Vec<(i64, String)> = applied
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        for m in migrations {
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            let checksum = hex::encode(neosl_crypto::hash::sha256(sql.as_bytes()));
            match applied.iter().find(|(v, _)| *v == m.version) {
                Some((_, c)) if *c == checksum => continue,
                Some(_) => {
                    return Err(DbError::MigrationChanged {
                        component: component.to_owned(),
                        version: m.version,
                    });
                }
                None => {}
            }
            tracing::info!(
                component,
                version = m.version,
                name = m.name,
                "applying migration"
            );
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO neosl_schema_migrations (component, version, name, checksum, applied_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(component)
                .bind(m.version)
                .bind(m.name)
                .bind(checksum)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
        }
        if self.backend == Backend::Postgres {
            sqlx::raw_sql(RLS_BOOTSTRAP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the database was created for, if the platform has marked it.
    pub async fn environment(&self) -> Result<Option<Environment>, DbError> {
        self.ensure_platform_table().await?;
        let row = sqlx::query("SELECT value FROM neosl_platform WHERE key = 'environment'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>(0))
            .transpose()?
            .as_deref()
            .and_then(Environment::parse))
    }

    /// Marks an unmarked database as made for `mode` and answers what it is marked as. A
    /// development database refuses to serve in enclave mode (it may hold development
    /// credits that never came from the chain).
    pub async fn claim_environment(
        &self,
        mode: crate::RuntimeMode,
    ) -> Result<Environment, DbError> {
        self.ensure_platform_table().await?;
        let wanted = if mode.is_simulation() {
            Environment::Development
        } else {
            Environment::Production
        };
        sqlx::query(
            "INSERT INTO neosl_platform (key, value) VALUES ('environment', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(wanted.as_str())
        .execute(&self.pool)
        .await?;
        let marked = self.environment().await?.unwrap_or(wanted);
        if marked == Environment::Development && !mode.is_simulation() {
            return Err(DbError::DevelopmentDatabase);
        }
        Ok(marked)
    }

    async fn ensure_platform_table(&self) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        lock_named(&mut tx, self.backend, "neosl-migrations").await?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS neosl_platform (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::raw_sql(RLS_BOOTSTRAP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `/ready` check: the database answers a query within two seconds.
#[derive(Debug, Clone)]
pub struct DatabaseReadiness(pub Database);

#[async_trait::async_trait]
impl crate::server::Readiness for DatabaseReadiness {
    fn name(&self) -> &str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        let query = sqlx::query("SELECT 1").execute(self.0.pool());
        match tokio::time::timeout(Duration::from_secs(2), query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the database does not answer: {}", short(&e))),
            Err(_) => Err("the database did not answer within 2 s".into()),
        }
    }
}

/// What went wrong, in words that never carry connection details (a URL may hold a password).
fn short(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::PoolClosed => "the connection pool is closed".into(),
        sqlx::Error::PoolTimedOut => "no connection available".into(),
        sqlx::Error::Io(_) => "connection failed".into(),
        _ => "query failed".into(),
    }
}
