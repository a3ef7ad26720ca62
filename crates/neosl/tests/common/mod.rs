//! Shared by the integration tests: `neosl serve` as an operator runs it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use neosl_chain::signer::{LocalKeySigner, TxSigner};

use neosl_testkit::TempDir;
use serde_json::{Value, json};

pub struct Running {
    pub child: Child,
    pub urls: HashMap<String, String>,
    pub stdout: Vec<String>,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `neosl serve` with every service on a free port and waits for "ready".
pub fn serve(dir: &TempDir, extra_args: &[&str], env: &[(&str, &str)]) -> Result<Running, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neosl"));
    command
        .arg("serve")
        .args(extra_args)
        .env("NEOSL_DATA_DIR", dir.path().join("data"))
        .env("NEOSL_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("NEOSL_ACCOUNTPOOL_LISTEN", "127.0.0.1:0")
        .env("NEOSL_VRF_LISTEN", "127.0.0.1:0")
        .env("NEOSL_DATAFEEDS_LISTEN", "127.0.0.1:0")
        .env("NEOSL_AUTOMATION_LISTEN", "127.0.0.1:0")
        .env("NEOSL_MIXER_LISTEN", "127.0.0.1:0")
        .env("NEOSL_SECRETS_LISTEN", "127.0.0.1:0")
        .env("NEOSL_CONFIDENTIAL_LISTEN", "127.0.0.1:0")
        .env_remove("OE_SIMULATION")
        .env_remove("POOL_MASTER_KEY")
        .env_remove("COORD_MASTER_SEED")
        .env_remove("VRF_PRIVATE_KEY")
        .env_remove("DATAFEEDS_SIGNING_KEY")
        .env_remove("AUTOMATION_SIGNING_KEY")
        .env_remove("MIXER_MASTER_KEY")
        .env_remove("SECRETS_MASTER_KEY")
        .env_remove("SECRETS_PREVIOUS_MASTER_KEY")
        .env_remove("CONFIDENTIAL_MASTER_KEY")
        .env_remove("JWT_SIGNING_KEY")
        .env_remove("GASBANK_MASTER_KEY")
        .env_remove("GATEWAY_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    // Drain stderr (the log) all along: a full pipe would block the server.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = child.stderr.take().ok_or("stderr")?;
    let sink = log.clone();
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut l) = sink.lock() {
                l.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    let stdout = child.stdout.take().ok_or("stdout")?;
    let mut lines = Vec::new();
    let mut urls = HashMap::new();
    let mut reader = BufReader::new(stdout).lines();
    while let Some(line) = reader.next() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 2 && (words[1].starts_with("http://") || words[1].starts_with("https://"))
        {
            urls.insert(words[0].to_owned(), words[1].to_owned());
        }
        let ready = line.starts_with("ready");
        lines.push(line);
        if ready {
            // Keep draining stdout so the server never writes into a closed pipe.
            std::thread::spawn(move || reader.for_each(drop));
            return Ok(Running {
                child,
                urls,
                stdout: lines,
                log,
            });
        }
    }
    child.wait().ok();
    drain.join().ok();
    let err = log.lock().map(|l| l.clone()).unwrap_or_default();
    Err(format!("exited before ready:\n{}\n{err}", lines.join("\n")))
}

impl Running {
    /// SIGTERM, then the full stderr (the log) after a graceful exit.
    pub fn stop(mut self) -> String {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        let status = self.child.wait().expect("wait");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let err = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(status.success(), "graceful exit, got {status}: {err}");
        err
    }
}

impl Drop for Running {
    /// A test that fails midway never leaves a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The log so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// An HTTP answer: status, JSON body (or the text as a string), `Retry-After`.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

/// Sends `request` and reads the answer.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("reachable");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        retry_after,
    }
}

/// POSTs `body`, with a token (bearer or API key) when given.
pub async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Answer {
    let mut request = client.post(url).json(&body);
    if let Some(t) = token {
        request = with_auth(request, t);
    }
    send(request).await
}

/// A session token as a bearer token, an API key (`nsk_…`) as `X-API-Key`.
pub fn with_auth(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    if token.starts_with("nsk_") {
        request.header("X-API-Key", token)
    } else {
        request.bearer_auth(token)
    }
}

/// The password every test user has.
pub const PASSWORD: &str = "correct horse battery staple";

