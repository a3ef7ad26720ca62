//! `[confidential]` settings.

use serde::Deserialize;

use crate::runtime::Limits;

/// The Confidential service's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfidentialSettings {
    /// The limits of a job that names none.
    pub default_limits: Limits,
    /// The most a job may ask for.
    pub max_limits: Limits,
    /// The longest wall clock of a job answered in the request (ms); longer ones run
    /// asynchronously.
    pub max_sync_wall_ms: u64,
    /// The limits of a contract's job (charged at the `confidential_onchain` fee).
    pub onchain_limits: Limits,
    /// Jobs running at once on this replica (each on its own thread).
    pub concurrency: usize,
    /// Jobs queued before new ones are refused with `confidential_busy`.
    pub max_queued: i64,
    /// GAS (10^-8) per million fuel units, on top of the `confidential` fee.
    pub fuel_price_per_million: i64,
    /// The largest code (bytes).
    pub max_code_bytes: usize,
    /// The largest input (bytes).
    pub max_input_bytes: usize,
    /// How often the worker looks for queued jobs (ms).
    pub tick_ms: u64,
}

impl Default for ConfidentialSettings {
    fn default() -> Self {
        Self {
            default_limits: Limits {
                fuel: 50_000_000,
                memory_bytes: 16 << 20,
                wall_ms: 2_000,
                output_bytes: 64 << 10,
            },
            max_limits: Limits {
                fuel: 2_000_000_000,
                memory_bytes: 64 << 20,
                wall_ms: 30_000,
                output_bytes: 1 << 20,
            },
            max_sync_wall_ms: 10_000,
            onchain_limits: Limits {
                fuel: 50_000_000,
                memory_bytes: 16 << 20,
                wall_ms: 2_000,
                output_bytes: 2_048,
            },
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            max_queued: 1_000,
            fuel_price_per_million: 1_000,
            max_code_bytes: 1 << 20,
            max_input_bytes: 64 << 10,
            tick_ms: 200,
        }
    }
}

impl ConfidentialSettings {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        let within = |l: &Limits| {
            l.fuel <= self.max_limits.fuel
                && l.memory_bytes <= self.max_limits.memory_bytes
                && l.wall_ms <= self.max_limits.wall_ms
                && l.output_bytes <= self.max_limits.output_bytes
        };
        if !within(&self.default_limits) || !within(&self.onchain_limits) {
            return Err(
                "confidential: default_limits and onchain_limits must be within max_limits".into(),
            );
        }
        if self.concurrency == 0 || self.fuel_price_per_million < 0 || self.max_queued < 1 {
            return Err("confidential: concurrency and max_queued are at least 1, fuel_price_per_million at least 0".into());
        }
        if self.onchain_limits.output_bytes > 3_000 {
            return Err("confidential: onchain_limits.output_bytes is at most 3000 (a fulfilment's result must fit a transaction)".into());
        }
        Ok(())
    }

    /// The fuel part of a job's fee.
    pub fn fuel_fee(&self, fuel: u64) -> i64 {
        i64::try_from(fuel.div_ceil(1_000_000))
            .unwrap_or(i64::MAX)
            .saturating_mul(self.fuel_price_per_million)
    }
}
