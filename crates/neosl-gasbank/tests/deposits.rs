//! Deposits on a real devnet: a transfer to a user's deposit address is credited once — with two
//! watchers at the same time, after a restart, and when an operator credits it again by hand.

use std::time::{Duration, Instant};

use neosl_chain::events::StreamConfig;
use neosl_crypto::{MasterKey, SecretBytes};
use neosl_devnet::{Devnet, DevnetConfig};
use neosl_gasbank::deposits::Deposits;
use neosl_gasbank::{GasBank, Owner};
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use tokio::sync::watch;

const GAS: i64 = 100_000_000;

async fn wait_for_balance(bank: &GasBank, user: &str, expected: i64) {
    let start = Instant::now();
    loop {
        let balance = bank
            .account(&Owner::User(user.into()))
            .await
            .expect("state")
            .balance;
        if balance == expected {
            return;
        }
        assert!(balance < expected, "over-credited: {balance} > {expected}");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "balance stuck at {balance}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transfers_to_deposit_addresses_are_credited_exactly_once() {
    let dir = TempDir::new("neosl-deposits").expect("temp dir");
    let mut config = DevnetConfig::new(dir.path().join("chain"));
    config.cache_dir = neosl_testkit::tools_dir().join("neogo");
    config.block_time = Duration::from_millis(250);
    let devnet = Devnet::start(config).await.expect("devnet");
    let db = Database::connect(&format!(
        "sqlite://{}",
        dir.path().join("bank.db").display()
    ))
    .await
    .expect("db");
    let bank = GasBank::open(db).await.expect("migrate");
    let deposits = Deposits::new(
        bank.clone(),
        MasterKey::new(SecretBytes::from_slice(&[0x33; 32])).expect("key"),
    );
    let alice = deposits.deposit_address("alice").await.expect("address");
    let bob = deposits.deposit_address("bob").await.expect("address");
    assert_eq!(
        deposits.deposit_address("alice").await.expect("again"),
        alice,
        "stable"
    );
    assert_ne!(alice, bob);

    // Two watchers at once (as two replicas), sharing the cursor.
    let stream_config = StreamConfig {
        poll_interval: Duration::from_millis(200),
        ..StreamConfig::default()
    };
    let (stop, stopped) = watch::channel(false);
    let a = tokio::spawn(
        deposits
            .stream(devnet.rpc(), "deposits", stream_config.clone())
            .run(stopped.clone()),
    );
    let b = tokio::spawn(
        deposits
            .stream(devnet.rpc(), "deposits", stream_config.clone())
            .run(stopped),
    );

    let to_alice = devnet
        .fund(&[alice.script_hash()], 5 * GAS, 0)
        .await
        .expect("transfer");
    devnet
        .fund(&[bob.script_hash()], 2 * GAS, 0)
        .await
        .expect("transfer");
    let stranger =
        neosl_neo::Address::from_public_key(&neosl_crypto::SecretKey::generate().public_key());
    devnet
        .fund(&[stranger.script_hash()], GAS, 0)
        .await
        .expect("transfer to a non-deposit address");
    wait_for_balance(&bank, "alice", 5 * GAS).await;
    wait_for_balance(&bank, "bob", 2 * GAS).await;
    stop.send(true).expect("stop");
    a.await.expect("stream a");
    b.await.expect("stream b");

    // A restarted watcher resumes from the saved position and credits nothing twice.
    devnet
        .fund(&[alice.script_hash()], GAS, 0)
        .await
        .expect("transfer");
    let (stop, stopped) = watch::channel(false);
    let c = tokio::spawn(
        deposits
            .stream(devnet.rpc(), "deposits", stream_config)
            .run(stopped),
    );
    wait_for_balance(&bank, "alice", 6 * GAS).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    wait_for_balance(&bank, "alice", 6 * GAS).await;
    stop.send(true).expect("stop");
    c.await.expect("stream c");

    // The operator's manual credit of an already credited transaction changes nothing; crediting
    // it to the wrong user finds no transfer to that user's address.
    let again = deposits
        .credit_from_chain(&devnet.rpc(), &to_alice.hash, "alice")
        .await
        .expect("checked on chain");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].amount, 5 * GAS);
    assert!(
        deposits
            .credit_from_chain(&devnet.rpc(), &to_alice.hash, "bob")
            .await
            .expect("checked")
            .is_empty()
    );
    wait_for_balance(&bank, "alice", 6 * GAS).await;
    wait_for_balance(&bank, "bob", 2 * GAS).await;
    let history = bank
        .transactions(&Owner::User("alice".into()), 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|e| e.r#type == "deposit" && e.reference_id.contains(':'))
    );
    assert!(bank.check_invariants().await.expect("check").is_empty());
    devnet.stop().await.expect("stop");
}
