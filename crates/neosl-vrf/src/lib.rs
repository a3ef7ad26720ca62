//! The VRF service: verifiable randomness by RFC 9381 (ECVRF-P256-SHA256-TAI).
//!
//! `POST /vrf/random {seed, num_words}` proves the seed (hex bytes, the VRF input α) with the
//! service key (the injected secret `VRF_PRIVATE_KEY`, used directly) and answers the proof π,
//! the public key and `num_words` random words, where word *i* = SHA-256(β ‖ *i* as 4 bytes
//! big-endian) and β = ECVRF_proof_to_hash(π). Anyone can recompute and check everything with
//! the public key alone (`neosl vrf-verify`, or [`neosl_crypto::vrf::verify_random_words`]).
//!
//! The service is reached through the gateway, which authenticates the user, charges the fee and
//! passes the user id in `X-User-ID`; only the gateway may name a user.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use neosl_crypto::vrf::{self, random_words};
use neosl_crypto::{PublicKey, SecretKey};
use neosl_runtime::db::{Database, DbError, Migration, now_millis};
use neosl_runtime::error::{ApiJson, ApiQuery};
use neosl_runtime::identity::Caller;
use neosl_runtime::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;

/// The VRF service's migrations.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "vrf",
    sqlite: include_str!("../migrations/sqlite/0001_vrf.sql"),
    postgres: include_str!("../migrations/postgres/0001_vrf.sql"),
}];

/// Largest seed, in bytes.
pub const MAX_SEED_BYTES: usize = 1024;
/// Most words per request.
pub const MAX_WORDS: u32 = 256;
/// The header through which the gateway names the end user.
pub const USER_HEADER: &str = "x-user-id";

/// The VRF service.
pub struct VrfService {
    db: Database,
    key: SecretKey,
    public: PublicKey,
}

impl std::fmt::Debug for VrfService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VrfService")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The answer to `/vrf/random`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RandomResult {
    /// The request id.
    pub request_id: String,
    /// The seed (hex).
    pub seed: String,
    /// The words (hex, 32 bytes each).
    pub random_words: Vec<String>,
    /// The proof π (hex, 81 bytes).
    pub proof: String,
    /// β = proof_to_hash(π) (hex).
    pub output: String,
    /// The service's public key (hex, compressed).
    pub public_key: String,
    /// When (Unix ms).
    pub timestamp: i64,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::detailed(ErrorCode::InvalidRequest, code, message)
}

fn parse_hex(value: &str, code: &'static str, what: &str) -> Result<Vec<u8>, ApiError> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.len() % 2 == 1 {
        return Err(bad(code, format!("{what} has an odd number of hex digits")));
    }
    hex::decode(digits).map_err(|_| bad(code, format!("{what} is not hex")))
}

impl VrfService {
    /// Opens the service with its key.
    pub async fn open(db: Database, key: SecretKey) -> Result<Self, DbError> {
        db.migrate("vrf", MIGRATIONS).await?;
        let public = key.public_key();
        Ok(Self { db, key, public })
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Proves `seed_hex` for `user_id` and records the request.
    pub async fn random(
        &self,
        user_id: &str,
        seed_hex: &str,
        num_words: u32,
    ) -> Result<RandomResult, ApiError> {
        let seed = parse_hex(seed_hex, "invalid_seed", "seed")?;
        if seed.len() > MAX_SEED_BYTES {
            return Err(bad(
                "seed_too_large",
                format!("the seed is at most {MAX_SEED_BYTES} bytes"),
            ));
        }
        if !(1..=MAX_WORDS).contains(&num_words) {
            return Err(bad(
                "invalid_num_words",
                format!("num_words is 1 to {MAX_WORDS}"),
            ));
        }
        let proof = vrf::prove(&self.key, &seed);
        let beta = vrf::proof_to_hash(&proof).map_err(ApiError::internal)?;
        let result = RandomResult {
            request_id: uuid::Uuid::new_v4().to_string(),
            seed: hex::encode(&seed),
            random_words: random_words(&beta, num_words)
                .iter()
                .map(hex::encode)
                .collect(),
            proof: hex::encode(proof),
            output: hex::encode(beta),
            public_key: self.public.to_string(),
            timestamp: now_millis(),
        };
        sqlx::query(
            "INSERT INTO vrf_requests (id, user_id, seed, num_words, proof, beta, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&result.request_id)
        .bind(user_id)
        .bind(&result.seed)
        .bind(num_words as i64)
        .bind(&result.proof)
        .bind(&result.output)
        .bind(&result.public_key)
        .bind(result.timestamp)
        .execute(self.db.pool())
        .await
        .map_err(ApiError::internal)?;
        Ok(result)
    }

    /// The user's requests, newest first.
    pub async fn requests(&self, user_id: &str, limit: i64) -> Result<Vec<Value>, ApiError> {
        let rows = sqlx::query(
            "SELECT id, seed, num_words, proof, beta, public_key, created_at FROM vrf_requests WHERE user_id = $1 \
             ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(user_id)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.db.pool())
        .await
        .map_err(ApiError::internal)?;
        rows.iter()
            .map(|r| -> Result<Value, sqlx::Error> {
                Ok(json!({
                    "request_id": r.try_get::<String, _>(0)?, "seed": r.try_get::<String, _>(1)?,
                    "num_words": r.try_get::<i64, _>(2)?, "proof": r.try_get::<String, _>(3)?,
                    "output": r.try_get::<String, _>(4)?, "public_key": r.try_get::<String, _>(5)?,
                    "timestamp": r.try_get::<i64, _>(6)?,
                }))
            })
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)
    }
}

/// The end user a request is for: named by the gateway (and only the gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EndUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.service_id != "gateway" {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "the VRF service is reached through the gateway",
            ));
        }
        let user = parts
            .headers
            .get(USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|u| !u.is_empty() && u.len() <= 128)
            .ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthenticated, "the gateway must name the user")
            })?;
        Ok(Self(user.to_owned()))
    }
}

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

