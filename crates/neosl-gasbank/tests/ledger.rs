//! The GasBank on SQLite and PostgreSQL alike: operations, idempotency, the database's own
//! enforcement of the invariants, and 1,000 concurrent mixed operations across 50 users.

use std::sync::Arc;

use neosl_gasbank::{GasBank, GasBankError, Owner};
use neosl_runtime::db::Database;
use neosl_testkit::{TestDatabase, on_both_backends};

/// A GasBank on the test database.
async fn bank_on(db: &TestDatabase) -> GasBank {
    GasBank::open(Database::connect(&db.url()).await.expect("connect"))
        .await
        .expect("migrate")
}

fn user(n: usize) -> Owner {
    Owner::User(format!("user-{n}"))
}

async fn operations_and_idempotency(db: &TestDatabase) {
    let bank = bank_on(db).await;
    let alice = user(1);
    let bob = user(2);
    let contract = Owner::Contract("0x1111111111111111111111111111111111111111".into());
    assert_eq!(
        bank.deposit(&alice, 0, "d0", None).await,
        Err(GasBankError::InvalidAmount)
    );
    assert_eq!(
        bank.deposit(&alice, 5, "", None).await,
        Err(GasBankError::InvalidReference)
    );
    let d = bank
        .deposit(&alice, 1_000_000, "tx1:0", Some("NSource"))
        .await
        .expect("deposit");
    assert_eq!((d.amount, d.balance_after), (1_000_000, 1_000_000));
    // The same deposit again changes nothing and answers the same.
    assert_eq!(
        bank.deposit(&alice, 1_000_000, "tx1:0", Some("NSource"))
            .await
            .expect("replay"),
        d
    );
    assert_eq!(
        bank.deposit(&alice, 2, "tx1:0", Some("NSource")).await,
        Err(GasBankError::ReferenceConflict("tx1:0".into()))
    );
    assert_eq!(
        bank.account(&alice).await.expect("state").balance,
        1_000_000
    );

    // Reserve → consume (charging less than reserved) → idempotent.
    let r = bank
        .reserve(&alice, 300_000, "req-1", "vrf")
        .await
        .expect("reserve");
    assert_eq!(r.state, "reserved");
    let state = bank.account(&alice).await.expect("state");
    assert_eq!(
        (state.balance, state.reserved, state.available),
        (1_000_000, 300_000, 700_000)
    );
    assert_eq!(
        bank.withdraw(&alice, 800_000, "w1", "NDest").await,
        Err(GasBankError::InsufficientBalance {
            available: 700_000,
            required: 800_000
        })
    );
    let (consumed, fee) = bank.consume("req-1", 100_000).await.expect("consume");
    assert_eq!(
        (consumed.state.as_str(), consumed.consumed_amount),
        ("consumed", Some(100_000))
    );
    assert_eq!(fee.as_ref().map(|f| f.amount), Some(-100_000));
    assert_eq!(bank.consume("req-1", 100_000).await.expect("replay").1, fee);
    assert!(matches!(
        bank.release("req-1").await,
        Err(GasBankError::ReservationSettled { .. })
    ));
    assert_eq!(bank.account(&alice).await.expect("state").reserved, 0);

    // Reserve → release (refund of the hold).
    bank.reserve(&alice, 50_000, "req-2", "vrf")
        .await
        .expect("reserve");
    assert_eq!(
        bank.release("req-2").await.expect("release").state,
        "released"
    );
    assert_eq!(
        bank.release("req-2").await.expect("replay").state,
        "released"
    );
    assert!(matches!(
        bank.release("nope").await,
        Err(GasBankError::UnknownReservation(_))
    ));
    assert!(matches!(
        bank.consume("req-2", 1).await,
        Err(GasBankError::ReservationSettled { .. })
    ));

    // Sponsorship: a contract and another user.
    let (debit, credit) = bank
        .sponsor(&alice, &contract, 200_000, "s1")
        .await
        .expect("pay for contract");
    assert_eq!(
        (
            debit.r#type.as_str(),
            debit.amount,
            credit.r#type.as_str(),
            credit.amount
        ),
        ("sponsor", -200_000, "sponsor_credit", 200_000)
    );
    assert_eq!(
        bank.sponsor(&alice, &contract, 200_000, "s1")
            .await
            .expect("replay"),
        (debit, credit)
    );
    bank.sponsor(&alice, &bob, 100_000, "s2")
        .await
        .expect("pay for user");
    assert_eq!(
        bank.sponsor(&alice, &alice, 1, "s3").await,
        Err(GasBankError::SelfSponsorship)
    );
    assert_eq!(
        bank.account(&contract).await.expect("state").balance,
        200_000
    );
    bank.charge(&contract, 10_000, "contract-call-1", "vrf")
        .await
        .expect("the contract's balance pays");
    assert_eq!(bank.account(&bob).await.expect("state").available, 100_000);

    // Withdraw and refund.
    bank.withdraw(&alice, 100_000, "w2", "NDest")
        .await
        .expect("withdraw");
    bank.refund(&alice, 100_000, "w2")
        .await
        .expect("refund a failed withdrawal");
    let alice_state = bank.account(&alice).await.expect("state");
    assert_eq!(alice_state.balance, 1_000_000 - 100_000 - 200_000 - 100_000);
    let history = bank.transactions(&alice, 100).await.expect("history");
    assert_eq!(
        history.iter().map(|e| e.amount).sum::<i64>(),
        alice_state.balance,
        "balance = sum of the ledger"
    );
    assert!(bank.check_invariants().await.expect("check").is_empty());
}

