//! Jobs that run on one replica at a time. Several replicas share one database; a job whose
//! every round does the same work on any replica (sweeping expired locks and reservations,
//! syncing balances, rotating accounts, watching the treasury, following deposits) runs its
//! round only on the replica holding the job's lease. The holder renews the lease each round;
//! when it dies, another replica takes over once the lease has expired. Rounds are counted per
//! job, so an operator (and a test) can see that three replicas did not triple the work.

use std::time::Duration;

use crate::clock::SharedClock;
use crate::db::{Database, DbError};

/// The lease table's migration.
pub const MIGRATIONS: &[crate::db::Migration] = &[crate::migration!(
    1,
    "job leases",
    "0001_job_leases.sql",
    shared
)];

/// The lease of one job for one replica.
#[derive(Debug, Clone)]
pub struct Singleton {
    db: Database,
    name: String,
    holder: String,
    ttl_ms: i64,
    clock: SharedClock,
}

impl Singleton {
    /// The lease of job `name` for this replica (`holder`), lasting `ttl` past each round.
    pub async fn open(
        db: Database,
        name: impl Into<String>,
        holder: impl Into<String>,
        ttl: Duration,
        clock: SharedClock,
    ) -> Result<Self, DbError> {
        db.migrate("platform-jobs", MIGRATIONS).await?;
        Ok(Self {
            db,
            name: name.into(),
            holder: holder.into(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4),
            clock,
        })
    }

    /// Whether this replica runs the next round: takes the lease when it is free or expired,
    /// renews it when this replica holds it, and counts the round. `false` on a database
    /// error (the round is skipped; the next one asks again).
    pub async fn lead(&self) -> bool {
        let now = self.clock.now_millis();
        let result = sqlx::query(
            "INSERT INTO platform_job_leases (name, holder, expires_at, rounds, updated_at) VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $3, rounds = platform_job_leases.rounds + 1, \
             updated_at = $4 WHERE platform_job_leases.holder = $2 OR platform_job_leases.expires_at < $4",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(now.saturating_add(self.ttl_ms))
        .bind(now)
        .execute(self.db.pool())
        .await;
        match result {
            Ok(done) => done.rows_affected() == 1,
            Err(e) => {
                tracing::warn!(job = %self.name, error = %e, "the job lease cannot be read; round skipped");
                false
            }
        }
    }

    /// Gives the lease up (a graceful stop), so another replica takes over at once.
    pub async fn release(&self) {
        let _ = sqlx::query(
            "UPDATE platform_job_leases SET expires_at = 0 WHERE name = $1 AND holder = $2",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .execute(self.db.pool())
        .await;
    }
}

/// This process's name among replicas (random, fixed for its lifetime).
pub fn replica_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| hex::encode(neosl_crypto::random_array::<8>()))
}

/// Runs the job `make` builds while this replica holds `lease`: asks for the lease every
/// `renew`, starts the job when it gets it, renews it meanwhile, and stops the job (through the
/// receiver `make` was given) when the lease is lost or `shutdown` turns true; on shutdown the
/// lease is given up so another replica takes over at once.
pub async fn lead_while(
    lease: Singleton,
    renew: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    make: crate::service::JobFactory,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        if lease.lead().await {
            tracing::info!(job = %lease.name, replica = %lease.holder, "this replica runs the job (lease held)");
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let mut job = make(stopped);
            loop {
                tokio::select! {
                    () = &mut job => break,
                    () = tokio::time::sleep(renew) => {
                        if !lease.lead().await {
                            tracing::warn!(job = %lease.name, "the job's lease was lost: stopping it here");
                            let _ = stop.send(true);
                            job.await;
                            break;
                        }
                    }
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() {
                            let _ = stop.send(true);
                            job.await;
                            lease.release().await;
                            return;
                        }
                    }
                }
            }
        }
        if crate::service::pause(renew, &mut shutdown).await {
            return;
        }
    }
}
