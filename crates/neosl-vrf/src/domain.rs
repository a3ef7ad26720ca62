//! Proving, verifying and the record of requests.

use neosl_api::onchain::{FulfilAnswer, FulfilRequest};
use neosl_crypto::vrf::{self, random_words};
use neosl_crypto::{PublicKey, SecretKey};
use neosl_runtime::ErrorCode;
use neosl_runtime::clock::SharedClock;
use neosl_runtime::db::{Database, DbError, Migration};
use neosl_runtime::error::DomainError;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The VRF service's migrations.
pub const MIGRATIONS: &[Migration] = &[neosl_runtime::migration!(1, "vrf", "0001_vrf.sql")];

/// Largest seed, in bytes.
pub const MAX_SEED_BYTES: usize = 1024;
/// Most words per request.
pub const MAX_WORDS: u32 = 256;

/// Why a VRF request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VrfError {
    /// The seed is not hex.
    #[error("{0}")]
    InvalidSeed(String),
    /// The seed is longer than [`MAX_SEED_BYTES`].
    #[error("the seed is at most {MAX_SEED_BYTES} bytes")]
    SeedTooLarge,
    /// `num_words` outside 1 to [`MAX_WORDS`].
    #[error("num_words is 1 to {MAX_WORDS}")]
    InvalidNumWords,
    /// The proof is not hex, not 81 bytes, or malformed.
    #[error("{0}")]
    InvalidProof(String),
    /// The public key is not hex or not a P-256 point.
    #[error("{0}")]
    InvalidPublicKey(String),
    /// A list limit outside 1 to 1000.
    #[error("limit is 1 to 1000")]
    InvalidLimit,
    /// An on-chain request whose event the service cannot read.
    #[error("{0}")]
    InvalidEvent(String),
    /// The database failed (logged, not shown).
    #[error("database: {0}")]
    Database(String),
}

