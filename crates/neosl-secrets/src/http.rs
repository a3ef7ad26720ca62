//! The Secrets routes: the owner's (under `/secrets`, through the gateway) and the use route
//! for services (internal, the caller named by its certificate).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use neosl_api::secrets::{UseAnswer, UseRequest};
use neosl_runtime::ApiError;
use neosl_runtime::error::{ApiJson, ApiJsonText, ApiQuery, TextFields};
use neosl_runtime::identity::{Caller, EndUser};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::service::Secrets;
use crate::store::{AuditEntry, SecretInfo};

/// `PUT /secrets/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSecret {
    value: Zeroizing<String>,
    #[serde(default)]
    allowed_services: Vec<String>,
}

impl TextFields for PutSecret {
    const TEXT_FIELDS: &'static [&'static str] = &["value"];
}

/// The body fields of the owner's routes that are text (values may be PEM or multi-line).
pub const TEXT_FIELDS: &[&str] = <PutSecret as TextFields>::TEXT_FIELDS;

/// `GET /secrets`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretList {
    /// By name; values are never shown.
    pub secrets: Vec<SecretInfo>,
}

/// `GET /secrets/audit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditLog {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
}

#[derive(Deserialize)]
struct AuditQuery {
    name: Option<String>,
    limit: Option<i64>,
}

/// `DELETE /secrets/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deleted {
    /// The secret.
    pub name: String,
    /// Always true.
    pub deleted: bool,
}

type S = State<Arc<Secrets>>;

/// The routes.
pub fn router(secrets: Arc<Secrets>) -> Router {
    Router::new()
        .route("/secrets", get(list))
        .route("/secrets/audit", get(audit))
        .route("/secrets/{name}", get(info).put(put).delete(delete))
        .route(neosl_api::secrets::USE_PATH, post(use_secrets))
        .with_state(secrets)
}

async fn list(State(s): S, user: EndUser) -> Result<ApiJson<SecretList>, ApiError> {
    Ok(ApiJson(SecretList {
        secrets: s.list(&user.0).await?,
    }))
}

async fn put(
    State(s): S,
    user: EndUser,
    Path(name): Path<String>,
    ApiJsonText(body): ApiJsonText<PutSecret>,
) -> Result<ApiJson<SecretInfo>, ApiError> {
    Ok(ApiJson(
        s.put(&user.0, &name, &body.value, &body.allowed_services)
            .await?,
    ))
}

async fn info(
    State(s): S,
    user: EndUser,
    Path(name): Path<String>,
) -> Result<ApiJson<SecretInfo>, ApiError> {
    Ok(ApiJson(s.info(&user.0, &name).await?))
}

async fn delete(
    State(s): S,
    user: EndUser,
    Path(name): Path<String>,
) -> Result<ApiJson<Deleted>, ApiError> {
    s.delete(&user.0, &name).await?;
    Ok(ApiJson(Deleted {
        name,
        deleted: true,
    }))
}

async fn audit(
    State(s): S,
    user: EndUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<ApiJson<AuditLog>, ApiError> {
    Ok(ApiJson(AuditLog {
        entries: s
            .audit(&user.0, q.name.as_deref(), q.limit.unwrap_or(100))
            .await?,
    }))
}

async fn use_secrets(
    State(s): S,
    caller: Caller,
    ApiJson(request): ApiJson<UseRequest>,
) -> Result<ApiJson<UseAnswer>, ApiError> {
    Ok(ApiJson(s.use_secrets(&caller.service_id, &request).await?))
}
