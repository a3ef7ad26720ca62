//! The `[datafeeds]` settings: the pairs, their sources and symbols, the rules.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::aggregate::Rules;
use crate::sources::{Exchange, valid_symbol};

/// The `[datafeeds]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataFeedsSettings {
    /// How often every pair is fetched, milliseconds.
    pub interval_ms: u64,
    /// One exchange request's time limit, milliseconds.
    pub timeout_ms: u64,
    /// Further attempts after a failed request (with doubling backoff from `backoff_ms`).
    pub retries: u32,
    /// The first backoff, milliseconds.
    pub backoff_ms: u64,
    /// Fresh sources needed for a round.
    pub quorum: usize,
    /// A quote older than this is stale, milliseconds.
    pub max_quote_age_ms: i64,
    /// Outliers: further from the median than this many scaled MADs, in tenths (30 = 3.0)…
    pub outlier_mad_tenths: i64,
    /// …and further than this many basis points of the median.
    pub outlier_min_bps: i64,
    /// The exchanges' addresses, by name (`binance = "https://api.binance.com"`); an exchange
    /// left out uses its public address.
    pub sources: BTreeMap<String, String>,
    /// The pairs; default BTC/USD, ETH/USD, NEO/USD and GAS/USD.
    pub pairs: Vec<PairSettings>,
}

/// One pair.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PairSettings {
    /// `BTC/USD`.
    pub pair: String,
    /// A new round at least this often, seconds.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u32,
    /// …or when the price moves by more than this, basis points.
    #[serde(default = "default_deviation")]
    pub deviation_bps: u32,
    /// Exchange name → its symbol for the pair. USDT-quoted symbols are read as USD where
    /// configured so (the default pairs do, where an exchange has no USD market).
    pub sources: BTreeMap<String, String>,
}

fn default_heartbeat() -> u32 {
    3600
}

fn default_deviation() -> u32 {
    50
}

impl Default for DataFeedsSettings {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            timeout_ms: 2000,
            retries: 2,
            backoff_ms: 100,
            quorum: 3,
            max_quote_age_ms: 60_000,
            outlier_mad_tenths: 30,
            outlier_min_bps: 50,
            sources: BTreeMap::new(),
            pairs: default_pairs(),
        }
    }
}

fn pair(name: &str, sources: &[(&str, &str)]) -> PairSettings {
    PairSettings {
        pair: name.into(),
        heartbeat_secs: default_heartbeat(),
        deviation_bps: default_deviation(),
        sources: sources
            .iter()
            .map(|(e, s)| ((*e).to_owned(), (*s).to_owned()))
            .collect(),
    }
}

/// BTC/USD, ETH/USD, NEO/USD and GAS/USD with each exchange's symbol.
pub fn default_pairs() -> Vec<PairSettings> {
    vec![
        pair(
            "BTC/USD",
            &[
                ("binance", "BTCUSDT"),
                ("coinbase", "BTC-USD"),
                ("kraken", "XBTUSD"),
                ("okx", "BTC-USDT"),
                ("bitstamp", "btcusd"),
                ("kucoin", "BTC-USDT"),
                ("gate", "BTC_USDT"),
                ("htx", "btcusdt"),
            ],
        ),
        pair(
            "ETH/USD",
            &[
                ("binance", "ETHUSDT"),
                ("coinbase", "ETH-USD"),
                ("kraken", "ETHUSD"),
                ("okx", "ETH-USDT"),
                ("bitstamp", "ethusd"),
                ("kucoin", "ETH-USDT"),
                ("gate", "ETH_USDT"),
                ("htx", "ethusdt"),
            ],
        ),
        pair(
            "NEO/USD",
            &[
                ("binance", "NEOUSDT"),
                ("okx", "NEO-USDT"),
                ("kucoin", "NEO-USDT"),
                ("gate", "NEO_USDT"),
                ("htx", "neousdt"),
            ],
        ),
        pair(
            "GAS/USD",
            &[
                ("binance", "GASUSDT"),
                ("okx", "GAS-USDT"),
                ("kucoin", "GAS-USDT"),
                ("gate", "GAS_USDT"),
                ("htx", "gasusdt"),
            ],
        ),
    ]
}

