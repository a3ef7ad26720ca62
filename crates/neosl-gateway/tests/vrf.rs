//! Paid service calls through the gateway: `/vrf/...` routed to the VRF service in-process, the
//! fee reserved, consumed on success and released on failure.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use neosl_crypto::{PublicKey, SecretBytes, SecretKey};
use neosl_gasbank::{GasBank, Owner};
use neosl_gateway::store::GatewayStore;
use neosl_gateway::{Gateway, GatewayConfig};
use neosl_runtime::RuntimeMode;
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::db::Database;
use neosl_runtime::server::{self, Limits, ServiceInfo};
use neosl_testkit::{TestDatabase, on_both_backends};
use serde_json::{Value, json};

struct Setup {
    app: Router,
    bank: GasBank,
    vrf_key: PublicKey,
}

async fn setup(test_db: &TestDatabase) -> Setup {
    let db = Database::connect(&test_db.url()).await.expect("db");
    let key = SecretKey::from_bytes(&[0x21; 32]).expect("key");
    let vrf_key = key.public_key();
    let vrf = Arc::new(
        neosl_vrf::VrfService::open(db.clone(), key, neosl_runtime::clock::system())
            .await
            .expect("vrf"),
    );
    let vrf_router = server::router(
        Arc::new(ServiceInfo::new(
            "vrf",
            RuntimeMode::Simulation,
            true,
            false,
        )),
        neosl_vrf::router(vrf),
        Limits::default(),
    );
    let store = GatewayStore::open(db.clone()).await.expect("gateway");
    let bank = GasBank::open(db).await.expect("bank");
    let gateway = Gateway::new(
        store,
        bank.clone(),
        SecretBytes::from_slice(&[9; 32]),
        GatewayConfig::default(),
    )
    .with_service(
        &neosl_vrf::Definition,
        Some(ServiceTransport::InProcess {
            router: vrf_router,
            caller: "gateway".into(),
        }),
    )
    .with_planned(["mixer", "datafeeds", "automation", "confidential"]);
    let app = server::router(
        Arc::new(ServiceInfo::new(
            "gateway",
            RuntimeMode::Simulation,
            false,
            false,
        )),
        neosl_gateway::router(Arc::new(gateway)),
        Limits::default(),
    );
    Setup { app, bank, vrf_key }
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, body, _) = common::call(app, method, uri, token, body).await;
    (status, body)
}

async fn user(app: &Router, email: &str) -> (String, String) {
    let data = common::register(app, email).await;
    (
        data["access_token"].as_str().expect("token").into(),
        data["user_id"].as_str().expect("id").into(),
    )
}

