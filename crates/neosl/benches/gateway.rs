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
    make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + Copy + 'static,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        tasks.spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let response = make(&http).send().await.expect("reachable");
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

fn main() {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = TempDir::new("neosl-gateway-bench").expect("temp dir");
    let config = dir.path().join("neosl.toml");
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000000.0, burst = 1000000 }\n",
    )
    .expect("config");
    let running = common::serve(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--expose-internal",
            "--insecure-dev-identity",
        ],
        &[("NEOSL_POOL_TARGET_SIZE", "4"), ("NEOSL_LOG", "warn")],
    )
    .expect("serve");
    let gateway = running.urls["gateway"].clone();
    let vrf = running.urls["vrf"].clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::new();
    let login = rt.block_on(common::register(&http, &gateway, "bench@example.org"));
    let token: &'static str = Box::leak(
        login["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
            .into_boxed_str(),
    );
    let user: &'static str = Box::leak(
        login["user_id"]
            .as_str()
            .expect("user id")
            .to_owned()
            .into_boxed_str(),
    );
    common::dev_credit(
        "bench@example.org",
        1_000_000_000_000,
        &[(
            "NEOSL_DATA_DIR",
            dir.path().join("data").to_str().expect("utf-8"),
        )],
    );
    let gateway: &'static str = Box::leak(gateway.into_boxed_str());
    let vrf: &'static str = Box::leak(vrf.into_boxed_str());
    let body = json!({"seed": "c0ffee", "num_words": 1});
    let body: &'static Value = Box::leak(Box::new(body));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("gateway overhead ({cores} cores, SQLite, one process; {seconds} s per figure)\n");
    for concurrency in [1, 16] {
        let through = rt.block_on(load(concurrency, seconds, move |h| {
            h.post(format!("{gateway}/vrf/random"))
                .bearer_auth(token)
                .json(body)
        }));
        let direct = rt.block_on(load(concurrency, seconds, move |h| {
            h.post(format!("{vrf}/vrf/random"))
                .header("X-Service-ID", "gateway")
                .header("X-User-ID", user)
                .json(body)
        }));
        println!("paid POST /vrf/random, {concurrency} concurrent caller(s):");
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
            "  cost through the gateway    {:.2}× the direct call (by throughput), {:.2}× (by p50)  [target ≤ 1.25×]\n",
            direct.rate / through.rate,
            ms(through.p50) / ms(direct.p50)
        );
    }
    match wrk(&format!("{gateway}/api/v1/gasbank/balance"), token, seconds) {
        Some((rate, p50, p99)) => println!(
            "GET /api/v1/gasbank/balance, wrk -t2 -c64 (own process): {rate:.0} req/s, p50 {p50}, p99 {p99}"
        ),
        None => println!(
            "GET /api/v1/gasbank/balance: wrk is not installed (apt-get install wrk); skipped"
        ),
    }
    running.stop();
}
