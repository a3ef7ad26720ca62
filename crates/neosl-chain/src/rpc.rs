//! Async JSON-RPC client for Neo N3 nodes.
//!
//! Reads (`getblock`, `invokefunction`, …) are idempotent: they are retried with exponential
//! backoff and fail over to the next endpoint when one is unreachable. `sendrawtransaction` is
//! sent once per endpoint in order until one answers; re-sending the same signed transaction is
//! safe and is handled by [`crate::submit`]. A JSON-RPC error from a node is final (it is the
//! node's answer, not a transport failure) and is returned typed; NeoGo sends such answers with
//! an HTTP 4xx/5xx status, so the body is always read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use neosl_neo::param::{ContractParameter, StackItem};
use neosl_neo::tx::{Signer, Transaction};
use neosl_neo::{Address, UInt160, UInt256};
use num_bigint::BigInt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::{ChainError, Result, RpcErrorKind};

/// Timeouts, retries and backoff of an [`RpcClient`].
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra rounds over all endpoints for idempotent calls.
    pub retries: u32,
    /// First backoff delay; doubles each round.
    pub backoff: Duration,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A JSON-RPC client over one or more endpoints of the same network.
#[derive(Debug, Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: Vec<String>,
    http: reqwest::Client,
    config: RpcConfig,
    preferred: AtomicUsize,
    next_id: AtomicU64,
}

enum Attempt {
    Answer(Value),
    RpcError(ChainError),
    Transport(String),
}

impl RpcClient {
    /// A client over `endpoints` (tried in order, the last one that worked first).
    pub fn new(endpoints: Vec<String>, config: RpcConfig) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(ChainError::Unavailable("no RPC endpoint configured".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| ChainError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints,
                http,
                config,
                preferred: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// A client over one endpoint with default settings.
    pub fn single(endpoint: impl Into<String>) -> Result<Self> {
        Self::new(vec![endpoint.into()], RpcConfig::default())
    }

    /// The configured endpoints.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The endpoint that answered last (the first one tried next time).
    pub fn current_endpoint(&self) -> &str {
        let i = self.inner.preferred.load(Ordering::Relaxed) % self.inner.endpoints.len();
        &self.inner.endpoints[i]
    }

    async fn attempt(&self, endpoint: &str, method: &str, params: &Value) -> Attempt {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = match self.inner.http.post(endpoint).json(&body).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Transport(format!("{endpoint}: {e}")),
        };
        let status = response.status();
        let value: Value = match response.json().await {
            Ok(v) => v,
            Err(e) => {
                return Attempt::Transport(format!(
                    "{endpoint}: HTTP {status}, body is not JSON: {e}"
                ));
            }
        };
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let data = error.get("data").and_then(|d| {
                d.as_str()
                    .map(str::to_owned)
                    .or_else(|| Some(d.to_string()))
            });
            return Attempt::RpcError(ChainError::Rpc {
                kind: RpcErrorKind::from_code(code),
                code,
                message,
                data,
            });
        }
        match value.get("result") {
            Some(result) => Attempt::Answer(result.clone()),
            None => {
                Attempt::Transport(format!("{endpoint}: HTTP {status}, no result and no error"))
            }
        }
    }

