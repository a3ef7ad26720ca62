//! Who is calling: the caller extractor and strict identity mode.
//!
//! Over mutual TLS the caller's service id is the name its verified certificate proves
//! ([`PeerIdentity`], attached to every request of the connection by the server). In strict
//! mode (on in enclave mode and whenever mTLS is configured) that is the only source: an
//! `X-Service-ID` header or a body `service_id` naming another service is refused with 403
//! `identity_mismatch`. Outside strict mode (local development without certificates) the header
//! names the caller.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{ApiError, ErrorCode};

/// The header a caller may use to name itself (development only; checked in strict mode).
pub const SERVICE_ID_HEADER: &str = "x-service-id";

/// The service name proven by the peer's TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity(pub String);

/// The identity policy of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityPolicy {
    /// Only certificates establish identity.
    pub strict: bool,
}

/// The authenticated caller of an internal API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's service id.
    pub service_id: String,
    /// Whether a verified certificate proved it (false: a development header).
    pub verified: bool,
    strict: bool,
}

impl Caller {
    /// Checks a service id claimed in a request body. In strict mode it must be the caller's;
    /// outside strict mode a claim names the caller when no certificate did.
    pub fn check_claim(&self, claimed: Option<&str>) -> Result<String, ApiError> {
        match claimed {
            Some(claim) if claim != self.service_id && (self.strict || self.verified) => {
                Err(ApiError::new(
                    ErrorCode::IdentityMismatch,
                    format!("service_id {claim:?} does not match the caller's verified identity"),
                ))
            }
            Some(claim) => {
                validate_service_id(claim)?;
                Ok(claim.to_owned())
            }
            None => Ok(self.service_id.clone()),
        }
    }
}

fn validate_service_id(id: &str) -> Result<(), ApiError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "service ids are 1 to 64 characters of a-z, 0-9, '-', '_', '.'",
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let strict = parts
            .extensions
            .get::<IdentityPolicy>()
            .map(|p| p.strict)
            .unwrap_or(true);
        let header = match parts.headers.get(SERVICE_ID_HEADER) {
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| ApiError::invalid("X-Service-ID is not text"))?
                    .to_owned(),
            ),
            None => None,
        };
        if let Some(PeerIdentity(peer)) = parts.extensions.get::<PeerIdentity>() {
            if let Some(claimed) = header.as_deref()
                && claimed != peer
            {
                return Err(ApiError::new(
                    ErrorCode::IdentityMismatch,
                    format!(
                        "X-Service-ID {claimed:?} does not match the client certificate ({peer})"
                    ),
                ));
            }
            return Ok(Self {
                service_id: peer.clone(),
                verified: true,
                strict,
            });
        }
        if strict {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "a client certificate is required",
            ));
        }
        let id = header.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "the X-Service-ID header is required",
            )
        })?;
        validate_service_id(&id)?;
        Ok(Self {
            service_id: id,
            verified: false,
            strict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_in_strict_mode_must_match() {
        let caller = Caller {
            service_id: "mixer".into(),
            verified: true,
            strict: true,
        };
        assert_eq!(caller.check_claim(None).ok().as_deref(), Some("mixer"));
        assert_eq!(
            caller.check_claim(Some("mixer")).ok().as_deref(),
            Some("mixer")
        );
        let err = caller.check_claim(Some("gateway")).expect_err("refused");
        assert_eq!(err.code, ErrorCode::IdentityMismatch);
        let dev = Caller {
            service_id: "mixer".into(),
            verified: false,
            strict: false,
        };
        assert_eq!(dev.check_claim(Some("vrf")).ok().as_deref(), Some("vrf"));
        assert!(dev.check_claim(Some("Bad Name")).is_err());
    }
}

/// The header through which the gateway names the end user of a forwarded request.
pub const USER_HEADER: &str = "x-user-id";

/// The end user a request is for: named by the gateway (and only the gateway) in
/// [`USER_HEADER`] on routes it forwards with `Access::User` or `Access::Paid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EndUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.service_id != "gateway" {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this route is reached through the gateway",
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
