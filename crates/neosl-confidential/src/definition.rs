//! Confidential compute as the platform sees it.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_crypto::{MasterKey, SecretBytes, SecretKey};
use neosl_gasbank::GasBank;
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::service::{
    Access, Declaration, FeeRule, OnChain, PublicRoute, ServiceContext, Started,
};
use neosl_runtime::{SecretSpec, SecretStore, Service};

use crate::engine::{Confidential, FEE, ONCHAIN_FEE};
use crate::settings::ConfidentialSettings;
use crate::store::Store;

/// The master key the result-signing and fulfilment keys derive from.
pub const CONFIDENTIAL_MASTER_KEY: SecretSpec = SecretSpec {
    name: "CONFIDENTIAL_MASTER_KEY",
    description: "Confidential compute master key (the keys that sign results and fulfilments derive from it)",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

/// A job's base fee (seed 004 §3.4: 0.001 GAS), plus the fuel price.
pub const CONFIDENTIAL_FEE: FeeRule = FeeRule::flat(FEE, 100_000);
/// A contract's job: the base fee plus the fuel price of `onchain_limits` (0.002 GAS).
pub const CONFIDENTIAL_ONCHAIN_FEE: FeeRule = FeeRule::flat(ONCHAIN_FEE, 200_000);

/// The purpose of the key that signs results (published).
pub const RESULT_KEY: &str = "confidential";
/// The purpose of the key that signs fulfilments for the gateway contract.
pub const FULFILMENT_KEY: &str = "confidential-fulfilment";

/// The Confidential service's constants.
pub const DECLARATION: Declaration = Declaration {
    public_routes: &[
        PublicRoute::new(Method::POST, "/confidential/execute", Access::User)
            .with_text_fields(crate::http::EXECUTE_TEXT_FIELDS),
        PublicRoute::new(Method::GET, "/confidential/jobs", Access::User),
        PublicRoute::new(Method::GET, "/confidential/jobs/{id}", Access::User),
        PublicRoute::new(Method::POST, "/confidential/code", Access::User)
            .with_text_fields(crate::http::CODE_TEXT_FIELDS),
        PublicRoute::new(Method::GET, "/confidential/code", Access::User),
        PublicRoute::new(Method::GET, "/confidential/public-key", Access::Anyone),
    ],
    secrets: &[CONFIDENTIAL_MASTER_KEY],
    fees: &[CONFIDENTIAL_FEE, CONFIDENTIAL_ONCHAIN_FEE],
    on_chain: Some(OnChain {
        service_id: neosl_contracts::confidential::SERVICE_ID,
        request_event: None,
        fulfil_path: "/confidential/fulfil",
        push_path: None,
        fee: ONCHAIN_FEE,
        tee_key: FULFILMENT_KEY,
    }),
    ..Declaration::new("confidential", "127.0.0.1:8088")
};

/// The Confidential service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

fn key(secrets: &SecretStore, purpose: &str) -> anyhow::Result<SecretKey> {
    let master = secrets
        .use_secret(CONFIDENTIAL_MASTER_KEY.name, |b| {
            MasterKey::new(SecretBytes::from_slice(b))
        })?
        .context("CONFIDENTIAL_MASTER_KEY")?;
    Ok(neosl_crypto::kdf::derive_signing_key(
        &master,
        b"confidential",
        purpose,
    )?)
}

fn settings_of(settings: &neosl_runtime::config::Settings) -> Result<ConfidentialSettings, String> {
    let section: ConfidentialSettings = settings.section("confidential")?;
    section.check()?;
    Ok(section)
}

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn check_settings(&self, settings: &neosl_runtime::config::Settings) -> Result<(), String> {
        settings_of(settings).map(drop)
    }

    fn published_keys(&self, secrets: &SecretStore) -> anyhow::Result<Vec<PublishedKey>> {
        Ok(vec![
            PublishedKey::new(
                RESULT_KEY,
                &key(secrets, "confidential-result")?.public_key(),
            ),
            PublishedKey::new(
                FULFILMENT_KEY,
                &key(secrets, "confidential-fulfilment")?.public_key(),
            ),
        ])
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let settings = settings_of(&context.settings).map_err(anyhow::Error::msg)?;
        let store = Store::open(context.database.clone())
            .await
            .context("migrating the Confidential tables")?;
        let bank = GasBank::open(context.database.clone())
            .await
            .context("opening the GasBank")?
            .with_clock(context.clock.clone());
        let secrets = context
            .peer("secrets")
            .and_then(|p| p.transport.clone())
            .map(|t| Arc::new(t) as Arc<dyn neosl_api::Transport>);
        if secrets.is_none() {
            tracing::warn!(
                "the Secrets service is not reachable: jobs that name secrets are refused"
            );
        }
        let confidential = Arc::new(Confidential::new(
            store,
            bank,
            context.fees.clone(),
            context.clock.clone(),
            settings,
            key(&context.secrets, "confidential-result")?
                .signing_key()
                .context("preparing the result key")?,
            key(&context.secrets, "confidential-fulfilment")?
                .signing_key()
                .context("preparing the fulfilment key")?,
            secrets,
            neosl_runtime::singleton::replica_id().to_owned(),
            context.chain_work_lease(),
        )?);
        Ok(Started::new(crate::http::router(confidential.clone())).job(
            "confidential-worker",
            confidential.run(context.shutdown.clone()),
        ))
    }
}
