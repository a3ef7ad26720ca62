//! The HTTP skeleton every service shares, and serving it over HTTP or mutual TLS.
//!
//! [`router`] wraps a service's API with: a request id (`x-request-id`, generated when absent and
//! echoed back), a tracing span per request keyed on the matched route, Prometheus metrics, a body
//! size limit, a request time limit, the identity policy, JSON 404/405 answers in the common
//! error shape, and the standard endpoints `/health`, `/ready`, `/info`, `/attestation` and
//! `/metrics`. [`serve`] runs it with graceful shutdown: on the signal it stops accepting, lets
//! requests in flight finish (up to a grace period), then returns.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rustls::ServerConfig;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::RuntimeMode;
use crate::attestation::{self, PublishedKey};
use crate::error::{ApiError, ErrorCode};
use crate::identity::{IdentityPolicy, PeerIdentity};
use crate::tls::peer_service_name;

/// A readiness check (database reachable, chain reachable, …).
#[async_trait]
pub trait Readiness: Send + Sync {
    /// What is checked.
    fn name(&self) -> &str;
    /// `Err` with a reason when not ready.
    async fn check(&self) -> Result<(), String>;
    /// Something an operator must act on soon that does not stop the service yet (a treasury
    /// running low): listed in `/ready` under `warnings`, the answer still `200`.
    async fn warning(&self) -> Option<String> {
        None
    }
}

/// What a service says about itself.
pub struct ServiceInfo {
    /// The service name.
    pub name: String,
    /// Enclave or simulation.
    pub mode: RuntimeMode,
    /// Whether only certificates establish caller identity.
    pub strict_identity: bool,
    /// Whether this service is reachable only by other services.
    pub internal: bool,
    /// The keys it signs with (published in `/info` and `/attestation`).
    pub public_keys: Vec<PublishedKey>,
    /// Readiness checks behind `/ready`.
    pub readiness: Vec<Arc<dyn Readiness>>,
    /// When it started.
    pub started: Instant,
    /// Who may reach it and how clients are named (Host check, client addresses).
    pub edge: EdgePolicy,
    /// SHA-256 of the operator token that reads `/metrics` of a public service (internal
    /// services serve it to authenticated peers only, like every other route).
    pub metrics_token_hash: Option<[u8; 32]>,
}

/// The edge checks of a listener: which `Host` names requests may carry, and which proxies'
/// `X-Forwarded-For` names the client.
#[derive(Debug, Clone, Default)]
pub struct EdgePolicy {
    /// Host names allowed besides IP literals, `localhost` and the service's own name; `"*"`
    /// allows any.
    pub allowed_hosts: Vec<String>,
    /// Proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// The address of the client that sent a request over a socket (absent for in-process calls):
/// the peer address, or the address a trusted proxy names in `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ServiceInfo {
    /// A service with no published keys and no readiness checks, started now.
    pub fn new(
        name: impl Into<String>,
        mode: RuntimeMode,
        strict_identity: bool,
        internal: bool,
    ) -> Self {
        Self {
            name: name.into(),
            mode,
            strict_identity,
            internal,
            public_keys: vec![],
            readiness: vec![],
            started: Instant::now(),
            edge: EdgePolicy::default(),
            metrics_token_hash: None,
        }
    }
}

/// Limits of the skeleton.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Longest request.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows this service's registry only");
        }
        handle
    })
}

/// The probe listener's router: `/health` and `/ready` of `info`'s service and nothing else
/// (plain HTTP for orchestrators; see `Settings::probe_listen`).
pub fn probe_router(info: Arc<ServiceInfo>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(info)
        .fallback(|| async {
            ApiError::new(
                ErrorCode::NotFound,
                "the probe listener serves /health and /ready only",
            )
        })
}

