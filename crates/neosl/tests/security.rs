//! The platform attacked from outside, as an attacker on the same machine or the open internet
//! would: real `neosl serve` processes, real sockets, SQLite and PostgreSQL. Each test
//! reproduces an attack that once worked and checks that it fails now.
//!
//! Several loopback addresses (127.0.0.2, …) play different clients: a stranger and the
//! legitimate user are told apart by their address, as on a network.

mod common;

use common::{PASSWORD, post, register, send, with_auth};

use std::net::IpAddr;
use std::time::{Duration, Instant};

use neosl_testkit::TempDir;
use serde_json::{Value, json};

const SETTINGS: &str = r#"
[gateway]
max_api_keys = 20
password_hash_concurrency = 2
password_hash_queue = 16

[gateway.rate_limits]
api = { per_second = 1000.0, burst = 1000 }
money = { per_second = 0.001, burst = 10 }
"/vrf/public-key" = { per_second = 0.001, burst = 3 }
"#;

const ADMIN_TOKEN: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

fn start(dir: &TempDir, database_url: Option<&str>) -> common::Running {
    let config = dir.path().join("settings.toml");
    std::fs::write(&config, SETTINGS).expect("settings");
    let mut env = vec![("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)];
    if let Some(url) = database_url {
        env.push(("NEOSL_DATABASE_URL", url));
    }
    let config = config.to_str().expect("utf-8").to_owned();
    common::serve(dir, &["--config", &config], &env).expect("starts")
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Every documented way to run the platform keeps the internal services out of reach of a
/// local caller without a verified identity.
#[test]
fn internal_services_are_unreachable_without_a_verified_identity() {
    let dir = TempDir::new("neosl-sec-modes").expect("temp dir");
    // The default: one process, the internal services have no listener at all.
    let running = common::serve(&dir, &[], &[]).expect("starts");
    assert_eq!(
        running.urls.keys().collect::<Vec<_>>(),
        ["gateway"],
        "{:?}",
        running.stdout
    );
    let gateway = running.urls["gateway"].clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        // The gateway never routes to the AccountPool.
        for path in [
            "/request",
            "/sign",
            "/accountpool/sign",
            "/api/v1/accountpool/request",
        ] {
            let answer = post(
                &client,
                &format!("{gateway}{path}"),
                None,
                json!({"service_id": "gateway", "count": 1}),
            )
            .await;
            assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        }
        // DNS rebinding: a page of another origin reaching the loopback gateway names its own
        // host; refused. The gateway's own names are served.
        let evil = send(
            client
                .get(format!("{gateway}/health"))
                .header("Host", "evil.example"),
        )
        .await;
        assert_eq!(
            (evil.status, evil.body["code"].as_str()),
            (400, Some("invalid_host"))
        );
        let port = gateway.rsplit(':').next().expect("port");
        for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
            let ok = send(client.get(format!("{gateway}/health")).header("Host", host)).await;
            assert_eq!(ok.status, 200);
        }
    });
    running.stop();

    // Listeners for the internal services without mutual TLS are refused…
    for args in [
        &["--expose-internal"][..],
        &["--service", "accountpool", "--listen", "127.0.0.1:0"][..],
        &["--service", "vrf", "--listen", "127.0.0.1:0"][..],
    ] {
        let err = common::serve(&dir, args, &[])
            .err()
            .unwrap_or_else(|| panic!("{args:?} must not start"));
        assert!(err.contains("mutual TLS"), "{args:?}: {err}");
    }
    // … the development flag is refused in enclave mode …
    let err = common::serve(
        &dir,
        &[
            "--service",
            "vrf",
            "--insecure-dev-identity",
            "--mode",
            "enclave",
        ],
        &[],
    )
    .err()
    .expect("refused");
    assert!(err.contains("refused in enclave mode"), "{err}");
    // … and said loudly where it is used.
    let running = common::serve(
        &dir,
        &[
            "--service",
            "vrf",
            "--listen",
            "127.0.0.1:0",
            "--insecure-dev-identity",
        ],
        &[],
    )
    .expect("starts");
    assert!(
        running.stdout.iter().any(|l| l.contains("INSECURE")),
        "{:?}",
        running.stdout
    );
    let log = running.stop();
    assert!(log.contains("WARNING: --insecure-dev-identity"), "{log}");

    // With certificates: exposed, but only to a client certificate of the platform's CA.
    let tls_dir = dir.path().join("tls");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["dev-certs", "--out"])
        .arg(&tls_dir)
        .output()
        .expect("dev-certs");
    assert!(out.status.success());
    let running =
        common::serve(&dir, &["--tls-dir", tls_dir.to_str().expect("utf-8")], &[]).expect("starts");
    let pool = running.urls["accountpool"].replace("127.0.0.1", "localhost");
    let ca = std::fs::read(tls_dir.join("ca.pem")).expect("ca");
    rt.block_on(async {
        let no_certificate = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca")])
            .build()
            .expect("client");
        let refused = no_certificate
            .post(format!("{pool}/request"))
            .header("X-Service-ID", "gateway")
            .json(&json!({"count": 1}))
            .send()
            .await;
        assert!(
            refused.is_err(),
            "a caller without a certificate is refused"
        );
        let plain = reqwest::Client::new()
            .post(pool.replace("https://", "http://") + "/request")
            .header("X-Service-ID", "gateway")
            .json(&json!({"count": 1}))
            .send()
            .await;
        assert!(
            plain
                .map(|r| r.status().is_success())
                .unwrap_or(false)
                .eq(&false),
            "plain HTTP never reaches the pool"
        );
    });
    running.stop();
}

