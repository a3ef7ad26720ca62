//! The runtime every Neo Service Layer service shares.
//!
//! In production each service is a MarbleRun marble inside an SGX enclave: the coordinator
//! verifies the enclave, then injects its secrets and its TLS certificate. On a developer's
//! machine the same code runs in simulation mode. This crate holds what all services need for
//! both:
//!
//! - [`mode`]: enclave or simulation, chosen explicitly.
//! - [`secrets`]: MarbleRun-style secret injection (`use_secret`), development secrets.
//! - [`attestation`]: what `/attestation` and `/info` report.
//! - [`tls`]: mutual TLS from MarbleRun's certificates; the verified peer's identity.
//! - [`certs`]: a local CA and service certificates for testing mTLS (`neosl dev-certs`).
//! - [`client`]: calling another service in-process or over mutual TLS, one code path.
//! - [`identity`]: the caller extractor and strict identity mode.
//! - [`error`]: one error type, mapped to HTTP in one place with stable codes.
//! - [`server`]: the router skeleton (request id, tracing, limits, standard endpoints, metrics)
//!   and serving over HTTP or mutual TLS with graceful shutdown.
//! - [`db`]: SQLite or PostgreSQL by URL, append-only migrations per component.
//! - [`config`]: layered settings (defaults < TOML file < environment < CLI flags).
//! - [`clock`]: the injected time (tests move it instead of sleeping).
//! - [`readiness`]: the chain and secrets checks behind `/ready`.
//! - [`service`]: the [`Service`] trait, its context, and the [`Registry`] of a build.

pub mod attestation;
pub mod certs;
pub mod client;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod identity;
pub mod mode;
pub mod readiness;
pub mod secrets;
pub mod server;
pub mod service;
pub mod singleton;
pub mod tls;

pub use error::{ApiError, ErrorCode};
pub use mode::RuntimeMode;
pub use secrets::{SecretSpec, SecretStore};
pub use service::{Registry, Service, ServiceContext, Started};
