//! The DataFeeds service as the platform sees it.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_crypto::SecretKey;
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::server::Readiness;
use neosl_runtime::service::{
    Access, Declaration, FeeRule, OnChain, PublicRoute, ServiceContext, Started,
};
use neosl_runtime::{SecretSpec, SecretStore, Service};

use crate::feed::DataFeeds;
use crate::settings::DataFeedsSettings;
use crate::store::Store;

/// The key that signs every round and every answer to a contract (a P-256 scalar).
pub const DATAFEEDS_SIGNING_KEY: SecretSpec = SecretSpec {
    name: "DATAFEEDS_SIGNING_KEY",
    description: "DataFeeds signing key (P-256 scalar, 32 bytes)",
    min_len: 32,
    exact_len: Some(32),
    group: None,
    optional: false,
};

/// The fee of a signed price read (0.0001 GAS, seed 004 §3.4), charged per
/// `GET /datafeeds/prices/{pair}` and per contract request through the gateway.
pub const DATAFEEDS_FEE: FeeRule = FeeRule::flat("datafeeds", 10_000);

/// The purpose of the published key (registered as the service's TEE key on the gateway).
pub const SIGNING_KEY: &str = "datafeeds";

/// The DataFeeds service's constants.
pub const DECLARATION: Declaration = Declaration {
    secrets: &[DATAFEEDS_SIGNING_KEY],
    public_routes: &[
        PublicRoute::new(Method::GET, "/datafeeds/prices", Access::Anyone),
        PublicRoute::new(
            Method::GET,
            "/datafeeds/prices/{pair}",
            Access::Paid("datafeeds"),
        ),
        PublicRoute::new(
            Method::GET,
            "/datafeeds/prices/{pair}/rounds",
            Access::Anyone,
        ),
        PublicRoute::new(Method::GET, "/datafeeds/sources", Access::Anyone),
    ],
    fees: &[DATAFEEDS_FEE],
    on_chain: Some(OnChain {
        service_id: neosl_contracts::datafeeds::SERVICE_ID,
        request_event: None,
        fulfil_path: "/datafeeds/fulfil",
        push_path: Some("/datafeeds/push"),
        fee: "datafeeds",
        tee_key: SIGNING_KEY,
    }),
    ..Declaration::new("datafeeds", "127.0.0.1:8084")
};

/// The DataFeeds service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

fn key(secrets: &SecretStore) -> anyhow::Result<SecretKey> {
    secrets
        .use_secret(DATAFEEDS_SIGNING_KEY.name, SecretKey::from_slice)?
        .context("DATAFEEDS_SIGNING_KEY is not a valid P-256 private key")
}

/// `/ready`: a pair whose sources lost their quorum is listed as a warning (the service still
/// answers, and keeps the last round).
struct FeedsReadiness(Arc<DataFeeds>);

#[async_trait]
impl Readiness for FeedsReadiness {
    fn name(&self) -> &str {
        "datafeeds"
    }

    async fn check(&self) -> Result<(), String> {
        Ok(())
    }

    async fn warning(&self) -> Option<String> {
        match self.0.unhealthy().await {
            Ok(pairs) if pairs.is_empty() => None,
            Ok(pairs) => Some(format!("unhealthy pairs: {}", pairs.join("; "))),
            Err(e) => Some(format!("cannot read the pairs' states: {e}")),
        }
    }
}

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
        let section: DataFeedsSettings = settings.section("datafeeds")?;
        section.resolve().map(|_| ())
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let section: DataFeedsSettings = context
            .settings
            .section("datafeeds")
            .map_err(anyhow::Error::msg)?;
        let pairs = section.resolve().map_err(anyhow::Error::msg)?;
        let store = Store::open(context.database.clone())
            .await
            .context("migrating the DataFeeds tables")?;
        let signing = key(&context.secrets)?
            .signing_key()
            .context("preparing the DataFeeds key")?;
        let network = context.network_magic().unwrap_or(0);
        let feeds = Arc::new(DataFeeds::new(
            store,
            section,
            pairs,
            signing,
            network,
            context.chain.clone(),
            context.clock.clone(),
        )?);
        Ok(Started::new(crate::http::router(feeds.clone()))
            .readiness(Arc::new(FeedsReadiness(feeds.clone())))
            .job("datafeeds-feed", feeds.run(context.shutdown.clone())))
    }
}
