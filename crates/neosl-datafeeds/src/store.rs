//! The rounds, the pairs' states and the sources' health, on the platform database.
//!
//! A round is decided and numbered inside one transaction that holds the pair's named lock
//! (PostgreSQL; SQLite serializes writers): the previous round is read, the deviation and the
//! heartbeat are judged against it, and the next id is inserted under the `(pair, round_id)`
//! key. Replicas that fetched the same prices therefore make one round, never two competing
//! ones, and the numbering goes on across restarts.

use neosl_runtime::db::{Database, lock_named};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use crate::aggregate::{Dropped, deviation_bps};
use crate::error::DataFeedsError;

/// The store's migrations.
pub const MIGRATIONS: &[neosl_runtime::db::Migration] = &[neosl_runtime::migration!(
    1,
    "datafeeds",
    "0001_datafeeds.sql",
    shared
)];

/// One round of one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// `BTC/USD`.
    pub pair: String,
    /// Increasing per pair from 1.
    pub round_id: u64,
    /// The price, fixed-point, as a decimal integer string (exact in every JSON reader).
    pub price: String,
    /// Its decimals.
    pub decimals: u32,
    /// The price as a decimal (`65000.01000000`), for people.
    pub price_decimal: String,
    /// When the round was made, Unix milliseconds.
    pub timestamp: i64,
    /// Why it was made: `first`, `deviation` or `heartbeat`.
    pub reason: String,
    /// The pair's heartbeat, seconds.
    pub heartbeat_secs: u32,
    /// The pair's deviation threshold, basis points.
    pub deviation_bps: u32,
    /// The sources whose quotes made the median.
    pub sources_used: Vec<String>,
    /// The quotes left out and why.
    pub sources_dropped: Vec<Dropped>,
    /// The network magic the signature is for.
    pub network: u32,
    /// The `DataFeedsService` contract the signature is for, if one is known yet.
    pub contract: Option<String>,
    /// The DataFeeds key's signature (hex, r‖s) over the update message.
    pub signature: String,
    /// Whether this round is what the contract holds (or held).
    pub on_chain: bool,
    /// When it was seen on chain, Unix milliseconds.
    pub on_chain_at: Option<i64>,
}

impl Round {
    /// The price as an integer.
    pub fn price_value(&self) -> i64 {
        self.price.parse().unwrap_or_default()
    }
}

/// A new price, before it is a round.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The median.
    pub price: i64,
    /// The sources used.
    pub used: Vec<String>,
    /// The quotes left out.
    pub dropped: Vec<Dropped>,
    /// Now, Unix milliseconds.
    pub now_ms: i64,
    /// The pair's heartbeat, seconds.
    pub heartbeat_secs: u32,
    /// The pair's deviation threshold, basis points.
    pub deviation_bps: u32,
}

/// A pair's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairState {
    /// `BTC/USD`.
    pub pair: String,
    /// `healthy` or `unhealthy`.
    pub state: String,
    /// Why it is unhealthy.
    pub reason: Option<String>,
    /// Since when it is in this state, Unix milliseconds.
    pub since: i64,
    /// When its sources were last asked.
    pub checked_at: i64,
    /// The round the contract holds (0: none).
    pub on_chain_round: u64,
}

/// One source's health for one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHealth {
    /// The exchange.
    pub source: String,
    /// The pair.
    pub pair: String,
    /// Its symbol there.
    pub symbol: String,
    /// The last answer read, Unix milliseconds.
    pub last_success_at: Option<i64>,
    /// The last failure.
    pub last_error_at: Option<i64>,
    /// What failed.
    pub last_error: Option<String>,
    /// The last request's time, milliseconds.
    pub latency_ms: Option<i64>,
    /// The last price read (fixed-point, decimal string).
    pub last_price: Option<String>,
}

/// What one source did in one cycle.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    /// The exchange.
    pub source: String,
    /// The symbol.
    pub symbol: String,
    /// The price read, or the error.
    pub result: Result<i64, String>,
    /// How long it took, milliseconds.
    pub latency_ms: i64,
}

/// The DataFeeds tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

/// Shows a fixed-point integer with `decimals` decimals.
pub fn decimal_text(value: i64, decimals: u32) -> String {
    let scale = 10i128.pow(decimals);
    let v = i128::from(value);
    let width = usize::try_from(decimals).unwrap_or(8);
    format!("{}.{:0width$}", v / scale, (v % scale).abs())
}

