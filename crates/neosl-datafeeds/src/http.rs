//! The DataFeeds routes (under `/datafeeds/`), reached through the gateway, and the internal
//! routes of the on-chain worker.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use neosl_api::onchain::{FulfilAnswer, FulfilRequest, PushAnswer, PushRequest};
use neosl_runtime::ApiError;
use neosl_runtime::error::{ApiJson, ApiQuery};
use neosl_runtime::identity::Caller;
use serde::{Deserialize, Serialize};

use crate::error::DataFeedsError;
use crate::feed::{DataFeeds, PairPrice, SourcesReport};
use crate::store::Round;

type Feeds = State<Arc<DataFeeds>>;

/// `GET /datafeeds/prices`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceList {
    /// Every configured pair.
    pub prices: Vec<PairPrice>,
}

/// `GET /datafeeds/prices/{pair}/rounds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundList {
    /// The pair.
    pub pair: String,
    /// Newest first.
    pub rounds: Vec<Round>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoundsQuery {
    limit: Option<i64>,
    before: Option<u64>,
}

/// The routes.
pub fn router(feeds: Arc<DataFeeds>) -> Router {
    Router::new()
        .route("/datafeeds/prices", get(prices))
        .route("/datafeeds/prices/{pair}", get(price))
        .route("/datafeeds/prices/{pair}/rounds", get(rounds))
        .route("/datafeeds/sources", get(sources))
        .route("/datafeeds/push", post(push))
        .route("/datafeeds/fulfil", post(fulfil))
        .with_state(feeds)
}

async fn prices(State(feeds): Feeds) -> Result<ApiJson<PriceList>, ApiError> {
    Ok(ApiJson(PriceList {
        prices: feeds.prices().await?,
    }))
}

async fn price(
    State(feeds): Feeds,
    Path(pair): Path<String>,
) -> Result<ApiJson<PairPrice>, ApiError> {
    Ok(ApiJson(feeds.price(&pair).await?))
}

async fn rounds(
    State(feeds): Feeds,
    Path(pair): Path<String>,
    ApiQuery(q): ApiQuery<RoundsQuery>,
) -> Result<ApiJson<RoundList>, ApiError> {
    let rounds = feeds.rounds(&pair, q.before, q.limit).await?;
    Ok(ApiJson(RoundList {
        pair: crate::feed::normalize_pair(&pair)?,
        rounds,
    }))
}

async fn sources(State(feeds): Feeds) -> Result<ApiJson<SourcesReport>, ApiError> {
    Ok(ApiJson(feeds.sources().await?))
}

fn onchain_only(caller: &Caller) -> Result<(), DataFeedsError> {
    if caller.service_id == "onchain" {
        Ok(())
    } else {
        Err(DataFeedsError::Forbidden(
            "only the on-chain worker sends prices on chain",
        ))
    }
}

async fn push(
    State(feeds): Feeds,
    caller: Caller,
    ApiJson(r): ApiJson<PushRequest>,
) -> Result<ApiJson<PushAnswer>, ApiError> {
    onchain_only(&caller)?;
    Ok(ApiJson(feeds.push(&r).await?))
}

async fn fulfil(
    State(feeds): Feeds,
    caller: Caller,
    ApiJson(r): ApiJson<FulfilRequest>,
) -> Result<ApiJson<FulfilAnswer>, ApiError> {
    onchain_only(&caller)?;
    Ok(ApiJson(feeds.fulfil(&r).await?))
}
