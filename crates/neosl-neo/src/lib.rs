//! Neo N3 protocol core: byte-exact and free of I/O.
//!
//! This crate turns keys into addresses and scripts, builds invocation scripts, converts
//! contract parameters and stack items to and from the JSON that Neo RPC speaks, and serializes,
//! hashes and signs transactions exactly as a Neo N3 node expects. It performs no I/O, owns no
//! runtime and knows nothing of HTTP or databases; every other crate builds on it.
//!
//! - [`binary`]: Neo's binary reader/writer (little-endian, variable-length integers).
//! - [`hash`]: [`UInt160`] script hashes and [`UInt256`] transaction hashes with Neo's display form.
//! - [`address`]: addresses (version 0x35, Base58Check) and WIF.
//! - [`script`]: opcodes, the [`script::ScriptBuilder`], verification scripts.
//! - [`contract`]: contract calls (`System.Contract.Call` with parameters), the NEP-17 transfer.
//! - [`param`]: contract parameters and VM stack items as JSON.
//! - [`serialize`]: the binary form of `StdLib.serialize` / `StdLib.deserialize`.
//! - [`tx`]: transactions, signers, witness scopes and rules, attributes, witnesses.
//! - [`native`]: hashes of the native contracts.
//! - [`wallet`]: NEP-2 encrypted keys and NEP-6 wallet files.

pub mod address;
pub mod binary;
pub mod contract;
mod error;
pub mod hash;
pub mod native;
pub mod param;
pub mod script;
pub mod serialize;
pub mod tx;
pub mod wallet;

pub use address::{ADDRESS_VERSION, Address};
pub use error::{NeoError, Result};
pub use hash::{UInt160, UInt256};
pub use neosl_crypto::{PublicKey, SecretKey, Signature};