fn round_from(row: &sqlx::any::AnyRow) -> Result<Round, sqlx::Error> {
    let price: i64 = row.try_get("price")?;
    let decimals = u32::try_from(row.try_get::<i64, _>("decimals")?).unwrap_or(8);
    let used: String = row.try_get("sources_used")?;
    let dropped: String = row.try_get("sources_dropped")?;
    let on_chain_at: Option<i64> = row.try_get("on_chain_at")?;
    Ok(Round {
        pair: row.try_get("pair")?,
        round_id: u64::try_from(row.try_get::<i64, _>("round_id")?).unwrap_or_default(),
        price: price.to_string(),
        decimals,
        price_decimal: decimal_text(price, decimals),
        timestamp: row.try_get("timestamp_ms")?,
        reason: row.try_get("reason")?,
        heartbeat_secs: u32::try_from(row.try_get::<i64, _>("heartbeat_secs")?).unwrap_or_default(),
        deviation_bps: u32::try_from(row.try_get::<i64, _>("deviation_bps")?).unwrap_or_default(),
        sources_used: serde_json::from_str(&used).unwrap_or_default(),
        sources_dropped: serde_json::from_str(&dropped).unwrap_or_default(),
        network: u32::try_from(row.try_get::<i64, _>("network")?).unwrap_or_default(),
        contract: row.try_get("contract")?,
        signature: row.try_get("signature")?,
        on_chain: on_chain_at.is_some(),
        on_chain_at,
    })
}

const ROUND_COLUMNS: &str = "pair, round_id, price, decimals, timestamp_ms, reason, heartbeat_secs, \
     deviation_bps, sources_used, sources_dropped, network, contract, signature, on_chain_at";

/// What a round is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The network magic.
    pub network: u32,
    /// The contract (display form), if known.
    pub contract: Option<String>,
}

