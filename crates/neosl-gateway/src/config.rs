//! The gateway's settings: the `[gateway]` section, read into a [`GatewayConfig`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::limit::{Rate, RateLimits};

/// The `[gateway]` settings section. Names are checked when the settings load.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// Rate limits by class (`auth`, `auth_client`, `api`, `money`, `public`) or by route as
    /// registered (`"/vrf/random"`); route limits apply on top of the class limits, per user on
    /// routes that need sign-in and per client address on routes open to anyone (logins are
    /// limited per identity by `auth`).
    pub rate_limits: BTreeMap<String, Rate>,
    /// Password hashes computed at once (each Argon2id hash holds 19 MiB); default: the cores.
    pub password_hash_concurrency: Option<usize>,
    /// Password checks allowed to wait for a slot; beyond that `503 auth_busy`. Default 32.
    pub password_hash_queue: Option<usize>,
    /// Live API keys a user may hold. Default 25.
    pub max_api_keys: Option<u32>,
    /// A paid call's reservation not settled after this long is released (its process died
    /// mid-call). Default 600; at least twice the request time limit.
    pub reservation_ttl_secs: Option<u64>,
    /// Below this much GAS (10⁻⁸) in the treasury, a warning in the log and in `/ready`.
    /// Default 50 GAS.
    pub treasury_low_gas: Option<i64>,
    /// Where rate-limit buckets live: `memory` (default: this process, so N replicas allow N
    /// times the limits), `database` (the platform database, shared by every replica) or
    /// `redis://host:port` (shared, kept out of the database).
    pub rate_limit_store: Option<String>,
}

/// Gateway behaviour.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Session (refresh token) lifetime.
    pub session_ttl: Duration,
    /// Rate limits.
    pub limits: RateLimits,
    /// Password hashes at once (default: the cores).
    pub password_hash_concurrency: usize,
    /// Password checks allowed to wait (default 32); beyond, `503 auth_busy`.
    pub password_hash_queue: usize,
    /// Live API keys per user (default 25).
    pub max_api_keys: u32,
    /// How long a paid call's reservation holds (default 600 s).
    pub reservation_ttl: Duration,
    /// Below this much GAS (10⁻⁸) in the treasury, a warning.
    pub treasury_low_gas: i64,
    /// Where rate-limit buckets live (see [`GatewaySettings::rate_limit_store`]).
    pub rate_limit_store: RateLimitStore,
}

/// Where rate-limit buckets live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitStore {
    /// This process.
    Memory,
    /// The platform database.
    Database,
    /// Redis at this URL.
    Redis(String),
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            limits: RateLimits::default(),
            password_hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            password_hash_queue: 32,
            max_api_keys: 25,
            reservation_ttl: neosl_gasbank::DEFAULT_RESERVATION_TTL,
            treasury_low_gas: 50 * 100_000_000,
            rate_limit_store: RateLimitStore::Memory,
        }
    }
}

impl GatewayConfig {
    /// The defaults with the overrides of `settings`; unknown names and impossible values are
    /// refused so a typo in the file cannot silently leave a default in place.
    pub fn from_settings(settings: &GatewaySettings) -> Result<Self, String> {
        let mut config = Self::default();
        for (name, rate) in &settings.rate_limits {
            if !(rate.per_second.is_finite() && rate.per_second > 0.0) || rate.burst == 0 {
                return Err(format!(
                    "gateway.rate_limits.{name}: per_second must be > 0 and burst >= 1"
                ));
            }
            match name.as_str() {
                "auth" => config.limits.auth = *rate,
                "auth_client" => config.limits.auth_client = *rate,
                "api" => config.limits.api = *rate,
                "money" => config.limits.money = *rate,
                "public" => config.limits.public = *rate,
                route if route.starts_with('/') => {
                    config.limits.routes.insert(route.to_owned(), *rate);
                }
                other => {
                    return Err(format!(
                        "gateway.rate_limits: unknown class {other:?} (auth, auth_client, api, money, public, or a route such as \"/vrf/random\")"
                    ));
                }
            }
        }
        if let Some(n) = settings.password_hash_concurrency {
            if n == 0 {
                return Err("gateway.password_hash_concurrency: at least 1".into());
            }
            config.password_hash_concurrency = n;
        }
        if let Some(n) = settings.password_hash_queue {
            config.password_hash_queue = n;
        }
        if let Some(n) = settings.max_api_keys {
            config.max_api_keys = n;
        }
        if let Some(secs) = settings.reservation_ttl_secs {
            config.reservation_ttl = Duration::from_secs(secs);
        }
        if let Some(gas) = settings.treasury_low_gas {
            if gas < 0 {
                return Err("gateway.treasury_low_gas: not negative".into());
            }
            config.treasury_low_gas = gas;
        }
        if let Some(store) = &settings.rate_limit_store {
            config.rate_limit_store = match store.as_str() {
                "memory" => RateLimitStore::Memory,
                "database" => RateLimitStore::Database,
                url if url.starts_with("redis://") => RateLimitStore::Redis(url.to_owned()),
                other => {
                    return Err(format!(
                        "gateway.rate_limit_store: {other:?} is not memory, database or redis://host:port"
                    ));
                }
            };
        }
        Ok(config)
    }

    /// The `[gateway]` section of `settings`, checked (also against the request time limit:
    /// a reservation must outlive any call it pays for).
    pub fn of(settings: &neosl_runtime::config::Settings) -> Result<Self, String> {
        let section: GatewaySettings = settings.section("gateway")?;
        let config = Self::from_settings(&section)?;
        if config.reservation_ttl.as_secs() < 2 * settings.request_timeout_secs {
            return Err(format!(
                "gateway.reservation_ttl_secs ({}) must be at least twice request_timeout_secs ({})",
                config.reservation_ttl.as_secs(),
                settings.request_timeout_secs
            ));
        }
        Ok(config)
    }
}
