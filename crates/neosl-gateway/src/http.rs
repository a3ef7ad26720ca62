//! The gateway's routes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use neosl_crypto::SecretBytes;
use neosl_gasbank::deposits::Deposits;
use neosl_gasbank::withdrawals::Withdrawals;
use neosl_gasbank::{FeeSchedule, GasBank, GasBankError, Owner};
use neosl_neo::{Address, PublicKey, Signature, UInt160};
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::db::now_millis;
use neosl_runtime::error::{ApiJson, ApiQuery, unix_seconds};
use neosl_runtime::{ApiError, ErrorCode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::auth::{self, Claims};
use crate::guard::{Client, PasswordGate, Scopes, check_password, normalise_email};
use crate::limit::{Limiter, Rate, RateLimits};
use crate::store::{GatewayStore, NewApiKey, Refresh};

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Session (refresh token) lifetime.
    pub session_ttl: Duration,
    /// Rate limits.
    pub limits: RateLimits,
    /// The fee schedule.
    pub fees: FeeSchedule,
    /// Password hashes at once (default: the cores).
    pub password_hash_concurrency: usize,
    /// Password checks allowed to wait (default 32); beyond, `503 auth_busy`.
    pub password_hash_queue: usize,
    /// Live API keys per user (default 25).
    pub max_api_keys: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            limits: RateLimits::default(),
            fees: FeeSchedule::default(),
            password_hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            password_hash_queue: 32,
            max_api_keys: 25,
        }
    }
}

impl GatewayConfig {
    /// The defaults with the overrides of `settings`; unknown names and impossible values are
    /// refused so a typo in the file cannot silently leave a default in place.
    pub fn from_settings(
        settings: &neosl_runtime::config::GatewaySettings,
    ) -> Result<Self, String> {
        let mut config = Self::default();
        for (name, setting) in &settings.rate_limits {
            if !(setting.per_second.is_finite() && setting.per_second > 0.0) || setting.burst == 0 {
                return Err(format!(
                    "gateway.rate_limits.{name}: per_second must be > 0 and burst >= 1"
                ));
            }
            let rate = Rate {
                per_second: setting.per_second,
                burst: setting.burst,
            };
            match name.as_str() {
                "auth" => config.limits.auth = rate,
                "auth_client" => config.limits.auth_client = rate,
                "api" => config.limits.api = rate,
                "money" => config.limits.money = rate,
                route if route.starts_with('/') => {
                    config.limits.routes.insert(route.to_owned(), rate);
                }
                other => {
                    return Err(format!(
                        "gateway.rate_limits: unknown class {other:?} (auth, auth_client, api, money, or a route such as \"/vrf/random\")"
                    ));
                }
            }
        }
        for (name, &fee) in &settings.fees {
            if fee < 0 {
                return Err(format!("gateway.fees.{name}: must not be negative"));
            }
            let slot = match name.as_str() {
                "vrf" => &mut config.fees.vrf,
                "automation" => &mut config.fees.automation,
                "datafeeds" => &mut config.fees.datafeeds,
                "mixer_base" => &mut config.fees.mixer_base,
                "mixer_basis_points" if fee <= 10_000 => &mut config.fees.mixer_basis_points,
                "mixer_basis_points" => {
                    return Err("gateway.fees.mixer_basis_points: at most 10000 (100 %)".into());
                }
                "confidential" => &mut config.fees.confidential,
                other => return Err(format!("gateway.fees: unknown service {other:?}")),
            };
            *slot = fee;
        }
        if let Some(n) = settings.password_hash_concurrency {
            if n == 0 {
                return Err("gateway.password_hash_concurrency: at least 1".into());
            }
            config.password_hash_concurrency = n;
        }
        if let Some(n) = settings.password_hash_queue {
            config.password_hash_queue = n;
        }
        if let Some(n) = settings.max_api_keys {
            config.max_api_keys = n;
        }
        Ok(config)
    }
}

