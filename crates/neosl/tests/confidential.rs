//! Secrets and Confidential compute through the gateway of a real `neosl serve`: a secret
//! stored once and never shown again, used by WebAssembly and JavaScript jobs that HMAC their
//! input under it; signed results that verify offline and fail when altered; hostile jobs
//! stopped by their limits (and charged) while honest ones keep being served; secrets refused
//! to a service they do not allow and invisible to other users; the audit log; bad input.

mod common;

use std::collections::HashMap;

use neosl_testkit::TempDir;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "line one of the secret\nline two: 8c1f62a0";

const WASM_HMAC: &str = r#"(module
  (import "neosl" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "neosl" "secret_read" (func $secret_read (param i32 i32 i32 i32) (result i32)))
  (import "neosl" "hmac_sha256" (func $hmac (param i32 i32 i32 i32 i32)))
  (import "neosl" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 2048) "hmac-key")
  (func (export "run") (local $n i32) (local $k i32)
    (local.set $n (call $input_read (i32.const 0) (i32.const 1024)))
    (local.set $k (call $secret_read (i32.const 2048) (i32.const 8) (i32.const 4096) (i32.const 256)))
    (call $hmac (i32.const 4096) (local.get $k) (i32.const 0) (local.get $n) (i32.const 8192))
    (call $output (i32.const 8192) (i32.const 32))))"#;

const JS_HMAC: &str = "// HMAC of the input under a granted secret\nplatform.hmacSha256Hex(platform.secret('hmac-key'), input)\n";

struct User {
    http: reqwest::Client,
    gateway: String,
    token: String,
}

impl User {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = common::with_auth(
            self.http.request(method, format!("{}{path}", self.gateway)),
            &self.token,
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = common::send(request).await;
        (answer.status, answer.body)
    }

    async fn balance(&self) -> i64 {
        let (_, body) = self
            .call(Method::GET, "/api/v1/gasbank/balance", None)
            .await;
        body["data"]["balance"].as_i64().expect("balance")
    }
}

fn credit(data_dir: &std::path::Path, email: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["gasbank", "dev-credit", email, "100000000", "--data-dir"])
        .arg(data_dir)
        .env("NEOSL_MODE", "simulation")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hmac_hex(input: &str) -> String {
    hex::encode(neosl_crypto::hash::hmac_sha256(
        SECRET.as_bytes(),
        input.as_bytes(),
    ))
}

/// Verifies a job's result offline: the hashes are recomputed, the message rebuilt from them
/// and the signature checked under `public_key`.
fn verifies(job: &Value, code: &[u8], public_key: &str) -> bool {
    let hash = |v: &Value| -> Option<[u8; 32]> { hex::decode(v.as_str()?).ok()?.try_into().ok() };
    let Some(output) = job["output_hex"].as_str().and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let (Some(input_hash), Some(secrets_hash)) =
        (hash(&job["input_hash"]), hash(&job["secrets_hash"]))
    else {
        return false;
    };
    let attestation = neosl_contracts::confidential::Attestation {
        engine: job["runtime"].as_str().unwrap_or_default().to_owned(),
        code_hash: neosl_crypto::hash::sha256(code),
        input_hash,
        secrets_hash,
        output_hash: neosl_crypto::hash::sha256(&output),
    };
    if hash(&job["code_hash"]) != Some(attestation.code_hash) {
        return false;
    }
    let key = neosl_crypto::ecdsa::PublicKey::from_slice(&hex::decode(public_key).expect("hex"))
        .expect("key");
    let Some(signature) = job["signature"]
        .as_str()
        .and_then(|s| hex::decode(s).ok())
        .and_then(|s| neosl_crypto::ecdsa::Signature::from_slice(&s).ok())
    else {
        return false;
    };
    key.verify(&attestation.message(), &signature)
}

