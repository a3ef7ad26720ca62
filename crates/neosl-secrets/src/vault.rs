//! Envelope encryption of secret values (pure: no I/O).
//!
//! Each value is sealed (AES-256-GCM) under its own random data key; the data key is sealed
//! under a key-encryption key derived from the master key with the owner and the name as
//! context. Both seals are envelopes whose associated data binds the owner and the name, so a
//! row copied to another owner or name opens under neither layer. A master key is known by its
//! id (derived from it, safe to store), so rows wrapped under a previous master key are found
//! and re-wrapped after a rotation while both keys are injected.

use neosl_crypto::aead::{self, AeadKey};
use neosl_crypto::kdf::derive_key;
use neosl_crypto::{MasterKey, SecretBytes};
use zeroize::Zeroizing;

const SALT: &[u8] = b"neosl-secrets";

/// A master key with its id.
pub struct Master {
    id: String,
    key: MasterKey,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master").field("id", &self.id).finish()
    }
}

impl Master {
    /// Wraps master key bytes (at least 32).
    pub fn new(bytes: &[u8]) -> Result<Self, SealError> {
        let key = MasterKey::new(SecretBytes::from_slice(bytes)).map_err(|_| SealError::Key)?;
        let id = derive_key(key.expose(), SALT, b"master-id", 8).map_err(|_| SealError::Key)?;
        Ok(Self {
            id: hex::encode(id.expose()),
            key,
        })
    }

    /// Its id (16 hex digits; reveals nothing of the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrapping_key(&self, owner: &str, name: &str) -> Result<AeadKey, SealError> {
        let mut info = b"wrap".to_vec();
        for part in [owner, name] {
            info.extend_from_slice(&(part.len() as u32).to_be_bytes());
            info.extend_from_slice(part.as_bytes());
        }
        let okm = derive_key(self.key.expose(), SALT, &info, 32).map_err(|_| SealError::Key)?;
        AeadKey::from_slice(okm.expose()).map_err(|_| SealError::Key)
    }
}

/// The current master key and, during a rotation, the previous one.
#[derive(Debug)]
pub struct Keyring {
    current: Master,
    previous: Option<Master>,
}

/// A sealed value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `nonce ‖ ciphertext ‖ tag` of the value under the data key.
    pub ciphertext: Vec<u8>,
    /// The data key sealed under the owner-and-name key.
    pub wrapped_key: Vec<u8>,
    /// The id of the master key that wrapped it.
    pub master_id: String,
}

/// Why sealing or opening failed (never says more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A key could not be prepared.
    #[error("the key could not be prepared")]
    Key,
    /// The row was wrapped by a master key this process does not hold.
    #[error("the secret was sealed under a master key this service does not hold")]
    UnknownMaster,
    /// The row does not open (altered, or copied to another owner or name).
    #[error("the secret does not open for this owner and name")]
    Corrupted,
}

fn value_purpose(name: &str) -> String {
    format!("secrets/value/{name}")
}

fn key_purpose(name: &str) -> String {
    format!("secrets/data-key/{name}")
}

impl Keyring {
    /// A keyring.
    pub fn new(current: Master, previous: Option<Master>) -> Self {
        let previous = previous.filter(|p| p.id != current.id);
        Self { current, previous }
    }

    /// The current master key's id.
    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    /// The previous master key's id, during a rotation.
    pub fn previous_id(&self) -> Option<&str> {
        self.previous.as_ref().map(Master::id)
    }

    fn master(&self, id: &str) -> Result<&Master, SealError> {
        if self.current.id == id {
            return Ok(&self.current);
        }
        self.previous
            .as_ref()
            .filter(|p| p.id == id)
            .ok_or(SealError::UnknownMaster)
    }

    /// Seals `value` of `owner`'s secret `name` under a fresh data key and the current master.
    pub fn seal(&self, owner: &str, name: &str, value: &[u8]) -> Result<Sealed, SealError> {
        let data_key = Zeroizing::new(neosl_crypto::random_array::<32>());
        let data = AeadKey::new(*data_key);
        let ciphertext = aead::seal_envelope(&data, owner, &value_purpose(name), value)
            .map_err(|_| SealError::Key)?;
        let wrapped_key = aead::seal_envelope(
            &self.current.wrapping_key(owner, name)?,
            owner,
            &key_purpose(name),
            &data_key[..],
        )
        .map_err(|_| SealError::Key)?;
        Ok(Sealed {
            ciphertext,
            wrapped_key,
            master_id: self.current.id.clone(),
        })
    }

    fn data_key_bytes(
        &self,
        owner: &str,
        name: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let master = self.master(&sealed.master_id)?;
        aead::open_envelope(
            &master.wrapping_key(owner, name)?,
            owner,
            &key_purpose(name),
            &sealed.wrapped_key,
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Corrupted)
    }

    /// Opens `owner`'s secret `name`.
    pub fn open(
        &self,
        owner: &str,
        name: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let data = AeadKey::from_slice(&self.data_key_bytes(owner, name, sealed)?)
            .map_err(|_| SealError::Corrupted)?;
        aead::open_envelope(&data, owner, &value_purpose(name), &sealed.ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Corrupted)
    }

    /// The same data key wrapped under the current master (the value's ciphertext is unchanged).
    pub fn rewrap(&self, owner: &str, name: &str, sealed: &Sealed) -> Result<Sealed, SealError> {
        let bytes = self.data_key_bytes(owner, name, sealed)?;
        let wrapped_key = aead::seal_envelope(
            &self.current.wrapping_key(owner, name)?,
            owner,
            &key_purpose(name),
            &bytes,
        )
        .map_err(|_| SealError::Key)?;
        Ok(Sealed {
            ciphertext: sealed.ciphertext.clone(),
            wrapped_key,
            master_id: self.current.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(Master::new(&[7; 32]).expect("key"), None)
    }

    #[test]
    fn values_open_only_for_their_owner_and_name() {
        let ring = ring();
        let sealed = ring.seal("alice", "api-key", b"s3cret").expect("seal");
        assert_eq!(
            &ring.open("alice", "api-key", &sealed).expect("open")[..],
            b"s3cret"
        );
        assert_eq!(
            ring.open("bob", "api-key", &sealed),
            Err(SealError::Corrupted)
        );
        assert_eq!(
            ring.open("alice", "other", &sealed),
            Err(SealError::Corrupted)
        );
        let mut altered = sealed.clone();
        altered.ciphertext[14] ^= 1;
        assert_eq!(
            ring.open("alice", "api-key", &altered),
            Err(SealError::Corrupted)
        );
        // The value is not in the stored bytes.
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cret"));
    }

    #[test]
    fn rotation_rewraps_without_touching_the_value() {
        let old = ring();
        let sealed = old.seal("alice", "k", b"v").expect("seal");
        let rotated = Keyring::new(
            Master::new(&[9; 32]).expect("key"),
            Some(Master::new(&[7; 32]).expect("key")),
        );
        assert_eq!(rotated.previous_id(), Some(old.current_id()));
        assert_eq!(
            &rotated.open("alice", "k", &sealed).expect("old row")[..],
            b"v"
        );
        let rewrapped = rotated.rewrap("alice", "k", &sealed).expect("rewrap");
        assert_eq!(rewrapped.master_id, rotated.current_id());
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext);
        let after = Keyring::new(Master::new(&[9; 32]).expect("key"), None);
        assert_eq!(
            &after.open("alice", "k", &rewrapped).expect("new row")[..],
            b"v"
        );
        assert_eq!(
            after.open("alice", "k", &sealed),
            Err(SealError::UnknownMaster)
        );
    }
}