/// The gateway's state.
pub struct Gateway {
    store: GatewayStore,
    bank: GasBank,
    jwt_key: SecretBytes,
    config: GatewayConfig,
    limiter: Limiter,
    passwords: PasswordGate,
    deposits: Option<Deposits>,
    withdrawals: Option<Withdrawals>,
    vrf: Option<ServiceTransport>,
    admin_token_hash: Option<[u8; 32]>,
    chain: Option<neosl_chain::RpcClient>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over its store and the GasBank, signing tokens with `jwt_key` (≥ 32 bytes).
    pub fn new(
        store: GatewayStore,
        bank: GasBank,
        jwt_key: SecretBytes,
        config: GatewayConfig,
    ) -> Self {
        Self {
            store,
            bank,
            jwt_key,
            passwords: PasswordGate::new(
                config.password_hash_concurrency,
                config.password_hash_queue,
            ),
            config,
            limiter: Limiter::default(),
            deposits: None,
            withdrawals: None,
            vrf: None,
            admin_token_hash: None,
            chain: None,
        }
    }

    /// Enables the operator endpoints, authorized by `X-Admin-Token`: `hash` is the SHA-256 of
    /// the injected secret `GATEWAY_ADMIN_TOKEN` (the token itself is never kept).
    pub fn with_admin_token_hash(mut self, hash: [u8; 32]) -> Self {
        self.admin_token_hash = Some(hash);
        self
    }

    /// The chain, for checking deposits an operator credits by hand.
    pub fn with_chain(mut self, rpc: neosl_chain::RpcClient) -> Self {
        self.chain = Some(rpc);
        self
    }

    /// Routes `/vrf/...` to the VRF service.
    pub fn with_vrf(mut self, transport: ServiceTransport) -> Self {
        self.vrf = Some(transport);
        self
    }

    /// Enables deposit addresses (they need the GasBank master key).
    pub fn with_deposits(mut self, deposits: Deposits) -> Self {
        self.deposits = Some(deposits);
        self
    }

    /// Enables withdrawals (they need the chain).
    pub fn with_withdrawals(mut self, withdrawals: Withdrawals) -> Self {
        self.withdrawals = Some(withdrawals);
        self
    }

    fn limit(&self, key: &str, rate: Rate) -> Result<(), GwError> {
        Ok(self
            .limiter
            .check(key, rate)
            .map_err(ApiError::rate_limited)?)
    }

    /// Charges the client's authentication bucket (every sign-in request, whatever identity).
    fn limit_auth_client(&self, client: &Client) -> Result<(), GwError> {
        self.limit(
            &format!("auth-client:{}", client.key()),
            self.config.limits.auth_client,
        )
    }

    /// The failure bucket of `identity` from `client`: refused before any check once a client
    /// has failed too often for that identity; other clients are not affected.
    fn failures_key(identity: &str, client: &Client) -> String {
        format!("auth-fail:{identity}:{}", client.key())
    }

    fn check_failures(&self, key: &str) -> Result<(), GwError> {
        Ok(self
            .limiter
            .peek_at(key, self.config.limits.auth, std::time::Instant::now())
            .map_err(ApiError::rate_limited)?)
    }

    fn record_failure(&self, key: &str) {
        let _ = self.limiter.check(key, self.config.limits.auth);
    }
}

/// A gateway error: an [`ApiError`] (with its `Retry-After`, if any), converted from the
/// domain errors the gateway calls into.
#[derive(Debug)]
pub enum GwError {
    /// Any API error.
    Api(ApiError),
}

impl From<ApiError> for GwError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<sqlx::Error> for GwError {
    fn from(e: sqlx::Error) -> Self {
        Self::Api(ApiError::internal(e))
    }
}

impl From<GasBankError> for GwError {
    fn from(e: GasBankError) -> Self {
        let (code, detail) = match &e {
            GasBankError::InvalidAmount => (ErrorCode::InvalidRequest, "invalid_amount"),
            GasBankError::InvalidReference => (ErrorCode::InvalidRequest, "invalid_reference"),
            GasBankError::SelfSponsorship => (ErrorCode::InvalidRequest, "self_sponsorship"),
            GasBankError::InsufficientBalance { .. } => {
                (ErrorCode::Conflict, "insufficient_balance")
            }
            GasBankError::UnknownReservation(_) => (ErrorCode::NotFound, "unknown_reservation"),
            GasBankError::ReservationSettled { .. } => (ErrorCode::Conflict, "reservation_settled"),
            GasBankError::ReferenceConflict(_) => (ErrorCode::Conflict, "reference_conflict"),
            GasBankError::Database(_) => return Self::Api(ApiError::internal(e)),
        };
        Self::Api(ApiError::detailed(code, detail, e.to_string()))
    }
}

