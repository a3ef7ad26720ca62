//! Token-bucket rate limiting per key (a user, a client address, a login identity) and class.
//!
//! The limiter's memory is bounded whatever callers send: buckets live in shards, each with a
//! fixed capacity. A bucket that has refilled completely is the same as no bucket, so it is
//! dropped first ("idle"); when a shard is full of active buckets, the ones closest to full
//! are dropped. Each shard has its own lock, so one hot key never serialises the others.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// A rate: sustained requests per second and a burst.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Failed sign-ins per identity (e-mail or Neo address) *and* client address: a stranger's
    /// wrong passwords never block the owner signing in from elsewhere.
    pub auth: Rate,
    /// Every authentication request (register, login, refresh, wallet nonce and login) per
    /// client address.
    pub auth_client: Rate,
    /// Authenticated API calls, per user (across all of the user's API keys and sessions).
    pub api: Rate,
    /// Calls that move money (sponsorships, withdrawals), per user.
    pub money: Rate,
    /// Calls to routes open to anyone (the Mixer's, public keys, verification), per client
    /// address.
    pub public: Rate,
    /// Per-route limits on top of the class limits, keyed by the route as registered
    /// (`/vrf/random`, `/api/v1/api-keys/{id}`), per user (per client address on routes open
    /// to anyone).
    pub routes: HashMap<String, Rate>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            auth: Rate {
                per_second: 5.0 / 60.0,
                burst: 5,
            },
            auth_client: Rate {
                per_second: 1.0,
                burst: 30,
            },
            api: Rate {
                per_second: 50.0,
                burst: 100,
            },
            money: Rate {
                per_second: 2.0,
                burst: 10,
            },
            public: Rate {
                per_second: 20.0,
                burst: 100,
            },
            routes: HashMap::new(),
        }
    }
}

/// Unix milliseconds, from the gateway's clock.
type Millis = i64;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Millis,
    /// When the bucket will have refilled completely (from then on it is the same as none).
    full_at: Millis,
}

const SHARDS: usize = 32;

/// The limiter (per gateway process; each replica limits its own share).
#[derive(Debug)]
pub struct Limiter {
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::with_capacity(200_000)
    }
}

impl Limiter {
    /// A limiter holding at most about `capacity` buckets.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(8),
            hasher: Default::default(),
        }
    }

    /// How many buckets are held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Bucket>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Takes one token for `key` at `rate` at the time `now` (Unix ms, from the gateway's
    /// clock); `Err(retry_after)` when none is left.
    pub fn check_at(&self, key: &str, rate: Rate, now: Millis) -> Result<(), Duration> {
        self.take(key, rate, now, true)
    }

    /// Whether `key` has a token left at `rate`, without taking it (for limits charged only
    /// on failure).
    pub fn peek_at(&self, key: &str, rate: Rate, now: Millis) -> Result<(), Duration> {
        self.take(key, rate, now, false)
    }

    fn take(&self, key: &str, rate: Rate, now: Millis, consume: bool) -> Result<(), Duration> {
        let per_second = rate.per_second.max(f64::MIN_POSITIVE);
        let burst = rate.burst as f64;
        let Ok(mut shard) = self.shard(key).lock() else {
            return Ok(());
        };
        let current = match shard.get(key) {
            Some(b) => {
                let elapsed = now.saturating_sub(b.updated).max(0) as f64 / 1000.0;
                (b.tokens + elapsed * per_second).min(burst)
            }
            None => burst,
        };
        if current < 1.0 {
            let wait = (1.0 - current) / per_second;
            return Err(Duration::from_secs_f64(wait.min(86_400.0)));
        }
        if !consume {
            return Ok(());
        }
        let tokens = current - 1.0;
        let refill = ((burst - tokens) / per_second * 1000.0).min(86_400_000.0 * 365.0) as Millis;
        if !shard.contains_key(key) && shard.len() >= self.per_shard {
            evict(&mut shard, now, self.per_shard);
        }
        shard.insert(
            key.to_owned(),
            Bucket {
                tokens,
                updated: now,
                full_at: now.saturating_add(refill),
            },
        );
        Ok(())
    }
}

/// Frees room in a full shard: first every bucket that has refilled completely (dropping it
/// changes nothing), then, if still full, the eighth of the buckets closest to full.
fn evict(shard: &mut HashMap<String, Bucket>, now: Millis, capacity: usize) {
    shard.retain(|_, b| b.full_at > now);
    if shard.len() < capacity {
        return;
    }
    let mut by_full: Vec<(Millis, String)> =
        shard.iter().map(|(k, b)| (b.full_at, k.clone())).collect();
    let drop = (capacity / 8).max(1);
    by_full.select_nth_unstable(drop - 1);
    for (_, key) in by_full.into_iter().take(drop) {
        shard.remove(&key);
    }
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 network (one subscriber usually
/// holds a whole /64, so single addresses would give an attacker 2^64 buckets).
pub fn client_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "in-process".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 10.0,
        burst: 3,
    };

    #[test]
    fn buckets_empty_and_refill_as_time_moves() {
        let limiter = Limiter::default();
        let t0: Millis = 1_700_000_000_000;
        for _ in 0..3 {
            assert!(limiter.check_at("k", RATE, t0).is_ok());
        }
        let wait = limiter.check_at("k", RATE, t0).expect_err("empty");
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(
            limiter.check_at("other", RATE, t0).is_ok(),
            "keys are independent"
        );
        let later = t0 + 120;
        assert!(limiter.check_at("k", RATE, later).is_ok(), "refilled");
        assert!(
            limiter.check_at("k", RATE, later).is_err(),
            "one token only"
        );
    }

    #[test]
    fn peeking_takes_nothing() {
        let limiter = Limiter::default();
        let t0: Millis = 1_700_000_000_000;
        for _ in 0..10 {
            assert!(limiter.peek_at("k", RATE, t0).is_ok());
        }
        assert!(limiter.is_empty());
        for _ in 0..3 {
            limiter.check_at("k", RATE, t0).expect("token");
        }
        assert!(limiter.peek_at("k", RATE, t0).is_err());
    }

    #[test]
    fn a_flood_of_new_keys_keeps_memory_bounded_and_active_limits_hold() {
        let limiter = Limiter::with_capacity(10_000);
        let t0: Millis = 1_700_000_000_000;
        // A victim's bucket is emptied, then a flood of a million fresh keys arrives.
        for _ in 0..3 {
            limiter.check_at("victim", RATE, t0).expect("token");
        }
        let slow = Rate {
            per_second: 0.001,
            burst: 3,
        };
        for _ in 0..3 {
            limiter.check_at("slow-victim", slow, t0).expect("token");
        }
        for i in 0..1_000_000u32 {
            let now = t0 + i64::from(i) / 1000;
            limiter
                .check_at(&format!("flood-{i}"), RATE, now)
                .expect("a new key has a full bucket");
            if i % 100_000 == 0 {
                assert!(limiter.len() <= 10_000 + SHARDS * 8, "{}", limiter.len());
            }
        }
        assert!(limiter.len() <= 10_000 + SHARDS * 8, "{}", limiter.len());
        // Idle buckets went first, and a bucket dropped was one that had refilled anyway, or
        // among the closest to full; the one far from full is still limited.
        let after = t0 + 1000;
        assert!(limiter.check_at("slow-victim", slow, after).is_err());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(Some(a)), client_key(Some(b)));
        assert_ne!(client_key(Some(a)), client_key(Some(c)));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("ip");
        assert_eq!(client_key(Some(mapped)), "10.1.2.3");
    }
}
