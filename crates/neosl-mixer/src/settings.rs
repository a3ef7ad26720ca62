//! The `[mixer]` settings.

use serde::Deserialize;

/// One GAS in its smallest unit.
pub const GAS: i64 = 100_000_000;

/// The mix windows a request may choose (seed 004 §4.2.7): 30 minutes, 1 hour, 24 hours, 7 days.
pub const MIX_OPTIONS_MS: [i64; 4] = [1_800_000, 3_600_000, 86_400_000, 604_800_000];

/// The `[mixer]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MixerSettings {
    /// How often the Mixer looks at its work, milliseconds.
    pub tick_ms: u64,
    /// The most one request may deposit (10⁻⁸ GAS; seed: 10,000).
    pub max_request: i64,
    /// The most all open requests together may put in the pool (10⁻⁸ GAS; seed: 100,000).
    pub max_pool: i64,
    /// After the mix window, how long before a dispute is possible, and after a dispute how
    /// long the Mixer has to prove before a claim (milliseconds; seed: 7 days).
    pub grace_ms: i64,
    /// How long after the request its deposits may arrive (milliseconds).
    pub deposit_window_ms: i64,
    /// How long deposit accounts stay held after a request ends, so that a late deposit can
    /// still be sent back (milliseconds).
    pub account_hold_ms: i64,
    /// Divides every window above and the mix options, for tests on a development chain only
    /// (refused above 1 in enclave mode).
    pub window_divisor: i64,
    /// What each GAS transfer of a mix may cost the account that sends it (10⁻⁸ GAS): its
    /// share of the system fee (with the submitter's margin) and of the network fee. The chain
    /// cost a request pays is this times the transfers its mix may need.
    pub transfer_allowance: i64,
    /// Targets per request at most.
    pub max_targets: usize,
    /// Requests waiting for their deposits at most (each holds pool accounts).
    pub max_pending_requests: i64,
    /// How far a request's timestamp may be from the Mixer's clock, seconds.
    pub timestamp_skew_secs: i64,
    /// Below this GAS (10⁻⁸) the account that sends completion proofs is topped up.
    pub min_sender_gas: i64,
    /// By this much.
    pub top_up_gas: i64,
}

impl Default for MixerSettings {
    fn default() -> Self {
        Self {
            tick_ms: 500,
            max_request: 10_000 * GAS,
            max_pool: 100_000 * GAS,
            grace_ms: 7 * 86_400_000,
            deposit_window_ms: 3_600_000,
            account_hold_ms: 86_400_000,
            window_divisor: 1,
            transfer_allowance: 13_000_000,
            max_targets: 16,
            max_pending_requests: 1000,
            timestamp_skew_secs: 600,
            min_sender_gas: 2 * GAS,
            top_up_gas: 10 * GAS,
        }
    }
}

impl MixerSettings {
    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<(), String> {
        if self.max_request <= 0 || self.max_pool < self.max_request {
            return Err("mixer: 0 < max_request <= max_pool".into());
        }
        if self.window_divisor < 1 {
            return Err("mixer.window_divisor is at least 1".into());
        }
        if self.transfer_allowance <= 0 || self.grace_ms <= 0 || self.deposit_window_ms <= 0 {
            return Err("mixer: allowance, grace and deposit window are positive".into());
        }
        if self.max_targets == 0 || self.max_targets > 64 {
            return Err("mixer.max_targets is 1 to 64".into());
        }
        Ok(())
    }

    /// A duration as this deployment runs it (divided for tests).
    pub fn scaled(&self, ms: i64) -> i64 {
        (ms / self.window_divisor.max(1)).max(1)
    }
}
