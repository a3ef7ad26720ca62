//! The Mixer: requests signed, deposits matched, mixes planned and sent, settlements proved.
//!
//! Everything that must happen is a row: a request and its state, a deposit keyed by its
//! notification, a leg (one planned transaction) that goes `waiting → planned` into the
//! outbox in one transaction and `→ confirmed` in the transaction that settles its outbox item.
//! Any replica may do any step; every step is conditional on the state it leaves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use neosl_accountpool_api::{
    AccountPoolApi, AccountView, PoolSigner, ReleaseAccounts, RenewLock, RequestAccounts,
};
use neosl_chain::events::{BoxError, ChainEvent, EventHandler};
use neosl_chain::submit::SignerEntry;
use neosl_chainwork::{Built, DbCursor, Outbox, Outcome, WorkError, WorkItem, WorkKind};
use neosl_contracts::mixer::{self, RequestTerms};
use neosl_crypto::ecdsa::SigningKey;
use neosl_gasbank::deposits::parse_transfer;
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_neo::{Address, UInt160, UInt256};
use neosl_runtime::clock::SharedClock;
use neosl_runtime::service::{Chain, FeeSchedule};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::error::MixerError;
use crate::plan::{self, Leg, LegKind};
use crate::settings::MixerSettings;
use crate::store::{AccountRow, DepositRow, LegRow, NewRequest, RequestRow, Store};
use crate::terms::{self, Checked, HOPS, MixRequestBody, format_gas};

/// The outbox kind that sends a leg.
pub const TRANSFER: &str = "mixer.transfer";
/// The outbox kind that sends a completion proof to the contract.
pub const PROOF: &str = "mixer.proof";
/// The fee rule's name.
pub const FEE: &str = "mixer";

/// Where the Mixer's contract is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The network magic.
    pub network: u32,
    /// `MixerService`.
    pub contract: UInt160,
}

/// The answer to `POST /mixer/request`: the RequestProof and what to do next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    /// Follow the request with it (`/mixer/status/{id}`).
    pub request_id: String,
    /// The request as sent.
    pub request: MixRequestBody,
    /// The canonical request bytes (StdLib binary), hex: keep them.
    pub request_bytes: String,
    /// `Hash256(request_bytes)`, hex: keep it.
    pub request_hash: String,
    /// The Mixer's signature over `neosl-mixer-request|` ‖ request hash (64 bytes r‖s), hex:
    /// keep it.
    pub tee_signature: String,
    /// The key that signed (published in `/attestation` as `mixer`).
    pub public_key: String,
    /// The contract a dispute goes to.
    pub contract: String,
    /// Its network.
    pub network: u32,
    /// Send exactly these amounts to these addresses, from `user_address`.
    pub deposits: Vec<Payment>,
    /// What the targets receive in all (GAS).
    pub net: String,
    /// The Mixer's fee (GAS).
    pub service_fee: String,
    /// The chain's fees for the mix's transactions (GAS).
    pub chain_cost: String,
    /// What to deposit in all (GAS): what a successful claim would pay.
    pub total: String,
    /// Deposits must arrive before this (Unix ms).
    pub deposit_deadline: i64,
    /// Delivery is planned before this (Unix ms).
    pub deliver_by: i64,
    /// A dispute is possible after this (Unix ms).
    pub deadline: i64,
}

/// A request's times as this deployment runs them (Unix ms, and windows in ms).
#[derive(Debug, Clone, Copy)]
struct Timing {
    window_ms: i64,
    grace_ms: i64,
    deposit_deadline: i64,
    deliver_by: i64,
    deadline: i64,
}

/// An address and an amount (GAS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// A Neo address.
    pub address: String,
    /// GAS, decimal.
    pub amount: String,
}

/// `GET /mixer/status/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The request.
    pub request_id: String,
    /// `awaiting_deposit`, `mixing`, `delivered`, `refunding`, `refunded`, `expired`,
    /// `abandoned` or `stuck`.
    pub state: String,
    /// Why it is in that state.
    pub reason: Option<String>,
    /// The request hash.
    pub request_hash: Option<String>,
    /// What each deposit account expects and has received.
    pub deposits: Vec<DepositAccount>,
    /// Every deposit seen, with what was done with it.
    pub deposits_seen: Vec<DepositSeen>,
    /// The total to deposit (GAS).
    pub total: String,
    /// What the targets receive (GAS).
    pub net: String,
    /// Transactions planned, sent and confirmed.
    pub transactions: Progress,
    /// Deposits must arrive before this.
    pub deposit_deadline: i64,
    /// A dispute is possible after this.
    pub deadline: i64,
    /// When the deposits were complete.
    pub funded_at: Option<i64>,
    /// When it was settled.
    pub settled_at: Option<i64>,
    /// `delivered`, `refunded` or `unfunded` once settled.
    pub outcome: Option<String>,
    /// The settling transactions (display form) once settled.
    pub txids: Vec<String>,
    /// Whether `/mixer/request/{id}/proof` answers.
    pub proof_available: bool,
    /// The completion proof's transaction to the contract, if one was asked for.
    pub proof_submission: Option<Submission>,
    /// Signed deposits handed over for the Mixer to broadcast, and what became of each.
    pub presigned: Vec<Presigned>,
}

/// A signed deposit the Mixer broadcasts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presigned {
    /// Its hash.
    pub tx_hash: String,
    /// `waiting` (for its random time), `sent` or `failed`.
    pub state: String,
    /// Why it failed.
    pub reason: Option<String>,
}

/// A deposit account's progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepositAccount {
    /// Its address.
    pub address: String,
    /// What it should receive (GAS).
    pub expected: String,
    /// What it received from the user (GAS).
    pub received: String,
}

/// A deposit seen on chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepositSeen {
    /// Its transaction.
    pub tx_hash: String,
    /// To which deposit address.
    pub address: String,
    /// From whom.
    pub sender: Option<String>,
    /// How much (GAS).
    pub amount: String,
    /// `accepted`, `returned` or `unreturnable`.
    pub disposition: String,
    /// Why.
    pub reason: Option<String>,
}

/// Counts of a request's transactions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Planned in all.
    pub planned: usize,
    /// Confirmed on chain.
    pub confirmed: usize,
}

/// A completion proof's trip to the contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    /// `planned`, `submitted`, `confirmed` or `failed`.
    pub state: String,
    /// Its transaction, once built.
    pub tx_hash: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// `GET /mixer/request/{id}/proof`: the CompletionProof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionProof {
    /// The request.
    pub request_id: String,
    /// The request hash, hex.
    pub request_hash: String,
    /// `delivered` (the txids paid the targets), `refunded` (they paid the user back) or
    /// `unfunded` (nothing was deposited in time; no txids).
    pub outcome: String,
    /// The settling transactions, display form, in order.
    pub txids: Vec<String>,
    /// `Hash256` of the txids (each as Neo stores it, little-endian), hex.
    pub txids_hash: String,
    /// The Mixer's signature over `signed_message`, hex.
    pub proof_signature: String,
    /// `neosl-mixer-proof|` ‖ request hash ‖ txids hash, hex.
    pub signed_message: String,
    /// The key that signed.
    pub public_key: String,
    /// The contract that accepts it (`proveFulfilled`).
    pub contract: Option<String>,
}