async fn vrf_through_the_gateway_charges_exactly_once(db: &TestDatabase) {
    let s = setup(db).await;
    let (token, id) = user(&s.app, "vrf@example.org").await;
    let owner = Owner::User(id.clone());

    // No balance: refused before the service is called.
    let (status, body) = call(
        &s.app,
        "POST",
        "/vrf/random",
        Some(&token),
        Some(json!({"seed": "0102", "num_words": 2})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient_balance"))
    );

    s.bank
        .deposit(&owner, 1_000_000, "seed-money", None)
        .await
        .expect("deposit");
    let (status, body) = call(
        &s.app,
        "POST",
        "/vrf/random",
        Some(&token),
        Some(json!({"seed": "0102abcd", "num_words": 4})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["random_words"].as_array().expect("words").len(), 4);
    assert_eq!(data["public_key"], s.vrf_key.to_string());
    assert_eq!(data["fee"]["amount"], 100_000);
    // Anyone can check it with the public key alone.
    let proof = hex::decode(data["proof"].as_str().expect("proof")).expect("hex");
    let words: Vec<[u8; 32]> = data["random_words"]
        .as_array()
        .expect("words")
        .iter()
        .map(|w| {
            hex::decode(w.as_str().expect("word"))
                .expect("hex")
                .try_into()
                .expect("32 bytes")
        })
        .collect();
    let beta = neosl_crypto::vrf::verify_random_words(
        &s.vrf_key,
        &hex::decode("0102abcd").expect("hex"),
        &proof,
        &words,
    )
    .expect("well-formed");
    assert_eq!(beta.map(hex::encode).as_deref(), data["output"].as_str());
    let state = s.bank.account(&owner).await.expect("state");
    assert_eq!(
        (state.balance, state.reserved),
        (900_000, 0),
        "charged once, nothing left reserved"
    );
    let history = s.bank.transactions(&owner, 10).await.expect("history");
    assert_eq!(history[0].r#type, "service_fee");
    assert_eq!(history[0].amount, -100_000);

    // Bad input: clear 4xx codes, and the fee is released, not charged.
    for (body, code) in [
        (json!({"seed": "abc", "num_words": 1}), "invalid_seed"),
        (json!({"seed": "zz", "num_words": 1}), "invalid_seed"),
        (
            json!({"seed": "00".repeat(1025), "num_words": 1}),
            "seed_too_large",
        ),
        (json!({"seed": "00", "num_words": 257}), "invalid_num_words"),
        (json!({"seed": "00", "num_words": 0}), "invalid_num_words"),
    ] {
        let (status, answer) = call(&s.app, "POST", "/vrf/random", Some(&token), Some(body)).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code))
        );
    }
    let state = s.bank.account(&owner).await.expect("state");
    assert_eq!(
        (state.balance, state.reserved),
        (900_000, 0),
        "failed calls are not charged"
    );

    // Verification is free and public; it catches a changed word.
    let verify =
        json!({"seed": "0102abcd", "proof": data["proof"], "random_words": data["random_words"]});
    let (status, answer) = call(&s.app, "POST", "/vrf/verify", None, Some(verify)).await;
    assert_eq!(
        (status, answer["data"]["valid"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let mut changed = data["random_words"].clone();
    changed[0] = json!("00".repeat(32));
    let (_, answer) = call(
        &s.app,
        "POST",
        "/vrf/verify",
        None,
        Some(json!({"seed": "0102abcd", "proof": data["proof"], "random_words": changed})),
    )
    .await;
    assert_eq!(answer["data"]["valid"], false);
    let (_, answer) = call(
        &s.app,
        "POST",
        "/vrf/verify",
        None,
        Some(json!({"seed": "0102abcd", "proof": data["proof"]})),
    )
    .await;
    assert_eq!(
        answer["data"]["output"], data["output"],
        "the proof alone gives beta"
    );
    let (status, answer) = call(
        &s.app,
        "POST",
        "/vrf/verify",
        None,
        Some(json!({"seed": "00", "proof": "0011"})),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_proof"))
    );
    let (status, answer) = call(
        &s.app,
        "POST",
        "/vrf/verify",
        None,
        Some(json!({"seed": "00", "proof": data["proof"], "public_key": "02ff"})),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_public_key"))
    );
    let (_, answer) = call(&s.app, "GET", "/vrf/public-key", None, None).await;
    assert_eq!(answer["data"]["public_key"], s.vrf_key.to_string());

    // Requests are listed for their owner only.
    let (_, mine) = call(&s.app, "GET", "/vrf/requests", Some(&token), None).await;
    assert_eq!(mine["data"]["requests"].as_array().expect("list").len(), 1);
    let (other, _) = user(&s.app, "other@example.org").await;
    let (_, theirs) = call(&s.app, "GET", "/vrf/requests", Some(&other), None).await;
    assert!(
        theirs["data"]["requests"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        call(
            &s.app,
            "POST",
            "/vrf/random",
            None,
            Some(json!({"seed": "00", "num_words": 1}))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Internal services are not reachable through the gateway.
    assert_eq!(
        call(
            &s.app,
            "POST",
            "/accountpool/request",
            Some(&token),
            Some(json!({"count": 1}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &s.app,
            "POST",
            "/request",
            Some(&token),
            Some(json!({"count": 1}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // Prefixes of services this build does not run answer a clear 503.
    for path in [
        "/mixer/request",
        "/datafeeds/prices/NEO",
        "/automation/triggers",
    ] {
        let (status, answer) = call(&s.app, "GET", path, Some(&token), None).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("service_not_deployed")
            ),
            "{path}"
        );
    }
    assert!(s.bank.check_invariants().await.expect("check").is_empty());
}

on_both_backends!(vrf_through_the_gateway_charges_exactly_once);
