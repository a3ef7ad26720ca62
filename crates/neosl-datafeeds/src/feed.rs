//! The DataFeeds service: fetching every pair from its sources, making and signing rounds,
//! offering them to the on-chain worker, and answering reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use neosl_api::onchain::{FulfilAnswer, FulfilRequest, PushAnswer, PushCall, PushRequest};
use neosl_contracts::datafeeds::{PriceUpdate, update_message, update_prices_args};
use neosl_crypto::ecdsa::SigningKey;
use neosl_neo::UInt160;
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_runtime::clock::SharedClock;
use neosl_runtime::service::Chain;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Observation, Rules, aggregate};
use crate::error::DataFeedsError;
use crate::settings::{DataFeedsSettings, Pair, Source, valid_pair};
use crate::sources::DECIMALS;
use crate::store::{Candidate, PairState, Round, SourceHealth, SourceOutcome, Store, Target};

/// A pair as `GET /datafeeds/prices` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairPrice {
    /// `BTC/USD`.
    pub pair: String,
    /// `fresh`, `no_round_yet`, `stale` (no round for longer than the heartbeat allows) or
    /// `unhealthy` (the sources lost their quorum; the last round is kept).
    pub state: String,
    /// Why it is not fresh.
    pub reason: Option<String>,
    /// The heartbeat, seconds.
    pub heartbeat_secs: u32,
    /// The deviation threshold, basis points.
    pub deviation_bps: u32,
    /// The latest round, if any.
    pub latest: Option<Round>,
}

/// `GET /datafeeds/sources`: each exchange with its pairs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceReport {
    /// The exchange.
    pub source: String,
    /// Whether its last answer for every pair was read.
    pub healthy: bool,
    /// Per pair.
    pub pairs: Vec<SourceHealth>,
}

/// `GET /datafeeds/sources`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcesReport {
    /// Every source.
    pub sources: Vec<SourceReport>,
    /// Every pair's state.
    pub pairs: Vec<PairState>,
}

/// The DataFeeds service.
pub struct DataFeeds {
    store: Store,
    pairs: Vec<Pair>,
    rules: Rules,
    settings: DataFeedsSettings,
    http: reqwest::Client,
    key: SigningKey,
    network: u32,
    chain: Option<Chain>,
    clock: SharedClock,
}

impl std::fmt::Debug for DataFeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFeeds")
            .field("pairs", &self.pairs.len())
            .finish_non_exhaustive()
    }
}