    /// Calls `method`; on transport failure, fails over to the other endpoints and (when
    /// `idempotent`) retries with backoff.
    pub async fn call_raw(&self, method: &str, params: Value, idempotent: bool) -> Result<Value> {
        let n = self.inner.endpoints.len();
        let rounds = if idempotent {
            self.inner.config.retries + 1
        } else {
            1
        };
        let mut delay = self.inner.config.backoff;
        let mut last_error = String::new();
        for round in 0..rounds {
            if round > 0 {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            let start = self.inner.preferred.load(Ordering::Relaxed);
            for offset in 0..n {
                let index = (start + offset) % n;
                match self
                    .attempt(&self.inner.endpoints[index], method, &params)
                    .await
                {
                    Attempt::Answer(v) => {
                        self.inner.preferred.store(index, Ordering::Relaxed);
                        return Ok(v);
                    }
                    Attempt::RpcError(e) => {
                        self.inner.preferred.store(index, Ordering::Relaxed);
                        return Err(e);
                    }
                    Attempt::Transport(e) => {
                        tracing::debug!(method, error = %e, "RPC endpoint failed");
                        last_error = e;
                    }
                }
            }
        }
        Err(ChainError::Unavailable(last_error))
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T> {
        let value = self.call_raw(method, params, true).await?;
        decode(method, value)
    }

    /// `getversion`.
    pub async fn get_version(&self) -> Result<Version> {
        self.call("getversion", json!([])).await
    }

    /// `getblockcount`: the height of the next block (current height + 1).
    pub async fn get_block_count(&self) -> Result<u32> {
        self.call("getblockcount", json!([])).await
    }

    /// `getblockhash`.
    pub async fn get_block_hash(&self, index: u32) -> Result<UInt256> {
        self.call("getblockhash", json!([index])).await
    }

    /// `getblock` (verbose) by height.
    pub async fn get_block(&self, index: u32) -> Result<Block> {
        self.call("getblock", json!([index, true])).await
    }

    /// `getblock` (verbose) by hash.
    pub async fn get_block_by_hash(&self, hash: &UInt256) -> Result<Block> {
        self.call("getblock", json!([hash.to_string(), true])).await
    }

    /// `getrawtransaction`, decoded from its binary form by this crate's parser.
    pub async fn get_raw_transaction(&self, hash: &UInt256) -> Result<Transaction> {
        let encoded: String = self
            .call("getrawtransaction", json!([hash.to_string(), false]))
            .await?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|e| decode_error("getrawtransaction", e))?;
        Ok(Transaction::from_bytes(&bytes)?)
    }

    /// `getrawtransaction` (verbose): where the transaction is.
    pub async fn get_transaction_info(&self, hash: &UInt256) -> Result<TransactionInfo> {
        self.call("getrawtransaction", json!([hash.to_string(), true]))
            .await
    }

    /// `getapplicationlog` of a transaction.
    pub async fn get_application_log(&self, hash: &UInt256) -> Result<ApplicationLog> {
        self.call("getapplicationlog", json!([hash.to_string()]))
            .await
    }

    /// `invokefunction`: a test invocation, nothing is persisted.
    pub async fn invoke_function(
        &self,
        contract: &UInt160,
        method: &str,
        params: &[ContractParameter],
        signers: &[Signer],
    ) -> Result<InvokeResult> {
        let params: Vec<Value> = params.iter().map(ContractParameter::to_json).collect();
        let signers: Vec<Value> = signers.iter().map(Signer::to_json).collect();
        self.call(
            "invokefunction",
            json!([contract.to_string(), method, params, signers]),
        )
        .await
    }

    /// `invokescript`: a test invocation of a script, nothing is persisted.
    pub async fn invoke_script(&self, script: &[u8], signers: &[Signer]) -> Result<InvokeResult> {
        let signers: Vec<Value> = signers.iter().map(Signer::to_json).collect();
        self.call("invokescript", json!([BASE64.encode(script), signers]))
            .await
    }

    /// `calculatenetworkfee` for a transaction whose witnesses carry their verification scripts.
    pub async fn calculate_network_fee(&self, tx: &Transaction) -> Result<i64> {
        #[derive(Deserialize)]
        struct Fee {
            #[serde(deserialize_with = "de_i64")]
            networkfee: i64,
        }
        let fee: Fee = self
            .call(
                "calculatenetworkfee",
                json!([BASE64.encode(tx.to_bytes()?)]),
            )
            .await?;
        Ok(fee.networkfee)
    }

    /// `sendrawtransaction`. Not retried here; see [`crate::submit`] for safe re-sending.
    pub async fn send_raw_transaction(&self, tx: &Transaction) -> Result<UInt256> {
        #[derive(Deserialize)]
        struct Sent {
            hash: UInt256,
        }
        let value = self
            .call_raw(
                "sendrawtransaction",
                json!([BASE64.encode(tx.to_bytes()?)]),
                false,
            )
            .await?;
        Ok(decode::<Sent>("sendrawtransaction", value)?.hash)
    }

    /// `getnep17balances` of an account.
    pub async fn get_nep17_balances(&self, account: &UInt160) -> Result<Nep17Balances> {
        let address = Address::from_script_hash(*account).to_string();
        self.call("getnep17balances", json!([address])).await
    }

    /// `getcontractstate` by hash.
    pub async fn get_contract_state(&self, contract: &UInt160) -> Result<ContractState> {
        self.call("getcontractstate", json!([contract.to_string()]))
            .await
    }
}

fn decode_error(method: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Decode {
        method: method.to_owned(),
        reason: e.to_string(),
    }
}

fn decode<T: DeserializeOwned>(method: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| decode_error(method, e))
}

/// Deserializes an integer given as a JSON number or a decimal string (Neo RPC uses both).
pub fn de_i64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("integer out of range")),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

fn de_bigint<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<BigInt, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n.to_string().parse().map_err(serde::de::Error::custom),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

fn de_null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn de_stack<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<StackItem>, D::Error> {
    let values = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    values
        .iter()
        .map(|v| StackItem::from_json(v).map_err(serde::de::Error::custom))
        .collect()
}

fn de_stack_item<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<StackItem, D::Error> {
    let value = Value::deserialize(d)?;
    StackItem::from_json(&value).map_err(serde::de::Error::custom)
}

/// `getversion`.
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    /// The node's user agent.
    pub useragent: String,
    /// Protocol settings.
    pub protocol: ProtocolSettings,
}

