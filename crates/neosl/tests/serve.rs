//! `neosl serve` and `neosl dev-certs` as an operator runs them: the real binary, real sockets.

mod common;

use std::process::Command;

use common::{Running, serve};

use base64::Engine as _;
use neosl_testkit::TempDir;
use serde_json::Value;

fn get(url: &str) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let response = reqwest::get(url).await.expect("reachable");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn serve_starts_every_service_with_no_setup() {
    let dir = TempDir::new("neosl-serve").expect("temp dir");
    let running = serve(&dir, &[], &[]).expect("starts");
    assert!(
        running.stdout[0].contains("simulation mode (nothing is attested)"),
        "{:?}",
        running.stdout
    );
    // Only the gateway listens: the internal services are called in-process and no other
    // process can reach them.
    let url = running.urls.get("gateway").expect("gateway address");
    let (status, body) = get(&format!("{url}/health"));
    assert_eq!((status, body["service"].as_str()), (200, Some("gateway")));
    let (_, info) = get(&format!("{url}/info"));
    assert_eq!(info["mode"], "simulation");
    assert_eq!(info["strict_identity"], false);
    for service in ["accountpool", "vrf"] {
        assert!(
            !running.urls.contains_key(service),
            "{service} must have no listener: {:?}",
            running.stdout
        );
        assert!(
            running
                .stdout
                .iter()
                .any(|l| l.contains(service) && l.contains("in-process only")),
            "{:?}",
            running.stdout
        );
    }
    // The gateway's public API is up: a new user can register and sees the envelope.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, body) = rt.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/register", running.urls["gateway"]))
            .json(&serde_json::json!({"email": "new@example.org", "password": "a long enough password"}))
            .send()
            .await
            .expect("reachable");
        (response.status().as_u16(), response.json::<Value>().await.expect("json"))
    });
    assert_eq!(
        (status, body["success"].as_bool()),
        (201, Some(true)),
        "{body}"
    );
    let log = running.stop();
    assert!(
        log.contains("DEVELOPMENT SECRETS"),
        "the start-up says so loudly: {log}"
    );
    // The development secrets are kept owner-only and reused.
    let file = dir.path().join("data/secrets/dev-secrets.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("dev secrets").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

/// Fixed injected secrets and the keys they must give, in every build, forever.
const POOL_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const VRF_KEY_HEX: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
const GASBANK_KEY_HEX: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
const JWT_KEY_HEX: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const DATAFEEDS_KEY_HEX: &str = "7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d";
const AUTOMATION_KEY_HEX: &str = "4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c";
const MIXER_KEY_HEX: &str = "3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a";
const SECRETS_KEY_HEX: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const CONFIDENTIAL_KEY_HEX: &str =
    "6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c";
const VRF_PUBLIC: &str = "0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";

fn published(running: &Running, service: &str) -> Vec<Value> {
    get(&format!("{}/info", running.urls[service])).1["public_keys"]
        .as_array()
        .expect("keys")
        .clone()
}

#[test]
fn injected_secrets_give_stable_keys_and_never_reach_the_logs() {
    let pool_b64 =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(POOL_KEY_HEX).expect("hex"));
    let env = [
        ("POOL_MASTER_KEY", POOL_KEY_HEX),
        ("VRF_PRIVATE_KEY", VRF_KEY_HEX),
        ("JWT_SIGNING_KEY", JWT_KEY_HEX),
        ("GASBANK_MASTER_KEY", GASBANK_KEY_HEX),
        ("GATEWAY_ADMIN_TOKEN", GASBANK_KEY_HEX),
        ("DATAFEEDS_SIGNING_KEY", DATAFEEDS_KEY_HEX),
        ("AUTOMATION_SIGNING_KEY", AUTOMATION_KEY_HEX),
        ("MIXER_MASTER_KEY", MIXER_KEY_HEX),
        ("SECRETS_MASTER_KEY", SECRETS_KEY_HEX),
        ("CONFIDENTIAL_MASTER_KEY", CONFIDENTIAL_KEY_HEX),
        ("NEOSL_LOG", "trace"),
    ];
    let first_dir = TempDir::new("neosl-keys").expect("temp dir");
    // Reading the internal services' /info needs their listeners (development identity).
    let exposed = ["--expose-internal", "--insecure-dev-identity"];
    let first = serve(&first_dir, &exposed, &env).expect("starts");
    let vrf = published(&first, "vrf");
    assert_eq!(
        vrf[0]["public_key"], VRF_PUBLIC,
        "the VRF key is the injected scalar's public key"
    );
    let pool = published(&first, "accountpool");
    let mut stdout = first.stdout.join("\n");
    let mut log = first.stop();
    // Base64 injection, another data directory: same keys.
    let second_dir = TempDir::new("neosl-keys").expect("temp dir");
    let b64 = format!("base64:{pool_b64}");
    let env2 = [
        ("POOL_MASTER_KEY", b64.as_str()),
        ("VRF_PRIVATE_KEY", VRF_KEY_HEX),
        ("JWT_SIGNING_KEY", JWT_KEY_HEX),
        ("GASBANK_MASTER_KEY", GASBANK_KEY_HEX),
        ("GATEWAY_ADMIN_TOKEN", GASBANK_KEY_HEX),
        ("DATAFEEDS_SIGNING_KEY", DATAFEEDS_KEY_HEX),
        ("AUTOMATION_SIGNING_KEY", AUTOMATION_KEY_HEX),
        ("MIXER_MASTER_KEY", MIXER_KEY_HEX),
        ("SECRETS_MASTER_KEY", SECRETS_KEY_HEX),
        ("CONFIDENTIAL_MASTER_KEY", CONFIDENTIAL_KEY_HEX),
        ("NEOSL_LOG", "trace"),
    ];
    let second = serve(&second_dir, &exposed, &env2).expect("starts");
    assert_eq!(published(&second, "accountpool"), pool);
    assert_eq!(published(&second, "vrf"), vrf);
    stdout.push_str(&second.stdout.join("\n"));
    log.push_str(&second.stop());
    assert!(
        !log.contains("DEVELOPMENT SECRETS"),
        "injected secrets are used as given"
    );

    // No secret bytes in any output, in any common encoding.
    let all = format!("{stdout}\n{log}");
    let vrf_b64 =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(VRF_KEY_HEX).expect("hex"));
    for needle in [
        POOL_KEY_HEX,
        &POOL_KEY_HEX.to_uppercase(),
        &pool_b64,
        VRF_KEY_HEX,
        &VRF_KEY_HEX.to_uppercase(),
        &vrf_b64,
        JWT_KEY_HEX,
        GASBANK_KEY_HEX,
        DATAFEEDS_KEY_HEX,
        AUTOMATION_KEY_HEX,
        MIXER_KEY_HEX,
        SECRETS_KEY_HEX,
        CONFIDENTIAL_KEY_HEX,
    ] {
        assert!(!all.contains(needle), "a secret leaked into the output");
    }
    assert!(log.contains("request"), "the trace log was captured");
}

