//! The gateway's public API through its router: accounts, tokens, API keys, wallet login, rate
//! limits and the GasBank endpoints.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use neosl_crypto::{SecretBytes, SecretKey};
use neosl_gasbank::{GasBank, Owner};
use neosl_gateway::limit::{Rate, RateLimits};
use neosl_gateway::store::GatewayStore;
use neosl_gateway::{Gateway, GatewayConfig};
use neosl_neo::Address;
use neosl_runtime::RuntimeMode;
use neosl_runtime::clock::ManualClock;
use neosl_runtime::db::Database;
use neosl_runtime::server::{self, Limits, ServiceInfo};
use neosl_testkit::{TestDatabase, on_both_backends};
use serde_json::{Value, json};

struct Api {
    app: Router,
    bank: GasBank,
    /// The gateway's time: tests move it instead of sleeping.
    clock: Arc<ManualClock>,
}

async fn api(db: &TestDatabase, limits: RateLimits) -> Api {
    api_with(
        db,
        GatewayConfig {
            limits,
            ..GatewayConfig::default()
        },
    )
    .await
}

async fn api_with(test_db: &TestDatabase, config: GatewayConfig) -> Api {
    let db = Database::connect(&test_db.url()).await.expect("db");
    let clock = ManualClock::starting_now();
    let store = GatewayStore::open(db.clone()).await.expect("migrate");
    let bank = GasBank::open(db).await.expect("migrate");
    let deposits = neosl_gasbank::deposits::Deposits::new(
        bank.clone(),
        neosl_crypto::MasterKey::new(SecretBytes::from_slice(&[3; 32])).expect("key"),
    );
    let gateway = Arc::new(
        Gateway::new(
            store,
            bank.clone(),
            SecretBytes::from_slice(&[9; 32]),
            config,
        )
        .with_clock(clock.clone())
        .with_deposits(deposits)
        .with_service(&neosl_vrf::Definition, None)
        .with_chain(
            // A chain that is configured (deposits are watched) but never called here.
            neosl_chain::RpcClient::new(
                vec!["http://127.0.0.1:9".into()],
                neosl_chain::rpc::RpcConfig::default(),
            )
            .expect("rpc"),
        ),
    );
    let info = Arc::new(ServiceInfo::new(
        "gateway",
        RuntimeMode::Simulation,
        false,
        false,
    ));
    let app = server::router(info, neosl_gateway::router(gateway), Limits::default());
    Api { app, bank, clock }
}

fn generous() -> RateLimits {
    let r = Rate {
        per_second: 1000.0,
        burst: 1000,
    };
    RateLimits {
        auth: r,
        auth_client: r,
        api: r,
        money: r,
        public: r,
        routes: Default::default(),
    }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, Option<String>) {
        common::call(&self.app, method, uri, auth, body).await
    }

    async fn register(&self, email: &str) -> Value {
        common::register(&self.app, email).await
    }
}

async fn accounts_sessions_and_tokens(db: &TestDatabase) {
    let api = api(db, generous()).await;
    let tokens = api.register("Alice@Example.org").await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let (status, me, _) = api.call("GET", "/api/v1/me", Some(&access), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["data"]["user"]["email"], "alice@example.org");
    assert!(me["timestamp"].is_u64());

    // Duplicate, weak, malformed.
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "alice@example.org", "password": "another long password"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    let (_, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "bob@example.org", "password": "short"})),
        )
        .await;
    assert_eq!(body["code"], "weak_password");
    let (_, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "not-an-email", "password": "a long enough password"})),
        )
        .await;
    assert_eq!(body["code"], "invalid_email");
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": 5})),
        )
        .await;
    assert_eq!(
        (status, body["success"].as_bool(), body["code"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some(false),
            Some("invalid_request")
        )
    );

    // Login: wrong password and unknown user look the same.
    let (s1, b1, _) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "alice@example.org", "password": "wrong password!!"})),
        )
        .await;
    let (s2, b2, _) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.org", "password": "wrong password!!"})),
        )
        .await;
    assert_eq!(
        (s1, b1["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_credentials"))
    );
    assert_eq!((s2, b2["code"].clone()), (s1, b1["code"].clone()));
    let (status, second, _) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "alice@example.org", "password": "a long enough password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second_session = second["data"]["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Refresh rotates: the old refresh token is dead afterwards.
    let (status, rotated, _) = api
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rotated_access = rotated["data"]["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(&rotated_access), None)
            .await
            .0,
        StatusCode::OK
    );
    // Presenting the rotated-away token again is theft (or a leak): refused, and the whole
    // session ends, the new tokens included.
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")),
        "a used refresh token is refused"
    );
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(&rotated_access), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the session of a reused refresh token is revoked"
    );
    let (status, _, _) = api
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rotated["data"]["refresh_token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its newest token too");
    let (status, rotated, _) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "alice@example.org", "password": "a long enough password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let access2 = rotated["data"]["access_token"]
        .as_str()
        .expect("access")
        .to_owned();

    // Tampered tokens are refused.
    let mut tampered = access2.clone();
    tampered.pop();
    tampered.push(if access2.ends_with('A') { 'B' } else { 'A' });
    let (status, body, _) = api.call("GET", "/api/v1/me", Some(&tampered), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let (status, _, _) = api.call("GET", "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Logout ends the session: its access token stops working at once.
    let (status, _, _) = api
        .call("POST", "/api/v1/auth/logout", Some(&access2), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api.call("GET", "/api/v1/me", Some(&access2), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = api
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rotated["data"]["refresh_token"]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked session cannot refresh"
    );
    // Refreshing kept the session, so its first access token ended with it too; the session
    // from the second login is untouched.
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(&access), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(&second_session), None)
            .await
            .0,
        StatusCode::OK
    );
}

