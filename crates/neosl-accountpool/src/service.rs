//! The AccountPool's operations. Keys are derived on demand from the master key and the account
//! id, used for one call, and dropped (zeroized); they are never stored, cached or returned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use neosl_accountpool_api::*;
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::SignerEntry;
use neosl_chain::{ChainError, RpcClient, RpcErrorKind};
use neosl_crypto::{MasterKey, PublicKey, kdf};
use neosl_neo::param::ContractParameter;
use neosl_neo::script::{nep17_transfer, verification_script};
use neosl_neo::tx::{Witness, sign_data};
use neosl_neo::{Address, UInt160, UInt256, native};
use neosl_runtime::RuntimeMode;
use neosl_runtime::attestation::{self, PublishedKey};
use neosl_runtime::clock::SharedClock;
use num_bigint::BigInt;

use crate::Chain;
use crate::error::Failure;
use crate::store::{
    AccountRow, AuditEntry, Authorized, BalanceRow, NewAccount, PoolStore, ReleaseRefusal,
    SignAttempt, UpdateError,
};

/// A pending `/sign` waiting for its authorization.
type SignTicket = (
    SignAttempt,
    tokio::sync::oneshot::Sender<Result<bool, Failure>>,
);

/// Pool behaviour settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Accounts to keep active (filled at start, topped up after rotation).
    pub target_size: u32,
    /// The pool never grows beyond this.
    pub max_size: u32,
    /// How long a lock lasts.
    pub lock_ttl: Duration,
    /// How often expired locks are swept.
    pub sweep_interval: Duration,
    /// How often locked accounts' balances are read from the chain.
    pub sync_interval: Duration,
    /// How often rotation runs.
    pub rotation_interval: Duration,
    /// Accounts younger than this are not rotated.
    pub rotation_min_age: Duration,
    /// Share of active accounts retired per rotation, in percent.
    pub rotation_percent: u32,
    /// Accounts inserted per batch while filling.
    pub fill_batch: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            target_size: 10_000,
            max_size: 100_000,
            lock_ttl: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
            sync_interval: Duration::from_secs(30),
            rotation_interval: Duration::from_secs(24 * 3600),
            rotation_min_age: Duration::from_secs(24 * 3600),
            rotation_percent: 10,
            fill_batch: 1000,
        }
    }
}

/// The AccountPool service.
pub struct AccountPool {
    store: PoolStore,
    master: Arc<MasterKey>,
    master_public: PublicKey,
    config: PoolConfig,
    chain: Option<Chain>,
    network: Option<u32>,
    mode: RuntimeMode,
    clock: SharedClock,
    sign_queue: std::sync::OnceLock<tokio::sync::mpsc::Sender<SignTicket>>,
}

impl std::fmt::Debug for AccountPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountPool")
            .field("master_public", &self.master_public)
            .field("network", &self.network)
            .finish()
    }
}

/// The ids the pool uses: lowercase hyphenated UUIDs.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn parse_hash(s: &str) -> Result<UInt256, Failure> {
    let digits = s.strip_prefix("0x").ok_or(Failure::MalformedHash)?;
    if digits.len() != 64 {
        return Err(Failure::MalformedHash);
    }
    UInt256::parse_display(s).map_err(|_| Failure::MalformedHash)
}

/// `GAS`, `NEO` or `0x…` → (token type, contract).
pub fn parse_token(token: &str) -> Result<(String, UInt160), Failure> {
    match token.to_ascii_uppercase().as_str() {
        "GAS" => Ok(("GAS".into(), native::GAS)),
        "NEO" => Ok(("NEO".into(), native::NEO)),
        _ => {
            let hash = UInt160::parse_display(token).map_err(|_| {
                Failure::Invalid(format!(
                    "token must be GAS, NEO or a 0x contract hash, got {token:?}"
                ))
            })?;
            Ok((token_type_of(&hash), hash))
        }
    }
}

fn token_type_of(hash: &UInt160) -> String {
    if *hash == native::GAS {
        "GAS".into()
    } else if *hash == native::NEO {
        "NEO".into()
    } else {
        hash.to_string()
    }
}

fn parse_amount(s: &str, what: &str) -> Result<BigInt, Failure> {
    let valid = !s.is_empty()
        && s.len() <= 80
        && s.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit());
    if !valid || s == "-" {
        return Err(Failure::Invalid(format!(
            "{what} must be an integer in the token's smallest unit, got {s:?}"
        )));
    }
    s.parse()
        .map_err(|_| Failure::Invalid(format!("{what} is not an integer")))
}

