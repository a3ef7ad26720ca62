//! Where the rate-limit buckets live: in this process (the default: one replica), in the
//! platform database, or in Redis, so that limits hold in total across every replica.
//!
//! A shared bucket is one token bucket updated atomically by whichever replica serves the call:
//! in the database by one conditional upsert (the row lock orders concurrent callers), in
//! Redis by one Lua script. When the shared store cannot be reached the replica falls back to
//! its own in-process buckets (each replica then limits its own share, as with the default) and
//! says so in the log: a store outage degrades the limits, it does not take the gateway down.

use std::time::Duration;

use neosl_runtime::db::Database;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::limit::{Limiter, Rate};

/// The rate-limit store.
#[derive(Debug)]
pub struct Buckets {
    local: Limiter,
    shared: Option<Shared>,
}

#[derive(Debug)]
enum Shared {
    Database(Database),
    Redis(Redis),
}

impl Default for Buckets {
    fn default() -> Self {
        Self::memory()
    }
}

fn wait(current: f64, per_second: f64) -> Duration {
    Duration::from_secs_f64(((1.0 - current) / per_second).clamp(0.001, 86_400.0))
}

impl Buckets {
    /// Buckets in this process only.
    pub fn memory() -> Self {
        Self {
            local: Limiter::default(),
            shared: None,
        }
    }

    /// Buckets in the platform database (`gateway_rate_buckets`, migrated with the gateway's
    /// store).
    pub fn database(db: Database) -> Self {
        Self {
            local: Limiter::default(),
            shared: Some(Shared::Database(db)),
        }
    }

    /// Buckets in Redis at `url` (`redis://host:port`).
    pub fn redis(url: &str) -> Result<Self, String> {
        Ok(Self {
            local: Limiter::default(),
            shared: Some(Shared::Redis(Redis::new(url)?)),
        })
    }

    /// Where the buckets are, for `/info` and the log.
    pub fn kind(&self) -> &'static str {
        match self.shared {
            None => "memory",
            Some(Shared::Database(_)) => "database",
            Some(Shared::Redis(_)) => "redis",
        }
    }

    /// Takes one token for `key` at `rate` at the time `now` (Unix ms); `Err(retry_after)` when
    /// none is left.
    pub async fn check_at(&self, key: &str, rate: Rate, now: i64) -> Result<(), Duration> {
        self.take(key, rate, now, true).await
    }

    /// Whether `key` has a token left, without taking it.
    pub async fn peek_at(&self, key: &str, rate: Rate, now: i64) -> Result<(), Duration> {
        self.take(key, rate, now, false).await
    }

    async fn take(&self, key: &str, rate: Rate, now: i64, consume: bool) -> Result<(), Duration> {
        let answer = match &self.shared {
            None => None,
            Some(Shared::Database(db)) => Some(
                database_take(db, key, rate, now, consume)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Some(Shared::Redis(redis)) => Some(redis.take(key, rate, now, consume).await),
        };
        match answer {
            None => {
                if consume {
                    self.local.check_at(key, rate, now)
                } else {
                    self.local.peek_at(key, rate, now)
                }
            }
            Some(Ok(result)) => result,
            Some(Err(e)) => {
                tracing::warn!(store = self.kind(), error = %e, "the shared rate-limit store cannot be reached: limiting in this replica only");
                if consume {
                    self.local.check_at(key, rate, now)
                } else {
                    self.local.peek_at(key, rate, now)
                }
            }
        }
    }
}

/// The tokens the bucket holds at `now` (refilled, at most `burst`), as SQL over its columns.
const CURRENT: &str = "(CASE WHEN gateway_rate_buckets.tokens + (CASE WHEN $3 > gateway_rate_buckets.updated \
     THEN $3 - gateway_rate_buckets.updated ELSE 0 END) * $4 > $2 THEN $2 ELSE gateway_rate_buckets.tokens + \
     (CASE WHEN $3 > gateway_rate_buckets.updated THEN $3 - gateway_rate_buckets.updated ELSE 0 END) * $4 END)";

