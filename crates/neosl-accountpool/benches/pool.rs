//! AccountPool speed on this machine. Run: `cargo bench -p neosl-accountpool --bench pool`
//! (add `-- --seconds N` for longer runs). Needs PostgreSQL on 127.0.0.1:5432 (as the tests do).
//! Prints figures; asserts only correctness (zero double allocations), never speed.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neosl_accountpool::http::router;
use neosl_accountpool::store::PoolStore;
use neosl_accountpool::{AccountPool, PoolConfig};
use neosl_crypto::{MasterKey, SecretBytes};
use neosl_runtime::RuntimeMode;
use neosl_runtime::db::Database;
use neosl_runtime::server::{self, Limits, ServiceInfo};
use serde_json::{Value, json};
use tokio::sync::watch;

fn master() -> MasterKey {
    MasterKey::new(SecretBytes::from_slice(&[0x42; 32])).expect("master")
}

fn config(target: u32) -> PoolConfig {
    PoolConfig {
        target_size: target,
        max_size: target.max(100_000),
        ..PoolConfig::default()
    }
}

async fn pool(url: &str, target: u32) -> (Arc<AccountPool>, Duration) {
    let store = PoolStore::open(Database::connect(url).await.expect("connect"))
        .await
        .expect("migrate");
    let pool = AccountPool::new(
        store,
        master(),
        config(target),
        None,
        Some(42),
        RuntimeMode::Simulation,
        neosl_runtime::clock::system(),
    )
    .expect("pool");
    let start = Instant::now();
    pool.fill_to_target().await.expect("fill");
    (Arc::new(pool), start.elapsed())
}

