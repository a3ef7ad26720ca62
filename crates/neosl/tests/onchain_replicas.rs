//! Exactly once under crashes: a burst of contracts' requests served by two `neosl serve`
//! replicas on one PostgreSQL, one of them killed with SIGKILL midway and started again. Every
//! request is fulfilled once on chain, its words stored by the consumer, and its fee charged
//! once. Meanwhile both replicas run DataFeeds on moving prices: every round is made once,
//! numbered without gaps across the crash, and each update reaches the contract once.

mod common;

use common::{dev_signer, neosl};

use std::time::Duration;

use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_contracts::Deployed;
use neosl_contracts::gateway::{RequestStatus, stored_request};
use neosl_gasbank::{GasBank, Owner};
use neosl_neo::param::ContractParameter as P;
use neosl_neo::script::ScriptBuilder;
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use neosl_testkit::exchanges::Exchanges;
use num_bigint::BigInt;
use serde_json::{Value, json};
use sqlx::Row;

/// Requests in the burst, and per request transaction.
const REQUESTS: usize = 200;
const PER_TRANSACTION: usize = 50;
/// The VRF fee per request (the default schedule), 10⁻⁸ GAS.
const VRF_FEE: i64 = 100_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_is_fulfilled_exactly_once_by_two_replicas_while_one_is_killed() {
    let dir = TempDir::new("neosl-onchain-burst").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "500"],
    );
    let deployed: Deployed = serde_json::from_slice(
        &std::fs::read(data_dir.join(Deployed::FILE)).expect("contracts.json"),
    )
    .expect("json");
    let pg = neosl_testkit::TestPostgres::create("neosl_burst")
        .await
        .expect("database");
    // Both replicas run on the devnet's data directory (its contracts, its development
    // secrets) and share one PostgreSQL.
    let data_dir_text = data_dir.display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("NEOSL_DATA_DIR", &data_dir_text),
        ("NEOSL_DATABASE_URL", &pg.url),
        ("NEOSL_CHAIN_WORK_LEASE_SECS", "2"),
        ("NEOSL_POOL_TARGET_SIZE", "10"),
        ("NEOSL_MODE", "simulation"),
    ];
    let replica_a = TempDir::new("neosl-burst-a").expect("temp dir");
    let replica_b = TempDir::new("neosl-burst-b").expect("temp dir");
    // Both replicas read BTC/USD from the same local exchanges.
    let exchanges = Exchanges::start().await.expect("exchanges");
    let btc = [
        ("binance", "BTCUSDT"),
        ("okx", "BTC-USDT"),
        ("kucoin", "BTC-USDT"),
    ];
    let set_btc = |price: u64| {
        for (e, symbol) in btc {
            exchanges.set_price(e, symbol, &price.to_string());
        }
    };
    set_btc(100_000);
    let config = replica_a.path().join("neosl.toml");
    std::fs::write(
        &config,
        format!(
            "[datafeeds]\ninterval_ms = 200\nretries = 0\n\n{}\n[[datafeeds.pairs]]\npair = \"BTC/USD\"\n[datafeeds.pairs.sources]\nbinance = \"BTCUSDT\"\nokx = \"BTC-USDT\"\nkucoin = \"BTC-USDT\"\n",
            exchanges.settings_toml()
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let args = ["--config", config.as_str()];
    let a = common::serve(&replica_a, &args, &env).expect("replica a");
    let b = common::serve(&replica_b, &args, &env).expect("replica b");

    let http = reqwest::Client::new();
    let gateway = b.urls["gateway"].clone();
    let token = common::register(&http, &gateway, "burst@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    common::dev_credit("burst@example.org", 100_000_000, &env);
    let consumer = deployed.example_consumer;
    let paid = 2 * REQUESTS as i64 * VRF_FEE;
    let answer = common::post(
        &http,
        &format!("{gateway}/api/v1/gasbank/pay-contract"),
        Some(&token),
        json!({"contract": consumer.to_string(), "amount": paid, "reference": "burst"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // The burst: a few transactions, each asking for randomness many times.
    let devnet: Value = serde_json::from_slice(
        &std::fs::read(data_dir.join("devnet/devnet.json")).expect("devnet.json"),
    )
    .expect("json");
    let rpc = neosl_chain::RpcClient::single(devnet["rpc_url"].as_str().expect("url").to_owned())
        .expect("rpc");
    let submitter = Submitter::connect(rpc.clone(), Default::default())
        .await
        .expect("submitter");
    let alice = [SignerEntry::called_by_entry(dev_signer(&data_dir, "alice"))];
    let mut sent = Vec::new();
    for _ in 0..REQUESTS / PER_TRANSACTION {
        let mut sb = ScriptBuilder::new();
        for _ in 0..PER_TRANSACTION {
            neosl_neo::contract::call(
                &mut sb,
                &consumer,
                "requestRandom",
                neosl_neo::contract::CallFlags::ALL,
                &[P::Integer(BigInt::from(1))],
            )
            .expect("script");
        }
        let tx = submitter
            .build(sb.into_bytes(), &alice, vec![])
            .await
            .expect("built");
        submitter
            .send_with_retry(&tx, Duration::from_secs(30))
            .await
            .expect("sent");
        sent.push(tx);
    }
    let mut ids = Vec::new();
    for tx in &sent {
        let outcome = submitter
            .wait(tx, Duration::from_secs(60))
            .await
            .expect("included");
        assert!(outcome.halted(), "{:?}", outcome.exception);
        for item in &outcome.stack {
            ids.push(
                item.as_integer()
                    .and_then(|i| u64::try_from(&i).ok())
                    .expect("a request id"),
            );
        }
    }
    assert_eq!(ids.len(), REQUESTS);

    // Midway: some fulfilled, others still open. Replica A dies without warning.
    let db = Database::connect_unshared(&pg.url).await.expect("database");
    let at_kill = neosl_testkit::wait_until(
        Duration::from_secs(120),
        "the first fulfilments",
        || async {
            let now = common::counts_by(&db, "onchain_requests", "status").await;
            (common::count_of(&now, "fulfilled") > 0).then_some(now)
        },
    )
    .await;
    set_btc(102_000);
    common::kill_9(a);
    set_btc(104_000);
    let a = common::serve(&replica_a, &args, &env).expect("replica a again");
    set_btc(106_000);
    let end = neosl_testkit::wait_until(
        Duration::from_secs(300),
        "every request to be fulfilled",
        || async {
            let now = common::counts_by(&db, "onchain_requests", "status").await;
            (common::count_of(&now, "fulfilled") == REQUESTS as i64
                || now.iter().any(|(s, _)| s == "failed"))
            .then_some(now)
        },
    )
    .await;
    assert_eq!(
        end,
        [("fulfilled".to_owned(), REQUESTS as i64)],
        "killed at {at_kill:?}"
    );

    // On chain: each request fulfilled (a second fulfilment would have faulted its whole
    // batch), and the consumer holds its word.
    for id in &ids {
        let stored = stored_request(
            &neosl::contracts::read(
                &rpc,
                &deployed.gateway,
                "getRequest",
                &[P::Integer(BigInt::from(*id))],
            )
            .await
            .expect("getRequest"),
        )
        .expect("stored");
        assert_eq!(stored.status, RequestStatus::Fulfilled, "request {id}");
        let words = neosl::contracts::read(
            &rpc,
            &consumer,
            "getRandom",
            &[P::Integer(BigInt::from(*id))],
        )
        .await
        .expect("getRandom");
        assert_eq!(words.as_array().map(<[_]>::len), Some(1), "request {id}");
    }
    // Off chain: the fee charged once per request, nothing held.
    let bank = GasBank::open(db.clone()).await.expect("bank");
    let owner = Owner::Contract(consumer.to_string());
    let fees = bank
        .transactions(&owner, 1_000)
        .await
        .expect("ledger")
        .into_iter()
        .filter(|e| e.r#type == "service_fee")
        .count();
    assert_eq!(fees, REQUESTS);
    let account = bank.account(&owner).await.expect("account");
    assert_eq!(account.balance, paid - REQUESTS as i64 * VRF_FEE);
    assert_eq!(account.reserved, 0);
    assert!(bank.check_invariants().await.expect("check").is_empty());

    // DataFeeds: the last price reaches the contract; every round was made once, numbered
    // 1, 2, 3, … without gaps, and no update was sent twice (a second one faults on chain and
    // would leave a failed push).
    let feeds = deployed.datafeeds_service;
    neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the last BTC/USD price on chain",
        || async {
            let latest = neosl::contracts::read(
                &rpc,
                &feeds,
                "getLatestPrice",
                &[P::String("BTC/USD".into())],
            )
            .await
            .ok()?;
            (latest.as_array()?.first()?.as_integer()? == BigInt::from(10_600_000_000_000i64))
                .then_some(())
        },
    )
    .await;
    let rounds: Vec<i64> = sqlx::query(
        "SELECT round_id FROM datafeeds_rounds WHERE pair = 'BTC/USD' ORDER BY round_id",
    )
    .fetch_all(db.pool())
    .await
    .expect("rounds")
    .iter()
    .map(|r| r.get::<i64, _>(0))
    .collect();
    assert_eq!(rounds, (1..=rounds.len() as i64).collect::<Vec<_>>());
    assert!(rounds.len() >= 3, "a round per price seen: {rounds:?}");
    let pushes: Vec<(String, i64)> = sqlx::query(
        "SELECT state, COUNT(*) FROM chain_work WHERE kind = 'onchain.push' GROUP BY state ORDER BY state",
    )
    .fetch_all(db.pool())
    .await
    .expect("pushes")
    .iter()
    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
    .collect();
    assert!(
        pushes.iter().any(|(state, _)| state == "confirmed")
            && !pushes.iter().any(|(state, _)| state == "failed"),
        "pushes landed, none twice: {pushes:?}"
    );

    a.stop();
    b.stop();
    db.pool().close().await;
    pg.drop().await;
    neosl(&data_dir, &["devnet", "stop"]);
}
