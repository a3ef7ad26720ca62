//! The worker's routes, offered through the gateway: what a dApp developer needs when a request
//! is stuck.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use neosl_runtime::error::{ApiJson, ApiQuery, DomainError};
use neosl_runtime::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::store::{Request, Status, Store};

/// Why a route refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnChainError {
    /// No such request on this gateway.
    #[error("no request {0} on this gateway")]
    UnknownRequest(u64),
    /// A filter that is not a contract hash or a status.
    #[error("{0}")]
    InvalidFilter(String),
    /// The worker has no chain or no gateway contract.
    #[error("{0}")]
    NotConfigured(String),
}

impl DomainError for OnChainError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownRequest(_) => "unknown_request",
            Self::InvalidFilter(_) => "invalid_filter",
            Self::NotConfigured(_) => "onchain_not_configured",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::UnknownRequest(_) => ErrorCode::NotFound,
            Self::InvalidFilter(_) => ErrorCode::InvalidRequest,
            Self::NotConfigured(_) => ErrorCode::Unavailable,
        }
    }
}

/// What the routes read.
#[derive(Clone)]
pub struct Api {
    /// The requests (absent when the worker is not configured, with why).
    pub store: Result<Store, String>,
    /// `GET /onchain/contracts`.
    pub contracts: Contracts,
}

/// Where the platform's contracts are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contracts {
    /// The network magic.
    pub network: Option<u32>,
    /// The gateway contract.
    pub gateway: Option<String>,
    /// Each served service and its contract.
    pub services: Vec<ServedContract>,
}

/// A service contracts can call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServedContract {
    /// Its id on the gateway.
    pub service_id: String,
    /// Its contract.
    pub contract: String,
    /// The fee per request, 10⁻⁸ GAS.
    pub fee: i64,
}

#[derive(Deserialize)]
struct ListQuery {
    contract: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /onchain/requests`.
#[derive(Debug, Serialize)]
pub struct RequestList {
    /// Open ones first, then newest first.
    pub requests: Vec<Request>,
}

type Shared = State<Arc<Api>>;

fn store(api: &Api) -> Result<&Store, OnChainError> {
    api.store
        .as_ref()
        .map_err(|why| OnChainError::NotConfigured(why.clone()))
}

/// The routes (under `/onchain/`).
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/onchain/requests", get(list))
        .route("/onchain/requests/{id}", get(show))
        .route("/onchain/contracts", get(contracts))
        .with_state(api)
}

async fn list(
    State(api): Shared,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<RequestList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(OnChainError::InvalidFilter("limit is 1 to 1000".into()).into());
    }
    let contract = q
        .contract
        .as_deref()
        .map(|c| {
            neosl_neo::UInt160::parse_display(c)
                .map(|h| h.to_string())
                .map_err(|e| OnChainError::InvalidFilter(format!("contract: {e}")))
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s)
                .ok_or_else(|| OnChainError::InvalidFilter(format!("unknown status {s:?}")))
        })
        .transpose()?;
    Ok(ApiJson(RequestList {
        requests: store(&api)?
            .list(contract.as_deref(), status, limit)
            .await?,
    }))
}

async fn show(State(api): Shared, Path(id): Path<u64>) -> Result<ApiJson<Request>, ApiError> {
    Ok(ApiJson(
        store(&api)?
            .get(id)
            .await?
            .ok_or(OnChainError::UnknownRequest(id))?,
    ))
}

async fn contracts(State(api): Shared) -> ApiJson<Contracts> {
    ApiJson(api.contracts.clone())
}
