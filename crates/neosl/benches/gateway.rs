//! The gateway's cost, measured (a benchmark, not a test): a paid call (`POST /vrf/random`,
//! authenticated, its fee reserved and consumed in the GasBank) through the gateway beside the
//! same call made to the VRF service directly, and an authenticated cheap route (`GET
//! /api/v1/gasbank/balance`) under wrk at 64 keep-alive connections (wrk runs in its own
//! process; without it installed that part is skipped, saying so).
//!
//! `cargo bench -p neosl --bench gateway` (`-- --seconds N` for longer runs)

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use neosl_testkit::TempDir;
use serde_json::{Value, json};

struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(
    concurrency: usize,
    seconds: u64,
    make: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + Copy + 'static,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..concurrency {
        tasks.spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let response = make(&http, caller).send().await.expect("reachable");
                assert!(
                    response.status().is_success(),
                    "{}",
                    response.text().await.unwrap_or_default()
                );
                let _ = response.bytes().await;
                latencies.push(start.elapsed());
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("task"));
    }
    all.sort();
    Figures {
        rate: all.len() as f64 / seconds as f64,
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// wrk's requests/s and latency percentiles, if wrk is installed.
fn wrk(url: &str, token: &str, seconds: u64) -> Option<(f64, String, String)> {
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let rate = field("Requests/sec:")?.parse().ok()?;
    let non_2xx = text.lines().any(|l| l.contains("Non-2xx"));
    if non_2xx {
        eprintln!("wrk saw non-2xx answers:\n{text}");
    }
    Some((rate, field("50%")?, field("99%")?))
}

struct User {
    token: &'static str,
    id: &'static str,
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("gateway overhead ({cores} cores, one process; {seconds} s per figure)");
    run("SQLite", None, seconds);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(neosl_testkit::TestDatabase::postgres("neosl_gateway_bench"));
    run("PostgreSQL", Some(db.url()), seconds);
    rt.block_on(db.cleanup());
}

fn run(backend: &str, database_url: Option<String>, seconds: u64) {
    let dir = TempDir::new("neosl-gateway-bench").expect("temp dir");
    let config = dir.path().join("neosl.toml");
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000000.0, burst = 1000000 }\n",
    )
    .expect("config");
    let mut env = vec![("NEOSL_POOL_TARGET_SIZE", "4"), ("NEOSL_LOG", "warn")];
    if let Some(url) = database_url.as_deref() {
        env.push(("NEOSL_DATABASE_URL", url));
    }
    let running = common::serve(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--expose-internal",
            "--insecure-dev-identity",
        ],
        &env,
    )
    .expect("serve");
    let gateway = leak(&running.urls["gateway"]);
    let vrf = leak(&running.urls["vrf"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::new();
    // One user per concurrent caller, as a production load has many users.
    let data_dir = dir.path().join("data");
    let mut credit_env = vec![("NEOSL_DATA_DIR", data_dir.to_str().expect("utf-8"))];
    if let Some(url) = database_url.as_deref() {
        credit_env.push(("NEOSL_DATABASE_URL", url));
    }
    let users: Vec<User> = (0..16)
        .map(|i| {
            let email = format!("bench{i}@example.org");
            let login = rt.block_on(common::register(&http, gateway, &email));
            common::dev_credit(&email, 1_000_000_000_000, &credit_env);
            User {
                token: leak(login["access_token"].as_str().expect("token")),
                id: leak(login["user_id"].as_str().expect("user id")),
            }
        })
        .collect();
    let users: &'static [User] = Box::leak(users.into_boxed_slice());
    let body: &'static Value = Box::leak(Box::new(json!({"seed": "c0ffee", "num_words": 1})));
    println!("\n{backend}:");
    for concurrency in [1, 16] {
        let through = rt.block_on(load(concurrency, seconds, move |h, i| {
            h.post(format!("{gateway}/vrf/random"))
                .bearer_auth(users[i].token)
                .json(body)
        }));
        let direct = rt.block_on(load(concurrency, seconds, move |h, i| {
            h.post(format!("{vrf}/vrf/random"))
                .header("X-Service-ID", "gateway")
                .header("X-User-ID", users[i].id)
                .json(body)
        }));
        println!("paid POST /vrf/random, {concurrency} concurrent caller(s), one user each:");
        println!(
            "  direct to the VRF service   {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            direct.rate,
            ms(direct.p50),
            ms(direct.p99)
        );
        println!(
            "  through the gateway         {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms  (auth, fee reserved + consumed)",
            through.rate,
            ms(through.p50),
            ms(through.p99)
        );
        println!(
            "  cost through the gateway    {:.2}x the direct call (by throughput), {:.2}x (by p50)  [target <= 1.25x]",
            direct.rate / through.rate,
            ms(through.p50) / ms(direct.p50)
        );
    }
    match wrk(
        &format!("{gateway}/api/v1/gasbank/balance"),
        users[0].token,
        seconds,
    ) {
        Some((rate, p50, p99)) => println!(
            "GET /api/v1/gasbank/balance, wrk -t2 -c64 (own process): {rate:.0} req/s, p50 {p50}, p99 {p99}"
        ),
        None => println!(
            "GET /api/v1/gasbank/balance: wrk is not installed (apt-get install wrk); skipped"
        ),
    }
    running.stop();
}
