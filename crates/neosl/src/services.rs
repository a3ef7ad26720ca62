//! The services this binary runs, what secrets each reads and which keys each publishes.
//!
//! Each service's business API lives in its own crate as its issue lands; this table is the
//! single place the binary learns a service's name, default address, reach (public or
//! internal), secrets and published keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use neosl_accountpool::store::PoolStore;
use neosl_accountpool::{AccountPool, Chain, PoolConfig};
use neosl_chain::RpcClient;
use neosl_chain::rpc::RpcConfig;
use neosl_chain::submit::{SubmitConfig, Submitter};
use neosl_crypto::{MasterKey, SecretBytes, SecretKey, kdf};
use neosl_runtime::RuntimeMode;
use neosl_runtime::SecretSpec;
use neosl_runtime::attestation::PublishedKey;
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::config::Settings;
use neosl_runtime::db::Database;
use neosl_runtime::secrets::SecretStore;
use neosl_runtime::tls::TlsMaterial;
use tokio::sync::watch;

/// One service.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDef {
    /// Its name (also its certificate name and URL prefix).
    pub name: &'static str,
    /// Where it listens by default.
    pub default_listen: &'static str,
    /// Reachable only by other services (never through the gateway).
    pub internal: bool,
    /// The secrets it reads.
    pub secrets: &'static [SecretSpec],
}

/// AccountPool's master key, or the coordinator seed it is derived from.
pub const POOL_MASTER_KEY: SecretSpec = SecretSpec {
    name: "POOL_MASTER_KEY",
    description: "AccountPool master key (every pool account key is derived from it)",
    min_len: 32,
    exact_len: None,
    group: Some("pool-master"),
};
/// The MarbleRun coordinator seed (alternative to `POOL_MASTER_KEY`).
pub const COORD_MASTER_SEED: SecretSpec = SecretSpec {
    name: "COORD_MASTER_SEED",
    description: "coordinator seed; the pool master key is HKDF-derived from it when POOL_MASTER_KEY is absent",
    min_len: 16,
    exact_len: None,
    group: Some("pool-master"),
};
/// The VRF private key (a P-256 scalar, used directly).
pub const VRF_PRIVATE_KEY: SecretSpec = SecretSpec {
    name: "VRF_PRIVATE_KEY",
    description: "VRF private key (P-256 scalar, 32 bytes)",
    min_len: 32,
    exact_len: Some(32),
    group: None,
};

/// The key that signs the gateway's access tokens (HS256).
pub const JWT_SIGNING_KEY: SecretSpec = SecretSpec {
    name: "JWT_SIGNING_KEY",
    description: "gateway access-token signing key (HMAC-SHA256, at least 32 bytes)",
    min_len: 32,
    exact_len: None,
    group: None,
};

/// The GasBank's master key: per-user deposit addresses and the treasury derive from it.
pub const GASBANK_MASTER_KEY: SecretSpec = SecretSpec {
    name: "GASBANK_MASTER_KEY",
    description: "GasBank master key (deposit addresses and the withdrawal treasury derive from it)",
    min_len: 32,
    exact_len: None,
    group: None,
};

/// The operator token of the gateway's admin endpoints (crediting deposits by hand).
pub const GATEWAY_ADMIN_TOKEN: SecretSpec = SecretSpec {
    name: "GATEWAY_ADMIN_TOKEN",
    description: "operator token for the gateway's admin endpoints (slcli deposit)",
    min_len: 32,
    exact_len: None,
    group: None,
};

/// Every service, in start-up order (the gateway last: it routes to the others).
pub const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "vrf",
        default_listen: "127.0.0.1:8082",
        internal: true,
        secrets: &[VRF_PRIVATE_KEY],
    },
    ServiceDef {
        name: "accountpool",
        default_listen: "127.0.0.1:8081",
        internal: true,
        secrets: &[POOL_MASTER_KEY, COORD_MASTER_SEED],
    },
    ServiceDef {
        name: "gateway",
        default_listen: "127.0.0.1:8080",
        internal: false,
        secrets: &[JWT_SIGNING_KEY, GASBANK_MASTER_KEY, GATEWAY_ADMIN_TOKEN],
    },
];