impl IntoResponse for GwError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
        }
    }
}

/// The success envelope.
#[derive(Debug)]
pub struct Envelope<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({ "success": true, "data": self.1, "timestamp": unix_seconds() })),
        )
            .into_response()
    }
}

fn ok<T>(data: T) -> Result<Envelope<T>, GwError> {
    Ok(Envelope(StatusCode::OK, data))
}

type Gw = State<Arc<Gateway>>;

/// Who is calling: a user, through a session token or one of their API keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: String,
    /// The session, when authenticated by an access token.
    pub session_id: Option<String>,
    /// The API key, when authenticated by one.
    pub api_key_id: Option<String>,
}

impl Principal {
    /// Limits are per user, across every session and API key of theirs (twenty keys do not
    /// give twenty times the limit).
    fn bucket(&self, class: &str) -> String {
        format!("{class}:user:{}", self.user_id)
    }

    /// Key management needs a signed-in session: a key must not mint or revoke keys.
    fn require_session(&self) -> Result<(), GwError> {
        if self.api_key_id.is_some() {
            return Err(ApiError::detailed(
                ErrorCode::Forbidden,
                "session_required",
                "API keys are managed with a signed-in session, not with an API key",
            )
            .into());
        }
        Ok(())
    }
}

impl FromRequestParts<Arc<Gateway>> for Principal {
    type Rejection = GwError;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let unauthenticated = |m: &str| {
            GwError::Api(ApiError::detailed(
                ErrorCode::Unauthenticated,
                "invalid_token",
                m,
            ))
        };
        let now = now_millis();
        let principal = if let Some(key) = parts.headers.get("x-api-key") {
            let key = key
                .to_str()
                .map_err(|_| unauthenticated("X-API-Key is not text"))?;
            let owner = gw
                .store
                .api_key_owner(&auth::secret_hash(key), now)
                .await?
                .ok_or_else(|| unauthenticated("unknown or revoked API key"))?;
            let path = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| parts.uri.path().to_owned());
            // Key management answers `session_required` to any key (in its handlers).
            if !path.starts_with("/api/v1/api-keys")
                && !Scopes::from_stored(&owner.scopes).allow(&parts.method, &path)
            {
                return Err(ApiError::detailed(
                    ErrorCode::Forbidden,
                    "scope_denied",
                    "this API key's scopes do not allow this request",
                )
                .into());
            }
            Self {
                user_id: owner.user_id,
                session_id: None,
                api_key_id: Some(owner.key_id),
            }
        } else {
            let value = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    GwError::Api(ApiError::new(
                        ErrorCode::Unauthenticated,
                        "an access token or an API key is required",
                    ))
                })?;
            let token = value
                .strip_prefix("Bearer ")
                .ok_or_else(|| unauthenticated("use Authorization: Bearer <token>"))?;
            let claims = auth::verify_jwt(&gw.jwt_key, token, now / 1000)
                .ok_or_else(|| unauthenticated("invalid or expired token"))?;
            if !gw.store.session_live(&claims.sid, &claims.sub, now).await? {
                return Err(unauthenticated("the session has ended"));
            }
            Self {
                user_id: claims.sub,
                session_id: Some(claims.sid),
                api_key_id: None,
            }
        };
        gw.limit(&principal.bucket("api"), gw.config.limits.api)?;
        if let Some(route) = parts.extensions.get::<axum::extract::MatchedPath>()
            && let Some(rate) = gw.config.limits.routes.get(route.as_str())
        {
            gw.limit(
                &principal.bucket(&format!("route:{}", route.as_str())),
                *rate,
            )?;
        }
        Ok(principal)
    }
}