type Vrf = State<Arc<VrfService>>;

/// The routes (under `/vrf/`).
pub fn router(service: Arc<VrfService>) -> Router {
    Router::new()
        .route("/vrf/random", post(random))
        .route("/vrf/verify", post(verify))
        .route("/vrf/public-key", get(public_key))
        .route("/vrf/requests", get(requests))
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
) -> Result<ApiJson<Value>, ApiError> {
    let seed = parse_hex(&r.seed, "invalid_seed", "seed")?;
    if seed.len() > MAX_SEED_BYTES {
        return Err(bad(
            "seed_too_large",
            format!("the seed is at most {MAX_SEED_BYTES} bytes"),
        ));
    }
    let proof = parse_hex(&r.proof, "invalid_proof", "proof")?;
    if proof.len() != vrf::PROOF_LEN {
        return Err(bad(
            "invalid_proof",
            format!("a proof is {} bytes", vrf::PROOF_LEN),
        ));
    }
    let key = match &r.public_key {
        Some(k) => PublicKey::from_slice(&parse_hex(k, "invalid_public_key", "public_key")?)
            .map_err(|_| bad("invalid_public_key", "public_key is not a P-256 point"))?,
        None => vrf.public,
    };
    let Some(beta) = vrf::verify(&key, &seed, &proof)
        .map_err(|_| bad("invalid_proof", "the proof is malformed"))?
    else {
        return Ok(ApiJson(json!({ "valid": false })));
    };
    let valid = match &r.random_words {
        None => true,
        Some(words) => {
            if words.len() > MAX_WORDS as usize {
                return Err(bad(
                    "invalid_num_words",
                    format!("at most {MAX_WORDS} words"),
                ));
            }
            let expected: Vec<String> = random_words(&beta, words.len() as u32)
                .iter()
                .map(hex::encode)
                .collect();
            expected
                == words
                    .iter()
                    .map(|w| w.trim_start_matches("0x").to_ascii_lowercase())
                    .collect::<Vec<_>>()
        }
    };
    Ok(ApiJson(
        json!({ "valid": valid, "output": hex::encode(beta) }),
    ))
}

async fn public_key(State(vrf): Vrf) -> ApiJson<Value> {
    let bytes = vrf.public.to_compressed();
    ApiJson(json!({
        "public_key": hex::encode(bytes),
        "public_key_sha256": hex::encode(neosl_crypto::hash::sha256(&bytes)),
        "suite": "ECVRF-P256-SHA256-TAI",
        "word_derivation": "word[i] = SHA-256(beta || i as 4 bytes big-endian), beta = ECVRF_proof_to_hash(proof)",
    }))
}

async fn requests(
    State(vrf): Vrf,
    user: EndUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(bad("invalid_limit", "limit is 1 to 1000"));
    }
    Ok(ApiJson(
        json!({ "requests": vrf.requests(&user.0, limit).await? }),
    ))
}
