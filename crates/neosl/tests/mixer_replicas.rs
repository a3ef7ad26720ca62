//! The Mixer under concurrency and a crash: two `neosl serve` replicas on one PostgreSQL. 50
//! concurrent requests through both gateways fill the pool's cap exactly and never beyond; the
//! funded ones are mixed while one replica is killed with SIGKILL mid-mix and started again;
//! every target is paid exactly once, every leg sent once.

mod common;

use common::{dev_signer, neosl};

use std::sync::Arc;
use std::time::Duration;

use neosl_chain::signer::TxSigner;
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_neo::{Address, UInt160};
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use serde_json::{Value, json};

const GAS: i64 = 100_000_000;
const REQUESTS: usize = 50;
const FUNDED: usize = 6;

fn fresh_address() -> UInt160 {
    let key = neosl_crypto::SecretKey::generate();
    UInt160::of_script(&neosl_neo::script::verification_script(
        &neosl_neo::PublicKey::from_slice(&key.public_key().to_compressed()).expect("key"),
    ))
}

async fn gas_of(submitter: &Submitter, account: &UInt160) -> i64 {
    let b = submitter
        .rpc()
        .get_nep17_balances(account)
        .await
        .expect("balances")
        .of(&neosl_neo::native::GAS);
    i64::try_from(&b).expect("fits")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_holds_and_every_target_is_paid_once_through_a_crash() {
    let dir = TempDir::new("neosl-mixer-replicas").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "500"],
    );
    let rpc = common::devnet_rpc(&data_dir);
    let submitter = Submitter::connect(rpc.clone(), Default::default())
        .await
        .expect("submitter");
    let alice = dev_signer(&data_dir, "alice");

    let pg = neosl_testkit::TestPostgres::create("neosl_mixer_replicas")
        .await
        .expect("database");
    let data_dir_text = data_dir.display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("NEOSL_DATA_DIR", &data_dir_text),
        ("NEOSL_DATABASE_URL", &pg.url),
        ("NEOSL_CHAIN_WORK_LEASE_SECS", "2"),
        ("NEOSL_POOL_TARGET_SIZE", "200"),
        ("NEOSL_MODE", "simulation"),
    ];
    let replica_a = TempDir::new("neosl-mixer-a").expect("temp dir");
    let replica_b = TempDir::new("neosl-mixer-b").expect("temp dir");
    let config = replica_a.path().join("neosl.toml");
    // A 100 GAS cap; windows ÷ 120 (30 min → 15 s), deposits within 60 s.
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000.0, burst = 1000 }\npublic = { per_second = 1000.0, burst = 1000 }\n\n[mixer]\ntick_ms = 200\nmax_request = 10000000000\nmax_pool = 10000000000\nwindow_divisor = 120\ndeposit_window_ms = 7200000\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let args = ["--config", config.as_str()];
    let a = common::serve(&replica_a, &args, &env).expect("replica a");
    let b = common::serve(&replica_b, &args, &env).expect("replica b");
    let gateways = [a.urls["gateway"].clone(), b.urls["gateway"].clone()];

    // 50 requests at once, alternating replicas.
    let http = reqwest::Client::new();
    let user = Address::from_script_hash(alice.account()).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let http = http.clone();
        let url = format!("{}/mixer/request", gateways[i % 2]);
        let target = fresh_address();
        let body = json!({
            "version": 1, "user_address": user,
            "targets": [{"address": Address::from_script_hash(target).to_string(), "amount": "5"}],
            "mix_option": 1_800_000, "timestamp": now,
        });
        tasks.spawn(async move {
            let answer = common::send(http.post(url).json(&body)).await;
            (target, answer)
        });
    }
    let mut accepted: Vec<(UInt160, Value)> = Vec::new();
    let mut refused = 0;
    while let Some(done) = tasks.join_next().await {
        let (target, answer) = done.expect("task");
        match answer.status {
            200 => accepted.push((target, answer.body["data"].clone())),
            409 => {
                assert_eq!(
                    answer.body["code"], "pool_capacity_exceeded",
                    "{}",
                    answer.body
                );
                refused += 1;
            }
            other => panic!("{other}: {}", answer.body),
        }
    }
    let total = neosl_mixer::terms::parse_gas(accepted[0].1["total"].as_str().expect("total"))
        .expect("amount");
    let fits = usize::try_from(100 * GAS / total).expect("fits");
    assert_eq!(
        accepted.len(),
        fits,
        "the cap is filled exactly, never beyond"
    );
    assert_eq!(refused, REQUESTS - fits);

    // Six of them are paid; the others are never funded.
    let alice_signer: Arc<dyn TxSigner> = alice.clone();
    for (_, created) in accepted.iter().take(FUNDED) {
        for d in created["deposits"].as_array().expect("deposits") {
            let to = Address::parse(d["address"].as_str().expect("address"))
                .expect("address")
                .script_hash();
            let amount = neosl_mixer::terms::parse_gas(d["amount"].as_str().expect("amount"))
                .expect("amount");
            let script = neosl_neo::contract::nep17_transfer(
                &neosl_neo::native::GAS,
                &alice.account(),
                &to,
                &amount.into(),
                None,
            )
            .expect("script");
            let tx = submitter
                .build(
                    script,
                    &[SignerEntry::called_by_entry(alice_signer.clone())],
                    vec![],
                )
                .await
                .expect("built");
            submitter
                .send_with_retry(&tx, Duration::from_secs(30))
                .await
                .expect("sent");
        }
    }

    // Mid-mix, replica A dies without warning and comes back.
    let db = Database::connect_unshared(&pg.url).await.expect("database");
    let at_kill = neosl_testkit::wait_until(
        Duration::from_secs(120),
        "the first mix transfers",
        || async {
            let now = common::counts_by(&db, "mixer_legs", "state").await;
            (common::count_of(&now, "confirmed") > 0).then_some(now)
        },
    )
    .await;
    common::kill_9(a);
    let a = common::serve(&replica_a, &args, &env).expect("replica a again");
    let end = neosl_testkit::wait_until(
        Duration::from_secs(300),
        "every funded request delivered",
        || async {
            let now = common::counts_by(&db, "mixer_requests", "state").await;
            (common::count_of(&now, "delivered") == FUNDED as i64
                || common::count_of(&now, "stuck") > 0)
                .then_some(now)
        },
    )
    .await;
    assert_eq!(
        common::count_of(&end, "delivered"),
        FUNDED as i64,
        "killed at {at_kill:?}: {end:?}"
    );
    for (target, _) in accepted.iter().take(FUNDED) {
        assert_eq!(
            gas_of(&submitter, target).await,
            5 * GAS,
            "a target is paid exactly once"
        );
    }
    // Every leg went once: one confirmed outbox item per confirmed leg.
    let legs = common::counts_by(&db, "mixer_legs", "state").await;
    let items: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM chain_work WHERE kind = 'mixer.transfer' AND state = 'confirmed'",
    )
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(common::count_of(&legs, "confirmed"), items, "{legs:?}");
    // The unfunded ones expire and give their capacity back.
    neosl_testkit::wait_until(
        Duration::from_secs(120),
        "the unfunded requests to expire",
        || async {
            let now = common::counts_by(&db, "mixer_requests", "state").await;
            (common::count_of(&now, "expired") == (fits - FUNDED) as i64).then_some(())
        },
    )
    .await;
    let info = common::send(http.get(format!("{}/mixer/info", gateways[1]))).await;
    assert_eq!(info.body["data"]["pool_held"], "0", "{}", info.body);

    a.stop();
    b.stop();
    db.pool().close().await;
    pg.drop().await;
    neosl(&data_dir, &["devnet", "stop"]);
}
