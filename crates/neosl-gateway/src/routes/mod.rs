//! The gateway's own routes (accounts, API keys, the GasBank, operators), the envelope they
//! answer in, and the assembly of the whole router with the forwarded service routes.

mod account;
mod admin;
mod gasbank;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use neosl_runtime::ApiError;
use serde::Serialize;

use crate::error::GatewayError;
use crate::gateway::Gateway;

/// The success envelope: `{"success": true, "data": …, "timestamp": …}`.
#[derive(Debug)]
pub struct Envelope<T>(pub StatusCode, pub T, pub i64);

#[derive(Serialize)]
struct EnvelopeBody<'a, T> {
    success: bool,
    data: &'a T,
    timestamp: i64,
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(EnvelopeBody {
                success: true,
                data: &self.1,
                timestamp: self.2,
            }),
        )
            .into_response()
    }
}

/// What a handler answers.
pub(crate) type Answer<T> = Result<Envelope<T>, ApiError>;

/// `status` with `data`, stamped by the gateway's clock.
pub(crate) fn answer<T>(gw: &Gateway, status: StatusCode, data: T) -> Answer<T> {
    Ok(Envelope(status, data, gw.clock.now_secs()))
}

/// `200` with `data`.
pub(crate) fn ok<T>(gw: &Gateway, data: T) -> Answer<T> {
    answer(gw, StatusCode::OK, data)
}

pub(crate) type Gw = axum::extract::State<Arc<Gateway>>;

/// Every route of the gateway (the runtime skeleton adds `/health`, `/attestation`, …): its
/// own, each public service's (forwarded), and a `503 service_not_deployed` answer for the
/// prefixes of planned services.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let mut router = Router::new()
        .route("/api/v1/auth/register", post(account::register))
        .route("/api/v1/auth/login", post(account::login))
        .route("/api/v1/auth/refresh", post(account::refresh))
        .route("/api/v1/auth/logout", post(account::logout))
        .route("/api/v1/auth/wallet/nonce", post(account::wallet_nonce))
        .route("/api/v1/auth/wallet/login", post(account::wallet_login))
        .route("/api/v1/me", get(account::me))
        .route(
            "/api/v1/api-keys",
            get(account::list_keys).post(account::create_key),
        )
        .route("/api/v1/api-keys/{id}", delete(account::revoke_key))
        .route("/api/v1/gasbank/balance", get(gasbank::balance))
        .route("/api/v1/gasbank/transactions", get(gasbank::transactions))
        .route("/api/v1/gasbank/pay-contract", post(gasbank::pay_contract))
        .route("/api/v1/gasbank/pay-user", post(gasbank::pay_user))
        .route("/api/v1/gasbank/fees", get(gasbank::fees))
        .route(
            "/api/v1/gasbank/deposit-address",
            get(gasbank::deposit_address),
        )
        .route("/api/v1/gasbank/withdraw", post(gasbank::withdraw))
        .route("/api/v1/admin/deposits", post(admin::credit_deposit))
        .merge(crate::proxy::routes(&gateway));
    for name in &gateway.planned {
        let service = name.clone();
        router = router.route(
            &format!("/{name}/{{*rest}}"),
            any(move || {
                let service = service.clone();
                async move { ApiError::from(GatewayError::ServiceNotDeployed(service)) }
            }),
        );
    }
    router.with_state(gateway)
}