/// `GET /mixer/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// Amounts in this API are GAS as decimal strings.
    pub asset: String,
    /// The most one request may deposit (GAS).
    pub max_request: String,
    /// The most the pool may hold for open requests (GAS).
    pub max_pool: String,
    /// What open requests hold now (GAS).
    pub pool_held: String,
    /// What is left under the cap (GAS).
    pub pool_headroom: String,
    /// Open requests.
    pub open_requests: i64,
    /// The mix options (ms) and the window each gives on this deployment.
    pub mix_options: Vec<MixOption>,
    /// The grace (ms) after the window before a dispute, and after a dispute before a claim.
    pub grace_ms: i64,
    /// Deposits are accepted this long after a request (ms).
    pub deposit_window_ms: i64,
    /// The fee: base (GAS) and basis points of the net amount.
    pub fee_base: String,
    /// Basis points.
    pub fee_basis_points: i64,
    /// Chain cost per GAS transfer of a mix (GAS).
    pub transfer_allowance: String,
    /// Targets per request at most.
    pub max_targets: usize,
    /// The key that signs requests and proofs.
    pub public_key: String,
    /// The `MixerService` contract, when deployed.
    pub contract: Option<String>,
    /// The operator's bond on chain: total, locked by disputes, free (GAS), when readable.
    pub bond: Option<Bond>,
}

/// One mix option.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixOption {
    /// As a request names it (ms).
    pub mix_option: i64,
    /// The window it gives here (ms).
    pub window_ms: i64,
}

/// The operator's bond.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Bond {
    /// In the contract (10⁻⁸ GAS).
    pub total: i64,
    /// Locked by open disputes.
    pub locked: i64,
    /// Announced for withdrawal.
    pub announced: i64,
    /// What can back new requests: total − locked − announced.
    pub free: i64,
}

/// One line of `GET /mixer/requests`: nothing that links a request to anyone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The state.
    pub state: String,
    /// The mix option chosen (ms).
    pub mix_option: i64,
    /// The hour it was made in (Unix ms, rounded down).
    pub created_hour: i64,
}

/// A leg's outbox payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TransferWork {
    request_id: String,
    seq: i64,
    account_id: String,
    public_key: String,
    script: String,
}

/// A completion proof's outbox payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProofWork {
    request_id: String,
    script: String,
}

#[derive(Clone)]
struct Sender {
    lock_id: String,
    view: AccountView,
    signer: Arc<PoolSigner>,
}

/// The Mixer.
pub struct Mixer {
    store: Store,
    outbox: Outbox,
    chain: Option<Chain>,
    pool: Option<Arc<dyn AccountPoolApi>>,
    fees: Arc<FeeSchedule>,
    clock: SharedClock,
    settings: MixerSettings,
    key: SigningKey,
    public_key: String,
    deployment: Option<Deployment>,
    cursor: Option<DbCursor>,
    sender: tokio::sync::Mutex<Option<Sender>>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("deployment", &self.deployment)
            .finish_non_exhaustive()
    }
}

fn random_u64() -> u64 {
    u64::from_le_bytes(neosl_crypto::random_array::<8>())
}

fn display(hash: &UInt160) -> String {
    Address::from_script_hash(*hash).to_string()
}

