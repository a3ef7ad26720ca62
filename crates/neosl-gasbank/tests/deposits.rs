//! Deposits on a real devnet: a transfer to a user's deposit address is credited once — with two
//! watchers at the same time, after a restart, and when an operator credits it again by hand.

use std::time::Duration;

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
    let owner = Owner::User(user.into());
    neosl_testkit::wait_until(
        Duration::from_secs(30),
        format_args!("{user} to hold {expected}"),
        || async {
            let balance = bank.account(&owner).await.expect("state").balance;
            assert!(balance <= expected, "over-credited: {balance} > {expected}");
            (balance == expected).then_some(())
        },
    )
    .await;
}

/// A devnet at quarter-second blocks and a GasBank on SQLite beside it.
async fn chain_and_bank(prefix: &str) -> (TempDir, Devnet, Database, GasBank) {
    let dir = TempDir::new(prefix).expect("temp dir");
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
    let bank = GasBank::open(db.clone()).await.expect("migrate");
    (dir, devnet, db, bank)
}

/// Waits until the stream `name` has handled every block below `block`.
async fn wait_for_cursor(bank: &GasBank, name: &str, block: u32) {
    use neosl_chain::events::CursorStore as _;
    let cursor = neosl_chainwork::DbCursor::new(
        bank.database().clone(),
        name,
        neosl_runtime::clock::system(),
    );
    neosl_testkit::wait_until(
        Duration::from_secs(30),
        format_args!("{name} to pass block {block}"),
        || async {
            let position = cursor.load().await.expect("cursor");
            position
                .is_some_and(|p| p.next_block >= block)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transfers_to_deposit_addresses_are_credited_exactly_once() {
    let (_dir, devnet, _db, bank) = chain_and_bank("neosl-deposits").await;
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
            .await
            .expect("stream")
            .run(stopped.clone()),
    );
    let b = tokio::spawn(
        deposits
            .stream(devnet.rpc(), "deposits", stream_config.clone())
            .await
            .expect("stream")
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
            .await
            .expect("stream")
            .run(stopped),
    );
    wait_for_balance(&bank, "alice", 6 * GAS).await;
    // Nothing more is credited while the watcher reads three more blocks.
    let height = devnet.rpc().get_block_count().await.expect("height");
    wait_for_cursor(&bank, "deposits", height + 3).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn withdrawals_are_sent_once_and_refunded_when_they_fail() {
    use neosl_gasbank::withdrawals::Withdrawals;
    let (_dir, devnet, db, bank) = chain_and_bank("neosl-withdraw").await;
    let master = MasterKey::new(SecretBytes::from_slice(&[0x44; 32])).expect("key");
    let outbox = neosl_chainwork::Outbox::open(db, neosl_runtime::clock::system())
        .await
        .expect("outbox");
    let chain = neosl_runtime::service::Chain {
        rpc: devnet.rpc(),
        submitter: devnet.submitter().await.expect("submitter"),
    };
    let withdrawals = Withdrawals::new(bank.clone(), &master, outbox.clone()).expect("withdrawals");
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(outbox.clone().run(
        vec![withdrawals.work_kind()],
        chain.clone(),
        Duration::from_millis(200),
        stopped,
    ));
    devnet
        .fund(
            &[withdrawals.treasury_address().script_hash()],
            100 * GAS,
            0,
        )
        .await
        .expect("fund the treasury");
    let user = Owner::User("carol".into());
    bank.deposit(&user, 10 * GAS, "seed", None)
        .await
        .expect("deposit");
    let recipient =
        neosl_neo::Address::from_public_key(&neosl_crypto::SecretKey::generate().public_key());

    let done = withdrawals
        .withdraw("carol", &recipient, 3 * GAS, "w-1", true)
        .await
        .expect("withdrawn");
    assert_eq!(done.state, "confirmed");
    let rpc = devnet.rpc();
    let on_chain = || async {
        rpc.get_nep17_balances(&recipient.script_hash())
            .await
            .expect("balances")
            .of(&neosl_neo::native::GAS)
    };
    assert_eq!(on_chain().await, (3 * GAS).into());
    assert_eq!(bank.account(&user).await.expect("state").balance, 7 * GAS);
    // The same request again: the recorded withdrawal, nothing sent.
    let again = withdrawals
        .withdraw("carol", &recipient, 3 * GAS, "w-1", true)
        .await
        .expect("replay");
    assert_eq!(again, done);
    assert_eq!(on_chain().await, (3 * GAS).into());
    assert!(matches!(
        withdrawals
            .withdraw("carol", &recipient, 4 * GAS, "w-1", true)
            .await,
        Err(neosl_gasbank::GasBankError::ReferenceConflict(_))
    ));
    // More than available: refused, nothing recorded or sent.
    assert!(matches!(
        withdrawals
            .withdraw("carol", &recipient, 8 * GAS, "w-2", true)
            .await,
        Err(neosl_gasbank::GasBankError::InsufficientBalance { .. })
    ));
    // A treasury that cannot pay: the transfer fails before sending and the debit is refunded.
    stop.send(true).expect("stop");
    worker.await.expect("worker");
    let empty = Withdrawals::new(
        bank.clone(),
        &MasterKey::new(SecretBytes::from_slice(&[0x45; 32])).expect("key"),
        outbox.clone(),
    )
    .expect("withdrawals");
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(outbox.run(
        vec![empty.work_kind()],
        chain,
        Duration::from_millis(200),
        stopped,
    ));
    let failed = empty
        .withdraw("carol", &recipient, GAS, "w-3", true)
        .await
        .expect("recorded");
    assert_eq!(failed.state, "failed");
    assert!(failed.error.is_some());
    assert_eq!(
        bank.account(&user).await.expect("state").balance,
        7 * GAS,
        "refunded"
    );
    let types: Vec<String> = bank
        .transactions(&user, 10)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.r#type)
        .collect();
    assert_eq!(types, ["refund", "withdraw", "withdraw", "deposit"]);
    assert!(bank.check_invariants().await.expect("check").is_empty());
    stop.send(true).expect("stop");
    worker.await.expect("worker");
    devnet.stop().await.expect("stop");
}