/// The gateway's routes (the runtime skeleton adds `/health`, `/attestation`, …).
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/wallet/nonce", post(wallet_nonce))
        .route("/api/v1/auth/wallet/login", post(wallet_login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/api-keys", get(list_keys).post(create_key))
        .route("/api/v1/api-keys/{id}", delete(revoke_key))
        .route("/api/v1/gasbank/balance", get(balance))
        .route("/api/v1/gasbank/transactions", get(transactions))
        .route("/api/v1/gasbank/pay-contract", post(pay_contract))
        .route("/api/v1/gasbank/pay-user", post(pay_user))
        .route("/api/v1/gasbank/fees", get(fees))
        .route("/api/v1/gasbank/deposit-address", get(deposit_address))
        .route("/api/v1/gasbank/withdraw", post(withdraw))
        .route("/api/v1/admin/deposits", post(admin_credit_deposit))
        .route("/vrf/public-key", get(vrf_public))
        .route("/vrf/verify", post(vrf_public))
        .route("/vrf/random", post(vrf_paid))
        .route("/vrf/requests", get(vrf_user))
        .route("/mixer/{*rest}", any(not_deployed))
        .route("/datafeeds/{*rest}", any(not_deployed))
        .route("/automation/{*rest}", any(not_deployed))
        .route("/confidential/{*rest}", any(not_deployed))
        .with_state(gateway)
}

/// The public prefix of a service that this platform build does not run yet: a clear 503
/// rather than a 404 that reads like a typo.
async fn not_deployed(uri: axum::http::Uri) -> GwError {
    let service = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    ApiError::detailed(
        ErrorCode::Unavailable,
        "service_not_deployed",
        format!("the {service} service is not deployed on this gateway"),
    )
    .into()
}

#[derive(Serialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    user_id: String,
}

async fn issue(gw: &Gateway, user_id: &str) -> Result<Tokens, GwError> {
    let now = now_millis();
    let refresh = auth::new_secret("nsr_");
    let session = gw
        .store
        .create_session(
            user_id,
            &auth::secret_hash(&refresh),
            now,
            now + gw.config.session_ttl.as_millis() as i64,
        )
        .await?;
    Ok(tokens(gw, user_id, &session, refresh.to_string()))
}

fn tokens(gw: &Gateway, user_id: &str, session: &str, refresh: String) -> Tokens {
    let now = unix_seconds() as i64;
    let claims = Claims {
        sub: user_id.to_owned(),
        sid: session.to_owned(),
        iat: now,
        exp: now + gw.config.access_ttl.as_secs() as i64,
        iss: "neosl".into(),
    };
    Tokens {
        access_token: auth::sign_jwt(&gw.jwt_key, &claims),
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: gw.config.access_ttl.as_secs(),
        user_id: user_id.to_owned(),
    }
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

async fn register(
    State(gw): Gw,
    client: Client,
    ApiJson(c): ApiJson<Credentials>,
) -> Result<Envelope<Tokens>, GwError> {
    let email = normalise_email(&c.email)?;
    check_password(&c.password)?;
    gw.limit_auth_client(&client)?;
    let password = zeroize::Zeroizing::new(c.password);
    let hash = gw
        .passwords
        .run(move |memory| auth::hash_password(&password, memory))
        .await?
        .ok_or_else(|| ApiError::internal("password hashing failed"))?;
    let user = gw
        .store
        .create_password_user(&email, &hash, now_millis())
        .await?
        .ok_or_else(|| {
            ApiError::detailed(
                ErrorCode::Conflict,
                "email_taken",
                "this e-mail is already registered",
            )
        })?;
    Ok(Envelope(StatusCode::CREATED, issue(&gw, &user.id).await?))
}

async fn login(
    State(gw): Gw,
    client: Client,
    ApiJson(c): ApiJson<Credentials>,
) -> Result<Envelope<Tokens>, GwError> {
    let email = normalise_email(&c.email)?;
    gw.limit_auth_client(&client)?;
    let failures = Gateway::failures_key(&email, &client);
    gw.check_failures(&failures)?;
    if c.password.chars().count() > 256 {
        // No password is that long (registration refuses it): a failure, without the hash.
        gw.record_failure(&failures);
        return Err(ApiError::detailed(
            ErrorCode::Unauthenticated,
            "invalid_credentials",
            "wrong e-mail or password",
        )
        .into());
    }
    let found = gw.store.user_by_email(&email).await?;
    let stored = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| auth::dummy_password_hash().to_owned());
    let password = zeroize::Zeroizing::new(c.password);
    let valid = gw
        .passwords
        .run(move |memory| auth::verify_password(&password, &stored, memory))
        .await?;
    match found {
        Some((user, _)) if valid => ok(issue(&gw, &user.id).await?),
        _ => {
            gw.record_failure(&failures);
            Err(ApiError::detailed(
                ErrorCode::Unauthenticated,
                "invalid_credentials",
                "wrong e-mail or password",
            )
            .into())
        }
    }
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(gw): Gw,
    client: Client,
    ApiJson(r): ApiJson<RefreshRequest>,
) -> Result<Envelope<Tokens>, GwError> {
    gw.limit_auth_client(&client)?;
    let new = auth::new_secret("nsr_");
    let outcome = gw
        .store
        .rotate_refresh(
            &auth::secret_hash(&r.refresh_token),
            &auth::secret_hash(&new),
            now_millis(),
        )
        .await?;
    match outcome {
        Refresh::Rotated(session, user) => ok(tokens(&gw, &user, &session, new.to_string())),
        Refresh::Reused => {
            tracing::warn!("a rotated refresh token was presented again; its session is revoked");
            Err(ApiError::detailed(
                ErrorCode::Unauthenticated,
                "refresh_token_reused",
                "this refresh token was already used; the session is ended, sign in again",
            )
            .into())
        }
        Refresh::Unknown => Err(ApiError::detailed(
            ErrorCode::Unauthenticated,
            "invalid_token",
            "unknown, used or revoked refresh token",
        )
        .into()),
    }
}

