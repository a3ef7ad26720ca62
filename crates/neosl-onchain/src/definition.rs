//! The on-chain worker as the platform sees it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use axum::http::Method;
use neosl_accountpool_api::AccountPoolClient;
use neosl_chain::events::{EventFilter, EventStream, StreamConfig};
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chainwork::{DbCursor, Outbox};
use neosl_contracts::Deployed;
use neosl_gasbank::GasBank;
use neosl_neo::UInt160;
use neosl_runtime::config::Settings;
use neosl_runtime::server::Readiness;
use neosl_runtime::service::{Access, Declaration, PublicRoute, ServiceContext, Started};
use neosl_runtime::{RuntimeMode, Service};
use serde::Deserialize;

use crate::http::{Api, Contracts, ServedContract};
use crate::store::Store;
use crate::watcher::{GATEWAY_EVENTS, Watcher};
use crate::worker::{Health, Served, Worker};

/// The `[onchain]` settings section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnChainSettings {
    /// The gateway contract (`0x…`); default: `contracts.json` of the data directory.
    pub gateway_contract: Option<String>,
    /// The first block to read when no position is saved; default: the deployment height.
    pub start_block: Option<u32>,
    /// Fulfilments per transaction at most.
    pub batch_size: usize,
    /// The most GAS (10⁻⁸) one fulfilment with its callback may cost; above, the callback is
    /// skipped (`callback_gas_exceeded`).
    pub max_callback_gas: i64,
    /// How often a round runs, milliseconds.
    pub interval_ms: u64,
    /// Below this GAS (10⁻⁸) the fulfilment account is topped up from the treasury.
    pub min_account_gas: i64,
    /// By this much.
    pub top_up_gas: i64,
}

impl Default for OnChainSettings {
    fn default() -> Self {
        Self {
            gateway_contract: None,
            start_block: None,
            batch_size: 16,
            max_callback_gas: 50_000_000,
            interval_ms: 500,
            min_account_gas: 5 * 100_000_000,
            top_up_gas: 20 * 100_000_000,
        }
    }
}

/// The on-chain worker's constants.
pub const DECLARATION: Declaration = Declaration {
    public_routes: &[
        PublicRoute::new(Method::GET, "/onchain/requests", Access::User),
        PublicRoute::new(Method::GET, "/onchain/requests/{id}", Access::User),
        PublicRoute::new(Method::GET, "/onchain/contracts", Access::Anyone),
    ],
    ..Declaration::new("onchain", "127.0.0.1:8083")
};

/// The on-chain worker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Definition;

/// `/ready`: what stops contracts' requests from being served.
struct OnChainReadiness(Result<Arc<Mutex<Health>>, String>);

#[async_trait]
impl Readiness for OnChainReadiness {
    fn name(&self) -> &str {
        "onchain"
    }

