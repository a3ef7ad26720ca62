//! The AccountPool as deployed: two `neosl serve --service accountpool` processes sharing one
//! PostgreSQL database, hammered over HTTP by several services at once; and the logs of a
//! start-up plus signing requests, searched for key material.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use neosl_testkit::TempDir;
use serde_json::{Value, json};

struct Process {
    child: Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

fn start_pool(dir: &TempDir, name: &str, env: &[(&str, String)]) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neosl"));
    command
        .args([
            "serve",
            "--service",
            "accountpool",
            "--listen",
            "127.0.0.1:0",
            // These tests play several services over plain HTTP (X-Service-ID).
            "--insecure-dev-identity",
        ])
        .env("NEOSL_DATA_DIR", dir.path().join(name))
        .env("NEOSL_NETWORK_MAGIC", "42")
        .env("NEOSL_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("starts");
    // Drain stderr (the log) all along: a full pipe would block the server.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stderr.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().expect("log").push_str(&line);
            line.clear();
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(u) = line
            .split_whitespace()
            .nth(1)
            .filter(|w| w.starts_with("http"))
        {
            url = Some(u.to_owned());
        }
        if line.starts_with("ready") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let url = url.unwrap_or_else(|| {
        child.wait().ok();
        panic!("no address printed: {}", log.lock().expect("log"))
    });
    Process { child, url, log }
}

impl Process {
    fn stop(mut self) -> String {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        let status = self.child.wait().expect("wait");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let log = self.log.lock().expect("log").clone();
        assert!(status.success(), "graceful exit: {log}");
        log
    }
}

async fn post(client: &reqwest::Client, url: &str, service: &str, body: Value) -> (u16, Value) {
    let response = client
        .post(url)
        .header("X-Service-ID", service)
        .json(&body)
        .send()
        .await
        .expect("reachable");
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_postgres_never_double_allocate() {
    let database = neosl_testkit::TestPostgres::create("neosl_serve")
        .await
        .expect("test database");
    let url = database.url.clone();
    let dir = TempDir::new("neosl-2proc").expect("temp dir");
    let env = [
        ("NEOSL_DATABASE_URL", url.clone()),
        ("NEOSL_POOL_TARGET_SIZE", "200".to_owned()),
        ("POOL_MASTER_KEY", "11".repeat(32)),
    ];
    let first = start_pool(&dir, "a", &env);
    let second = start_pool(&dir, "b", &env);
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let base = if i % 2 == 0 {
            first.url.clone()
        } else {
            second.url.clone()
        };
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let service = format!("svc-{}", i % 6);
            let count = 1 + (i % 3) as u64;
            let (status, body) = post(
                &client,
                &format!("{base}/request"),
                &service,
                json!({"count": count, "purpose": "load"}),
            )
            .await;
            (service, count, status, body)
        }));
    }
    let mut seen = BTreeSet::new();
    let mut locks = Vec::new();
    for t in tasks {
        let (service, count, status, body) = t.await.expect("task");
        assert_eq!(status, 200, "{body}");
        let accounts = body["accounts"].as_array().expect("accounts");
        assert_eq!(accounts.len() as u64, count);
        for a in accounts {
            assert!(
                seen.insert(a["id"].as_str().expect("id").to_owned()),
                "double allocation of {}",
                a["id"]
            );
            assert_eq!(a["locked_by"], service.as_str());
        }
        locks.push((service, body["lock_id"].as_str().expect("lock").to_owned()));
    }
    // Releases through the other process than the one that locked.
    for (i, (service, lock)) in locks.iter().enumerate() {
        let base = if i % 2 == 0 { &second.url } else { &first.url };
        let (status, body) = post(
            &client,
            &format!("{base}/release"),
            service,
            json!({"lock_id": lock}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let info: Value = client
        .get(format!("{}/pool-info", first.url))
        .header("X-Service-ID", "ops")
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info["locked"], 0);
    first.stop();
    second.stop();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_material_in_the_logs_of_start_up_and_signing() {
    let dir = TempDir::new("neosl-leak").expect("temp dir");
    let master_hex = "a1".repeat(32);
    let env = [
        ("POOL_MASTER_KEY", master_hex.clone()),
        ("NEOSL_POOL_TARGET_SIZE", "20".to_owned()),
        ("NEOSL_LOG", "trace".to_owned()),
    ];
    let process = start_pool(&dir, "leak", &env);
    let client = reqwest::Client::new();
    let (_, grant) = post(
        &client,
        &format!("{}/request", process.url),
        "mixer",
        json!({"count": 3}),
    )
    .await;
    let ids: Vec<String> = grant["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    let hash = format!("0x{}", "ab".repeat(32));
    let mut responses = String::new();
    let (status, signed) = post(
        &client,
        &format!("{}/sign", process.url),
        "mixer",
        json!({"account_id": ids[0], "tx_hash": hash}),
    )
    .await;
    assert_eq!(status, 200);
    responses.push_str(&signed.to_string());
    let batch: Vec<Value> = ids
        .iter()
        .map(|id| json!({"account_id": id, "tx_hash": hash}))
        .collect();
    let (status, body) = post(
        &client,
        &format!("{}/batch-sign", process.url),
        "mixer",
        json!({"requests": batch}),
    )
    .await;
    assert_eq!(status, 200);
    responses.push_str(&body.to_string());
    let (_, info) = post(
        &client,
        &format!("{}/sign", process.url),
        "mixer",
        json!({"account_id": ids[0], "tx_hash": "bad"}),
    )
    .await;
    responses.push_str(&info.to_string());
    let master_key_info: Value = client
        .get(format!("{}/master-key", process.url))
        .header("X-Service-ID", "ops")
        .send()
        .await
        .expect("ok")
        .json()
        .await
        .expect("json");
    responses.push_str(&master_key_info.to_string());
    let log = process.stop();

    // The master key and every derived private key, in hex (both cases) and base64.
    use base64::Engine as _;
    let master = neosl_crypto::MasterKey::new(neosl_crypto::SecretBytes::new(
        hex::decode(&master_hex).expect("hex"),
    ))
    .expect("key");
    let mut secrets = vec![master_hex.clone()];
    for id in &ids {
        let key = neosl_crypto::kdf::derive_pool_account_key(&master, id).expect("derive");
        secrets.push(hex::encode(key.to_bytes().as_slice()));
    }
    let everything = format!("{log}\n{responses}");
    assert!(log.contains("/sign"), "the requests were logged");
    for secret in &secrets {
        let bytes = hex::decode(secret).expect("hex");
        for needle in [
            secret.clone(),
            secret.to_uppercase(),
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        ] {
            assert!(!everything.contains(&needle), "key material leaked");
        }
        // Not even half of one.
        assert!(!everything.contains(&secret[..32]), "key material leaked");
    }

    // The signatures are in the audit chain: found by hash, verified with the pool's key,
    // refused with another key, and an altered record is named.
    let data_dir = dir.path().join("leak");
    let neosl = |args: &[&str], master: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .env("POOL_MASTER_KEY", master)
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = neosl(&["accountpool", "audit", "--hash", &hash], &master_hex);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().count(),
        4,
        "one /sign and three batch items: {out}"
    );
    assert!(out.lines().all(|l| l.contains("mixer")), "{out}");
    let (ok, out, err) = neosl(&["accountpool", "verify-audit"], &master_hex);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("mixer@") && out.contains(": 4 record(s), chain intact"),
        "{out}"
    );
    let (ok, _, err) = neosl(&["accountpool", "verify-audit"], &"b2".repeat(32));
    assert!(!ok && err.contains("MAC"), "another key: {err}");
    let db = neosl_runtime::db::Database::connect_unshared(&format!(
        "sqlite://{}",
        data_dir.join("neosl.db").display()
    ))
    .await
    .expect("database");
    sqlx::query("UPDATE pool_audit_records SET created_at = created_at + 1 WHERE seq = 2")
        .execute(db.pool())
        .await
        .expect("alter");
    db.pool().close().await;
    let (ok, _, err) = neosl(&["accountpool", "verify-audit"], &master_hex);
    assert!(
        !ok && err.contains("record 2") && err.contains("altered"),
        "{err}"
    );
}