async fn logout(State(gw): Gw, p: Principal) -> Result<Envelope<Value>, GwError> {
    let session = p.session_id.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "log out with the session's access token, not an API key",
        )
    })?;
    gw.store.revoke_session(&session, now_millis()).await?;
    ok(json!({ "logged_out": true }))
}

#[derive(Deserialize)]
struct NonceRequest {
    address: String,
}

async fn wallet_nonce(
    State(gw): Gw,
    client: Client,
    ApiJson(r): ApiJson<NonceRequest>,
) -> Result<Envelope<Value>, GwError> {
    let address = Address::parse(&r.address)
        .map_err(|e| {
            ApiError::detailed(ErrorCode::InvalidRequest, "invalid_address", e.to_string())
        })?
        .to_string();
    gw.limit_auth_client(&client)?;
    let nonce = hex::encode(neosl_crypto::random_array::<16>());
    let expires_at = now_millis() + 5 * 60 * 1000;
    gw.store.create_nonce(&nonce, &address, expires_at).await?;
    ok(
        json!({ "nonce": nonce, "message": auth::wallet_message(&address, &nonce), "expires_at": expires_at }),
    )
}

#[derive(Deserialize)]
struct WalletLogin {
    address: String,
    public_key: String,
    signature: String,
    nonce: String,
}

async fn wallet_login(
    State(gw): Gw,
    client: Client,
    ApiJson(r): ApiJson<WalletLogin>,
) -> Result<Envelope<Tokens>, GwError> {
    let address = Address::parse(&r.address).map_err(|e| {
        ApiError::detailed(ErrorCode::InvalidRequest, "invalid_address", e.to_string())
    })?;
    gw.limit_auth_client(&client)?;
    let failures = Gateway::failures_key(&address.to_string(), &client);
    gw.check_failures(&failures)?;
    let bad = |m: &str| {
        gw.record_failure(&failures);
        GwError::Api(ApiError::detailed(
            ErrorCode::Unauthenticated,
            "invalid_signature",
            m,
        ))
    };
    let key_bytes = hex::decode(&r.public_key).map_err(|_| bad("public_key is not hex"))?;
    let key =
        PublicKey::from_slice(&key_bytes).map_err(|_| bad("public_key is not a P-256 point"))?;
    if Address::from_public_key(&key) != address {
        return Err(bad("the public key does not belong to the address"));
    }
    let sig_bytes = hex::decode(&r.signature).map_err(|_| bad("signature is not hex"))?;
    let signature =
        Signature::from_slice(&sig_bytes).map_err(|_| bad("signature is not 64 bytes r‖s"))?;
    let message = auth::wallet_message(&address.to_string(), &r.nonce);
    if !key.verify(message.as_bytes(), &signature) {
        return Err(bad("the signature does not verify"));
    }
    if !gw
        .store
        .use_nonce(&r.nonce, &address.to_string(), now_millis())
        .await?
    {
        gw.record_failure(&failures);
        return Err(ApiError::detailed(
            ErrorCode::Unauthenticated,
            "invalid_nonce",
            "unknown, used or expired nonce",
        )
        .into());
    }
    let user = gw
        .store
        .user_for_address(&address.to_string(), now_millis())
        .await?;
    ok(issue(&gw, &user.id).await?)
}

