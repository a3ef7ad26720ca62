//! The gateway as the platform sees it: the public face, its secrets, its jobs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use neosl_chainwork::Outbox;
use neosl_crypto::{MasterKey, SecretBytes};
use neosl_gasbank::GasBank;
use neosl_gasbank::deposits::Deposits;
use neosl_gasbank::withdrawals::{TreasuryWatch, Withdrawals};
use neosl_runtime::config::Settings;
use neosl_runtime::server::Readiness;
use neosl_runtime::service::{Declaration, Reach, ServiceContext, Started};
use neosl_runtime::{SecretSpec, Service};

use crate::config::GatewayConfig;
use crate::gateway::Gateway;
use crate::store::GatewayStore;

/// The key that signs the gateway's access tokens (HS256).
pub const JWT_SIGNING_KEY: SecretSpec = SecretSpec {
    name: "JWT_SIGNING_KEY",
    description: "gateway access-token signing key (HMAC-SHA256, at least 32 bytes)",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

/// The GasBank's master key: per-user deposit addresses and the treasury derive from it.
pub const GASBANK_MASTER_KEY: SecretSpec = SecretSpec {
    name: "GASBANK_MASTER_KEY",
    description: "GasBank master key (deposit addresses and the withdrawal treasury derive from it)",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

/// The operator token of the gateway's admin endpoints and `/metrics`.
pub const GATEWAY_ADMIN_TOKEN: SecretSpec = SecretSpec {
    name: "GATEWAY_ADMIN_TOKEN",
    description: "operator token for the gateway's admin endpoints (slcli deposit) and /metrics",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

/// The gateway's constants.
pub const DECLARATION: Declaration = Declaration {
    reach: Reach::Public,
    secrets: &[JWT_SIGNING_KEY, GASBANK_MASTER_KEY, GATEWAY_ADMIN_TOKEN],
    operator_token: Some(GATEWAY_ADMIN_TOKEN.name),
    ..Declaration::new("gateway", "127.0.0.1:8080")
};

/// The gateway.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn check_settings(&self, settings: &Settings) -> Result<(), String> {
        GatewayConfig::of(settings).map(drop)
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let config = GatewayConfig::of(&context.settings).map_err(anyhow::Error::msg)?;
        let db = context.database.clone();
        let clock = context.clock.clone();
        let store = GatewayStore::open(db.clone())
            .await
            .context("migrating the gateway tables")?;
        let bank = GasBank::open(db.clone())
            .await
            .context("migrating the GasBank tables")?
            .with_clock(clock.clone())
            .with_reservation_ttl(config.reservation_ttl);
        let key = context
            .secrets
            .use_secret(JWT_SIGNING_KEY.name, SecretBytes::from_slice)?;
        let master = context
            .secrets
            .use_secret(GASBANK_MASTER_KEY.name, |b| {
                MasterKey::new(SecretBytes::from_slice(b))
            })?
            .context("GASBANK_MASTER_KEY")?;
        let deposits = Deposits::new(bank.clone(), master.clone());
        let treasury_low_gas = config.treasury_low_gas;
        let buckets = match &config.rate_limit_store {
            crate::config::RateLimitStore::Memory => crate::buckets::Buckets::memory(),
            crate::config::RateLimitStore::Database => {
                crate::buckets::Buckets::database(db.clone())
            }
            crate::config::RateLimitStore::Redis(url) => {
                crate::buckets::Buckets::redis(url).map_err(anyhow::Error::msg)?
            }
        };
        tracing::info!(store = buckets.kind(), "rate-limit buckets");
        let shared_buckets = config.rate_limit_store == crate::config::RateLimitStore::Database;
        let mut gateway = Gateway::new(store, bank.clone(), key, config)
            .with_clock(clock.clone())
            .with_fees((*context.fees).clone())
            .with_deposits(deposits.clone())
            .with_planned(context.planned.iter().copied())
            .with_buckets(buckets);
        for peer in &context.peers {
            if !peer.service.public_routes().is_empty() {
                gateway = gateway.with_service(peer.service.as_ref(), peer.transport.clone());
            }
        }
        let admin_hash = context
            .secrets
            .use_secret(GATEWAY_ADMIN_TOKEN.name, neosl_crypto::hash::sha256)?;
        gateway = gateway.with_admin_token_hash(admin_hash);
        // Jobs whose rounds are the platform's, not a replica's, run on one replica at a time.
        let mut singletons: Vec<(&'static str, neosl_runtime::service::JobFactory)> = Vec::new();
        let mut jobs: Vec<(&'static str, neosl_runtime::service::Job)> = Vec::new();
        // A crash between reserve and consume must never hold a user's money.
        let sweeping = bank.clone();
        singletons.push((
            "reservation-sweeper",
            Box::new(move |stop| {
                Box::pin(
                    sweeping
                        .clone()
                        .sweep_expired_reservations(Duration::from_secs(60), stop),
                )
            }),
        ));
        if shared_buckets {
            // Buckets that have refilled are the same as none: keep the table small.
            let (db, clock) = (db.clone(), clock.clone());
            singletons.push((
                "rate-bucket-sweeper",
                Box::new(move |mut stop| {
                    let (db, clock) = (db.clone(), clock.clone());
                    Box::pin(async move {
                        loop {
                            let day = 86_400_000;
                            if let Err(e) =
                                crate::buckets::sweep(&db, clock.now_millis(), day).await
                            {
                                tracing::warn!(error = %e, "sweeping rate-limit buckets failed");
                            }
                            if neosl_runtime::service::pause(Duration::from_secs(300), &mut stop)
                                .await
                            {
                                return;
                            }
                        }
                    })
                }),
            ));
        }
        let mut readiness: Vec<Arc<dyn Readiness>> = Vec::new();
        if let Some(chain) = &context.chain {
            gateway = gateway.with_chain(chain.rpc.clone());
            let outbox = Outbox::open(db.clone(), clock.clone())
                .await
                .context("migrating the chain work tables")?
                .with_lease(context.chain_work_lease());
            let withdrawals = Withdrawals::new(bank, &master, outbox.clone())
                .map_err(|e| anyhow::anyhow!("withdrawals: {e}"))?;
            tracing::info!(treasury = %withdrawals.treasury_address(), "GasBank withdrawals are paid from this treasury");
            let watch = Arc::new(TreasuryWatch::new(
                chain.rpc.clone(),
                withdrawals.treasury_address(),
                treasury_low_gas,
            ));
            readiness.push(watch.clone());
            let watching = watch.clone();
            singletons.push((
                "gasbank-treasury-watch",
                Box::new(move |stop| Box::pin(watching.clone().run(Duration::from_secs(30), stop))),
            ));
            jobs.push((
                "gasbank-withdrawals",
                Box::pin(outbox.run(
                    withdrawals.work_kinds(),
                    chain.clone(),
                    Duration::from_millis(500),
                    context.shutdown.clone(),
                )),
            ));
            gateway = gateway.with_withdrawals(withdrawals);
            let (deposits, rpc) = (deposits.clone(), chain.rpc.clone());
            singletons.push((
                "gasbank-deposits",
                Box::new(move |stop| {
                    let (deposits, rpc) = (deposits.clone(), rpc.clone());
                    Box::pin(async move {
                        match deposits
                            .stream(rpc, "gasbank-deposits", Default::default())
                            .await
                        {
                            Ok(stream) => stream.run(stop).await,
                            Err(e) => {
                                tracing::warn!(error = %e, "the deposit watcher cannot start")
                            }
                        }
                    })
                }),
            ));
        }
        let mut started = Started::new(crate::router(Arc::new(gateway)));
        started.jobs = jobs;
        started.singletons = singletons;
        for check in readiness {
            started = started.readiness(check);
        }
        Ok(started)
    }
}
