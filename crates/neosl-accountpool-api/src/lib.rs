//! The AccountPool API, shared by the service and its callers.
//!
//! [`AccountPoolApi`] is implemented twice: by the service itself (in-process, in the all-in-one
//! server) and by [`AccountPoolClient`] (over any [`Transport`]: the service's router in this
//! process, or HTTPS with mutual TLS). Callers hold an `Arc<dyn AccountPoolApi>` and do not care
//! which. With the `signer` feature, `PoolSigner` turns a locked pool account into a `TxSigner`
//! for the chain client, so any service can submit transactions from pool accounts without ever
//! seeing a key. The crate pulls in no server, database or TLS code.
//!
//! Token amounts are integers in the token's smallest unit, written as decimal strings (inputs
//! also accept JSON integers).

use std::sync::Arc;

use async_trait::async_trait;
use neosl_api::{Method, Transport, TransportError};
use serde::{Deserialize, Deserializer, Serialize};

#[cfg(feature = "signer")]
mod signer;
#[cfg(feature = "signer")]
pub use signer::PoolSigner;

/// Largest `count` of one `/request`.
pub const MAX_REQUEST_COUNT: u32 = 100;
/// Largest `/batch-sign`.
pub const MAX_BATCH_SIGN: usize = 1000;

/// Errors of the AccountPool API, each with its stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PoolError {
    /// The stable code (`unknown_account`, `not_locked_by_caller`, `lock_expired`, …).
    pub code: String,
    /// The HTTP status that goes with it.
    pub status: u16,
    /// A message for people.
    pub message: String,
}

impl PoolError {
    /// An error with a code and status.
    pub fn new(code: &str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            status,
            message: message.into(),
        }
    }
}

impl From<TransportError> for PoolError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Api {
                status,
                code,
                message,
            } => Self {
                code,
                status,
                message,
            },
            TransportError::Unreachable(m) => Self::new("accountpool_unavailable", 503, m),
            TransportError::Decode(m) => Self::new("internal_error", 502, m),
        }
    }
}

/// Result alias of the API.
pub type PoolResult<T> = Result<T, PoolError>;

/// An integer amount given as a decimal string or a JSON integer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Amount(pub String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Self(s)),
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Self(n.to_string())),
            _ => Err(serde::de::Error::custom(
                "an amount is a decimal string or an integer",
            )),
        }
    }
}

/// `POST /request`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestAccounts {
    /// The caller (checked against its certificate in strict mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// How many accounts (1 to 100).
    pub count: u32,
    /// What they are for (recorded with the lock).
    #[serde(default)]
    pub purpose: String,
}

/// `POST /renew`: the caller's lock lasts another lock lifetime from now (only while it is
/// live; an expired lock's accounts may already be another service's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewLock {
    /// The caller (checked against its certificate in strict mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The lock.
    pub lock_id: String,
}

/// The answer to `/request`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockGrant {
    /// The lock holding the accounts.
    pub lock_id: String,
    /// When the lock expires (Unix milliseconds).
    pub expires_at: i64,
    /// The accounts.
    pub accounts: Vec<AccountView>,
}

/// A pool account as callers see it (no key material, ever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account id (a lowercase UUID).
    pub id: String,
    /// The Neo address.
    pub address: String,
    /// The script hash, `0x` display form.
    pub script_hash: String,
    /// The compressed public key, hex.
    pub public_key: String,
    /// `active`, `retiring` or `retired`.
    pub status: String,
    /// The lock holding it, if any.
    pub lock_id: Option<String>,
    /// The service holding it, if any.
    pub locked_by: Option<String>,
    /// When the lock expires (Unix milliseconds).
    pub lock_expires_at: Option<i64>,
    /// Tracked balances.
    #[serde(default)]
    pub balances: Vec<BalanceView>,
}

/// One token balance of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// `GAS`, `NEO`, or the token's hash for other NEP-17 tokens.
    pub token_type: String,
    /// The token contract, `0x` display form.
    pub script_hash: String,
    /// The amount the pool tracks.
    pub tracked: String,
    /// The amount last read from the chain, if synced.
    pub chain: Option<String>,
    /// When the chain amount was read (Unix milliseconds).
    pub synced_at: Option<i64>,
}

