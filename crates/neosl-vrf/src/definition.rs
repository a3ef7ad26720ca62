//! The VRF service as the platform sees it.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_crypto::SecretKey;
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::service::{
    Access, Declaration, FeeRule, OnChain, PublicRoute, ServiceContext, Started,
};
use neosl_runtime::{SecretSpec, SecretStore, Service};

use crate::VrfService;

/// The VRF private key (a P-256 scalar, used directly).
pub const VRF_PRIVATE_KEY: SecretSpec = SecretSpec {
    name: "VRF_PRIVATE_KEY",
    description: "VRF private key (P-256 scalar, 32 bytes)",
    min_len: 32,
    exact_len: Some(32),
    group: None,
    optional: false,
};

/// The fee of one `/vrf/random` (0.001 GAS, seed 004 §3.4).
pub const VRF_FEE: FeeRule = FeeRule::flat("vrf", 100_000);

/// The VRF service's constants.
pub const DECLARATION: Declaration = Declaration {
    secrets: &[VRF_PRIVATE_KEY],
    public_routes: &[
        PublicRoute::new(Method::POST, "/vrf/random", Access::Paid("vrf")),
        PublicRoute::new(Method::POST, "/vrf/verify", Access::Anyone),
        PublicRoute::new(Method::GET, "/vrf/public-key", Access::Anyone),
        PublicRoute::new(Method::GET, "/vrf/requests", Access::User),
    ],
    fees: &[VRF_FEE],
    on_chain: Some(OnChain {
        service_id: neosl_contracts::vrf::SERVICE_ID,
        request_event: Some("VRFRequest"),
        fulfil_path: "/vrf/fulfil",
        push_path: None,
        fee: "vrf",
        tee_key: FULFILMENT_KEY,
    }),
    ..Declaration::new("vrf", "127.0.0.1:8082")
};

/// The purpose of the key that signs fulfilments for contracts (registered as the VRF
/// service's TEE key on the gateway contract).
pub const FULFILMENT_KEY: &str = "vrf-fulfilment";

/// The VRF service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

fn key(secrets: &SecretStore) -> anyhow::Result<SecretKey> {
    secrets
        .use_secret(VRF_PRIVATE_KEY.name, SecretKey::from_slice)?
        .context("VRF_PRIVATE_KEY is not a valid P-256 private key")
}

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn published_keys(&self, secrets: &SecretStore) -> anyhow::Result<Vec<PublishedKey>> {
        let key = key(secrets)?;
        Ok(vec![
            PublishedKey::new("vrf", &key.public_key()),
            PublishedKey::new(
                FULFILMENT_KEY,
                &VrfService::fulfilment_key(&key)?.public_key(),
            ),
        ])
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let vrf = VrfService::open(context.database, key(&context.secrets)?, context.clock)
            .await
            .context("migrating the VRF tables")?;
        Ok(Started::new(crate::router(Arc::new(vrf))))
    }
}
