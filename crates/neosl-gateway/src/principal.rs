//! Who is calling: a user, through a session's access token or one of their API keys.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use neosl_runtime::ApiError;

use crate::auth;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guard::Scopes;

/// A signed-in caller.
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
    /// The rate-limit bucket of `class` for this caller: per user, across every session and
    /// API key of theirs (twenty keys do not give twenty times the limit).
    pub(crate) fn bucket(&self, class: &str) -> String {
        format!("{class}:user:{}", self.user_id)
    }

    /// Key management needs a signed-in session: a key must not mint or revoke keys.
    pub(crate) fn require_session(&self) -> Result<(), GatewayError> {
        match self.api_key_id {
            Some(_) => Err(GatewayError::SessionRequired),
            None => Ok(()),
        }
    }

    /// Authenticates a request for `route` (as registered) and charges the caller's `api`
    /// bucket and the route's own limit.
    pub(crate) async fn authenticate(
        gw: &Gateway,
        headers: &HeaderMap,
        method: &Method,
        route: &str,
    ) -> Result<Self, ApiError> {
        let now = gw.now();
        let principal = if let Some(key) = headers.get("x-api-key") {
            let key = key
                .to_str()
                .map_err(|_| GatewayError::InvalidToken("X-API-Key is not text".into()))?;
            let owner = gw
                .store
                .api_key_owner(&auth::secret_hash(key), now)
                .await?
                .ok_or_else(|| GatewayError::InvalidToken("unknown or revoked API key".into()))?;
            // Key management answers `session_required` to any key (in its handlers).
            if !route.starts_with("/api/v1/api-keys")
                && !Scopes::from_stored(&owner.scopes).allow(method, route)
            {
                return Err(GatewayError::ScopeDenied.into());
            }
            Self {
                user_id: owner.user_id,
                session_id: None,
                api_key_id: Some(owner.key_id),
            }
        } else {
            let value = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(GatewayError::CredentialsRequired)?;
            let token = value.strip_prefix("Bearer ").ok_or_else(|| {
                GatewayError::InvalidToken("use Authorization: Bearer <token>".into())
            })?;
            let claims = auth::verify_jwt(&gw.jwt_key, token, now.div_euclid(1000))
                .ok_or_else(|| GatewayError::InvalidToken("invalid or expired token".into()))?;
            if !gw.store.session_live(&claims.sid, &claims.sub, now).await? {
                return Err(GatewayError::InvalidToken("the session has ended".into()).into());
            }
            Self {
                user_id: claims.sub,
                session_id: Some(claims.sid),
                api_key_id: None,
            }
        };
        gw.limit(&principal.bucket("api"), gw.config.limits.api)
            .await?;
        if let Some(rate) = gw.config.limits.routes.get(route) {
            gw.limit(&principal.bucket(&format!("route:{route}")), *rate)
                .await?;
        }
        Ok(principal)
    }
}

impl FromRequestParts<Arc<Gateway>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        Self::authenticate(gw, &parts.headers, &parts.method, &route).await
    }
}