fn view(account: &AccountRow, balances: &[BalanceRow]) -> AccountView {
    AccountView {
        id: account.id.clone(),
        address: account.address.clone(),
        script_hash: account.script_hash.clone(),
        public_key: account.public_key.clone(),
        status: account.status.clone(),
        lock_id: account.lock_id.clone(),
        locked_by: account.locked_by.clone(),
        lock_expires_at: account.lock_expires_at,
        balances: balances.iter().map(balance_view).collect(),
    }
}

fn balance_view(b: &BalanceRow) -> BalanceView {
    BalanceView {
        token_type: b.token_type.clone(),
        script_hash: b.script_hash.clone(),
        tracked: b.tracked.to_string(),
        chain: b.chain_amount.clone(),
        synced_at: b.synced_at,
    }
}

/// Checks that `caller` may act on `account` at `now`.
fn check_holder(account: &AccountRow, caller: &str, now: i64) -> Result<(), Failure> {
    if account.locked_by.as_deref() != Some(caller) {
        return Err(Failure::NotLockedByCaller(account.id.clone()));
    }
    if !account.held_by(caller, now) {
        return Err(Failure::LockExpired(account.id.clone()));
    }
    Ok(())
}

/// Signs `data` with the key of `account_id`; the key lives only inside this call.
fn sign_with(
    master: &MasterKey,
    account_id: &str,
    data: &[u8],
) -> Result<(neosl_crypto::Signature, PublicKey), Failure> {
    let key = kdf::derive_pool_account_key(master, account_id).map_err(Failure::internal)?;
    let signing = key.signing_key().map_err(Failure::internal)?;
    let signature = signing.sign(data).map_err(Failure::internal)?;
    Ok((signature, key.public_key()))
}

fn signed_view(
    account_id: &str,
    signature: &neosl_crypto::Signature,
    public_key: &PublicKey,
) -> Signed {
    let witness = Witness::single_sig(signature, public_key);
    Signed {
        account_id: account_id.to_owned(),
        signature: hex::encode(signature.to_bytes()),
        public_key: public_key.to_string(),
        witness: WitnessView {
            invocation: BASE64.encode(&witness.invocation),
            verification: BASE64.encode(&witness.verification),
        },
    }
}

/// Derives the public parts of a new account.
pub fn new_account(master: &MasterKey, id: String) -> Result<NewAccount, Failure> {
    let key = kdf::derive_pool_account_key(master, &id)
        .map_err(Failure::internal)?
        .public_key();
    let hash = UInt160::of_script(&verification_script(&key));
    Ok(NewAccount {
        id,
        address: Address::from_script_hash(hash).to_string(),
        script_hash: hash.to_string(),
        public_key: key.to_string(),
    })
}

impl AccountPool {
    /// A pool over `store` with `master`. `network` is the magic signed into transactions (from
    /// the chain when it is configured).
    pub fn new(
        store: PoolStore,
        master: MasterKey,
        config: PoolConfig,
        chain: Option<Chain>,
        network: Option<u32>,
        mode: RuntimeMode,
        clock: SharedClock,
    ) -> Result<Self, Failure> {
        let master_public = kdf::master_public_key(&master).map_err(Failure::internal)?;
        let network = network.or_else(|| chain.as_ref().map(|c| c.submitter.network()));
        Ok(Self {
            store,
            master: Arc::new(master),
            master_public,
            config,
            chain,
            network,
            mode,
            clock,
            sign_queue: std::sync::OnceLock::new(),
        })
    }

