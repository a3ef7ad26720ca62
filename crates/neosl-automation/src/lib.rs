//! Automation: triggers that call contracts when their condition is met, exactly once.
//!
//! Four conditions — a cron schedule, a DataFeeds price crossing a threshold, a balance crossing
//! a threshold, a contract's notification — and one action: a contract method called with fixed
//! arguments or values from what fired it, signed by a pool account. Each firing is a row keyed
//! by what fired it, recorded once whoever sees it; it is claimed, checked (enabled, rate limit,
//! still true, gas limit), paid for from the owner's GasBank account (the Automation fee plus the
//! chain's fees, reserved before and consumed after), test-invoked, and sent through the outbox.
//! Every firing keeps its outcome: `executed`, `faulted` (the VM's exception), `skipped` (with the
//! reason) or `failed`.
//!
//! - [`cron`]: five-field UTC expressions and their next times.
//! - [`spec`]: what a user registers, checked before anything is stored.
//! - [`store`]: triggers, firings, positions.
//! - [`engine`]: registration checks, evaluators, the executor and its outbox kind.
//! - [`http`]: the routes under `/automation/triggers`.
//! - [`definition`]: the service as the platform sees it; [`settings`]: `[automation]`.

pub mod cron;
pub mod definition;
pub mod engine;
pub mod error;
pub mod http;
pub mod settings;
pub mod spec;
pub mod store;

pub use definition::Definition;
pub use engine::Automation;
pub use error::AutomationError;
