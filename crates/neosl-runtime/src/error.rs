//! One error type for every HTTP API, mapped to a status and a stable machine-readable code in
//! one place ([`ErrorCode::status`]). Internal details are logged with the request id and never
//! reach a response body.

use axum::Json;
use axum::extract::rejection::QueryRejection;
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
    /// The request body is not of a type the endpoint reads (JSON).
    UnsupportedMediaType,
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
            Self::UnsupportedMediaType => "unsupported_media_type",
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
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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

    /// The code of an error status that no handler chose (a layer's or an extractor's plain
    /// answer): the inverse of [`ErrorCode::status`], with `invalid_request` and
    /// `internal_error` for the statuses the table does not name.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable,
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => Self::Timeout,
            s if s.is_client_error() => Self::InvalidRequest,
            _ => Self::Internal,
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
    /// Seconds after which a retry may succeed (sent as `Retry-After`), for rate limits and
    /// temporary overload.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a general code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            detail_code: None,
            message: message.into(),
            retry_after: None,
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
            retry_after: None,
        }
    }

    /// `429 rate_limited` with `Retry-After: seconds` (at least 1).
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Self::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry in {secs} s"),
        )
        .retry_after(secs)
    }

    /// The same error, telling the caller to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
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
        let mut response = (self.code.status(), Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// A domain error of a service: each variant has its stable code and general kind in one table
/// (the error's own `match`), and becomes an [`ApiError`] only at the HTTP edge. Internal
/// failures are logged in full and answered with a generic message.
pub trait DomainError: std::error::Error {
    /// The stable code (`unknown_account`, `insufficient_balance`, …).
    fn code(&self) -> &'static str;
    /// The general kind, which gives the HTTP status.
    fn kind(&self) -> ErrorCode;
    /// Seconds after which a retry may succeed, when that is known.
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

impl<E: DomainError> From<E> for ApiError {
    fn from(e: E) -> Self {
        if e.kind() == ErrorCode::Internal {
            return ApiError::internal(&e);
        }
        let error = ApiError::detailed(e.kind(), e.code(), e.to_string());
        match e.retry_after() {
            Some(secs) => error.retry_after(secs),
            None => error,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
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

/// A JSON body whose rejections become [`ApiError`]s (same error shape as every other error),
/// and whose strings (values and keys, at any depth) contain no control characters: NUL and the
/// other C0/C1 controls are refused with `400 invalid_characters` at the edge, identically on
/// every backend (PostgreSQL cannot store NUL in text; SQLite can, and the two must not differ).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        parse_json_body(&json_bytes(request, state).await?).map(Self)
    }
}

/// A JSON request's body: refused unless its content type is JSON, or when too large.
async fn json_bytes<S: Send + Sync>(
    request: axum::extract::Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    use axum::extract::FromRequest as _;
    if !is_json_content_type(request.headers()) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
            } else {
                ApiError::invalid("the request body could not be read")
            }
        })
}

fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decodes a JSON body, refusing control characters in any string (see [`ApiJson`]).
pub fn parse_json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json_text_body(bytes, &[])
}

/// A body type some of whose top-level string fields are text (program source, PEM): they may
/// hold tab, line feed and carriage return. Every other control character stays refused there,
/// and everywhere else the rules of [`ApiJson`] hold.
pub trait TextFields {
    /// The top-level fields that are text.
    const TEXT_FIELDS: &'static [&'static str];
}

/// [`ApiJson`] for a body with [`TextFields`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJsonText<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJsonText<T>
where
    T: serde::de::DeserializeOwned + TextFields,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        parse_json_text_body(&json_bytes(request, state).await?, T::TEXT_FIELDS).map(Self)
    }
}