    /// The store.
    pub fn store(&self) -> &PoolStore {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The master public key (published, never the master key).
    pub fn master_public_key(&self) -> PublicKey {
        self.master_public
    }

    fn chain(&self) -> Result<&Chain, Failure> {
        self.chain
            .as_ref()
            .ok_or_else(|| Failure::ChainUnavailable("no chain RPC is configured".into()))
    }

    fn network(&self) -> Result<u32, Failure> {
        self.network.ok_or_else(|| {
            Failure::ChainUnavailable(
                "the network magic is unknown: configure chain_rpc or network_magic".into(),
            )
        })
    }

    /// Creates `count` accounts (in batches), deriving their public keys on all cores.
    pub async fn create_accounts(&self, count: usize) -> Result<usize, Failure> {
        let tokens = [
            ("GAS", native::GAS.to_string()),
            ("NEO", native::NEO.to_string()),
        ];
        let mut created = 0;
        while created < count {
            let batch = (count - created).min(self.config.fill_batch.max(1));
            let master = self.master.clone();
            let accounts = tokio::task::spawn_blocking(move || derive_batch(&master, batch))
                .await
                .map_err(Failure::internal)??;
            self.store
                .insert_accounts(&accounts, &tokens, self.clock.now_millis())
                .await?;
            created += batch;
            if count > self.config.fill_batch {
                tracing::info!(created, of = count, "filling the account pool");
            }
        }
        Ok(created)
    }

    /// Tops the active pool up to its target size. Returns how many accounts were created.
    pub async fn fill_to_target(&self) -> Result<usize, Failure> {
        let _guard = self.store.fill_lock().await?;
        let active = self.store.count_active().await? as u32;
        let total = self.store.count_all().await? as u32;
        let wanted = self
            .config
            .target_size
            .saturating_sub(active)
            .min(self.config.max_size.saturating_sub(total));
        if wanted == 0 {
            return Ok(0);
        }
        self.create_accounts(wanted as usize).await
    }

    /// `/request`.
    pub async fn request(
        &self,
        caller: &str,
        count: u32,
        purpose: &str,
    ) -> Result<LockGrant, Failure> {
        if !(1..=MAX_REQUEST_COUNT).contains(&count) {
            return Err(Failure::CountOutOfRange);
        }
        if purpose.len() > 256 {
            return Err(Failure::Invalid("purpose is at most 256 characters".into()));
        }
        let lock_id = uuid::Uuid::new_v4().to_string();
        for attempt in 0..3 {
            let now = self.clock.now_millis();
            let expires_at = now + self.config.lock_ttl.as_millis() as i64;
            let accounts = self
                .store
                .allocate(caller, purpose, count, &lock_id, now, expires_at)
                .await?;
            if !accounts.is_empty() {
                let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
                let balances = self.store.balances_of(&ids).await?;
                let views = accounts
                    .iter()
                    .map(|a| {
                        view(
                            a,
                            &balances
                                .iter()
                                .filter(|b| b.account_id == a.id)
                                .cloned()
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect();
                return Ok(LockGrant {
                    lock_id,
                    expires_at,
                    accounts: views,
                });
            }
            // Too few free accounts: grow the pool (up to its maximum) and try again.
            let total = self.store.count_all().await? as u32;
            let room = self.config.max_size.saturating_sub(total);
            if room == 0 {
                break;
            }
            let grow = (count + count / 2 + attempt).max(count).min(room);
            tracing::info!(grow, total, "the pool has too few free accounts; growing");
            self.create_accounts(grow as usize).await?;
        }
        Err(Failure::PoolExhausted)
    }

    /// `/release`.
    pub async fn release(
        &self,
        caller: &str,
        request: &ReleaseAccounts,
    ) -> Result<Released, Failure> {
        let chosen = [
            request.lock_id.is_some(),
            request.account_ids.is_some(),
            request.all == Some(true),
        ];
        if chosen.iter().filter(|c| **c).count() != 1 {
            return Err(Failure::Invalid(
                "give exactly one of lock_id, account_ids or all: true".into(),
            ));
        }
        let now = self.clock.now_millis();
        let outcome = if let Some(lock_id) = &request.lock_id {
            self.store
                .release_lock(caller, lock_id, now)
                .await?
                .map_err(|r| match r {
                    ReleaseRefusal::UnknownLock => Failure::UnknownLock(lock_id.clone()),
                    _ => Failure::NotLockedByCaller(format!("lock {lock_id}")),
                })?
        } else if let Some(ids) = &request.account_ids {
            if ids.is_empty() || ids.len() > 1000 {
                return Err(Failure::Invalid("account_ids holds 1 to 1000 ids".into()));
            }
            if let Some(bad) = ids.iter().find(|id| !is_account_id(id)) {
                return Err(Failure::Invalid(format!("{bad:?} is not an account id")));
            }
            self.store
                .release_accounts(caller, ids)
                .await?
                .map_err(|r| match r {
                    ReleaseRefusal::UnknownAccount(id) => Failure::UnknownAccount(id),
                    _ => Failure::NotLockedByCaller("an account".into()),
                })?
        } else {
            self.store.release_all(caller, now).await?
        };
        Ok(Released { released: outcome })
    }

    /// `/sign`. Concurrent calls are authorized (and audited) together in one statement: each
    /// call waits only for the database round trip already under way, so the cost of the
    /// lock check and audit write is shared under load and adds nothing when idle.
    pub async fn sign(
        &self,
        caller: &str,
        account_id: &str,
        tx_hash: &str,
    ) -> Result<Signed, Failure> {
        let hash = parse_hash(tx_hash)?;
        if !is_account_id(account_id) {
            return Err(Failure::UnknownAccount(account_id.to_owned()));
        }
        let network = self.network()?;
        let attempt = SignAttempt {
            account_id: account_id.to_owned(),
            service_id: caller.to_owned(),
            hash: hash.to_string(),
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sign_queue()
            .send((attempt, reply))
            .await
            .map_err(|_| Failure::Internal("the signing queue stopped".into()))?;
        // Sign while the authorization is under way; the signature leaves only if authorized
        // (and so audited); otherwise it is dropped here.
        let signed = sign_with(&self.master, account_id, &sign_data(network, &hash));
        let authorized = answer
            .await
            .map_err(|_| Failure::Internal("the signing queue dropped a request".into()))??;
        if !authorized {
            return Err(self.refusal(caller, account_id).await);
        }
        let (signature, public_key) = signed?;
        Ok(signed_view(account_id, &signature, &public_key))
    }

    fn sign_queue(&self) -> &tokio::sync::mpsc::Sender<SignTicket> {
        self.sign_queue.get_or_init(|| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<SignTicket>(4096);
            let store = self.store.clone();
            let clock = self.clock.clone();
            tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < 512 {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let attempts: Vec<SignAttempt> = batch.iter().map(|(a, _)| a.clone()).collect();
                    match store
                        .authorize_signatures(&attempts, clock.now_millis())
                        .await
                    {
                        Ok(authorized) => {
                            let ok: std::collections::HashSet<(String, String, String)> =
                                authorized
                                    .into_iter()
                                    .map(|a: Authorized| (a.account_id, a.service_id, a.hash))
                                    .collect();
                            for (attempt, reply) in batch {
                                let key = (attempt.account_id, attempt.service_id, attempt.hash);
                                let _ = reply.send(Ok(ok.contains(&key)));
                            }
                        }
                        Err(e) => {
                            let failure = Failure::internal(e);
                            for (_, reply) in batch {
                                let _ = reply.send(Err(failure.clone()));
                            }
                        }
                    }
                }
            });
            tx
        })
    }

    /// Why `caller` may not sign with `account_id` (the slow path, after a refusal).
    async fn refusal(&self, caller: &str, account_id: &str) -> Failure {
        match self.store.accounts_by_id(&[account_id]).await {
            Ok(mut rows) => match rows.pop() {
                None => Failure::UnknownAccount(account_id.to_owned()),
                Some(account) => check_holder(&account, caller, self.clock.now_millis())
                    .err()
                    .unwrap_or_else(|| {
                        // Held now, but not when the signature was authorized: report it as expired.
                        Failure::LockExpired(account_id.to_owned())
                    }),
            },
            Err(e) => Failure::from(e),
        }
    }

    /// `/batch-sign`: one statement authorizes and audits every well-formed item, keys are
    /// derived once per account, and signing runs on all cores.
    pub async fn batch_sign(
        &self,
        caller: &str,
        items: &[BatchItem],
    ) -> Result<BatchSigned, Failure> {
        if items.is_empty() || items.len() > MAX_BATCH_SIGN {
            return Err(Failure::Invalid(format!(
                "requests holds 1 to {MAX_BATCH_SIGN} items"
            )));
        }
        let network = self.network()?;
        let mut results: Vec<Option<BatchResult>> = vec![None; items.len()];
        let fail = |index: usize, account_id: &str, f: Failure| BatchResult {
            index,
            account_id: account_id.to_owned(),
            signed: None,
            code: Some(f.code().to_owned()),
            error: Some(f.to_string()),
        };
        let mut candidates: Vec<(usize, UInt256)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match parse_hash(&item.tx_hash) {
                Ok(_) if !is_account_id(&item.account_id) => {
                    results[index] = Some(fail(
                        index,
                        &item.account_id,
                        Failure::UnknownAccount(item.account_id.clone()),
                    ))
                }
                Ok(hash) => candidates.push((index, hash)),
                Err(f) => results[index] = Some(fail(index, &item.account_id, f)),
            }
        }
        let attempts: Vec<SignAttempt> = candidates
            .iter()
            .map(|(i, h)| SignAttempt {
                account_id: items[*i].account_id.clone(),
                service_id: caller.to_owned(),
                hash: h.to_string(),
            })
            .collect();
        // Sign every well-formed item on all cores while the database authorizes and audits them
        // in one statement; only authorized (so audited) signatures leave, the rest are dropped.
        let mut by_account: BTreeMap<String, Vec<(usize, UInt256)>> = BTreeMap::new();
        for (index, hash) in &candidates {
            by_account
                .entry(items[*index].account_id.clone())
                .or_default()
                .push((*index, *hash));
        }
        let signing = tokio::task::spawn_blocking({
            let master = self.master.clone();
            let groups: Vec<(String, Vec<(usize, UInt256)>)> = by_account.into_iter().collect();
            move || sign_groups(&master, network, &groups)
        });
        let authorized: std::collections::HashSet<(String, String)> = if attempts.is_empty() {
            Default::default()
        } else {
            self.store
                .authorize_signatures(&attempts, self.clock.now_millis())
                .await?
                .into_iter()
                .map(|a| (a.account_id, a.hash))
                .collect()
        };
        let signed = signing.await.map_err(Failure::internal)?;
        // Refused items: one lookup to say why.
        let mut refused: Vec<&str> = candidates
            .iter()
            .filter(|(i, h)| !authorized.contains(&(items[*i].account_id.clone(), h.to_string())))
            .map(|(i, _)| items[*i].account_id.as_str())
            .collect();
        refused.sort_unstable();
        refused.dedup();
        let rows: HashMap<String, AccountRow> = if refused.is_empty() {
            HashMap::new()
        } else {
            self.store
                .accounts_by_id(&refused)
                .await?
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect()
        };
        let now = self.clock.now_millis();
        for (index, account_id, hash, result) in signed {
            results[index] = Some(
                if authorized.contains(&(account_id.clone(), hash.to_string())) {
                    match result {
                        Ok(s) => BatchResult {
                            index,
                            account_id,
                            signed: Some(s),
                            code: None,
                            error: None,
                        },
                        Err(f) => fail(index, &account_id, f),
                    }
                } else {
                    let why = match rows.get(&account_id) {
                        None => Failure::UnknownAccount(account_id.clone()),
                        Some(a) => check_holder(a, caller, now)
                            .err()
                            .unwrap_or_else(|| Failure::LockExpired(account_id.clone())),
                    };
                    fail(index, &account_id, why)
                },
            );
        }
        Ok(BatchSigned {
            results: results.into_iter().flatten().collect(),
        })
    }

    /// `/balance`.
    pub async fn update_balance(
        &self,
        caller: &str,
        request: &BalanceUpdate,
    ) -> Result<BalanceView, Failure> {
        if !is_account_id(&request.account_id) {
            return Err(Failure::UnknownAccount(request.account_id.clone()));
        }
        let (token_type, hash) = parse_token(&request.token)?;
        let op = match (&request.delta, &request.absolute) {
            (Some(d), None) => (true, parse_amount(&d.0, "delta")?),
            (None, Some(a)) => (false, parse_amount(&a.0, "absolute")?),
            _ => {
                return Err(Failure::Invalid(
                    "give exactly one of delta and absolute".into(),
                ));
            }
        };
        let now = self.clock.now_millis();
        let result = self
            .store
            .update_tracked(
                &request.account_id,
                &token_type,
                &hash.to_string(),
                now,
                |account| check_holder(account, caller, now),
                |current| {
                    let new = if op.0 {
                        BigInt::from(current) + &op.1
                    } else {
                        op.1.clone()
                    };
                    if new < BigInt::from(0) {
                        return Err(Failure::InsufficientBalance(format!(
                            "the tracked balance is {current}; the result would be negative"
                        )));
                    }
                    i64::try_from(&new).map_err(|_| {
                        Failure::AmountOutOfRange("the result exceeds 2^63 - 1".into())
                    })
                },
            )
            .await
            .map_err(|e| match e {
                UpdateError::UnknownAccount => Failure::UnknownAccount(request.account_id.clone()),
                UpdateError::Sql(e) => Failure::from(e),
            })??;
        Ok(balance_view(&result))
    }

    /// `/accounts`.
    pub async fn accounts(
        &self,
        caller: &str,
        token: Option<&str>,
        min_balance: Option<&str>,
    ) -> Result<AccountList, Failure> {
        let filter = match (token, min_balance) {
            (None, None) => None,
            (Some(t), m) => Some((
                parse_token(t)?.1.to_string(),
                m.map(|m| parse_amount(m, "min_balance"))
                    .transpose()?
                    .unwrap_or_default(),
            )),
            (None, Some(_)) => return Err(Failure::Invalid("min_balance needs token".into())),
        };
        let held = self
            .store
            .held_accounts(caller, self.clock.now_millis())
            .await?;
        let accounts = held
            .iter()
            .filter(|(_, balances)| match &filter {
                None => true,
                Some((hash, min)) => balances
                    .iter()
                    .any(|b| &b.script_hash == hash && BigInt::from(b.tracked) >= *min),
            })
            .map(|(a, b)| view(a, b))
            .collect();
        Ok(AccountList { accounts })
    }

    /// `/transfer`: a NEP-17 transfer from a locked account, signed here.
    pub async fn transfer(
        &self,
        caller: &str,
        request: &TransferRequest,
    ) -> Result<TransferResult, Failure> {
        let chain = self.chain()?.clone();
        if !is_account_id(&request.account_id) {
            return Err(Failure::UnknownAccount(request.account_id.clone()));
        }
        let to = Address::parse(&request.to_address)
            .map_err(|e| Failure::Invalid(format!("to_address: {e}")))?;
        let amount = parse_amount(&request.amount.0, "amount")?;
        if amount <= BigInt::from(0) {
            return Err(Failure::Invalid("amount must be positive".into()));
        }
        let (_, token) = parse_token(&request.token)?;
        let data = request
            .data
            .as_ref()
            .map(ContractParameter::from_json)
            .transpose()
            .map_err(|e| Failure::Invalid(format!("data: {e}")))?;
        let account = self
            .store
            .accounts_by_id(&[request.account_id.as_str()])
            .await?
            .pop()
            .ok_or_else(|| Failure::UnknownAccount(request.account_id.clone()))?;
        check_holder(&account, caller, self.clock.now_millis())?;
        let from = UInt160::parse_display(&account.script_hash).map_err(Failure::internal)?;
        let balances = chain
            .rpc
            .get_nep17_balances(&from)
            .await
            .map_err(chain_failure)?;
        let available = balances.of(&token);
        if available < amount {
            return Err(Failure::InsufficientBalance(format!(
                "the account holds {available} on chain, {amount} was asked"
            )));
        }
        let script = nep17_transfer(&token, &from, &to.script_hash(), &amount, data.as_ref())
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let signer: Arc<dyn TxSigner> =
            Arc::new(LocalPoolSigner::new(self.master.clone(), &account)?);
        let tx = chain
            .submitter
            .build(script, &[SignerEntry::called_by_entry(signer)], vec![])
            .await
            .map_err(chain_failure)?;
        let hash = chain
            .submitter
            .send_with_retry(&tx, Duration::from_secs(30))
            .await
            .map_err(chain_failure)?;
        self.store
            .record_audit(&[AuditEntry {
                kind: "transfer".into(),
                account_id: account.id.clone(),
                service_id: caller.to_owned(),
                lock_id: account.lock_id.clone(),
                hash: hash.to_string(),
                detail: serde_json::json!({
                    "to": request.to_address, "amount": amount.to_string(), "token": token.to_string(),
                    "system_fee": tx.system_fee, "network_fee": tx.network_fee,
                })
                .to_string(),
                created_at: self.clock.now_millis(),
            }])
            .await?;
        let mut result = TransferResult {
            tx_hash: hash.to_string(),
            vm_state: None,
            gas_consumed: None,
            exception: None,
        };
        if request.wait {
            let outcome = chain
                .submitter
                .wait(&tx, Duration::from_secs(120))
                .await
                .map_err(chain_failure)?;
            self.sync_account(&account, true).await?;
            result.vm_state = Some(outcome.vm_state);
            result.gas_consumed = Some(outcome.gas_consumed.to_string());
            result.exception = outcome.exception;
        } else {
            // Follow the chain once the transaction is in a block.
            let store = self.store.clone();
            let clock = self.clock.clone();
            tokio::spawn(async move {
                if chain
                    .submitter
                    .wait(&tx, Duration::from_secs(600))
                    .await
                    .is_ok()
                    && let Err(e) =
                        sync_one(&store, &chain.rpc, &account, true, clock.now_millis()).await
                {
                    tracing::warn!(error = %e, "syncing balances after a transfer failed");
                }
            });
        }
        Ok(result)
    }

    /// Reads an account's balances from the chain; with `follow`, tracked amounts become the
    /// chain's (after the pool's own transfers).
    pub async fn sync_account(&self, account: &AccountRow, follow: bool) -> Result<(), Failure> {
        sync_one(
            &self.store,
            &self.chain()?.rpc,
            account,
            follow,
            self.clock.now_millis(),
        )
        .await
    }

    /// Syncs every locked account's chain balances; logs mismatches. Returns how many were read.
    pub async fn sync_locked(&self) -> Result<usize, Failure> {
        let accounts = self.store.locked_accounts(self.clock.now_millis()).await?;
        for account in &accounts {
            self.sync_account(account, false).await?;
        }
        for m in self.store.mismatches(100).await? {
            tracing::warn!(account = %m.account_id, token = %m.token_type, tracked = m.tracked, chain = ?m.chain_amount,
                "tracked balance differs from the chain");
        }
        Ok(accounts.len())
    }

    /// Frees accounts whose locks expired.
    pub async fn sweep(&self) -> Result<u64, Failure> {
        let freed = self.store.sweep_expired(self.clock.now_millis()).await?;
        if freed > 0 {
            tracing::info!(freed, "expired locks released");
        }
        Ok(freed)
    }

    /// Rotation, once per interval across all replicas: up to `rotation_percent` of the active,
    /// unlocked accounts older than the minimum age become retiring; the pool is then topped up.
    pub async fn rotate_if_due(&self) -> Result<u64, Failure> {
        let now = self.clock.now_millis();
        let last = self.store.meta("last_rotation").await?;
        let last_ms = last
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if now - last_ms < self.config.rotation_interval.as_millis() as i64 {
            return Ok(0);
        }
        if !self
            .store
            .claim_meta("last_rotation", last.as_deref(), &now.to_string())
            .await?
        {
            return Ok(0); // another replica rotates
        }
        let active = self.store.count_active().await?;
        let limit = active * self.config.rotation_percent as i64 / 100;
        let cutoff = now - self.config.rotation_min_age.as_millis() as i64;
        let marked = self.store.mark_retiring(cutoff, limit, now).await?;
        tracing::info!(marked, "rotation: accounts marked retiring");
        self.fill_to_target().await?;
        Ok(marked)
    }

    /// Retiring accounts whose on-chain balances are all zero become retired.
    pub async fn retire_drained(&self) -> Result<u64, Failure> {
        let Some(chain) = &self.chain else {
            return Ok(0);
        };
        let mut retired = 0;
        for account in self.store.retiring(200).await? {
            let hash = UInt160::parse_display(&account.script_hash).map_err(Failure::internal)?;
            let balances = chain
                .rpc
                .get_nep17_balances(&hash)
                .await
                .map_err(chain_failure)?;
            if balances
                .balances
                .iter()
                .all(|b| b.amount == BigInt::from(0))
            {
                self.store
                    .mark_retired(&account.id, self.clock.now_millis())
                    .await?;
                retired += 1;
            }
        }
        Ok(retired)
    }

    /// `/pool-info`.
    pub async fn pool_info(&self) -> Result<serde_json::Value, Failure> {
        let now = self.clock.now_millis();
        let counts = self.store.counts(now).await?;
        let tokens = self.store.token_totals(now).await?;
        let mismatches = self.store.mismatches(100).await?;
        let status = |s: &str| counts.by_status.get(s).copied().unwrap_or(0);
        Ok(serde_json::json!({
            "total": counts.by_status.values().sum::<i64>(),
            "active": status("active"),
            "locked": counts.locked,
            "retiring": status("retiring"),
            "retired": status("retired"),
            "target_size": self.config.target_size,
            "max_size": self.config.max_size,
            "locks_by_service": counts.locks_by_service,
            "tokens": tokens.iter().map(|t| {
                let tracked: BigInt = t.tracked_total.parse().unwrap_or_default();
                let locked: BigInt = t.locked_total.parse().unwrap_or_default();
                serde_json::json!({
                    "token_type": t.token_type, "script_hash": t.script_hash,
                    "tracked": tracked.to_string(), "locked": locked.to_string(),
                    "available": (&tracked - &locked).to_string(), "mismatches": t.mismatches,
                })
            }).collect::<Vec<_>>(),
            "mismatches": mismatches.iter().map(|m| serde_json::json!({
                "account_id": m.account_id, "token_type": m.token_type, "tracked": m.tracked.to_string(), "chain": m.chain_amount,
            })).collect::<Vec<_>>(),
        }))
    }

    /// `/master-key`: metadata only.
    pub fn master_key_info(&self) -> serde_json::Value {
        let published = PublishedKey::new("accountpool-master", &self.master_public);
        let report = attestation::collect("accountpool", self.mode, vec![published.clone()]);
        serde_json::json!({
            "public_key": published.public_key,
            "public_key_sha256": published.sha256,
            "attestation": report,
            "simulation": self.mode.is_simulation(),
            "timestamp": self.clock.now_millis(),
        })
    }
}

/// Signs each group's hashes with its account's key (derived once per group), on all cores.
fn sign_groups(
    master: &MasterKey,
    network: u32,
    groups: &[(String, Vec<(usize, UInt256)>)],
) -> Vec<(usize, String, UInt256, Result<Signed, Failure>)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(groups.len().max(1));
    let chunk = groups.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for (account_id, hashes) in part {
                        let key = kdf::derive_pool_account_key(master, account_id)
                            .map_err(Failure::internal)
                            .and_then(|k| {
                                Ok((k.signing_key().map_err(Failure::internal)?, k.public_key()))
                            });
                        for (index, hash) in hashes {
                            let result =
                                key.as_ref()
                                    .map_err(Clone::clone)
                                    .and_then(|(signing, public)| {
                                        let sig = signing
                                            .sign(&sign_data(network, hash))
                                            .map_err(Failure::internal)?;
                                        Ok(signed_view(account_id, &sig, public))
                                    });
                            out.push((*index, account_id.clone(), *hash, result));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn derive_batch(master: &MasterKey, count: usize) -> Result<Vec<NewAccount>, Failure> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let chunk = ids.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|id| new_account(master, id.clone()))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(count);
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| Failure::Internal("derivation thread panicked".into()))??,
            );
        }
        Ok(out)
    })
}

