//! The `[automation]` settings.

use serde::Deserialize;

/// The `[automation]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationSettings {
    /// How often the evaluators and the executor run, milliseconds.
    pub tick_ms: u64,
    /// Triggers per owner at most.
    pub max_triggers_per_owner: usize,
    /// Executions per owner per hour at most; beyond, firings are skipped `rate_limited`.
    pub max_executions_per_hour: i64,
    /// The largest `gas_limit` a trigger may ask for (10⁻⁸ GAS).
    pub max_gas_limit: i64,
    /// A firing older than this when it is recorded was missed (downtime): its trigger's
    /// catch-up rule decides, milliseconds.
    pub catch_up_grace_ms: i64,
    /// Firings claimed per round.
    pub batch: i64,
    /// How long a claim on a firing holds, milliseconds.
    pub claim_lease_ms: u64,
    /// Below this GAS (10⁻⁸) the sending account is topped up from the treasury.
    pub min_account_gas: i64,
    /// By this much.
    pub top_up_gas: i64,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        Self {
            tick_ms: 500,
            max_triggers_per_owner: 100,
            max_executions_per_hour: 3600,
            max_gas_limit: 10 * 100_000_000,
            catch_up_grace_ms: 60_000,
            batch: 100,
            claim_lease_ms: 30_000,
            min_account_gas: 5 * 100_000_000,
            top_up_gas: 20 * 100_000_000,
        }
    }
}
