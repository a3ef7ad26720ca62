//! Layered settings: defaults < TOML file < environment < command-line flags.
//!
//! The file is given by `--config` or `NEOSL_CONFIG`; environment variables are `NEOSL_*`
//! (listed on [`Settings::apply_env`]). Secrets never live here: they come through
//! [`crate::secrets`]. `Debug` redacts the password of a database URL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::RuntimeMode;
use crate::secrets::SecretSource;

/// Settings of the platform binary.
///
/// Platform-wide keys are fields; every other top-level table is a service's own section
/// (`[gateway]`, `[accountpool]`, …), which that service reads and checks
/// ([`Settings::section`]). A top-level key that is neither is refused when the registry checks
/// the settings; a misspelt platform key is refused here.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where the platform keeps its files (SQLite database, development secrets, devnet).
    pub data_dir: PathBuf,
    /// Enclave or simulation; unset means `OE_SIMULATION` decides (simulation unless `0`).
    pub mode: Option<RuntimeMode>,
    /// Log filter (`info`, `neosl=debug`, …).
    pub log: String,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Longest time a request may take, seconds.
    pub request_timeout_secs: u64,
    /// How long graceful shutdown waits for requests in flight, seconds.
    pub shutdown_grace_secs: u64,
    /// Per-service settings, keyed by service name.
    pub services: BTreeMap<String, ServiceSettings>,
    /// Database URL: `sqlite://…` (default: in the data directory) or `postgres://…`.
    pub database_url: Option<String>,
    /// Neo RPC endpoints, tried in order.
    pub chain_rpc: Vec<String>,
    /// The network magic signed into transactions when no chain RPC is configured.
    pub network_magic: Option<u32>,
    /// A directory written by `neosl dev-certs` (`ca.pem`, `<service>.pem`,
    /// `<service>-key.pem`): serve every service over mutual TLS without MarbleRun.
    pub tls_dir: Option<PathBuf>,
    /// Fee overrides in 10⁻⁸ GAS by fee name (`vrf = 100000`, or `{ base, basis_points }`);
    /// the names are the fees the services declare.
    pub fees: BTreeMap<String, FeeSetting>,
    /// Host names (beside IP literals, `localhost` and the service's own name) that requests may
    /// name in `Host`; anything else is refused, which defeats DNS rebinding. `"*"` allows any
    /// (only behind a proxy that checks it).
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (rate limits per client
    /// address); from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a replica's claim on chain work (the outbox) lasts, seconds: a replica that
    /// dies holds its items this long before another takes them over.
    pub chain_work_lease_secs: u64,
    /// A plain-HTTP listener that answers only `/health` and `/ready` of the process's
    /// service (the public one when several run), for orchestrators' probes: kubelet cannot
    /// present the client certificate an internal service's mutual-TLS listener requires.
    /// Nothing else is served there.
    pub probe_listen: Option<std::net::SocketAddr>,
    /// Each service's own section, by service name, as written.
    #[serde(flatten)]
    pub sections: BTreeMap<String, toml::Table>,
}

/// A fee override: a flat fee, or a base plus a share of the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FeeSetting {
    /// A flat fee per call.
    Flat(i64),
    /// A base fee plus `basis_points` (1/100 %) of the amount.
    Rule {
        /// The base fee.
        base: i64,
        /// The share of the amount, in basis points.
        basis_points: i64,
    },
}