/// 500 concurrent logins to unknown e-mails from 100 addresses: password hashing stays bounded
/// (memory and CPU), the flood is told to come back later, and a real user still signs in.
#[test]
fn a_login_flood_keeps_memory_bounded_and_the_real_user_gets_in() {
    let dir = TempDir::new("neosl-sec-flood").expect("temp dir");
    let running = start(&dir, None);
    let gateway = running.urls["gateway"].clone();
    let pid = running.child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let (busy, real_login_took) = rt.block_on(async {
        let user = client_from("127.0.0.1");
        register(&user, &gateway, "real@example.org").await;
        let clients: Vec<reqwest::Client> = (0..100)
            .map(|i| client_from(&format!("127.0.0.{}", 2 + i)))
            .collect();
        let mut flood = Vec::new();
        for i in 0..500usize {
            let client = clients[i % 100].clone();
            let url = format!("{gateway}/api/v1/auth/login");
            flood.push(tokio::spawn(async move {
                let answer = post(
                    &client,
                    &url,
                    None,
                    json!({"email": format!("nobody{i}@example.org"), "password": "wrong password!"}),
                )
                .await;
                (answer.status, answer.body["code"].as_str().map(str::to_owned), answer.retry_after)
            }));
        }
        // The real user signs in during the flood, retrying when told to.
        let started = Instant::now();
        loop {
            let answer = post(
                &user,
                &format!("{gateway}/api/v1/auth/login"),
                None,
                json!({"email": "real@example.org", "password": PASSWORD}),
            )
            .await;
            if answer.status == 200 {
                break;
            }
            assert!(
                matches!(answer.status, 503 | 429),
                "{} {}",
                answer.status,
                answer.body
            );
            assert!(started.elapsed() < Duration::from_secs(30), "the real login never got in");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let took = started.elapsed();
        let mut busy = 0;
        for task in flood {
            let (status, code, retry) = task.await.expect("task");
            match status {
                401 => assert_eq!(code.as_deref(), Some("invalid_credentials")),
                503 => {
                    assert_eq!(code.as_deref(), Some("auth_busy"));
                    assert!(retry.is_some(), "503 carries Retry-After");
                    busy += 1;
                }
                other => panic!("unexpected {other} {code:?}"),
            }
        }
        (busy, took)
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    running.stop();
    eprintln!(
        "login flood: {busy} of 500 told auth_busy; real login after {real_login_took:?}; server peak RSS {} MiB",
        peak_kib / 1024
    );
    assert!(busy > 0, "the gate turned part of the flood away");
    // Two hashes at once hold ~38 MiB; 500 unbounded would hold ~9.5 GiB.
    assert!(
        peak_kib < 256 * 1024,
        "peak RSS {} MiB exceeds the 256 MiB bound",
        peak_kib / 1024
    );
}

#[test]
fn attacks_fail_on_sqlite() {
    let dir = TempDir::new("neosl-sec-sqlite").expect("temp dir");
    let running = start(&dir, None);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(attacks(&running.urls["gateway"]));
    running.stop();
    // The database and the data directory are the owner's alone.
    let mode = |p: std::path::PathBuf| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&p).expect("exists").permissions(),
        ) & 0o777
    };
    let data = dir.path().join("data");
    assert_eq!(mode(data.clone()), 0o700);
    for file in ["neosl.db", "neosl.db-wal", "neosl.db-shm"] {
        let path = data.join(file);
        if file == "neosl.db" || path.exists() {
            assert_eq!(mode(path), 0o600, "{file}");
        }
    }
}

