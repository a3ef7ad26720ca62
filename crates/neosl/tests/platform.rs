//! A service defined only here, in a test crate, joins the platform with one line (its place in
//! the registry): served by the same wiring as `neosl serve`, reached and billed through the
//! gateway without gateway code of its own, its secret listed, its readiness check behind
//! `/ready`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::Json;
use axum::http::{HeaderMap, Method};
use axum::routing::post;
use neosl::{Options, Platform};
use neosl_runtime::error::ApiJson;
use neosl_runtime::server::Readiness;
use neosl_runtime::service::{Access, Declaration, FeeRule, PublicRoute, ServiceContext, Started};
use neosl_runtime::{ApiError, ErrorCode, RuntimeMode, SecretSpec, Service};
use neosl_testkit::TempDir;
use serde_json::{Value, json};

const ECHO_SECRET: SecretSpec = SecretSpec {
    name: "ECHO_SECRET",
    description: "the echo service's key (test only)",
    min_len: 32,
    exact_len: None,
    group: None,
    optional: false,
};

const DECLARATION: Declaration = Declaration {
    secrets: &[ECHO_SECRET],
    public_routes: &[
        PublicRoute::new(Method::POST, "/echo/shout", Access::Paid("echo")),
        PublicRoute::new(Method::POST, "/echo/refuse", Access::Paid("echo")),
    ],
    fees: &[FeeRule::flat("echo", 12_345)],
    ..Declaration::new("echo", "127.0.0.1:8099")
};

/// Upper-cases text for a fee; refuses on request (to show a refusal costs nothing).
struct Echo {
    ready: Arc<AtomicBool>,
}

struct EchoReady(Arc<AtomicBool>);

#[async_trait]
impl Readiness for EchoReady {
    fn name(&self) -> &str {
        "echo-ready"
    }
    async fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("the echo chamber is closed".into())
        }
    }
}

#[async_trait]
impl Service for Echo {
    fn declaration(&self) -> &'static Declaration {
        &DECLARATION
    }
    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started> {
        let key_len = context.secrets.use_secret(ECHO_SECRET.name, <[u8]>::len)?;
        let router = axum::Router::new()
            .route(
                "/echo/shout",
                post(
                    move |headers: HeaderMap, ApiJson(body): ApiJson<Value>| async move {
                        let user = headers
                            .get("x-user-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let text = body["text"].as_str().unwrap_or_default().to_uppercase();
                        Json(json!({ "text": text, "user": user, "key_len": key_len }))
                    },
                ),
            )
            .route(
                "/echo/refuse",
                post(|| async {
                    ApiError::detailed(ErrorCode::Unprocessable, "echo_refused", "not today")
                }),
            );
        Ok(Started::new(router).readiness(Arc::new(EchoReady(self.ready.clone()))))
    }
}

