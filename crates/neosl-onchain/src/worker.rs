//! The worker: each round it expires what is overdue, has pending requests served (the fee
//! reserved from the requesting contract's GasBank account first), tests each served request's
//! fulfilment and puts the good ones, many to a transaction, in the outbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use neosl_accountpool_api::{AccountPoolApi, AccountView, PoolSigner, RenewLock, RequestAccounts};
use neosl_api::onchain::{FulfilAnswer, FulfilRequest};
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::SignerEntry;
use neosl_chainwork::{Built, Outbox, Outcome, WorkError, WorkItem, WorkKind};
use neosl_contracts::gateway::{self, Fulfilment};
use neosl_gasbank::{GasBank, GasBankError, Owner};
use neosl_neo::tx::Signer;
use neosl_neo::{Address, UInt160};
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::clock::SharedClock;
use neosl_runtime::service::{Chain, FeeSchedule, OnChain};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row};

use crate::OnChainSettings;
use crate::store::{Change, Request, Status, Store};
use crate::watcher::{fee_reference, settle_in};

/// The outbox kind of a batch of fulfilments.
pub const FULFILMENT: &str = "onchain.fulfilment";

/// A service that serves contracts, as the worker reaches it.
#[derive(Debug, Clone)]
pub struct Served {
    /// Its on-chain declaration.
    pub on_chain: OnChain,
    /// The way to it.
    pub transport: ServiceTransport,
    /// Its contract, as the gateway has it registered.
    pub contract: UInt160,
}

/// The account that sends fulfilments (a pool account, locked for the worker).
#[derive(Clone)]
pub struct FulfilmentAccount {
    /// The pool account.
    pub view: AccountView,
    /// The lock that holds it.
    pub lock_id: String,
    /// It as a transaction signer (the AccountPool signs).
    pub signer: Arc<PoolSigner>,
}

impl FulfilmentAccount {
    /// Its script hash.
    pub fn account(&self) -> UInt160 {
        self.signer.account()
    }
}

/// What the worker knows of its own health, for `/ready`.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Problems found in the last round.
    pub problems: Vec<String>,
    /// The fulfilment account, once there is one.
    pub account: Option<String>,
}

/// The worker.
pub struct Worker {
    pub(crate) store: Store,
    pub(crate) bank: GasBank,
    pub(crate) outbox: Outbox,
    pub(crate) chain: Chain,
    pub(crate) gateway: UInt160,
    pub(crate) served: HashMap<String, Served>,
    pub(crate) pool: Arc<dyn AccountPoolApi>,
    pub(crate) fees: Arc<FeeSchedule>,
    pub(crate) clock: SharedClock,
    pub(crate) settings: OnChainSettings,
    pub(crate) replica: String,
    pub(crate) lease: Duration,
    pub(crate) account: tokio::sync::Mutex<Option<FulfilmentAccount>>,
    pub(crate) health: Arc<Mutex<Health>>,
    /// The gateway's owner, when this is a development chain whose owner key is at hand.
    pub(crate) dev_owner: Option<Arc<dyn TxSigner>>,
}

/// One fulfilment in a batch, as the outbox item carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BatchItem {
    request_id: u64,
    success: bool,
    result: String,
    signature: String,
    skip_reason: String,
}

impl BatchItem {
    fn fulfilment(&self) -> std::result::Result<Fulfilment, WorkError> {
        let bytes = |h: &str| {
            hex::decode(h).map_err(|_| WorkError::Permanent("unreadable batch item".into()))
        };
        Ok(Fulfilment {
            request_id: self.request_id,
            success: self.success,
            result: bytes(&self.result)?,
            signature: bytes(&self.signature)?,
            skip_reason: self.skip_reason.clone(),
        })
    }
}

/// A batch of fulfilments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Batch {
    gateway: String,
    items: Vec<BatchItem>,
    /// What its transaction may cost the fulfilment account (system fee as tested, plus an
    /// allowance for the network fee), 10⁻⁸ GAS.
    #[serde(default)]
    gas: i64,
}

/// The network fee a batch may need beyond its system fee: per transaction and per
/// fulfilment (its bytes), 10⁻⁸ GAS; generous, so a batch never waits on a fee it underrated.
pub(crate) const NETWORK_FEE_PER_BATCH: i64 = 10_000_000;
const NETWORK_FEE_PER_ITEM: i64 = 1_000_000;