/// Settings of one service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSettings {
    /// Where it listens.
    pub listen: Option<SocketAddr>,
    /// Where other processes reach it (one-service-per-process deployments).
    pub url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".neosl"),
            mode: None,
            log: "info".into(),
            log_format: "text".into(),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
            services: BTreeMap::new(),
            database_url: None,
            chain_rpc: Vec::new(),
            network_magic: None,
            tls_dir: None,
            fees: BTreeMap::new(),
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            chain_work_lease_secs: 30,
            probe_listen: None,
            sections: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("mode", &self.mode)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("services", &self.services)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("chain_rpc", &self.chain_rpc)
            .field("network_magic", &self.network_magic)
            .field("tls_dir", &self.tls_dir)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("fees", &self.fees)
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `scheme://user:password@host/db` → `scheme://user:[REDACTED]@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:[REDACTED]@{host}"),
        None => url.to_owned(),
    }
}

/// Errors loading settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid settings.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An environment variable has an invalid value.
    #[error("{name}: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Defaults, then the TOML file (if any), then the environment; `services` are the names
    /// whose `NEOSL_<SERVICE>_LISTEN` and `NEOSL_<SERVICE>_URL` apply.
    pub fn load(
        file: Option<&Path>,
        env: &dyn SecretSource,
        services: &[&str],
    ) -> Result<Self, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.var("NEOSL_CONFIG").map(PathBuf::from));
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path,
                    message: e.to_string(),
                })?
            }
            None => Self::default(),
        };
        settings.apply_env(env, services)?;
        Ok(settings)
    }

    /// Applies `NEOSL_DATA_DIR`, `NEOSL_MODE`, `NEOSL_LOG`, `NEOSL_LOG_FORMAT`,
    /// `NEOSL_DATABASE_URL`, `NEOSL_TLS_DIR`, `NEOSL_CHAIN_RPC` (comma-separated),
    /// `NEOSL_NETWORK_MAGIC`, `NEOSL_CHAIN_WORK_LEASE_SECS`, `NEOSL_PROBE_LISTEN`,
    /// `NEOSL_ALLOWED_HOSTS` and
    /// `NEOSL_TRUSTED_PROXIES`
    /// (comma-separated), and for each of `services` `NEOSL_<SERVICE>_LISTEN` and
    /// `NEOSL_<SERVICE>_URL`. (A service's own variables are declared by the service and applied
    /// by the registry.)
    pub fn apply_env(
        &mut self,
        env: &dyn SecretSource,
        services: &[&str],
    ) -> Result<(), ConfigError> {
        let bad = |name: &str, message: String| ConfigError::Env {
            name: name.to_owned(),
            message,
        };
        if let Some(v) = env.var("NEOSL_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env.var("NEOSL_MODE") {
            self.mode = Some(match v.as_str() {
                "enclave" => RuntimeMode::Enclave,
                "simulation" => RuntimeMode::Simulation,
                other => {
                    return Err(bad(
                        "NEOSL_MODE",
                        format!("{other:?} is not enclave or simulation"),
                    ));
                }
            });
        }
        if let Some(v) = env.var("NEOSL_LOG") {
            self.log = v;
        }
        if let Some(v) = env.var("NEOSL_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = env.var("NEOSL_DATABASE_URL") {
            self.database_url = Some(v);
        }
        let number = |name: &str| -> Result<Option<u64>, ConfigError> {
            env.var(name)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|e| bad(name, format!("{v:?}: {e}")))
                })
                .transpose()
        };
        if let Some(v) = number("NEOSL_NETWORK_MAGIC")? {
            self.network_magic = Some(
                u32::try_from(v)
                    .map_err(|_| bad("NEOSL_NETWORK_MAGIC", "does not fit in 32 bits".into()))?,
            );
        }
        if let Some(v) = number("NEOSL_CHAIN_WORK_LEASE_SECS")? {
            self.chain_work_lease_secs = v.max(1);
        }
        if let Some(v) = env.var("NEOSL_PROBE_LISTEN") {
            self.probe_listen = Some(
                v.parse()
                    .map_err(|e| bad("NEOSL_PROBE_LISTEN", format!("{v:?}: {e}")))?,
            );
        }
        if let Some(v) = env.var("NEOSL_TLS_DIR") {
            self.tls_dir = Some(PathBuf::from(v));
        }
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(v) = env.var("NEOSL_CHAIN_RPC") {
            self.chain_rpc = list(v);
        }
        if let Some(v) = env.var("NEOSL_ALLOWED_HOSTS") {
            self.allowed_hosts = list(v);
        }
        if let Some(v) = env.var("NEOSL_TRUSTED_PROXIES") {
            self.trusted_proxies = list(v)
                .iter()
                .map(|ip| {
                    ip.parse()
                        .map_err(|e| bad("NEOSL_TRUSTED_PROXIES", format!("{ip:?}: {e}")))
                })
                .collect::<Result<_, _>>()?;
        }
        for name in services {
            let var = format!("NEOSL_{}_LISTEN", name.to_ascii_uppercase());
            if let Some(v) = env.var(&var) {
                let addr = v.parse().map_err(|e| bad(&var, format!("{v:?}: {e}")))?;
                self.services.entry((*name).to_owned()).or_default().listen = Some(addr);
            }
            let var = format!("NEOSL_{}_URL", name.to_ascii_uppercase());
            if let Some(v) = env.var(&var) {
                self.services.entry((*name).to_owned()).or_default().url = Some(v);
            }
        }
        Ok(())
    }

    /// The database URL: the configured one, else SQLite in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("neosl.db").display()))
    }

    /// Sets `key` of `service`'s section from the environment variable `var` (a service's
    /// declared variable): integers and booleans as such, anything else as text.
    pub fn set_from_env(&mut self, service: &str, key: &str, value: &str) {
        let value = if let Ok(n) = value.parse::<i64>() {
            toml::Value::Integer(n)
        } else if let Ok(b) = value.parse::<bool>() {
            toml::Value::Boolean(b)
        } else if let Ok(f) = value.parse::<f64>() {
            toml::Value::Float(f)
        } else {
            toml::Value::String(value.to_owned())
        };
        self.sections
            .entry(service.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
    }

    /// `service`'s section read as `T` (its defaults where absent); unknown keys are refused
    /// when `T` denies them, with the section named in the message.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        service: &str,
    ) -> Result<T, String> {
        match self.sections.get(service) {
            None => Ok(T::default()),
            Some(table) => T::deserialize(toml::Value::Table(table.clone()))
                .map_err(|e| format!("[{service}]: {}", e.message())),
        }
    }

    /// The listen address of `service`, or its default.
    pub fn listen_of(&self, service: &str, default: SocketAddr) -> SocketAddr {
        self.services
            .get(service)
            .and_then(|s| s.listen)
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = neosl_testkit::TempDir::new("neosl-config").expect("temp dir");
        let file = dir.path().join("neosl.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from/file\"\nlog = \"debug\"\n[services.gateway]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .expect("write");
        let env: HashMap<String, String> = [
            ("NEOSL_LOG".to_owned(), "warn".to_owned()),
            ("NEOSL_VRF_LISTEN".to_owned(), "127.0.0.1:9100".to_owned()),
        ]
        .into_iter()
        .collect();
        let s = Settings::load(Some(&file), &env, &["gateway", "vrf"]).expect("loads");
        assert_eq!(s.data_dir, PathBuf::from("/from/file"), "file over default");
        assert_eq!(s.log, "warn", "environment over file");
        assert_eq!(
            s.listen_of("gateway", "127.0.0.1:1".parse().expect("addr"))
                .port(),
            9000
        );
        assert_eq!(
            s.listen_of("vrf", "127.0.0.1:1".parse().expect("addr"))
                .port(),
            9100
        );
        assert_eq!(s.request_timeout_secs, 30, "defaults remain");
    }

    #[test]
    fn bad_input_is_reported_and_urls_are_redacted() {
        let dir = neosl_testkit::TempDir::new("neosl-config").expect("temp dir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "no_such_setting = 1\n").expect("write");
        assert!(matches!(
            Settings::load(Some(&file), &HashMap::new(), &[]),
            Err(ConfigError::Parse { .. })
        ));
        let env: HashMap<String, String> = [("NEOSL_MODE".to_owned(), "cloud".to_owned())]
            .into_iter()
            .collect();
        assert!(matches!(
            Settings::load(None, &env, &[]),
            Err(ConfigError::Env { .. })
        ));
        let s = Settings {
            database_url: Some("postgres://app:hunter2@db:5432/neosl".into()),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(
            !text.contains("hunter2") && text.contains("[REDACTED]"),
            "{text}"
        );
    }
}