impl Mixer {
    /// A Mixer over its store and outbox; `chain`, `pool` and `deployment` are absent on a
    /// platform without a chain (requests are then refused as unavailable).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        outbox: Outbox,
        chain: Option<Chain>,
        pool: Option<Arc<dyn AccountPoolApi>>,
        fees: Arc<FeeSchedule>,
        clock: SharedClock,
        settings: MixerSettings,
        key: SigningKey,
        deployment: Option<Deployment>,
    ) -> Result<Self> {
        let public_key = hex::encode(key.public_key()?.to_compressed());
        Ok(Self {
            store,
            outbox,
            chain,
            pool,
            fees,
            clock,
            settings,
            key,
            public_key,
            deployment,
            cursor: None,
            sender: tokio::sync::Mutex::new(None),
        })
    }

    /// Saves the deposit stream's position with each deposit's effect.
    pub fn with_cursor(mut self, cursor: DbCursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The signing key's public key, hex.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn pool(&self) -> Result<&Arc<dyn AccountPoolApi>, MixerError> {
        self.pool
            .as_ref()
            .ok_or_else(|| MixerError::Unavailable("the AccountPool cannot be reached".into()))
    }

    fn chain(&self) -> Result<&Chain, MixerError> {
        self.chain
            .as_ref()
            .ok_or_else(|| MixerError::Unavailable("no chain is configured".into()))
    }

    fn deployment(&self) -> Result<Deployment, MixerError> {
        self.deployment.ok_or(MixerError::NotDeployed)
    }

    /// The operator's bond as the contract holds it.
    pub async fn bond(&self) -> Result<Bond, MixerError> {
        let deployment = self.deployment()?;
        let chain = self.chain()?;
        let result = chain
            .rpc
            .invoke_function(&deployment.contract, "getBond", &[], &[])
            .await
            .map_err(|e| MixerError::Unavailable(format!("reading the bond: {e}")))?;
        let values: Vec<i64> = result
            .stack
            .first()
            .and_then(|s| s.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_integer().and_then(|n| i64::try_from(n).ok()))
                    .collect()
            })
            .unwrap_or_default();
        let [total, locked, announced, _] = values[..] else {
            return Err(MixerError::Unavailable(
                "the contract's bond cannot be read".into(),
            ));
        };
        Ok(Bond {
            total,
            locked,
            announced,
            free: total - locked - announced,
        })
    }

    // ----- requests -----

    /// Checks, reserves capacity, locks accounts, signs: the RequestProof.
    pub async fn create(&self, body: MixRequestBody) -> Result<Created, MixerError> {
        let now = self.now();
        let checked = terms::check(&body, &self.settings, |net| self.fees.fee(FEE, net), now)?;
        let deployment = self.deployment()?;
        let pool = self.pool()?.clone();
        let bond = self.bond().await?;
        let window_ms = self.settings.scaled(checked.mix_option_ms);
        let grace_ms = self.settings.scaled(self.settings.grace_ms);
        let deposit_deadline = now + self.settings.scaled(self.settings.deposit_window_ms);
        let deadline = checked.timestamp_ms + window_ms + grace_ms;
        let timing = Timing {
            window_ms,
            grace_ms,
            deposit_deadline,
            deliver_by: deposit_deadline.max(checked.timestamp_ms) + window_ms,
            deadline,
        };
        let id = uuid::Uuid::new_v4().to_string();
        self.store
            .reserve(
                &NewRequest {
                    id: &id,
                    user_hash: &checked.user.to_string(),
                    net: checked.net,
                    fee: checked.total - checked.net,
                    total: checked.total,
                    mix_option_ms: checked.mix_option_ms,
                    window_ms,
                    deposit_deadline,
                    deadline,
                },
                &crate::store::Limits {
                    max_pool: self.settings.max_pool,
                    max_pending: self.settings.max_pending_requests,
                    bond_free: Some(bond.free),
                },
                now,
            )
            .await?;
        match self
            .set_up(&id, &body, &checked, deployment, &pool, &timing)
            .await
        {
            Ok(created) => Ok(created),
            Err(e) => {
                let mut tx = self.store.database().pool().begin().await?;
                self.store
                    .transition_in(
                        &mut tx,
                        &id,
                        "reserving",
                        "abandoned",
                        Some(&e.to_string()),
                        self.now(),
                    )
                    .await?;
                tx.commit().await?;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn set_up(
        &self,
        id: &str,
        body: &MixRequestBody,
        checked: &Checked,
        deployment: Deployment,
        pool: &Arc<dyn AccountPoolApi>,
        timing: &Timing,
    ) -> Result<Created, MixerError> {
        let count = (checked.deposit_accounts + HOPS) as u32;
        let grant = pool
            .request_accounts(RequestAccounts {
                service_id: None,
                count,
                purpose: "mixer".into(),
            })
            .await
            .map_err(|e| MixerError::Unavailable(format!("locking pool accounts: {e}")))?;
        self.store.set_lock(id, &grant.lock_id, self.now()).await?;
        let hash_of = |v: &AccountView| {
            UInt160::parse_display(&v.script_hash)
                .map_err(|e| MixerError::Unavailable(format!("the pool's account: {e}")))
        };
        let (deposit_views, hop_views) = grant
            .accounts
            .split_at(checked.deposit_accounts.min(grant.accounts.len()));
        if hop_views.len() != HOPS {
            return Err(MixerError::Unavailable(
                "the pool granted too few accounts".into(),
            ));
        }
        let deposit_hashes = deposit_views
            .iter()
            .map(hash_of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut random = random_u64;
        let deposits = plan::deposit_plan(checked.total, &deposit_hashes, &mut random);
        let terms = RequestTerms {
            network: deployment.network,
            contract: deployment.contract,
            user: checked.user,
            targets: checked.targets.clone(),
            net: checked.net,
            fee: checked.total - checked.net,
            total: checked.total,
            timestamp_ms: checked.timestamp_ms,
            mix_option_ms: timing.window_ms,
            grace_ms: timing.grace_ms,
            deposits: deposits.clone(),
            input_txs: checked.input_txs.clone(),
            nonce: neosl_crypto::random_array::<16>(),
        };
        let bytes = terms.to_bytes();
        let hash = mixer::request_hash(&bytes);
        let signature = self
            .key
            .sign(&mixer::request_message(&hash))
            .map_err(|e| MixerError::Unavailable(format!("signing: {e}")))?;
        let mut accounts = Vec::new();
        for (view, (_, amount)) in deposit_views.iter().zip(&deposits) {
            accounts.push(AccountRow {
                request_id: id.into(),
                address: hash_of(view)?.to_string(),
                account_id: view.id.clone(),
                public_key: view.public_key.clone(),
                role: "deposit".into(),
                expected: *amount,
                received: 0,
            });
        }
        for view in hop_views {
            accounts.push(AccountRow {
                request_id: id.into(),
                address: hash_of(view)?.to_string(),
                account_id: view.id.clone(),
                public_key: view.public_key.clone(),
                role: "hop".into(),
                expected: 0,
                received: 0,
            });
        }
        let request_hash = hex::encode(hash);
        let tee_signature = hex::encode(signature.to_bytes());
        if !self
            .store
            .activate(
                id,
                &hex::encode(&bytes),
                &request_hash,
                &tee_signature,
                &accounts,
                self.now(),
            )
            .await?
        {
            return Err(MixerError::Unavailable(
                "the request was abandoned meanwhile".into(),
            ));
        }
        tracing::info!(request = id, total = checked.total, "mix request accepted");
        Ok(Created {
            request_id: id.into(),
            request: body.clone(),
            request_bytes: hex::encode(&bytes),
            request_hash,
            tee_signature,
            public_key: self.public_key.clone(),
            contract: deployment.contract.to_string(),
            network: deployment.network,
            deposits: deposits
                .iter()
                .map(|(h, a)| Payment {
                    address: display(h),
                    amount: format_gas(*a),
                })
                .collect(),
            net: format_gas(checked.net),
            service_fee: format_gas(checked.service_fee),
            chain_cost: format_gas(checked.chain_cost),
            total: format_gas(checked.total),
            deposit_deadline: timing.deposit_deadline,
            deliver_by: timing.deliver_by,
            deadline: timing.deadline,
        })
    }

    // ----- deposits -----

    /// Handles one GAS transfer seen on chain (by the stream or a confirmation) in `tx`:
    /// nothing when it is not to an account a request holds as its deposit account.
    #[allow(clippy::too_many_arguments)]
    async fn on_transfer_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        tx_hash: &UInt256,
        notification: u32,
        from: Option<UInt160>,
        to: &UInt160,
        amount: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        let Some(account) = self.store.account_at_in(tx, &to.to_string()).await? else {
            return Ok(None);
        };
        if account.role != "deposit" {
            return Ok(None);
        }
        let Some(request) = self.store.get_in(tx, &account.request_id).await? else {
            return Ok(None);
        };
        // Our own transactions never pay deposit accounts; anything else is a deposit.
        let now = self.now();
        let from_user = from.is_some_and(|f| f.to_string() == request.user_hash);
        let (disposition, reason) = if request.state == "awaiting_deposit" && from_user {
            if account.received + amount > account.expected {
                ("accepted", Some("over the plan: the request is refunded"))
            } else {
                ("accepted", None)
            }
        } else if request.released {
            ("unreturnable", Some("the account is no longer held"))
        } else if amount <= self.settings.transfer_allowance || from.is_none() {
            ("unreturnable", Some("too small to pay for its own return"))
        } else if request.state == "awaiting_deposit" {
            ("returned", Some("not from the request's user"))
        } else {
            (
                "returned",
                Some("late: the request no longer takes deposits"),
            )
        };
        let deposit = DepositRow {
            tx_hash: tx_hash.to_string(),
            notification: i64::from(notification),
            address: account.address.clone(),
            sender: from.map(|f| f.to_string()),
            amount,
            disposition: disposition.into(),
            reason: reason.map(Into::into),
            seen_at: now,
        };
        if !self
            .store
            .insert_deposit_in(tx, &request.id, &deposit)
            .await?
        {
            return Ok(None);
        }
        let to_hash = *to;
        match disposition {
            "accepted" => {
                self.store
                    .add_received_in(tx, &request.id, &account.address, amount)
                    .await?;
                let accounts = self.store.accounts_in(tx, &request.id).await?;
                let deposits: Vec<&AccountRow> =
                    accounts.iter().filter(|a| a.role == "deposit").collect();
                if deposits.iter().any(|a| a.received > a.expected) {
                    self.start_refund_in(tx, &request, &accounts, "overpaid")
                        .await?;
                } else if deposits.iter().all(|a| a.received == a.expected) {
                    self.start_mix_in(tx, &request, &accounts).await?;
                }
            }
            "returned" => {
                let sender = from.unwrap_or_default();
                self.store
                    .insert_legs_in(
                        tx,
                        &request.id,
                        &[Leg {
                            stage: 0,
                            kind: LegKind::Return,
                            from: to_hash,
                            transfers: vec![(sender, amount - self.settings.transfer_allowance)],
                            not_before: now,
                        }],
                        now,
                    )
                    .await?;
            }
            _ => {}
        }
        tracing::info!(request = %request.id, disposition, amount, "deposit seen");
        Ok(Some(request.id))
    }

    async fn start_mix_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request: &RequestRow,
        accounts: &[AccountRow],
    ) -> Result<(), sqlx::Error> {
        let now = self.now();
        if !self
            .store
            .transition_in(tx, &request.id, "awaiting_deposit", "mixing", None, now)
            .await?
        {
            return Ok(());
        }
        self.store.funded_in(tx, &request.id, now).await?;
        let Some(terms) = request
            .request_bytes
            .as_deref()
            .and_then(|b| hex::decode(b).ok())
            .and_then(|b| RequestTerms::from_bytes(&b).ok())
        else {
            return Ok(());
        };
        let hash = |a: &AccountRow| UInt160::parse_display(&a.address).unwrap_or_default();
        let deposits: Vec<(UInt160, i64)> = accounts
            .iter()
            .filter(|a| a.role == "deposit")
            .map(|a| (hash(a), a.expected))
            .collect();
        let hops: Vec<UInt160> = accounts
            .iter()
            .filter(|a| a.role == "hop")
            .map(hash)
            .collect();
        let mut random = random_u64;
        let legs = plan::mix_plan(
            &deposits,
            &hops,
            &terms.targets,
            self.settings.transfer_allowance,
            now,
            request.window_ms,
            &mut random,
        );
        self.store
            .insert_legs_in(tx, &request.id, &legs, now)
            .await?;
        tracing::info!(request = %request.id, legs = legs.len(), "deposits complete: mix planned");
        Ok(())
    }

    async fn start_refund_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request: &RequestRow,
        accounts: &[AccountRow],
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        let now = self.now();
        if !self
            .store
            .transition_in(
                tx,
                &request.id,
                "awaiting_deposit",
                "refunding",
                Some(reason),
                now,
            )
            .await?
        {
            return Ok(());
        }
        let user = UInt160::parse_display(&request.user_hash).unwrap_or_default();
        let legs: Vec<Leg> = accounts
            .iter()
            .filter(|a| a.role == "deposit" && a.received > self.settings.transfer_allowance)
            .map(|a| Leg {
                stage: 0,
                kind: LegKind::Refund,
                from: UInt160::parse_display(&a.address).unwrap_or_default(),
                transfers: vec![(user, a.received - self.settings.transfer_allowance)],
                not_before: now,
            })
            .collect();
        self.store
            .insert_legs_in(tx, &request.id, &legs, now)
            .await?;
        if legs.is_empty() {
            // Nothing worth sending back: settled with no transactions.
            self.settle_in(tx, &request.id, "refunding", "refunded", "refunded", &[])
                .await?;
        }
        tracing::warn!(request = %request.id, reason, "deposits do not match the plan: refunding");
        Ok(())
    }

    /// Handles every GAS transfer of `tx_hash` (a deposit the user confirms).
    pub async fn confirm_deposits(
        &self,
        id: &str,
        tx_hashes: &[String],
    ) -> Result<Status, MixerError> {
        self.store.get(id).await?;
        if tx_hashes.is_empty() || tx_hashes.len() > 16 {
            return Err(MixerError::InvalidDeposit(
                "give 1 to 16 transaction hashes".into(),
            ));
        }
        let chain = self.chain()?;
        for text in tx_hashes {
            let hash = UInt256::parse_display(text).map_err(|_| {
                MixerError::InvalidDeposit(format!(
                    "{:?} is not a transaction hash",
                    text.chars().take(80).collect::<String>()
                ))
            })?;
            let log = match chain.rpc.get_application_log(&hash).await {
                Ok(log) => log,
                Err(e) if e.rpc_kind().is_some() => {
                    return Err(MixerError::InvalidDeposit(format!(
                        "{text} is not a transaction on chain (yet)"
                    )));
                }
                Err(e) => return Err(MixerError::Unavailable(e.to_string())),
            };
            for execution in log
                .executions
                .iter()
                .filter(|e| e.trigger == "Application" && e.halted())
            {
                for (index, n) in execution.notifications.iter().enumerate() {
                    if n.contract != neosl_neo::native::GAS || n.eventname != "Transfer" {
                        continue;
                    }
                    if let Some((from, to, amount)) = parse_transfer(&n.state) {
                        let mut tx = self.store.database().pool().begin().await?;
                        self.on_transfer_in(&mut tx, &hash, index as u32, from, &to, amount)
                            .await?;
                        tx.commit().await?;
                    }
                }
            }
        }
        self.status(id).await
    }

    /// Takes signed but unsent deposits (hex, as `sendrawtransaction` wants them): each must
    /// be a valid transaction of the request's user whose test run pays one of the request's
    /// deposit accounts; it is broadcast at a random time in the first half of what is left of
    /// the deposit window, so that the deposit's time says nothing about the request's.
    pub async fn hand_over(&self, id: &str, raw: &[String]) -> Result<Status, MixerError> {
        let bad = |m: String| MixerError::InvalidDeposit(m);
        let request = self.store.get(id).await?;
        if request.state != "awaiting_deposit" {
            return Err(bad(format!(
                "the request no longer takes deposits ({})",
                request.state
            )));
        }
        if raw.is_empty() || raw.len() > 16 {
            return Err(bad("give 1 to 16 transactions".into()));
        }
        let chain = self.chain()?;
        let accounts = self.store.accounts(id).await?;
        let height = chain
            .rpc
            .get_block_count()
            .await
            .map_err(|e| MixerError::Unavailable(e.to_string()))?;
        let mut checked = Vec::new();
        for (i, text) in raw.iter().enumerate() {
            let tx = hex::decode(text)
                .ok()
                .and_then(|b| neosl_neo::tx::Transaction::from_bytes(&b).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "transaction {i} is not a signed Neo transaction in hex"
                    ))
                })?;
            if tx.signers.first().map(|s| s.account.to_string()) != Some(request.user_hash.clone())
            {
                return Err(bad(format!(
                    "transaction {i} is not sent by the request's user"
                )));
            }
            if tx.valid_until_block <= height + 2 {
                return Err(bad(format!(
                    "transaction {i} expires too soon (valid until block {})",
                    tx.valid_until_block
                )));
            }
            let tested = chain
                .rpc
                .invoke_script(&tx.script, &tx.signers)
                .await
                .map_err(|e| MixerError::Unavailable(e.to_string()))?;
            let pays_deposit = tested.halted()
                && tested.notifications.iter().any(|n| {
                    n.contract == neosl_neo::native::GAS
                        && n.eventname == "Transfer"
                        && parse_transfer(&n.state).is_some_and(|(_, to, _)| {
                            accounts
                                .iter()
                                .any(|a| a.role == "deposit" && a.address == to.to_string())
                        })
                });
            if !pays_deposit {
                return Err(bad(format!(
                    "transaction {i} does not pay a deposit address of this request"
                )));
            }
            let hash = tx.hash().map_err(|e| bad(e.to_string()))?;
            checked.push((hash, text.to_ascii_lowercase()));
        }
        let now = self.now();
        let room = ((request.deposit_deadline - now) / 2).max(1);
        for (hash, text) in checked {
            let send_at = now + (random_u64() % room as u64) as i64;
            self.store
                .insert_presigned(id, &hash.to_string(), &text, send_at, now)
                .await?;
        }
        self.status(id).await
    }

    async fn broadcast_due(&self) -> Result<()> {
        let Some(chain) = &self.chain else {
            return Ok(());
        };
        for (hash, raw) in self.store.due_presigned(self.now()).await? {
            let tx = hex::decode(&raw)
                .ok()
                .and_then(|b| neosl_neo::tx::Transaction::from_bytes(&b).ok());
            let Some(tx) = tx else {
                self.store
                    .presigned_done(&hash, "failed", Some("unreadable"), self.now())
                    .await?;
                continue;
            };
            match chain.submitter.send(&tx).await {
                Ok(_) => {
                    self.store
                        .presigned_done(&hash, "sent", None, self.now())
                        .await?;
                    tracing::info!(tx = %hash, "a handed-over deposit was broadcast");
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(tx = %hash, error = %e, "broadcasting a handed-over deposit failed; retrying");
                }
                Err(e) => {
                    self.store
                        .presigned_done(&hash, "failed", Some(&e.to_string()), self.now())
                        .await?;
                    tracing::warn!(tx = %hash, error = %e, "a handed-over deposit was refused by the node");
                }
            }
        }
        Ok(())
    }

    // ----- the round -----

    /// The chain time up to which every deposit has been looked at: the block before the
    /// deposit stream's position. A request is given up as unfunded only once deposits are
    /// known past its deadline in chain time, so a Mixer that was down never expires a request
    /// whose deposit is waiting in a block it has not read yet.
    async fn deposits_seen_until(&self) -> Option<i64> {
        use neosl_chain::events::CursorStore as _;
        let position = self.cursor.as_ref()?.load().await.ok()??;
        let block = self
            .chain
            .as_ref()?
            .rpc
            .get_block(position.next_block.checked_sub(1)?)
            .await
            .ok()?;
        i64::try_from(block.time).ok()
    }

    /// The contract's record of a dispute: `(state, disputed_at, grace)`.
    async fn dispute_record(&self, request_hash: &str) -> Result<Option<(i64, i64, i64)>> {
        let (Ok(deployment), Ok(chain)) = (self.deployment(), self.chain()) else {
            return Ok(None);
        };
        let result = chain
            .rpc
            .invoke_function(
                &deployment.contract,
                "getDispute",
                &[P::ByteArray(hex::decode(request_hash)?)],
                &[],
            )
            .await?;
        let fields: Vec<i64> = result
            .stack
            .first()
            .and_then(StackItem::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        i.as_integer()
                            .and_then(|n| i64::try_from(n).ok())
                            .unwrap_or(0)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((fields.len() >= 6).then(|| (fields[0], fields[4], fields[5])))
    }

    /// Whether a leg of a request past its deadline may still go: not when the user has been
    /// compensated (the request becomes `compensated`: the deposit stays with the operator, who
    /// paid its total from the bond), nor when a claim could land before the leg does (the last
    /// quarter of the grace after a dispute).
    async fn may_move(&self, request: &RequestRow) -> Result<bool> {
        if self.now() <= request.deadline {
            return Ok(true);
        }
        let Some(hash) = &request.request_hash else {
            return Ok(true);
        };
        match self.dispute_record(hash).await? {
            Some((mixer::state::CLAIMED, _, _)) => {
                let mut tx = self.store.database().pool().begin().await?;
                for from in ["awaiting_deposit", "mixing", "refunding", "stuck"] {
                    self.store
                        .transition_in(
                            &mut tx,
                            &request.id,
                            from,
                            "compensated",
                            Some("the user was compensated from the bond"),
                            self.now(),
                        )
                        .await?;
                }
                self.store
                    .cancel_legs_in(&mut tx, &request.id, self.now())
                    .await?;
                tx.commit().await?;
                tracing::warn!(request = %request.id, "compensated on chain: its legs are cancelled");
                Ok(false)
            }
            Some((mixer::state::DISPUTED, disputed_at, grace)) => {
                Ok(self.now() < disputed_at + grace - grace / 4)
            }
            _ => Ok(true),
        }
    }

    /// One round: overdue deposits, due legs, releases, stale reservations.
    pub async fn round(&self) -> Result<()> {
        let now = self.now();
        let overdue = self.store.deposit_overdue(now).await?;
        let seen_until = if overdue.is_empty() {
            None
        } else {
            self.deposits_seen_until().await
        };
        for request in overdue {
            if seen_until.is_none_or(|t| t <= request.deposit_deadline) {
                continue;
            }
            let mut tx = self.store.database().pool().begin().await?;
            let accounts = self.store.accounts_in(&mut tx, &request.id).await?;
            if accounts.iter().all(|a| a.received == 0) {
                if self
                    .settle_in(
                        &mut tx,
                        &request.id,
                        "awaiting_deposit",
                        "expired",
                        "unfunded",
                        &[],
                    )
                    .await?
                {
                    tracing::info!(request = %request.id, "nothing deposited in time: expired");
                }
            } else {
                self.start_refund_in(&mut tx, &request, &accounts, "underpaid")
                    .await?;
            }
            tx.commit().await?;
        }
        self.broadcast_due().await?;
        for leg in self.store.due_legs(now, 200).await? {
            self.dispatch(&leg).await?;
        }
        for request in self.store.stale_reservations(now - 120_000).await? {
            let mut tx = self.store.database().pool().begin().await?;
            self.store
                .transition_in(
                    &mut tx,
                    &request.id,
                    "reserving",
                    "abandoned",
                    Some("setting up did not finish"),
                    now,
                )
                .await?;
            tx.commit().await?;
        }
        if let Some(pool) = &self.pool {
            let hold = self.settings.scaled(self.settings.account_hold_ms);
            let unfunded_hold = self.settings.scaled(self.settings.deposit_window_ms);
            for request in self.store.releasable(now, hold, unfunded_hold).await? {
                if let Some(lock_id) = &request.lock_id {
                    match pool
                        .release_accounts(ReleaseAccounts {
                            lock_id: Some(lock_id.clone()),
                            ..ReleaseAccounts::default()
                        })
                        .await
                    {
                        Ok(_) => {}
                        // Gone already (expired, or released by another replica).
                        Err(e) if e.status < 500 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                self.store.mark_released(&request.id, now).await?;
                tracing::info!(request = %request.id, "accounts back in the pool");
            }
        }
        Ok(())
    }

    async fn dispatch(&self, leg: &LegRow) -> Result<()> {
        if leg.kind != "return" {
            let request = self.store.get(&leg.request_id).await?;
            if !self.may_move(&request).await? {
                return Ok(());
            }
        }
        let mut tx = self.store.database().pool().begin().await?;
        let Some(account) = self
            .store
            .account_in(&mut tx, &leg.request_id, &leg.from_address)
            .await?
        else {
            return Ok(());
        };
        let from = UInt160::parse_display(&leg.from_address)?;
        let transfers = leg
            .transfers
            .iter()
            .map(|(to, a)| Ok((UInt160::parse_display(to)?, *a)))
            .collect::<Result<Vec<_>>>()?;
        let script = mixer::gas_transfers(&from, &transfers)?;
        let work = TransferWork {
            request_id: leg.request_id.clone(),
            seq: leg.seq,
            account_id: account.account_id,
            public_key: account.public_key,
            script: hex::encode(script),
        };
        if !self
            .store
            .move_leg_in(
                &mut tx,
                &leg.request_id,
                leg.seq,
                "waiting",
                "planned",
                None,
                None,
                self.now(),
            )
            .await?
        {
            return Ok(());
        }
        self.outbox
            .plan_in(
                &mut tx,
                TRANSFER,
                &format!("{}:{}:{}", leg.request_id, leg.seq, leg.attempts),
                &serde_json::to_value(&work)?,
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Settles a request whose last leg just confirmed (in the settling transaction).
    async fn after_leg_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request_id: &str,
    ) -> Result<(), sqlx::Error> {
        let Some(request) = self.store.get_in(tx, request_id).await? else {
            return Ok(());
        };
        let legs = self.store.legs_in(tx, request_id).await?;
        let (kind, to, outcome) = match request.state.as_str() {
            "mixing" => ("deliver", "delivered", "delivered"),
            "refunding" => ("refund", "refunded", "refunded"),
            _ => return Ok(()),
        };
        let family: Vec<&LegRow> = legs
            .iter()
            .filter(|l| match request.state.as_str() {
                "mixing" => l.kind == "mix" || l.kind == "deliver",
                _ => l.kind == "refund",
            })
            .collect();
        if family.iter().any(|l| l.state != "confirmed") {
            return Ok(());
        }
        let txids: Vec<UInt256> = legs
            .iter()
            .filter(|l| l.kind == kind)
            .filter_map(|l| l.tx_hash.as_deref())
            .filter_map(|h| UInt256::parse_display(h).ok())
            .collect();
        self.settle_in(tx, request_id, &request.state, to, outcome, &txids)
            .await?;
        tracing::info!(request = request_id, outcome, "request settled");
        Ok(())
    }

    async fn settle_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: &str,
        from: &str,
        to: &str,
        outcome: &str,
        txids: &[UInt256],
    ) -> Result<bool, sqlx::Error> {
        let Some(request) = self.store.get_in(tx, id).await? else {
            return Ok(false);
        };
        let Some(request_hash) = request
            .request_hash
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
        else {
            return Ok(false);
        };
        let txids_hash = mixer::txids_hash(txids);
        let Ok(signature) = self
            .key
            .sign(&mixer::proof_message(&request_hash, &txids_hash))
        else {
            return Ok(false);
        };
        let shown: Vec<String> = txids.iter().map(ToString::to_string).collect();
        self.store
            .settle_in(
                tx,
                id,
                from,
                to,
                outcome,
                &shown,
                &hex::encode(txids_hash),
                &hex::encode(signature.to_bytes()),
                self.now(),
            )
            .await
    }

    // ----- reads -----

    /// A request's status.
    pub async fn status(&self, id: &str) -> Result<Status, MixerError> {
        let request = self.store.get(id).await?;
        if request.state == "reserving" {
            return Err(MixerError::UnknownRequest);
        }
        let accounts = self.store.accounts(id).await?;
        let deposits = self.store.deposits(id).await?;
        let legs = self.store.legs(id).await?;
        let shown = |h: &str| {
            UInt160::parse_display(h)
                .map(|h| display(&h))
                .unwrap_or_else(|_| h.to_owned())
        };
        let submission = self.outbox.item(PROOF, id).await?.map(|item| Submission {
            state: item.state.as_str().into(),
            tx_hash: item.tx_hash.clone(),
            reason: item.last_error.clone(),
        });
        Ok(Status {
            request_id: request.id.clone(),
            state: request.state.clone(),
            reason: request.reason.clone(),
            request_hash: request.request_hash.clone(),
            deposits: accounts
                .iter()
                .filter(|a| a.role == "deposit")
                .map(|a| DepositAccount {
                    address: shown(&a.address),
                    expected: format_gas(a.expected),
                    received: format_gas(a.received),
                })
                .collect(),
            deposits_seen: deposits
                .iter()
                .map(|d| DepositSeen {
                    tx_hash: d.tx_hash.clone(),
                    address: shown(&d.address),
                    sender: d.sender.as_deref().map(shown),
                    amount: format_gas(d.amount),
                    disposition: d.disposition.clone(),
                    reason: d.reason.clone(),
                })
                .collect(),
            total: format_gas(request.total),
            net: format_gas(request.net),
            transactions: Progress {
                planned: legs.len(),
                confirmed: legs.iter().filter(|l| l.state == "confirmed").count(),
            },
            deposit_deadline: request.deposit_deadline,
            deadline: request.deadline,
            funded_at: request.funded_at,
            settled_at: request.settled_at,
            outcome: request.outcome.clone(),
            txids: request.txids.clone().unwrap_or_default(),
            proof_available: request.proof_signature.is_some(),
            proof_submission: submission,
            presigned: self
                .store
                .presigned_of(id)
                .await?
                .into_iter()
                .map(|(tx_hash, state, reason)| Presigned {
                    tx_hash,
                    state,
                    reason,
                })
                .collect(),
        })
    }

    /// A settled request's CompletionProof.
    pub async fn proof(&self, id: &str) -> Result<CompletionProof, MixerError> {
        let request = self.store.get(id).await?;
        let (Some(request_hash), Some(outcome), Some(txids_hash), Some(signature)) = (
            request.request_hash.clone(),
            request.outcome.clone(),
            request.txids_hash.clone(),
            request.proof_signature.clone(),
        ) else {
            return Err(MixerError::NotSettled(request.state));
        };
        let message = mixer::proof_message(&decode32(&request_hash)?, &decode32(&txids_hash)?);
        Ok(CompletionProof {
            request_id: request.id,
            request_hash,
            outcome,
            txids: request.txids.unwrap_or_default(),
            txids_hash,
            proof_signature: signature,
            signed_message: hex::encode(message),
            public_key: self.public_key.clone(),
            contract: self.deployment.map(|d| d.contract.to_string()),
        })
    }

    /// Limits, load, fees, the bond.
    pub async fn info(&self) -> Result<Info, MixerError> {
        let (held, open) = self.store.load().await?;
        let rule = self.fees.rule(FEE).copied();
        Ok(Info {
            asset: "GAS".into(),
            max_request: format_gas(self.settings.max_request),
            max_pool: format_gas(self.settings.max_pool),
            pool_held: format_gas(held),
            pool_headroom: format_gas((self.settings.max_pool - held).max(0)),
            open_requests: open,
            mix_options: crate::settings::MIX_OPTIONS_MS
                .iter()
                .map(|o| MixOption {
                    mix_option: *o,
                    window_ms: self.settings.scaled(*o),
                })
                .collect(),
            grace_ms: self.settings.scaled(self.settings.grace_ms),
            deposit_window_ms: self.settings.scaled(self.settings.deposit_window_ms),
            fee_base: format_gas(rule.map_or(0, |r| r.base)),
            fee_basis_points: rule.map_or(0, |r| r.basis_points),
            transfer_allowance: format_gas(self.settings.transfer_allowance),
            max_targets: self.settings.max_targets,
            public_key: self.public_key.clone(),
            contract: self.deployment.map(|d| d.contract.to_string()),
            bond: self.bond().await.ok(),
        })
    }

    /// Recent requests, without anything that links them to anyone.
    pub async fn recent(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Summary>, MixerError> {
        if !(1..=100).contains(&limit) {
            return Err(MixerError::InvalidLimit);
        }
        Ok(self
            .store
            .recent(before.unwrap_or(i64::MAX), limit)
            .await?
            .into_iter()
            .map(|r| Summary {
                state: r.state,
                mix_option: r.mix_option_ms,
                created_hour: r.created_at - r.created_at.rem_euclid(3_600_000),
            })
            .collect())
    }

    // ----- disputes -----

    /// Plans sending the request's CompletionProof to the contract (once; asking again
    /// answers the same submission).
    pub async fn submit_proof(&self, id: &str) -> Result<Submission, MixerError> {
        let proof = self.proof(id).await?;
        let deployment = self.deployment()?;
        let mut sb = neosl_neo::script::ScriptBuilder::new();
        neosl_neo::contract::call(
            &mut sb,
            &deployment.contract,
            "proveFulfilled",
            neosl_neo::contract::CallFlags::ALL,
            &[
                P::ByteArray(hex::decode(&proof.request_hash).unwrap_or_default()),
                P::ByteArray(hex::decode(&proof.txids_hash).unwrap_or_default()),
                P::ByteArray(hex::decode(&proof.proof_signature).unwrap_or_default()),
            ],
        )
        .map_err(|e| MixerError::Unavailable(e.to_string()))?;
        let work = ProofWork {
            request_id: id.into(),
            script: hex::encode(sb.into_bytes()),
        };
        let mut tx = self.store.database().pool().begin().await?;
        self.outbox
            .plan_in(
                &mut tx,
                PROOF,
                id,
                &serde_json::to_value(&work).unwrap_or_default(),
            )
            .await
            .map_err(|e| MixerError::Database(e.to_string()))?;
        tx.commit().await?;
        let item = self.outbox.item(PROOF, id).await?;
        Ok(item.map_or(
            Submission {
                state: "planned".into(),
                tx_hash: None,
                reason: None,
            },
            |i| Submission {
                state: i.state.as_str().into(),
                tx_hash: i.tx_hash.clone(),
                reason: i.last_error.clone(),
            },
        ))
    }

    async fn on_dispute(&self, event: &ChainEvent) -> Result<()> {
        let Some(hash) = event
            .state
            .as_array()
            .and_then(|a| a.first())
            .and_then(StackItem::as_bytes)
        else {
            return Ok(());
        };
        let Some(request) = self.store.by_hash(&hex::encode(&hash)).await? else {
            tracing::warn!(request_hash = %hex::encode(&hash), "a dispute for a request this Mixer does not know");
            return Ok(());
        };
        match self.submit_proof(&request.id).await {
            Ok(_) => {
                tracing::warn!(request = %request.id, "disputed on chain: the completion proof is on its way")
            }
            Err(MixerError::NotSettled(state)) => {
                tracing::error!(request = %request.id, state, "disputed on chain before it was settled")
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    // ----- the proof sender -----

    async fn sender(&self) -> Result<Sender> {
        let mut slot = self.sender.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let pool = self
            .pool
            .as_ref()
            .context("the AccountPool cannot be reached")?;
        let grant = pool
            .request_accounts(RequestAccounts {
                service_id: None,
                count: 1,
                purpose: "mixer-proofs".into(),
            })
            .await?;
        let view = grant
            .accounts
            .first()
            .context("the pool granted no account")?
            .clone();
        let signer = Arc::new(PoolSigner::new(pool.clone(), &view)?);
        let sender = Sender {
            lock_id: grant.lock_id,
            view,
            signer,
        };
        *slot = Some(sender.clone());
        Ok(sender)
    }

    /// Keeps the requests' locks and the proof sender's lock alive and its GAS topped up.
    pub async fn upkeep(&self) -> Result<()> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        for (id, lock_id) in self.store.holding().await? {
            if let Err(e) = pool
                .renew_lock(RenewLock {
                    service_id: None,
                    lock_id,
                })
                .await
            {
                tracing::error!(request = %id, error = %e, "a request's accounts could not be kept locked");
            }
        }
        let Some(chain) = &self.chain else {
            return Ok(());
        };
        if self.deployment.is_none() {
            return Ok(());
        }
        let sender = self.sender().await?;
        if pool
            .renew_lock(RenewLock {
                service_id: None,
                lock_id: sender.lock_id.clone(),
            })
            .await
            .is_err()
        {
            *self.sender.lock().await = None;
            return Ok(());
        }
        let address = Address::parse(&sender.view.address)?;
        let gas = chain
            .rpc
            .get_nep17_balances(&address.script_hash())
            .await?
            .of(&neosl_neo::native::GAS);
        let gas = i64::try_from(&gas).unwrap_or(i64::MAX);
        if gas < self.settings.min_sender_gas {
            neosl_gasbank::withdrawals::request_top_up(
                &self.outbox,
                &address,
                self.settings.top_up_gas,
                self.now(),
            )
            .await?;
        }
        Ok(())
    }

    /// Runs rounds until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.settings.tick_ms.max(50));
        let mut last_upkeep = i64::MIN / 2;
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %format!("{e:#}"), "the mixer round failed; retrying");
            }
            if self.now() - last_upkeep > 60_000 {
                match self.upkeep().await {
                    Ok(()) => last_upkeep = self.now(),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "mixer upkeep failed"),
                }
            }
            if neosl_runtime::service::pause(interval, &mut shutdown).await {
                return;
            }
        }
    }

    /// The outbox kinds the Mixer's transactions go through.
    pub fn work_kinds(self: &Arc<Self>) -> Vec<Arc<dyn WorkKind>> {
        vec![
            Arc::new(TransferKind {
                mixer: self.clone(),
            }),
            Arc::new(ProofKind {
                mixer: self.clone(),
            }),
        ]
    }

    /// The handler of GAS transfers (deposits).
    pub fn deposit_handler(self: &Arc<Self>) -> Arc<dyn EventHandler> {
        Arc::new(DepositWatch {
            mixer: self.clone(),
        })
    }

    /// The handler of the contract's `DisputeOpened`.
    pub fn dispute_handler(self: &Arc<Self>) -> Arc<dyn EventHandler> {
        Arc::new(DisputeWatch {
            mixer: self.clone(),
        })
    }
}