impl Worker {
    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// How long a claim on requests holds (the platform's chain-work lease): a replica that
    /// dies holding some leaves them to the others after this long.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// One round; answers how many requests moved.
    pub async fn round(&self) -> Result<usize> {
        let mut moved = self.expire_overdue().await?;
        let account = match self.fulfilment_account().await {
            Ok(account) => Some(account),
            Err(e) => {
                self.problem(format!("no fulfilment account: {e:#}"));
                None
            }
        };
        moved += self.serve_pending().await?;
        if let Some(account) = account {
            moved += self.batch_prepared(&account).await?;
            moved += self.push_all(&account).await?;
        }
        Ok(moved)
    }

    fn problem(&self, problem: String) {
        tracing::warn!(%problem, "the on-chain worker is not fully working");
        if let Ok(mut health) = self.health.lock()
            && !health.problems.contains(&problem)
        {
            health.problems.push(problem);
        }
    }

    /// Requests past their deadline that were never sent: expired, their fees released.
    async fn expire_overdue(&self) -> Result<usize> {
        let overdue = self.store.overdue(self.now(), 200).await?;
        for request in &overdue {
            let mut tx = self.store.database().pool().begin().await?;
            settle_in(
                &mut tx,
                &self.store,
                &self.bank,
                request.request_id,
                Status::Expired,
                Some("the deadline passed before it could be fulfilled"),
                None,
            )
            .await?;
            tx.commit().await?;
        }
        Ok(overdue.len())
    }