async fn me(State(gw): Gw, p: Principal) -> Result<Envelope<Value>, GwError> {
    let user = gw
        .store
        .user_by_id(&p.user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    ok(
        json!({ "user": user, "authenticated_by": if p.api_key_id.is_some() { "api_key" } else { "session" } }),
    )
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    /// `*` (default), an area (`gasbank`, `vrf`, `account`, …), either with `:read`.
    scopes: Option<Vec<String>>,
}

async fn create_key(
    State(gw): Gw,
    p: Principal,
    ApiJson(k): ApiJson<NewKey>,
) -> Result<Envelope<Value>, GwError> {
    p.require_session()?;
    let name = k.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::invalid("name is 1 to 64 characters").into());
    }
    let scopes = match &k.scopes {
        Some(entries) => Scopes::parse(entries)?,
        None => Scopes::all(),
    };
    let key = auth::new_secret("nsk_");
    let info = gw
        .store
        .create_api_key(
            NewApiKey {
                user_id: &p.user_id,
                name,
                key_hash: &auth::secret_hash(&key),
                prefix: &key[..12],
                scopes: scopes.entries(),
            },
            gw.config.max_api_keys,
            now_millis(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::detailed(
                ErrorCode::Conflict,
                "too_many_api_keys",
                format!(
                    "at most {} live API keys per user; revoke one first",
                    gw.config.max_api_keys
                ),
            )
        })?;
    Ok(Envelope(
        StatusCode::CREATED,
        json!({ "key": key.as_str(), "info": info, "note": "the key is shown once; store it now" }),
    ))
}

async fn list_keys(State(gw): Gw, p: Principal) -> Result<Envelope<Value>, GwError> {
    p.require_session()?;
    ok(json!({ "keys": gw.store.api_keys(&p.user_id).await? }))
}

async fn revoke_key(
    State(gw): Gw,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Envelope<Value>, GwError> {
    p.require_session()?;
    if !gw
        .store
        .revoke_api_key(&p.user_id, &id, now_millis())
        .await?
    {
        return Err(ApiError::new(ErrorCode::NotFound, "no such API key").into());
    }
    ok(json!({ "revoked": id }))
}

async fn balance(State(gw): Gw, p: Principal) -> Result<Envelope<Value>, GwError> {
    ok(json!(gw.bank.account(&Owner::User(p.user_id)).await?))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn transactions(
    State(gw): Gw,
    p: Principal,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<Envelope<Value>, GwError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit is 1 to 1000").into());
    }
    ok(json!({ "transactions": gw.bank.transactions(&Owner::User(p.user_id), limit).await? }))
}

/// An amount in 10⁻⁸ GAS, as a decimal string or an integer.
#[derive(Debug)]
struct Units(i64);

impl<'de> Deserialize<'de> for Units {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        };
        n.filter(|n| *n > 0)
            .map(Units)
            .ok_or_else(|| serde::de::Error::custom("amount is a positive integer in 10^-8 GAS"))
    }
}

#[derive(Deserialize)]
struct PayContract {
    contract: String,
    amount: Units,
    reference: String,
}

async fn pay_contract(
    State(gw): Gw,
    p: Principal,
    ApiJson(r): ApiJson<PayContract>,
) -> Result<Envelope<Value>, GwError> {
    gw.limit(&p.bucket("money"), gw.config.limits.money)?;
    let contract = UInt160::parse_display(&r.contract).map_err(|e| {
        ApiError::detailed(ErrorCode::InvalidRequest, "invalid_contract", e.to_string())
    })?;
    let reference = format!("{}:{}", p.user_id, r.reference);
    let (debit, credit) = gw
        .bank
        .sponsor(
            &Owner::User(p.user_id),
            &Owner::Contract(contract.to_string()),
            r.amount.0,
            &reference,
        )
        .await?;
    ok(json!({ "debit": debit, "credit": credit }))
}