/// Whether `text` holds a control character other than tab, line feed and carriage return.
pub fn has_control_in_text(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Decodes a JSON body, refusing control characters in any string except tab, line feed and
/// carriage return in the top-level `text_fields` (see [`TextFields`]).
pub fn parse_json_text_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    text_fields: &[&str],
) -> Result<T, ApiError> {
    if may_hold_control_characters(bytes) {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))?;
        let refused = |path: String| {
            ApiError::detailed(
                ErrorCode::InvalidRequest,
                "invalid_characters",
                format!("{path} contains a control character"),
            )
        };
        match &value {
            serde_json::Value::Object(map) if !text_fields.is_empty() => {
                for (key, item) in map {
                    if has_control(key) {
                        return Err(refused("a field name".into()));
                    }
                    let found = match item {
                        serde_json::Value::String(text) if text_fields.contains(&key.as_str()) => {
                            has_control_in_text(text).then(|| key.clone())
                        }
                        _ => control_character_at(item, &mut key.clone()),
                    };
                    if let Some(path) = found {
                        return Err(refused(path));
                    }
                }
            }
            _ => {
                if let Some(path) = control_character_at(&value, &mut String::new()) {
                    return Err(refused(path));
                }
            }
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid(if e.is_data() {
            format!("invalid request body: {e}")
        } else {
            format!("the body is not valid JSON: {e}")
        })
    })
}

/// Whether `text` holds a control character: C0 (including NUL, tab, line feed), DEL or C1.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A fast pre-scan of raw JSON: false guarantees that no string holds a control character (raw
/// C0 bytes are invalid JSON anyway; what remains is `\u` escapes of controls, raw DEL and raw
/// C1 in UTF-8). True means "look closer" (an escaped backslash can look like an escape).
fn may_hold_control_characters(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x7f => return true,
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => return true,
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let code = bytes
                    .get(i + 2..i + 6)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u16::from_str_radix(h, 16).ok());
                if code.is_some_and(|c| c < 0x20 || (0x7f..=0x9f).contains(&c)) {
                    return true;
                }
                i += 2;
                continue;
            }
            // `\n`, `\t`, `\r`, `\b`, `\f` are escaped control characters too.
            b'\\' if matches!(bytes.get(i + 1), Some(b'n' | b't' | b'r' | b'b' | b'f')) => {
                return true;
            }
            b'\\' => {
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn control_character_at(value: &serde_json::Value, path: &mut String) -> Option<String> {
    match value {
        serde_json::Value::String(s) if has_control(s) => Some(if path.is_empty() {
            "the body".into()
        } else {
            path.clone()
        }),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = control_character_at(item, path);
            path.truncate(len);
            found
        }),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            if has_control(key) {
                return Some("a field name".into());
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = control_character_at(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// `Query` whose rejections become [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast pre-scan never lets a control character through, whichever way JSON writes it
    /// (escaped by serde, `\u` escapes, raw UTF-8), in values and in keys, at any depth.
    #[test]
    fn every_control_character_is_refused_and_nothing_else() {
        for code in (0u32..0x3000).chain([0xfeff, 0x200b, 0x10ffff]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let text = format!("a{c}b");
            let bodies = [
                serde_json::to_vec(&serde_json::json!({ "k": text })).expect("json"),
                serde_json::to_vec(&serde_json::json!({ "outer": [{ "deep": text }] }))
                    .expect("json"),
                serde_json::to_vec(&serde_json::json!({ text.clone(): 1 })).expect("json"),
                format!(r#"{{"k": "a\u{code:04x}b"}}"#).into_bytes(),
            ];
            for body in bodies {
                let parsed = parse_json_body::<serde_json::Value>(&body);
                if code <= 0xffff || !c.is_control() {
                    assert_eq!(
                        parsed.is_err(),
                        c.is_control(),
                        "U+{code:04X} in {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                if let Err(e) = parsed {
                    assert_eq!(e.code_str(), "invalid_characters");
                }
            }
        }
        // An escaped backslash followed by "u0000" is text, not a control character.
        let body = br#"{"k": "\\u0000 and \\n"}"#;
        assert!(parse_json_body::<serde_json::Value>(body).is_ok());
    }
}
