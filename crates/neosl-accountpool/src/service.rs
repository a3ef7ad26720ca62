//! The AccountPool's operations. Keys are derived on demand from the master key and the account
//! id, used for one call, and dropped (zeroized); they are never stored, cached or returned.

use std::sync::Arc;
use std::time::Duration;

use neosl_accountpool_api::*;
use neosl_crypto::{MasterKey, PublicKey, kdf};
use neosl_neo::{UInt160, UInt256, native};
use neosl_runtime::RuntimeMode;
use neosl_runtime::attestation::{self, PublishedKey};
use neosl_runtime::clock::SharedClock;
use num_bigint::BigInt;

use crate::Chain;
use crate::error::Failure;
use crate::store::{AccountRow, BalanceRow, PoolStore, ReleaseRefusal, SignAttempt};

/// A pending `/sign` waiting for its authorization.
pub(crate) type SignTicket = (
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
    pub(crate) store: PoolStore,
    pub(crate) master: Arc<MasterKey>,
    pub(crate) master_public: PublicKey,
    pub(crate) config: PoolConfig,
    pub(crate) chain: Option<Chain>,
    pub(crate) network: Option<u32>,
    pub(crate) mode: RuntimeMode,
    pub(crate) clock: SharedClock,
    pub(crate) outbox: Option<neosl_chainwork::Outbox>,
    pub(crate) sign_queue: std::sync::OnceLock<tokio::sync::mpsc::Sender<SignTicket>>,
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

pub(crate) fn parse_hash(s: &str) -> Result<UInt256, Failure> {
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

pub(crate) fn token_type_of(hash: &UInt160) -> String {
    if *hash == native::GAS {
        "GAS".into()
    } else if *hash == native::NEO {
        "NEO".into()
    } else {
        hash.to_string()
    }
}

pub(crate) fn parse_amount(s: &str, what: &str) -> Result<BigInt, Failure> {
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

pub(crate) fn view(account: &AccountRow, balances: &[BalanceRow]) -> AccountView {
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

pub(crate) fn balance_view(b: &BalanceRow) -> BalanceView {
    BalanceView {
        token_type: b.token_type.clone(),
        script_hash: b.script_hash.clone(),
        tracked: b.tracked.to_string(),
        chain: b.chain_amount.clone(),
        synced_at: b.synced_at,
    }
}

/// Checks that `caller` may act on `account` at `now`.
pub(crate) fn check_holder(account: &AccountRow, caller: &str, now: i64) -> Result<(), Failure> {
    if account.locked_by.as_deref() != Some(caller) {
        return Err(Failure::NotLockedByCaller(account.id.clone()));
    }
    if !account.held_by(caller, now) {
        return Err(Failure::LockExpired(account.id.clone()));
    }
    Ok(())
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
        let store = store.with_audit_key(&master).map_err(Failure::internal)?;
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
            outbox: None,
            sign_queue: std::sync::OnceLock::new(),
        })
    }

    /// The same pool sending its transfers through `outbox` (needed with a chain).
    pub fn with_outbox(mut self, outbox: neosl_chainwork::Outbox) -> Self {
        self.outbox = Some(outbox);
        self
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

    pub(crate) fn chain(&self) -> Result<&Chain, Failure> {
        self.chain
            .as_ref()
            .ok_or_else(|| Failure::ChainUnavailable("no chain RPC is configured".into()))
    }

    pub(crate) fn network(&self) -> Result<u32, Failure> {
        self.network.ok_or_else(|| {
            Failure::ChainUnavailable(
                "the network magic is unknown: configure chain_rpc or network_magic".into(),
            )
        })
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

    /// `/renew`: the caller's live lock lasts another lock lifetime from now.
    pub async fn renew(&self, caller: &str, request: &RenewLock) -> Result<LockGrant, Failure> {
        let now = self.clock.now_millis();
        let expires_at =
            now + i64::try_from(self.config.lock_ttl.as_millis()).unwrap_or(i64::MAX / 2);
        self.store
            .renew_lock(caller, &request.lock_id, expires_at, now)
            .await?
            .map_err(|r| match r {
                ReleaseRefusal::UnknownLock => Failure::UnknownLock(request.lock_id.clone()),
                ReleaseRefusal::Expired => {
                    Failure::LockExpired(format!("lock {}", request.lock_id))
                }
                _ => Failure::NotLockedByCaller(format!("lock {}", request.lock_id)),
            })?;
        let held = self.store.held_accounts(caller, now).await?;
        let accounts: Vec<_> = held
            .iter()
            .filter(|(a, _)| a.lock_id.as_deref() == Some(request.lock_id.as_str()))
            .map(|(a, b)| view(a, b))
            .collect();
        Ok(LockGrant {
            lock_id: request.lock_id.clone(),
            expires_at,
            accounts,
        })
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

    /// `/pool-info`.
    pub async fn pool_info(&self) -> Result<PoolInfo, Failure> {
        let now = self.clock.now_millis();
        let counts = self.store.counts(now).await?;
        let tokens = self.store.token_totals(now).await?;
        let mismatches = self.store.mismatches(100).await?;
        let status = |s: &str| counts.by_status.get(s).copied().unwrap_or(0);
        Ok(PoolInfo {
            total: counts.by_status.values().sum::<i64>(),
            active: status("active"),
            locked: counts.locked,
            retiring: status("retiring"),
            retired: status("retired"),
            target_size: self.config.target_size,
            max_size: self.config.max_size,
            locks_by_service: counts.locks_by_service,
            tokens: tokens
                .iter()
                .map(|t| {
                    let tracked: BigInt = t.tracked_total.parse().unwrap_or_default();
                    let locked: BigInt = t.locked_total.parse().unwrap_or_default();
                    TokenTotal {
                        token_type: t.token_type.clone(),
                        script_hash: t.script_hash.clone(),
                        available: (&tracked - &locked).to_string(),
                        tracked: tracked.to_string(),
                        locked: locked.to_string(),
                        mismatches: t.mismatches,
                    }
                })
                .collect(),
            mismatches: mismatches
                .iter()
                .map(|m| Mismatch {
                    account_id: m.account_id.clone(),
                    token_type: m.token_type.clone(),
                    tracked: m.tracked.to_string(),
                    chain: m.chain_amount.clone(),
                })
                .collect(),
        })
    }

    /// `/master-key`: metadata only.
    pub fn master_key_info(&self) -> MasterKeyInfo {
        let published = PublishedKey::new("accountpool-master", &self.master_public);
        let report = attestation::collect("accountpool", self.mode, vec![published.clone()]);
        MasterKeyInfo {
            public_key: published.public_key,
            public_key_sha256: published.sha256,
            attestation: serde_json::to_value(report).unwrap_or_default(),
            simulation: self.mode.is_simulation(),
            timestamp: self.clock.now_millis(),
        }
    }
}

/// Runs `work` over `items` in chunks on every core (scoped threads) and concatenates the
/// chunks' results in order. A chunk whose thread panicked yields nothing.
pub(crate) fn on_all_cores<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