    async fn serve_pending(&self) -> Result<usize> {
        let claimed = self
            .store
            .claim(
                &self.replica,
                &[Status::Pending, Status::WaitingForBalance],
                i64::try_from(self.settings.batch_size).unwrap_or(16) * 4,
                self.lease_ms(),
            )
            .await?;
        let mut moved = 0;
        for request in claimed {
            match self.serve(&request).await {
                Ok(true) => moved += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), request = request.request_id, "serving a request failed; retrying later");
                }
            }
        }
        Ok(moved)
    }

    /// Reserves the fee and has the service answer; `true` when the request moved on.
    async fn serve(&self, request: &Request) -> Result<bool> {
        let Some(served) = self.served.get(&request.service_id) else {
            return self
                .set(
                    request,
                    Change::to(
                        Status::Failed,
                        Some("this platform does not serve that service"),
                    ),
                )
                .await;
        };
        let needs_event = served.on_chain.request_event.is_some();
        if needs_event && request.event.is_none() {
            // Its service contract's event has not been seen yet: leave it for later.
            self.store
                .update(
                    &self.replica,
                    request.request_id,
                    Change::to(request.status, request.reason.as_deref()),
                )
                .await?;
            return Ok(false);
        }
        let fee = self
            .fees
            .fee(served.on_chain.fee, 0)
            .context("the service's fee is not in the schedule")?;
        let reference = fee_reference(self.store.gateway(), request.request_id);
        if fee > 0 {
            let owner = Owner::Contract(request.requester.clone());
            let held_until = request.deadline.saturating_add(10 * 60 * 1000);
            match self
                .bank
                .reserve_until(&owner, fee, &reference, served.on_chain.fee, held_until)
                .await
            {
                Ok(_) => {}
                Err(GasBankError::InsufficientBalance {
                    available,
                    required,
                }) => {
                    let reason = format!(
                        "the contract's GasBank account holds {available} (10^-8 GAS) available; the fee is {required}: fund it with pay-contract"
                    );
                    if request.status != Status::WaitingForBalance {
                        tracing::info!(request = request.request_id, requester = %request.requester, "waiting for the contract's balance");
                    }
                    return self
                        .set(
                            request,
                            Change::to(Status::WaitingForBalance, Some(&reason)),
                        )
                        .await
                        .map(|_| false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let call = FulfilRequest {
            network: self.chain.submitter.network(),
            gateway: self.gateway.to_string(),
            request_id: request.request_id,
            requester: request.requester.clone(),
            payload: request.payload.clone(),
            event: request.event.clone(),
        };
        let answer: FulfilAnswer = match served
            .transport
            .call(
                neosl_api::Method::POST,
                served.on_chain.fulfil_path,
                Some(&call),
            )
            .await
        {
            Ok(answer) => answer,
            Err(neosl_api::TransportError::Api {
                status,
                code,
                message,
            }) if status < 500 => {
                let reason = format!("the service refused it: {code}: {message}");
                let _ = self.bank.release(&reference).await;
                return self
                    .set(request, Change::to(Status::Failed, Some(&reason)))
                    .await;
            }
            Err(e) => {
                self.store
                    .update(
                        &self.replica,
                        request.request_id,
                        Change::to(Status::Pending, None),
                    )
                    .await?;
                return Err(e.into());
            }
        };
        self.set(
            request,
            Change {
                status: Status::Prepared,
                reason: None,
                fee: Some(fee),
                success: Some(answer.success),
                result: Some(&answer.result),
                signature: Some(&answer.signature),
                batch: None,
            },
        )
        .await
    }

    async fn set(&self, request: &Request, change: Change<'_>) -> Result<bool> {
        Ok(self
            .store
            .update(&self.replica, request.request_id, change)
            .await?)
    }

    /// Tests each prepared fulfilment alone (with its callback, then without when the callback
    /// would fault or cost too much) and puts the good ones in one outbox item.
    async fn batch_prepared(&self, account: &FulfilmentAccount) -> Result<usize> {
        let claimed = self
            .store
            .claim(
                &self.replica,
                &[Status::Prepared],
                i64::try_from(self.settings.batch_size).unwrap_or(16),
                self.lease_ms(),
            )
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut budget = self.spendable(account).await?;
        let mut gas = NETWORK_FEE_PER_BATCH;
        let mut items = Vec::new();
        let mut short = 0;
        for request in &claimed {
            let (Some(success), Some(result), Some(signature)) =
                (request.success, &request.result, &request.signature)
            else {
                self.set(request, Change::to(Status::Pending, None)).await?;
                continue;
            };
            let mut item = BatchItem {
                request_id: request.request_id,
                success,
                result: result.clone(),
                signature: signature.clone(),
                skip_reason: String::new(),
            };
            let cost = match self.test(account, &item).await? {
                Tested::Fine(cost) => cost,
                Tested::Skip(reason, cost) => {
                    item.skip_reason = reason;
                    cost
                }
                Tested::Invalid(reason) => {
                    tracing::warn!(request = request.request_id, %reason, "the fulfilment itself faults");
                    let _ = self
                        .bank
                        .release(&fee_reference(self.store.gateway(), request.request_id))
                        .await;
                    self.set(request, Change::to(Status::Failed, Some(&reason)))
                        .await?;
                    continue;
                }
            };
            let cost = cost + NETWORK_FEE_PER_ITEM;
            if gas + cost > budget {
                // The account cannot pay for it yet: back to the queue until a top-up lands.
                short += cost;
                self.set(request, Change::to(Status::Prepared, None))
                    .await?;
                continue;
            }
            gas += cost;
            items.push(item);
        }
        if short > 0 {
            budget -= gas;
            self.top_up(account, short - budget.min(0)).await?;
        }
        if items.is_empty() {
            return Ok(0);
        }
        let batch_id = uuid::Uuid::new_v4().to_string();
        let payload = serde_json::to_value(Batch {
            gateway: self.gateway.to_string(),
            items: items.clone(),
            gas,
        })?;
        let mut tx = self.store.database().pool().begin().await?;
        self.outbox
            .plan_in(&mut tx, FULFILMENT, &batch_id, &payload)
            .await?;
        for item in &items {
            let change = Change {
                batch: Some(&batch_id),
                ..Change::to(Status::Batched, None)
            };
            if !self
                .store
                .update_in(&mut tx, &self.replica, item.request_id, change)
                .await?
            {
                // Our claim ran out and another replica holds the request now: a request
                // must never be in two batches, so this one is not planned at all.
                tracing::warn!(
                    request = item.request_id,
                    "a claim expired while batching; the batch is dropped"
                );
                return Ok(0);
            }
        }
        tx.commit().await?;
        let batched = items.len();
        tracing::info!(batch = %batch_id, requests = batched, "fulfilments planned");
        Ok(batched)
    }

    async fn test(&self, account: &FulfilmentAccount, item: &BatchItem) -> Result<Tested> {
        let signers = [Signer::called_by_entry(account.account())];
        let signers = &signers;
        let run = |item: &BatchItem| {
            let f = item.fulfilment();
            async move {
                let f = f.map_err(|e| anyhow::anyhow!("{e}"))?;
                let script = gateway::fulfil_script(&self.gateway, &[f])?;
                Ok::<_, anyhow::Error>(self.chain.rpc.invoke_script(&script, signers).await?)
            }
        };
        let with_callback = run(item).await?;
        let without_item = BatchItem {
            skip_reason: "measuring the callback".into(),
            ..item.clone()
        };
        if with_callback.halted() {
            // What the callback itself costs: the fulfilment with it, less without it.
            let without = run(&without_item).await?;
            let callback_gas = with_callback.gasconsumed - without.gasconsumed;
            return Ok(if callback_gas > self.settings.max_callback_gas {
                Tested::Skip(
                    format!(
                        "callback_gas_exceeded: the callback needs {callback_gas} (10^-8 GAS), more than {}",
                        self.settings.max_callback_gas
                    ),
                    without.gasconsumed,
                )
            } else {
                Tested::Fine(with_callback.gasconsumed)
            });
        }
        let exception = with_callback.exception.unwrap_or_else(|| "FAULT".into());
        let reason = format!("the callback would fault: {exception}");
        let skipped = BatchItem {
            skip_reason: reason.clone(),
            ..item.clone()
        };
        let without = run(&skipped).await?;
        Ok(if without.halted() {
            Tested::Skip(reason, without.gasconsumed)
        } else {
            Tested::Invalid(without.exception.unwrap_or(exception))
        })
    }
    /// The fulfilment account: the one recorded for this gateway, else a new pool account
    /// (registered on chain by the owner: automatically on a development chain whose owner
    /// key is at hand). Its lock is renewed on the way.
    pub async fn fulfilment_account(&self) -> Result<FulfilmentAccount> {
        let mut slot = self.account.lock().await;
        if let Some(account) = slot.as_ref() {
            return Ok(account.clone());
        }
        let grant = match self.recorded_lock().await? {
            Some(lock_id) => self
                .pool
                .renew_lock(RenewLock {
                    service_id: None,
                    lock_id,
                })
                .await
                .context("renewing the fulfilment account's lock")?,
            None => {
                // No database transaction is held across the pool's call (on SQLite the one
                // connection would wait for itself): replicas that race each record an
                // account, and all keep the oldest record; the others give theirs back.
                let grant = self
                    .pool
                    .request_accounts(RequestAccounts {
                        service_id: None,
                        count: 1,
                        purpose: "fulfilment".into(),
                    })
                    .await
                    .context("locking a pool account for fulfilments")?;
                let account = grant
                    .accounts
                    .first()
                    .context("the pool granted no account")?;
                sqlx::query(
                    "INSERT INTO onchain_accounts (gateway, account_id, lock_id, address, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (gateway, account_id) DO NOTHING",
                )
                .bind(self.store.gateway())
                .bind(&account.id)
                .bind(&grant.lock_id)
                .bind(&account.address)
                .bind(self.now())
                .execute(self.store.database().pool())
                .await?;
                let kept = self.recorded_lock().await?.context("the record vanished")?;
                if kept != grant.lock_id {
                    let _ = self
                        .pool
                        .release_accounts(neosl_accountpool_api::ReleaseAccounts {
                            service_id: None,
                            lock_id: Some(grant.lock_id.clone()),
                            account_ids: None,
                            all: None,
                        })
                        .await;
                    drop(slot);
                    return Box::pin(self.fulfilment_account()).await;
                }
                tracing::info!(address = %account.address, "a pool account sends fulfilments; register it as a TEE account on the gateway");
                grant
            }
        };
        let view = grant
            .accounts
            .first()
            .context("the lock holds no account")?
            .clone();
        let signer = Arc::new(PoolSigner::new(self.pool.clone(), &view)?);
        let account = FulfilmentAccount {
            view,
            lock_id: grant.lock_id,
            signer,
        };
        self.ensure_registered(&account).await?;
        if let Ok(mut health) = self.health.lock() {
            health.account = Some(account.view.address.clone());
        }
        *slot = Some(account.clone());
        Ok(account)
    }

    /// The lock of the recorded fulfilment account (the oldest record), if any.
    async fn recorded_lock(&self) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT lock_id FROM onchain_accounts WHERE gateway = $1 ORDER BY created_at, account_id LIMIT 1",
        )
        .bind(self.store.gateway())
        .fetch_optional(self.store.database().pool())
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?)
    }

    /// Checks (and on a development chain makes) the account a TEE account and every served
    /// service's key a TEE key; what is missing is reported in `/ready`.
    async fn ensure_registered(&self, account: &FulfilmentAccount) -> Result<()> {
        let rpc = &self.chain.rpc;
        let mut missing = Vec::new();
        if !crate::admin::is_tee_account(rpc, &self.gateway, &account.account()).await? {
            match &self.dev_owner {
                Some(owner) => {
                    crate::admin::ensure_tee_account(
                        &self.chain.submitter,
                        owner.clone(),
                        &self.gateway,
                        &account.account(),
                    )
                    .await?;
                    tracing::info!(address = %account.view.address, "development chain: registered the fulfilment account");
                }
                None => missing.push(format!(
                    "the fulfilment account {} is not a TEE account of the gateway (neosl contracts add-tee-account)",
                    account.view.address
                )),
            }
        }
        for served in self.served.values() {
            let key = published_key(&served.transport, served.on_chain.tee_key).await?;
            let known =
                crate::admin::service_keys(rpc, &self.gateway, served.on_chain.service_id).await?;
            if known.contains(&key) {
                continue;
            }
            match &self.dev_owner {
                Some(owner) => {
                    crate::admin::ensure_tee_key(
                        &self.chain.submitter,
                        owner.clone(),
                        &self.gateway,
                        served.on_chain.service_id,
                        &key,
                    )
                    .await?;
                    tracing::info!(service = served.on_chain.service_id, "development chain: registered the service's TEE key");
                }
                None => missing.push(format!(
                    "the {} service's key {key} is not a TEE key of the gateway (neosl contracts deploy registers it)",
                    served.on_chain.service_id
                )),
            }
        }
        if let Ok(mut health) = self.health.lock() {
            health.problems = missing;
        }
        Ok(())
    }

    /// Renews the fulfilment account's lock and tops its GAS up from the treasury when low.
    pub async fn upkeep(&self) -> Result<()> {
        let account = self.fulfilment_account().await?;
        self.pool
            .renew_lock(RenewLock {
                service_id: None,
                lock_id: account.lock_id.clone(),
            })
            .await
            .context("renewing the fulfilment account's lock")?;
        let gas = self.balance(account.account()).await?;
        if gas < self.settings.min_account_gas {
            self.top_up(&account, self.settings.min_account_gas - gas)
                .await?;
        }
        Ok(())
    }

    /// The account's GAS on chain, 10⁻⁸.
    async fn balance(&self, account: UInt160) -> Result<i64> {
        let gas = self
            .chain
            .rpc
            .get_nep17_balances(&account)
            .await?
            .of(&neosl_neo::native::GAS);
        Ok(i64::try_from(&gas).unwrap_or(i64::MAX))
    }

    /// What the account can still spend on new batches: its GAS less what the batches on
    /// their way may cost (read first, so a batch confirmed meanwhile counts twice, never
    /// zero times: the node refuses a sender whose pending transactions exceed its GAS).
    pub(crate) async fn spendable(&self, account: &FulfilmentAccount) -> Result<i64> {
        let mut tx = self.store.database().pool().begin().await?;
        let batches: i64 = self
            .outbox
            .open_items_of_in(&mut tx, FULFILMENT)
            .await?
            .iter()
            .filter_map(|item| serde_json::from_value::<Batch>(item.payload.clone()).ok())
            .map(|batch| batch.gas)
            .sum();
        let pushes: i64 = self
            .outbox
            .open_items_of_in(&mut tx, crate::push::PUSH)
            .await?
            .iter()
            .filter_map(|item| {
                serde_json::from_value::<crate::push::Push>(item.payload.clone()).ok()
            })
            .map(|push| push.gas)
            .sum();
        let committed = batches + pushes;
        tx.commit().await?;
        Ok(self.balance(account.account()).await? - committed)
    }

    /// Asks the treasury for at least `missing` more GAS (and the configured top-up at least)
    /// unless a top-up to this account is already on its way.
    pub(crate) async fn top_up(&self, account: &FulfilmentAccount, missing: i64) -> Result<()> {
        let address = Address::parse(&account.view.address)?;
        let amount = self
            .settings
            .top_up_gas
            .max(missing.saturating_add(self.settings.min_account_gas));
        if neosl_gasbank::withdrawals::request_top_up(&self.outbox, &address, amount, self.now())
            .await?
        {
            tracing::warn!(address = %account.view.address, amount, "the fulfilment account runs low on GAS: a top-up from the treasury is planned");
        }
        Ok(())
    }

    /// Runs rounds until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.settings.interval_ms.max(50));
        let mut last_upkeep = 0i64;
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %format!("{e:#}"), "the on-chain round failed; retrying");
            }
            if self.now() - last_upkeep > 60_000 {
                match self.upkeep().await {
                    Ok(()) => last_upkeep = self.now(),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "on-chain upkeep failed"),
                }
            }
            if neosl_runtime::service::pause(interval, &mut shutdown).await {
                return;
            }
        }
    }

    /// The outbox kind that sends this worker's batches.
    pub fn fulfilment_kind(self: &Arc<Self>) -> Arc<dyn WorkKind> {
        Arc::new(FulfilmentKind {
            worker: self.clone(),
        })
    }
}

