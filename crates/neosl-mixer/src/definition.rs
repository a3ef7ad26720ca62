//! The Mixer service as the platform sees it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_accountpool_api::AccountPoolClient;
use neosl_chain::events::{EventFilter, EventStream, StreamConfig};
use neosl_chainwork::{DbCursor, Outbox};
use neosl_contracts::Deployed;
use neosl_crypto::{MasterKey, SecretBytes, SecretKey};
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::service::{Access, Declaration, FeeRule, PublicRoute, ServiceContext, Started};
use neosl_runtime::{RuntimeMode, SecretSpec, SecretStore, Service};

use crate::engine::{Deployment, FEE, Mixer};
use crate::settings::MixerSettings;
use crate::store::Store;

/// The Mixer's fee (seed 004 §3.4: 0.05 GAS + 0.5 % of the amount mixed).
pub const MIXER_FEE: FeeRule = FeeRule {
    name: FEE,
    base: 5_000_000,
    basis_points: 50,
};

/// The Mixer's master key: its request and proof signing key derives from it.
pub const MIXER_MASTER_KEY: SecretSpec = SecretSpec {
    name: "MIXER_MASTER_KEY",
    description: "Mixer master key (the key that signs RequestProofs and CompletionProofs derives from it)",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

/// The purpose of the published key (registered in `MixerService`).
pub const SIGNING_KEY: &str = "mixer";

/// The signing key: HKDF of the master key (salt `mixer`, info `mixer-signing`).
pub fn signing_key(secrets: &SecretStore) -> anyhow::Result<SecretKey> {
    let master = secrets
        .use_secret(MIXER_MASTER_KEY.name, |b| {
            MasterKey::new(SecretBytes::from_slice(b))
        })?
        .context("MIXER_MASTER_KEY")?;
    Ok(neosl_crypto::kdf::derive_signing_key(
        &master,
        b"mixer",
        "mixer-signing",
    )?)
}

/// The Mixer's constants.
pub const DECLARATION: Declaration = Declaration {
    public_routes: &[
        PublicRoute::new(Method::GET, "/mixer/info", Access::Anyone),
        PublicRoute::new(Method::POST, "/mixer/request", Access::Anyone),
        PublicRoute::new(Method::GET, "/mixer/requests", Access::Anyone),
        PublicRoute::new(Method::GET, "/mixer/status/{id}", Access::Anyone),
        PublicRoute::new(Method::GET, "/mixer/request/{id}/proof", Access::Anyone),
        PublicRoute::new(Method::POST, "/mixer/request/{id}/deposit", Access::Anyone),
        PublicRoute::new(Method::POST, "/mixer/request/{id}/dispute", Access::Anyone),
    ],
    secrets: &[MIXER_MASTER_KEY],
    fees: &[MIXER_FEE],
    ..Declaration::new("mixer", "127.0.0.1:8086")
};

/// The Mixer service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

fn settings_of(settings: &neosl_runtime::config::Settings) -> Result<MixerSettings, String> {
    let section: MixerSettings = settings.section("mixer")?;
    section.check()?;
    Ok(section)
}

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn published_keys(&self, secrets: &SecretStore) -> anyhow::Result<Vec<PublishedKey>> {
        Ok(vec![PublishedKey::new(
            SIGNING_KEY,
            &signing_key(secrets)?.public_key(),
        )])
    }

    fn check_settings(&self, settings: &neosl_runtime::config::Settings) -> Result<(), String> {
        settings_of(settings).map(drop)
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let settings = settings_of(&context.settings).map_err(anyhow::Error::msg)?;
        if context.mode == RuntimeMode::Enclave && settings.window_divisor != 1 {
            anyhow::bail!(
                "mixer.window_divisor is for tests on development chains; enclave mode runs the seed's windows"
            );
        }
        let store = Store::open(context.database.clone())
            .await
            .context("migrating the Mixer tables")?;
        let outbox = Outbox::open(context.database.clone(), context.clock.clone())
            .await?
            .with_lease(context.chain_work_lease());
        let pool = context
            .peer("accountpool")
            .and_then(|p| p.transport.clone())
            .map(|t| {
                Arc::new(AccountPoolClient::new(t))
                    as Arc<dyn neosl_accountpool_api::AccountPoolApi>
            });
        let deployed = context.network_magic().and_then(|network| {
            let path = context.settings.data_dir.join(Deployed::FILE);
            let deployed: Deployed = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
            (deployed.network == network && deployed.mixer_service != Default::default())
                .then_some((deployed, network))
        });
        let deployment = deployed.map(|(d, network)| Deployment {
            network,
            contract: d.mixer_service,
        });
        if context.chain.is_some() && deployment.is_none() {
            tracing::warn!(
                "no MixerService in contracts.json for this chain: mix requests are refused until it is deployed"
            );
        }
        let tick = Duration::from_millis(settings.tick_ms.max(50));
        let key = signing_key(&context.secrets)?
            .signing_key()
            .context("preparing the Mixer key")?;
        let cursor = DbCursor::new(
            context.database.clone(),
            "mixer:deposits",
            context.clock.clone(),
        );
        let mixer = Arc::new(
            Mixer::new(
                store,
                outbox.clone(),
                context.chain.clone(),
                pool,
                context.fees.clone(),
                context.clock.clone(),
                settings,
                key,
                deployment,
            )?
            .with_cursor(cursor.clone()),
        );
        let mut started = Started::new(crate::http::router(mixer.clone()))
            .job("mixer-engine", mixer.clone().run(context.shutdown.clone()));
        if let (Some(chain), Some((deployed, _))) = (context.chain.clone(), deployed) {
            let height = chain
                .rpc
                .get_block_count()
                .await
                .unwrap_or(1)
                .saturating_sub(1);
            let deposits = EventStream::new(
                chain.rpc.clone(),
                EventFilter {
                    contracts: vec![neosl_neo::native::GAS],
                    names: vec!["Transfer".into()],
                },
                Arc::new(cursor),
                mixer.deposit_handler(),
                StreamConfig {
                    start_block: height,
                    poll_interval: tick.min(Duration::from_secs(1)),
                    ..StreamConfig::default()
                },
            );
            let disputes = EventStream::new(
                chain.rpc.clone(),
                EventFilter {
                    contracts: vec![deployed.mixer_service],
                    names: vec!["DisputeOpened".into()],
                },
                Arc::new(DbCursor::new(
                    context.database.clone(),
                    "mixer:disputes",
                    context.clock.clone(),
                )),
                mixer.dispute_handler(),
                StreamConfig {
                    start_block: deployed.deployed_at,
                    poll_interval: tick.min(Duration::from_secs(1)),
                    ..StreamConfig::default()
                },
            );
            started = started
                .job("mixer-deposits", deposits.run(context.shutdown.clone()))
                .job("mixer-disputes", disputes.run(context.shutdown.clone()))
                .job(
                    "mixer-transactions",
                    outbox.run(mixer.work_kinds(), chain, tick, context.shutdown.clone()),
                );
        }
        Ok(started)
    }
}