#[derive(Deserialize)]
struct PayUser {
    user_id: String,
    amount: Units,
    reference: String,
}

async fn pay_user(
    State(gw): Gw,
    p: Principal,
    ApiJson(r): ApiJson<PayUser>,
) -> Result<Envelope<Value>, GwError> {
    gw.limit(&p.bucket("money"), gw.config.limits.money)?;
    if gw.store.user_by_id(&r.user_id).await?.is_none() {
        return Err(ApiError::detailed(ErrorCode::NotFound, "unknown_user", "no such user").into());
    }
    let reference = format!("{}:{}", p.user_id, r.reference);
    let (debit, credit) = gw
        .bank
        .sponsor(
            &Owner::User(p.user_id),
            &Owner::User(r.user_id),
            r.amount.0,
            &reference,
        )
        .await?;
    ok(json!({ "debit": debit, "credit": credit }))
}

async fn fees(State(gw): Gw) -> Result<Envelope<Value>, GwError> {
    ok(json!({ "unit": "1e-8 GAS", "schedule": gw.config.fees }))
}

async fn deposit_address(State(gw): Gw, p: Principal) -> Result<Envelope<Value>, GwError> {
    let deposits = gw.deposits.as_ref().ok_or_else(|| {
        ApiError::detailed(
            ErrorCode::Unavailable,
            "deposits_unavailable",
            "deposits are not configured",
        )
    })?;
    if gw.chain.is_none() {
        // An address nothing watches would swallow a user's GAS: say so instead.
        return Err(ApiError::detailed(
            ErrorCode::Unavailable,
            "chain_unavailable",
            "deposits are not watched: this gateway has no chain configured (NEOSL_CHAIN_RPC)",
        )
        .into());
    }
    let address = deposits.deposit_address(&p.user_id).await?;
    ok(json!({
        "address": address.to_string(),
        "script_hash": address.script_hash().to_string(),
        "note": "send GAS to this address; each confirmed transfer is credited once",
    }))
}

#[derive(Deserialize)]
struct WithdrawRequest {
    to_address: String,
    amount: Units,
    reference: String,
    #[serde(default)]
    wait: bool,
}

async fn withdraw(
    State(gw): Gw,
    p: Principal,
    ApiJson(r): ApiJson<WithdrawRequest>,
) -> Result<Envelope<Value>, GwError> {
    gw.limit(&p.bucket("money"), gw.config.limits.money)?;
    let withdrawals = gw.withdrawals.as_ref().ok_or_else(|| {
        ApiError::detailed(
            ErrorCode::Unavailable,
            "chain_unavailable",
            "withdrawals need the chain",
        )
    })?;
    let to = Address::parse(&r.to_address).map_err(|e| {
        ApiError::detailed(ErrorCode::InvalidRequest, "invalid_address", e.to_string())
    })?;
    let record = withdrawals
        .withdraw(&p.user_id, &to, r.amount.0, &r.reference, r.wait)
        .await?;
    ok(json!(record))
}

/// Forwards to the VRF service and wraps a success in the envelope; errors pass through.
async fn forward_vrf(
    gw: &Gateway,
    method: axum::http::Method,
    uri: &axum::http::Uri,
    user: Option<&str>,
    body: Vec<u8>,
) -> Result<(u16, Value), GwError> {
    let vrf = gw.vrf.as_ref().ok_or_else(|| {
        ApiError::detailed(
            ErrorCode::Unavailable,
            "service_unavailable",
            "the VRF service is not configured",
        )
    })?;
    let headers: Vec<(&str, String)> = user
        .map(|u| vec![("x-user-id", u.to_owned())])
        .unwrap_or_default();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let (status, bytes) = vrf
        .forward(method, path, &headers, body)
        .await
        .map_err(|e| {
            ApiError::detailed(ErrorCode::Unavailable, "service_unavailable", e.to_string())
        })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::Unavailable,
            "the VRF service answered something unreadable",
        )
    })?;
    Ok((status, value))
}

fn answer(status: u16, value: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if status.is_success() {
        Envelope(status, value).into_response()
    } else {
        (status, Json(value)).into_response()
    }
}

