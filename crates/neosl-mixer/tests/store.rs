//! The Mixer's store on both backends: the pool cap under concurrent reservations, deposits
//! recorded once, legs moved once, handed-over deposits.

use std::sync::Arc;

use neosl_mixer::error::MixerError;
use neosl_mixer::store::{DepositRow, Limits, NewRequest, Store};
use neosl_runtime::db::Database;
use neosl_testkit::{TestDatabase, on_both_backends};

fn limits(max_pool: i64, bond_free: Option<i64>) -> Limits {
    Limits {
        max_pool,
        max_pending: 1000,
        bond_free,
    }
}

async fn store(db: &TestDatabase) -> Store {
    let database = Database::connect(&db.url()).await.expect("connect");
    Store::open(database).await.expect("migrate")
}

fn new_request(id: &str, total: i64) -> NewRequest<'_> {
    NewRequest {
        id,
        user_hash: "0x0101010101010101010101010101010101010101",
        net: total - 10,
        fee: 10,
        total,
        mix_option_ms: 1_800_000,
        window_ms: 1_800_000,
        deposit_deadline: 10_000,
        deadline: 100_000,
    }
}

async fn the_cap_holds_under_concurrent_reservations(db: &TestDatabase) {
    let store = Arc::new(store(db).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.spawn(async move {
            let id = format!("r{i}");
            store
                .reserve(&new_request(&id, 6), &limits(100, None), 1)
                .await
        });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Ok(()) => ok += 1,
            Err(MixerError::PoolCapacityExceeded { headroom }) => {
                assert!(headroom < 6);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, refused), (16, 34));
    assert_eq!(store.load().await.expect("load"), (96, 16));
    // The bond is the other bound.
    let refused = store
        .reserve(&new_request("bonded", 1), &limits(1_000, Some(96)), 1)
        .await;
    assert_eq!(refused, Err(MixerError::BondExhausted));
    // And the number of requests waiting for deposits.
    let busy = Limits {
        max_pool: 1_000,
        max_pending: 16,
        bond_free: None,
    };
    let refused = store.reserve(&new_request("busy", 1), &busy, 1).await;
    assert_eq!(refused, Err(MixerError::TooManyPending));
}

async fn deposits_are_recorded_once_and_legs_move_once(db: &TestDatabase) {
    let store = store(db).await;
    store
        .reserve(&new_request("r", 6), &limits(100, None), 1)
        .await
        .expect("reserved");
    let deposit = DepositRow {
        tx_hash: "0xabc".into(),
        notification: 0,
        address: "0x02".into(),
        sender: Some("0x01".into()),
        amount: 6,
        disposition: "accepted".into(),
        reason: None,
        seen_at: 2,
    };
    let mut tx = store.database().pool().begin().await.expect("tx");
    assert!(
        store
            .insert_deposit_in(&mut tx, "r", &deposit)
            .await
            .expect("insert")
    );
    assert!(
        !store
            .insert_deposit_in(&mut tx, "r", &deposit)
            .await
            .expect("insert")
    );
    let leg = neosl_mixer::plan::Leg {
        stage: 1,
        kind: neosl_mixer::plan::LegKind::Mix,
        from: neosl_neo::UInt160::from_be_bytes([2; 20]),
        transfers: vec![(neosl_neo::UInt160::from_be_bytes([3; 20]), 5)],
        not_before: 0,
    };
    store
        .insert_legs_in(&mut tx, "r", &[leg.clone(), leg], 2)
        .await
        .expect("legs");
    assert!(
        store
            .move_leg_in(&mut tx, "r", 0, "waiting", "planned", None, None, 3)
            .await
            .expect("move")
    );
    assert!(
        !store
            .move_leg_in(&mut tx, "r", 0, "waiting", "planned", None, None, 3)
            .await
            .expect("move")
    );
    tx.commit().await.expect("commit");
    assert_eq!(store.deposits("r").await.expect("deposits").len(), 1);
    // Stage 1 legs wait for nothing; only the waiting one is due.
    let due = store.due_legs(10, 10).await.expect("due");
    assert_eq!(due.iter().map(|l| l.seq).collect::<Vec<_>>(), [1]);
}

async fn handed_over_deposits_go_out_once(db: &TestDatabase) {
    let store = store(db).await;
    store
        .reserve(&new_request("r", 6), &limits(100, None), 1)
        .await
        .expect("reserved");
    assert!(
        store
            .insert_presigned("r", "0xaa", "00", 50, 1)
            .await
            .expect("kept")
    );
    assert!(
        !store
            .insert_presigned("r", "0xaa", "00", 50, 1)
            .await
            .expect("kept")
    );
    assert!(store.due_presigned(49).await.expect("due").is_empty());
    assert_eq!(store.due_presigned(50).await.expect("due").len(), 1);
    store
        .presigned_done("0xaa", "sent", None, 51)
        .await
        .expect("done");
    assert!(store.due_presigned(60).await.expect("due").is_empty());
    assert_eq!(
        store.presigned_of("r").await.expect("listed"),
        [("0xaa".to_owned(), "sent".to_owned(), None)]
    );
}

on_both_backends!(
    the_cap_holds_under_concurrent_reservations,
    deposits_are_recorded_once_and_legs_move_once,
    handed_over_deposits_go_out_once,
);
