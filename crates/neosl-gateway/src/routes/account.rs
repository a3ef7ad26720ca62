//! Accounts: registration, password and wallet sign-in, sessions, who am I, API keys.

use axum::extract::{Path, State};
use neosl_neo::{Address, PublicKey, Signature};
use neosl_runtime::error::ApiJson;
use serde::{Deserialize, Serialize};

use axum::http::StatusCode;

use super::{Answer, Gw, answer, ok};
use crate::auth::{self, Claims};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guard::{Client, Scopes, check_password, normalise_email};
use crate::principal::Principal;
use crate::store::{ApiKeyInfo, NewApiKey, Refresh, User};

/// A new session's tokens.
#[derive(Debug, Serialize)]
pub struct Tokens {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    user_id: String,
}

async fn issue(gw: &Gateway, user_id: &str) -> Result<Tokens, neosl_runtime::ApiError> {
    let now = gw.now();
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
    let now = gw.clock.now_secs();
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
pub(crate) struct Credentials {
    email: String,
    password: String,
}

pub(crate) async fn register(
    State(gw): Gw,
    client: Client,
    ApiJson(c): ApiJson<Credentials>,
) -> Answer<Tokens> {
    let email = normalise_email(&c.email)?;
    check_password(&c.password)?;
    gw.limit_auth_client(&client).await?;
    let password = zeroize::Zeroizing::new(c.password);
    let hash = gw
        .passwords
        .run(move |memory| auth::hash_password(&password, memory))
        .await?
        .ok_or_else(|| neosl_runtime::ApiError::internal("password hashing failed"))?;
    let user = gw
        .store
        .create_password_user(&email, &hash, gw.now())
        .await?
        .ok_or(GatewayError::EmailTaken)?;
    answer(&gw, StatusCode::CREATED, issue(&gw, &user.id).await?)
}

pub(crate) async fn login(
    State(gw): Gw,
    client: Client,
    ApiJson(c): ApiJson<Credentials>,
) -> Answer<Tokens> {
    let email = normalise_email(&c.email)?;
    gw.limit_auth_client(&client).await?;
    let failures = Gateway::failures_key(&email, &client);
    gw.check_failures(&failures).await?;
    if c.password.chars().count() > 256 {
        // No password is that long (registration refuses it): a failure, without the hash.
        gw.record_failure(&failures).await;
        return Err(GatewayError::InvalidCredentials.into());
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
        Some((user, _)) if valid => ok(&gw, issue(&gw, &user.id).await?),
        _ => {
            gw.record_failure(&failures).await;
            Err(GatewayError::InvalidCredentials.into())
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

pub(crate) async fn refresh(
    State(gw): Gw,
    client: Client,
    ApiJson(r): ApiJson<RefreshRequest>,
) -> Answer<Tokens> {
    gw.limit_auth_client(&client).await?;
    let new = auth::new_secret("nsr_");
    let outcome = gw
        .store
        .rotate_refresh(
            &auth::secret_hash(&r.refresh_token),
            &auth::secret_hash(&new),
            gw.now(),
        )
        .await?;
    match outcome {
        Refresh::Rotated(session, user) => ok(&gw, tokens(&gw, &user, &session, new.to_string())),
        Refresh::Reused => {
            tracing::warn!("a rotated refresh token was presented again; its session is revoked");
            Err(GatewayError::RefreshTokenReused.into())
        }
        Refresh::Unknown => {
            Err(GatewayError::InvalidToken("unknown, used or revoked refresh token".into()).into())
        }
    }
}

/// The answer to a logout.
#[derive(Debug, Serialize)]
pub struct LoggedOut {
    logged_out: bool,
}

pub(crate) async fn logout(State(gw): Gw, p: Principal) -> Answer<LoggedOut> {
    let session = p.session_id.ok_or(GatewayError::LogoutNeedsSession)?;
    gw.store.revoke_session(&session, gw.now()).await?;
    ok(&gw, LoggedOut { logged_out: true })
}

#[derive(Deserialize)]
pub(crate) struct NonceRequest {
    address: String,
}

/// What a wallet signs to sign in.
#[derive(Debug, Serialize)]
pub struct WalletChallenge {
    nonce: String,
    message: String,
    expires_at: i64,
}

fn parse_address(text: &str) -> Result<Address, GatewayError> {
    Address::parse(text).map_err(|e| GatewayError::InvalidAddress(e.to_string()))
}

pub(crate) async fn wallet_nonce(
    State(gw): Gw,
    client: Client,
    ApiJson(r): ApiJson<NonceRequest>,
) -> Answer<WalletChallenge> {
    let address = parse_address(&r.address)?.to_string();
    gw.limit_auth_client(&client).await?;
    let nonce = hex::encode(neosl_crypto::random_array::<16>());
    let expires_at = gw.now() + 5 * 60 * 1000;
    gw.store.create_nonce(&nonce, &address, expires_at).await?;
    ok(
        &gw,
        WalletChallenge {
            message: auth::wallet_message(&address, &nonce),
            nonce,
            expires_at,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct WalletLogin {
    address: String,
    public_key: String,
    signature: String,
    nonce: String,
}

pub(crate) async fn wallet_login(
    State(gw): Gw,
    client: Client,
    ApiJson(r): ApiJson<WalletLogin>,
) -> Answer<Tokens> {
    let address = parse_address(&r.address)?;
    gw.limit_auth_client(&client).await?;
    let failures = Gateway::failures_key(&address.to_string(), &client);
    gw.check_failures(&failures).await?;
    let verified = (|| -> Result<(), &'static str> {
        let key_bytes = hex::decode(&r.public_key).map_err(|_| "public_key is not hex")?;
        let key =
            PublicKey::from_slice(&key_bytes).map_err(|_| "public_key is not a P-256 point")?;
        if Address::from_public_key(&key) != address {
            return Err("the public key does not belong to the address");
        }
        let sig_bytes = hex::decode(&r.signature).map_err(|_| "signature is not hex")?;
        let signature =
            Signature::from_slice(&sig_bytes).map_err(|_| "signature is not 64 bytes r‖s")?;
        let message = auth::wallet_message(&address.to_string(), &r.nonce);
        if !key.verify(message.as_bytes(), &signature) {
            return Err("the signature does not verify");
        }
        Ok(())
    })();
    if let Err(reason) = verified {
        gw.record_failure(&failures).await;
        return Err(GatewayError::InvalidSignature(reason.to_owned()).into());
    }
    if !gw
        .store
        .use_nonce(&r.nonce, &address.to_string(), gw.now())
        .await?
    {
        gw.record_failure(&failures).await;
        return Err(GatewayError::InvalidNonce.into());
    }
    let user = gw
        .store
        .user_for_address(&address.to_string(), gw.now())
        .await?;
    ok(&gw, issue(&gw, &user.id).await?)
}

/// Who the caller is.
#[derive(Debug, Serialize)]
pub struct Me {
    user: User,
    authenticated_by: &'static str,
}

pub(crate) async fn me(State(gw): Gw, p: Principal) -> Answer<Me> {
    let user = gw
        .store
        .user_by_id(&p.user_id)
        .await?
        .ok_or(GatewayError::NoSuchUser)?;
    let authenticated_by = if p.api_key_id.is_some() {
        "api_key"
    } else {
        "session"
    };
    ok(
        &gw,
        Me {
            user,
            authenticated_by,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct NewKey {
    name: String,
    /// `*` (default), an area (`gasbank`, `vrf`, `account`, …), either with `:read`.
    scopes: Option<Vec<String>>,
}

/// A new API key, shown once.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    key: String,
    info: ApiKeyInfo,
    note: &'static str,
}

pub(crate) async fn create_key(
    State(gw): Gw,
    p: Principal,
    ApiJson(k): ApiJson<NewKey>,
) -> Answer<CreatedKey> {
    p.require_session()?;
    let name = k.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(GatewayError::InvalidKeyName.into());
    }
    let scopes = match &k.scopes {
        Some(entries) => Scopes::parse(entries, &gw.scope_areas())?,
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
            gw.now(),
        )
        .await?
        .ok_or(GatewayError::TooManyApiKeys(gw.config.max_api_keys))?;
    answer(
        &gw,
        StatusCode::CREATED,
        CreatedKey {
            key: key.to_string(),
            info,
            note: "the key is shown once; store it now",
        },
    )
}

/// The caller's API keys.
#[derive(Debug, Serialize)]
pub struct KeyList {
    keys: Vec<ApiKeyInfo>,
}

pub(crate) async fn list_keys(State(gw): Gw, p: Principal) -> Answer<KeyList> {
    p.require_session()?;
    ok(
        &gw,
        KeyList {
            keys: gw.store.api_keys(&p.user_id).await?,
        },
    )
}

/// A revoked key.
#[derive(Debug, Serialize)]
pub struct Revoked {
    revoked: String,
}

pub(crate) async fn revoke_key(
    State(gw): Gw,
    p: Principal,
    Path(id): Path<String>,
) -> Answer<Revoked> {
    p.require_session()?;
    if !gw.store.revoke_api_key(&p.user_id, &id, gw.now()).await? {
        return Err(GatewayError::UnknownApiKey.into());
    }
    ok(&gw, Revoked { revoked: id })
}
