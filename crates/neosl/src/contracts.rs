//! Deploying the platform's contracts and the owner's administration of the gateway: used by
//! `neosl contracts deploy`, `neosl devnet` and the tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use neosl_chain::RpcClient;
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::{SignerEntry, Submitter, TxOutcome};
use neosl_contracts::{EXAMPLE_CONSUMER, GATEWAY, VRF_SERVICE};
use neosl_neo::contract::{self, CallFlags};
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_neo::script::ScriptBuilder;
use neosl_neo::{PublicKey, UInt160};
use serde::{Deserialize, Serialize};

/// The file, in the data directory, where the deployed hashes are kept (settings read it).
pub const DEPLOYED_FILE: &str = "contracts.json";

/// Where the platform's contracts are on one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The network magic.
    pub network: u32,
    /// `ServiceLayerGateway`.
    pub gateway: UInt160,
    /// `VRFService`.
    pub vrf_service: UInt160,
    /// `ExampleConsumer`.
    pub example_consumer: UInt160,
}

impl Deployed {
    /// Each contract's name and hash.
    pub fn list(&self) -> [(&'static str, UInt160); 3] {
        [
            (GATEWAY.name, self.gateway),
            (VRF_SERVICE.name, self.vrf_service),
            (EXAMPLE_CONSUMER.name, self.example_consumer),
        ]
    }

    /// Writes them to `dir/contracts.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(DEPLOYED_FILE), serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", dir.join(DEPLOYED_FILE).display()))
    }

    /// Reads `dir/contracts.json`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        match std::fs::read(dir.join(DEPLOYED_FILE)) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("reading {}", dir.join(DEPLOYED_FILE).display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs `method(args)` on `contract` as `signer` (CalledByEntry) and waits: it must HALT.
pub async fn call_as(
    submitter: &Submitter,
    signer: Arc<dyn TxSigner>,
    target: &UInt160,
    method: &str,
    args: &[P],
) -> Result<TxOutcome> {
    let mut sb = ScriptBuilder::new();
    contract::call(&mut sb, target, method, CallFlags::ALL, args)?;
    let outcome = submitter
        .submit_and_wait(
            sb.into_bytes(),
            &[SignerEntry::called_by_entry(signer)],
            Duration::from_secs(60),
        )
        .await?;
    if !outcome.halted() {
        bail!(
            "{method} faulted: {}",
            outcome.exception.as_deref().unwrap_or("no exception")
        );
    }
    Ok(outcome)
}

/// Reads `method(args)` of `contract` (a test invocation; nothing is sent).
pub async fn read(
    rpc: &RpcClient,
    target: &UInt160,
    method: &str,
    args: &[P],
) -> Result<StackItem> {
    let result = rpc.invoke_function(target, method, args, &[]).await?;
    if !result.halted() {
        bail!(
            "{method} faulted: {}",
            result.exception.as_deref().unwrap_or("no exception")
        );
    }
    result
        .stack
        .into_iter()
        .next()
        .with_context(|| format!("{method} answered nothing"))
}

/// Deploys the gateway (owned by `owner`), the VRF service and the example consumer, and
/// registers the VRF service with the gateway.
pub async fn deploy(submitter: &Submitter, owner: Arc<dyn TxSigner>) -> Result<Deployed> {
    let deploy = |contract: neosl_contracts::Contract, data: P| {
        let owner = owner.clone();
        async move {
            neosl_devnet::deploy_contract_with(
                submitter,
                owner,
                contract.nef,
                contract.manifest,
                Some(data),
            )
            .await
            .with_context(|| format!("deploying {}", contract.name))
        }
    };
    let gateway = deploy(GATEWAY, P::Hash160(owner.account())).await?;
    let vrf_service = deploy(VRF_SERVICE, P::Hash160(gateway)).await?;
    let example_consumer = deploy(EXAMPLE_CONSUMER, P::Hash160(gateway)).await?;
    call_as(
        submitter,
        owner,
        &gateway,
        "registerService",
        &[
            P::String(neosl_contracts::vrf::SERVICE_ID.into()),
            P::Hash160(vrf_service),
        ],
    )
    .await?;
    Ok(Deployed {
        network: submitter.network(),
        gateway,
        vrf_service,
        example_consumer,
    })
}

/// The keys the gateway accepts for `service_id`'s fulfilments.
pub async fn service_keys(
    rpc: &RpcClient,
    gateway: &UInt160,
    service_id: &str,
) -> Result<Vec<PublicKey>> {
    let record = read(rpc, gateway, "getService", &[P::String(service_id.into())]).await?;
    let Some(fields) = record.as_array() else {
        return Ok(Vec::new());
    };
    let keys = fields.get(1).and_then(StackItem::as_array).unwrap_or(&[]);
    Ok(keys
        .iter()
        .filter_map(|k| k.as_bytes())
        .filter_map(|b| PublicKey::from_slice(&b).ok())
        .collect())
}

/// Adds `key` as a TEE key of `service_id` (owner only), unless it is there already.
pub async fn ensure_tee_key(
    submitter: &Submitter,
    owner: Arc<dyn TxSigner>,
    gateway: &UInt160,
    service_id: &str,
    key: &PublicKey,
) -> Result<bool> {
    if service_keys(submitter.rpc(), gateway, service_id)
        .await?
        .contains(key)
    {
        return Ok(false);
    }
    call_as(
        submitter,
        owner,
        gateway,
        "addTeeKey",
        &[P::String(service_id.into()), P::PublicKey(*key)],
    )
    .await?;
    Ok(true)
}

/// Whether `account` may send fulfilments.
pub async fn is_tee_account(rpc: &RpcClient, gateway: &UInt160, account: &UInt160) -> Result<bool> {
    Ok(read(rpc, gateway, "isTeeAccount", &[P::Hash160(*account)])
        .await?
        .as_bool()
        .unwrap_or(false))
}

/// Registers `account` as a TEE account (owner only), unless it is one already.
pub async fn ensure_tee_account(
    submitter: &Submitter,
    owner: Arc<dyn TxSigner>,
    gateway: &UInt160,
    account: &UInt160,
) -> Result<bool> {
    if is_tee_account(submitter.rpc(), gateway, account).await? {
        return Ok(false);
    }
    call_as(
        submitter,
        owner,
        gateway,
        "addTeeAccount",
        &[P::Hash160(*account)],
    )
    .await?;
    Ok(true)
}
