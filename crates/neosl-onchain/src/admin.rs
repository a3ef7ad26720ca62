//! Calls and reads of the gateway contract's administration, shared by the worker, `neosl
//! contracts` and `neosl devnet`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use neosl_chain::RpcClient;
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::{SignerEntry, Submitter, TxOutcome};
use neosl_neo::contract::{self, CallFlags};
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_neo::script::ScriptBuilder;
use neosl_neo::{PublicKey, UInt160};

/// Runs `method(args)` on `target` as `signer` (CalledByEntry) and waits: it must HALT.
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

/// Reads `method(args)` of `target` (a test invocation; nothing is sent).
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

/// The contract registered for `service_id`, and the keys the gateway accepts for it.
pub async fn service(
    rpc: &RpcClient,
    gateway: &UInt160,
    service_id: &str,
) -> Result<Option<(UInt160, Vec<PublicKey>)>> {
    let record = read(rpc, gateway, "getService", &[P::String(service_id.into())]).await?;
    let Some(fields) = record.as_array().filter(|f| f.len() == 2) else {
        return Ok(None);
    };
    let contract = fields[0]
        .as_bytes()
        .and_then(|b| UInt160::from_le_slice(&b).ok())
        .context("getService: not a contract hash")?;
    let keys = fields[1]
        .as_array()
        .unwrap_or(&[])
        .iter()
        .filter_map(StackItem::as_bytes)
        .filter_map(|b| PublicKey::from_slice(&b).ok())
        .collect();
    Ok(Some((contract, keys)))
}

/// The keys the gateway accepts for `service_id`'s fulfilments.
pub async fn service_keys(
    rpc: &RpcClient,
    gateway: &UInt160,
    service_id: &str,
) -> Result<Vec<PublicKey>> {
    Ok(service(rpc, gateway, service_id)
        .await?
        .map(|(_, keys)| keys)
        .unwrap_or_default())
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
