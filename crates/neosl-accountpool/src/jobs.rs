//! The AccountPool's background work: sweeping expired locks, syncing balances from the chain,
//! rotating accounts and retiring drained ones. Every job tolerates other replicas doing the same
//! (all changes are conditional updates), and failures are logged and retried next round.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::AccountPool;

/// Runs the jobs until `shutdown` turns true.
pub async fn run(pool: Arc<AccountPool>, mut shutdown: watch::Receiver<bool>) {
    let config = pool.config().clone();
    let mut sweep = tokio::time::interval(config.sweep_interval);
    let mut sync = tokio::time::interval(config.sync_interval);
    let mut rotation =
        tokio::time::interval(config.rotation_interval.min(Duration::from_secs(3600)));
    for timer in [&mut sweep, &mut sync, &mut rotation] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                if let Err(e) = pool.sweep().await {
                    tracing::warn!(error = %e, "lock sweep failed");
                }
            }
            _ = sync.tick() => {
                if let Err(e) = pool.sync_locked().await {
                    tracing::debug!(error = %e, "balance sync skipped");
                }
                if let Err(e) = pool.retire_drained().await {
                    tracing::debug!(error = %e, "retirement check skipped");
                }
            }
            _ = rotation.tick() => {
                if let Err(e) = pool.rotate_if_due().await {
                    tracing::warn!(error = %e, "rotation failed");
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
