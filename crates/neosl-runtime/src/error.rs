//! One error type for every HTTP API, mapped to a status and a stable machine-readable code in
//! one place ([`ErrorCode::status`]). Internal details are logged with the request id and never
//! reach a response body.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Stable error codes. The string form is part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed (bad JSON, bad field, out of range).
    InvalidRequest,
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// The endpoint exists but not for this method.
    MethodNotAllowed,
    /// No credentials were presented.
    Unauthenticated,
    /// The credentials do not allow this.
    Forbidden,
    /// The caller claimed an identity its certificate does not prove.
    IdentityMismatch,
    /// The resource does not exist.
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// The request is well-formed but cannot be carried out (for example a transaction that
    /// would fault).
    Unprocessable,
    /// Too many requests.
    RateLimited,
    /// A dependency (database, chain) is unavailable.
    Unavailable,
    /// The request took too long.
    Timeout,
    /// Something failed inside the service (details are in the log, not the response).
    Internal,
}

impl ErrorCode {
    /// The code's string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::IdentityMismatch => "identity_mismatch",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unprocessable => "unprocessable",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal_error",
        }
    }

    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::IdentityMismatch => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error: a code (the status follows from it), a message safe to show the caller, and
/// optionally a service-specific code that refines it (for example `account_not_locked`).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The general code.
    pub code: ErrorCode,
    /// A service-specific code shown instead of the general one, when set.
    pub detail_code: Option<&'static str>,
    /// A message for the caller. Never contains secrets or internal details.
    pub message: String,
}

impl ApiError {
    /// An error with a general code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            detail_code: None,
            message: message.into(),
        }
    }

    /// An error with a service-specific code and the status of `code`.
    pub fn detailed(
        code: ErrorCode,
        detail_code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            detail_code: Some(detail_code),
            message: message.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// An internal failure: logged in full, answered with a generic message.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The code shown to the caller.
    pub fn code_str(&self) -> &'static str {
        self.detail_code.unwrap_or(self.code.as_str())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "error": self.message,
            "code": self.code_str(),
            "timestamp": unix_seconds(),
        });
        (self.code.status(), Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::new(ErrorCode::PayloadTooLarge, "request body too large")
            }
            other => Self::invalid(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `Json` whose rejections become [`ApiError`]s (same error shape as every other error).
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `Query` whose rejections become [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