#[test]
fn secrets_feed_signed_confidential_jobs_and_hostile_code_is_contained() {
    let dir = TempDir::new("neosl-confidential").expect("temp dir");
    let config = dir.path().join("neosl.toml");
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000.0, burst = 1000 }\n",
    )
    .expect("config");
    let running = common::serve(
        &dir,
        &["--config", config.to_str().expect("utf-8")],
        &[("NEOSL_POOL_TARGET_SIZE", "4")],
    )
    .expect("starts");
    let gateway = running.urls["gateway"].clone();
    let data_dir = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let login = |email: &str| {
        let token = rt.block_on(common::register(&http, &gateway, email))["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        credit(&data_dir, email);
        User {
            http: http.clone(),
            gateway: gateway.clone(),
            token,
        }
    };
    let alice = login("alice@example.org");
    let bob = login("bob@example.org");

    rt.block_on(async {
        // Secrets: stored, listed by name, never shown.
        let (status, stored) = alice
            .call(
                Method::PUT,
                "/secrets/hmac-key",
                Some(json!({"value": SECRET, "allowed_services": ["confidential"]})),
            )
            .await;
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["data"]["version"], 1);
        let (status, _) = alice
            .call(
                Method::PUT,
                "/secrets/not-for-compute",
                Some(json!({"value": "kept-away-from-jobs-4d1e", "allowed_services": []})),
            )
            .await;
        assert_eq!(status, 200);
        let (_, list) = alice.call(Method::GET, "/secrets", None).await;
        let names: Vec<&str> = list["data"]["secrets"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, ["hmac-key", "not-for-compute"]);
        let (_, one) = alice.call(Method::GET, "/secrets/hmac-key", None).await;
        for body in [&stored, &list, &one] {
            assert!(!body.to_string().contains("line two"), "{body}");
        }
        assert_eq!(one["data"]["allowed_services"], json!(["confidential"]));
        for (body, code) in [
            (json!({"value": "v", "allowed_services": ["gateway"]}), "unknown_service"),
            (json!({"value": "v", "allowed_services": ["nope"]}), "unknown_service"),
            (json!({"value": "", "allowed_services": []}), "invalid_secret_value"),
            (json!({"value": "a\u{0}b"}), "invalid_characters"),
            (json!({"value": "v", "extra": 1}), "invalid_request"),
        ] {
            let (status, answer) = alice.call(Method::PUT, "/secrets/k", Some(body)).await;
            assert_eq!((status, answer["code"].as_str()), (400, Some(code)), "{answer}");
        }
        let (status, answer) = alice
            .call(Method::PUT, "/secrets/audit", Some(json!({"value": "v"})))
            .await;
        // `audit` is the log's own path: no secret can take the name.
        assert_eq!((status, answer["code"].as_str()), (405, Some("method_not_allowed")));
        let (status, _) = bob.call(Method::GET, "/secrets/hmac-key", None).await;
        assert_eq!(status, 404, "another user's secret does not exist for bob");

        // A JavaScript job and a WebAssembly job: the HMAC of the input under the secret.
        let before = alice.balance().await;
        let (status, js) = alice
            .call(
                Method::POST,
                "/confidential/execute",
                Some(json!({"runtime": "js", "code": JS_HMAC, "input": "hello", "secrets": ["hmac-key"]})),
            )
            .await;
        assert_eq!(status, 200, "{js}");
        let js = &js["data"];
        assert_eq!(js["state"], "succeeded", "{js}");
        assert_eq!(js["output"], hmac_hex("hello"));
        let public_key = js["public_key"].as_str().expect("key").to_owned();
        let (_, published) = bob.call(Method::GET, "/confidential/public-key", None).await;
        assert_eq!(
            published["data"]["public_key"].as_str(),
            Some(public_key.as_str()),
            "the result key is the published one: {published}"
        );
        assert!(verifies(js, JS_HMAC.as_bytes(), &public_key));
        let charged = js["fee"]["charged"].as_i64().expect("charged");
        assert!(charged >= 100_000 && charged <= js["fee"]["reserved"].as_i64().expect("reserved"));
        assert_eq!(alice.balance().await, before - charged);

        let (status, wasm) = alice
            .call(
                Method::POST,
                "/confidential/execute",
                Some(json!({"runtime": "wasm", "code": WASM_HMAC, "input": "hello", "secrets": ["hmac-key"]})),
            )
            .await;
        assert_eq!(status, 200, "{wasm}");
        let wasm = &wasm["data"];
        assert_eq!(wasm["output_hex"], hmac_hex("hello"), "{wasm}");
        assert!(verifies(wasm, WASM_HMAC.as_bytes(), &public_key));
        // An altered output, another code or another key: the signature fails.
        let mut altered = wasm.clone();
        altered["output_hex"] = json!(hmac_hex("hellO"));
        assert!(!verifies(&altered, WASM_HMAC.as_bytes(), &public_key));
        assert!(!verifies(wasm, JS_HMAC.as_bytes(), &public_key));
        let mut other_code = wasm.clone();
        other_code["code_hash"] = js["code_hash"].clone();
        assert!(!verifies(&other_code, WASM_HMAC.as_bytes(), &public_key));

        // A secret that does not allow Confidential compute, and bob naming alice's secret:
        // refused before running, nothing charged.
        let before = alice.balance().await;
        let (status, refused) = alice
            .call(
                Method::POST,
                "/confidential/execute",
                Some(json!({"runtime": "js", "code": "platform.secret('not-for-compute')", "secrets": ["not-for-compute"]})),
            )
            .await;
        assert_eq!(status, 200, "{refused}");
        assert_eq!(refused["data"]["state"], "refused");
        assert_eq!(refused["data"]["error"]["code"], "service_not_allowed");
        assert_eq!(alice.balance().await, before, "a refused job costs nothing");
        let (_, bobs) = bob
            .call(
                Method::POST,
                "/confidential/execute",
                Some(json!({"runtime": "js", "code": JS_HMAC, "input": "x", "secrets": ["hmac-key"]})),
            )
            .await;
        assert_eq!(bobs["data"]["error"]["code"], "secret_not_found", "{bobs}");
        let (status, _) = bob
            .call(Method::GET, &format!("/confidential/jobs/{}", js["id"].as_str().expect("id")), None)
            .await;
        assert_eq!(status, 404, "alice's job is not bob's to see");

        // The audit log names every use.
        let (_, audit) = alice.call(Method::GET, "/secrets/audit?limit=50", None).await;
        let uses: Vec<(String, String, String)> = audit["data"]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["action"] == "use")
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or_default().to_owned(),
                    e["actor"].as_str().unwrap_or_default().to_owned(),
                    e["outcome"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert!(uses.contains(&("hmac-key".into(), "confidential".into(), "ok".into())), "{uses:?}");
        assert!(
            uses.contains(&("not-for-compute".into(), "confidential".into(), "service_not_allowed".into())),
            "{uses:?}"
        );
        assert_eq!(uses.iter().filter(|u| u.0 == "hmac-key" && u.2 == "ok").count(), 2);

        // Bad input: stable 4xx codes, nothing reserved.
        let before = alice.balance().await;
        for (body, status, code) in [
            (json!({"runtime": "python", "code": "1"}), 400, "unknown_runtime"),
            (json!({"runtime": "js", "code": ""}), 400, "invalid_code"),
            (json!({"runtime": "wasm", "code": "(module"}), 400, "invalid_code"),
            (json!({"runtime": "js", "code": "1", "limits": {"fuel": 1u64 << 60}}), 400, "invalid_limits"),
            (json!({"runtime": "js", "code": "1", "limits": {"memory_bytes": 1}}), 400, "invalid_limits"),
            (json!({"runtime": "js", "code": "1", "secrets": ["bad name"]}), 400, "invalid_secrets"),
            (json!({"runtime": "js", "code": "1\u{0}"}), 400, "invalid_characters"),
            (json!({"runtime": "js", "code": "1", "input": "zz", "input_encoding": "hex"}), 400, "invalid_input"),
            (json!({"runtime": "js"}), 400, "invalid_request"),
        ] {
            let (got, answer) = alice.call(Method::POST, "/confidential/execute", Some(body)).await;
            assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{answer}");
        }
        assert_eq!(alice.balance().await, before);

        // Twenty hostile jobs, queued, alongside honest ones answered at once.
        let hostile: Vec<(&str, &str, &str)> = vec![
            ("js", "while (true) {}", "out_of_fuel"),
            ("js", "function f() { return f() + 1 } f()", "stack_overflow"),
            ("js", "const a = []; while (true) a.push(new Array(100000).fill(7))", "memory_limit"),
            ("js", "'x'.repeat(200000)", "output_too_large"),
            ("js", "try { platform.secret('not-for-compute') } catch (e) {} 1", "secret_not_granted"),
            ("js", "try { fetch('http://127.0.0.1:1/') } catch (e) {} 1", "network_not_allowed"),
            ("js", "require('fs').readFileSync('/etc/passwd')", "filesystem_not_allowed"),
            ("wasm", r#"(module (memory (export "memory") 1) (func (export "run") (loop br 0)))"#, "out_of_fuel"),
            ("wasm", r#"(module (memory (export "memory") 1) (func $f (call $f)) (func (export "run") (call $f)))"#, "stack_overflow"),
            ("wasm", "(module (memory (export \"memory\") 1)\n (func (export \"run\") (loop (drop (memory.grow (i32.const 64))) br 0)))", "memory_limit"),
        ];
        let mut ids = Vec::new();
        for round in 0..2 {
            for (runtime, code, expected) in &hostile {
                let (status, queued) = alice
                    .call(
                        Method::POST,
                        "/confidential/execute",
                        Some(json!({"runtime": runtime, "code": code, "async": true,
                                    "limits": {"fuel": 5_000_000 + round, "output_bytes": 1024}})),
                    )
                    .await;
                assert_eq!(status, 202, "{queued}");
                ids.push((queued["data"]["id"].as_str().expect("id").to_owned(), *expected));
            }
        }
        for i in 0..5 {
            let input = format!("honest {i}");
            let (status, honest) = alice
                .call(
                    Method::POST,
                    "/confidential/execute",
                    Some(json!({"runtime": "js", "code": JS_HMAC, "input": input, "secrets": ["hmac-key"]})),
                )
                .await;
            assert_eq!(status, 200, "{honest}");
            assert_eq!(honest["data"]["output"], hmac_hex(&input));
        }
        let mut ended: HashMap<String, Value> = HashMap::new();
        for (id, _) in &ids {
            let job = neosl_testkit::wait_until(
                std::time::Duration::from_secs(120),
                format_args!("hostile job {id} to end"),
                || async {
                    let (_, job) = alice
                        .call(Method::GET, &format!("/confidential/jobs/{id}"), None)
                        .await;
                    matches!(job["data"]["state"].as_str(), Some("failed" | "succeeded"))
                        .then(|| job["data"].clone())
                },
            )
            .await;
            ended.insert(id.clone(), job);
        }
        for (id, expected) in &ids {
            let job = &ended[id];
            assert_eq!(job["state"], "failed", "{job}");
            assert_eq!(job["error"]["code"], *expected, "{job}");
            assert!(job["fee"]["charged"].as_i64().is_some_and(|c| c >= 100_000), "a program's own failure is charged: {job}");
            assert!(job["signature"].is_null());
        }
        let (_, page) = alice.call(Method::GET, "/confidential/jobs?limit=5&state=failed", None).await;
        assert_eq!(page["data"]["jobs"].as_array().map(Vec::len), Some(5));
        assert!(page["data"]["next_before"].is_i64());
        let (_, ledger) = alice.call(Method::GET, "/api/v1/gasbank/transactions?limit=100", None).await;
        let fees: i64 = ledger["data"]["transactions"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["type"] == "service_fee")
            .map(|e| -e["amount"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(alice.balance().await, 100_000_000 - fees, "every charge is in the ledger");
        let (_, balance) = alice.call(Method::GET, "/api/v1/gasbank/balance", None).await;
        assert_eq!(balance["data"]["reserved"], 0, "nothing is left reserved");
    });
    let log = running.stop();
    // The secret's value is in no log and nowhere in the database files.
    for needle in ["line two: 8c1f62a0", "kept-away-from-jobs-4d1e"] {
        assert!(!log.contains(needle), "a secret value reached the log");
        for file in ["neosl.db", "neosl.db-wal"] {
            if let Ok(bytes) = std::fs::read(data_dir.join(file)) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "a secret value is in {file}"
                );
            }
        }
    }
}

/// Over mutual TLS (strict identity), the Secrets service hands a value only to a service the
/// secret allows, whatever a caller claims in its headers.
#[test]
fn over_mutual_tls_only_an_allowed_service_gets_a_secret() {
    let dir = TempDir::new("neosl-secrets-mtls").expect("temp dir");
    let tls_dir = dir.path().join("tls");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["dev-certs", "--out"])
        .arg(&tls_dir)
        .output()
        .expect("dev-certs");
    assert!(out.status.success());
    let running = common::serve(
        &dir,
        &["--tls-dir", tls_dir.to_str().expect("utf-8")],
        &[("NEOSL_POOL_TARGET_SIZE", "4")],
    )
    .expect("starts");
    let gateway = running.urls["gateway"].replace("127.0.0.1", "localhost");
    let secrets_url = running.urls["secrets"].clone();
    assert!(secrets_url.starts_with("https://"), "{secrets_url}");
    let port: u16 = secrets_url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port");
    let read = |f: &str| std::fs::read_to_string(tls_dir.join(f)).expect("pem");
    let client_as = |service: &str| {
        let material = neosl_runtime::tls::TlsMaterial::from_pem(
            &read(&format!("{service}.pem")),
            &read(&format!("{service}-key.pem")),
            &read("ca.pem"),
        )
        .expect("material");
        reqwest::Client::builder()
            .tls_backend_preconfigured(material.client_config().expect("config"))
            .resolve("secrets", ([127, 0, 0, 1], port).into())
            .build()
            .expect("client")
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // With MarbleRun's certificates every listener asks for a client certificate.
        let http = client_as("gateway");
        let login = common::register(&http, &gateway, "tls@example.org").await;
        let token = login["access_token"].as_str().expect("token");
        let user_id = login["user"]["id"]
            .as_str()
            .or_else(|| login["user_id"].as_str())
            .map(str::to_owned);
        let stored = common::send(
            common::with_auth(http.put(format!("{gateway}/secrets/api")), token)
                .json(&json!({"value": "tls-guarded-value", "allowed_services": ["confidential"]})),
        )
        .await;
        assert_eq!(stored.status, 200, "{}", stored.body);
        let me = common::send(common::with_auth(
            http.get(format!("{gateway}/api/v1/me")),
            token,
        ))
        .await;
        let owner = user_id
            .or_else(|| me.body["data"]["id"].as_str().map(str::to_owned))
            .or_else(|| me.body["data"]["user_id"].as_str().map(str::to_owned))
            .expect("the user's id");
        let ask = |client: reqwest::Client, claim: Option<&'static str>| {
            let owner = owner.clone();
            async move {
                let mut request = client
                    .post(format!("https://secrets:{port}/secrets/use"))
                    .json(&json!({"owner": owner, "names": ["api"], "purpose": "test"}));
                if let Some(claim) = claim {
                    request = request.header("X-Service-ID", claim);
                }
                common::send(request).await
            }
        };
        let allowed = ask(client_as("confidential"), None).await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        assert_eq!(allowed.body["secrets"][0]["value"], "tls-guarded-value");
        let vrf = ask(client_as("vrf"), None).await;
        assert_eq!(
            (vrf.status, vrf.body["code"].as_str()),
            (403, Some("service_not_allowed")),
            "{}",
            vrf.body
        );
        let claimed = ask(client_as("vrf"), Some("confidential")).await;
        assert_eq!(
            (claimed.status, claimed.body["code"].as_str()),
            (403, Some("identity_mismatch")),
            "{}",
            claimed.body
        );
        let gateway_cert = ask(client_as("gateway"), None).await;
        assert_eq!(
            (gateway_cert.status, gateway_cert.body["code"].as_str()),
            (403, Some("forbidden")),
            "{}",
            gateway_cert.body
        );
    });
    running.stop();
}

