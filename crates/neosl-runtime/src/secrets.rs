//! Secrets injected the way MarbleRun injects them.
//!
//! A secret `NAME` arrives as the environment variable `NAME` (the manifest renders it with
//! `{{ hex .Secrets.name }}`) or as a file whose path is in `NAME_FILE`. Values are hex (the
//! canonical form), or base64 when they are not valid hex; a `hex:` or `base64:` prefix makes
//! the encoding explicit. A file that is not text is taken as raw bytes.
//!
//! Code reads secrets only through [`SecretStore::use_secret`], with a closure that borrows the
//! bytes for the duration of the call; the bytes are zeroized when the store is dropped, and
//! nothing here ever logs them. Only declared secrets can be read, so the list of declared
//! secrets is exactly the list of secrets the code reads (the MarbleRun manifest is checked
//! against it).
//!
//! In simulation mode, a declared secret that is not supplied is generated once and kept in the
//! data directory (`secrets/dev-secrets.json`, owner-only), with a loud warning. In enclave mode
//! a missing secret is a start-up error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use neosl_crypto::SecretBytes;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::RuntimeMode;

/// A secret the code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSpec {
    /// The name (environment variable, manifest `Secrets` key in upper case).
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The shortest acceptable value, in bytes.
    pub min_len: usize,
    /// The exact length, when the secret is a fixed-size key.
    pub exact_len: Option<usize>,
    /// Secrets of the same group are alternatives: one of them must be present. `None` means
    /// this secret alone is required.
    pub group: Option<&'static str>,
    /// Read when present, never required and never generated for development (a rotation's
    /// previous key).
    pub optional: bool,
}

impl SecretSpec {
    fn dev_len(&self) -> usize {
        self.exact_len.unwrap_or(self.min_len.max(32))
    }
}

/// Errors of the secret store. They name secrets, never show values.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The code asked for a secret it never declared.
    #[error("secret {0} is not declared by this service")]
    Undeclared(String),
    /// A declared secret is not available.
    #[error("secret {0} is not available")]
    Missing(String),
    /// In enclave mode a required secret (or every alternative of a group) is missing.
    #[error("enclave mode: required secret {0} was not injected")]
    NotInjected(String),
    /// A supplied value could not be decoded or has the wrong length.
    #[error("secret {name} is invalid: {reason}")]
    Invalid {
        /// The secret.
        name: String,
        /// Why (never the value).
        reason: String,
    },
    /// Reading a secret file or the development secrets failed.
    #[error("secret storage: {0}")]
    Io(String),
}

/// A string that is zeroized when dropped (PEM keys, secret text read from files).
pub type ZeroizingString = Zeroizing<String>;

/// Where secrets come from: the environment in production, a map in tests.
pub trait SecretSource: Send + Sync {
    /// The value of a variable, if set.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvSource;

impl SecretSource for EnvSource {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl SecretSource for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// The secrets of one process.
pub struct SecretStore {
    declared: Vec<SecretSpec>,
    values: HashMap<&'static str, SecretBytes>,
    generated: Vec<&'static str>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.values.keys().collect();
        names.sort();
        f.debug_struct("SecretStore")
            .field("present", &names)
            .field("generated", &self.generated)
            .finish()
    }
}

/// Decodes a secret value: `hex:`/`base64:` prefix, else hex when valid, else base64.
pub fn decode_value(text: &str) -> Option<SecretBytes> {
    let text = text.trim();
    let b64 = |t: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
            .ok()
    };
    let bytes = if let Some(h) = text.strip_prefix("hex:") {
        hex::decode(h).ok()?
    } else if let Some(b) = text.strip_prefix("base64:") {
        b64(b)?
    } else if let Ok(bytes) = hex::decode(text) {
        bytes
    } else {
        b64(text)?
    };
    Some(SecretBytes::new(bytes))
}