/// `POST /release`: exactly one of `lock_id`, `account_ids`, `all`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReleaseAccounts {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Release exactly this lock's accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<String>,
    /// Release these accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ids: Option<Vec<String>>,
    /// Release everything the caller holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
}

/// The answer to `/release`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Released {
    /// How many accounts were released.
    pub released: u64,
}

/// `POST /sign`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignRequest {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The account (locked by the caller).
    pub account_id: String,
    /// The transaction hash, `0x` display form.
    pub tx_hash: String,
}

/// A witness as Neo RPC writes it (base64 scripts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessView {
    /// The invocation script (pushes the signature), base64.
    pub invocation: String,
    /// The verification script (the account), base64.
    pub verification: String,
}

/// The answer to `/sign`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signed {
    /// The account.
    pub account_id: String,
    /// The 64-byte signature `r ‖ s`, hex.
    pub signature: String,
    /// The compressed public key, hex.
    pub public_key: String,
    /// The ready witness.
    pub witness: WitnessView,
}

/// `POST /batch-sign`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchSignRequest {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// 1 to 1,000 items.
    pub requests: Vec<BatchItem>,
}

/// One item of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchItem {
    /// The account.
    pub account_id: String,
    /// The transaction hash, `0x` display form.
    pub tx_hash: String,
}

/// One result of a batch: the signature, or the item's own error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResult {
    /// The item's position.
    pub index: usize,
    /// The account.
    pub account_id: String,
    /// The signature, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<Signed>,
    /// The error code, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error message, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to `/batch-sign`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchSigned {
    /// One result per request, in order.
    pub results: Vec<BatchResult>,
}

/// `POST /balance`: exactly one of `delta` and `absolute`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BalanceUpdate {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The account (locked by the caller).
    pub account_id: String,
    /// `GAS`, `NEO` or a NEP-17 contract hash (`0x…`).
    pub token: String,
    /// Added to the tracked balance (may be negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Amount>,
    /// Replaces the tracked balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute: Option<Amount>,
}

/// `POST /transfer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRequest {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The account to send from (locked by the caller).
    pub account_id: String,
    /// The recipient's Neo address.
    pub to_address: String,
    /// The amount in the token's smallest unit.
    pub amount: Amount,
    /// `GAS`, `NEO` or a NEP-17 contract hash (`0x…`).
    pub token: String,
    /// The `data` argument, as a Neo RPC contract parameter (default: null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Wait until the transaction is in a block.
    #[serde(default)]
    pub wait: bool,
}

/// The answer to `/transfer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferResult {
    /// The transaction.
    pub tx_hash: String,
    /// With `wait`: `HALT` or `FAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_state: Option<String>,
    /// With `wait`: the GAS the script consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_consumed: Option<String>,
    /// With `wait`: the exception of a FAULT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

/// `GET /accounts` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccountsQuery {
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Only accounts holding this token…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// …at least this much of it (tracked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_balance: Option<String>,
}

/// The answer to `/accounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountList {
    /// The caller's locked accounts.
    pub accounts: Vec<AccountView>,
}

/// `GET /pool-info`: the pool's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// Every account.
    pub total: i64,
    /// Active accounts.
    pub active: i64,
    /// Accounts under a live lock.
    pub locked: i64,
    /// Accounts being rotated out.
    pub retiring: i64,
    /// Accounts rotated out and empty.
    pub retired: i64,
    /// Active accounts the pool keeps.
    pub target_size: u32,
    /// The most accounts it ever holds.
    pub max_size: u32,
    /// Live locks by the service holding them.
    pub locks_by_service: std::collections::BTreeMap<String, i64>,
    /// Tracked totals per token.
    pub tokens: Vec<TokenTotal>,
    /// Accounts whose tracked balance differs from the chain's (at most 100).
    pub mismatches: Vec<Mismatch>,
}

/// One token's totals over the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTotal {
    /// `GAS`, `NEO` or the token's hash.
    pub token_type: String,
    /// The token contract.
    pub script_hash: String,
    /// Tracked, over every account.
    pub tracked: String,
    /// Tracked, over locked accounts.
    pub locked: String,
    /// Tracked minus locked.
    pub available: String,
    /// Accounts whose tracked amount differs from the chain's.
    pub mismatches: i64,
}