async fn the_database_enforces_the_invariants(db: &TestDatabase) {
    let bank = bank_on(db).await;
    let alice = user(7);
    bank.deposit(&alice, 500, "d", None).await.expect("deposit");
    let pool = bank.database().pool();
    let direct =
        sqlx::query("UPDATE gasbank_accounts SET balance = 1000000 WHERE id = 'user:user-7'")
            .execute(pool)
            .await;
    assert!(direct.is_err(), "a balance changes only through the ledger");
    let edit = sqlx::query("UPDATE gasbank_transactions SET amount = 1000000")
        .execute(pool)
        .await;
    assert!(edit.is_err(), "the ledger is append-only");
    let delete = sqlx::query("DELETE FROM gasbank_transactions")
        .execute(pool)
        .await;
    assert!(delete.is_err(), "the ledger is append-only");
    let over = sqlx::query("UPDATE gasbank_accounts SET reserved = 501 WHERE id = 'user:user-7'")
        .execute(pool)
        .await;
    assert!(over.is_err(), "reserved <= balance");
    let negative =
        sqlx::query("UPDATE gasbank_accounts SET reserved = -1 WHERE id = 'user:user-7'")
            .execute(pool)
            .await;
    assert!(negative.is_err(), "reserved >= 0");
    let forged = sqlx::query(
        "INSERT INTO gasbank_transactions (account_id, type, amount, balance_after, reference_id, created_at) VALUES ('user:user-7', 'deposit', 10, 999, 'x', 0)",
    )
    .execute(pool)
    .await;
    assert!(
        forged.is_err(),
        "balance_after must follow from the balance"
    );
    assert_eq!(bank.account(&alice).await.expect("state").balance, 500);
    assert!(bank.check_invariants().await.expect("check").is_empty());
}