async fn database_take(
    db: &Database,
    key: &str,
    rate: Rate,
    now: i64,
    consume: bool,
) -> Result<Result<(), Duration>, sqlx::Error> {
    let per_second = rate.per_second.max(f64::MIN_POSITIVE);
    let per_ms = per_second / 1000.0;
    let burst = f64::from(rate.burst);
    if consume {
        let taken = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO gateway_rate_buckets (key, tokens, updated) VALUES ($1, $2 - 1.0, $3) \
             ON CONFLICT (key) DO UPDATE SET tokens = {CURRENT} - 1.0, \
             updated = CASE WHEN $3 > gateway_rate_buckets.updated THEN $3 ELSE gateway_rate_buckets.updated END \
             WHERE {CURRENT} >= 1.0"
        )))
        .bind(key)
        .bind(burst)
        .bind(now)
        .bind(per_ms)
        .execute(db.pool())
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(Ok(()));
        }
    }
    let current: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {CURRENT} FROM gateway_rate_buckets WHERE key = $1"
    )))
    .bind(key)
    .bind(burst)
    .bind(now)
    .bind(per_ms)
    .fetch_optional(db.pool())
    .await?;
    let current = current.unwrap_or(burst);
    Ok(if current >= 1.0 {
        Ok(())
    } else {
        Err(wait(current, per_second))
    })
}

/// Deletes buckets that have refilled completely by `now` for any rate that refills within
/// `max_refill_ms` (dropping them changes nothing), so the table stays as small as the set of
/// recently limited callers.
pub async fn sweep(db: &Database, now: i64, max_refill_ms: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM gateway_rate_buckets WHERE updated < $1")
            .bind(now - max_refill_ms)
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}

/// The bucket as one Lua script: refill, then take (or only look); answers 0 when a token was
/// there, else the milliseconds until one will be. The key expires once it would be full.
const REDIS_TAKE: &str = "local b = redis.call('HMGET', KEYS[1], 't', 'u') \
local burst = tonumber(ARGV[1]) local rate = tonumber(ARGV[2]) local now = tonumber(ARGV[3]) \
local t = tonumber(b[1]) or burst local u = tonumber(b[2]) or now \
if now > u then t = math.min(burst, t + (now - u) * rate) u = now end \
if t >= 1 then \
  if ARGV[4] == '1' then t = t - 1 redis.call('HSET', KEYS[1], 't', tostring(t), 'u', tostring(u)) \
    redis.call('PEXPIRE', KEYS[1], math.ceil((burst - t) / rate) + 1000) end \
  return 0 \
end \
return math.ceil((1 - t) / rate)";

/// A minimal Redis client: one connection, RESP requests, integer and error replies.
#[derive(Debug)]
struct Redis {
    addr: String,
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

impl Redis {
    fn new(url: &str) -> Result<Self, String> {
        let addr = url
            .strip_prefix("redis://")
            .ok_or_else(|| format!("{url:?} is not redis://host:port"))?
            .trim_end_matches('/');
        if addr.is_empty() || addr.contains('@') {
            return Err("redis://host:port (no credentials in the URL)".into());
        }
        Ok(Self {
            addr: addr.to_owned(),
            conn: Mutex::new(None),
        })
    }

    async fn take(
        &self,
        key: &str,
        rate: Rate,
        now: i64,
        consume: bool,
    ) -> Result<Result<(), Duration>, String> {
        let per_second = rate.per_second.max(f64::MIN_POSITIVE);
        let args = [
            "EVAL".to_owned(),
            REDIS_TAKE.to_owned(),
            "1".to_owned(),
            format!("neosl:rate:{key}"),
            rate.burst.to_string(),
            format!("{}", per_second / 1000.0),
            now.to_string(),
            if consume { "1" } else { "0" }.to_owned(),
        ];
        let wait_ms = self.command(&args).await?;
        Ok(if wait_ms <= 0 {
            Ok(())
        } else {
            Err(Duration::from_millis(wait_ms.unsigned_abs()))
        })
    }

    async fn command(&self, args: &[String]) -> Result<i64, String> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let stream =
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&self.addr))
                    .await
                    .map_err(|_| "connecting to Redis timed out".to_owned())?
                    .map_err(|e| format!("connecting to Redis: {e}"))?;
            stream.set_nodelay(true).ok();
            *slot = Some(BufReader::new(stream));
        }
        let conn = slot.as_mut().ok_or("no connection")?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            request.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            request.extend_from_slice(a.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        let exchange = async {
            conn.get_mut()
                .write_all(&request)
                .await
                .map_err(|e| e.to_string())?;
            let mut line = String::new();
            conn.read_line(&mut line).await.map_err(|e| e.to_string())?;
            let line = line.trim_end();
            match line.split_at_checked(1) {
                Some((":", n)) => n.parse::<i64>().map_err(|e| e.to_string()),
                Some(("-", e)) => Err(format!("Redis: {e}")),
                _ => Err(format!("unexpected Redis reply {line:?}")),
            }
        };
        match tokio::time::timeout(Duration::from_secs(2), exchange).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => {
                *slot = None;
                Err(e)
            }
            Err(_) => {
                *slot = None;
                Err("Redis did not answer in time".into())
            }
        }
    }
}
