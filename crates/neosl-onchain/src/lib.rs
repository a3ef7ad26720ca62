//! The on-chain side of the platform: the loop a contract starts with
//! `ServiceLayerGateway.requestService(serviceId, payload, callbackMethod)`.
//!
//! - [`watcher`]: follows the gateway's and the service contracts' events (the durable event
//!   stream, its cursor saved in the same transaction as each change).
//! - [`worker`]: each round expires what is overdue, reserves each pending request's fee from
//!   the requesting contract's GasBank account (`waiting_for_balance` when it cannot pay), has
//!   its service serve and sign it, tests each fulfilment (a callback that would fault or cost
//!   too much is skipped, with the reason), and plans batches in the outbox; the outbox sends
//!   them from a pool account registered as a TEE account and settles them with the chain's
//!   `RequestFulfilled` events (the fee charged once).
//! - [`push`]: the calls a service wants made on its own contract (DataFeeds' prices), asked
//!   for each round and sent once from the fulfilment account.
//! - [`store`]: the requests and the fulfilment accounts.
//! - [`admin`]: the gateway's administration calls and reads.
//! - [`http`]: `/onchain/requests`, `/onchain/contracts`.
//! - [`definition`]: the service as the platform sees it.

pub mod admin;
pub mod definition;
pub mod http;
pub mod push;
pub mod store;
pub mod watcher;
pub mod worker;

pub use definition::{Definition, OnChainSettings};
