//! The Mixer routes (under `/mixer/`), reached through the gateway without an account: whoever
//! holds a request id (random, 122 bits) may follow that request, and nothing else.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use neosl_runtime::ApiError;
use neosl_runtime::error::{ApiJson, ApiQuery};
use serde::{Deserialize, Serialize};

use crate::engine::{CompletionProof, Created, Info, Mixer, Status, Submission, Summary};
use crate::error::MixerError;
use crate::terms::MixRequestBody;

type Mix = State<Arc<Mixer>>;

/// `GET /mixer/requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestList {
    /// Newest first.
    pub requests: Vec<Summary>,
}

/// `POST /mixer/request/{id}/deposit`: deposits made (their hashes), or deposits signed but
/// not sent (for the Mixer to broadcast at a random time inside the deposit window).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositConfirmation {
    /// Deposit transactions on chain (display form), up to 16.
    #[serde(default)]
    pub tx_hashes: Vec<String>,
    /// Signed, unsent deposit transactions (hex), up to 16.
    #[serde(default)]
    pub transactions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<i64>,
    before: Option<i64>,
}

/// The routes.
pub fn router(mixer: Arc<Mixer>) -> Router {
    Router::new()
        .route("/mixer/info", get(info))
        .route("/mixer/request", post(create))
        .route("/mixer/requests", get(recent))
        .route("/mixer/status/{id}", get(status))
        .route("/mixer/request/{id}/proof", get(proof))
        .route("/mixer/request/{id}/deposit", post(deposit))
        .route("/mixer/request/{id}/dispute", post(dispute))
        .with_state(mixer)
}

async fn create(
    State(m): Mix,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<Created>, ApiError> {
    let body: MixRequestBody = serde_json::from_value(body)
        .map_err(|e| MixerError::InvalidRequest(format!("not a mix request: {e}")))?;
    Ok(ApiJson(m.create(body).await?))
}

async fn info(State(m): Mix) -> Result<ApiJson<Info>, ApiError> {
    Ok(ApiJson(m.info().await?))
}

async fn recent(
    State(m): Mix,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<ApiJson<RequestList>, ApiError> {
    Ok(ApiJson(RequestList {
        requests: m.recent(q.before, q.limit.unwrap_or(50)).await?,
    }))
}

async fn status(State(m): Mix, Path(id): Path<String>) -> Result<ApiJson<Status>, ApiError> {
    Ok(ApiJson(m.status(&id).await?))
}

async fn proof(
    State(m): Mix,
    Path(id): Path<String>,
) -> Result<ApiJson<CompletionProof>, ApiError> {
    Ok(ApiJson(m.proof(&id).await?))
}

async fn deposit(
    State(m): Mix,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<Status>, ApiError> {
    let body: DepositConfirmation = serde_json::from_value(body)
        .map_err(|e| MixerError::InvalidDeposit(format!("not a deposit confirmation: {e}")))?;
    match (body.tx_hashes.is_empty(), body.transactions.is_empty()) {
        (false, true) => Ok(ApiJson(m.confirm_deposits(&id, &body.tx_hashes).await?)),
        (true, false) => Ok(ApiJson(m.hand_over(&id, &body.transactions).await?)),
        _ => Err(MixerError::InvalidDeposit("give either tx_hashes or transactions".into()).into()),
    }
}

async fn dispute(State(m): Mix, Path(id): Path<String>) -> Result<ApiJson<Submission>, ApiError> {
    Ok(ApiJson(m.submit_proof(&id).await?))
}