/// Registers `email` (201 expected) and answers the envelope's `data` (tokens, user id).
pub async fn register(client: &reqwest::Client, gateway: &str, email: &str) -> Value {
    let answer = post(
        client,
        &format!("{gateway}/api/v1/auth/register"),
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["data"].clone()
}

/// `neosl gasbank dev-credit EMAIL AMOUNT` in simulation mode, with `env` (the data directory or
/// the database); it must succeed.
pub fn dev_credit(email: &str, amount: i64, env: &[(&str, &str)]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neosl"));
    command
        .args(["gasbank", "dev-credit", email, &amount.to_string()])
        .env("NEOSL_MODE", "simulation");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("dev-credit runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The environment of an in-process platform (`Platform::start`) on `dir`: simulation mode,
/// the gateway on a free port, a small pool, and `extra`.
pub fn platform_env(dir: &TempDir, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        (
            "NEOSL_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("NEOSL_GATEWAY_LISTEN", "127.0.0.1:0".to_owned()),
        ("NEOSL_POOL_TARGET_SIZE", "20".to_owned()),
        ("NEOSL_MODE", "simulation".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env
}

/// `neosl ARGS` on `data_dir` (simulation mode, the shared NeoGo cache); it must succeed;
/// answers what it printed.
pub fn neosl(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(args)
        .env("NEOSL_DATA_DIR", data_dir)
        .env("NEOSL_MODE", "simulation")
        .env("NEOSL_NODE_CACHE", neosl_testkit::tools_dir().join("neogo"))
        .output()
        .expect("neosl runs");
    assert!(
        out.status.success(),
        "neosl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The key of development account `name` of the devnet in `data_dir`.
pub fn dev_key(data_dir: &Path, name: &str) -> neosl_crypto::SecretKey {
    let accounts: Vec<Value> = serde_json::from_slice(
        &std::fs::read(data_dir.join("devnet/accounts.json")).expect("accounts"),
    )
    .expect("json");
    let wif = accounts
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["wif"].as_str())
        .unwrap_or_else(|| panic!("no development account {name}"));
    neosl_neo::address::wif_decode(wif).expect("wif")
}

/// Development account `name` as a transaction signer.
pub fn dev_signer(data_dir: &Path, name: &str) -> Arc<dyn TxSigner> {
    Arc::new(LocalKeySigner::new(dev_key(data_dir, name)))
}

/// The RPC URL of the devnet in `data_dir`.
pub fn devnet_rpc_url(data_dir: &Path) -> String {
    let devnet: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("devnet/devnet.json")).expect("json"))
            .expect("json");
    devnet["rpc_url"].as_str().expect("url").to_owned()
}

/// The RPC client of the devnet in `data_dir`.
pub fn devnet_rpc(data_dir: &Path) -> neosl_chain::RpcClient {
    let devnet: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("devnet/devnet.json")).expect("json"))
            .expect("json");
    neosl_chain::RpcClient::single(devnet["rpc_url"].as_str().expect("url").to_owned())
        .expect("rpc")
}

/// Kills a running `neosl serve` without warning (SIGKILL), as a crash would.
pub fn kill_9(running: Running) {
    let status = Command::new("kill")
        .arg("-KILL")
        .arg(running.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    drop(running);
}

/// The rows of `table` counted by `column` (a state or status), in order of the value.
pub async fn counts_by(
    db: &neosl_runtime::db::Database,
    table: &str,
    column: &str,
) -> Vec<(String, i64)> {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {column}, COUNT(*) FROM {table} GROUP BY {column} ORDER BY {column}"
    )))
    .fetch_all(db.pool())
    .await
    .expect("query")
    .iter()
    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
    .collect()
}

/// The count of `value` in [`counts_by`]'s answer.
pub fn count_of(counts: &[(String, i64)], value: &str) -> i64 {
    counts
        .iter()
        .find(|(v, _)| v == value)
        .map_or(0, |(_, n)| *n)
}

/// The request id `neosl devnet invoke` printed as the call's result.
pub fn request_id_of(printed: &str) -> u64 {
    let line = printed
        .lines()
        .find(|l| l.starts_with("result:"))
        .unwrap_or_else(|| panic!("no result in {printed}"));
    let value: serde_json::Value =
        serde_json::from_str(line.trim_start_matches("result:").trim()).expect("json");
    value["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not an integer result: {line}"))
}
