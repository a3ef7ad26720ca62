//! The public gateway: users (password and Neo wallet login), sessions, JWT access tokens,
//! API keys, per-principal rate limits, and the GasBank API, all behind the response envelope
//! `{"success": true, "data": …, "timestamp": …}` (errors: `{"success": false, "error", "code",
//! "timestamp"}`).
//!
//! - [`auth`]: password hashing (Argon2id), HS256 tokens, bearer secrets, the wallet message.
//! - [`store`]: users, sessions, API keys, wallet nonces.
//! - [`guard`]: client addresses, the bounded password-hashing gate, e-mail and password
//!   rules, API key scopes.
//! - [`limit`]: token buckets (sharded, bounded memory).
//! - [`http`]: the routes and the [`http::Principal`] extractor.

pub mod auth;
pub mod guard;
pub mod http;
pub mod limit;
pub mod store;

pub use http::{Gateway, GatewayConfig, router};