/// A body the gateway forwards is checked at the edge like every other (valid JSON, no control
/// characters) before anything is reserved or forwarded.
fn check_forwarded_body(body: &[u8]) -> Result<(), GwError> {
    if !body.is_empty() {
        neosl_runtime::error::parse_json_body::<serde::de::IgnoredAny>(body)?;
    }
    Ok(())
}

/// Free, public VRF endpoints (the public key, verification).
async fn vrf_public(
    State(gw): Gw,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Result<Response, GwError> {
    check_forwarded_body(&body)?;
    let (status, value) = forward_vrf(&gw, method, &uri, None, body.to_vec()).await?;
    Ok(answer(status, value))
}

/// Free VRF endpoints for a signed-in user (their own requests).
async fn vrf_user(
    State(gw): Gw,
    p: Principal,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Result<Response, GwError> {
    let (status, value) = forward_vrf(&gw, method, &uri, Some(&p.user_id), Vec::new()).await?;
    Ok(answer(status, value))
}

/// A paid VRF call: reserve the fee, call, consume it on success or release it on failure.
async fn vrf_paid(
    State(gw): Gw,
    p: Principal,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Result<Response, GwError> {
    check_forwarded_body(&body)?;
    let fee = gw
        .config
        .fees
        .fee(neosl_gasbank::Service::Vrf, 0)
        .ok_or_else(|| ApiError::internal("fee overflow"))?;
    let reference = format!("vrf:{}", uuid::Uuid::new_v4());
    let owner = Owner::User(p.user_id.clone());
    gw.bank.reserve(&owner, fee, &reference, "vrf").await?;
    match forward_vrf(&gw, method, &uri, Some(&p.user_id), body.to_vec()).await {
        Ok((status, mut value)) if (200..300).contains(&status) => {
            gw.bank.consume(&reference, fee).await?;
            if let Some(obj) = value.as_object_mut() {
                obj.insert(
                    "fee".into(),
                    json!({ "amount": fee, "reference": reference }),
                );
            }
            Ok(answer(status, value))
        }
        other => {
            gw.bank.release(&reference).await?;
            match other {
                Ok((status, value)) => Ok(answer(status, value)),
                Err(e) => Err(e),
            }
        }
    }
}

#[derive(Deserialize)]
struct AdminDeposit {
    user_id: String,
    tx_hash: String,
}

/// Operator: credit a deposit transaction after checking it on chain (`slcli deposit`). The
/// credit uses the same reference as the automatic watcher, so nothing is ever credited twice.
async fn admin_credit_deposit(
    State(gw): Gw,
    client: Client,
    headers: axum::http::HeaderMap,
    ApiJson(r): ApiJson<AdminDeposit>,
) -> Result<Envelope<Value>, GwError> {
    let expected = gw
        .admin_token_hash
        .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "operator endpoints are not enabled"))?;
    let given = headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The token is checked first: the right token always works, so wrong ones sent by anyone
    // else can never lock the operator out. Wrong tokens are limited per client address.
    if !neosl_runtime::server::operator_token_matches(given, &expected) {
        let failures = format!("admin-fail:{}", client.key());
        gw.check_failures(&failures)?;
        gw.record_failure(&failures);
        return Err(
            ApiError::new(ErrorCode::Forbidden, "a valid X-Admin-Token is required").into(),
        );
    }
    let (deposits, rpc) = match (&gw.deposits, &gw.chain) {
        (Some(d), Some(c)) => (d, c),
        _ => {
            return Err(ApiError::detailed(
                ErrorCode::Unavailable,
                "chain_unavailable",
                "crediting needs deposits and the chain",
            )
            .into());
        }
    };
    if gw.store.user_by_id(&r.user_id).await?.is_none() {
        return Err(ApiError::detailed(ErrorCode::NotFound, "unknown_user", "no such user").into());
    }
    let hash = neosl_neo::UInt256::parse_display(&r.tx_hash).map_err(|e| {
        ApiError::detailed(ErrorCode::InvalidRequest, "malformed_hash", e.to_string())
    })?;
    let credited = deposits.credit_from_chain(rpc, &hash, &r.user_id).await?;
    if credited.is_empty() {
        return Err(ApiError::detailed(
            ErrorCode::NotFound,
            "no_deposit",
            "the transaction sends no GAS to this user's deposit address",
        )
        .into());
    }
    ok(json!({ "credited": credited }))
}
