//! DataFeeds: prices from several exchanges, aggregated in the enclave, signed, and kept on
//! chain in the `DataFeedsService` contract that DeFi contracts read directly.
//!
//! Every pair is fetched from its sources on its own schedule ([`feed`]); each exchange's answer
//! is read in its own wire format ([`sources`]); the fresh quotes are combined in integers —
//! outliers removed by their distance from the median, then the median ([`aggregate`]). A new
//! round is made when the price moves beyond the pair's deviation threshold or its heartbeat is
//! due, numbered per pair in the database so replicas and restarts never repeat or compete
//! ([`store`]), and signed with `DATAFEEDS_SIGNING_KEY` over a message that binds the network,
//! the contract, the pair, the round, the price, its decimals and time. The on-chain worker asks
//! `/datafeeds/push` for what the contract lacks and sends it from its TEE account.
//!
//! - [`definition`]: the service as the platform sees it (secret, routes, fee, settings).
//! - [`settings`]: the `[datafeeds]` section: pairs, sources, symbols, rules.
//! - [`http`]: the routes.
//! - [`error`]: [`DataFeedsError`] and its codes.

pub mod aggregate;
pub mod definition;
pub mod error;
pub mod feed;
pub mod http;
pub mod settings;
pub mod sources;
pub mod store;

pub use definition::{DATAFEEDS_SIGNING_KEY, Definition};
pub use error::DataFeedsError;
pub use feed::DataFeeds;
