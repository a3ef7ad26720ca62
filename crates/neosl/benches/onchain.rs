//! The on-chain loop's speed and cost on a real devnet with 1-second blocks. Run:
//! `cargo bench -p neosl --bench onchain` (add `-- --latency N --burst M` to change the sizes).
//!
//! - Latency: N requests (default 100), a few per block, each in its own transaction; blocks
//!   and seconds from the request's block to its fulfilment's block (p50, p95, max).
//! - Burst: M requests (default 500) sent at once; fulfilment transactions used, requests per
//!   transaction, seconds until the last is fulfilled.
//! - Cost: system and network fee per fulfilment, over every fulfilment transaction seen.
//!
//! Prints figures; asserts only correctness (every request fulfilled), never speed.

#[path = "../tests/common/mod.rs"]
mod common;

use common::neosl;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use neosl_chain::RpcClient;
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_contracts::Deployed;
use neosl_neo::UInt256;
use neosl_neo::contract::CallFlags;
use neosl_neo::param::ContractParameter as P;
use neosl_neo::script::ScriptBuilder;
use neosl_neo::tx::Transaction;
use neosl_testkit::TempDir;
use num_bigint::BigInt;
use serde_json::{Value, json};

const VRF_FEE: i64 = 100_000;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    rpc: RpcClient,
    submitter: Submitter,
    alice: [SignerEntry; 1],
    consumer: neosl_neo::UInt160,
    gateway_url: String,
    token: String,
    http: reqwest::Client,
}

impl Bench {
    /// A transaction asking for one word `count` times.
    async fn request_tx(&self, count: usize) -> Transaction {
        let mut sb = ScriptBuilder::new();
        for _ in 0..count {
            neosl_neo::contract::call(
                &mut sb,
                &self.consumer,
                "requestRandom",
                CallFlags::ALL,
                &[P::Integer(BigInt::from(1))],
            )
            .expect("script");
        }
        let tx = self
            .submitter
            .build(sb.into_bytes(), &self.alice, vec![])
            .await
            .expect("built");
        self.submitter
            .send_with_retry(&tx, Duration::from_secs(30))
            .await
            .expect("sent");
        tx
    }

    /// The request ids a transaction created, and its block.
    async fn created(&self, tx: &Transaction) -> (Vec<u64>, neosl_chain::rpc::Block) {
        let outcome = self
            .submitter
            .wait(tx, Duration::from_secs(120))
            .await
            .expect("included");
        assert!(outcome.halted(), "{:?}", outcome.exception);
        let ids = outcome
            .stack
            .iter()
            .map(|i| {
                i.as_integer()
                    .and_then(|n| u64::try_from(&n).ok())
                    .expect("id")
            })
            .collect();
        (ids, self.block_of(&outcome.hash).await)
    }

    async fn block_of(&self, tx: &UInt256) -> neosl_chain::rpc::Block {
        let info = self.rpc.get_transaction_info(tx).await.expect("tx info");
        self.rpc
            .get_block_by_hash(&info.blockhash.expect("in a block"))
            .await
            .expect("block")
    }