/// Protocol settings from `getversion`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProtocolSettings {
    /// The network magic (signed into every transaction).
    pub network: u32,
    /// The address version (0x35 on N3).
    pub addressversion: u8,
    /// Milliseconds per block.
    pub msperblock: u64,
    /// How far ahead valid-until-block may be.
    pub maxvaliduntilblockincrement: u32,
    /// Number of validators.
    pub validatorscount: u32,
}

/// A block (verbose `getblock`).
#[derive(Debug, Clone, Deserialize)]
pub struct Block {
    /// The block hash.
    pub hash: UInt256,
    /// The height.
    pub index: u32,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
    /// The transactions, in block order.
    #[serde(default)]
    pub tx: Vec<BlockTransaction>,
}

/// A transaction inside a verbose block (only what the platform needs).
#[derive(Debug, Clone, Deserialize)]
pub struct BlockTransaction {
    /// The transaction hash.
    pub hash: UInt256,
}

/// Where a transaction is (verbose `getrawtransaction`).
#[derive(Debug, Clone, Deserialize)]
pub struct TransactionInfo {
    /// The transaction hash.
    pub hash: UInt256,
    /// The block holding it (absent while in the memory pool).
    pub blockhash: Option<UInt256>,
    /// Confirmations (absent while in the memory pool).
    pub confirmations: Option<u32>,
    /// Its valid-until-block.
    pub validuntilblock: u32,
}

/// `getapplicationlog`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApplicationLog {
    /// The transaction.
    pub txid: Option<UInt256>,
    /// The executions (one `Application` execution for a transaction).
    pub executions: Vec<Execution>,
}

/// One execution in an application log.
#[derive(Debug, Clone, Deserialize)]
pub struct Execution {
    /// `Application`, `OnPersist`, `PostPersist` or `Verification`.
    pub trigger: String,
    /// `HALT` or `FAULT`.
    pub vmstate: String,
    /// The exception of a FAULT.
    pub exception: Option<String>,
    /// GAS consumed, in 10⁻⁸.
    #[serde(deserialize_with = "de_i64")]
    pub gasconsumed: i64,
    /// The result stack.
    #[serde(default, deserialize_with = "de_stack")]
    pub stack: Vec<StackItem>,
    /// Notifications, in emission order.
    #[serde(default, deserialize_with = "de_null_as_empty")]
    pub notifications: Vec<Notification>,
}

impl Execution {
    /// Whether the execution ended in HALT.
    pub fn halted(&self) -> bool {
        self.vmstate.contains("HALT")
    }
}

/// A contract notification (an event).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Notification {
    /// The emitting contract.
    pub contract: UInt160,
    /// The event name.
    pub eventname: String,
    /// The event arguments (an array).
    #[serde(deserialize_with = "de_stack_item")]
    pub state: StackItem,
}

/// The result of `invokefunction` / `invokescript`.
#[derive(Debug, Clone, Deserialize)]
pub struct InvokeResult {
    /// The script that ran, base64.
    pub script: String,
    /// `HALT` or `FAULT`.
    pub state: String,
    /// GAS consumed, in 10⁻⁸.
    #[serde(deserialize_with = "de_i64")]
    pub gasconsumed: i64,
    /// The exception of a FAULT.
    pub exception: Option<String>,
    /// The result stack.
    #[serde(default, deserialize_with = "de_stack")]
    pub stack: Vec<StackItem>,
    /// Notifications the invocation would emit.
    #[serde(default, deserialize_with = "de_null_as_empty")]
    pub notifications: Vec<Notification>,
}

impl InvokeResult {
    /// Whether the invocation ended in HALT.
    pub fn halted(&self) -> bool {
        self.state.contains("HALT")
    }
}

/// `getnep17balances`.
#[derive(Debug, Clone, Deserialize)]
pub struct Nep17Balances {
    /// The account's address.
    pub address: String,
    /// One entry per token held.
    #[serde(rename = "balance")]
    pub balances: Vec<Nep17Balance>,
}

impl Nep17Balances {
    /// The balance of `token` (zero when the account holds none).
    pub fn of(&self, token: &UInt160) -> BigInt {
        self.balances
            .iter()
            .find(|b| b.assethash == *token)
            .map(|b| b.amount.clone())
            .unwrap_or_default()
    }
}

/// One token balance.
#[derive(Debug, Clone, Deserialize)]
pub struct Nep17Balance {
    /// The token contract.
    pub assethash: UInt160,
    /// The amount in the token's smallest unit.
    #[serde(deserialize_with = "de_bigint")]
    pub amount: BigInt,
    /// The block of the last change.
    pub lastupdatedblock: u32,
}

/// `getcontractstate`.
#[derive(Debug, Clone, Deserialize)]
pub struct ContractState {
    /// The contract id.
    pub id: i32,
    /// The contract hash.
    pub hash: UInt160,
    /// The manifest.
    pub manifest: Value,
}