/// A pair name: `BASE/QUOTE`, each 1 to 10 upper-case letters or digits.
pub fn valid_pair(pair: &str) -> bool {
    let ok = |s: &str| {
        (1..=10).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    matches!(pair.split_once('/'), Some((base, quote)) if ok(base) && ok(quote))
}

/// A pair's source, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The exchange.
    pub exchange: Exchange,
    /// Its address.
    pub url: String,
    /// The pair's symbol there.
    pub symbol: String,
}

/// A pair, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// `BTC/USD`.
    pub name: String,
    /// Heartbeat, seconds.
    pub heartbeat_secs: u32,
    /// Deviation threshold, basis points.
    pub deviation_bps: u32,
    /// Its sources.
    pub sources: Vec<Source>,
}

impl DataFeedsSettings {
    /// The aggregation rules.
    pub fn rules(&self) -> Rules {
        Rules {
            quorum: self.quorum,
            max_age_ms: self.max_quote_age_ms,
            max_skew_ms: 5_000,
            mad_tenths: self.outlier_mad_tenths,
            min_band_bps: self.outlier_min_bps,
        }
    }

    /// The pairs resolved, or what is wrong with the settings.
    pub fn resolve(&self) -> Result<Vec<Pair>, String> {
        if self.quorum == 0 {
            return Err("datafeeds.quorum must be at least 1".into());
        }
        for name in self.sources.keys() {
            if Exchange::from_name(name).is_none() {
                return Err(format!("datafeeds.sources: unknown exchange {name:?}"));
            }
        }
        for url in self.sources.values() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "datafeeds.sources: {url:?} is not an http(s) address"
                ));
            }
        }
        let mut pairs = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.pairs {
            if !valid_pair(&p.pair) {
                return Err(format!(
                    "datafeeds.pairs: {:?} is not BASE/QUOTE in capitals",
                    p.pair
                ));
            }
            if !seen.insert(p.pair.clone()) {
                return Err(format!("datafeeds.pairs: {} appears twice", p.pair));
            }
            if p.heartbeat_secs == 0 || p.deviation_bps == 0 {
                return Err(format!(
                    "datafeeds.pairs: {}: heartbeat_secs and deviation_bps must be positive",
                    p.pair
                ));
            }
            let mut sources = Vec::new();
            for (name, symbol) in &p.sources {
                let exchange = Exchange::from_name(name).ok_or_else(|| {
                    format!("datafeeds.pairs: {}: unknown exchange {name:?}", p.pair)
                })?;
                if !valid_symbol(symbol) {
                    return Err(format!(
                        "datafeeds.pairs: {}: symbol {symbol:?} for {name}",
                        p.pair
                    ));
                }
                let url = self
                    .sources
                    .get(name)
                    .map_or(exchange.default_url(), String::as_str)
                    .trim_end_matches('/')
                    .to_owned();
                sources.push(Source {
                    exchange,
                    url,
                    symbol: symbol.clone(),
                });
            }
            if sources.len() < self.quorum {
                return Err(format!(
                    "datafeeds.pairs: {} has {} sources, fewer than the quorum {}",
                    p.pair,
                    sources.len(),
                    self.quorum
                ));
            }
            pairs.push(Pair {
                name: p.pair.clone(),
                heartbeat_secs: p.heartbeat_secs,
                deviation_bps: p.deviation_bps,
                sources,
            });
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_resolve() {
        let pairs = DataFeedsSettings::default().resolve().expect("ok");
        let names: Vec<_> = pairs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["BTC/USD", "ETH/USD", "NEO/USD", "GAS/USD"]);
        assert!(pairs.iter().all(|p| p.sources.len() >= 5));
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut s = DataFeedsSettings::default();
        s.pairs[0].pair = "btc/usd".into();
        assert!(s.resolve().expect_err("no quorum").contains("BASE/QUOTE"));
        let mut s = DataFeedsSettings::default();
        s.pairs[0].sources.insert("nasdaq".into(), "BTC".into());
        assert!(
            s.resolve()
                .expect_err("no quorum")
                .contains("unknown exchange")
        );
        let mut s = DataFeedsSettings::default();
        s.pairs[0].sources.insert("kraken".into(), "XBT/USD".into());
        assert!(s.resolve().expect_err("no quorum").contains("symbol"));
        let s = DataFeedsSettings {
            quorum: 6,
            ..DataFeedsSettings::default()
        };
        assert!(
            s.resolve()
                .expect_err("no quorum")
                .contains("fewer than the quorum")
        );
    }
}
