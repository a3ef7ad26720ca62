//! Operator endpoints, behind the injected operator token.

use axum::extract::State;
use axum::http::HeaderMap;
use neosl_gasbank::LedgerEntry;
use neosl_runtime::error::ApiJson;
use serde::{Deserialize, Serialize};

use super::{Answer, Gw, ok};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::guard::Client;

#[derive(Deserialize)]
pub(crate) struct AdminDeposit {
    user_id: String,
    tx_hash: String,
}

/// What an operator's credit did.
#[derive(Debug, Serialize)]
pub struct Credited {
    credited: Vec<LedgerEntry>,
}

/// Checks the operator token first: the right token always works, so wrong ones sent by anyone
/// else can never lock the operator out. Wrong tokens are limited per client address.
async fn authorize_operator(
    gw: &Gateway,
    client: &Client,
    headers: &HeaderMap,
) -> Result<(), neosl_runtime::ApiError> {
    let expected = gw.admin_token_hash.ok_or(GatewayError::OperatorDisabled)?;
    let given = headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !neosl_runtime::server::operator_token_matches(given, &expected) {
        let failures = format!("admin-fail:{}", client.key());
        gw.check_failures(&failures).await?;
        gw.record_failure(&failures).await;
        return Err(GatewayError::OperatorTokenRequired.into());
    }
    Ok(())
}

/// Operator: credit a deposit transaction after checking it on chain (`slcli deposit`). The
/// credit uses the same reference as the automatic watcher, so nothing is ever credited twice.
pub(crate) async fn credit_deposit(
    State(gw): Gw,
    client: Client,
    headers: HeaderMap,
    ApiJson(r): ApiJson<AdminDeposit>,
) -> Answer<Credited> {
    authorize_operator(&gw, &client, &headers).await?;
    let (Some(deposits), Some(rpc)) = (&gw.deposits, &gw.chain) else {
        return Err(GatewayError::ChainUnavailable(
            "crediting needs deposits and the chain".into(),
        )
        .into());
    };
    gw.existing_user(&r.user_id).await?;
    let hash = neosl_neo::UInt256::parse_display(&r.tx_hash)
        .map_err(|e| GatewayError::MalformedHash(e.to_string()))?;
    let credited = deposits.credit_from_chain(rpc, &hash, &r.user_id).await?;
    if credited.is_empty() {
        return Err(GatewayError::NoDeposit.into());
    }
    ok(&gw, Credited { credited })
}
