//! The Secrets service as the platform sees it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::http::Method;
use neosl_runtime::server::Readiness;
use neosl_runtime::service::{Access, Declaration, PublicRoute, ServiceContext, Started};
use neosl_runtime::{SecretSpec, SecretStore, Service};

use crate::service::Secrets;
use crate::store::Store;
use crate::vault::{Keyring, Master};

/// The master key every secret's wrapping key derives from.
pub const SECRETS_MASTER_KEY: SecretSpec = SecretSpec {
    name: "SECRETS_MASTER_KEY",
    description: "Secrets master key (each secret's data key is wrapped under a key derived from it with the owner and name)",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

/// The master key being rotated away from: while it is injected next to the new one, rows it
/// wrapped still open and are re-wrapped under the new one in the background.
pub const SECRETS_PREVIOUS_MASTER_KEY: SecretSpec = SecretSpec {
    name: "SECRETS_PREVIOUS_MASTER_KEY",
    description: "the previous Secrets master key, only during a rotation",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: true,
};

/// The Secrets service's constants.
pub const DECLARATION: Declaration = Declaration {
    public_routes: &[
        PublicRoute::new(Method::GET, "/secrets", Access::User),
        PublicRoute::new(Method::GET, "/secrets/audit", Access::User),
        PublicRoute::new(Method::GET, "/secrets/{name}", Access::User),
        PublicRoute::new(Method::PUT, "/secrets/{name}", Access::User)
            .with_text_fields(crate::http::TEXT_FIELDS),
        PublicRoute::new(Method::DELETE, "/secrets/{name}", Access::User),
    ],
    secrets: &[SECRETS_MASTER_KEY, SECRETS_PREVIOUS_MASTER_KEY],
    ..Declaration::new("secrets", "127.0.0.1:8087")
};

/// Rows re-wrapped per round of a rotation.
const REWRAP_BATCH: i64 = 200;

/// The Secrets service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

fn keyring(secrets: &SecretStore) -> anyhow::Result<Keyring> {
    let current = secrets
        .use_secret(SECRETS_MASTER_KEY.name, Master::new)?
        .context("SECRETS_MASTER_KEY")?;
    let previous = if secrets.has(SECRETS_PREVIOUS_MASTER_KEY.name) {
        Some(
            secrets
                .use_secret(SECRETS_PREVIOUS_MASTER_KEY.name, Master::new)?
                .context("SECRETS_PREVIOUS_MASTER_KEY")?,
        )
    } else {
        None
    };
    Ok(Keyring::new(current, previous))
}

/// `/ready` warns while rows are wrapped under a key other than the current one.
struct RotationReadiness(Arc<Secrets>);

#[async_trait]
impl Readiness for RotationReadiness {
    fn name(&self) -> &str {
        "secrets-rotation"
    }

    async fn check(&self) -> Result<(), String> {
        Ok(())
    }

    async fn warning(&self) -> Option<String> {
        let masters = self.0.store().masters().await.ok()?;
        let current = self.0.keys().current_id();
        let elsewhere: i64 = masters
            .iter()
            .filter(|(id, _)| id != current)
            .map(|(_, n)| n)
            .sum();
        (elsewhere > 0).then(|| {
            format!(
                "{elsewhere} secrets are wrapped under a master key other than the current one ({})",
                match self.0.keys().previous_id() {
                    Some(_) => "re-wrapping",
                    None => "inject SECRETS_PREVIOUS_MASTER_KEY to re-wrap them",
                }
            )
        })
    }
}

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let store = Store::open(context.database.clone())
            .await
            .context("migrating the Secrets tables")?;
        // A secret may allow any other service of the platform except the gateway, which
        // faces users.
        let services = context
            .peers
            .iter()
            .map(|p| p.service.name().to_owned())
            .filter(|name| name != "gateway")
            .collect();
        let secrets = Arc::new(Secrets::new(
            store,
            keyring(&context.secrets)?,
            context.clock.clone(),
            services,
        ));
        let rewrapping = secrets.clone();
        Ok(Started::new(crate::http::router(secrets.clone()))
            .readiness(Arc::new(RotationReadiness(secrets)))
            .singleton("rewrap", move |mut stop| {
                let secrets = rewrapping.clone();
                Box::pin(async move {
                    loop {
                        match secrets.rewrap_round(REWRAP_BATCH).await {
                            Ok((n, _)) if n > 0 => {
                                tracing::info!(
                                    rewrapped = n,
                                    "secrets re-wrapped under the current master key"
                                );
                                continue;
                            }
                            Ok(_) => {}
                            Err(error) => tracing::warn!(%error, "re-wrapping secrets failed"),
                        }
                        if neosl_runtime::service::pause(Duration::from_secs(30), &mut stop).await {
                            return;
                        }
                    }
                })
            }))
    }
}
