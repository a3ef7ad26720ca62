//! The Secrets service: users keep named secrets that only the services they name may use.
//!
//! - [`vault`]: envelope encryption (a data key per secret, wrapped under a key derived from the
//!   master key with owner and name as context; AES-256-GCM bound to owner and name), rotation.
//! - [`store`]: the sealed rows and the owners' audit log.
//! - [`service`]: [`Secrets`], the rules: names, sizes, allowed services, uses.
//! - [`http`]: the owner's routes through the gateway and the internal use route.
//! - [`definition`]: the service as the platform sees it.

pub mod definition;
pub mod error;
pub mod http;
pub mod service;
pub mod store;
pub mod vault;

pub use definition::Definition;
pub use error::SecretsError;
pub use service::Secrets;
