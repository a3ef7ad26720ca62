//! The Confidential routes (under `/confidential/`, through the gateway), and the fulfilment
//! route for the on-chain worker.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use neosl_runtime::error::{ApiJson, ApiJsonText, ApiQuery, TextFields};
use neosl_runtime::identity::{Caller, EndUser};
use neosl_runtime::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::engine::{CodeUpload, CodeView, Confidential, ExecuteRequest, JobView};

/// The text fields of `POST /confidential/execute`.
pub const EXECUTE_TEXT_FIELDS: &[&str] = <ExecuteRequest as TextFields>::TEXT_FIELDS;
/// The text fields of `POST /confidential/code`.
pub const CODE_TEXT_FIELDS: &[&str] = <CodeUpload as TextFields>::TEXT_FIELDS;

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /confidential/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobView>,
    /// Pass as `before` for the next page (None on the last one).
    pub next_before: Option<i64>,
}

/// `GET /confidential/code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeList {
    /// Newest first.
    pub code: Vec<CodeView>,
}

/// `GET /confidential/public-key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicKeyInfo {
    /// The key that signs results (compressed, hex), as `/attestation` publishes it.
    pub public_key: String,
    /// Its SHA-256 (hex).
    pub public_key_sha256: String,
    /// What is signed.
    pub signed_message: String,
}

type C = State<Arc<Confidential>>;

/// The routes.
pub fn router(confidential: Arc<Confidential>) -> Router {
    Router::new()
        .route("/confidential/execute", post(execute))
        .route("/confidential/jobs", get(jobs))
        .route("/confidential/jobs/{id}", get(job))
        .route("/confidential/code", get(uploads).post(upload))
        .route("/confidential/public-key", get(public_key))
        .route("/confidential/fulfil", post(fulfil))
        .with_state(confidential)
}

async fn execute(
    State(c): C,
    user: EndUser,
    ApiJsonText(request): ApiJsonText<ExecuteRequest>,
) -> Result<Response, ApiError> {
    let view = c.execute(&user.0, request).await?;
    let status = if matches!(view.state.as_str(), "queued" | "running") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(view)).into_response())
}

async fn job(
    State(c): C,
    user: EndUser,
    Path(id): Path<String>,
) -> Result<ApiJson<JobView>, ApiError> {
    Ok(ApiJson(c.job(&user.0, &id).await?))
}

async fn jobs(
    State(c): C,
    user: EndUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<JobList>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    let jobs = c.jobs(&user.0, q.state.as_deref(), q.before, limit).await?;
    let next_before = (jobs.len() as i64 == limit)
        .then(|| jobs.last().map(|j| j.created_at))
        .flatten();
    Ok(ApiJson(JobList { jobs, next_before }))
}

async fn upload(
    State(c): C,
    user: EndUser,
    ApiJsonText(upload): ApiJsonText<CodeUpload>,
) -> Result<ApiJson<CodeView>, ApiError> {
    Ok(ApiJson(c.upload(&user.0, upload).await?))
}

async fn uploads(State(c): C, user: EndUser) -> Result<ApiJson<CodeList>, ApiError> {
    Ok(ApiJson(CodeList {
        code: c.uploads(&user.0).await?,
    }))
}

/// Only the on-chain worker serves contracts' requests.
async fn fulfil(
    State(c): C,
    caller: Caller,
    ApiJson(r): ApiJson<neosl_api::onchain::FulfilRequest>,
) -> Result<ApiJson<neosl_api::onchain::FulfilAnswer>, ApiError> {
    if caller.service_id != "onchain" {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the on-chain worker fulfils contracts' requests",
        ));
    }
    Ok(ApiJson(c.fulfil(&r).await?))
}

async fn public_key(State(c): C) -> ApiJson<PublicKeyInfo> {
    let key = c.public_key().to_owned();
    let sha = hex::encode(neosl_crypto::hash::sha256(
        &hex::decode(&key).unwrap_or_default(),
    ));
    ApiJson(PublicKeyInfo {
        public_key: key,
        public_key_sha256: sha,
        signed_message: "ECDSA P-256 / SHA-256 over \"neosl-confidential-result|v1|\" || len(runtime) || runtime || SHA-256(code) || SHA-256(input) || secrets_hash || SHA-256(output); secrets_hash = SHA-256 over each granted name as len || name".into(),
    })
}
