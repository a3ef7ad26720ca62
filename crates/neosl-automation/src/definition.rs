//! The Automation service as the platform sees it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_accountpool_api::AccountPoolClient;
use neosl_chain::events::{EventFilter, EventStream, StreamConfig};
use neosl_chainwork::{DbCursor, Outbox};
use neosl_crypto::SecretKey;
use neosl_gasbank::GasBank;
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::service::{
    Access, Declaration, FeeRule, OnChain, PublicRoute, ServiceContext, Started,
};
use neosl_runtime::{SecretSpec, SecretStore, Service};

use crate::engine::{Automation, FEE};
use crate::settings::AutomationSettings;
use crate::store::Store;

/// The fee of one execution (0.0005 GAS, seed 004 §3.4), charged with the chain fees it caused.
pub const AUTOMATION_FEE: FeeRule = FeeRule::flat(FEE, 50_000);

/// The key that signs Automation's answers to contracts (trigger registrations on chain).
pub const AUTOMATION_SIGNING_KEY: SecretSpec = SecretSpec {
    name: "AUTOMATION_SIGNING_KEY",
    description: "Automation signing key (P-256 scalar, 32 bytes)",
    min_len: 32,
    exact_len: Some(32),
    group: None,
    optional: false,
};

/// The purpose of the published key (registered as the service's TEE key on the gateway).
pub const SIGNING_KEY: &str = "automation";

fn key(secrets: &SecretStore) -> anyhow::Result<SecretKey> {
    secrets
        .use_secret(AUTOMATION_SIGNING_KEY.name, SecretKey::from_slice)?
        .context("AUTOMATION_SIGNING_KEY is not a valid P-256 private key")
}

/// The Automation service's constants.
pub const DECLARATION: Declaration = Declaration {
    public_routes: &[
        PublicRoute::new(Method::GET, "/automation/triggers", Access::User),
        PublicRoute::new(Method::POST, "/automation/triggers", Access::User),
        PublicRoute::new(Method::GET, "/automation/triggers/{id}", Access::User),
        PublicRoute::new(Method::DELETE, "/automation/triggers/{id}", Access::User),
        PublicRoute::new(
            Method::POST,
            "/automation/triggers/{id}/enable",
            Access::User,
        ),
        PublicRoute::new(
            Method::POST,
            "/automation/triggers/{id}/disable",
            Access::User,
        ),
        PublicRoute::new(
            Method::GET,
            "/automation/triggers/{id}/executions",
            Access::User,
        ),
    ],
    secrets: &[AUTOMATION_SIGNING_KEY],
    fees: &[AUTOMATION_FEE],
    on_chain: Some(OnChain {
        service_id: neosl_contracts::AUTOMATION_SERVICE_ID,
        request_event: None,
        fulfil_path: "/automation/fulfil",
        push_path: None,
        fee: FEE,
        tee_key: SIGNING_KEY,
    }),
    ..Declaration::new("automation", "127.0.0.1:8085")
};

/// The Automation service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn published_keys(&self, secrets: &SecretStore) -> anyhow::Result<Vec<PublishedKey>> {
        Ok(vec![PublishedKey::new(
            SIGNING_KEY,
            &key(secrets)?.public_key(),
        )])
    }

    fn check_settings(&self, settings: &neosl_runtime::config::Settings) -> Result<(), String> {
        settings
            .section::<AutomationSettings>("automation")
            .map(|_| ())
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let settings: AutomationSettings = context
            .settings
            .section("automation")
            .map_err(anyhow::Error::msg)?;
        let store = Store::open(context.database.clone())
            .await
            .context("migrating the Automation tables")?;
        let bank = GasBank::open(context.database.clone())
            .await?
            .with_clock(context.clock.clone());
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
        let datafeeds = context.peer("datafeeds").and_then(|p| p.transport.clone());
        let tick = Duration::from_millis(settings.tick_ms.max(50));
        let signing = key(&context.secrets)?
            .signing_key()
            .context("preparing the Automation key")?;
        let automation = Arc::new(
            Automation::new(
                store,
                bank,
                outbox.clone(),
                context.chain.clone(),
                pool,
                datafeeds,
                context.fees.clone(),
                context.clock.clone(),
                settings,
            )
            .with_signing_key(signing),
        );
        let mut started = Started::new(crate::http::router(automation.clone())).job(
            "automation-engine",
            automation.clone().run(context.shutdown.clone()),
        );
        if let Some(chain) = context.chain.clone() {
            // Event triggers: every notification, from the height at first start on.
            let cursor = DbCursor::new(
                context.database.clone(),
                "automation:events",
                context.clock.clone(),
            );
            let start_block = chain
                .rpc
                .get_block_count()
                .await
                .unwrap_or(1)
                .saturating_sub(1);
            let stream = EventStream::new(
                chain.rpc.clone(),
                EventFilter::default(),
                Arc::new(cursor),
                automation.event_handler(),
                StreamConfig {
                    start_block,
                    poll_interval: tick.min(Duration::from_secs(1)),
                    ..StreamConfig::default()
                },
            );
            started = started
                .job("automation-events", stream.run(context.shutdown.clone()))
                .job(
                    "automation-executions",
                    outbox.run(
                        vec![automation.execution_kind()],
                        chain,
                        tick,
                        context.shutdown.clone(),
                    ),
                );
        }
        Ok(started)
    }
}
