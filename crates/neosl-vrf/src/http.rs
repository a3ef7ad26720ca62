//! The VRF routes (under `/vrf/`), reached through the gateway.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use neosl_runtime::error::{ApiJson, ApiQuery};
use neosl_runtime::identity::Caller;
use neosl_runtime::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::domain::{RandomResult, RecordedRequest, Verification, VrfService};

pub use neosl_runtime::identity::{EndUser, USER_HEADER};

#[derive(Deserialize)]
struct RandomRequest {
    seed: String,
    num_words: u32,
}

#[derive(Deserialize)]
struct VerifyRequest {
    seed: String,
    proof: String,
    #[serde(default)]
    random_words: Option<Vec<String>>,
    #[serde(default)]
    public_key: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

/// `GET /vrf/public-key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicKeyInfo {
    /// The compressed public key (hex).
    pub public_key: String,
    /// Its SHA-256 (hex), as `/attestation` publishes it.
    pub public_key_sha256: String,
    /// The ciphersuite.
    pub suite: String,
    /// How the words follow from the proof.
    pub word_derivation: String,
}

/// `GET /vrf/requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestList {
    /// Newest first.
    pub requests: Vec<RecordedRequest>,
}

type Vrf = State<Arc<VrfService>>;

/// The routes (under `/vrf/`).
pub fn router(service: Arc<VrfService>) -> Router {
    Router::new()
        .route("/vrf/random", post(random))
        .route("/vrf/verify", post(verify))
        .route("/vrf/public-key", get(public_key))
        .route("/vrf/requests", get(requests))
        .route("/vrf/fulfil", post(fulfil))
        .with_state(service)
}

async fn random(
    State(vrf): Vrf,
    user: EndUser,
    ApiJson(r): ApiJson<RandomRequest>,
) -> Result<ApiJson<RandomResult>, ApiError> {
    Ok(ApiJson(vrf.random(&user.0, &r.seed, r.num_words).await?))
}

async fn verify(
    State(vrf): Vrf,
    ApiJson(r): ApiJson<VerifyRequest>,
) -> Result<ApiJson<Verification>, ApiError> {
    Ok(ApiJson(vrf.verify(
        &r.seed,
        &r.proof,
        r.public_key.as_deref(),
        r.random_words.as_deref(),
    )?))
}

/// Only the on-chain worker serves contracts' requests.
async fn fulfil(
    State(vrf): Vrf,
    caller: Caller,
    ApiJson(r): ApiJson<neosl_api::onchain::FulfilRequest>,
) -> Result<ApiJson<neosl_api::onchain::FulfilAnswer>, ApiError> {
    if caller.service_id != "onchain" {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the on-chain worker fulfils contracts' requests",
        ));
    }
    Ok(ApiJson(vrf.fulfil(&r).await?))
}

async fn public_key(State(vrf): Vrf) -> ApiJson<PublicKeyInfo> {
    let bytes = vrf.public_key().to_compressed();
    ApiJson(PublicKeyInfo {
        public_key: hex::encode(bytes),
        public_key_sha256: hex::encode(neosl_crypto::hash::sha256(&bytes)),
        suite: "ECVRF-P256-SHA256-TAI".into(),
        word_derivation:
            "word[i] = SHA-256(beta || i as 4 bytes big-endian), beta = ECVRF_proof_to_hash(proof)"
                .into(),
    })
}

async fn requests(
    State(vrf): Vrf,
    user: EndUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<RequestList>, ApiError> {
    Ok(ApiJson(RequestList {
        requests: vrf.requests(&user.0, q.limit.unwrap_or(50)).await?,
    }))
}
