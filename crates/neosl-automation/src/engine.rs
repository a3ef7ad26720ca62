//! The engine: registration checks, the evaluators that turn conditions into firings, and the
//! executor that turns firings into paid, recorded transactions.
//!
//! Evaluators never walk every trigger: cron triggers are read by `next_fire_at`, price
//! triggers by pair and threshold when a pair has a new round, event triggers by (contract,
//! name) per notification, threshold triggers by subject (one balance read per address). Every
//! firing goes through [`Store::insert_firing_in`]'s unique key, so it exists once whoever
//! records it; the executor claims it, checks, reserves the owner's fee, test-invokes and plans
//! the transaction in the outbox, whose settlement records the outcome and charges.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use neosl_accountpool_api::{AccountPoolApi, AccountView, PoolSigner, RenewLock, RequestAccounts};
use neosl_chain::events::{BoxError, ChainEvent, EventHandler};
use neosl_chain::submit::SignerEntry;
use neosl_chainwork::{Built, Outbox, Outcome, WorkError, WorkItem, WorkKind};
use neosl_gasbank::{GasBank, GasBankError, Owner};
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_neo::tx::Signer;
use neosl_neo::{Address, UInt160};
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::clock::SharedClock;
use neosl_runtime::service::{Chain, FeeSchedule};
use serde::{Deserialize, Serialize};
use sqlx::Any;

use crate::cron::Cron;
use crate::error::AutomationError;
use crate::settings::AutomationSettings;
use crate::spec::{
    ActionArg, CatchUp, Condition, Direction, Subject, TriggerSpec, contract_hash, price_threshold,
    token_hash,
};
use crate::store::{Firing, Indexed, NewFiring, Store, Trigger};

/// The outbox kind of an execution.
pub const EXECUTION: &str = "automation.execution";

/// The fee name.
pub const FEE: &str = "automation";

/// The network fee allowed per execution beyond its system fee (10⁻⁸ GAS).
const NETWORK_FEE_ALLOWANCE: i64 = 5_000_000;

/// The account that sends this replica's executions.
#[derive(Clone)]
struct SenderAccount {
    view: AccountView,
    lock_id: String,
    signer: Arc<PoolSigner>,
}

/// The Automation service.
pub struct Automation {
    pub(crate) store: Store,
    pub(crate) bank: GasBank,
    pub(crate) outbox: Outbox,
    pub(crate) chain: Option<Chain>,
    pub(crate) pool: Option<Arc<dyn AccountPoolApi>>,
    pub(crate) datafeeds: Option<ServiceTransport>,
    pub(crate) fees: Arc<FeeSchedule>,
    pub(crate) clock: SharedClock,
    pub(crate) settings: AutomationSettings,
    pub(crate) replica: String,
    account: tokio::sync::Mutex<Option<SenderAccount>>,
    /// Signs answers to contracts' registrations.
    key: Option<neosl_crypto::ecdsa::SigningKey>,
}

impl std::fmt::Debug for Automation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Automation")
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

/// An execution as the outbox item carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Execution {
    firing_id: String,
    trigger_id: String,
    owner: String,
    script: String,
    /// The reservation that pays for it.
    reservation: String,
    /// How much it holds.
    reserved: i64,
    /// What its transaction may cost the sending account (10⁻⁸ GAS).
    #[serde(default)]
    cost: i64,
    /// The Automation fee.
    fee: i64,
}

fn owner_of(account: &str) -> Owner {
    match account.split_once(':') {
        Some(("contract", hash)) => Owner::Contract(hash.to_owned()),
        Some((_, id)) => Owner::User(id.to_owned()),
        None => Owner::User(account.to_owned()),
    }
}

/// The value of a stack item as the filters compare it, by its type: an integer in decimal, a
/// boolean as `true`/`false`, a byte string as its UTF-8 text, as `0x` hex, or (20 bytes) as a
/// script hash in display form. An integer never matches as bytes (50 is not "2").
fn item_matches(item: &StackItem, expected: &str) -> bool {
    match item {
        StackItem::Integer(n) => n.to_string() == expected,
        StackItem::Boolean(b) => b.to_string() == expected,
        StackItem::ByteString(b) | StackItem::Buffer(b) => {
            std::str::from_utf8(b).is_ok_and(|s| s == expected)
                || expected
                    .strip_prefix("0x")
                    .is_some_and(|h| h.eq_ignore_ascii_case(&hex::encode(b)))
                || <[u8; 20]>::try_from(b.as_slice()).is_ok_and(|bytes| {
                    UInt160::from_le_bytes(bytes)
                        .to_string()
                        .eq_ignore_ascii_case(expected)
                })
        }
        _ => false,
    }
}