async fn api_keys_are_hashed_listed_and_revocable(db: &TestDatabase) {
    let api = api(db, generous()).await;
    let access = api.register("keys@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, created, _) = api
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&access),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = created["data"]["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("nsk_"));
    let (status, me, _) = api.call("GET", "/api/v1/me", Some(&key), None).await;
    assert_eq!(
        (status, me["data"]["authenticated_by"].as_str()),
        (StatusCode::OK, Some("api_key"))
    );
    let (_, list, _) = api
        .call("GET", "/api/v1/api-keys", Some(&access), None)
        .await;
    assert!(
        !list.to_string().contains(&key[12..]),
        "listing never shows the key"
    );
    let id = list["data"]["keys"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Another user cannot revoke it.
    let other = api.register("other@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            Some(&other),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            Some(&access),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body, _) = api.call("GET", "/api/v1/me", Some(&key), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert_eq!(
        api.call("GET", "/api/v1/me", Some("nsk_forged"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn neo_wallet_login(db: &TestDatabase) {
    let api = api(db, generous()).await;
    let key = SecretKey::generate();
    let address = Address::from_public_key(&key.public_key()).to_string();
    let (status, nonce, _) = api
        .call(
            "POST",
            "/api/v1/auth/wallet/nonce",
            None,
            Some(json!({"address": address})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let message = nonce["data"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    let nonce = nonce["data"]["nonce"].as_str().expect("nonce").to_owned();
    assert!(message.contains(&nonce) && message.contains(&address));
    let signature = hex::encode(key.sign(message.as_bytes()).expect("sign").to_bytes());
    let login = |sig: &str, pk: String, addr: &str, n: &str| json!({"address": addr, "public_key": pk, "signature": sig, "nonce": n});
    let pk = key.public_key().to_string();

    // Someone else's key for this address, or a signature over something else: refused.
    let other = SecretKey::generate();
    let (_, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/wallet/login",
            None,
            Some(login(
                &signature,
                other.public_key().to_string(),
                &address,
                &nonce,
            )),
        )
        .await;
    assert_eq!(body["code"], "invalid_signature");
    let wrong = hex::encode(key.sign(b"something else").expect("sign").to_bytes());
    let (_, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/wallet/login",
            None,
            Some(login(&wrong, pk.clone(), &address, &nonce)),
        )
        .await;
    assert_eq!(body["code"], "invalid_signature");

    let (status, tokens, _) = api
        .call(
            "POST",
            "/api/v1/auth/wallet/login",
            None,
            Some(login(&signature, pk.clone(), &address, &nonce)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["data"]["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, me, _) = api.call("GET", "/api/v1/me", Some(&access), None).await;
    assert_eq!(me["data"]["user"]["neo_address"], address.as_str());
    // A nonce works once.
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/auth/wallet/login",
            None,
            Some(login(&signature, pk, &address, &nonce)),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_nonce"))
    );
}

async fn brute_force_and_api_rate_limits_answer_429_with_retry_after(db: &TestDatabase) {
    let limits = RateLimits {
        auth: Rate {
            per_second: 1.0 / 60.0,
            burst: 5,
        },
        api: Rate {
            per_second: 2.0,
            burst: 3,
        },
        money: Rate {
            per_second: 1.0,
            burst: 1,
        },
        ..RateLimits::default()
    };
    let api = api(db, limits).await;
    let access = api.register("limited@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, _, retry) = api
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": "limited@example.org", "password": "guess guess guess"})),
            )
            .await;
        statuses.push((status, retry));
    }
    // Only failures count against an identity (per client): five wrong guesses, then the limit.
    assert!(
        statuses[..5]
            .iter()
            .all(|(s, _)| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let (status, retry) = &statuses[5];
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = retry
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // API calls: burst of 3, then 429 until a token refills (2 per second).
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(api.call("GET", "/api/v1/me", Some(&access), None).await.0);
    }
    assert_eq!(codes[..3], [StatusCode::OK; 3]);
    assert_eq!(codes[3], StatusCode::TOO_MANY_REQUESTS);
    api.clock.advance(Duration::from_millis(600));
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(&access), None).await.0,
        StatusCode::OK,
        "refilled at the configured rate"
    );
}

async fn a_route_limit_from_settings_applies_to_that_route_only(db: &TestDatabase) {
    let settings: neosl_runtime::config::Settings = toml::from_str(
        r#"
        [gateway.rate_limits]
        api = { per_second = 1000.0, burst = 1000 }
        auth = { per_second = 1000.0, burst = 1000 }
        "/api/v1/gasbank/balance" = { per_second = 1.0, burst = 2 }
        [fees]
        vrf = 250000
        "#,
    )
    .expect("parses");
    let section: neosl_gateway::GatewaySettings = settings.section("gateway").expect("valid");
    let config = GatewayConfig::from_settings(&section).expect("valid");
    let fees =
        neosl_runtime::service::FeeSchedule::new(&[neosl_vrf::definition::VRF_FEE], &settings.fees)
            .expect("valid");
    assert_eq!(fees.fee("vrf", 0), Some(250_000));
    let api = api(db, config.limits).await;
    let token = api.register("route@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            api.call("GET", "/api/v1/gasbank/balance", Some(&token), None)
                .await,
        );
    }
    assert_eq!(codes[0].0, StatusCode::OK);
    assert_eq!(codes[1].0, StatusCode::OK);
    assert_eq!(codes[2].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(codes[2].1["code"], "rate_limited");
    assert_eq!(
        codes[2].2.as_deref(),
        Some("1"),
        "Retry-After at 1 per second"
    );
    // Other routes keep the class limit.
    for _ in 0..10 {
        assert_eq!(
            api.call("GET", "/api/v1/me", Some(&token), None).await.0,
            StatusCode::OK
        );
    }
    api.clock.advance(Duration::from_millis(1100));
    assert_eq!(
        api.call("GET", "/api/v1/gasbank/balance", Some(&token), None)
            .await
            .0,
        StatusCode::OK,
        "refilled at the configured rate"
    );

    // Typos and impossible values are refused, not ignored.
    for bad in [
        "[gateway.rate_limits]\napi_typo = { per_second = 1.0, burst = 1 }",
        "[gateway.rate_limits]\napi = { per_second = 0.0, burst = 1 }",
        "[gateway.rate_limits]\napi = { per_second = 1.0, burst = 0 }",
        "[fees]\nvrff = 1",
        "[fees]\nvrf = -1",
        "[fees]\nvrf = { base = 1, basis_points = 10001 }",
        "[gateway]\nreservation_ttll_secs = 600",
    ] {
        let settings: neosl_runtime::config::Settings = toml::from_str(bad).expect("parses");
        let refused = settings
            .section::<neosl_gateway::GatewaySettings>("gateway")
            .and_then(|section| GatewayConfig::from_settings(&section))
            .and_then(|_| {
                neosl_runtime::service::FeeSchedule::new(
                    &[neosl_vrf::definition::VRF_FEE],
                    &settings.fees,
                )
            });
        assert!(refused.is_err(), "{bad}");
    }
}

async fn an_expired_access_token_is_refused_and_the_session_can_refresh(db: &TestDatabase) {
    let api = api_with(
        db,
        GatewayConfig {
            access_ttl: Duration::from_secs(1),
            limits: generous(),
            ..GatewayConfig::default()
        },
    )
    .await;
    let tokens = api.register("expiry@example.org").await;
    let access = tokens["access_token"].as_str().expect("token").to_owned();
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(&access), None).await.0,
        StatusCode::OK
    );
    api.clock.advance(Duration::from_millis(2100));
    let (status, body, _) = api.call("GET", "/api/v1/me", Some(&access), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let (status, refreshed, _) = api
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": tokens["refresh_token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let fresh = refreshed["data"]["access_token"].as_str().expect("token");
    assert_eq!(
        api.call("GET", "/api/v1/me", Some(fresh), None).await.0,
        StatusCode::OK
    );
}

async fn gasbank_endpoints_are_per_user(db: &TestDatabase) {
    let api = api(db, generous()).await;
    let alice = api.register("a@example.org").await;
    let bob = api.register("b@example.org").await;
    let (alice_token, alice_id) = (
        alice["access_token"].as_str().expect("t").to_owned(),
        alice["user_id"].as_str().expect("id").to_owned(),
    );
    let (bob_token, bob_id) = (
        bob["access_token"].as_str().expect("t").to_owned(),
        bob["user_id"].as_str().expect("id").to_owned(),
    );
    api.bank
        .deposit(
            &Owner::User(alice_id.clone()),
            1_000_000,
            "chain:tx:0",
            None,
        )
        .await
        .expect("deposit");

    let (_, balance, _) = api
        .call("GET", "/api/v1/gasbank/balance", Some(&alice_token), None)
        .await;
    assert_eq!(balance["data"]["balance"], 1_000_000);
    let (_, balance, _) = api
        .call("GET", "/api/v1/gasbank/balance", Some(&bob_token), None)
        .await;
    assert_eq!(
        balance["data"]["balance"], 0,
        "each user sees their own balance"
    );

    let pay = json!({"user_id": bob_id, "amount": "250000", "reference": "gift-1"});
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/gasbank/pay-user",
            Some(&alice_token),
            Some(pay.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = api
        .call(
            "POST",
            "/api/v1/gasbank/pay-user",
            Some(&alice_token),
            Some(pay),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same reference again is a no-op"
    );
    let contract = json!({"contract": "0x1111111111111111111111111111111111111111", "amount": 100000, "reference": "c-1"});
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/gasbank/pay-contract",
            Some(&alice_token),
            Some(contract)
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, balance, _) = api
        .call("GET", "/api/v1/gasbank/balance", Some(&alice_token), None)
        .await;
    assert_eq!(balance["data"]["balance"], 650_000);
    let (_, balance, _) = api
        .call("GET", "/api/v1/gasbank/balance", Some(&bob_token), None)
        .await;
    assert_eq!(balance["data"]["balance"], 250_000);

    // Bob cannot spend Alice's money: he spends his own, and no more than he has.
    let too_much = json!({"user_id": alice_id, "amount": "250001", "reference": "x"});
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/gasbank/pay-user",
            Some(&bob_token),
            Some(too_much),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient_balance"))
    );
    for bad in [
        json!({"user_id": alice_id, "amount": "-5", "reference": "x"}),
        json!({"user_id": alice_id, "amount": 1.5, "reference": "x"}),
    ] {
        assert_eq!(
            api.call(
                "POST",
                "/api/v1/gasbank/pay-user",
                Some(&bob_token),
                Some(bad)
            )
            .await
            .0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/gasbank/pay-user",
            Some(&bob_token),
            Some(json!({"user_id": "nobody", "amount": 1, "reference": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_user"))
    );
    let (_, history, _) = api
        .call(
            "GET",
            "/api/v1/gasbank/transactions?limit=10",
            Some(&alice_token),
            None,
        )
        .await;
    let types: Vec<&str> = history["data"]["transactions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert_eq!(types, ["sponsor", "sponsor", "deposit"]);
    // Deposit addresses: one per user, stable, different between users.
    let (status, a1, _) = api
        .call(
            "GET",
            "/api/v1/gasbank/deposit-address",
            Some(&alice_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, a2, _) = api
        .call(
            "GET",
            "/api/v1/gasbank/deposit-address",
            Some(&alice_token),
            None,
        )
        .await;
    let (_, b1, _) = api
        .call(
            "GET",
            "/api/v1/gasbank/deposit-address",
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(a1["data"]["address"], a2["data"]["address"]);
    assert_ne!(a1["data"]["address"], b1["data"]["address"]);
    assert!(Address::parse(a1["data"]["address"].as_str().expect("address")).is_ok());
    // Withdrawals need the chain, which this gateway does not have.
    let w = json!({"to_address": a1["data"]["address"], "amount": 1, "reference": "w"});
    let (status, body, _) = api
        .call(
            "POST",
            "/api/v1/gasbank/withdraw",
            Some(&alice_token),
            Some(w),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("chain_unavailable"))
    );
    let (_, fees, _) = api.call("GET", "/api/v1/gasbank/fees", None, None).await;
    assert_eq!(fees["data"]["schedule"]["vrf"], 100_000);
    assert!(api.bank.check_invariants().await.expect("check").is_empty());
}

on_both_backends!(
    accounts_sessions_and_tokens,
    api_keys_are_hashed_listed_and_revocable,
    neo_wallet_login,
    brute_force_and_api_rate_limits_answer_429_with_retry_after,
    a_route_limit_from_settings_applies_to_that_route_only,
    an_expired_access_token_is_refused_and_the_session_can_refresh,
    gasbank_endpoints_are_per_user,
);
