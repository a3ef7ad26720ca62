//! The Mixer (NeoVault): GAS mixed through anonymous pool accounts (seed 004 §4.2, §9).
//!
//! A user asks off chain and gets a RequestProof: canonical request bytes the `MixerService`
//! contract can decode, their `Hash256`, and the Mixer's ECDSA P-256 signature. The user pays
//! the deposit plan's pool accounts by ordinary transfers; the Mixer moves the GAS through hop
//! accounts at random times inside the chosen window and delivers exactly each target's
//! amount, signing every transaction through the AccountPool (it never holds a pool key). A
//! settled request gets a CompletionProof (`txidsHash` and a signature) that the contract
//! accepts; a user whose request was not settled by its deadline disputes on chain and, if no
//! proof comes within the grace, is paid the request's total from the operator's bond.
//!
//! - [`terms`]: what a user asks for, checked; the fee. [`plan`]: how the GAS moves (pure).
//! - [`store`]: requests, accounts, deposits, legs. [`engine`]: the Mixer and its outbox kinds.
//! - [`http`]: the routes under `/mixer/`. [`definition`]: the service; [`settings`]:
//!   `[mixer]`.

pub mod definition;
pub mod engine;
pub mod error;
pub mod http;
pub mod plan;
pub mod settings;
pub mod store;
pub mod terms;

pub use definition::Definition;
pub use engine::Mixer;
pub use error::MixerError;
