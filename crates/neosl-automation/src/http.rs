//! The Automation routes (under `/automation/`), reached through the gateway.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use neosl_runtime::ApiError;
use neosl_runtime::error::{ApiJson, ApiQuery};
use neosl_runtime::identity::{Caller, EndUser};
use serde::{Deserialize, Serialize};

use crate::engine::Automation;
use crate::error::AutomationError;
use crate::spec::TriggerSpec;
use crate::store::{Firing, Trigger};

type Auto = State<Arc<Automation>>;

/// `GET /automation/triggers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerList {
    /// Newest first.
    pub triggers: Vec<Trigger>,
}

/// `GET /automation/triggers/{id}/executions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiringList {
    /// The trigger.
    pub trigger_id: String,
    /// Newest first: every firing with its outcome.
    pub executions: Vec<Firing>,
}

/// `DELETE /automation/triggers/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deleted {
    /// The trigger.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<i64>,
}

fn limit(l: Option<i64>) -> Result<i64, AutomationError> {
    let l = l.unwrap_or(100);
    if (1..=1000).contains(&l) {
        Ok(l)
    } else {
        Err(AutomationError::InvalidLimit)
    }
}

fn owner(user: &EndUser) -> String {
    format!("user:{}", user.0)
}

/// The routes.
pub fn router(automation: Arc<Automation>) -> Router {
    Router::new()
        .route("/automation/triggers", get(list).post(create))
        .route("/automation/triggers/{id}", get(show).delete(remove))
        .route("/automation/triggers/{id}/enable", post(enable))
        .route("/automation/triggers/{id}/disable", post(disable))
        .route("/automation/triggers/{id}/executions", get(executions))
        .route("/automation/fulfil", post(fulfil))
        .with_state(automation)
}

async fn create(
    State(a): Auto,
    user: EndUser,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<Trigger>, ApiError> {
    let spec: TriggerSpec = serde_json::from_value(body)
        .map_err(|e| AutomationError::InvalidTrigger(format!("not a trigger: {e}")))?;
    Ok(ApiJson(a.register(&owner(&user), spec).await?))
}

async fn list(
    State(a): Auto,
    user: EndUser,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<ApiJson<TriggerList>, ApiError> {
    Ok(ApiJson(TriggerList {
        triggers: a.store().list(&owner(&user), limit(q.limit)?).await?,
    }))
}

async fn show(
    State(a): Auto,
    user: EndUser,
    Path(id): Path<String>,
) -> Result<ApiJson<Trigger>, ApiError> {
    Ok(ApiJson(a.store().get(Some(&owner(&user)), &id).await?))
}

async fn remove(
    State(a): Auto,
    user: EndUser,
    Path(id): Path<String>,
) -> Result<ApiJson<Deleted>, ApiError> {
    a.delete(&owner(&user), &id).await?;
    Ok(ApiJson(Deleted { id, deleted: true }))
}

async fn enable(
    State(a): Auto,
    user: EndUser,
    Path(id): Path<String>,
) -> Result<ApiJson<Trigger>, ApiError> {
    Ok(ApiJson(a.set_enabled(&owner(&user), &id, true).await?))
}

async fn disable(
    State(a): Auto,
    user: EndUser,
    Path(id): Path<String>,
) -> Result<ApiJson<Trigger>, ApiError> {
    Ok(ApiJson(a.set_enabled(&owner(&user), &id, false).await?))
}

async fn executions(
    State(a): Auto,
    user: EndUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<ApiJson<FiringList>, ApiError> {
    a.store().get(Some(&owner(&user)), &id).await?;
    Ok(ApiJson(FiringList {
        executions: a.store().firings(&id, limit(q.limit)?).await?,
        trigger_id: id,
    }))
}

/// Only the on-chain worker serves contracts' registrations.
async fn fulfil(
    State(a): Auto,
    caller: Caller,
    ApiJson(r): ApiJson<neosl_api::onchain::FulfilRequest>,
) -> Result<ApiJson<neosl_api::onchain::FulfilAnswer>, ApiError> {
    if caller.service_id != "onchain" {
        return Err(ApiError::new(
            neosl_runtime::ErrorCode::Forbidden,
            "only the on-chain worker serves contracts' registrations",
        ));
    }
    Ok(ApiJson(a.fulfil(&r).await?))
}