#[test]
fn attacks_fail_on_postgres() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let database = rt
        .block_on(neosl_testkit::TestPostgres::create("neosl_security"))
        .expect("test database");
    let dir = TempDir::new("neosl-sec-pg").expect("temp dir");
    let running = start(&dir, Some(&database.url));
    rt.block_on(attacks(&running.urls["gateway"]));
    running.stop();
    rt.block_on(database.drop());
}

async fn attacks(gateway: &str) {
    let me = client_from("127.0.0.1");
    let stranger = client_from("127.0.0.2");
    let alice = register(&me, gateway, "alice@example.org").await;
    let access = alice["access_token"].as_str().expect("token").to_owned();
    let user_id = alice["user_id"].as_str().expect("id").to_owned();

    lockouts_by_strangers(gateway, &me, &stranger).await;
    refresh_reuse_kills_the_session(gateway, &me).await;
    api_keys_cannot_escalate(gateway, &me, &access, &user_id).await;
    control_characters_are_refused_everywhere(gateway, &access, &user_id).await;
    look_alike_identities_are_refused(gateway, &me).await;
    answers_are_consistent(gateway, &me, &access).await;
    open_routes_are_limited_per_client(gateway, &me, &stranger).await;
}

/// A route open to anyone (no account to limit) is limited per client address: one client's
/// flood does not reach another's.
async fn open_routes_are_limited_per_client(
    gateway: &str,
    me: &reqwest::Client,
    stranger: &reqwest::Client,
) {
    let url = format!("{gateway}/vrf/public-key");
    for _ in 0..3 {
        let answer = common::send(stranger.get(&url)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let limited = common::send(stranger.get(&url)).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.retry_after.is_some());
    let other = common::send(me.get(&url)).await;
    assert_eq!(
        other.status, 200,
        "another client is not limited: {}",
        other.body
    );
}

async fn lockouts_by_strangers(gateway: &str, me: &reqwest::Client, stranger: &reqwest::Client) {
    // Wrong passwords for alice from a stranger: the stranger is limited, alice is not.
    let login = format!("{gateway}/api/v1/auth/login");
    let mut limited = false;
    for _ in 0..10 {
        let answer = post(
            stranger,
            &login,
            None,
            json!({"email": "alice@example.org", "password": "guessing guessing"}),
        )
        .await;
        assert!(matches!(answer.status, 401 | 429), "{}", answer.body);
        limited |= answer.status == 429;
    }
    assert!(limited, "guessing is limited");
    let answer = post(
        me,
        &login,
        None,
        json!({"email": "alice@example.org", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        answer.status, 200,
        "the owner still signs in: {}",
        answer.body
    );

    // Wrong admin tokens from a stranger: limited, while the operator's token still works (the
    // credit itself then needs a chain, which this server does not have).
    let admin = format!("{gateway}/api/v1/admin/deposits");
    let body = json!({"user_id": "someone", "tx_hash": format!("0x{}", "00".repeat(32))});
    let mut statuses = Vec::new();
    for i in 0..8 {
        let answer = send(
            stranger
                .post(&admin)
                .header("X-Admin-Token", format!("{i:064x}"))
                .json(&body),
        )
        .await;
        statuses.push(answer.status);
    }
    assert!(
        statuses.iter().all(|s| matches!(s, 403 | 429)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    let answer = send(
        me.post(&admin)
            .header("X-Admin-Token", ADMIN_TOKEN)
            .json(&body),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (503, Some("chain_unavailable")),
        "the operator passed the token check: {}",
        answer.body
    );
    // Even from the stranger's own address the right token is never locked out.
    let answer = send(
        stranger
            .post(&admin)
            .header("X-Admin-Token", ADMIN_TOKEN)
            .json(&body),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
}

async fn refresh_reuse_kills_the_session(gateway: &str, me: &reqwest::Client) {
    let session = register(me, gateway, "refresh@example.org").await;
    let first = session["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let url = format!("{gateway}/api/v1/auth/refresh");
    let rotated = post(me, &url, None, json!({"refresh_token": first})).await;
    assert_eq!(rotated.status, 200);
    let access = rotated.body["data"]["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let newest = rotated.body["data"]["refresh_token"].clone();
    let me_url = format!("{gateway}/api/v1/me");
    assert_eq!(send(me.get(&me_url).bearer_auth(&access)).await.status, 200);
    // The thief replays the old token: refused, and the whole session dies.
    let replay = post(me, &url, None, json!({"refresh_token": first})).await;
    assert_eq!(
        (replay.status, replay.body["code"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    assert_eq!(send(me.get(&me_url).bearer_auth(&access)).await.status, 401);
    let newest = post(me, &url, None, json!({"refresh_token": newest})).await;
    assert_eq!(newest.status, 401);
}

async fn api_keys_cannot_escalate(gateway: &str, me: &reqwest::Client, access: &str, alice: &str) {
    let keys = format!("{gateway}/api/v1/api-keys");
    let created = post(me, &keys, Some(access), json!({"name": "first"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    // A key cannot mint, list or revoke keys.
    let minted = post(me, &keys, Some(&key), json!({"name": "minted"})).await;
    assert_eq!(
        (minted.status, minted.body["code"].as_str()),
        (403, Some("session_required"))
    );
    assert_eq!(send(with_auth(me.get(&keys), &key)).await.status, 403);
    let id = created.body["data"]["info"]["id"].as_str().expect("id");
    assert_eq!(
        send(with_auth(me.delete(format!("{keys}/{id}")), &key))
            .await
            .status,
        403
    );
    // A read-only key reads but does not move money.
    let read_only = post(
        me,
        &keys,
        Some(access),
        json!({"name": "dashboard", "scopes": ["gasbank:read", "account:read"]}),
    )
    .await;
    assert_eq!(read_only.status, 201, "{}", read_only.body);
    let read_only = read_only.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let balance = format!("{gateway}/api/v1/gasbank/balance");
    assert_eq!(
        send(with_auth(me.get(&balance), &read_only)).await.status,
        200
    );
    let pay = format!("{gateway}/api/v1/gasbank/pay-user");
    let denied = post(
        me,
        &pay,
        Some(&read_only),
        json!({"user_id": alice, "amount": 1, "reference": "x"}),
    )
    .await;
    assert_eq!(
        (denied.status, denied.body["code"].as_str()),
        (403, Some("scope_denied"))
    );
    let bad_scope = post(
        me,
        &keys,
        Some(access),
        json!({"name": "x", "scopes": ["root"]}),
    )
    .await;
    assert_eq!(
        (bad_scope.status, bad_scope.body["code"].as_str()),
        (400, Some("invalid_scope"))
    );
    // At most 20 live keys (the settings' cap): 18 more, then refused.
    let mut all = vec![key];
    for i in 0..18 {
        let answer = post(me, &keys, Some(access), json!({"name": format!("k{i}")})).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        all.push(answer.body["data"]["key"].as_str().expect("key").to_owned());
    }
    let over = post(me, &keys, Some(access), json!({"name": "one too many"})).await;
    assert_eq!(
        (over.status, over.body["code"].as_str()),
        (409, Some("too_many_api_keys"))
    );
    // 200 concurrent money calls spread over 19 keys: the user's money limit (burst 10) holds
    // in total, not per key.
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let client = me.clone();
        let key = all[i % all.len()].clone();
        let url = pay.clone();
        let to = alice.to_owned();
        tasks.push(tokio::spawn(async move {
            post(
                &client,
                &url,
                Some(&key),
                json!({"user_id": to, "amount": 1, "reference": format!("r{i}")}),
            )
            .await
            .status
        }));
    }
    let mut limited = 0;
    for task in tasks {
        let status = task.await.expect("task");
        assert!(matches!(status, 400 | 409 | 429), "{status}");
        limited += usize::from(status == 429);
    }
    assert!(limited >= 190, "only {limited} of 200 limited");
}

async fn control_characters_are_refused_everywhere(gateway: &str, access: &str, user_id: &str) {
    let client = client_from("127.0.0.3");
    let hash = format!("0x{}", "ab".repeat(32));
    let routes: Vec<(&str, Value, bool)> = vec![
        (
            "/api/v1/auth/register",
            json!({"email": "c@example.org", "password": PASSWORD}),
            false,
        ),
        (
            "/api/v1/auth/login",
            json!({"email": "c@example.org", "password": PASSWORD}),
            false,
        ),
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": "nsr_x"}),
            false,
        ),
        (
            "/api/v1/auth/wallet/nonce",
            json!({"address": "NXV7ZhHiyM1aHXwpVsRZC6BwNFP2jghXAq"}),
            false,
        ),
        (
            "/api/v1/auth/wallet/login",
            json!({"address": "NXV7ZhHiyM1aHXwpVsRZC6BwNFP2jghXAq", "public_key": "02", "signature": "00", "nonce": "n"}),
            false,
        ),
        (
            "/api/v1/api-keys",
            json!({"name": "n", "scopes": ["*"]}),
            true,
        ),
        (
            "/api/v1/gasbank/pay-contract",
            json!({"contract": hash, "amount": 1, "reference": "r"}),
            true,
        ),
        (
            "/api/v1/gasbank/pay-user",
            json!({"user_id": user_id, "amount": 1, "reference": "r"}),
            true,
        ),
        (
            "/api/v1/gasbank/withdraw",
            json!({"to_address": "NXV7ZhHiyM1aHXwpVsRZC6BwNFP2jghXAq", "amount": 1, "reference": "r"}),
            true,
        ),
        (
            "/api/v1/admin/deposits",
            json!({"user_id": user_id, "tx_hash": hash}),
            false,
        ),
        (
            "/vrf/random",
            json!({"seed": "c0ffee", "num_words": 1}),
            true,
        ),
        (
            "/vrf/verify",
            json!({"seed": "c0ffee", "proof": "00", "public_key": "02", "random_words": ["00"]}),
            false,
        ),
    ];
    let mut checked = 0;
    for (path, body, signed_in) in &routes {
        let fields: Vec<String> = body.as_object().expect("object").keys().cloned().collect();
        for field in fields {
            for bad in [
                "a\u{0}b",
                "\u{7}",
                "x\u{7f}",
                "\u{85}y",
                "line\nbreak",
                "\u{1b}[31m",
            ] {
                let mut body = body.clone();
                body[&field] = match &body[&field] {
                    Value::Array(_) => json!([bad]),
                    Value::String(_) => json!(bad),
                    _ => continue,
                };
                let mut request = client
                    .post(format!("{gateway}{path}"))
                    .header("X-Admin-Token", ADMIN_TOKEN)
                    .json(&body);
                if *signed_in {
                    request = request.bearer_auth(access);
                }
                let answer = send(request).await;
                assert_eq!(
                    (answer.status, answer.body["code"].as_str()),
                    (400, Some("invalid_characters")),
                    "{path} {field}={bad:?}: {}",
                    answer.body
                );
                checked += 1;
            }
        }
    }
    // Paths and queries.
    for (method, path) in [
        ("DELETE", "/api/v1/api-keys/%00abc"),
        ("DELETE", "/api/v1/api-keys/abc%0A"),
        ("GET", "/api/v1/gasbank/transactions?limit=%00"),
        ("GET", "/vrf/requests?limit=1%00"),
        ("GET", "/api/v1/me?x=%C2%85"),
    ] {
        let request = client
            .request(method.parse().expect("method"), format!("{gateway}{path}"))
            .bearer_auth(access);
        let answer = send(request).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (400, Some("invalid_characters")),
            "{method} {path}: {}",
            answer.body
        );
        checked += 1;
    }
    assert!(checked > 150, "{checked}");
}

async fn look_alike_identities_are_refused(gateway: &str, me: &reqwest::Client) {
    let url = format!("{gateway}/api/v1/auth/register");
    register(me, gateway, "bob@example.com").await;
    let taken = post(
        me,
        &url,
        None,
        json!({"email": "BOB@Example.COM", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (taken.status, taken.body["code"].as_str()),
        (409, Some("email_taken")),
        "case differences are the same account"
    );
    for email in [
        "bob@example.com\u{200b}",
        "b\u{200d}ob@example.com",
        "bоb@example.com", // Cyrillic о
        "a@@b.com",
        "a@b@c.com",
        "x@example..com",
        "x@.example.com",
        "x@example",
        "x y@example.com",
        "bob@exa_mple.com",
    ] {
        let answer = post(
            me,
            &url,
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (400, Some("invalid_email")),
            "{email:?}: {}",
            answer.body
        );
    }
    for password in ["            ", "short", &"é".repeat(11)] {
        let answer = post(
            me,
            &url,
            None,
            json!({"email": "pw@example.com", "password": password}),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (400, Some("weak_password")),
            "{password:?}"
        );
    }
    // Twelve characters of two bytes each are twelve characters.
    let answer = post(
        me,
        &url,
        None,
        json!({"email": "pw@example.com", "password": "é".repeat(12)}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

async fn answers_are_consistent(gateway: &str, me: &reqwest::Client, access: &str) {
    // A body over the limit: the common JSON shape, on every route.
    let huge = json!({"seed": "00".repeat(600_000), "num_words": 1});
    for path in ["/vrf/random", "/vrf/verify", "/api/v1/gasbank/pay-user"] {
        let answer = post(me, &format!("{gateway}{path}"), Some(access), huge.clone()).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (413, Some("payload_too_large")),
            "{path}: {}",
            answer.body
        );
    }
    // Bad limits are refused the same way everywhere.
    for path in [
        "/vrf/requests?limit=0",
        "/vrf/requests?limit=100000",
        "/api/v1/gasbank/transactions?limit=0",
    ] {
        let answer = send(me.get(format!("{gateway}{path}")).bearer_auth(access)).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
    }
    // The gateway's metrics are for the operator.
    let metrics = format!("{gateway}/metrics");
    let answer = send(me.get(&metrics)).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(send(me.get(&metrics).bearer_auth(access)).await.status, 403);
    let answer = send(me.get(&metrics).bearer_auth(ADMIN_TOKEN)).await;
    assert_eq!(answer.status, 200);
    // No chain: no deposit address that nothing would ever credit.
    let answer = send(
        me.get(format!("{gateway}/api/v1/gasbank/deposit-address"))
            .bearer_auth(access),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (503, Some("chain_unavailable"))
    );
}