fn decode32(text: &str) -> Result<[u8; 32], MixerError> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| MixerError::Database("a stored hash is not 32 bytes".into()))
}

struct DepositWatch {
    mixer: Arc<Mixer>,
}

#[async_trait]
impl EventHandler for DepositWatch {
    async fn handle(&self, event: &ChainEvent) -> Result<(), BoxError> {
        if event.contract != neosl_neo::native::GAS || event.event_name != "Transfer" {
            return Ok(());
        }
        let Some((from, to, amount)) = parse_transfer(&event.state) else {
            return Ok(());
        };
        let m = &self.mixer;
        let mut tx = m.store.database().pool().begin().await?;
        m.on_transfer_in(
            &mut tx,
            &event.tx_hash,
            event.notification_index,
            from,
            &to,
            amount,
        )
        .await?;
        if let Some(cursor) = &m.cursor {
            cursor.save_in(&mut tx, DbCursor::after(event)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

struct DisputeWatch {
    mixer: Arc<Mixer>,
}

#[async_trait]
impl EventHandler for DisputeWatch {
    async fn handle(&self, event: &ChainEvent) -> Result<(), BoxError> {
        if event.event_name != "DisputeOpened" {
            return Ok(());
        }
        self.mixer
            .on_dispute(event)
            .await
            .map_err(|e| -> BoxError { e.into() })
    }
}

struct TransferKind {
    mixer: Arc<Mixer>,
}

#[async_trait]
impl WorkKind for TransferKind {
    fn kind(&self) -> &'static str {
        TRANSFER
    }

    fn max_attempts(&self) -> i64 {
        3
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let work: TransferWork = serde_json::from_value(item.payload.clone())
            .map_err(|e| WorkError::Permanent(format!("unreadable leg: {e}")))?;
        let pool = self
            .mixer
            .pool
            .clone()
            .ok_or_else(|| WorkError::Transient("the AccountPool cannot be reached".into()))?;
        let view = AccountView {
            id: work.account_id.clone(),
            address: String::new(),
            script_hash: String::new(),
            public_key: work.public_key.clone(),
            status: "active".into(),
            lock_id: None,
            locked_by: None,
            lock_expires_at: None,
            balances: vec![],
        };
        let signer = Arc::new(
            PoolSigner::new(pool, &view).map_err(|e| WorkError::Permanent(e.to_string()))?,
        );
        let script = hex::decode(&work.script).map_err(|e| WorkError::Permanent(e.to_string()))?;
        let transaction = chain
            .submitter
            .build(script, &[SignerEntry::called_by_entry(signer)], vec![])
            .await?;
        Ok(Built { transaction })
    }

    async fn settle(
        &self,
        tx: &mut Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> std::result::Result<(), sqlx::Error> {
        let Ok(work) = serde_json::from_value::<TransferWork>(item.payload.clone()) else {
            return Ok(());
        };
        let m = &self.mixer;
        let now = m.now();
        match outcome {
            Outcome::Confirmed { tx_hash, .. } => {
                if m.store
                    .move_leg_in(
                        tx,
                        &work.request_id,
                        work.seq,
                        "planned",
                        "confirmed",
                        Some(tx_hash),
                        None,
                        now,
                    )
                    .await?
                {
                    m.after_leg_in(tx, &work.request_id).await?;
                }
            }
            Outcome::Faulted { tx_hash, exception } => {
                m.store
                    .move_leg_in(
                        tx,
                        &work.request_id,
                        work.seq,
                        "planned",
                        "faulted",
                        Some(tx_hash),
                        Some(exception),
                        now,
                    )
                    .await?;
                for from in ["mixing", "refunding"] {
                    m.store
                        .transition_in(tx, &work.request_id, from, "stuck", Some(exception), now)
                        .await?;
                }
                tracing::error!(request = %work.request_id, seq = work.seq, exception, "a mix transaction faulted: the request is stuck");
            }
            Outcome::Failed { reason } => {
                // Never landed: plan it again (a new outbox item, the same transfers).
                m.store
                    .move_leg_in(
                        tx,
                        &work.request_id,
                        work.seq,
                        "planned",
                        "waiting",
                        None,
                        Some(reason),
                        now,
                    )
                    .await?;
                tracing::warn!(request = %work.request_id, seq = work.seq, reason, "a mix transaction did not land; trying again");
            }
        }
        Ok(())
    }
}

struct ProofKind {
    mixer: Arc<Mixer>,
}

#[async_trait]
impl WorkKind for ProofKind {
    fn kind(&self) -> &'static str {
        PROOF
    }

    fn max_attempts(&self) -> i64 {
        5
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let work: ProofWork = serde_json::from_value(item.payload.clone())
            .map_err(|e| WorkError::Permanent(format!("unreadable proof: {e}")))?;
        let sender = self
            .mixer
            .sender()
            .await
            .map_err(|e| WorkError::Transient(format!("{e:#}")))?;
        let script = hex::decode(&work.script).map_err(|e| WorkError::Permanent(e.to_string()))?;
        let transaction = chain
            .submitter
            .build(
                script,
                &[SignerEntry::called_by_entry(sender.signer.clone())],
                vec![],
            )
            .await?;
        Ok(Built { transaction })
    }

    async fn settle(
        &self,
        _tx: &mut Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> std::result::Result<(), sqlx::Error> {
        tracing::info!(item = %item.reference, confirmed = outcome.confirmed(), "completion proof settled on chain");
        Ok(())
    }
}