impl SecretStore {
    /// Loads every declared secret from `source`. In simulation mode, missing ones are generated
    /// (once) into `dev_dir`; in enclave mode they are an error.
    pub fn load(
        mode: RuntimeMode,
        declared: &[SecretSpec],
        source: &dyn SecretSource,
        dev_dir: Option<&Path>,
    ) -> Result<Self, SecretError> {
        let mut declared_unique: Vec<SecretSpec> = Vec::new();
        for spec in declared {
            if !declared_unique.iter().any(|s| s.name == spec.name) {
                declared_unique.push(*spec);
            }
        }
        let mut values = HashMap::new();
        for spec in &declared_unique {
            if let Some(value) = read_injected(spec, source)? {
                check_len(spec, &value)?;
                values.insert(spec.name, value);
            }
        }
        let missing = missing_requirements(&declared_unique, &values);
        let mut generated = Vec::new();
        if !missing.is_empty() {
            match (mode, dev_dir) {
                (RuntimeMode::Enclave, _) => {
                    return Err(SecretError::NotInjected(
                        missing
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(" or "),
                    ));
                }
                (RuntimeMode::Simulation, None) => {
                    return Err(SecretError::Missing(
                        missing
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                    ));
                }
                (RuntimeMode::Simulation, Some(dir)) => {
                    let mut dev = DevSecrets::open(dir)?;
                    for spec in missing {
                        let value = dev.get_or_generate(spec)?;
                        check_len(spec, &value)?;
                        values.insert(spec.name, value);
                        generated.push(spec.name);
                    }
                    dev.save()?;
                    tracing::warn!(
                        secrets = ?generated,
                        file = %dir.join(DEV_SECRETS_FILE).display(),
                        "SIMULATION MODE: using DEVELOPMENT SECRETS generated on this machine. \
                         They are NOT attested and NOT for production; inject real secrets through MarbleRun."
                    );
                }
            }
        }
        Ok(Self {
            declared: declared_unique,
            values,
            generated,
        })
    }

    /// Calls `f` with the bytes of secret `name`. The bytes are borrowed only for the call.
    pub fn use_secret<R>(&self, name: &str, f: impl FnOnce(&[u8]) -> R) -> Result<R, SecretError> {
        if !self.declared.iter().any(|s| s.name == name) {
            return Err(SecretError::Undeclared(name.to_owned()));
        }
        let value = self
            .values
            .get(name)
            .ok_or_else(|| SecretError::Missing(name.to_owned()))?;
        Ok(f(value.expose()))
    }

    /// Whether secret `name` is available.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The secrets that were generated for development (empty outside simulation).
    pub fn generated(&self) -> &[&'static str] {
        &self.generated
    }

    /// The declared secrets.
    pub fn declared(&self) -> &[SecretSpec] {
        &self.declared
    }
}

fn read_injected(
    spec: &SecretSpec,
    source: &dyn SecretSource,
) -> Result<Option<SecretBytes>, SecretError> {
    let invalid = |reason: &str| SecretError::Invalid {
        name: spec.name.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(text) = source
        .var(spec.name)
        .map(Zeroizing::new)
        .filter(|t| !t.trim().is_empty())
    {
        return decode_value(&text)
            .map(Some)
            .ok_or_else(|| invalid("not hex or base64"));
    }
    if let Some(path) = source
        .var(&format!("{}_FILE", spec.name))
        .filter(|p| !p.is_empty())
    {
        let bytes = Zeroizing::new(
            std::fs::read(&path)
                .map_err(|e| SecretError::Io(format!("{}_FILE ({path}): {e}", spec.name)))?,
        );
        let decoded = std::str::from_utf8(&bytes).ok().and_then(decode_value);
        return Ok(Some(
            decoded.unwrap_or_else(|| SecretBytes::from_slice(&bytes)),
        ));
    }
    Ok(None)
}

fn check_len(spec: &SecretSpec, value: &SecretBytes) -> Result<(), SecretError> {
    let invalid = |reason: String| SecretError::Invalid {
        name: spec.name.to_owned(),
        reason,
    };
    if let Some(exact) = spec.exact_len
        && value.len() != exact
    {
        return Err(invalid(format!(
            "must be {exact} bytes, got {}",
            value.len()
        )));
    }
    if value.len() < spec.min_len {
        return Err(invalid(format!(
            "must be at least {} bytes, got {}",
            spec.min_len,
            value.len()
        )));
    }
    Ok(())
}

/// The specs whose requirement is unmet: each required secret that is missing, and the first
/// member of each group with no member present.
fn missing_requirements<'a>(
    declared: &'a [SecretSpec],
    values: &HashMap<&'static str, SecretBytes>,
) -> Vec<&'a SecretSpec> {
    let mut missing = Vec::new();
    let mut groups_seen: Vec<&str> = Vec::new();
    for spec in declared {
        match spec.group {
            _ if spec.optional => {}
            None if !values.contains_key(spec.name) => missing.push(spec),
            Some(group) if !groups_seen.contains(&group) => {
                groups_seen.push(group);
                let satisfied = declared
                    .iter()
                    .any(|s| s.group == Some(group) && values.contains_key(s.name));
                if !satisfied {
                    missing.push(spec);
                }
            }
            _ => {}
        }
    }
    missing
}