/// Turns `BTC/USD`, `BTC-USD`, `btc_usd` into `BTC/USD`.
pub fn normalize_pair(text: &str) -> Result<String, DataFeedsError> {
    let pair: String = text
        .chars()
        .map(|c| match c {
            '-' | '_' => '/',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if valid_pair(&pair) {
        Ok(pair)
    } else {
        Err(DataFeedsError::InvalidPair(text.chars().take(40).collect()))
    }
}

impl DataFeeds {
    /// The service over `store` with `settings` (already resolved into `pairs`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        settings: DataFeedsSettings,
        pairs: Vec<Pair>,
        key: SigningKey,
        network: u32,
        chain: Option<Chain>,
        clock: SharedClock,
    ) -> Result<Self, DataFeedsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .user_agent("neo-service-layer-datafeeds")
            .build()
            .map_err(|e| DataFeedsError::Client(e.to_string()))?;
        Ok(Self {
            store,
            rules: settings.rules(),
            pairs,
            settings,
            http,
            key,
            network,
            chain,
            clock,
        })
    }

    /// The configured pairs.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    fn pair(&self, text: &str) -> Result<&Pair, DataFeedsError> {
        let name = normalize_pair(text)?;
        self.pairs
            .iter()
            .find(|p| p.name == name)
            .ok_or(DataFeedsError::UnknownPair(name))
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// One request to one source, with retries and doubling backoff.
    async fn quote(&self, source: &Source) -> (Result<Observation, String>, i64) {
        let url = format!("{}{}", source.url, source.exchange.path(&source.symbol));
        let started = Instant::now();
        let mut backoff = Duration::from_millis(self.settings.backoff_ms);
        let mut attempt = 0;
        let result = loop {
            let outcome = match self.http.get(&url).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(body) => source
                            .exchange
                            .parse(status, &body, &source.symbol)
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(format!("reading the answer: {}", without_url(&e))),
                    }
                }
                Err(e) if e.is_timeout() => Err("timed out".to_owned()),
                Err(e) => Err(format!("request failed: {}", without_url(&e))),
            };
            match outcome {
                Ok(quote) => break Ok(quote),
                Err(e) if attempt >= self.settings.retries => break Err(e),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
            }
        };
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now = self.now();
        let result = result.map(|quote| Observation {
            source: source.exchange.name().to_owned(),
            price: quote.price,
            // An exchange that gives no time is taken as of the moment it answered.
            time_ms: quote.time_ms.unwrap_or(now),
        });
        (result, latency)
    }

    /// One cycle of `pair`: every source asked at once, the health recorded, the quotes
    /// aggregated, a round made when it is due. Answers the round made, if any.
    pub async fn cycle(&self, pair: &Pair) -> Result<Option<Round>, DataFeedsError> {
        let answers = join_all(pair.sources.iter().map(|s| self.quote(s))).await;
        let now = self.now();
        let mut outcomes = Vec::with_capacity(answers.len());
        let mut quotes = Vec::with_capacity(answers.len());
        for (source, (result, latency_ms)) in pair.sources.iter().zip(answers) {
            outcomes.push(SourceOutcome {
                source: source.exchange.name().to_owned(),
                symbol: source.symbol.clone(),
                result: result.as_ref().map(|q| q.price).map_err(Clone::clone),
                latency_ms,
            });
            if let Ok(q) = result {
                quotes.push(q);
            }
        }
        self.store
            .record_sources(&pair.name, &outcomes, now)
            .await?;
        let aggregate = match aggregate(&quotes, now, &self.rules) {
            Ok(a) => a,
            Err(lost) => {
                let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
                let reason = format!(
                    "quorum lost: {} usable quotes of {} needed ({failed} sources failed, {} dropped)",
                    lost.usable,
                    lost.needed,
                    lost.dropped.len()
                );
                if self
                    .store
                    .set_pair_state(&pair.name, Some(&reason), now)
                    .await?
                {
                    tracing::warn!(pair = %pair.name, %reason, "the pair is unhealthy: no new rounds until its sources recover");
                }
                return Ok(None);
            }
        };
        if self.store.set_pair_state(&pair.name, None, now).await? {
            tracing::info!(pair = %pair.name, "the pair is healthy");
        }
        let candidate = Candidate {
            price: aggregate.price,
            used: aggregate.used,
            dropped: aggregate.dropped,
            now_ms: now,
            heartbeat_secs: pair.heartbeat_secs,
            deviation_bps: pair.deviation_bps,
        };
        let target = Target {
            network: self.network,
            contract: None,
        };
        let round = self
            .store
            .record_round(&pair.name, &candidate, &target, |target, round_id| {
                self.sign(target, &pair.name, round_id, &candidate)
            })
            .await?;
        if let Some(r) = &round {
            tracing::info!(pair = %r.pair, round = r.round_id, price = %r.price_decimal, reason = %r.reason, "new round");
        }
        Ok(round)
    }

    fn update_of(
        pair: &str,
        round_id: u64,
        price: i64,
        timestamp_ms: i64,
        heartbeat_secs: u32,
        deviation_bps: u32,
    ) -> PriceUpdate {
        PriceUpdate {
            pair: pair.to_owned(),
            round_id,
            price,
            decimals: DECIMALS,
            timestamp_ms,
            heartbeat_secs,
            deviation_bps,
            signature: Vec::new(),
        }
    }

    fn sign_update(&self, target: &Target, update: &PriceUpdate) -> Result<String, DataFeedsError> {
        let contract = match &target.contract {
            Some(c) => {
                UInt160::parse_display(c).map_err(|e| DataFeedsError::Signing(e.to_string()))?
            }
            None => UInt160::default(),
        };
        let message = update_message(target.network, &contract, update);
        let signature = self
            .key
            .sign(&message)
            .map_err(|e| DataFeedsError::Signing(e.to_string()))?;
        Ok(hex::encode(signature.to_bytes()))
    }

    fn sign(
        &self,
        target: &Target,
        pair: &str,
        round_id: u64,
        c: &Candidate,
    ) -> Result<String, DataFeedsError> {
        let update = Self::update_of(
            pair,
            round_id,
            c.price,
            c.now_ms,
            c.heartbeat_secs,
            c.deviation_bps,
        );
        self.sign_update(target, &update)
    }

    /// Runs every pair's cycle on its own schedule until `shutdown`: a slow exchange holds up
    /// only the pairs it serves.
    pub async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.settings.interval_ms.max(100));
        let loops = self.pairs.iter().map(|pair| {
            let mut shutdown = shutdown.clone();
            let feeds = self.clone();
            async move {
                loop {
                    if let Err(e) = feeds.cycle(pair).await {
                        tracing::warn!(pair = %pair.name, error = %e, "the feed cycle failed");
                    }
                    if neosl_runtime::service::pause(interval, &mut shutdown).await {
                        return;
                    }
                }
            }
        });
        join_all(loops).await;
    }

    /// How long a round may stand before its pair is stale: the heartbeat plus a tenth of it
    /// (at least 5 s) for fetching and sending.
    fn stale_after_ms(pair: &Pair) -> i64 {
        let heartbeat = i64::from(pair.heartbeat_secs) * 1000;
        heartbeat + (heartbeat / 10).max(5_000)
    }

    /// Every configured pair with its state.
    pub async fn prices(&self) -> Result<Vec<PairPrice>, DataFeedsError> {
        let states: BTreeMap<String, PairState> = self
            .store
            .pair_states()
            .await?
            .into_iter()
            .map(|s| (s.pair.clone(), s))
            .collect();
        let mut out = Vec::with_capacity(self.pairs.len());
        for pair in &self.pairs {
            out.push(self.pair_price(pair, states.get(&pair.name)).await?);
        }
        Ok(out)
    }

    async fn pair_price(
        &self,
        pair: &Pair,
        state: Option<&PairState>,
    ) -> Result<PairPrice, DataFeedsError> {
        let latest = self.store.latest(&pair.name).await?;
        let now = self.now();
        let (state_name, reason) = match (&latest, state) {
            (_, Some(s)) if s.state == "unhealthy" => ("unhealthy", s.reason.clone()),
            (None, _) => ("no_round_yet", None),
            (Some(r), _) if now - r.timestamp > Self::stale_after_ms(pair) => (
                "stale",
                Some(format!(
                    "the latest round is {} s old; the heartbeat is {} s",
                    (now - r.timestamp) / 1000,
                    pair.heartbeat_secs
                )),
            ),
            _ => ("fresh", None),
        };
        Ok(PairPrice {
            pair: pair.name.clone(),
            state: state_name.to_owned(),
            reason,
            heartbeat_secs: pair.heartbeat_secs,
            deviation_bps: pair.deviation_bps,
            latest,
        })
    }

    /// One pair with its state.
    pub async fn price(&self, pair: &str) -> Result<PairPrice, DataFeedsError> {
        let pair = self.pair(pair)?;
        let states = self.store.pair_states().await?;
        self.pair_price(pair, states.iter().find(|s| s.pair == pair.name))
            .await
    }

    /// A pair's rounds, newest first.
    pub async fn rounds(
        &self,
        pair: &str,
        before: Option<u64>,
        limit: Option<i64>,
    ) -> Result<Vec<Round>, DataFeedsError> {
        let pair = self.pair(pair)?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(DataFeedsError::InvalidLimit);
        }
        self.store.rounds(&pair.name, before, limit).await
    }

    /// Every source's health.
    pub async fn sources(&self) -> Result<SourcesReport, DataFeedsError> {
        let mut by_source: BTreeMap<String, Vec<SourceHealth>> = BTreeMap::new();
        for h in self.store.sources().await? {
            by_source.entry(h.source.clone()).or_default().push(h);
        }
        let sources = by_source
            .into_iter()
            .map(|(source, pairs)| SourceReport {
                healthy: pairs
                    .iter()
                    .all(|p| match (p.last_success_at, p.last_error_at) {
                        (Some(ok), Some(err)) => ok >= err,
                        (Some(_), None) => true,
                        _ => false,
                    }),
                source,
                pairs,
            })
            .collect();
        Ok(SourcesReport {
            sources,
            pairs: self.store.pair_states().await?,
        })
    }

    /// The pairs that are unhealthy, with why.
    pub async fn unhealthy(&self) -> Result<Vec<String>, DataFeedsError> {
        Ok(self
            .store
            .pair_states()
            .await?
            .into_iter()
            .filter(|s| s.state == "unhealthy")
            .map(|s| format!("{}: {}", s.pair, s.reason.unwrap_or_default()))
            .collect())
    }

    /// The round each pair has on `contract`, read from the chain (a pair with none: absent).
    async fn on_chain_rounds<'a>(
        &self,
        contract: &UInt160,
        pairs: impl Iterator<Item = &'a Pair>,
    ) -> BTreeMap<String, u64> {
        let Some(chain) = &self.chain else {
            return BTreeMap::new();
        };
        let reads = pairs.map(|pair| async move {
            let result = chain
                .rpc
                .invoke_function(
                    contract,
                    "getLatestPrice",
                    &[P::String(pair.name.clone())],
                    &[],
                )
                .await
                .ok()?;
            if !result.halted() {
                return None;
            }
            let fields = result.stack.first()?.as_array()?.to_vec();
            let round = fields.get(2)?.as_integer()?;
            Some((pair.name.clone(), u64::try_from(round).ok()?))
        });
        join_all(reads).await.into_iter().flatten().collect()
    }

    /// What the on-chain worker should send to the `DataFeedsService` now: every pair's latest
    /// round that the contract does not hold yet and that is not on its way, signed for that
    /// contract, in one `updatePrices` call. Rounds the contract holds are marked on chain.
    pub async fn push(&self, request: &PushRequest) -> Result<PushAnswer, DataFeedsError> {
        let contract = UInt160::parse_display(&request.contract)
            .map_err(|e| DataFeedsError::InvalidPayload(e.to_string()))?;
        let target = Target {
            network: request.network,
            contract: Some(contract.to_string()),
        };
        let in_flight: BTreeSet<&str> = request
            .in_flight
            .iter()
            .filter_map(|r| r.split_once('#').map(|(pair, _)| pair))
            .collect();
        // Only pairs whose newest round is not known to be on this contract, and not on its
        // way, need the chain asked: a quiet feed costs no RPC.
        let mut candidates = Vec::new();
        for pair in &self.pairs {
            if in_flight.contains(pair.name.as_str()) {
                continue;
            }
            if let Some(latest) = self.store.latest(&pair.name).await?
                && !(latest.on_chain && latest.contract == target.contract)
            {
                candidates.push((pair, latest));
            }
        }
        let on_chain = self
            .on_chain_rounds(&contract, candidates.iter().map(|(p, _)| *p))
            .await;
        let now = self.now();
        let mut updates = Vec::new();
        let mut references = Vec::new();
        for (pair, latest) in candidates {
            let held = on_chain.get(&pair.name).copied().unwrap_or(0);
            if held > 0 {
                self.store.mark_on_chain(&pair.name, held, now).await?;
            }
            if latest.round_id <= held {
                continue;
            }
            let mut update = Self::update_of(
                &pair.name,
                latest.round_id,
                latest.price_value(),
                latest.timestamp,
                latest.heartbeat_secs,
                latest.deviation_bps,
            );
            let signature =
                if latest.network == target.network && latest.contract == target.contract {
                    latest.signature.clone()
                } else {
                    let signature = self.sign_update(&target, &update)?;
                    self.store
                        .resign(&pair.name, latest.round_id, &target, &signature)
                        .await?;
                    signature
                };
            update.signature =
                hex::decode(&signature).map_err(|e| DataFeedsError::Signing(e.to_string()))?;
            references.push(format!("{}#{}", pair.name, latest.round_id));
            updates.push(update);
        }
        if updates.is_empty() {
            return Ok(PushAnswer { calls: Vec::new() });
        }
        Ok(PushAnswer {
            calls: vec![PushCall {
                method: "updatePrices".into(),
                args: update_prices_args(&updates)
                    .iter()
                    .map(P::to_json)
                    .collect(),
                references,
            }],
        })
    }

    /// Serves a contract's request through the gateway: the payload is a pair (`BTC/USD`);
    /// the result is `StdLib.serialize([price, decimals, roundId, timestamp])` of its latest
    /// round, or, when it has none or it is stale, a failure whose result is the reason.
    pub async fn fulfil(&self, request: &FulfilRequest) -> Result<FulfilAnswer, DataFeedsError> {
        let payload = hex::decode(&request.payload)
            .map_err(|_| DataFeedsError::InvalidPayload("the payload is not hex".into()))?;
        let text = String::from_utf8(payload).unwrap_or_default();
        let answer = match self.price(&text).await {
            Ok(PairPrice {
                state,
                latest: Some(r),
                ..
            }) if state == "fresh" => Ok(r),
            Ok(p) => Err(format!("{}: {}", p.pair, p.state)),
            Err(e @ DataFeedsError::Database(_)) => return Err(e),
            Err(e) => Err(e.to_string()),
        };
        let (success, result) = match answer {
            Ok(r) => {
                let item = StackItem::Array(vec![
                    StackItem::Integer(r.price_value().into()),
                    StackItem::Integer(r.decimals.into()),
                    StackItem::Integer(r.round_id.into()),
                    StackItem::Integer(r.timestamp.into()),
                ]);
                let bytes = neosl_neo::serialize::serialize(&item)
                    .map_err(|e| DataFeedsError::Signing(e.to_string()))?;
                (true, bytes)
            }
            Err(reason) => (false, reason.into_bytes()),
        };
        let gateway = UInt160::parse_display(&request.gateway)
            .map_err(|e| DataFeedsError::InvalidPayload(e.to_string()))?;
        let message = neosl_contracts::gateway::fulfilment_message(
            request.network,
            &gateway,
            request.request_id,
            success,
            &result,
        );
        let signature = self
            .key
            .sign(&message)
            .map_err(|e| DataFeedsError::Signing(e.to_string()))?;
        Ok(FulfilAnswer {
            success,
            result: hex::encode(result),
            signature: hex::encode(signature.to_bytes()),
        })
    }
}

/// A request error without its address (which may carry a credential in a query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<source>");
    }
    text
}