fn chain_failure(e: ChainError) -> Failure {
    match &e {
        ChainError::Unavailable(m) => Failure::ChainUnavailable(m.clone()),
        ChainError::InvocationFault { exception } => Failure::TransferFailed(exception.clone()),
        ChainError::Rpc {
            kind: RpcErrorKind::InsufficientFunds,
            ..
        } => Failure::InsufficientBalance(
            "the account cannot pay the network and system fees in GAS".into(),
        ),
        ChainError::Expired { .. } | ChainError::NotIncluded { .. } => {
            Failure::ChainUnavailable(e.to_string())
        }
        _ => Failure::internal(e),
    }
}

async fn sync_one(
    store: &PoolStore,
    rpc: &RpcClient,
    account: &AccountRow,
    follow: bool,
    now: i64,
) -> Result<(), Failure> {
    let hash = UInt160::parse_display(&account.script_hash).map_err(Failure::internal)?;
    let balances = rpc.get_nep17_balances(&hash).await.map_err(chain_failure)?;
    let amounts: Vec<(String, String, String)> = balances
        .balances
        .iter()
        .map(|b| {
            (
                token_type_of(&b.assethash),
                b.assethash.to_string(),
                b.amount.to_string(),
            )
        })
        .collect();
    store
        .set_chain_balances(&account.id, &amounts, now, follow)
        .await?;
    Ok(())
}

/// Signs for a pool account inside the AccountPool: the key is derived per signature.
struct LocalPoolSigner {
    master: Arc<MasterKey>,
    account_id: String,
    verification_script: Vec<u8>,
}

impl LocalPoolSigner {
    fn new(master: Arc<MasterKey>, account: &AccountRow) -> Result<Self, Failure> {
        let key_bytes = hex::decode(&account.public_key).map_err(Failure::internal)?;
        let key = PublicKey::from_slice(&key_bytes).map_err(Failure::internal)?;
        Ok(Self {
            master,
            account_id: account.id.clone(),
            verification_script: verification_script(&key),
        })
    }
}

#[async_trait::async_trait]
impl TxSigner for LocalPoolSigner {
    fn verification_script(&self) -> Vec<u8> {
        self.verification_script.clone()
    }

    async fn sign(&self, network: u32, tx_hash: &UInt256) -> neosl_chain::Result<Witness> {
        let (signature, public) =
            sign_with(&self.master, &self.account_id, &sign_data(network, tx_hash))
                .map_err(|e| ChainError::Signer(e.to_string()))?;
        Ok(Witness::single_sig(&signature, &public))
    }
}