#[test]
fn enclave_mode_refuses_to_start_without_injection() {
    let dir = TempDir::new("neosl-enclave").expect("temp dir");
    let err = serve(&dir, &["--mode", "enclave"], &[])
        .err()
        .expect("refused");
    assert!(
        err.contains("not injected") || err.contains("MarbleRun"),
        "{err}"
    );
    let env = [
        ("POOL_MASTER_KEY", POOL_KEY_HEX),
        ("VRF_PRIVATE_KEY", VRF_KEY_HEX),
        ("JWT_SIGNING_KEY", JWT_KEY_HEX),
        ("GASBANK_MASTER_KEY", GASBANK_KEY_HEX),
        ("GATEWAY_ADMIN_TOKEN", GASBANK_KEY_HEX),
        ("DATAFEEDS_SIGNING_KEY", DATAFEEDS_KEY_HEX),
        ("AUTOMATION_SIGNING_KEY", AUTOMATION_KEY_HEX),
        ("MIXER_MASTER_KEY", MIXER_KEY_HEX),
        ("SECRETS_MASTER_KEY", SECRETS_KEY_HEX),
        ("CONFIDENTIAL_MASTER_KEY", CONFIDENTIAL_KEY_HEX),
    ];
    let err = serve(&dir, &["--mode", "enclave"], &env)
        .err()
        .expect("refused without certificates");
    assert!(err.contains("mutual TLS"), "{err}");
}

