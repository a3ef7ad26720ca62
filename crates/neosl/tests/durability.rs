//! What must finish, finishes, whatever crashes: real `neosl serve` processes killed with
//! SIGKILL at the worst moment.
//!
//! - Between reserve and consume: the reservation stays, nothing is charged, and once it has
//!   expired (the test moves the bank's clock) the sweeper releases it.
//! - After a withdrawal's transaction is submitted: with two replicas on one PostgreSQL, the
//!   withdrawal is confirmed (or refunded) exactly once.

mod common;

use std::process::Command;
use std::time::Duration;

use neosl_devnet::{Devnet, DevnetConfig};
use neosl_gasbank::{GasBank, Owner};
use neosl_runtime::clock::ManualClock;
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use serde_json::{Value, json};
use sqlx::Row;

const GAS: i64 = 100_000_000;

/// Fixed secrets, so replicas share keys (as MarbleRun injects them).
const SECRETS: &[(&str, &str)] = &[
    (
        "POOL_MASTER_KEY",
        "1111111111111111111111111111111111111111111111111111111111111111",
    ),
    (
        "VRF_PRIVATE_KEY",
        "2222222222222222222222222222222222222222222222222222222222222222",
    ),
    (
        "JWT_SIGNING_KEY",
        "3333333333333333333333333333333333333333333333333333333333333333",
    ),
    (
        "GASBANK_MASTER_KEY",
        "4444444444444444444444444444444444444444444444444444444444444444",
    ),
    (
        "GATEWAY_ADMIN_TOKEN",
        "5555555555555555555555555555555555555555555555555555555555555555",
    ),
    (
        "DATAFEEDS_SIGNING_KEY",
        "6666666666666666666666666666666666666666666666666666666666666666",
    ),
    (
        "AUTOMATION_SIGNING_KEY",
        "7777777777777777777777777777777777777777777777777777777777777777",
    ),
    (
        "MIXER_MASTER_KEY",
        "8888888888888888888888888888888888888888888888888888888888888888",
    ),
    (
        "SECRETS_MASTER_KEY",
        "9999999999999999999999999999999999999999999999999999999999999999",
    ),
    (
        "CONFIDENTIAL_MASTER_KEY",
        "abababababababababababababababababababababababababababababababab",
    ),
];

