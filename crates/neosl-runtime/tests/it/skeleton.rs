use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use neosl_runtime::RuntimeMode;
use neosl_runtime::error::ApiJson;
use neosl_runtime::identity::Caller;
use neosl_runtime::server::{self, Limits, ServiceInfo};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Deserialize)]
struct Echo {
    value: u32,
}

fn app(strict: bool) -> Router {
    let mut info = ServiceInfo::new("vrf", RuntimeMode::Simulation, strict, false);
    info.metrics_token_hash = Some(neosl_crypto::hash::sha256(b"metrics-token"));
    let info = Arc::new(info);
    let api = Router::new()
        .route(
            "/echo",
            post(|ApiJson(e): ApiJson<Echo>| async move { ApiJson(json!({ "value": e.value })) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/whoami",
            get(|c: Caller| async move {
                ApiJson(json!({ "service_id": c.service_id, "verified": c.verified }))
            }),
        );
    server::router(
        info,
        api,
        Limits {
            body_limit_bytes: 64,
            request_timeout: Duration::from_millis(200),
        },
    )
}

async fn call(app: Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.oneshot(request).await.expect("infallible");
    let status = response.status();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        id,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn standard_endpoints_answer() {
    let (status, id, body) = call(
        app(false),
        Request::get("/health").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["service"], "vrf");
    assert!(id.is_some(), "a request id is generated and echoed");
    let (status, _, body) = call(
        app(false),
        Request::get("/info").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["mode"], "simulation");
    assert_eq!(body["attested"], false);
    let (status, _, body) = call(
        app(false),
        Request::get("/attestation")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body["statement"]
            .as_str()
            .expect("statement")
            .contains("nothing is attested")
    );
    let (status, _, _) = call(
        app(false),
        Request::get("/ready").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(status, 200);
    // Metrics of a public service need the operator token; they count requests.
    let (status, _, body) = call(
        app(false),
        Request::get("/metrics").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (403, Some("forbidden"))
    );
    let response = app(false)
        .oneshot(
            Request::get("/metrics")
                .header("authorization", "Bearer metrics-token")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("ok");
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    )
    .expect("utf-8");
    assert!(text.contains("neosl_http_requests_total"), "{text}");
}

#[tokio::test]
async fn bad_input_gets_the_common_error_shape() {
    let given = "abc-123";
    let request = Request::get("/nope")
        .header("x-request-id", given)
        .body(Body::empty())
        .expect("req");
    let (status, id, body) = call(app(false), request).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(id.as_deref(), Some(given), "a given request id is kept");
    assert_eq!(body["success"], false);

    let (status, _, body) = call(app(false), post_json("/echo", "{not json")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _, body) = call(app(false), post_json("/echo", r#"{"value": -1}"#)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _, body) = call(
        app(false),
        post_json(
            "/echo",
            &format!(r#"{{"value": 1, "pad": "{}"}}"#, "x".repeat(100)),
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (status, _, body) = call(
        app(false),
        Request::get("/slow").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("timeout"))
    );
    let (status, _, body) = call(
        app(false),
        Request::delete("/health").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let (status, _, body) = call(app(false), post_json("/echo", r#"{"value": 7}"#)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "value": 7 })));
}

#[tokio::test]
async fn identity_without_certificates() {
    // Development (not strict): the header names the caller.
    let request = Request::get("/whoami")
        .header("x-service-id", "mixer")
        .body(Body::empty())
        .expect("req");
    let (status, _, body) = call(app(false), request).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({ "service_id": "mixer", "verified": false })
        )
    );
    let (status, _, body) = call(
        app(false),
        Request::get("/whoami").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    // Strict: no certificate, no identity, whatever the header says.
    let request = Request::get("/whoami")
        .header("x-service-id", "mixer")
        .body(Body::empty())
        .expect("req");
    let (status, _, body) = call(app(true), request).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
}

#[tokio::test]
async fn ready_reports_the_database() {
    let dir = neosl_testkit::TempDir::new("neosl-ready").expect("temp dir");
    let db = neosl_runtime::db::Database::connect_unshared(&format!(
        "sqlite://{}",
        dir.path().join("ready.db").display()
    ))
    .await
    .expect("db");
    let mut info = ServiceInfo::new("vrf", RuntimeMode::Simulation, false, true);
    info.readiness = vec![Arc::new(neosl_runtime::db::DatabaseReadiness(db.clone()))];
    let app = server::router(Arc::new(info), Router::new(), Limits::default());
    let ready = || Request::get("/ready").body(Body::empty()).expect("req");
    let (status, _, body) = call(app.clone(), ready()).await;
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("ready"))
    );
    db.pool().close().await;
    let (status, _, body) = call(app, ready()).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (503, Some("not_ready")),
        "{body}"
    );
    assert_eq!(body["failures"][0]["check"], "database");
}