#[test]
fn dev_certs_enable_mutual_tls_for_every_service() {
    let dir = TempDir::new("neosl-mtls").expect("temp dir");
    let tls_dir = dir.path().join("tls");
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["dev-certs", "--out"])
        .arg(&tls_dir)
        .args(["--clients", "mixer"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "ca.pem",
        "gateway.pem",
        "accountpool.pem",
        "vrf.pem",
        "mixer.pem",
    ] {
        assert!(tls_dir.join(file).exists(), "{file}");
    }
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(tls_dir.join("mixer-key.pem"))
            .expect("key")
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);

    let tls_arg = tls_dir.to_str().expect("utf-8");
    let running = serve(&dir, &["--tls-dir", tls_arg], &[]).expect("starts");
    let url = running.urls["accountpool"].clone();
    assert!(url.starts_with("https://"), "{url}");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let read = |f: &str| std::fs::read_to_string(tls_dir.join(f)).expect("pem");
    let mixer = neosl_runtime::tls::TlsMaterial::from_pem(
        &read("mixer.pem"),
        &read("mixer-key.pem"),
        &read("ca.pem"),
    )
    .expect("material");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, info, plain_refused) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(mixer.client_config().expect("config"))
            .resolve("accountpool", ([127, 0, 0, 1], port).into())
            .build()
            .expect("client");
        let response = client
            .get(format!("https://accountpool:{port}/info"))
            .send()
            .await
            .expect("mutual TLS works");
        let status = response.status().as_u16();
        let info: Value = response.json().await.expect("json");
        let plain = reqwest::get(format!("http://127.0.0.1:{port}/health")).await;
        (
            status,
            info,
            plain.map(|r| r.status().is_success()).unwrap_or(false),
        )
    });
    assert_eq!(status, 200);
    assert_eq!(info["strict_identity"], true);
    assert!(
        !plain_refused,
        "plain HTTP gets nothing from an mTLS service"
    );
    running.stop();
}

/// An internal service behind mutual TLS still answers its orchestrator's probes: a plain
/// listener with `/health` and `/ready` of that service, and nothing else.
#[test]
fn a_probe_listener_answers_health_and_ready_and_nothing_else() {
    let dir = TempDir::new("neosl-probe").expect("temp dir");
    let tls_dir = dir.path().join("tls");
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["dev-certs", "--out"])
        .arg(&tls_dir)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let tls_arg = tls_dir.to_str().expect("utf-8");
    let running = serve(
        &dir,
        &["--service", "accountpool", "--tls-dir", tls_arg],
        &[("NEOSL_PROBE_LISTEN", "127.0.0.1:0")],
    )
    .expect("starts");
    let probe = running.urls["probe"].clone();
    assert!(probe.starts_with("http://"), "{probe}");
    let (status, health) = get(&format!("{probe}/health"));
    assert_eq!(
        (status, health["service"].as_str()),
        (200, Some("accountpool"))
    );
    let (status, ready) = get(&format!("{probe}/ready"));
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["service"], "accountpool");
    for path in ["/info", "/request", "/metrics", "/attestation"] {
        let (status, answer) = get(&format!("{probe}{path}"));
        assert_eq!(status, 404, "{path}: {answer}");
    }
    running.stop();
}