impl Automation {
    /// The engine.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        bank: GasBank,
        outbox: Outbox,
        chain: Option<Chain>,
        pool: Option<Arc<dyn AccountPoolApi>>,
        datafeeds: Option<ServiceTransport>,
        fees: Arc<FeeSchedule>,
        clock: SharedClock,
        settings: AutomationSettings,
    ) -> Self {
        Self {
            store,
            bank,
            outbox,
            chain,
            pool,
            datafeeds,
            fees,
            clock,
            settings,
            replica: uuid::Uuid::new_v4().to_string(),
            account: tokio::sync::Mutex::new(None),
            key: None,
        }
    }

    /// With the key that signs answers to contracts.
    pub fn with_signing_key(mut self, key: neosl_crypto::ecdsa::SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Serves a contract's registration through the gateway: the payload is the trigger as
    /// JSON, owned by the requesting contract (its GasBank account pays); the result is the
    /// trigger id, or — `success = false` — the refusal's stable code.
    pub async fn fulfil(
        &self,
        request: &neosl_api::onchain::FulfilRequest,
    ) -> Result<neosl_api::onchain::FulfilAnswer, AutomationError> {
        use neosl_runtime::error::DomainError as _;
        let requester = contract_hash(&request.requester)?;
        let outcome = match hex::decode(&request.payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<TriggerSpec>(&bytes).ok())
        {
            None => Err(AutomationError::InvalidTrigger(
                "the payload is not a trigger".into(),
            )),
            Some(spec) => self.register(&format!("contract:{requester}"), spec).await,
        };
        let (success, result) = match outcome {
            Ok(trigger) => (true, trigger.id.into_bytes()),
            Err(e @ (AutomationError::Database(_) | AutomationError::ChainUnavailable(_))) => {
                // Not the contract's mistake: answered later, when the service can.
                return Err(e);
            }
            Err(e) => (false, e.code().as_bytes().to_vec()),
        };
        let gateway = UInt160::parse_display(&request.gateway)
            .map_err(|e| AutomationError::InvalidTrigger(e.to_string()))?;
        let message = neosl_contracts::gateway::fulfilment_message(
            request.network,
            &gateway,
            request.request_id,
            success,
            &result,
        );
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| AutomationError::Database("no signing key".into()))?;
        let signature = key
            .sign(&message)
            .map_err(|e| AutomationError::Database(e.to_string()))?;
        Ok(neosl_api::onchain::FulfilAnswer {
            success,
            result: hex::encode(result),
            signature: hex::encode(signature.to_bytes()),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn fee(&self) -> i64 {
        self.fees.fee(FEE, 0).unwrap_or(0)
    }

    fn chain(&self) -> Result<&Chain, AutomationError> {
        self.chain
            .as_ref()
            .ok_or_else(|| AutomationError::ChainUnavailable("no chain is configured".into()))
    }

    // ----- registration -----

    /// Checks `spec` fully (the chain for contracts, DataFeeds for pairs) and registers it
    /// for `owner` (a GasBank account id).
    pub async fn register(
        &self,
        owner: &str,
        spec: TriggerSpec,
    ) -> Result<Trigger, AutomationError> {
        spec.check(self.settings.max_gas_limit)?;
        let now = self.now();
        let mut indexed = Indexed::default();
        match &spec.condition {
            Condition::Cron {
                expression,
                start_at,
                end_at,
            } => {
                let cron =
                    Cron::parse(expression).map_err(|e| AutomationError::InvalidCron(e.0))?;
                let from = start_at.map_or(now, |s| (s - 1).max(now));
                let next = cron
                    .next_after(from)
                    .filter(|n| end_at.is_none_or(|e| *n <= e));
                if next.is_none() {
                    return Err(AutomationError::InvalidCron(
                        "the expression never fires in its window".into(),
                    ));
                }
                indexed.next_fire_at = next;
            }
            Condition::Price {
                pair,
                direction,
                threshold,
                rearm,
            } => {
                let (pair, current) = self.known_pair(pair).await?;
                let threshold = price_threshold(threshold)?;
                // Where the price is now decides whether the next crossing fires: a trigger
                // registered while the condition already holds waits for it to cross.
                indexed.cross_state = current.map(|price| {
                    if direction.met(price, threshold) {
                        "waiting"
                    } else {
                        "armed"
                    }
                    .to_owned()
                });
                indexed.pair = Some(pair);
                indexed.direction = Some(direction_name(*direction).into());
                indexed.threshold = Some(threshold);
                indexed.rearm = *rearm;
            }
            Condition::Threshold {
                direction,
                amount,
                rearm,
                ..
            } => {
                indexed.direction = Some(direction_name(*direction).into());
                indexed.threshold = Some(*amount);
                indexed.rearm = *rearm;
            }
            Condition::Event {
                contract, event, ..
            } => {
                let hash = contract_hash(contract)?;
                let manifest = self.manifest(&hash).await?;
                let declared = manifest["abi"]["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["name"] == event.as_str());
                if !declared {
                    return Err(AutomationError::InvalidCondition(format!(
                        "the contract declares no event {event:?}"
                    )));
                }
                indexed.event = Some((hash.to_string(), event.clone()));
            }
        }
        self.check_action(&spec).await?;
        let trigger = self
            .store
            .insert(
                owner,
                &spec,
                &indexed,
                self.settings.max_triggers_per_owner,
                now,
            )
            .await?;
        tracing::info!(trigger = %trigger.id, kind = %trigger.kind, "trigger registered");
        Ok(trigger)
    }

    /// The pair as DataFeeds names it, and its latest price if it has one.
    async fn known_pair(&self, pair: &str) -> Result<(String, Option<i64>), AutomationError> {
        let normalized = pair.replace(['-', '_'], "/").to_ascii_uppercase();
        let transport = self
            .datafeeds
            .as_ref()
            .ok_or_else(|| AutomationError::UnknownPair(normalized.clone()))?;
        let prices: serde_json::Value = transport
            .call::<(), _>(neosl_api::Method::GET, "/datafeeds/prices", None)
            .await
            .map_err(|e| AutomationError::ChainUnavailable(format!("DataFeeds: {e}")))?;
        let known = prices["prices"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["pair"] == normalized.as_str())
            .ok_or_else(|| AutomationError::UnknownPair(normalized.clone()))?;
        let current = known["latest"]["price"]
            .as_str()
            .and_then(|p| p.parse::<i64>().ok());
        Ok((normalized, current))
    }

    async fn manifest(&self, hash: &UInt160) -> Result<serde_json::Value, AutomationError> {
        let chain = self.chain()?;
        match chain.rpc.get_contract_state(hash).await {
            Ok(state) => Ok(state.manifest),
            Err(e) if e.is_not_found() => Err(AutomationError::InvalidContract(hash.to_string())),
            Err(e) => Err(AutomationError::ChainUnavailable(e.to_string())),
        }
    }

    /// The action's method must exist in the target's manifest with as many parameters as
    /// given, and fixed arguments must have the declared types (`Any` takes anything).
    async fn check_action(&self, spec: &TriggerSpec) -> Result<(), AutomationError> {
        let hash = contract_hash(&spec.action.contract)?;
        let manifest = self.manifest(&hash).await?;
        let method = manifest["abi"]["methods"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                m["name"] == spec.action.method.as_str()
                    && m["parameters"].as_array().map(Vec::len) == Some(spec.action.args.len())
            })
            .ok_or_else(|| AutomationError::InvalidMethod(spec.action.method.clone()))?;
        let declared = method["parameters"].as_array().cloned().unwrap_or_default();
        for (i, (arg, param)) in spec.action.args.iter().zip(&declared).enumerate() {
            let wanted = param["type"].as_str().unwrap_or("Any");
            if let ActionArg::Fixed(value) = arg {
                let given = P::from_json(value)
                    .map_err(|e| AutomationError::InvalidArguments(e.to_string()))?;
                let fits = wanted == "Any"
                    || given.type_name() == wanted
                    || (wanted == "ByteArray" && given.type_name() == "String")
                    || (wanted == "Hash160" && given.type_name() == "ByteArray");
                if !fits {
                    return Err(AutomationError::InvalidArguments(format!(
                        "argument {i} is {}, the method takes {wanted}",
                        given.type_name()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Enables or disables a trigger of `owner`; a paused one is enabled again too.
    pub async fn set_enabled(
        &self,
        owner: &str,
        id: &str,
        enabled: bool,
    ) -> Result<Trigger, AutomationError> {
        let trigger = self.store.get(Some(owner), id).await?;
        let state = if enabled { "active" } else { "disabled" };
        if trigger.state == "completed" {
            return Ok(trigger);
        }
        let now = self.now();
        if enabled
            && trigger.state == "disabled"
            && let Condition::Cron {
                expression,
                start_at,
                end_at,
            } = &trigger.spec.condition
        {
            // Times that passed while it was disabled were not missed: it goes on from now.
            let cron = Cron::parse(expression).map_err(|e| AutomationError::InvalidCron(e.0))?;
            let from = start_at.map_or(now, |s| (s - 1).max(now));
            let next = cron
                .next_after(from)
                .filter(|n| end_at.is_none_or(|e| *n <= e));
            self.store.set_next_fire(id, next, now).await?;
        }
        self.store.set_state(id, None, state, None, now).await?;
        self.store.get(Some(owner), id).await
    }

    /// Deletes a trigger of `owner` (its firings stay in the record).
    pub async fn delete(&self, owner: &str, id: &str) -> Result<(), AutomationError> {
        self.store.get(Some(owner), id).await?;
        self.store
            .set_state(id, None, "deleted", None, self.now())
            .await?;
        Ok(())
    }

    // ----- evaluators -----

    /// Cron: every due trigger's times up to now become firings, per its catch-up rule.
    pub async fn evaluate_cron(&self) -> Result<usize> {
        let now = self.now();
        let due = self.store.due_cron(now, 1000).await?;
        let mut recorded = 0;
        for trigger in due {
            let Condition::Cron {
                expression, end_at, ..
            } = &trigger.spec.condition
            else {
                continue;
            };
            let Ok(cron) = Cron::parse(expression) else {
                continue;
            };
            let Some(first) = trigger.next_fire_at else {
                continue;
            };
            let mut times = Vec::new();
            let mut t = Some(first);
            while let Some(at) = t {
                if at > now || end_at.is_some_and(|e| at > e) || times.len() >= 10_000 {
                    break;
                }
                times.push(at);
                t = cron.next_after(at);
            }
            let next = t.filter(|n| end_at.is_none_or(|e| *n <= e));
            let grace = self.settings.catch_up_grace_ms;
            let missed = |at: i64| now - at > grace;
            let latest_missed = times.iter().rev().find(|at| missed(**at)).copied();
            let mut tx = self.store.database().pool().begin().await?;
            if !self
                .store
                .advance_cron_in(&mut tx, &trigger.id, first, next, now)
                .await?
            {
                continue;
            }
            for at in &times {
                let skipped = if !missed(*at) {
                    None
                } else {
                    match trigger.spec.catch_up {
                        CatchUp::All => None,
                        CatchUp::Once if Some(*at) == latest_missed => None,
                        CatchUp::Once => Some("missed: caught up once"),
                        CatchUp::Skip => Some("missed: catch-up is skip"),
                    }
                };
                let new = NewFiring {
                    trigger_id: &trigger.id,
                    owner: &trigger.owner,
                    key: format!("at:{at}"),
                    due_at: *at,
                    skipped,
                    input: Some(serde_json::json!({ "scheduled_at": at })),
                };
                if self.store.insert_firing_in(&mut tx, &new, now).await? {
                    recorded += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(recorded)
    }

    /// Price: each pair with a round newer than the last one read is checked against its
    /// triggers (by pair and threshold).
    pub async fn evaluate_prices(&self) -> Result<usize> {
        let Some(transport) = &self.datafeeds else {
            return Ok(0);
        };
        let prices: serde_json::Value = transport
            .call::<(), _>(neosl_api::Method::GET, "/datafeeds/prices", None)
            .await?;
        let mut recorded = 0;
        for p in prices["prices"].as_array().into_iter().flatten() {
            let (Some(pair), Some(round), Some(price)) = (
                p["pair"].as_str(),
                p["latest"]["round_id"].as_i64(),
                p["latest"]["price"]
                    .as_str()
                    .and_then(|v| v.parse::<i64>().ok()),
            ) else {
                continue;
            };
            let position = format!("price:{pair}");
            if round <= self.store.position(&position).await? {
                continue;
            }
            let now = self.now();
            for trigger in self.store.price_crossings(pair, price).await? {
                let mut tx = self.store.database().pool().begin().await?;
                if self
                    .store
                    .fire_crossing_in(&mut tx, &trigger.id, now)
                    .await?
                    .is_some()
                {
                    let new = NewFiring {
                        trigger_id: &trigger.id,
                        owner: &trigger.owner,
                        key: format!("round:{round}"),
                        due_at: now,
                        skipped: None,
                        input: Some(
                            serde_json::json!({ "pair": pair, "round_id": round, "price": price.to_string() }),
                        ),
                    };
                    if self.store.insert_firing_in(&mut tx, &new, now).await? {
                        recorded += 1;
                    }
                }
                tx.commit().await?;
            }
            let mut tx = self.store.database().pool().begin().await?;
            self.store
                .advance_position_in(&mut tx, &position, round)
                .await?;
            tx.commit().await?;
        }
        Ok(recorded)
    }

    /// The current value of a threshold trigger's subject.
    async fn subject_value(&self, owner: &str, subject: &Subject) -> Result<i64> {
        match subject {
            Subject::Gasbank => Ok(self.bank.account(&owner_of(owner)).await?.balance),
            Subject::Nep17 { address, token } => {
                let chain = self.chain.as_ref().context("no chain is configured")?;
                let address = Address::parse(address)?;
                let token = token_hash(token).map_err(|e| anyhow::anyhow!("{e}"))?;
                let balances = chain.rpc.get_nep17_balances(&address.script_hash()).await?;
                Ok(i64::try_from(&balances.of(&token)).unwrap_or(i64::MAX))
            }
        }
    }

    /// Threshold: each subject read once per round; a crossing fires once (and again only
    /// after the value has gone back, when the trigger re-arms).
    pub async fn evaluate_thresholds(&self) -> Result<usize> {
        let triggers = self.store.threshold_triggers().await?;
        let mut values: HashMap<String, i64> = HashMap::new();
        let mut recorded = 0;
        for (trigger, cross_state) in triggers {
            let Condition::Threshold {
                subject,
                direction,
                amount,
                rearm,
            } = &trigger.spec.condition
            else {
                continue;
            };
            let key = match subject {
                Subject::Gasbank => format!("gasbank:{}", trigger.owner),
                Subject::Nep17 { address, token } => format!("{address}:{token}"),
            };
            let value = match values.get(&key) {
                Some(v) => *v,
                None => match self.subject_value(&trigger.owner, subject).await {
                    Ok(v) => {
                        values.insert(key, v);
                        v
                    }
                    Err(e) => {
                        tracing::warn!(trigger = %trigger.id, error = %format!("{e:#}"), "cannot read a threshold's balance");
                        continue;
                    }
                },
            };
            let met = direction.met(value, *amount);
            let now = self.now();
            match (cross_state.as_deref(), met) {
                (None, true) => {
                    self.store
                        .set_cross_state(&trigger.id, None, "waiting")
                        .await?;
                }
                (None, false) => {
                    self.store
                        .set_cross_state(&trigger.id, None, "armed")
                        .await?;
                }
                (Some("waiting"), false) => {
                    self.store
                        .set_cross_state(&trigger.id, Some("waiting"), "armed")
                        .await?;
                }
                (Some("fired"), false) if *rearm => {
                    self.store
                        .set_cross_state(&trigger.id, Some("fired"), "armed")
                        .await?;
                }
                (Some("armed"), true) => {
                    let mut tx = self.store.database().pool().begin().await?;
                    if let Some(n) = self
                        .store
                        .fire_crossing_in(&mut tx, &trigger.id, now)
                        .await?
                    {
                        let new = NewFiring {
                            trigger_id: &trigger.id,
                            owner: &trigger.owner,
                            key: format!("cross:{n}"),
                            due_at: now,
                            skipped: None,
                            input: Some(serde_json::json!({ "value": value.to_string() })),
                        };
                        if self.store.insert_firing_in(&mut tx, &new, now).await? {
                            recorded += 1;
                        }
                    }
                    tx.commit().await?;
                }
                _ => {}
            }
        }
        Ok(recorded)
    }

    /// Event: one notification against the triggers of its (contract, name).
    async fn on_event(&self, event: &ChainEvent) -> Result<usize, AutomationError> {
        let contract = event.contract.to_string();
        let mut tx = self.store.database().pool().begin().await?;
        let triggers = self
            .store
            .event_triggers(&mut tx, &contract, &event.event_name)
            .await?;
        let args = event.state.as_array().unwrap_or(&[]).to_vec();
        let now = self.now();
        let mut recorded = 0;
        for trigger in triggers {
            let Condition::Event { filters, .. } = &trigger.spec.condition else {
                continue;
            };
            let matches = filters.iter().all(|f| {
                args.get(f.index)
                    .is_some_and(|a| item_matches(a, &f.equals))
            });
            if !matches {
                continue;
            }
            let block_time = i64::try_from(event.block_time).unwrap_or(now);
            let skipped = (trigger.spec.catch_up == CatchUp::Skip
                && now - block_time > self.settings.catch_up_grace_ms)
                .then_some("missed: catch-up is skip");
            let new = NewFiring {
                trigger_id: &trigger.id,
                owner: &trigger.owner,
                key: format!("event:{}:{}", event.tx_hash, event.notification_index),
                due_at: block_time,
                skipped,
                input: Some(serde_json::json!({
                    "tx_hash": event.tx_hash.to_string(),
                    "block_index": event.block_index,
                    "args": event.state.to_json(),
                })),
            };
            if self.store.insert_firing_in(&mut tx, &new, now).await? {
                recorded += 1;
            }
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Resumes paused triggers whose owner can pay again.
    pub async fn resume_paid(&self) -> Result<usize> {
        let mut resumed = 0;
        for trigger in self.store.paused(500).await? {
            let account = self.bank.account(&owner_of(&trigger.owner)).await?;
            let needed = self.fee() + trigger.spec.gas_limit + NETWORK_FEE_ALLOWANCE;
            if account.balance - account.reserved >= needed
                && self
                    .store
                    .set_state(&trigger.id, Some("paused"), "active", None, self.now())
                    .await?
            {
                tracing::info!(trigger = %trigger.id, "the owner can pay again: trigger resumed");
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    // ----- the executor -----

    async fn sender(&self) -> Result<SenderAccount> {
        let mut slot = self.account.lock().await;
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let pool = self
            .pool
            .as_ref()
            .context("the AccountPool cannot be reached")?;
        let grant = pool
            .request_accounts(RequestAccounts {
                service_id: None,
                count: 1,
                purpose: "automation".into(),
            })
            .await
            .context("locking a pool account for executions")?;
        let view = grant
            .accounts
            .first()
            .context("the pool granted no account")?
            .clone();
        let signer = Arc::new(PoolSigner::new(pool.clone(), &view)?);
        tracing::info!(address = %view.address, "a pool account sends this replica's executions");
        let account = SenderAccount {
            view,
            lock_id: grant.lock_id,
            signer,
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    /// Keeps the sending account locked and funded.
    pub async fn upkeep(&self) -> Result<()> {
        let Some(chain) = &self.chain else {
            return Ok(());
        };
        let account = self.sender().await?;
        if let Some(pool) = &self.pool
            && pool
                .renew_lock(RenewLock {
                    service_id: None,
                    lock_id: account.lock_id.clone(),
                })
                .await
                .is_err()
        {
            // The lock is gone (expired while this replica was away): take another account.
            *self.account.lock().await = None;
            return Ok(());
        }
        let address = Address::parse(&account.view.address)?;
        let gas = chain
            .rpc
            .get_nep17_balances(&address.script_hash())
            .await?
            .of(&neosl_neo::native::GAS);
        let gas = i64::try_from(&gas).unwrap_or(i64::MAX);
        if gas < self.settings.min_account_gas {
            self.top_up(&account, self.settings.min_account_gas - gas)
                .await?;
        }
        Ok(())
    }

    /// The sending account's GAS less what the executions on their way may cost (all
    /// replicas', so never too much).
    async fn spendable(&self, account: &SenderAccount) -> Result<i64> {
        let chain = self.chain.as_ref().context("no chain is configured")?;
        let address = Address::parse(&account.view.address)?;
        let gas = chain
            .rpc
            .get_nep17_balances(&address.script_hash())
            .await?
            .of(&neosl_neo::native::GAS);
        let mut tx = self.store.database().pool().begin().await?;
        let committed: i64 = self
            .outbox
            .open_items_of_in(&mut tx, EXECUTION)
            .await?
            .iter()
            .filter_map(|item| serde_json::from_value::<Execution>(item.payload.clone()).ok())
            .map(|e| e.cost)
            .sum();
        tx.commit().await?;
        Ok(i64::try_from(&gas).unwrap_or(i64::MAX) - committed)
    }

    /// Asks the treasury for at least `missing` more GAS, unless a top-up is on its way.
    async fn top_up(&self, account: &SenderAccount, missing: i64) -> Result<()> {
        let address = Address::parse(&account.view.address)?;
        let amount = self
            .settings
            .top_up_gas
            .max(missing.saturating_add(self.settings.min_account_gas));
        if neosl_gasbank::withdrawals::request_top_up(&self.outbox, &address, amount, self.now())
            .await?
        {
            tracing::warn!(address = %account.view.address, amount, "the executions account needs GAS: a top-up from the treasury is planned");
        }
        Ok(())
    }

    async fn skip(&self, firing: &Firing, reason: &str) -> Result<()> {
        let mut tx = self.store.database().pool().begin().await?;
        self.store
            .finish_claimed_in(
                &mut tx,
                &firing.id,
                &self.replica,
                "skipped",
                reason,
                self.now(),
            )
            .await?;
        tx.commit().await?;
        tracing::info!(firing = %firing.id, trigger = %firing.trigger_id, reason, "firing skipped");
        Ok(())
    }

    fn argument(&self, arg: &ActionArg, firing: &Firing) -> Result<P, String> {
        match arg {
            ActionArg::Fixed(v) => P::from_json(v).map_err(|e| e.to_string()),
            ActionArg::From { from, index } => {
                let input = firing.input.clone().unwrap_or_default();
                match from.as_str() {
                    "fired_at" => Ok(P::Integer(firing.due_at.into())),
                    "price" | "value" => {
                        let key = if from == "price" { "price" } else { "value" };
                        input[key]
                            .as_str()
                            .and_then(|v| v.parse::<i64>().ok())
                            .map(|v| P::Integer(v.into()))
                            .ok_or_else(|| format!("the firing has no {key}"))
                    }
                    _ => {
                        let item =
                            StackItem::from_json(&input["args"]).map_err(|e| e.to_string())?;
                        let args = item.as_array().unwrap_or(&[]);
                        let arg = index
                            .and_then(|i| args.get(i))
                            .ok_or("the event has no such argument")?;
                        stack_to_param(arg).ok_or_else(|| "the argument cannot be passed on".into())
                    }
                }
            }
        }
    }

    /// One claimed firing: checked, paid for, tested, planned — or skipped with the reason.
    async fn execute(&self, firing: Firing) -> Result<()> {
        let trigger = match self.store.get(None, &firing.trigger_id).await {
            Ok(t) => t,
            Err(AutomationError::UnknownTrigger) => return self.skip(&firing, "deleted").await,
            Err(e) => return Err(e.into()),
        };
        if trigger.state == "disabled" {
            return self.skip(&firing, "disabled").await;
        }
        let hour_ago = self.now() - 3_600_000;
        if self
            .store
            .executions_since(&trigger.owner, hour_ago)
            .await?
            >= self.settings.max_executions_per_hour
        {
            return self.skip(&firing, "rate_limited").await;
        }
        if let Some(reason) = self.no_longer_true(&trigger).await {
            return self.skip(&firing, reason).await;
        }
        let chain = self.chain.as_ref().context("no chain is configured")?;
        let account = self.sender().await?;
        let contract =
            contract_hash(&trigger.spec.action.contract).map_err(|e| anyhow::anyhow!("{e}"))?;
        let args = match trigger
            .spec
            .action
            .args
            .iter()
            .map(|a| self.argument(a, &firing))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(args) => args,
            Err(reason) => return self.finish(&firing, "faulted", &reason).await,
        };
        let mut sb = neosl_neo::script::ScriptBuilder::new();
        neosl_neo::contract::call(
            &mut sb,
            &contract,
            &trigger.spec.action.method,
            neosl_neo::contract::CallFlags::ALL,
            &args,
        )?;
        let script = sb.into_bytes();
        let signer = account.signer.clone();
        let tested = chain
            .rpc
            .invoke_script(
                &script,
                &[Signer::called_by_entry(
                    neosl_chain::signer::TxSigner::account(signer.as_ref()),
                )],
            )
            .await?;
        if !tested.halted() {
            let exception = tested.exception.unwrap_or_else(|| "FAULT".into());
            return self.finish(&firing, "faulted", &exception).await;
        }
        if tested.gasconsumed > trigger.spec.gas_limit {
            return self
                .skip(
                    &firing,
                    &format!(
                        "gas_limit_exceeded: needs {} of {}",
                        tested.gasconsumed, trigger.spec.gas_limit
                    ),
                )
                .await;
        }
        // The sending account must be able to pay too (else the node refuses the transaction):
        // wait for a top-up rather than spend attempts.
        let cost = tested.gasconsumed + NETWORK_FEE_ALLOWANCE;
        let spendable = self.spendable(&account).await?;
        if cost > spendable {
            self.top_up(&account, cost - spendable).await?;
            self.store
                .unclaim(&firing.id, &self.replica, self.now())
                .await?;
            return Ok(());
        }
        // Reserve the fee and the chain's cost (the estimate plus a margin) from the owner.
        let fee = self.fee();
        let reserve = fee + tested.gasconsumed + tested.gasconsumed / 10 + NETWORK_FEE_ALLOWANCE;
        // One reservation per attempt: an attempt that never landed released its own.
        let reservation = format!("automation:{}:{}", firing.id, firing.attempts);
        let owner = owner_of(&trigger.owner);
        let expires = self.now() + 3_600_000;
        match self
            .bank
            .reserve_until(&owner, reserve, &reservation, FEE, expires)
            .await
        {
            Ok(_) => {}
            Err(GasBankError::InsufficientBalance { .. }) => {
                self.store
                    .set_state(
                        &trigger.id,
                        Some("active"),
                        "paused",
                        Some("insufficient_balance"),
                        self.now(),
                    )
                    .await?;
                tracing::warn!(trigger = %trigger.id, "the owner cannot pay: trigger paused");
                return self.skip(&firing, "insufficient_balance").await;
            }
            Err(e) => return Err(e.into()),
        }
        let execution = Execution {
            firing_id: firing.id.clone(),
            trigger_id: trigger.id.clone(),
            owner: trigger.owner.clone(),
            script: hex::encode(&script),
            reservation: reservation.clone(),
            reserved: reserve,
            cost,
            fee,
        };
        let mut tx = self.store.database().pool().begin().await?;
        if !self
            .store
            .plan_in(&mut tx, &firing.id, &self.replica, self.now())
            .await?
        {
            drop(tx);
            // The claim ran out and another replica has it: give the reservation back.
            let _ = self.bank.release(&reservation).await;
            return Ok(());
        }
        self.outbox
            .plan_in(
                &mut tx,
                EXECUTION,
                &format!("{}:{}", firing.id, firing.attempts),
                &serde_json::to_value(&execution)?,
            )
            .await?;
        tx.commit().await?;
        tracing::info!(firing = %firing.id, trigger = %trigger.id, "execution planned");
        Ok(())
    }

    async fn finish(&self, firing: &Firing, state: &str, reason: &str) -> Result<()> {
        let mut tx = self.store.database().pool().begin().await?;
        self.store
            .finish_claimed_in(
                &mut tx,
                &firing.id,
                &self.replica,
                state,
                reason,
                self.now(),
            )
            .await?;
        tx.commit().await?;
        tracing::info!(firing = %firing.id, state, reason, "firing ended");
        Ok(())
    }

    /// For price and threshold triggers: the reason to skip when the condition no longer
    /// holds at execution time.
    async fn no_longer_true(&self, trigger: &Trigger) -> Option<&'static str> {
        match &trigger.spec.condition {
            Condition::Threshold {
                subject,
                direction,
                amount,
                ..
            } => {
                let value = self.subject_value(&trigger.owner, subject).await.ok()?;
                (!direction.met(value, *amount)).then_some("condition_no_longer_true")
            }
            _ => None,
        }
    }

    /// Claims and executes due firings; answers how many were claimed.
    pub async fn execute_due(&self) -> Result<usize> {
        let now = self.now();
        let lease = i64::try_from(self.settings.claim_lease_ms).unwrap_or(30_000);
        let claimed = self
            .store
            .claim(&self.replica, now, now + lease, self.settings.batch)
            .await?;
        let n = claimed.len();
        for firing in claimed {
            if let Err(e) = self.execute(firing).await {
                tracing::warn!(error = %format!("{e:#}"), "an execution could not be planned; tried again when its claim lapses");
            }
        }
        Ok(n)
    }

    /// One round of everything.
    pub async fn round(&self) -> Result<usize> {
        let mut n = self.evaluate_cron().await?;
        match self.evaluate_prices().await {
            Ok(k) => n += k,
            Err(e) => tracing::debug!(error = %format!("{e:#}"), "prices not read this round"),
        }
        n += self.evaluate_thresholds().await?;
        n += self.execute_due().await?;
        Ok(n)
    }

    /// Runs rounds until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.settings.tick_ms.max(50));
        let mut last_upkeep = i64::MIN / 2;
        let mut last_resume = i64::MIN / 2;
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %format!("{e:#}"), "the automation round failed; retrying");
            }
            // Paused owners are looked at every few seconds, not every tick: each costs a
            // balance read.
            if self.now() - last_resume >= 2_000 {
                last_resume = self.now();
                if let Err(e) = self.resume_paid().await {
                    tracing::warn!(error = %format!("{e:#}"), "resuming paused triggers failed");
                }
            }
            if self.now() - last_upkeep > 30_000 {
                match self.upkeep().await {
                    Ok(()) => last_upkeep = self.now(),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "automation upkeep failed"),
                }
            }
            if neosl_runtime::service::pause(interval, &mut shutdown).await {
                return;
            }
        }
    }

    /// The outbox kind that sends executions.
    pub fn execution_kind(self: &Arc<Self>) -> Arc<dyn WorkKind> {
        Arc::new(ExecutionKind {
            automation: self.clone(),
        })
    }

    /// The event handler for event triggers.
    pub fn event_handler(self: &Arc<Self>) -> Arc<dyn EventHandler> {
        Arc::new(EventTriggers {
            automation: self.clone(),
        })
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Above => "above",
        Direction::Below => "below",
    }
}

/// A notification's argument as a contract parameter (integers, booleans, byte strings).
fn stack_to_param(item: &StackItem) -> Option<P> {
    if let StackItem::Integer(n) = item {
        return Some(P::Integer(n.clone()));
    }
    if let Some(b) = item
        .as_bool()
        .filter(|_| matches!(item, StackItem::Boolean(_)))
    {
        return Some(P::Boolean(b));
    }
    item.as_bytes().map(P::ByteArray)
}

struct EventTriggers {
    automation: Arc<Automation>,
}

#[async_trait]
impl EventHandler for EventTriggers {
    async fn handle(&self, event: &ChainEvent) -> Result<(), BoxError> {
        self.automation
            .on_event(event)
            .await
            .map(|_| ())
            .map_err(|e| Box::new(e) as BoxError)
    }
}

/// Sends executions and records what the chain did.
struct ExecutionKind {
    automation: Arc<Automation>,
}

#[async_trait]
impl WorkKind for ExecutionKind {
    fn kind(&self) -> &'static str {
        EXECUTION
    }

    fn max_attempts(&self) -> i64 {
        3
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let execution: Execution = serde_json::from_value(item.payload.clone())
            .map_err(|e| WorkError::Permanent(format!("unreadable execution: {e}")))?;
        let script =
            hex::decode(&execution.script).map_err(|e| WorkError::Permanent(e.to_string()))?;
        let account = self
            .automation
            .sender()
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
        let Ok(execution) = serde_json::from_value::<Execution>(item.payload.clone()) else {
            return Ok(());
        };
        let a = &self.automation;
        let now = a.now();
        let cost = |hash: &str| {
            let chain = a.chain.clone();
            let hash = hash.to_owned();
            async move {
                let chain = chain?;
                let hash = neosl_neo::UInt256::parse_display(&hash).ok()?;
                let tx = chain.rpc.get_raw_transaction(&hash).await.ok()?;
                Some(tx.system_fee + tx.network_fee)
            }
        };
        let (state, reason, tx_hash, gas) = match outcome {
            Outcome::Confirmed { tx_hash, .. } => {
                ("executed", None, Some(tx_hash.clone()), cost(tx_hash).await)
            }
            Outcome::Faulted { tx_hash, exception } => (
                "faulted",
                Some(exception.clone()),
                Some(tx_hash.clone()),
                cost(tx_hash).await,
            ),
            Outcome::Failed { reason } => ("failed", Some(reason.clone()), None, None),
        };
        // Charged: the fee and what the chain took, never more than was reserved; nothing when
        // the transaction never landed.
        let charged = match (state, gas) {
            ("failed", _) => None,
            (_, Some(gas)) => Some((execution.fee + gas).min(execution.reserved)),
            (_, None) => Some(execution.fee.min(execution.reserved)),
        };
        let settled = match a.bank.settle_in(tx, &execution.reservation, charged).await {
            Ok(_) => charged,
            Err(e) => {
                tracing::warn!(error = %e, firing = %execution.firing_id, "settling an execution's reservation failed");
                None
            }
        };
        if state == "failed" {
            // Never landed (refused, or expired unsent): nothing was spent; try again.
            let left = a
                .store
                .retry_in(
                    tx,
                    &execution.firing_id,
                    reason.as_deref().unwrap_or(""),
                    now,
                )
                .await?;
            tracing::warn!(firing = %execution.firing_id, state = left, reason = ?reason, "an execution did not land");
            return Ok(());
        }
        a.store
            .settle_in(
                tx,
                &execution.firing_id,
                state,
                reason.as_deref(),
                tx_hash.as_deref(),
                gas,
                settled,
                now,
            )
            .await?;
        tracing::info!(firing = %execution.firing_id, state, tx = ?tx_hash, "execution settled");
        Ok(())
    }
}
