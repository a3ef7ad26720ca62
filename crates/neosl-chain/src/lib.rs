//! The Neo N3 chain client every service shares.
//!
//! - [`rpc`]: an async JSON-RPC client with typed results and errors, timeouts, retries with
//!   backoff for idempotent calls, and fail-over across several endpoints.
//! - [`signer`]: the [`signer::TxSigner`] trait (a local key, a local multi-signature account, or
//!   a remote signer such as the AccountPool) and the local implementations.
//! - [`submit`]: building, fee estimation, signing, sending and awaiting transactions.
//! - [`ws`]: WebSocket subscriptions (`block_added`, `transaction_executed`,
//!   `notification_from_execution`).
//! - [`events`]: a durable, ordered, exactly-once stream of contract notifications with a cursor
//!   each service stores in its own database, WebSocket first and polling as fall-back.

pub mod error;
pub mod events;
pub mod rpc;
pub mod signer;
pub mod submit;
pub mod ws;

pub use error::{ChainError, Result, RpcErrorKind};
pub use rpc::RpcClient;