/// `method path` through the gateway, signed in with `token` when given.
async fn call(
    gateway: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{gateway}{path}"));
    if let Some(token) = token {
        request = common::with_auth(request, token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = common::send(request).await;
    (answer.status, answer.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_of_a_test_crate_is_served_routed_billed_and_listed() {
    let dir = TempDir::new("neosl-platform").expect("temp dir");
    let ready = Arc::new(AtomicBool::new(true));
    let mut registry = neosl::registry();
    registry.insert_before(
        "gateway",
        Arc::new(Echo {
            ready: ready.clone(),
        }),
    );
    let data_dir = dir.path().join("data");
    let env = common::platform_env(&dir, &[]);
    let settings = registry.load_settings(None, &env).expect("settings");
    assert_eq!(settings.mode, Some(RuntimeMode::Simulation));
    let platform = Platform::start(&registry, settings, Options::default())
        .await
        .expect("starts");
    let gateway = platform
        .url_of("gateway")
        .expect("gateway listens")
        .to_owned();
    assert_eq!(platform.url_of("echo"), None, "internal: no listener");

    // Its secret is listed like every other (what the MarbleRun manifest must inject).
    let listing = neosl::platform::secrets_listing(&registry, false);
    assert!(
        listing.contains("echo:") && listing.contains("ECHO_SECRET"),
        "{listing}"
    );
    let listing: Value =
        serde_json::from_str(&neosl::platform::secrets_listing(&registry, true)).expect("json");
    assert_eq!(listing["echo"][0]["name"], "ECHO_SECRET");

    let http = reqwest::Client::new();
    let registered = common::register(&http, &gateway, "echo@example.org").await;
    let token = registered["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let user = registered["user_id"].as_str().expect("user").to_owned();
    let token = Some(token.as_str());
    use reqwest::Method as M;
    let balance = || async {
        call(&gateway, M::GET, "/api/v1/gasbank/balance", token, None)
            .await
            .1["data"]["balance"]
            .as_i64()
            .expect("balance")
    };
    let shout = || {
        call(
            &gateway,
            M::POST,
            "/echo/shout",
            token,
            Some(json!({"text": "hello"})),
        )
    };

    // Without a balance the paid route is refused and nothing is held.
    let (status, refused) = shout().await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("insufficient_balance"))
    );

    // A development credit, with the operator command, on the same data directory.
    let data_dir_text = data_dir.display().to_string();
    common::dev_credit(
        "echo@example.org",
        100_000,
        &[("NEOSL_DATA_DIR", &data_dir_text)],
    );
    assert_eq!(balance().await, 100_000);

    // Through the gateway: routed by the service's own declaration, billed by its own fee.
    let (status, shouted) = shout().await;
    assert_eq!(status, 200, "{shouted}");
    assert_eq!(shouted["success"], true);
    assert_eq!(shouted["data"]["text"], "HELLO");
    assert_eq!(
        shouted["data"]["user"],
        user.as_str(),
        "the gateway names the user"
    );
    assert_eq!(
        shouted["data"]["key_len"], 32,
        "its secret was generated for it"
    );
    assert_eq!(shouted["data"]["fee"]["amount"], 12_345);
    assert_eq!(balance().await, 100_000 - 12_345);
    // A refusal by the service passes through with its code and costs nothing.
    let (status, refused) = call(&gateway, M::POST, "/echo/refuse", token, Some(json!({}))).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("echo_refused"))
    );
    assert_eq!(balance().await, 100_000 - 12_345);
    // Unauthenticated: refused before anything reaches the service.
    let (status, _) = call(
        &gateway,
        M::POST,
        "/echo/shout",
        None,
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    // The ledger names the fee; the schedule lists it.
    let (_, ledger) = call(
        &gateway,
        M::GET,
        "/api/v1/gasbank/transactions",
        token,
        None,
    )
    .await;
    let entries = ledger["data"]["transactions"].as_array().expect("entries");
    let types: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default(),
                e["counterparty"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("service_fee", Some("echo")),
            ("dev_credit", Some("development"))
        ]
    );
    let (_, fees) = call(&gateway, M::GET, "/api/v1/gasbank/fees", None, None).await;
    assert_eq!(fees["data"]["schedule"]["echo"], 12_345);
    assert_eq!(fees["data"]["schedule"]["vrf"], 100_000);

    // Its readiness check stands behind its /ready, beside the platform's own.
    let echo = platform.in_process("echo", "gateway").expect("in process");
    let answer: Value = echo
        .call::<(), _>(Method::GET, "/ready", None)
        .await
        .expect("ready");
    let checks: Vec<&str> = answer["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["check"].as_str())
        .collect();
    assert_eq!(checks, ["database", "secrets", "echo-ready"]);
    ready.store(false, Ordering::SeqCst);
    match echo.call::<(), Value>(Method::GET, "/ready", None).await {
        Err(neosl_runtime::client::TransportError::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!((status, code.as_str()), (503, "not_ready"));
            assert!(message.contains("echo-ready"), "{message}");
        }
        other => panic!("not ready expected: {other:?}"),
    }
    platform.stop().await.expect("stops");
}

/// Settings name services by the registry: a section no service owns is refused, and so is a
/// fee no service declares.
#[test]
fn settings_are_checked_against_the_registry() {
    let registry = neosl::registry();
    let dir = TempDir::new("neosl-settings").expect("temp dir");
    for (text, expected) in [
        ("[gatewy]\nmax_api_keys = 3\n", "gatewy"),
        ("[fees]\nconfidentail = 5\n", "confidentail"),
        ("[accountpool]\ntarget = 5\n", "target"),
        (
            "[services.nosuchservice]\nurl = \"http://x\"\n",
            "nosuchservice",
        ),
    ] {
        let file = dir.path().join("neosl.toml");
        std::fs::write(&file, text).expect("write");
        let err = registry
            .load_settings(Some(&file), &HashMap::<String, String>::new())
            .expect_err("refused");
        assert!(format!("{err:#}").contains(expected), "{text}: {err:#}");
    }
    let file = dir.path().join("good.toml");
    std::fs::write(&file, "[fees]\nvrf = 5\n[accountpool]\ntarget_size = 5\n").expect("write");
    let settings = registry
        .load_settings(Some(&file), &HashMap::<String, String>::new())
        .expect("valid");
    assert_eq!(
        registry
            .fee_schedule(&settings)
            .expect("fees")
            .fee("vrf", 0),
        Some(5)
    );
}
