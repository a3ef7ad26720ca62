//! Automation's scale. Run: `cargo bench -p neosl --bench automation`.
//!
//! - With 100,000 registered triggers of mixed types (40 % cron spread over a day, 30 % price
//!   over 4 pairs, 30 % event over 1,000 contracts), on SQLite and PostgreSQL: the time to find
//!   the due cron triggers of one tick, and to find the crossings of a price round.
//! - Events matched per second: notifications handed to the event evaluator (each looked up by
//!   contract and name, some matching).
//!
//! Firings per second end to end on a devnet are printed by the `automation_replicas` test
//! (`cargo test -p neosl --test automation_replicas -- --nocapture`).
//!
//! Prints figures; asserts only correctness, never speed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use neosl_automation::Automation;
use neosl_automation::settings::AutomationSettings;
use neosl_automation::store::Store;
use neosl_chain::events::ChainEvent;
use neosl_chainwork::Outbox;
use neosl_gasbank::GasBank;
use neosl_neo::param::StackItem;
use neosl_neo::{UInt160, UInt256};
use neosl_runtime::clock::ManualClock;
use neosl_runtime::db::Database;
use neosl_runtime::service::FeeSchedule;
use neosl_testkit::TestDatabase;
use serde_json::json;

const T0: i64 = 1_796_342_400_000;
const TRIGGERS: usize = 100_000;

fn contract(i: usize) -> UInt160 {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    UInt160::from_le_bytes(b)
}

async fn fill(db: &Database) {
    // Bulk rows in one statement per 1,000, as an operator's import would.
    let spec_cron = json!({"name": "c", "condition": {"type": "cron", "expression": "* * * * *"}, "action": {"contract": "0x1111111111111111111111111111111111111111", "method": "run"}}).to_string();
    let mut tx = db.pool().begin().await.expect("tx");
    for i in 0..TRIGGERS {
        let (kind, next, pair, threshold, ev) = match i % 10 {
            0..=3 => (
                "cron",
                Some(T0 + (i as i64 * 863) % 86_400_000),
                None,
                None,
                None,
            ),
            4..=6 => (
                "price",
                None,
                Some(["BTC/USD", "ETH/USD", "NEO/USD", "GAS/USD"][i % 4]),
                Some((i as i64 % 1000) * 100_000_000),
                None,
            ),
            _ => (
                "event",
                None,
                None,
                None,
                Some(contract(i % 1000).to_string()),
            ),
        };
        let direction = pair.map(|_| if i % 2 == 0 { "above" } else { "below" });
        sqlx::query(
            "INSERT INTO automation_triggers (id, owner, name, kind, spec, state, next_fire_at, pair, direction, threshold, \
             rearm, cross_state, event_contract, event_name, created_at, updated_at) \
             VALUES ($1, $2, 'b', $3, $4, 'active', $5, $6, $7, $8, 1, $9, $10, $11, $12, $12)",
        )
        .bind(format!("t{i:06}"))
        .bind(format!("user:{}", i % 500))
        .bind(kind)
        .bind(&spec_cron)
        .bind(next)
        .bind(pair)
        .bind(direction)
        .bind(threshold)
        .bind(pair.map(|_| "armed"))
        .bind(ev.clone())
        .bind(ev.map(|_| "Ping"))
        .bind(T0)
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
}

async fn scale(label: &str, db: &TestDatabase) {
    let database = Database::connect(&db.url()).await.expect("connect");
    let store = Store::open(database.clone()).await.expect("migrate");
    let started = Instant::now();
    fill(&database).await;
    let filled = started.elapsed();
    // Cron: one tick 10 minutes into the day, about 700 due.
    let now = T0 + 600_000;
    let mut best = Duration::MAX;
    let mut due = 0;
    for _ in 0..10 {
        let t = Instant::now();
        due = store.due_cron(now, 1000).await.expect("due").len();
        best = best.min(t.elapsed());
    }
    let mut crossing = Duration::MAX;
    let mut crossed = 0;
    for round in 0..10 {
        let t = Instant::now();
        crossed = store
            .price_crossings("BTC/USD", 50_000_000_000 + round)
            .await
            .expect("crossings")
            .len();
        crossing = crossing.min(t.elapsed());
    }
    // Events: 5,000 notifications, one in ten from a watched contract.
    let clock = ManualClock::at(now);
    let fees = Arc::new(
        FeeSchedule::new(
            &[neosl_automation::definition::AUTOMATION_FEE],
            &Default::default(),
        )
        .expect("fees"),
    );
    let automation = Arc::new(Automation::new(
        store,
        GasBank::open(database.clone()).await.expect("bank"),
        Outbox::open(database.clone(), clock.clone())
            .await
            .expect("outbox"),
        None,
        None,
        None,
        fees,
        clock,
        AutomationSettings::default(),
    ));
    let handler = automation.event_handler();
    let n = 5_000u32;
    let t = Instant::now();
    for i in 0..n {
        let watched = i % 10 == 0;
        let event = ChainEvent {
            block_index: i,
            block_hash: UInt256::default(),
            block_time: u64::try_from(now).unwrap_or(0),
            event_index: 0,
            tx_hash: UInt256::from_le_bytes([u8::try_from(i % 251).unwrap_or(0); 32]),
            notification_index: i,
            contract: if watched {
                contract(7)
            } else {
                contract(5000 + i as usize)
            },
            event_name: "Ping".into(),
            state: StackItem::Array(vec![StackItem::Integer(1.into())]),
        };
        handler.handle(&event).await.expect("handled");
    }
    let events = t.elapsed();
    println!(
        "{label}: {TRIGGERS} triggers (inserted in {:.1} s): due cron triggers of a tick {:.2} ms ({due} due); a price round's crossings {:.2} ms ({crossed}); events matched {:.0}/s",
        filled.as_secs_f64(),
        best.as_secs_f64() * 1e3,
        crossing.as_secs_f64() * 1e3,
        f64::from(n) / events.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let sqlite = TestDatabase::sqlite("bench_automation");
    scale("SQLite", &sqlite).await;
    sqlite.cleanup().await;
    let pg = TestDatabase::postgres("neosl_bench_automation").await;
    scale("PostgreSQL", &pg).await;
    pg.cleanup().await;
}