const DEV_SECRETS_FILE: &str = "dev-secrets.json";

/// Development secrets kept on disk (simulation only), hex-encoded, owner-only.
struct DevSecrets {
    path: PathBuf,
    values: BTreeMap<String, Zeroizing<String>>,
    changed: bool,
}

impl DevSecrets {
    fn open(dir: &Path) -> Result<Self, SecretError> {
        let io = |e: std::io::Error| SecretError::Io(e.to_string());
        std::fs::create_dir_all(dir).map_err(io)?;
        set_mode(dir, 0o700).map_err(io)?;
        let path = dir.join(DEV_SECRETS_FILE);
        let values = match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let map: BTreeMap<String, String> = serde_json::from_slice(&bytes)
                    .map_err(|e| SecretError::Io(format!("{}: {e}", path.display())))?;
                map.into_iter()
                    .map(|(k, v)| (k, Zeroizing::new(v)))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(Self {
            path,
            values,
            changed: false,
        })
    }

    fn get_or_generate(&mut self, spec: &SecretSpec) -> Result<SecretBytes, SecretError> {
        if let Some(hex_text) = self.values.get(spec.name) {
            return decode_value(hex_text).ok_or_else(|| {
                SecretError::Io(format!(
                    "{}: bad value for {}",
                    self.path.display(),
                    spec.name
                ))
            });
        }
        let mut bytes = vec![0u8; spec.dev_len()];
        neosl_crypto::random_bytes(&mut bytes);
        let value = SecretBytes::new(bytes);
        self.values.insert(
            spec.name.to_owned(),
            Zeroizing::new(hex::encode(value.expose())),
        );
        self.changed = true;
        Ok(value)
    }