/// Serves the pool on a loopback port (plain HTTP, development identity by header).
async fn serve(pool: Arc<AccountPool>) -> (String, watch::Sender<bool>) {
    let info = Arc::new(ServiceInfo::new(
        "accountpool",
        RuntimeMode::Simulation,
        false,
        true,
    ));
    let app = server::router(
        info,
        router(pool),
        Limits {
            body_limit_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(server::serve(
        listener,
        app,
        None,
        stopped,
        Duration::from_secs(1),
    ));
    (url, stop)
}

async fn post(client: &reqwest::Client, url: &str, service: &str, body: &Value) -> Value {
    let response = client
        .post(url)
        .header("X-Service-ID", service)
        .json(body)
        .send()
        .await
        .expect("reachable");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn openssl_sign_multi(threads: usize, seconds: u64) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            &seconds.to_string(),
            "-multi",
            &threads.to_string(),
            "ecdsap256",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.contains("nistp256"))?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    numbers.len().checked_sub(2).map(|i| numbers[i])
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("AccountPool on this machine ({cores} cores, {seconds} s per figure)\n");

    // 1. Filling 10,000 accounts on each backend.
    let dir = std::env::temp_dir().join(format!("neosl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
    let (sqlite_pool, sqlite_fill) = pool(&sqlite_url, 10_000).await;
    let pg = neosl_testkit::TestPostgres::create("neosl_bench")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let (pg_pool, pg_fill) = pool(&pg.url, 10_000).await;
    println!(
        "fill 10,000 accounts       SQLite {:>6.2} s   PostgreSQL {:>6.2} s",
        sqlite_fill.as_secs_f64(),
        pg_fill.as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .expect("client");

    // 2a. The service core without HTTP: where the time goes.
    {
        let grant = sqlite_pool
            .request("core", 100, "bench")
            .await
            .expect("grant");
        let items: Vec<neosl_accountpool_api::BatchItem> = (0..1000)
            .map(|i| neosl_accountpool_api::BatchItem {
                account_id: grant.accounts[i % 100].id.clone(),
                tx_hash: format!("0x{:064x}", i + 1),
            })
            .collect();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(seconds.min(3)) {
            sqlite_pool.batch_sign("core", &items).await.expect("batch");
            n += items.len();
        }
        let t = start.elapsed().as_secs_f64();
        println!(
            "batch_sign in-process (no HTTP), SQLite, 1,000 over 100 accounts: {:>9.0} sig/s",
            n as f64 / t
        );
        let attempts: Vec<neosl_accountpool::store::SignAttempt> = items
            .iter()
            .map(|i| neosl_accountpool::store::SignAttempt {
                account_id: i.account_id.clone(),
                service_id: "core".into(),
                hash: i.tx_hash.clone(),
            })
            .collect();
        let start = Instant::now();
        for _ in 0..20 {
            sqlite_pool
                .store()
                .authorize_signatures(&attempts, neosl_runtime::db::now_millis())
                .await
                .expect("authorize");
        }
        println!(
            "  of which: authorize + audit 1,000 signatures (one statement), SQLite: {:.1} ms",
            start.elapsed().as_secs_f64() * 1000.0 / 20.0
        );
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(seconds.min(3)) {
            sqlite_pool
                .sign(
                    "core",
                    &grant.accounts[n % 100].id,
                    &format!("0x{:064x}", n + 1),
                )
                .await
                .expect("sign");
            n += 1;
        }
        println!(
            "sign in-process (no HTTP), SQLite, sequential: {:>9.0} /s",
            n as f64 / start.elapsed().as_secs_f64()
        );
        sqlite_pool
            .release(
                "core",
                &neosl_accountpool_api::ReleaseAccounts {
                    all: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("release");
    }

    // 2. /batch-sign throughput over HTTP (SQLite; the audit row of each signature included).
    let openssl = openssl_sign_multi(cores, seconds.min(3));
    for (label, backend_pool) in [
        ("SQLite", sqlite_pool.clone()),
        ("PostgreSQL", pg_pool.clone()),
    ] {
        let (url, stop) = serve(backend_pool).await;
        let mut ids = Vec::new();
        for _ in 0..10 {
            let grant = post(
                &client,
                &format!("{url}/request"),
                "bench",
                &json!({"count": 100}),
            )
            .await;
            ids.extend(
                grant["accounts"]
                    .as_array()
                    .expect("accounts")
                    .iter()
                    .map(|a| a["id"].as_str().expect("id").to_owned()),
            );
        }
        for (shape, accounts) in [
            ("1,000 items over 100 accounts", &ids[..100]),
            ("1,000 items over 1,000 accounts", &ids[..]),
        ] {
            let body = json!({"requests": (0..1000).map(|i| json!({
                "account_id": accounts[i % accounts.len()], "tx_hash": format!("0x{:064x}", i + 1)
            })).collect::<Vec<_>>()});
            let signed = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let deadline = start + Duration::from_secs(seconds);
            let workers: Vec<_> = (0..cores * 2)
                .map(|_| {
                    let (client, url, body, signed) =
                        (client.clone(), url.clone(), body.clone(), signed.clone());
                    tokio::spawn(async move {
                        while Instant::now() < deadline {
                            let r =
                                post(&client, &format!("{url}/batch-sign"), "bench", &body).await;
                            let ok = r["results"]
                                .as_array()
                                .expect("results")
                                .iter()
                                .filter(|x| x.get("signed").is_some())
                                .count();
                            signed.fetch_add(ok as u64, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.expect("worker");
            }
            let rate = signed.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
            let ratio = openssl
                .map(|o| {
                    format!(
                        "{:.0}% of openssl speed -multi {cores} ({o:.0}/s)",
                        100.0 * rate / o
                    )
                })
                .unwrap_or_default();
            println!("/batch-sign {label:<10} {shape:<34} {rate:>9.0} sig/s   {ratio}");
        }

        // 3. /sign latency with 64 concurrent keep-alive connections.
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..64)
            .map(|w| {
                let (client, url, latencies) = (client.clone(), url.clone(), latencies.clone());
                let id = ids[w % ids.len()].clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        let body = json!({"account_id": id, "tx_hash": format!("0x{:064x}", n)});
                        let t = Instant::now();
                        post(&client, &format!("{url}/sign"), "bench", &body).await;
                        mine.push(t.elapsed());
                    }
                    latencies.lock().expect("lock").extend(mine);
                })
            })
            .collect();
        for w in workers {
            w.await.expect("worker");
        }
        let mut all = latencies.lock().expect("lock").clone();
        all.sort();
        let pct = |p: f64| {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "/sign {label:<10} 64 connections: {} requests, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            all.len(),
            all.len() as f64 / seconds as f64,
            pct(0.50),
            pct(0.99)
        );
        post(
            &client,
            &format!("{url}/release"),
            "bench",
            &json!({"all": true}),
        )
        .await;
        stop.send(true).ok();
    }

    // 4. /request + /release cycles with 32 concurrent callers on PostgreSQL, checking that no
    //    account is ever held twice.
    let (url, stop) = serve(pg_pool.clone()).await;
    let held: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let cycles = Arc::new(AtomicU64::new(0));
    let doubles = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..32)
        .map(|w| {
            let (client, url, held, cycles, doubles) = (
                client.clone(),
                url.clone(),
                held.clone(),
                cycles.clone(),
                doubles.clone(),
            );
            tokio::spawn(async move {
                let service = format!("caller-{}", w % 8);
                while Instant::now() < deadline {
                    let grant = post(
                        &client,
                        &format!("{url}/request"),
                        &service,
                        &json!({"count": 2}),
                    )
                    .await;
                    let ids: Vec<String> = grant["accounts"]
                        .as_array()
                        .expect("accounts")
                        .iter()
                        .map(|a| a["id"].as_str().expect("id").to_owned())
                        .collect();
                    {
                        let mut set = held.lock().expect("lock");
                        for id in &ids {
                            if !set.insert(id.clone()) {
                                doubles.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    {
                        let mut set = held.lock().expect("lock");
                        for id in &ids {
                            set.remove(id);
                        }
                    }
                    post(
                        &client,
                        &format!("{url}/release"),
                        &service,
                        &json!({"lock_id": grant["lock_id"]}),
                    )
                    .await;
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let n = cycles.load(Ordering::Relaxed);
    println!(
        "/request+/release PostgreSQL 32 callers: {:.0} cycles/s ({n} cycles), double allocations: {}",
        n as f64 / seconds as f64,
        doubles.load(Ordering::Relaxed)
    );
    assert_eq!(
        doubles.load(Ordering::Relaxed),
        0,
        "an account was held by two locks"
    );
    stop.send(true).ok();

    // 5. Memory of a 100,000-account pool (this process, SQLite).
    let before = rss_mib();
    let big_url = format!("sqlite://{}", dir.join("big.db").display());
    let (big, fill) = pool(&big_url, 100_000).await;
    let info = serde_json::to_value(big.pool_info().await.expect("info")).expect("json");
    println!(
        "100,000-account pool: filled in {:.1} s; process RSS {:.0} MiB (was {:.0} MiB before); active {}",
        fill.as_secs_f64(),
        rss_mib(),
        before,
        info["active"]
    );
    drop(pg_pool);
    pg.drop().await;
    std::fs::remove_dir_all(&dir).ok();
}