/// The service called `name`.
pub fn find(name: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The AccountPool master key: `POOL_MASTER_KEY`, else derived from `COORD_MASTER_SEED`.
pub fn pool_master_key(secrets: &SecretStore) -> Result<MasterKey> {
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

/// The keys `service` signs with, derived from its secrets only (never from enclave
/// measurements), so the same secrets give the same keys in every build.
pub fn published_keys(service: &ServiceDef, secrets: &SecretStore) -> Result<Vec<PublishedKey>> {
    Ok(match service.name {
        "accountpool" => {
            let master = pool_master_key(secrets)?;
            vec![PublishedKey::new(
                "accountpool-master",
                &kdf::master_public_key(&master)?,
            )]
        }
        "vrf" => {
            let key = secrets
                .use_secret(VRF_PRIVATE_KEY.name, SecretKey::from_slice)?
                .context("VRF_PRIVATE_KEY is not a valid P-256 private key")?;
            vec![PublishedKey::new("vrf", &key.public_key())]
        }
        _ => vec![],
    })
}

/// SHA-256 of the operator token, for a service that reads it (it guards that service's
/// operator endpoints and `/metrics`).
pub fn operator_token_hash(
    service: &ServiceDef,
    secrets: &SecretStore,
) -> Result<Option<[u8; 32]>> {
    if !service
        .secrets
        .iter()
        .any(|s| s.name == GATEWAY_ADMIN_TOKEN.name)
    {
        return Ok(None);
    }
    Ok(Some(secrets.use_secret(
        GATEWAY_ADMIN_TOKEN.name,
        neosl_crypto::hash::sha256,
    )?))
}

/// What starting a service gives: its API routes and its background work.
pub struct Started {
    /// The routes (wrapped by the runtime skeleton).
    pub api: Router,
    /// Background tasks, stopped by the shutdown signal.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Builds a service: opens what it needs, prepares its state, returns its routes and jobs.
pub async fn start(
    service: &ServiceDef,
    settings: &Settings,
    secrets: &SecretStore,
    mode: RuntimeMode,
    shutdown: watch::Receiver<bool>,
    built: &HashMap<String, Router>,
    tls: Option<&TlsMaterial>,
) -> Result<Started> {
    match service.name {
        "vrf" => {
            let db = Database::connect(&settings.database_url())
                .await
                .context("opening the database")?;
            let key = secrets
                .use_secret(VRF_PRIVATE_KEY.name, SecretKey::from_slice)?
                .context("VRF_PRIVATE_KEY is not a valid P-256 private key")?;
            let vrf = neosl_vrf::VrfService::open(db, key)
                .await
                .context("migrating the VRF tables")?;
            Ok(Started {
                api: neosl_vrf::router(Arc::new(vrf)),
                tasks: vec![],
            })
        }
        "accountpool" => {
            let pool = Arc::new(accountpool(settings, secrets, mode).await?);
            let created = pool
                .fill_to_target()
                .await
                .map_err(|e| anyhow::anyhow!("filling the pool: {e}"))?;
            if created > 0 {
                tracing::info!(
                    created,
                    target = settings.accountpool.target_size,
                    "account pool filled"
                );
            }
            let jobs = tokio::spawn(neosl_accountpool::jobs::run(pool.clone(), shutdown));
            Ok(Started {
                api: neosl_accountpool::http::router(pool),
                tasks: vec![jobs],
            })
        }
        "gateway" => {
            let db = Database::connect(&settings.database_url())
                .await
                .context("opening the database")?;
            let store = neosl_gateway::store::GatewayStore::open(db.clone())
                .await
                .context("migrating the gateway tables")?;
            let bank = neosl_gasbank::GasBank::open(db)
                .await
                .context("migrating the GasBank tables")?;
            let key =
                secrets.use_secret(JWT_SIGNING_KEY.name, neosl_crypto::SecretBytes::from_slice)?;
            let master = secrets
                .use_secret(GASBANK_MASTER_KEY.name, |b| {
                    MasterKey::new(SecretBytes::from_slice(b))
                })?
                .context("GASBANK_MASTER_KEY")?;
            let deposits = neosl_gasbank::deposits::Deposits::new(bank.clone(), master.clone());
            let mut gateway = neosl_gateway::Gateway::new(
                store,
                bank.clone(),
                key,
                neosl_gateway::GatewayConfig::from_settings(&settings.gateway)
                    .map_err(|e| anyhow::anyhow!("settings: {e}"))?,
            )
            .with_deposits(deposits.clone());
            // A crash between reserve and consume must never hold a user's money.
            let ttl = settings.gateway.reservation_ttl_secs.unwrap_or(600);
            if ttl < 2 * settings.request_timeout_secs {
                anyhow::bail!(
                    "gateway.reservation_ttl_secs ({ttl}) must be at least twice request_timeout_secs ({})",
                    settings.request_timeout_secs
                );
            }
            let mut tasks = vec![tokio::spawn(bank.clone().sweep_stale_reservations(
                Duration::from_secs(ttl),
                Duration::from_secs(60),
                shutdown.clone(),
            ))];
            if let Some(hash) = operator_token_hash(service, secrets)? {
                gateway = gateway.with_admin_token_hash(hash);
            }
            if let Some(chain) = connect_chain(settings).await {
                gateway = gateway.with_chain(chain.rpc.clone());
                let withdrawals = neosl_gasbank::withdrawals::Withdrawals::new(
                    bank,
                    &master,
                    chain.submitter.clone(),
                )
                .map_err(|e| anyhow::anyhow!("withdrawals: {e}"))?;
                tracing::info!(treasury = %withdrawals.treasury_address(), "GasBank withdrawals are paid from this treasury");
                gateway = gateway.with_withdrawals(withdrawals);
                let stream =
                    deposits.stream(chain.rpc.clone(), "gasbank-deposits", Default::default());
                tasks.push(tokio::spawn(stream.run(shutdown)));
            }
            if let Some(vrf) = transport_to("vrf", settings, built, tls)? {
                gateway = gateway.with_vrf(vrf);
            }
            Ok(Started {
                api: neosl_gateway::router(Arc::new(gateway)),
                tasks,
            })
        }
        _ => Ok(Started {
            api: Router::new(),
            tasks: vec![],
        }),
    }
}

/// How the gateway reaches `service`: its router when it runs in this process, else its
/// configured URL (over mutual TLS with this marble's certificate when there is one).
fn transport_to(
    service: &str,
    settings: &Settings,
    built: &HashMap<String, Router>,
    tls: Option<&TlsMaterial>,
) -> Result<Option<ServiceTransport>> {
    if let Some(router) = built.get(service) {
        return Ok(Some(ServiceTransport::InProcess {
            router: router.clone(),
            caller: "gateway".into(),
        }));
    }
    let Some(url) = settings.services.get(service).and_then(|s| s.url.clone()) else {
        tracing::warn!(
            service,
            "not in this process and no URL configured: its routes answer 503"
        );
        return Ok(None);
    };
    let client = match tls {
        Some(material) => material.http_client()?,
        None => reqwest::Client::new(),
    };
    Ok(Some(ServiceTransport::Http {
        base_url: url,
        client,
        caller: "gateway".into(),
    }))
}

/// Opens the AccountPool on the configured database and chain.
pub async fn accountpool(
    settings: &Settings,
    secrets: &SecretStore,
    mode: RuntimeMode,
) -> Result<AccountPool> {
    let db = Database::connect(&settings.database_url())
        .await
        .context("opening the database")?;
    let store = PoolStore::open(db)
        .await
        .context("migrating the AccountPool tables")?;
    let chain = connect_chain(settings).await;
    let p = &settings.accountpool;
    let config = PoolConfig {
        target_size: p.target_size,
        max_size: p.max_size.max(p.target_size),
        lock_ttl: Duration::from_secs(p.lock_ttl_secs.max(1)),
        sweep_interval: Duration::from_secs(p.sweep_interval_secs.max(1)),
        sync_interval: Duration::from_secs(p.sync_interval_secs.max(1)),
        ..PoolConfig::default()
    };
    if let (Some(c), Some(magic)) = (&chain, settings.network_magic)
        && c.submitter.network() != magic
    {
        anyhow::bail!(
            "network_magic {magic} does not match the chain's {}",
            c.submitter.network()
        );
    }
    AccountPool::new(
        store,
        pool_master_key(secrets)?,
        config,
        chain,
        settings.network_magic,
        mode,
    )
    .map_err(|e| anyhow::anyhow!("starting the AccountPool: {e}"))
}

/// The chain, when RPC endpoints are configured and answer.
async fn connect_chain(settings: &Settings) -> Option<Chain> {
    if settings.chain_rpc.is_empty() {
        return None;
    }
    let rpc = RpcClient::new(settings.chain_rpc.clone(), RpcConfig::default()).ok()?;
    match Submitter::connect(rpc.clone(), SubmitConfig::default()).await {
        Ok(submitter) => Some(Chain { rpc, submitter }),
        Err(e) => {
            tracing::warn!(error = %e, "the chain does not answer; transfers are unavailable until restart");
            None
        }
    }
}

/// `neosl secrets`: every secret each service reads.
pub fn print_secrets(as_json: bool) -> Result<()> {
    if as_json {
        let value: serde_json::Value = SERVICES
            .iter()
            .map(|s| {
                let secrets: Vec<serde_json::Value> = s
                    .secrets
                    .iter()
                    .map(|spec| {
                        serde_json::json!({
                            "name": spec.name,
                            "description": spec.description,
                            "min_len": spec.min_len,
                            "exact_len": spec.exact_len,
                            "alternatives_group": spec.group,
                        })
                    })
                    .collect();
                (s.name.to_owned(), serde_json::Value::Array(secrets))
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        println!("{value:#}");
        return Ok(());
    }
    for service in SERVICES {
        println!("{}:", service.name);
        if service.secrets.is_empty() {
            println!("  (none)");
        }
        for spec in service.secrets {
            let group = spec
                .group
                .map(|g| format!(" [one of group {g}]"))
                .unwrap_or_default();
            println!("  {:<20} {}{group}", spec.name, spec.description);
        }
    }
    Ok(())
}
