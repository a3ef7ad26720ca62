//! Token-bucket rate limiting per principal (user, API key, or login identity) and route class.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: sustained requests per second and a burst.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: u32,
}

/// Rates per route class.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// Login and registration attempts, per identity (e-mail or address).
    pub auth: Rate,
    /// Authenticated API calls, per user or API key.
    pub api: Rate,
    /// Calls that move money (sponsorships, withdrawals), per user or API key.
    pub money: Rate,
    /// Per-route limits on top of the class limits, keyed by the route as registered
    /// (`/vrf/random`, `/api/v1/api-keys/{id}`), per user or API key.
    pub routes: HashMap<String, Rate>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            auth: Rate {
                per_second: 5.0 / 60.0,
                burst: 5,
            },
            api: Rate {
                per_second: 50.0,
                burst: 100,
            },
            money: Rate {
                per_second: 2.0,
                burst: 10,
            },
            routes: HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The limiter (per gateway process; each replica limits its own share).
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// Takes one token for `key` at `rate`; `Err(retry_after)` when none is left.
    pub fn check(&self, key: &str, rate: Rate) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.updated) < Duration::from_secs(3600));
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: rate.burst as f64,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst as f64);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(86_400.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_empty_and_refill() {
        let limiter = Limiter::default();
        let rate = Rate {
            per_second: 10.0,
            burst: 3,
        };
        for _ in 0..3 {
            assert!(limiter.check("k", rate).is_ok());
        }
        let wait = limiter.check("k", rate).expect_err("empty");
        assert!(wait <= Duration::from_millis(100));
        assert!(limiter.check("other", rate).is_ok(), "keys are independent");
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.check("k", rate).is_ok(), "refilled");
    }
}
