//! `Secrets`: the rules around the vault and the store.

use neosl_api::secrets::{GrantedSecret, UseAnswer, UseRequest};
use neosl_runtime::clock::SharedClock;
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::store::{AuditEntry, SecretInfo, Store};
use crate::vault::{Keyring, SealError};

/// The longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// The most secrets one owner keeps.
pub const MAX_SECRETS_PER_OWNER: usize = 100;
/// The most names one use asks for.
pub const MAX_NAMES_PER_USE: usize = 16;
/// The most services one secret allows.
pub const MAX_ALLOWED_SERVICES: usize = 8;

/// The Secrets service's state.
#[derive(Debug)]
pub struct Secrets {
    store: Store,
    keys: Keyring,
    clock: SharedClock,
    /// The services of this platform that may be named in `allowed_services`.
    services: Vec<String>,
}

pub use neosl_api::secrets::valid_name;

impl Secrets {
    /// The service over its store and keys; `services` are those a secret may allow.
    pub fn new(store: Store, keys: Keyring, clock: SharedClock, services: Vec<String>) -> Self {
        Self {
            store,
            keys,
            clock,
            services,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keyring.
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Writes `owner`'s secret `name`.
    pub async fn put(
        &self,
        owner: &str,
        name: &str,
        value: &Zeroizing<String>,
        allowed_services: &[String],
    ) -> Result<SecretInfo, SecretsError> {
        if !valid_name(name) {
            return Err(SecretsError::InvalidName);
        }
        if value.is_empty() || value.len() > MAX_VALUE_BYTES {
            return Err(SecretsError::InvalidValue(MAX_VALUE_BYTES));
        }
        if allowed_services.len() > MAX_ALLOWED_SERVICES {
            return Err(SecretsError::TooMany(format!(
                "a secret allows at most {MAX_ALLOWED_SERVICES} services"
            )));
        }
        let mut allowed: Vec<String> = Vec::with_capacity(allowed_services.len());
        for service in allowed_services {
            if !self.services.contains(service) {
                return Err(SecretsError::UnknownService(service.clone()));
            }
            if !allowed.contains(service) {
                allowed.push(service.clone());
            }
        }
        let sealed = self
            .keys
            .seal(owner, name, value.as_bytes())
            .map_err(|_| SecretsError::Database("sealing failed".into()))?;
        let now = self.now();
        let info = SecretInfo {
            name: name.to_owned(),
            allowed_services: allowed,
            value_size: value.len() as i64,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store
            .put(owner, &info, &sealed, MAX_SECRETS_PER_OWNER)
            .await
    }

    /// A secret's metadata.
    pub async fn info(&self, owner: &str, name: &str) -> Result<SecretInfo, SecretsError> {
        if !valid_name(name) {
            return Err(SecretsError::InvalidName);
        }
        self.store
            .get(owner, name)
            .await?
            .map(|row| row.info)
            .ok_or_else(|| SecretsError::NotFound(name.to_owned()))
    }

    /// The owner's secrets' metadata.
    pub async fn list(&self, owner: &str) -> Result<Vec<SecretInfo>, SecretsError> {
        self.store.list(owner).await
    }

    /// Deletes a secret.
    pub async fn delete(&self, owner: &str, name: &str) -> Result<(), SecretsError> {
        if !valid_name(name) {
            return Err(SecretsError::InvalidName);
        }
        if self.store.delete(owner, name, self.now()).await? {
            Ok(())
        } else {
            Err(SecretsError::NotFound(name.to_owned()))
        }
    }

    /// The owner's audit log.
    pub async fn audit(
        &self,
        owner: &str,
        name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, SecretsError> {
        if !(1..=500).contains(&limit) {
            return Err(SecretsError::InvalidLimit);
        }
        if name.is_some_and(|n| !valid_name(n)) {
            return Err(SecretsError::InvalidName);
        }
        self.store.audit(owner, name, limit).await
    }

    /// Hands the values of `request.names` to `caller` if every one of them allows it; every
    /// name's outcome is audited either way, and nothing is handed out unless all are allowed.
    pub async fn use_secrets(
        &self,
        caller: &str,
        request: &UseRequest,
    ) -> Result<UseAnswer, SecretsError> {
        // A user's request through the gateway never reaches a value.
        if caller == "gateway" || !self.services.iter().any(|s| s == caller) {
            return Err(SecretsError::Forbidden);
        }
        if request.names.is_empty() || request.names.len() > MAX_NAMES_PER_USE {
            return Err(SecretsError::TooMany(format!(
                "a use names 1 to {MAX_NAMES_PER_USE} secrets"
            )));
        }
        if request.names.iter().any(|n| !valid_name(n)) {
            return Err(SecretsError::InvalidName);
        }
        if request.owner.is_empty() || request.owner.len() > 128 || request.purpose.len() > 200 {
            return Err(SecretsError::TooMany(
                "owner is 1 to 128 characters and purpose at most 200".into(),
            ));
        }
        let rows = self
            .store
            .use_rows(
                &request.owner,
                &request.names,
                caller,
                &request.purpose,
                self.now(),
                |_, row| match row {
                    None => "secret_not_found",
                    Some(row) if !row.info.allowed_services.iter().any(|s| s == caller) => {
                        "service_not_allowed"
                    }
                    Some(_) => "ok",
                },
            )
            .await?;
        let mut granted = Vec::with_capacity(rows.len());
        for (name, row, outcome) in &rows {
            match (*outcome, row) {
                ("ok", Some(row)) => {
                    let bytes = self
                        .keys
                        .open(&request.owner, name, &row.sealed)
                        .map_err(|e| self.unreadable(&request.owner, name, e))?;
                    let text = String::from_utf8(bytes.to_vec())
                        .map_err(|_| SecretsError::Unreadable(name.clone()))?;
                    granted.push(GrantedSecret {
                        name: name.clone(),
                        value: Zeroizing::new(text),
                    });
                }
                ("secret_not_found", _) => return Err(SecretsError::NotFound(name.clone())),
                _ => {
                    return Err(SecretsError::ServiceNotAllowed {
                        service: caller.to_owned(),
                        name: name.clone(),
                    });
                }
            }
        }
        Ok(UseAnswer { secrets: granted })
    }

    fn unreadable(&self, owner: &str, name: &str, error: SealError) -> SecretsError {
        tracing::error!(owner, name, %error, "a stored secret does not open");
        SecretsError::Unreadable(name.to_owned())
    }

    /// Re-wraps up to `batch` rows sealed under the previous master key with the current one;
    /// answers how many were re-wrapped and how many did not open (altered rows).
    pub async fn rewrap_round(&self, batch: i64) -> Result<(usize, usize), SecretsError> {
        let Some(previous) = self.keys.previous_id() else {
            return Ok((0, 0));
        };
        let rows = self.store.wrapped_by(previous, batch).await?;
        let (mut rewrapped, mut stranded) = (0, 0);
        for (owner, row) in rows {
            match self.keys.rewrap(&owner, &row.info.name, &row.sealed) {
                Ok(after) => {
                    if self
                        .store
                        .replace_wrapping(&owner, &row.info.name, &row.sealed, &after)
                        .await?
                    {
                        rewrapped += 1;
                    }
                }
                Err(error) => {
                    stranded += 1;
                    tracing::warn!(owner, name = row.info.name, %error, master_id = row.sealed.master_id, "a secret cannot be re-wrapped");
                }
            }
        }
        Ok((rewrapped, stranded))
    }
}
