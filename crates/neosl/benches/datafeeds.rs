//! DataFeeds' speed and cost. Run: `cargo bench -p neosl --bench datafeeds` (add
//! `-- --changes N` to change how many price changes are timed).
//!
//! - Aggregation: rounds per second for 100 pairs × 7 sources (pure integer median/MAD).
//! - Latency: from a price change at the (local) exchanges to the new price readable from the
//!   `DataFeedsService` on a devnet with 1-second blocks, over N changes (default 20).
//! - Cost: GAS per pair per update when 4 pairs share one `updatePrices` transaction.
//!
//! Prints figures; asserts only correctness, never speed.

#[path = "../tests/common/mod.rs"]
mod common;

use common::neosl;

use std::time::{Duration, Instant};

use neosl_contracts::Deployed;
use neosl_datafeeds::aggregate::{Observation, Rules, aggregate};
use neosl_neo::param::ContractParameter as P;
use neosl_testkit::TempDir;
use neosl_testkit::exchanges::Exchanges;
use serde_json::Value;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn aggregation() {
    let rules = Rules::default();
    let now = 1_800_000_000_000i64;
    let pairs: Vec<Vec<Observation>> = (0..100i64)
        .map(|p| {
            (0..7i64)
                .map(|s| Observation {
                    source: format!("s{s}"),
                    // A spread of ±0.3 % and one outlier in every pair.
                    price: if s == 6 {
                        (p + 1) * 150_000_000
                    } else {
                        (p + 1) * 100_000_000 + (s - 3) * (p + 1) * 100_000
                    },
                    time_ms: now - s * 1000,
                })
                .collect()
        })
        .collect();
    let mut rounds = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        for quotes in &pairs {
            let a = aggregate(quotes, now, &rules).expect("a quorum");
            assert_eq!(a.used.len(), 6);
            rounds += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "aggregation, 100 pairs × 7 sources: {:.0} pair-rounds/s ({:.0} full 100-pair rounds/s, {:.2} µs per pair)",
        rounds as f64 / secs,
        rounds as f64 / secs / 100.0,
        secs * 1e6 / rounds as f64
    );
}

const PAIRS: [(&str, [(&str, &str); 3]); 4] = [
    (
        "BTC/USD",
        [
            ("binance", "BTCUSDT"),
            ("coinbase", "BTC-USD"),
            ("kraken", "XBTUSD"),
        ],
    ),
    (
        "ETH/USD",
        [
            ("okx", "ETH-USDT"),
            ("bitstamp", "ethusd"),
            ("kucoin", "ETH-USDT"),
        ],
    ),
    (
        "NEO/USD",
        [
            ("gate", "NEO_USDT"),
            ("htx", "neousdt"),
            ("binance", "NEOUSDT"),
        ],
    ),
    (
        "GAS/USD",
        [
            ("kucoin", "GAS-USDT"),
            ("gate", "GAS_USDT"),
            ("okx", "GAS-USDT"),
        ],
    ),
];

fn set_all(exchanges: &Exchanges, base: u64) {
    for (i, (_, sources)) in PAIRS.iter().enumerate() {
        for (e, s) in sources {
            exchanges.set_price(e, s, &(base * (i as u64 + 1)).to_string());
        }
    }
}