/// Wraps `api` in the skeleton.
pub fn router(info: Arc<ServiceInfo>, api: Router, limits: Limits) -> Router {
    prometheus();
    let name = info.name.clone();
    let standard = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/info", get(service_info))
        .route("/attestation", get(attestation_report))
        .route("/metrics", get(metrics_text))
        .with_state(info.clone());
    let span_name = name.clone();
    standard
        .merge(api)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
        })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(limits.request_timeout, timeout_middleware))
        .layer(axum::extract::DefaultBodyLimit::max(limits.body_limit_bytes))
        .layer(middleware::from_fn_with_state(Arc::<str>::from(name), metrics_middleware))
        .layer(middleware::from_fn_with_state(info.clone(), edge_middleware))
        .layer(Extension(IdentityPolicy { strict: info.strict_identity }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(move |req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", service = %span_name, method = %req.method(), route = %route, request_id = %request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Refuses a `Host` the listener does not answer to (DNS rebinding) and a path or query that
/// decodes to control characters; records the client's address.
async fn edge_middleware(
    State(info): State<Arc<ServiceInfo>>,
    mut request: Request,
    next: Next,
) -> Response {
    // In-process calls name no host; a `Host` that is not text is refused like a foreign one.
    let allowed = match request.headers().get(header::HOST) {
        Some(value) => value
            .to_str()
            .is_ok_and(|host| host_allowed(host, &info.name, &info.edge.allowed_hosts)),
        None => request
            .uri()
            .authority()
            .is_none_or(|a| host_allowed(a.as_str(), &info.name, &info.edge.allowed_hosts)),
    };
    if !allowed {
        return ApiError::detailed(
            ErrorCode::InvalidRequest,
            "invalid_host",
            "this server does not answer to that Host",
        )
        .into_response();
    }
    let uri = request.uri();
    if percent_decoded_has_control(uri.path())
        || uri.query().is_some_and(percent_decoded_has_control)
    {
        return ApiError::detailed(
            ErrorCode::InvalidRequest,
            "invalid_characters",
            "the path or query contains a control character",
        )
        .into_response();
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = client_address(peer, request.headers(), &info.edge.trusted_proxies);
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

/// Whether `host` (a `Host` header, with or without port) names this listener: an IP literal,
/// `localhost`, the service's own name (its certificate name) or a configured name.
pub fn host_allowed(host: &str, service: &str, allowed: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.starts_with(':') => {
                return v6.parse::<std::net::Ipv6Addr>().is_ok();
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name == "localhost"
        || name == service
        || allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('.').eq_ignore_ascii_case(&name))
}

fn percent_decoded_has_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&decoded)
        .chars()
        .any(char::is_control)
}

/// The client of a request from `peer`: the peer itself, unless it is a trusted proxy, in
/// which case the right-most address of `X-Forwarded-For` that is not a trusted proxy.
pub fn client_address(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

/// Gives every error answer the common JSON shape, whatever produced it (an extractor's plain
/// text rejection, a layer): the status stays, the code follows from it.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let message = match code {
        ErrorCode::PayloadTooLarge => "request body too large",
        ErrorCode::Internal => "internal error",
        _ => status.canonical_reason().unwrap_or("request refused"),
    };
    let mut shaped = ApiError::new(code, message).into_response();
    *shaped.status_mut() = status;
    if let Some(retry) = response.headers().get(header::RETRY_AFTER) {
        shaped
            .headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    shaped
}

async fn timeout_middleware(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::Timeout, "the request took too long").into_response(),
    }
}

async fn metrics_middleware(
    State(service): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("service", service.to_string()),
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("neosl_http_requests_total", &labels).increment(1);
    metrics::histogram!("neosl_http_request_duration_seconds", &labels[..3])
        .record(start.elapsed().as_secs_f64());
    response
}

async fn health(State(info): State<Arc<ServiceInfo>>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": info.name }))
}

async fn ready(State(info): State<Arc<ServiceInfo>>) -> Response {
    let mut failures = Vec::new();
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    for check in &info.readiness {
        let result = check.check().await;
        checks.push(json!({ "check": check.name(), "ok": result.is_ok() }));
        if let Err(reason) = result {
            failures.push(json!({ "check": check.name(), "reason": reason }));
        }
        if let Some(warning) = check.warning().await {
            warnings.push(json!({ "check": check.name(), "warning": warning }));
        }
    }
    if failures.is_empty() {
        Json(json!({ "status": "ready", "service": info.name, "checks": checks, "warnings": warnings }))
            .into_response()
    } else {
        let names: Vec<&str> = failures
            .iter()
            .filter_map(|f| f["check"].as_str())
            .collect();
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({
            "success": false, "code": "not_ready", "error": format!("not ready: {}", names.join(", ")),
            "timestamp": crate::error::unix_seconds(), "service": info.name, "failures": failures, "checks": checks,
            "warnings": warnings,
        })))
            .into_response()
    }
}

async fn service_info(State(info): State<Arc<ServiceInfo>>) -> Json<serde_json::Value> {
    let report = attestation::collect(&info.name, info.mode, info.public_keys.clone());
    Json(json!({
        "service": info.name,
        "version": env!("CARGO_PKG_VERSION"),
        "mode": info.mode,
        "attested": report.attested,
        "attestation": report.statement,
        "strict_identity": info.strict_identity,
        "internal": info.internal,
        "public_keys": info.public_keys,
        "uptime_seconds": info.started.elapsed().as_secs(),
    }))
}

async fn attestation_report(
    State(info): State<Arc<ServiceInfo>>,
) -> Json<attestation::Attestation> {
    Json(attestation::collect(
        &info.name,
        info.mode,
        info.public_keys.clone(),
    ))
}

async fn metrics_text(
    State(info): State<Arc<ServiceInfo>>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !info.internal {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-admin-token").and_then(|v| v.to_str().ok()));
        let allowed = match (info.metrics_token_hash, given) {
            (Some(expected), Some(given)) => operator_token_matches(given, &expected),
            _ => false,
        };
        if !allowed {
            return ApiError::new(
                ErrorCode::Forbidden,
                "metrics of a public service need the operator token (Authorization: Bearer …)",
            )
            .into_response();
        }
    }
    let mut response = prometheus().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// Whether an operator token given as text (hex, or the raw bytes) hashes to `expected`;
/// constant time over the hash.
pub fn operator_token_matches(given: &str, expected: &[u8; 32]) -> bool {
    let given = given.trim();
    let bytes = hex::decode(given).unwrap_or_else(|_| given.as_bytes().to_vec());
    neosl_crypto::hash::constant_time_eq(&neosl_crypto::hash::sha256(&bytes), expected)
}

/// Serves `router` on `listener` until `shutdown` turns true, over mutual TLS when `tls` is
/// given (each request carries the verified [`PeerIdentity`]), else plain HTTP.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<()> {
    let signal = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    match tls {
        None => {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(signal)
            .await
        }
        Some(config) => serve_tls(listener, router, config, signal, grace).await,
    }
}

async fn serve_tls(
    listener: TcpListener,
    router: Router,
    config: Arc<ServerConfig>,
    signal: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::info!(%remote, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => return,
                    };
                    let peer = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(peer_service_name);
                    let Some(peer) = peer else {
                        tracing::info!(%remote, "client certificate names no service");
                        return;
                    };
                    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(PeerIdentity(peer.clone()));
                        req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
                        router.clone().oneshot(req.map(axum::body::Body::new))
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).into_owned();
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!(%remote, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut signal => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("graceful shutdown timed out; closing connections");
    }
    Ok(())
}