/// The same path through `slcli`: a secret from standard input, a job whose result is saved
/// and verified offline against the code and the published key; a tampered result fails.
#[test]
fn slcli_stores_secrets_runs_jobs_and_verifies_results_offline() {
    let dir = TempDir::new("neosl-slcli-compute").expect("temp dir");
    let running = common::serve(&dir, &[], &[("NEOSL_POOL_TARGET_SIZE", "4")]).expect("starts");
    let gateway = running.urls["gateway"].clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let token = rt.block_on(common::register(&http, &gateway, "cli@example.org"))["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    credit(&dir.path().join("data"), "cli@example.org");
    let slcli = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slcli"))
            .args(args)
            .env("SLCLI_URL", &gateway)
            .env("SLCLI_TOKEN", &token)
            .env("SLCLI_CONFIG", dir.path().join("slcli.json"))
            .env_remove("SLCLI_API_KEY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("slcli runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("ends");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = slcli(
        &["secrets", "put", "hmac-key", "--allow", "confidential"],
        Some(&format!("{SECRET}\n")),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("hmac-key") && !out.contains("line two"),
        "{out}"
    );
    let (ok, out, _) = slcli(&["secrets", "list"], None);
    assert!(ok && out.contains("confidential"), "{out}");
    let code = dir.path().join("hmac.js");
    std::fs::write(&code, JS_HMAC).expect("code");
    let saved = dir.path().join("result.json");
    let code_arg = code.to_str().expect("utf-8");
    let saved_arg = saved.to_str().expect("utf-8");
    let (ok, out, err) = slcli(
        &[
            "compute",
            "run",
            "--runtime",
            "js",
            code_arg,
            "--input",
            "cli",
            "--secret",
            "hmac-key",
            "--save",
            saved_arg,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains(&hmac_hex("cli")), "{out}");
    let key = rt
        .block_on(common::send(
            http.get(format!("{gateway}/confidential/public-key")),
        ))
        .body["data"]["public_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let (ok, out, err) = slcli(
        &[
            "compute",
            "verify",
            saved_arg,
            "--code",
            code_arg,
            "--public-key",
            &key,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("verified"), "{out}");
    // Another code, another key, a changed output: refused.
    let other = dir.path().join("other.js");
    std::fs::write(&other, "1").expect("code");
    let (ok, _, err) = slcli(
        &[
            "compute",
            "verify",
            saved_arg,
            "--code",
            other.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(!ok && err.contains("not of this code"), "{err}");
    let vrf_key = rt
        .block_on(common::send(http.get(format!("{gateway}/vrf/public-key"))))
        .body["data"]["public_key"]
        .as_str()
        .expect("another service's key")
        .to_owned();
    let (ok, _, err) = slcli(
        &["compute", "verify", saved_arg, "--public-key", &vrf_key],
        None,
    );
    assert!(!ok && err.contains("does not verify"), "{err}");
    let mut job: Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("json");
    let forged = hmac_hex("forged");
    job["output_hex"] = json!(hex::encode(&forged));
    job["output_hash"] = json!(hex::encode(neosl_crypto::hash::sha256(forged.as_bytes())));
    std::fs::write(&saved, job.to_string()).expect("tamper");
    let (ok, _, err) = slcli(&["compute", "verify", saved_arg], None);
    assert!(!ok && err.contains("does not verify"), "{err}");
    let (ok, out, _) = slcli(&["secrets", "audit"], None);
    assert!(
        ok && out.contains("use") && out.contains("confidential"),
        "{out}"
    );
    running.stop();
}