/// A tracked balance that differs from the chain's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The account.
    pub account_id: String,
    /// The token.
    pub token_type: String,
    /// What callers tracked.
    pub tracked: String,
    /// What the chain said, when read.
    pub chain: Option<String>,
}

/// `GET /master-key`: metadata only, never the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterKeyInfo {
    /// The master public key (hex).
    pub public_key: String,
    /// Its SHA-256 (hex), as `/attestation` publishes it.
    pub public_key_sha256: String,
    /// The attestation report over it.
    pub attestation: serde_json::Value,
    /// Whether the service runs in simulation mode.
    pub simulation: bool,
    /// When (Unix ms).
    pub timestamp: i64,
}

/// The operations other services use.
#[async_trait]
pub trait AccountPoolApi: Send + Sync {
    /// Allocates and locks accounts.
    async fn request_accounts(&self, request: RequestAccounts) -> PoolResult<LockGrant>;
    /// Releases accounts.
    async fn release_accounts(&self, request: ReleaseAccounts) -> PoolResult<Released>;
    /// Extends a live lock.
    async fn renew_lock(&self, request: RenewLock) -> PoolResult<LockGrant>;
    /// Signs a transaction hash with a locked account.
    async fn sign(&self, request: SignRequest) -> PoolResult<Signed>;
    /// Signs many hashes.
    async fn batch_sign(&self, request: BatchSignRequest) -> PoolResult<BatchSigned>;
    /// Updates a tracked balance.
    async fn update_balance(&self, request: BalanceUpdate) -> PoolResult<BalanceView>;
    /// Sends a NEP-17 transfer from a locked account.
    async fn transfer(&self, request: TransferRequest) -> PoolResult<TransferResult>;
    /// The caller's locked accounts.
    async fn accounts(&self, query: AccountsQuery) -> PoolResult<AccountList>;
}

/// The AccountPool over a [`Transport`].
#[derive(Debug, Clone)]
pub struct AccountPoolClient {
    transport: Arc<dyn Transport>,
}

impl AccountPoolClient {
    /// A client over `transport`.
    pub fn new(transport: impl Transport + 'static) -> Self {
        Self {
            transport: Arc::new(transport),
        }
    }

    async fn post<B: Serialize + Sync, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> PoolResult<T> {
        Ok(neosl_api::call(&*self.transport, Method::POST, path, Some(body)).await?)
    }
}

#[async_trait]
impl AccountPoolApi for AccountPoolClient {
    async fn request_accounts(&self, request: RequestAccounts) -> PoolResult<LockGrant> {
        self.post("/request", &request).await
    }
    async fn release_accounts(&self, request: ReleaseAccounts) -> PoolResult<Released> {
        self.post("/release", &request).await
    }
    async fn renew_lock(&self, request: RenewLock) -> PoolResult<LockGrant> {
        self.post("/renew", &request).await
    }
    async fn sign(&self, request: SignRequest) -> PoolResult<Signed> {
        self.post("/sign", &request).await
    }
    async fn batch_sign(&self, request: BatchSignRequest) -> PoolResult<BatchSigned> {
        self.post("/batch-sign", &request).await
    }
    async fn update_balance(&self, request: BalanceUpdate) -> PoolResult<BalanceView> {
        self.post("/balance", &request).await
    }
    async fn transfer(&self, request: TransferRequest) -> PoolResult<TransferResult> {
        self.post("/transfer", &request).await
    }
    async fn accounts(&self, query: AccountsQuery) -> PoolResult<AccountList> {
        let mut path = String::from("/accounts?");
        for (k, v) in [
            ("service_id", &query.service_id),
            ("token", &query.token),
            ("min_balance", &query.min_balance),
        ] {
            if let Some(v) = v {
                path.push_str(&format!("{k}={}&", url_encode(v)));
            }
        }
        Ok(neosl_api::call::<(), _>(
            &*self.transport,
            Method::GET,
            path.trim_end_matches(['?', '&']),
            None,
        )
        .await?)
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Hex to bytes (no dependency for so little).
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