    /// The fulfilment transaction of request `id`, once it is fulfilled.
    async fn fulfilled(&self, id: u64) -> UInt256 {
        let hash: String = neosl_testkit::wait_until(
            Duration::from_secs(600),
            format_args!("request {id} fulfilled"),
            || async {
                let answer = common::send(common::with_auth(
                    self.http
                        .get(format!("{}/onchain/requests/{id}", self.gateway_url)),
                    &self.token,
                ))
                .await;
                let request = &answer.body["data"];
                if request["status"] == "callback_failed" || request["status"] == "failed" {
                    panic!("request {id}: {request}");
                }
                (request["status"] == "fulfilled")
                    .then(|| request["fulfil_tx"].as_str().map(str::to_owned))
                    .flatten()
            },
        )
        .await;
        UInt256::parse_display(&hash).expect("tx hash")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn gas(units: f64) -> String {
    format!("{:.5} GAS", units / 1e8)
}

#[tokio::main]
async fn main() {
    let latency_requests = arg("--latency", 100);
    let burst_requests = arg("--burst", 500);
    let dir = TempDir::new("neosl-bench-onchain").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "1000"],
    );
    let deployed: Deployed =
        serde_json::from_slice(&std::fs::read(data_dir.join(Deployed::FILE)).expect("contracts"))
            .expect("json");
    let running = common::serve(&dir, &[], &[("NEOSL_POOL_TARGET_SIZE", "10")]).expect("serve");
    let http = reqwest::Client::new();
    let gateway_url = running.urls["gateway"].clone();
    let token = common::register(&http, &gateway_url, "bench@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let data_dir_text = data_dir.display().to_string();
    let requests = latency_requests + burst_requests;
    common::dev_credit(
        "bench@example.org",
        2 * requests as i64 * VRF_FEE,
        &[("NEOSL_DATA_DIR", &data_dir_text)],
    );
    let paid = common::post(
        &http,
        &format!("{gateway_url}/api/v1/gasbank/pay-contract"),
        Some(&token),
        json!({"contract": deployed.example_consumer.to_string(), "amount": 2 * requests as i64 * VRF_FEE, "reference": "bench"}),
    )
    .await;
    assert_eq!(paid.status, 200, "{}", paid.body);

    let devnet: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("devnet/devnet.json")).expect("json"))
            .expect("json");
    let rpc = RpcClient::single(devnet["rpc_url"].as_str().expect("url").to_owned()).expect("rpc");
    let accounts: Vec<Value> = serde_json::from_slice(
        &std::fs::read(data_dir.join("devnet/accounts.json")).expect("accounts"),
    )
    .expect("json");
    let wif = accounts
        .iter()
        .find(|a| a["name"] == "alice")
        .and_then(|a| a["wif"].as_str())
        .expect("alice");
    let alice: Arc<dyn TxSigner> = Arc::new(LocalKeySigner::new(
        neosl_neo::address::wif_decode(wif).expect("wif"),
    ));
    let bench = Bench {
        submitter: Submitter::connect(rpc.clone(), Default::default())
            .await
            .expect("submitter"),
        rpc,
        alice: [SignerEntry::called_by_entry(alice)],
        consumer: deployed.example_consumer,
        gateway_url,
        token,
        http,
    };
    // Warm up: the fulfilment account is locked, registered and funded on the first request.
    let warm = bench.request_tx(1).await;
    let (ids, _) = bench.created(&warm).await;
    bench.fulfilled(ids[0]).await;

    // Latency: requests spread over blocks, each in its own transaction.
    let mut sent = Vec::new();
    for _ in 0..latency_requests {
        sent.push(bench.request_tx(1).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut blocks = Vec::new();
    let mut seconds = Vec::new();
    let mut fulfil_txs: BTreeMap<UInt256, usize> = BTreeMap::new();
    for tx in &sent {
        let (ids, requested) = bench.created(tx).await;
        let fulfil_tx = bench.fulfilled(ids[0]).await;
        *fulfil_txs.entry(fulfil_tx).or_default() += 1;
        let fulfilled = bench.block_of(&fulfil_tx).await;
        blocks.push(f64::from(fulfilled.index - requested.index));
        seconds.push((fulfilled.time - requested.time) as f64 / 1000.0);
    }
    blocks.sort_by(f64::total_cmp);
    seconds.sort_by(f64::total_cmp);
    println!(
        "latency over {latency_requests} requests (1-second blocks), request block → fulfilment block:"
    );
    println!(
        "  blocks   p50 {:>4}  p95 {:>4}  max {:>4}",
        percentile(&blocks, 50.0),
        percentile(&blocks, 95.0),
        blocks[blocks.len() - 1]
    );
    println!(
        "  seconds  p50 {:>4.1}  p95 {:>4.1}  max {:>4.1}",
        percentile(&seconds, 50.0),
        percentile(&seconds, 95.0),
        seconds[seconds.len() - 1]
    );

    // Burst: everything at once, 50 requests per request transaction.
    let start = Instant::now();
    let mut burst = Vec::new();
    let mut left = burst_requests;
    while left > 0 {
        let n = left.min(50);
        burst.push(bench.request_tx(n).await);
        left -= n;
    }
    let mut burst_txs = BTreeSet::new();
    let mut burst_ids = Vec::new();
    for tx in &burst {
        burst_ids.extend(bench.created(tx).await.0);
    }
    for id in &burst_ids {
        let fulfil_tx = bench.fulfilled(*id).await;
        burst_txs.insert(fulfil_tx);
        *fulfil_txs.entry(fulfil_tx).or_default() += 1;
    }
    println!(
        "burst of {burst_requests}: {} fulfilment transactions, {:.1} requests per transaction, all fulfilled {:.1} s after the first was sent",
        burst_txs.len(),
        burst_requests as f64 / burst_txs.len() as f64,
        start.elapsed().as_secs_f64()
    );

    // Cost: every fulfilment transaction seen, per fulfilment.
    let (mut system, mut network, mut fulfilments) = (0i64, 0i64, 0usize);
    let mut largest = (0usize, 0i64, 0i64);
    for (hash, n) in &fulfil_txs {
        let tx = bench.rpc.get_raw_transaction(hash).await.expect("tx");
        system += tx.system_fee;
        network += tx.network_fee;
        fulfilments += n;
        if *n > largest.0 {
            largest = (*n, tx.system_fee, tx.network_fee);
        }
    }
    let per = |total: i64| total as f64 / fulfilments as f64;
    println!(
        "cost per fulfilment over {fulfilments} in {} transactions: system fee {}, network fee {}, total {}",
        fulfil_txs.len(),
        gas(per(system)),
        gas(per(network)),
        gas(per(system + network))
    );
    println!(
        "  the largest batch ({} fulfilments): system fee {}, network fee {} per fulfilment",
        largest.0,
        gas(largest.1 as f64 / largest.0 as f64),
        gas(largest.2 as f64 / largest.0 as f64)
    );
    running.stop();
    neosl(&data_dir, &["devnet", "stop"]);
}