/// 1,000 concurrent mixed operations across 50 users, then every request replayed.
async fn concurrent_mixed_operations(db: &TestDatabase) {
    let bank = Arc::new(bank_on(db).await);
    for u in 0..50 {
        bank.deposit(&user(u), 10_000_000, &format!("seed-{u}"), None)
            .await
            .expect("seed");
    }
    let op = |i: usize| {
        let bank = bank.clone();
        async move {
            let u = user(i % 50);
            let reference = format!("op-{i}");
            let outcome = match i % 6 {
                0 => bank
                    .reserve(&u, 1_000 + i as i64, &reference, "vrf")
                    .await
                    .map(|_| ()),
                1 => match bank.reserve(&u, 2_000, &reference, "vrf").await {
                    Ok(_) => bank.consume(&reference, 1_500).await.map(|_| ()),
                    Err(e) => Err(e),
                },
                2 => match bank.reserve(&u, 3_000, &reference, "mixer").await {
                    Ok(_) => bank.release(&reference).await.map(|_| ()),
                    Err(e) => Err(e),
                },
                3 => bank
                    .charge(&u, 700, &reference, "datafeeds")
                    .await
                    .map(|_| ()),
                4 => bank
                    .sponsor(&u, &user((i * 7 + 3) % 50), 5_000, &reference)
                    .await
                    .map(|_| ()),
                _ => bank.deposit(&u, 9_000, &reference, None).await.map(|_| ()),
            };
            match outcome {
                Ok(())
                | Err(GasBankError::InsufficientBalance { .. })
                | Err(GasBankError::SelfSponsorship) => {}
                Err(e) => panic!("operation {i} failed: {e}"),
            }
        }
    };
    let tasks: Vec<_> = (0..1000).map(|i| tokio::spawn(op(i))).collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert!(
        bank.check_invariants().await.expect("check").is_empty(),
        "invariants after the storm"
    );
    let snapshot = |bank: Arc<GasBank>| async move {
        let mut v = Vec::new();
        for u in 0..50 {
            v.push(bank.account(&user(u)).await.expect("state"));
        }
        v
    };
    let before = snapshot(bank.clone()).await;
    // Replaying every request changes nothing.
    let tasks: Vec<_> = (0..1000).map(|i| tokio::spawn(op(i))).collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(snapshot(bank.clone()).await, before, "replays are no-ops");
    assert!(bank.check_invariants().await.expect("check").is_empty());
}

/// A reservation that was never settled (the process died between reserve and consume) is
/// released once it has expired; younger and settled ones are left alone. The test moves the
/// bank's clock, never sleeps.
async fn stale_reservations_are_released(db: &TestDatabase) {
    let clock = neosl_runtime::clock::ManualClock::starting_now();
    let hour = std::time::Duration::from_secs(3600);
    let bank = bank_on(db)
        .await
        .with_clock(clock.clone())
        .with_reservation_ttl(hour / 2);
    let alice = user(7);
    bank.deposit(&alice, 1_000, "stale:d", None)
        .await
        .expect("deposit");
    for reference in ["stale:old", "stale:done"] {
        bank.reserve(&alice, 100, reference, "vrf")
            .await
            .expect("reserve");
    }
    bank.consume("stale:done", 100).await.expect("consume");
    clock.advance(hour);
    bank.reserve(&alice, 100, "stale:young", "vrf")
        .await
        .expect("reserve");
    let state = bank.account(&alice).await.expect("state");
    assert_eq!((state.balance, state.reserved), (900, 200));
    // Two replicas sweep at once: the reservation is released once.
    let (a, b) = tokio::join!(bank.release_expired(100), bank.release_expired(100));
    let mut released: Vec<String> = a
        .expect("sweep")
        .into_iter()
        .chain(b.expect("sweep"))
        .collect();
    released.dedup();
    assert_eq!(released, ["stale:old"]);
    let state = bank.account(&alice).await.expect("state");
    assert_eq!(
        (state.balance, state.reserved),
        (900, 100),
        "the old hold is gone, nothing was charged for it, the young one still holds"
    );
    assert!(bank.release_expired(100).await.expect("sweep").is_empty());
    // The caller that held the released reservation can no longer consume it.
    assert!(matches!(
        bank.consume("stale:old", 100).await,
        Err(GasBankError::ReservationSettled { .. })
    ));
    assert!(bank.check_invariants().await.expect("check").is_empty());
}

on_both_backends!(
    operations_and_idempotency,
    the_database_enforces_the_invariants,
    concurrent_mixed_operations,
    stale_reservations_are_released,
);