#[test]
fn the_gateway_reaches_a_vrf_service_in_another_process_over_mutual_tls() {
    let dir = TempDir::new("neosl-split").expect("temp dir");
    let tls_dir = dir.path().join("tls");
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["dev-certs", "--out"])
        .arg(&tls_dir)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let tls_arg = tls_dir.to_str().expect("utf-8");
    let vrf_dir = TempDir::new("neosl-split-vrf").expect("temp dir");
    let vrf = serve(
        &vrf_dir,
        &["--service", "vrf", "--tls-dir", tls_arg],
        &[("VRF_PRIVATE_KEY", VRF_KEY_HEX)],
    )
    .expect("vrf starts");
    let vrf_url = vrf.urls["vrf"].replace("127.0.0.1", "localhost");
    let gateway = serve(
        &dir,
        &["--service", "gateway", "--tls-dir", tls_arg],
        &[("NEOSL_VRF_URL", vrf_url.as_str())],
    )
    .expect("gateway starts");
    // With `--tls-dir` the gateway too serves mutual TLS: call it with a certificate of the CA.
    let read = |f: &str| std::fs::read_to_string(tls_dir.join(f)).expect("pem");
    let client_material = neosl_runtime::tls::TlsMaterial::from_pem(
        &read("gateway.pem"),
        &read("gateway-key.pem"),
        &read("ca.pem"),
    )
    .expect("material");
    let gateway_url = gateway.urls["gateway"].replace("127.0.0.1", "localhost");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answer: Value = rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(client_material.client_config().expect("config"))
            .build()
            .expect("client");
        client
            .get(format!("{gateway_url}/vrf/public-key"))
            .send()
            .await
            .expect("reachable")
            .json()
            .await
            .expect("json")
    });
    if answer["success"] != true {
        // The logs say why (a refused handshake names the side that refused).
        let log = gateway.stop();
        let vrf_log = vrf.stop();
        panic!("{answer}\n--- gateway log:\n{log}\n--- vrf log:\n{vrf_log}");
    }
    assert_eq!(answer["data"]["public_key"], VRF_PUBLIC, "{answer}");
    gateway.stop();
    vrf.stop();
}

/// The README's first steps without a chain: a fresh `neosl serve`, a user, a development
/// credit, and a paid VRF call through the gateway that is charged; in enclave mode the credit
/// is refused and nothing changes.
#[test]
fn a_development_credit_pays_for_a_first_vrf_call() {
    let dir = TempDir::new("neosl-dev-credit").expect("temp dir");
    let running = serve(&dir, &[], &[]).expect("starts");
    let gateway = running.urls["gateway"].clone();
    let data_dir = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let token = rt.block_on(common::register(&http, &gateway, "first@example.org"))["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let credit = |mode: &str| {
        Command::new(env!("CARGO_BIN_EXE_neosl"))
            .args([
                "gasbank",
                "dev-credit",
                "first@example.org",
                "100000000",
                "--data-dir",
            ])
            .arg(&data_dir)
            .env("NEOSL_MODE", mode)
            .output()
            .expect("runs")
    };
    let refused = credit("enclave");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("enclave mode"), "{said}");
    let out = credit("simulation");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("balance 100000000"), "{stdout}");
    rt.block_on(async {
        let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
            let mut request =
                common::with_auth(http.request(method, format!("{gateway}{path}")), &token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let answer = common::send(request).await;
                (answer.status, answer.body)
            }
        };
        let (status, random) = call(
            reqwest::Method::POST,
            "/vrf/random",
            Some(serde_json::json!({"seed": "c0ffee", "num_words": 2})),
        )
        .await;
        assert_eq!(status, 200, "{random}");
        assert_eq!(
            random["data"]["random_words"].as_array().map(Vec::len),
            Some(2)
        );
        let fee = random["data"]["fee"]["amount"].as_i64().expect("fee");
        assert_eq!(fee, 100_000);
        let (_, balance) = call(reqwest::Method::GET, "/api/v1/gasbank/balance", None).await;
        assert_eq!(balance["data"]["balance"], 100_000_000 - fee);
        let (_, ledger) = call(reqwest::Method::GET, "/api/v1/gasbank/transactions", None).await;
        let types: Vec<&str> = ledger["data"]["transactions"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        assert_eq!(types, ["service_fee", "dev_credit"]);
    });
    running.stop();
}
