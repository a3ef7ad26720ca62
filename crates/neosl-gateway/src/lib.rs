//! The public gateway: users (password and Neo wallet login), sessions, JWT access tokens,
//! API keys, per-principal rate limits, the GasBank API, and the routes of every public
//! service, forwarded and billed without per-service code, all behind the response envelope
//! `{"success": true, "data": …, "timestamp": …}` (errors: `{"success": false, "error", "code",
//! "timestamp"}`).
//!
//! - [`definition`]: the gateway as the platform sees it (secrets, settings, jobs).
//! - [`gateway`]: the state the handlers share ([`Gateway`]).
//! - [`routes`]: the gateway's own routes and the assembled [`router`].
//! - [`proxy`]: forwarding to public services (access rules, billing, the envelope).
//! - [`principal`]: who is calling ([`principal::Principal`]).
//! - [`config`]: the `[gateway]` settings.
//! - [`error`]: the refusal codes.
//! - [`auth`]: password hashing (Argon2id), HS256 tokens, bearer secrets, the wallet message.
//! - [`store`]: users, sessions, API keys, wallet nonces.
//! - [`guard`]: client addresses, the bounded password-hashing gate, e-mail and password
//!   rules, API key scopes.
//! - [`limit`]: token buckets (sharded, bounded memory).

pub mod auth;
pub mod buckets;
pub mod config;
pub mod definition;
pub mod error;
pub mod gateway;
pub mod guard;
pub mod limit;
pub mod principal;
pub mod proxy;
pub mod routes;
pub mod store;

pub use config::{GatewayConfig, GatewaySettings};
pub use definition::Definition;
pub use error::GatewayError;
pub use gateway::Gateway;
pub use routes::router;
