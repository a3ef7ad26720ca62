//! The fee schedule: what each paid service costs, in 10⁻⁸ GAS.

use serde::{Deserialize, Serialize};

/// A paid service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Verifiable randomness.
    Vrf,
    /// Automation triggers.
    Automation,
    /// Price feeds.
    Datafeeds,
    /// Mixing (a base fee plus a share of the amount).
    Mixer,
    /// Confidential compute.
    Confidential,
}

/// Fees per service. Defaults (seed 004 §3.4): VRF 0.001 GAS, Automation 0.0005, DataFeeds
/// 0.0001, Mixer 0.05 + 0.5 % of the amount, Confidential 0.001.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeeSchedule {
    /// VRF, per request.
    pub vrf: i64,
    /// Automation, per execution.
    pub automation: i64,
    /// DataFeeds, per request.
    pub datafeeds: i64,
    /// Mixer, base per request.
    pub mixer_base: i64,
    /// Mixer, share of the amount in basis points (1/100 %).
    pub mixer_basis_points: i64,
    /// Confidential compute, per request.
    pub confidential: i64,
}

impl Default for FeeSchedule {
    fn default() -> Self {
        Self {
            vrf: 100_000,
            automation: 50_000,
            datafeeds: 10_000,
            mixer_base: 5_000_000,
            mixer_basis_points: 50,
            confidential: 100_000,
        }
    }
}

impl FeeSchedule {
    /// The fee of one request (`amount` matters only for the mixer). `None` when the result
    /// would overflow.
    pub fn fee(&self, service: Service, amount: i64) -> Option<i64> {
        match service {
            Service::Vrf => Some(self.vrf),
            Service::Automation => Some(self.automation),
            Service::Datafeeds => Some(self.datafeeds),
            Service::Confidential => Some(self.confidential),
            Service::Mixer => {
                // Round the share up: the platform never undercharges by truncation.
                let share =
                    (amount.max(0) as i128 * self.mixer_basis_points as i128 + 9_999) / 10_000;
                i64::try_from(self.mixer_base as i128 + share).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_published_schedule() {
        let f = FeeSchedule::default();
        assert_eq!(f.fee(Service::Vrf, 0), Some(100_000)); // 0.001 GAS
        assert_eq!(f.fee(Service::Automation, 0), Some(50_000)); // 0.0005 GAS
        assert_eq!(f.fee(Service::Datafeeds, 0), Some(10_000)); // 0.0001 GAS
        assert_eq!(f.fee(Service::Confidential, 0), Some(100_000));
        // Mixer: 0.05 GAS + 0.5 % of 10 GAS = 0.05 + 0.05 GAS.
        assert_eq!(f.fee(Service::Mixer, 1_000_000_000), Some(10_000_000));
        assert_eq!(f.fee(Service::Mixer, 1), Some(5_000_001), "rounded up");
        assert!(
            f.fee(Service::Mixer, i64::MAX)
                .is_some_and(|fee| fee > i64::MAX / 200)
        );
        let all = FeeSchedule {
            mixer_basis_points: 10_000,
            ..FeeSchedule::default()
        };
        assert_eq!(
            all.fee(Service::Mixer, i64::MAX),
            None,
            "overflow is refused, not wrapped"
        );
    }
}