    fn save(&self) -> Result<(), SecretError> {
        if !self.changed {
            return Ok(());
        }
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e: std::io::Error| SecretError::Io(e.to_string());
        let plain: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let text = Zeroizing::new(
            serde_json::to_vec_pretty(&plain).map_err(|e| SecretError::Io(e.to_string()))?,
        );
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SecretSpec = SecretSpec {
        name: "TEST_KEY",
        description: "test",
        min_len: 32,
        exact_len: Some(32),
        group: None,
        optional: false,
    };
    const A: SecretSpec = SecretSpec {
        name: "ALT_A",
        description: "a",
        min_len: 32,
        exact_len: None,
        group: Some("alt"),
        optional: false,
    };
    const B: SecretSpec = SecretSpec {
        name: "ALT_B",
        description: "b",
        min_len: 16,
        exact_len: None,
        group: Some("alt"),
        optional: false,
    };

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decodes_hex_base64_and_prefixes() {
        assert_eq!(
            decode_value("0a0b").map(|v| v.expose().to_vec()),
            Some(vec![10, 11])
        );
        assert_eq!(
            decode_value("hex:0a0b").map(|v| v.expose().to_vec()),
            Some(vec![10, 11])
        );
        assert_eq!(
            decode_value("base64:AAE=").map(|v| v.expose().to_vec()),
            Some(vec![0, 1])
        );
        assert_eq!(
            decode_value("AAE=").map(|v| v.expose().to_vec()),
            Some(vec![0, 1])
        );
        assert!(decode_value("***").is_none());
    }

    #[test]
    fn enclave_mode_requires_injection() {
        let err = SecretStore::load(RuntimeMode::Enclave, &[KEY], &env(&[]), None).err();
        assert_eq!(err, Some(SecretError::NotInjected("TEST_KEY".into())));
        let err = SecretStore::load(RuntimeMode::Enclave, &[A, B], &env(&[]), None).err();
        assert_eq!(err, Some(SecretError::NotInjected("ALT_A".into())));
        let store = SecretStore::load(
            RuntimeMode::Enclave,
            &[A, B],
            &env(&[("ALT_B", &"11".repeat(16))]),
            None,
        )
        .expect("one alternative is enough");
        assert!(store.has("ALT_B") && !store.has("ALT_A"));
    }

    #[test]
    fn use_secret_only_for_declared_names_and_checks_lengths() {
        let store = SecretStore::load(
            RuntimeMode::Enclave,
            &[KEY],
            &env(&[("TEST_KEY", &"ab".repeat(32))]),
            None,
        )
        .expect("loads");
        assert_eq!(store.use_secret("TEST_KEY", |b| b.len()), Ok(32));
        assert_eq!(
            store.use_secret("OTHER", |b| b.len()),
            Err(SecretError::Undeclared("OTHER".into()))
        );
        let short = SecretStore::load(
            RuntimeMode::Enclave,
            &[KEY],
            &env(&[("TEST_KEY", &"ab".repeat(31))]),
            None,
        );
        assert!(matches!(short, Err(SecretError::Invalid { .. })));
        let text = format!("{:?}", short.err());
        assert!(!text.contains("abab"), "errors never show values: {text}");
        assert!(!format!("{store:?}").contains("abab"));
    }

    #[test]
    fn files_and_development_secrets() {
        let dir = neosl_testkit::TempDir::new("neosl-secrets").expect("temp dir");
        let file = dir.path().join("key.bin");
        std::fs::write(&file, [0xffu8; 32]).expect("write");
        let source = env(&[("TEST_KEY_FILE", file.to_str().expect("utf-8"))]);
        let store =
            SecretStore::load(RuntimeMode::Enclave, &[KEY], &source, None).expect("raw file");
        assert_eq!(
            store.use_secret("TEST_KEY", |b| b.to_vec()),
            Ok(vec![0xff; 32])
        );

        let dev = dir.path().join("dev");
        let first = SecretStore::load(RuntimeMode::Simulation, &[KEY, A, B], &env(&[]), Some(&dev))
            .expect("generates");
        assert_eq!(first.generated(), &["TEST_KEY", "ALT_A"]);
        let second =
            SecretStore::load(RuntimeMode::Simulation, &[KEY, A, B], &env(&[]), Some(&dev))
                .expect("reuses");
        assert_eq!(
            first.use_secret("TEST_KEY", |b| b.to_vec()),
            second.use_secret("TEST_KEY", |b| b.to_vec()),
            "generated once, then kept"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dev.join(DEV_SECRETS_FILE))
                .expect("file")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        // An injected secret wins over a stored development one.
        let injected = SecretStore::load(
            RuntimeMode::Simulation,
            &[KEY],
            &env(&[("TEST_KEY", &"01".repeat(32))]),
            Some(&dev),
        )
        .expect("loads");
        assert_eq!(injected.use_secret("TEST_KEY", |b| b[0]), Ok(1));
        assert!(injected.generated().is_empty());
    }
}