    async fn check(&self) -> std::result::Result<(), String> {
        let health = self.0.as_ref().map_err(Clone::clone)?;
        let problems = health
            .lock()
            .map(|h| h.problems.clone())
            .unwrap_or_default();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The gateway contract and the deployment's height: the settings', else the data
/// directory's `contracts.json` for this network.
fn gateway_of(
    settings: &Settings,
    section: &OnChainSettings,
    network: u32,
) -> Result<Option<(UInt160, u32)>> {
    if let Some(text) = &section.gateway_contract {
        let hash = UInt160::parse_display(text).context("onchain.gateway_contract")?;
        return Ok(Some((hash, section.start_block.unwrap_or(0))));
    }
    let path = settings.data_dir.join(Deployed::FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let deployed: Deployed =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    if deployed.network != network {
        tracing::warn!(file = %path.display(), "contracts.json is for another network; ignored");
        return Ok(None);
    }
    Ok(Some((
        deployed.gateway,
        section.start_block.unwrap_or(deployed.deployed_at),
    )))
}

/// On a development chain of this data directory (simulation mode only), the gateway owner's
/// key that `neosl devnet` keeps, to register fulfilment accounts and keys automatically.
fn dev_owner(data_dir: &Path, mode: RuntimeMode) -> Option<Arc<dyn TxSigner>> {
    if !mode.is_simulation() {
        return None;
    }
    let bytes = std::fs::read(data_dir.join("devnet").join("accounts.json")).ok()?;
    let accounts: Vec<serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    let wif = accounts
        .iter()
        .find(|a| a["name"] == "owner")
        .and_then(|a| a["wif"].as_str())?;
    let key = neosl_neo::address::wif_decode(wif).ok()?;
    Some(Arc::new(LocalKeySigner::new(key)))
}

#[async_trait]
impl Service for Definition {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }

    fn check_settings(&self, settings: &Settings) -> std::result::Result<(), String> {
        let section: OnChainSettings = settings.section("onchain")?;
        if section.batch_size == 0 || section.batch_size > 256 {
            return Err("onchain.batch_size: 1 to 256".into());
        }
        Ok(())
    }

    async fn start(&self, context: ServiceContext) -> Result<Started> {
        let section: OnChainSettings = context
            .settings
            .section("onchain")
            .map_err(anyhow::Error::msg)?;
        match start_worker(&context, &section).await {
            Ok(started) => Ok(started),
            Err(why) => {
                tracing::warn!(reason = %why, "contracts' requests are not served");
                let api = Arc::new(Api {
                    store: Err(why.clone()),
                    contracts: Contracts::default(),
                });
                Ok(Started::new(crate::http::router(api))
                    .readiness(Arc::new(OnChainReadiness(Err(why)))))
            }
        }
    }
}

/// Everything the worker needs, or why it cannot run (no chain, no gateway contract).
async fn start_worker(
    context: &ServiceContext,
    section: &OnChainSettings,
) -> std::result::Result<Started, String> {
    let chain = context.chain.clone().ok_or(
        "no chain is configured (NEOSL_CHAIN_RPC, or `neosl devnet` in this data directory)",
    )?;
    let network = chain.submitter.network();
    let (gateway, start_block) = gateway_of(&context.settings, section, network)
        .map_err(|e| format!("{e:#}"))?
        .ok_or("no gateway contract is known: deploy with `neosl contracts deploy` or set onchain.gateway_contract")?;
    let pool = context
        .peer("accountpool")
        .and_then(|p| p.transport.clone())
        .ok_or("the AccountPool cannot be reached from here")?;
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    // Rows and the stream's position belong to one deployment: a development chain started
    // afresh gives the same gateway hash again, but another block hash at its height.
    let instance = match chain.rpc.get_block_hash(start_block).await {
        Ok(block) if section.gateway_contract.is_none() => format!("{gateway}@{block}"),
        _ => gateway.to_string(),
    };
    let store = Store::open(
        context.database.clone(),
        context.clock.clone(),
        instance.clone(),
    )
    .await
    .map_err(|e| fail(&e))?;
    let bank = GasBank::open(context.database.clone())
        .await
        .map_err(|e| fail(&e))?
        .with_clock(context.clock.clone());
    let outbox = Outbox::open(context.database.clone(), context.clock.clone())
        .await
        .map_err(|e| fail(&e))?
        .with_lease(context.chain_work_lease());
    let mut served = HashMap::new();
    let mut service_events = HashMap::new();
    let mut contracts = Vec::new();
    for peer in &context.peers {
        let Some(on_chain) = peer.service.declaration().on_chain else {
            continue;
        };
        let Some(transport) = peer.transport.clone() else {
            tracing::warn!(
                service = peer.service.name(),
                "cannot reach the service: its contracts' requests wait"
            );
            continue;
        };
        let Some((contract, _)) = crate::admin::service(&chain.rpc, &gateway, on_chain.service_id)
            .await
            .map_err(|e| format!("{e:#}"))?
        else {
            tracing::warn!(
                service = on_chain.service_id,
                "the gateway has no contract registered for the service"
            );
            continue;
        };
        if let Some(event) = on_chain.request_event {
            service_events.insert(contract, event.to_owned());
        }
        contracts.push(ServedContract {
            service_id: on_chain.service_id.to_owned(),
            contract: contract.to_string(),
            fee: context.fees.fee(on_chain.fee, 0).unwrap_or_default(),
        });
        served.insert(
            on_chain.service_id.to_owned(),
            Served {
                on_chain,
                transport,
                contract,
            },
        );
    }
    let health = Arc::new(Mutex::new(Health::default()));
    let worker = Arc::new(Worker {
        store: store.clone(),
        bank: bank.clone(),
        outbox: outbox.clone(),
        chain: chain.clone(),
        gateway,
        served,
        pool: Arc::new(AccountPoolClient::new(pool)),
        fees: context.fees.clone(),
        clock: context.clock.clone(),
        settings: section.clone(),
        replica: uuid::Uuid::new_v4().to_string(),
        lease: context.chain_work_lease(),
        account: tokio::sync::Mutex::new(None),
        health: health.clone(),
        dev_owner: dev_owner(&context.settings.data_dir, context.mode),
    });
    let mut filter_contracts = vec![gateway];
    filter_contracts.extend(service_events.keys().copied());
    let mut names: Vec<String> = GATEWAY_EVENTS.iter().map(|n| (*n).to_owned()).collect();
    names.extend(service_events.values().cloned());
    let cursor = DbCursor::new(
        context.database.clone(),
        format!("onchain:{instance}"),
        context.clock.clone(),
    );
    let watcher = Watcher::new(store.clone(), bank, cursor.clone(), gateway, service_events);
    let stream = EventStream::new(
        chain.rpc.clone(),
        EventFilter {
            contracts: filter_contracts,
            names,
        },
        Arc::new(cursor),
        Arc::new(watcher),
        StreamConfig {
            start_block,
            poll_interval: Duration::from_millis(section.interval_ms.clamp(100, 1000)),
            ..StreamConfig::default()
        },
    );
    let api = Arc::new(Api {
        store: Ok(store),
        contracts: Contracts {
            network: Some(network),
            gateway: Some(gateway.to_string()),
            services: contracts,
        },
    });
    tracing::info!(%gateway, start_block, "serving contracts' requests");
    Ok(Started::new(crate::http::router(api))
        .readiness(Arc::new(OnChainReadiness(Ok(health))))
        .job("onchain-events", stream.run(context.shutdown.clone()))
        .job(
            "onchain-fulfilments",
            outbox.run(
                vec![worker.fulfilment_kind(), worker.push_kind()],
                chain,
                Duration::from_millis(section.interval_ms.max(50)),
                context.shutdown.clone(),
            ),
        )
        .job("onchain-worker", worker.run(context.shutdown.clone())))
}
