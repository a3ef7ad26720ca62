//! The VRF service: verifiable randomness by RFC 9381 (ECVRF-P256-SHA256-TAI).
//!
//! `POST /vrf/random {seed, num_words}` proves the seed (hex bytes, the VRF input α) with the
//! service key (the injected secret `VRF_PRIVATE_KEY`, used directly) and answers the proof π,
//! the public key and `num_words` random words, where word *i* = SHA-256(β ‖ *i* as 4 bytes
//! big-endian) and β = ECVRF_proof_to_hash(π). Anyone can recompute and check everything with
//! the public key alone (`neosl vrf-verify`, or [`neosl_crypto::vrf::verify_random_words`]).
//!
//! The service is reached through the gateway, which authenticates the user, charges the fee and
//! passes the user id in `X-User-ID`; only the gateway may name a user.
//!
//! - [`definition`]: the service as the platform sees it (name, secret, routes, fee, key).
//! - [`domain`]: [`VrfService`] (proving, verifying, the record of requests) and [`VrfError`].
//! - [`http`]: the routes.

pub mod definition;
pub mod domain;
pub mod http;

pub use definition::{Definition, VRF_PRIVATE_KEY};
pub use domain::{MAX_SEED_BYTES, MAX_WORDS, MIGRATIONS, RandomResult, VrfError, VrfService};
pub use http::{USER_HEADER, router};