/// The key a service publishes for `purpose`, read from its `/info`.
async fn published_key(
    transport: &ServiceTransport,
    purpose: &str,
) -> Result<neosl_neo::PublicKey> {
    let info: serde_json::Value = transport
        .call::<(), _>(neosl_api::Method::GET, "/info", None)
        .await?;
    let hex_key = info["public_keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["purpose"] == purpose)
        .and_then(|k| k["public_key"].as_str())
        .with_context(|| format!("the service publishes no {purpose} key"))?;
    Ok(neosl_neo::PublicKey::from_slice(&hex::decode(hex_key)?)?)
}

/// A fulfilment tested alone: what it costs (system fee, 10⁻⁸ GAS) as it will be sent.
enum Tested {
    Fine(i64),
    Skip(String, i64),
    Invalid(String),
}

/// Sends batches from the fulfilment account and settles them with what the chain says.
struct FulfilmentKind {
    worker: Arc<Worker>,
}

#[async_trait]
impl WorkKind for FulfilmentKind {
    fn kind(&self) -> &'static str {
        FULFILMENT
    }

    fn max_attempts(&self) -> i64 {
        10
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let batch: Batch = serde_json::from_value(item.payload.clone())
            .map_err(|e| WorkError::Permanent(format!("unreadable batch: {e}")))?;
        let gateway = UInt160::parse_display(&batch.gateway)
            .map_err(|e| WorkError::Permanent(e.to_string()))?;
        let fulfilments = batch
            .items
            .iter()
            .map(BatchItem::fulfilment)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let script = gateway::fulfil_script(&gateway, &fulfilments)
            .map_err(|e| WorkError::Permanent(e.to_string()))?;
        let account = self
            .worker
            .fulfilment_account()
            .await
            .map_err(|e| WorkError::Transient(format!("{e:#}")))?;
        let signers = [SignerEntry::called_by_entry(account.signer.clone())];
        let transaction = chain.submitter.build(script, &signers, vec![]).await?;
        Ok(Built { transaction })
    }

    async fn settle(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> std::result::Result<(), sqlx::Error> {
        let store = &self.worker.store;
        match outcome {
            Outcome::Confirmed {
                tx_hash,
                notifications,
                ..
            } => {
                let gateway = self.worker.gateway.to_string();
                for n in notifications
                    .iter()
                    .filter(|n| n.contract == gateway && n.name == "RequestFulfilled")
                {
                    let Ok(state) = neosl_neo::param::StackItem::from_json(&n.state) else {
                        continue;
                    };
                    let fields = state.as_array().unwrap_or(&[]);
                    let int = |i: usize| {
                        fields
                            .get(i)
                            .and_then(|f| f.as_integer())
                            .and_then(|n| i64::try_from(n).ok())
                    };
                    let (Some(id), Some(code)) = (int(0), int(2)) else {
                        continue;
                    };
                    let status = if code == 2 {
                        Status::CallbackFailed
                    } else {
                        Status::Fulfilled
                    };
                    let reason = fields
                        .get(3)
                        .and_then(|r| r.as_string())
                        .filter(|r| !r.is_empty());
                    settle_in(
                        tx,
                        store,
                        &self.worker.bank,
                        u64::try_from(id).unwrap_or_default(),
                        status,
                        reason.as_deref(),
                        Some(tx_hash),
                    )
                    .await?;
                }
                // Anything of the batch the chain did not report goes back to be retried.
                store.unbatch_in(tx, &item.reference).await?;
            }
            Outcome::Faulted { .. } | Outcome::Failed { .. } => {
                tracing::warn!(batch = %item.reference, ?outcome, "a fulfilment batch failed; its requests are tried again");
                store.unbatch_in(tx, &item.reference).await?;
            }
        }
        Ok(())
    }
}