impl DomainError for VrfError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidSeed(_) => "invalid_seed",
            Self::SeedTooLarge => "seed_too_large",
            Self::InvalidNumWords => "invalid_num_words",
            Self::InvalidProof(_) => "invalid_proof",
            Self::InvalidPublicKey(_) => "invalid_public_key",
            Self::InvalidLimit => "invalid_limit",
            Self::InvalidEvent(_) => "invalid_event",
            Self::Database(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::Database(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl From<DbError> for VrfError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::Error> for VrfError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
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

/// A recorded request, as its owner lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The request id.
    pub request_id: String,
    /// The seed (hex).
    pub seed: String,
    /// How many words were asked.
    pub num_words: i64,
    /// The proof (hex).
    pub proof: String,
    /// β (hex).
    pub output: String,
    /// The public key that proved it (hex).
    pub public_key: String,
    /// When (Unix ms).
    pub timestamp: i64,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Verification {
    /// Whether the proof (and the words, when given) verify.
    pub valid: bool,
    /// β, when the proof verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Hex (with or without `0x`) to bytes; `what` names the field in the message.
pub fn parse_hex(value: &str, what: &str) -> Result<Vec<u8>, String> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.len() % 2 == 1 {
        return Err(format!("{what} has an odd number of hex digits"));
    }
    hex::decode(digits).map_err(|_| format!("{what} is not hex"))
}

fn parse_seed(seed_hex: &str) -> Result<Vec<u8>, VrfError> {
    let seed = parse_hex(seed_hex, "seed").map_err(VrfError::InvalidSeed)?;
    if seed.len() > MAX_SEED_BYTES {
        return Err(VrfError::SeedTooLarge);
    }
    Ok(seed)
}

/// The VRF service.
pub struct VrfService {
    db: Database,
    key: SecretKey,
    public: PublicKey,
    fulfilment: SecretKey,
    clock: SharedClock,
}

impl std::fmt::Debug for VrfService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VrfService")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl VrfService {
    /// Opens the service with its key.
    pub async fn open(db: Database, key: SecretKey, clock: SharedClock) -> Result<Self, VrfError> {
        db.migrate("vrf", MIGRATIONS).await?;
        let public = key.public_key();
        let fulfilment =
            Self::fulfilment_key(&key).map_err(|e| VrfError::Database(e.to_string()))?;
        Ok(Self {
            db,
            key,
            public,
            fulfilment,
            clock,
        })
    }

    /// The key that signs fulfilments for contracts: derived from the VRF key (HKDF, info
    /// `vrf-fulfilment`), so that the VRF scalar itself signs nothing but VRF proofs.
    pub fn fulfilment_key(vrf_key: &SecretKey) -> Result<SecretKey, neosl_crypto::CryptoError> {
        let master = neosl_crypto::MasterKey::new(neosl_crypto::SecretBytes::from_slice(
            vrf_key.to_bytes().as_slice(),
        ))?;
        neosl_crypto::kdf::derive_signing_key(&master, b"vrf", "vrf-fulfilment")
    }

    /// Serves request `request.request_id` of a contract: proves the on-chain input its
    /// `VRFRequest` event fixed, answers the words and the proof as the callback's result,
    /// signed for the gateway contract, and records it under the requesting contract.
    pub async fn fulfil(&self, request: &FulfilRequest) -> Result<FulfilAnswer, VrfError> {
        let event = request
            .event
            .as_ref()
            .ok_or_else(|| VrfError::InvalidEvent("the VRFRequest event is missing".into()))?;
        let state = neosl_neo::param::StackItem::from_json(event)
            .map_err(|e| VrfError::InvalidEvent(e.to_string()))?;
        let fields = state
            .as_array()
            .filter(|f| f.len() == 5)
            .ok_or_else(|| VrfError::InvalidEvent("VRFRequest has five arguments".into()))?;
        let id = fields[0].as_integer().and_then(|n| u64::try_from(n).ok());
        if id != Some(request.request_id) {
            return Err(VrfError::InvalidEvent(
                "the event is for another request".into(),
            ));
        }
        let num_words = fields[3]
            .as_integer()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=MAX_WORDS).contains(n))
            .ok_or(VrfError::InvalidNumWords)?;
        let alpha = fields[4]
            .as_bytes()
            .filter(|a| a.len() <= MAX_SEED_BYTES)
            .ok_or_else(|| VrfError::InvalidEvent("alpha is not bytes".into()))?;
        let gateway = neosl_neo::UInt160::parse_display(&request.gateway)
            .map_err(|e| VrfError::InvalidEvent(format!("gateway: {e}")))?;
        let proof = vrf::prove(&self.key, &alpha);
        let beta = vrf::proof_to_hash(&proof).map_err(|e| VrfError::Database(e.to_string()))?;
        let words = random_words(&beta, num_words);
        let result = neosl_contracts::vrf::VrfResult {
            words: words.clone(),
            proof: proof.to_vec(),
        }
        .to_bytes()
        .map_err(|e| VrfError::InvalidEvent(e.to_string()))?;
        let message = neosl_contracts::gateway::fulfilment_message(
            request.network,
            &gateway,
            request.request_id,
            true,
            &result,
        );
        let signature = self
            .fulfilment
            .sign(&message)
            .map_err(|e| VrfError::Database(e.to_string()))?;
        sqlx::query(
            "INSERT INTO vrf_requests (id, user_id, seed, num_words, proof, beta, public_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(format!("chain:{}:{}", request.gateway, request.request_id))
        .bind(format!("contract:{}", request.requester))
        .bind(hex::encode(&alpha))
        .bind(i64::from(num_words))
        .bind(hex::encode(proof))
        .bind(hex::encode(beta))
        .bind(self.public.to_string())
        .bind(self.clock.now_millis())
        .execute(self.db.pool())
        .await?;
        Ok(FulfilAnswer {
            success: true,
            result: hex::encode(result),
            signature: hex::encode(signature.to_bytes()),
        })
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
    ) -> Result<RandomResult, VrfError> {
        let seed = parse_seed(seed_hex)?;
        if !(1..=MAX_WORDS).contains(&num_words) {
            return Err(VrfError::InvalidNumWords);
        }
        let proof = vrf::prove(&self.key, &seed);
        let beta = vrf::proof_to_hash(&proof).map_err(|e| VrfError::Database(e.to_string()))?;
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
            timestamp: self.clock.now_millis(),
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
        .await?;
        Ok(result)
    }

    /// Checks `proof` for `seed_hex` under `public_key_hex` (default: this service's key) and,
    /// when given, that `words` are the words it yields.
    pub fn verify(
        &self,
        seed_hex: &str,
        proof_hex: &str,
        public_key_hex: Option<&str>,
        words: Option<&[String]>,
    ) -> Result<Verification, VrfError> {
        let seed = parse_seed(seed_hex)?;
        let proof = parse_hex(proof_hex, "proof").map_err(VrfError::InvalidProof)?;
        if proof.len() != vrf::PROOF_LEN {
            return Err(VrfError::InvalidProof(format!(
                "a proof is {} bytes",
                vrf::PROOF_LEN
            )));
        }
        let key = match public_key_hex {
            Some(k) => PublicKey::from_slice(
                &parse_hex(k, "public_key").map_err(VrfError::InvalidPublicKey)?,
            )
            .map_err(|_| VrfError::InvalidPublicKey("public_key is not a P-256 point".into()))?,
            None => self.public,
        };
        let Some(beta) = vrf::verify(&key, &seed, &proof)
            .map_err(|_| VrfError::InvalidProof("the proof is malformed".into()))?
        else {
            return Ok(Verification {
                valid: false,
                output: None,
            });
        };
        let valid = match words {
            None => true,
            Some(words) => {
                if words.len() > MAX_WORDS as usize {
                    return Err(VrfError::InvalidNumWords);
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
        Ok(Verification {
            valid,
            output: Some(hex::encode(beta)),
        })
    }

    /// The user's requests, newest first (`limit` 1 to 1000).
    pub async fn requests(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<RecordedRequest>, VrfError> {
        if !(1..=1000).contains(&limit) {
            return Err(VrfError::InvalidLimit);
        }
        let rows = sqlx::query(
            "SELECT id, seed, num_words, proof, beta, public_key, created_at FROM vrf_requests WHERE user_id = $1 \
             ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| -> Result<RecordedRequest, sqlx::Error> {
                Ok(RecordedRequest {
                    request_id: r.try_get(0)?,
                    seed: r.try_get(1)?,
                    num_words: r.try_get(2)?,
                    proof: r.try_get(3)?,
                    output: r.try_get(4)?,
                    public_key: r.try_get(5)?,
                    timestamp: r.try_get(6)?,
                })
            })
            .collect::<Result<_, _>>()?)
    }
}
