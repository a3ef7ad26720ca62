//! The AccountPool as the platform sees it: an internal service, its master key, its settings.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use neosl_crypto::{MasterKey, SecretBytes, kdf};
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::config::Settings;
use neosl_runtime::service::{Declaration, EnvSetting, ServiceContext, Started};
use neosl_runtime::{SecretSpec, SecretStore, Service};
use serde::Deserialize;

use crate::store::PoolStore;
use crate::{AccountPool, PoolConfig};

/// AccountPool's master key, or the coordinator seed it is derived from.
pub const POOL_MASTER_KEY: SecretSpec = SecretSpec {
    name: "POOL_MASTER_KEY",
    description: "AccountPool master key (every pool account key is derived from it)",
    min_len: 32,
    exact_len: None,
    group: Some("pool-master"),
    optional: false,
};

/// The MarbleRun coordinator seed (alternative to `POOL_MASTER_KEY`).
pub const COORD_MASTER_SEED: SecretSpec = SecretSpec {
    name: "COORD_MASTER_SEED",
    description: "coordinator seed; the pool master key is HKDF-derived from it when POOL_MASTER_KEY is absent",
    min_len: 16,
    exact_len: None,
    group: Some("pool-master"),
    optional: false,
};

/// The `[accountpool]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Active accounts to keep.
    pub target_size: u32,
    /// The most accounts the pool ever holds.
    pub max_size: u32,
    /// Lock lifetime, seconds.
    pub lock_ttl_secs: u64,
    /// Expired-lock sweep interval, seconds.
    pub sweep_interval_secs: u64,
    /// Balance sync interval, seconds.
    pub sync_interval_secs: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            target_size: 10_000,
            max_size: 100_000,
            lock_ttl_secs: 24 * 3600,
            sweep_interval_secs: 60,
            sync_interval_secs: 30,
        }
    }
}

impl PoolSettings {
    /// The section of `settings`.
    pub fn of(settings: &Settings) -> Result<Self, String> {
        settings.section("accountpool")
    }

    /// The pool behaviour these settings give.
    pub fn config(&self) -> PoolConfig {
        PoolConfig {
            target_size: self.target_size,
            max_size: self.max_size.max(self.target_size),
            lock_ttl: Duration::from_secs(self.lock_ttl_secs.max(1)),
            sweep_interval: Duration::from_secs(self.sweep_interval_secs.max(1)),
            sync_interval: Duration::from_secs(self.sync_interval_secs.max(1)),
            ..PoolConfig::default()
        }
    }
}

/// The AccountPool master key: `POOL_MASTER_KEY`, else derived from `COORD_MASTER_SEED`.
pub fn pool_master_key(secrets: &SecretStore) -> anyhow::Result<MasterKey> {
    if secrets.has(POOL_MASTER_KEY.name) {
        return secrets
            .use_secret(POOL_MASTER_KEY.name, |bytes| {
                MasterKey::new(SecretBytes::from_slice(bytes))
            })?
            .context("POOL_MASTER_KEY");
    }
    secrets
        .use_secret(COORD_MASTER_SEED.name, MasterKey::from_coordinator_seed)?
        .context("COORD_MASTER_SEED")
}

/// The AccountPool's constants.
pub const DECLARATION: Declaration = Declaration {
    secrets: &[POOL_MASTER_KEY, COORD_MASTER_SEED],
    env_settings: &[
        EnvSetting {
            var: "NEOSL_POOL_TARGET_SIZE",
            key: "target_size",
        },
        EnvSetting {
            var: "NEOSL_POOL_MAX_SIZE",
            key: "max_size",
        },
        EnvSetting {
            var: "NEOSL_POOL_LOCK_TTL_SECS",
            key: "lock_ttl_secs",
        },
        EnvSetting {
            var: "NEOSL_POOL_SWEEP_INTERVAL_SECS",
            key: "sweep_interval_secs",
        },
    ],
    ..Declaration::new("accountpool", "127.0.0.1:8081")
};

/// The AccountPool service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn check_settings(&self, settings: &Settings) -> Result<(), String> {
        PoolSettings::of(settings).map(drop)
    }

    fn published_keys(&self, secrets: &SecretStore) -> anyhow::Result<Vec<PublishedKey>> {
        let master = pool_master_key(secrets)?;
        Ok(vec![PublishedKey::new(
            "accountpool-master",
            &kdf::master_public_key(&master)?,
        )])
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let pool = Arc::new(open(&context).await?);
        let created = pool
            .fill_to_target()
            .await
            .map_err(|e| anyhow::anyhow!("filling the pool: {e}"))?;
        if created > 0 {
            tracing::info!(
                created,
                target = pool.config().target_size,
                "account pool filled"
            );
        }
        let mut started = Started::new(crate::http::router(pool.clone()));
        if let (Some(chain), Some(outbox)) = (&context.chain, &pool.outbox) {
            started = started.job(
                "accountpool-transfers",
                outbox.clone().run(
                    vec![pool.transfer_kind(chain)],
                    chain.clone(),
                    Duration::from_millis(500),
                    context.shutdown.clone(),
                ),
            );
        }
        // Sweeping, syncing and rotating are the pool's, not a replica's: one replica does them.
        Ok(started.singleton("maintenance", move |stop| {
            Box::pin(crate::jobs::run(pool.clone(), stop))
        }))
    }
}

/// Opens the AccountPool of `context` (its database, chain, master key and settings).
pub async fn open(context: &ServiceContext) -> anyhow::Result<AccountPool> {
    let store = PoolStore::open(context.database.clone())
        .await
        .context("migrating the AccountPool tables")?;
    let config = PoolSettings::of(&context.settings)
        .map_err(anyhow::Error::msg)?
        .config();
    if let (Some(chain), Some(magic)) = (&context.chain, context.settings.network_magic)
        && chain.submitter.network() != magic
    {
        anyhow::bail!(
            "network_magic {magic} does not match the chain's {}",
            chain.submitter.network()
        );
    }
    let pool = AccountPool::new(
        store,
        pool_master_key(&context.secrets)?,
        config,
        context.chain.clone(),
        context.network_magic(),
        context.mode,
        context.clock.clone(),
    )
    .map_err(|e| anyhow::anyhow!("starting the AccountPool: {e}"))?;
    Ok(match &context.chain {
        Some(_) => pool.with_outbox(
            neosl_chainwork::Outbox::open(context.database.clone(), context.clock.clone())
                .await
                .context("migrating the chain work tables")?
                .with_lease(context.chain_work_lease()),
        ),
        None => pool,
    })
}