fn kill_9(running: common::Running) {
    let status = Command::new("kill")
        .arg("-KILL")
        .arg(running.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    drop(running);
}

/// Registers `email`: (access token, user id).
async fn sign_up(http: &reqwest::Client, gateway: &str, email: &str) -> (String, String) {
    let data = common::register(http, gateway, email).await;
    let field = |name: &str| data[name].as_str().expect(name).to_owned();
    (field("access_token"), field("user_id"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_reserve_and_consume_holds_nothing_once_the_reservation_expires() {
    let dir = TempDir::new("neosl-kill-reserve").expect("temp dir");
    // A VRF service that accepts the call and never answers: the gateway is caught mid-call.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let vrf_url = format!("http://{}", blackhole.local_addr().expect("addr"));
    // Connections are accepted and kept open, never answered (the thread ends with the test).
    std::thread::spawn(move || {
        let open: Vec<_> = blackhole.incoming().flatten().collect();
        drop(open);
    });
    let env = [
        ("NEOSL_VRF_URL", vrf_url.as_str()),
        ("NEOSL_MODE", "simulation"),
    ];
    let running = common::serve(&dir, &["--service", "gateway"], &env).expect("the gateway starts");
    let gateway = running.urls["gateway"].clone();
    let http = reqwest::Client::new();
    let (token, user) = sign_up(&http, &gateway, "held@example.org").await;
    let data_dir = dir.path().join("data");
    let data_dir_text = data_dir.display().to_string();
    common::dev_credit(
        "held@example.org",
        GAS,
        &[("NEOSL_DATA_DIR", &data_dir_text)],
    );

    let call = tokio::spawn({
        let http = http.clone();
        let gateway = gateway.clone();
        async move {
            http.post(format!("{gateway}/vrf/random"))
                .bearer_auth(token)
                .json(&json!({ "seed": "c0ffee", "num_words": 1 }))
                .send()
                .await
        }
    });
    let db =
        Database::connect_unshared(&format!("sqlite://{}", data_dir.join("neosl.db").display()))
            .await
            .expect("database");
    let clock = ManualClock::starting_now();
    let bank = GasBank::open(db)
        .await
        .expect("bank")
        .with_clock(clock.clone());
    let owner = Owner::User(user);
    neosl_testkit::wait_until(Duration::from_secs(20), "the reservation", || async {
        let state = bank.account(&owner).await.expect("state");
        (state.reserved > 0).then_some(())
    })
    .await;
    kill_9(running);
    assert!(
        call.await.expect("task").is_err(),
        "the call died with the gateway"
    );

    let state = bank.account(&owner).await.expect("state");
    assert_eq!(
        (state.balance, state.reserved),
        (GAS, 100_000),
        "held, not charged"
    );
    assert!(
        bank.release_expired(100).await.expect("sweep").is_empty(),
        "not expired yet"
    );
    clock.advance(neosl_gasbank::DEFAULT_RESERVATION_TTL + Duration::from_secs(1));
    assert_eq!(bank.release_expired(100).await.expect("sweep").len(), 1);
    let state = bank.account(&owner).await.expect("state");
    assert_eq!(
        (state.balance, state.reserved, state.available),
        (GAS, 0, GAS)
    );
    assert!(bank.check_invariants().await.expect("check").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_killed_after_submission_is_settled_exactly_once_by_the_replicas() {
    let dir = TempDir::new("neosl-kill-withdraw").expect("temp dir");
    let mut config = DevnetConfig::new(dir.path().join("chain"));
    config.cache_dir = neosl_testkit::tools_dir().join("neogo");
    // Slow blocks: the kill lands between submission and inclusion.
    config.block_time = Duration::from_secs(2);
    let devnet = Devnet::start(config).await.expect("devnet");
    let pg = neosl_testkit::TestPostgres::create("neosl_kill")
        .await
        .expect("database");
    let rpc_url = devnet.rpc_url();
    let mut env: Vec<(&str, &str)> = SECRETS.to_vec();
    env.extend([
        ("NEOSL_DATABASE_URL", pg.url.as_str()),
        ("NEOSL_CHAIN_RPC", rpc_url.as_str()),
        ("NEOSL_CHAIN_WORK_LEASE_SECS", "2"),
        ("NEOSL_POOL_TARGET_SIZE", "20"),
        ("NEOSL_MODE", "simulation"),
    ]);
    let replica_a = TempDir::new("neosl-replica-a").expect("temp dir");
    let replica_b = TempDir::new("neosl-replica-b").expect("temp dir");
    let a = common::serve(&replica_a, &[], &env).expect("replica a");
    let gateway = a.urls["gateway"].clone();

    let db = Database::connect_unshared(&pg.url).await.expect("database");
    let http = reqwest::Client::new();
    let (token, user) = sign_up(&http, &gateway, "carol@example.org").await;
    common::dev_credit("carol@example.org", 5 * GAS, &env);
    // The treasury is derived from the injected master key; the operator funds it.
    let master = neosl_crypto::MasterKey::new(neosl_crypto::SecretBytes::from_slice(
        &hex::decode(SECRETS[3].1).expect("hex"),
    ))
    .expect("key");
    let treasury = neosl_crypto::kdf::derive_signing_key(&master, b"treasury", "gasbank-treasury")
        .expect("treasury");
    let treasury = neosl_neo::Address::from_public_key(&treasury.public_key());
    devnet
        .fund(&[treasury.script_hash()], 100 * GAS, 0)
        .await
        .expect("fund the treasury");

    let recipient =
        neosl_neo::Address::from_public_key(&neosl_crypto::SecretKey::generate().public_key());
    let answer: Value = http
        .post(format!("{gateway}/api/v1/gasbank/withdraw"))
        .bearer_auth(&token)
        .json(&json!({ "to_address": recipient.to_string(), "amount": GAS, "reference": "k1" }))
        .send()
        .await
        .expect("withdraw")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["success"], true, "{answer}");
    let state_of_work = || async {
        sqlx::query("SELECT state FROM chain_work WHERE kind = 'gasbank.withdrawal'")
            .fetch_optional(db.pool())
            .await
            .expect("query")
            .map(|r| r.try_get::<String, _>(0).expect("state"))
    };
    let seen = neosl_testkit::wait_until(Duration::from_secs(20), "the submission", || async {
        state_of_work().await.filter(|s| s != "planned")
    })
    .await;
    kill_9(a);

    // Two replicas now: the killed one restarted and a second one.
    let a = common::serve(&replica_a, &[], &env).expect("replica a again");
    let b = common::serve(&replica_b, &[], &env).expect("replica b");
    let final_state =
        neosl_testkit::wait_until(Duration::from_secs(60), "the settlement", || async {
            state_of_work()
                .await
                .filter(|s| s == "confirmed" || s == "failed")
        })
        .await;
    assert_eq!(final_state, "confirmed", "submitted when killed: {seen}");
    let on_chain = devnet
        .rpc()
        .get_nep17_balances(&recipient.script_hash())
        .await
        .expect("balances")
        .of(&neosl_neo::native::GAS);
    assert_eq!(on_chain, GAS.into(), "paid exactly once");
    let bank = GasBank::open(db.clone()).await.expect("bank");
    let owner = Owner::User(user);
    let types: Vec<String> = bank
        .transactions(&owner, 20)
        .await
        .expect("ledger")
        .into_iter()
        .map(|e| e.r#type)
        .collect();
    assert_eq!(types, ["withdraw", "dev_credit"], "debited once, no refund");
    assert_eq!(bank.account(&owner).await.expect("state").balance, 4 * GAS);
    let withdrawal = sqlx::query("SELECT state FROM gasbank_withdrawals")
        .fetch_one(db.pool())
        .await
        .expect("row");
    assert_eq!(
        withdrawal.try_get::<String, _>(0).expect("state"),
        "confirmed"
    );
    assert!(bank.check_invariants().await.expect("check").is_empty());
    a.stop();
    b.stop();
    db.pool().close().await;
    pg.drop().await;
    devnet.stop().await.expect("stop");
}
