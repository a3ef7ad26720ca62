//! Confidential compute: users' programs run inside the enclave with granted secrets, under
//! limits that hold against hostile code, and their results are signed for anyone to verify.
//!
//! - [`runtime`]: one run on its engine ([`runtime::wasm`] on wasmi, [`runtime::js`] on
//!   QuickJS), the limits and the failure codes.
//! - [`store`]: jobs (rows with a state, claimed under a lease) and uploaded code.
//! - [`engine`]: [`Confidential`]: checks, fees, secrets from the Secrets service, runs,
//!   signatures, contracts' requests, the worker.
//! - [`http`]: the routes. [`settings`]: `[confidential]`. [`definition`]: the service.

pub mod definition;
pub mod engine;
pub mod error;
pub mod http;
pub mod runtime;
pub mod settings;
pub mod store;

pub use definition::Definition;
pub use engine::Confidential;
pub use error::ConfidentialError;