impl Store {
    /// Opens the store, migrating its tables.
    pub async fn open(db: Database) -> Result<Self, DataFeedsError> {
        db.migrate("datafeeds", MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn latest_in(
        tx: &mut Transaction<'_, Any>,
        pair: &str,
    ) -> Result<Option<Round>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM datafeeds_rounds WHERE pair = $1 ORDER BY round_id DESC LIMIT 1"
        )))
        .bind(pair)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(round_from).transpose()
    }

    /// Makes the next round of `pair` from `candidate` when it is due (first round, deviation
    /// beyond the threshold, heartbeat due); `sign` signs it for the target it is given (that
    /// of the previous round when there is one, else `target`). Answers the round made, if any.
    pub async fn record_round(
        &self,
        pair: &str,
        candidate: &Candidate,
        target: &Target,
        sign: impl Fn(&Target, u64) -> Result<String, DataFeedsError>,
    ) -> Result<Option<Round>, DataFeedsError> {
        let mut tx = self.db.pool().begin().await?;
        lock_named(
            &mut tx,
            self.db.backend(),
            &format!("datafeeds:round:{pair}"),
        )
        .await?;
        let last = Self::latest_in(&mut tx, pair).await?;
        let reason = match &last {
            None => "first",
            Some(last) => {
                let age_ms = candidate.now_ms.saturating_sub(last.timestamp);
                if deviation_bps(last.price_value(), candidate.price)
                    > i64::from(candidate.deviation_bps)
                {
                    "deviation"
                } else if age_ms >= i64::from(candidate.heartbeat_secs) * 1000 {
                    "heartbeat"
                } else {
                    return Ok(None);
                }
            }
        };
        let round_id = last.as_ref().map_or(1, |l| l.round_id + 1);
        // Once a contract is known, the next rounds are signed for it at once.
        let target = match &last {
            Some(l) if l.contract.is_some() && l.network == target.network => Target {
                network: l.network,
                contract: l.contract.clone(),
            },
            _ => target.clone(),
        };
        let signature = sign(&target, round_id)?;
        sqlx::query(
            "INSERT INTO datafeeds_rounds (pair, round_id, price, decimals, timestamp_ms, reason, heartbeat_secs, \
             deviation_bps, sources_used, sources_dropped, network, contract, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(pair)
        .bind(i64::try_from(round_id).unwrap_or(i64::MAX))
        .bind(candidate.price)
        .bind(i64::from(crate::sources::DECIMALS))
        .bind(candidate.now_ms)
        .bind(reason)
        .bind(i64::from(candidate.heartbeat_secs))
        .bind(i64::from(candidate.deviation_bps))
        .bind(serde_json::to_string(&candidate.used).unwrap_or_default())
        .bind(serde_json::to_string(&candidate.dropped).unwrap_or_default())
        .bind(i64::from(target.network))
        .bind(target.contract.as_deref())
        .bind(&signature)
        .execute(&mut *tx)
        .await?;
        let round = Self::latest_in(&mut tx, pair).await?;
        tx.commit().await?;
        Ok(round)
    }

    /// Signs `pair`'s round `round_id` again for `target` (the contract became known).
    pub async fn resign(
        &self,
        pair: &str,
        round_id: u64,
        target: &Target,
        signature: &str,
    ) -> Result<(), DataFeedsError> {
        sqlx::query(
            "UPDATE datafeeds_rounds SET network = $1, contract = $2, signature = $3 WHERE pair = $4 AND round_id = $5",
        )
        .bind(i64::from(target.network))
        .bind(target.contract.as_deref())
        .bind(signature)
        .bind(pair)
        .bind(i64::try_from(round_id).unwrap_or(i64::MAX))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The latest round of `pair`.
    pub async fn latest(&self, pair: &str) -> Result<Option<Round>, DataFeedsError> {
        let mut tx = self.db.pool().begin().await?;
        let round = Self::latest_in(&mut tx, pair).await?;
        tx.commit().await?;
        Ok(round)
    }

    /// Rounds of `pair`, newest first, below `before` if given.
    pub async fn rounds(
        &self,
        pair: &str,
        before: Option<u64>,
        limit: i64,
    ) -> Result<Vec<Round>, DataFeedsError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM datafeeds_rounds WHERE pair = $1 AND round_id < $2 \
             ORDER BY round_id DESC LIMIT $3"
        )))
        .bind(pair)
        .bind(before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(round_from).collect::<Result<_, _>>()?)
    }

    /// Records the pair's state (`since` moves only when the state changes); answers whether
    /// it changed.
    pub async fn set_pair_state(
        &self,
        pair: &str,
        unhealthy: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, DataFeedsError> {
        let state = if unhealthy.is_some() {
            "unhealthy"
        } else {
            "healthy"
        };
        let mut tx = self.db.pool().begin().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT state FROM datafeeds_pairs WHERE pair = $1")
                .bind(pair)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO datafeeds_pairs (pair, state, reason, since, checked_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (pair) DO UPDATE SET \
               since = CASE WHEN datafeeds_pairs.state = excluded.state THEN datafeeds_pairs.since ELSE excluded.since END, \
               state = excluded.state, reason = excluded.reason, checked_at = excluded.checked_at",
        )
        .bind(pair)
        .bind(state)
        .bind(unhealthy)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(before.as_deref() != Some(state))
    }

    /// Every pair's state.
    pub async fn pair_states(&self) -> Result<Vec<PairState>, DataFeedsError> {
        let rows = sqlx::query(
            "SELECT pair, state, reason, since, checked_at, on_chain_round FROM datafeeds_pairs ORDER BY pair",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PairState {
                    pair: r.try_get("pair")?,
                    state: r.try_get("state")?,
                    reason: r.try_get("reason")?,
                    since: r.try_get("since")?,
                    checked_at: r.try_get("checked_at")?,
                    on_chain_round: u64::try_from(r.try_get::<i64, _>("on_chain_round")?)
                        .unwrap_or_default(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Records what each source did for `pair` in one cycle, in one transaction.
    pub async fn record_sources(
        &self,
        pair: &str,
        outcomes: &[SourceOutcome],
        now_ms: i64,
    ) -> Result<(), DataFeedsError> {
        let mut tx = self.db.pool().begin().await?;
        for o in outcomes {
            let (price, error) = match &o.result {
                Ok(p) => (Some(*p), None),
                Err(e) => (None, Some(e.as_str())),
            };
            sqlx::query(
                "INSERT INTO datafeeds_sources (source, pair, symbol, last_success_at, last_error_at, last_error, latency_ms, last_price) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (source, pair) DO UPDATE SET symbol = excluded.symbol, latency_ms = excluded.latency_ms, \
                   last_success_at = COALESCE(excluded.last_success_at, datafeeds_sources.last_success_at), \
                   last_price = COALESCE(excluded.last_price, datafeeds_sources.last_price), \
                   last_error_at = COALESCE(excluded.last_error_at, datafeeds_sources.last_error_at), \
                   last_error = COALESCE(excluded.last_error, datafeeds_sources.last_error)",
            )
            .bind(&o.source)
            .bind(pair)
            .bind(&o.symbol)
            .bind(price.map(|_| now_ms))
            .bind(error.map(|_| now_ms))
            .bind(error)
            .bind(o.latency_ms)
            .bind(price)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every source's health, by source then pair.
    pub async fn sources(&self) -> Result<Vec<SourceHealth>, DataFeedsError> {
        let rows = sqlx::query(
            "SELECT source, pair, symbol, last_success_at, last_error_at, last_error, latency_ms, last_price \
             FROM datafeeds_sources ORDER BY source, pair",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceHealth {
                    source: r.try_get("source")?,
                    pair: r.try_get("pair")?,
                    symbol: r.try_get("symbol")?,
                    last_success_at: r.try_get("last_success_at")?,
                    last_error_at: r.try_get("last_error_at")?,
                    last_error: r.try_get("last_error")?,
                    latency_ms: r.try_get("latency_ms")?,
                    last_price: r
                        .try_get::<Option<i64>, _>("last_price")?
                        .map(|p| p.to_string()),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Records that the contract holds `round_id` of `pair`.
    pub async fn mark_on_chain(
        &self,
        pair: &str,
        round_id: u64,
        now_ms: i64,
    ) -> Result<(), DataFeedsError> {
        let id = i64::try_from(round_id).unwrap_or(i64::MAX);
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "UPDATE datafeeds_rounds SET on_chain_at = $1 WHERE pair = $2 AND round_id = $3 AND on_chain_at IS NULL",
        )
        .bind(now_ms)
        .bind(pair)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE datafeeds_pairs SET on_chain_round = $1 WHERE pair = $2 AND on_chain_round < $1",
        )
        .bind(id)
        .bind(pair)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::decimal_text;

    #[test]
    fn fixed_point_prints_with_its_decimals() {
        assert_eq!(decimal_text(6_500_001_000_000, 8), "65000.01000000");
        assert_eq!(decimal_text(1, 8), "0.00000001");
    }
}
