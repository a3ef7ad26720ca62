//! The Automation service as the platform sees it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_accountpool_api::AccountPoolClient;
use neosl_chain::events::{EventFilter, EventStream, StreamConfig};
use neosl_chainwork::{DbCursor, Outbox};
use neosl_gasbank::GasBank;
use neosl_runtime::Service;
use neosl_runtime::service::{Access, Declaration, FeeRule, PublicRoute, ServiceContext, Started};

use crate::engine::{Automation, FEE};
use crate::settings::AutomationSettings;
use crate::store::Store;

/// The fee of one execution (0.0005 GAS, seed 004 §3.4), charged with the chain fees it caused.
pub const AUTOMATION_FEE: FeeRule = FeeRule::flat(FEE, 50_000);

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
    fees: &[AUTOMATION_FEE],
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
        let automation = Arc::new(Automation::new(
            store,
            bank,
            outbox.clone(),
            context.chain.clone(),
            pool,
            datafeeds,
            context.fees.clone(),
            context.clock.clone(),
            settings,
        ));
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
