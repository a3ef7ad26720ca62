//! Forwarding to public services, without per-service code.
//!
//! Each route a service declares ([`neosl_runtime::service::PublicRoute`]) is registered here
//! with its access rule: `Anyone` is forwarded as is, `User` with the signed-in user in
//! `X-User-ID`, `Paid` through the GasBank's paid-call primitive (reserve → call → consume on
//! 2xx | release otherwise). The request id travels along. The body is checked at the edge
//! (valid JSON, no control characters) before anything is reserved, and forwarded as bytes;
//! the service's answer is wrapped in the envelope as bytes too (the fee spliced into a paid
//! answer), so a forwarded call is decoded once, by the service.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use neosl_api::{Answer, REQUEST_ID_HEADER};
use neosl_gasbank::{Owner, Payment};
use neosl_runtime::ApiError;
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::service::{Access, PublicRoute};

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::principal::Principal;

/// The header naming the end user to a service.
pub const USER_HEADER: &str = "x-user-id";

/// One forwarded route.
#[derive(Debug)]
struct Target {
    service: &'static str,
    route: PublicRoute,
    transport: Option<ServiceTransport>,
}

/// The routes of every public service the gateway knows.
pub(crate) fn routes(gateway: &Gateway) -> Router<Arc<Gateway>> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<Arc<Gateway>>> = BTreeMap::new();
    for service in &gateway.services {
        for route in service.routes {
            let Ok(filter) = MethodFilter::try_from(route.method.clone()) else {
                tracing::warn!(service = service.name, method = %route.method, "a route with an unroutable method is left out");
                continue;
            };
            let target = Arc::new(Target {
                service: service.name,
                route: route.clone(),
                transport: service.transport.clone(),
            });
            let handler = move |State(gw): State<Arc<Gateway>>,
                                client: crate::guard::Client,
                                method: Method,
                                uri: Uri,
                                headers: HeaderMap,
                                body: Bytes| {
                let target = target.clone();
                async move { forward(&gw, &target, client, method, uri, headers, body).await }
            };
            let entry = by_path.remove(route.path).unwrap_or_default();
            by_path.insert(route.path, entry.merge(on(filter, handler)));
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

async fn forward(
    gw: &Gateway,
    target: &Target,
    client: crate::guard::Client,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !body.is_empty() {
        neosl_runtime::error::parse_json_text_body::<serde::de::IgnoredAny>(
            &body,
            target.route.text_fields,
        )?;
    }
    let principal = match target.route.access {
        Access::Anyone => {
            // Nobody is signed in: the client address is what is limited.
            let limits = &gw.config.limits;
            gw.limit(&format!("public:{}", client.key()), limits.public)
                .await?;
            if let Some(rate) = limits.routes.get(target.route.path) {
                gw.limit(
                    &format!("public-route:{}:{}", target.route.path, client.key()),
                    *rate,
                )
                .await?;
            }
            None
        }
        Access::User | Access::Paid(_) => {
            Some(Principal::authenticate(gw, &headers, &method, target.route.path).await?)
        }
    };
    let transport = target.transport.as_ref().ok_or_else(|| {
        GatewayError::ServiceUnavailable(format!(
            "the {} service is not configured",
            target.service
        ))
    })?;
    let mut extra: Vec<(&str, String)> = Vec::with_capacity(2);
    if let Some(id) = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()) {
        extra.push((REQUEST_ID_HEADER, id.to_owned()));
    }
    if let Some(p) = &principal {
        extra.push((USER_HEADER, p.user_id.clone()));
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let call = async {
        let answer = transport
            .forward(method.clone(), path, &extra, body.clone())
            .await
            .map_err(|e| {
                ApiError::from(GatewayError::ServiceUnavailable(e.to_string())).into_response()
            })?;
        if answer.is_success() {
            Ok(answer)
        } else {
            Err(passed_through(&answer))
        }
    };
    let (Access::Paid(fee_name), Some(p)) = (target.route.access, &principal) else {
        return Ok(match call.await {
            Ok(answer) => enveloped(gw, &answer, None),
            Err(response) => response,
        });
    };
    let amount = gw.fees.fee(fee_name, 0).ok_or(GatewayError::FeeOverflow)?;
    if amount == 0 {
        return Ok(match call.await {
            Ok(answer) => enveloped(gw, &answer, None),
            Err(response) => response,
        });
    }
    let payment = Payment {
        owner: Owner::User(p.user_id.clone()),
        fee: fee_name.to_owned(),
        amount,
        reference: format!("{fee_name}:{}", uuid::Uuid::new_v4()),
    };
    Ok(match gw.bank.pay_for(&payment, call).await? {
        Ok((answer, _)) => enveloped(gw, &answer, Some(&payment)),
        Err(response) => response,
    })
}

/// A service's error answer, as it is (it already has the common error shape).
fn passed_through(answer: &Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    json_response(status, answer.body.clone())
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"success": true, "data": <the service's answer>, "timestamp": …}`, built from the answer's
/// bytes; a paid call's answer (a JSON object) gets `"fee": {"amount", "reference"}`.
fn enveloped(gw: &Gateway, answer: &Answer, fee: Option<&Payment>) -> Response {
    let data: &[u8] = trim_ascii(&answer.body);
    let mut out = Vec::with_capacity(data.len() + 160);
    out.extend_from_slice(br#"{"success":true,"data":"#);
    match fee {
        Some(payment) if data.len() >= 2 && data[0] == b'{' && data[data.len() - 1] == b'}' => {
            let inner = trim_ascii(&data[1..data.len() - 1]);
            out.push(b'{');
            out.extend_from_slice(inner);
            if !inner.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(
                format!(
                    r#""fee":{{"amount":{},"reference":{}}}}}"#,
                    payment.amount,
                    serde_json::Value::from(payment.reference.as_str())
                )
                .as_bytes(),
            );
        }
        _ if data.is_empty() => out.extend_from_slice(b"null"),
        _ => out.extend_from_slice(data),
    }
    out.extend_from_slice(format!(r#","timestamp":{}}}"#, gw.clock.now_secs()).as_bytes());
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    json_response(status, Bytes::from(out))
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}
