//! The Neo Service Layer platform: the [`registry`] of this build's services and the
//! [`platform`] that runs a registry (what `neosl serve` does, and what tests with services of
//! their own use).

pub mod contracts;
pub mod platform;
pub mod registry;

pub use platform::{Options, Platform};
pub use registry::registry;