#[tokio::main]
async fn main() {
    aggregation();
    let changes = arg("--changes", 20);
    let exchanges = Exchanges::start().await.expect("exchanges");
    set_all(&exchanges, 1000);
    let dir = TempDir::new("neosl-bench-datafeeds").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "1000"],
    );
    let deployed: Deployed =
        serde_json::from_slice(&std::fs::read(data_dir.join(Deployed::FILE)).expect("contracts"))
            .expect("json");
    let mut config = String::from(
        "[gateway.rate_limits]\npublic = { per_second = 1000.0, burst = 1000 }\n\n[datafeeds]\ninterval_ms = 200\ntimeout_ms = 1000\nretries = 0\n\n",
    );
    config.push_str(&exchanges.settings_toml());
    for (pair, sources) in PAIRS {
        config.push_str(&format!(
            "\n[[datafeeds.pairs]]\npair = \"{pair}\"\nheartbeat_secs = 3600\ndeviation_bps = 50\n[datafeeds.pairs.sources]\n"
        ));
        for (e, s) in sources {
            config.push_str(&format!("{e} = \"{s}\"\n"));
        }
    }
    let config_path = dir.path().join("neosl.toml");
    std::fs::write(&config_path, config).expect("config");
    let config_text = config_path.display().to_string();
    let running = common::serve(
        &dir,
        &["--config", &config_text],
        &[("NEOSL_POOL_TARGET_SIZE", "10")],
    )
    .expect("serve");
    let devnet: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("devnet/devnet.json")).expect("json"))
            .expect("json");
    let rpc = neosl_chain::RpcClient::single(devnet["rpc_url"].as_str().expect("url").to_owned())
        .expect("rpc");
    let price_of = |pair: &'static str| {
        let rpc = rpc.clone();
        let contract = deployed.datafeeds_service;
        async move {
            let r = rpc
                .invoke_function(&contract, "getLatestPrice", &[P::String(pair.into())], &[])
                .await
                .ok()?;
            let f = r.stack.first()?.as_array()?.to_vec();
            i64::try_from(f.first()?.as_integer()?).ok()
        }
    };
    neosl_testkit::wait_until(
        Duration::from_secs(120),
        "the first prices on chain",
        || async {
            for (pair, _) in PAIRS {
                price_of(pair).await?;
            }
            Some(())
        },
    )
    .await;

    // Latency: every change moves all four pairs by 2 %; timed until BTC/USD is readable.
    let mut seconds = Vec::with_capacity(changes);
    let mut base = 1000u64;
    for _ in 0..changes {
        base = base * 102 / 100;
        let expected = i64::try_from(base).expect("fits") * 100_000_000;
        let start = Instant::now();
        set_all(&exchanges, base);
        neosl_testkit::wait_until(
            Duration::from_secs(60),
            "the new price on chain",
            || async { (price_of("BTC/USD").await? == expected).then_some(()) },
        )
        .await;
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        seconds[((p / 100.0 * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len()) - 1]
    };
    println!(
        "price change at the exchanges → readable on chain (1-second blocks), over {changes} changes: p50 {:.2} s, p95 {:.2} s, max {:.2} s",
        pct(50.0),
        pct(95.0),
        pct(100.0)
    );

    // Cost: every updatePrices transaction the fulfilment account sent, per pair updated.
    let height = rpc.get_block_count().await.expect("height");
    let (mut system, mut network, mut updates, mut txs, mut four) =
        (0i64, 0i64, 0usize, 0usize, 0usize);
    for index in 0..height {
        let block = rpc.get_block(index).await.expect("block");
        for entry in &block.tx {
            let log = rpc.get_application_log(&entry.hash).await.expect("log");
            let pushed = log
                .executions
                .iter()
                .flat_map(|e| e.notifications.iter())
                .filter(|n| n.eventname == "PriceUpdated")
                .count();
            if pushed == 0 {
                continue;
            }
            txs += 1;
            updates += pushed;
            if pushed == 4 {
                four += 1;
            }
            let tx = rpc.get_raw_transaction(&entry.hash).await.expect("tx");
            system += tx.system_fee;
            network += tx.network_fee;
        }
    }
    println!(
        "cost over {txs} updatePrices transactions ({four} with all 4 pairs), {updates} pair updates: system fee {:.5} GAS, network fee {:.5} GAS, total {:.5} GAS per pair update",
        system as f64 / 1e8 / updates as f64,
        network as f64 / 1e8 / updates as f64,
        (system + network) as f64 / 1e8 / updates as f64
    );
    running.stop();
}
