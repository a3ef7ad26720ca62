//! AccountPool: the internal service that keeps a large pool of Neo N3 accounts derived from one
//! master key. Other services lock accounts, have transactions signed, track per-token balances
//! and move funds; private keys never leave this crate.
//!
//! - [`service`]: the pool ([`AccountPool`]): locks, listings, the pool's figures; its
//!   signing, balances and transfers, and upkeep live in `signing`, `balances` and
//!   `maintenance`.
//! - [`store`]: persistence on SQLite or PostgreSQL, concurrency-safe allocation.
//! - [`http`]: the internal HTTP API and the in-process [`http::LocalAccountPool`].
//! - [`jobs`]: lock sweeping, balance sync, rotation and retirement.
//! - [`error`]: the refusal codes.
//! - [`definition`]: the service as the platform sees it (secrets, settings, start-up).

pub mod audit;
mod balances;
pub mod definition;
pub mod error;
pub mod http;
pub mod jobs;
mod maintenance;
pub mod service;
mod signing;
pub mod store;

pub use definition::Definition;
pub use error::Failure;
pub use neosl_runtime::service::Chain;
pub use service::{AccountPool, PoolConfig};
