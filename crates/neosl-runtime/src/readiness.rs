//! The checks behind `/ready` that the platform adds to every service: the database (in
//! [`crate::db::DatabaseReadiness`]), the chain when one is configured, and the service's
//! secrets. A service adds its own through [`crate::service::Started::readiness`].

use std::time::Duration;

use async_trait::async_trait;
use neosl_chain::RpcClient;

use crate::SecretStore;
pub use crate::server::Readiness;

/// The chain: configured and answering `getblockcount` within two seconds.
#[derive(Debug, Clone)]
pub enum ChainReadiness {
    /// The chain this RPC client reaches.
    Rpc(RpcClient),
    /// A configured chain that did not answer at start-up (why): not ready until restarted.
    Missing(String),
}

#[async_trait]
impl Readiness for ChainReadiness {
    fn name(&self) -> &str {
        "chain"
    }

    async fn check(&self) -> Result<(), String> {
        let rpc = match self {
            Self::Rpc(rpc) => rpc,
            Self::Missing(reason) => return Err(reason.clone()),
        };
        match tokio::time::timeout(Duration::from_secs(2), rpc.get_block_count()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the chain does not answer: {}", short(&e))),
            Err(_) => Err("the chain did not answer within 2 s".into()),
        }
    }
}

/// Every secret the service needs is present (one of each group of alternatives).
#[derive(Debug)]
pub struct SecretsReadiness {
    missing: Vec<&'static str>,
}

impl SecretsReadiness {
    /// Checks `store` against the specs of one service.
    pub fn of(store: &SecretStore, specs: &[crate::SecretSpec]) -> Self {
        let mut missing = Vec::new();
        for spec in specs {
            let satisfied = match spec.group {
                None => store.has(spec.name),
                Some(group) => specs
                    .iter()
                    .filter(|s| s.group == Some(group))
                    .any(|s| store.has(s.name)),
            };
            if !satisfied {
                missing.push(spec.name);
            }
        }
        Self { missing }
    }
}

#[async_trait]
impl Readiness for SecretsReadiness {
    fn name(&self) -> &str {
        "secrets"
    }

    async fn check(&self) -> Result<(), String> {
        if self.missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing secrets: {}", self.missing.join(", ")))
        }
    }
}

/// What went wrong, in words that never carry endpoint credentials.
fn short(e: &neosl_chain::ChainError) -> String {
    match e {
        neosl_chain::ChainError::Unavailable(_) => "unreachable".into(),
        neosl_chain::ChainError::Rpc { code, .. } => format!("RPC error {code}"),
        _ => "unexpected answer".into(),
    }
}
