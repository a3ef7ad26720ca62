//! The evaluators and the claims on both database backends, with the clock moved by the test:
//! catch-up after downtime per rule, replicas recording each time once, replayed events, and
//! a trigger's firings claimed one at a time in order.

use std::sync::Arc;
use std::time::Duration;

use neosl_automation::Automation;
use neosl_automation::settings::AutomationSettings;
use neosl_automation::spec::TriggerSpec;
use neosl_automation::store::{Indexed, Store};
use neosl_chain::events::ChainEvent;
use neosl_chainwork::Outbox;
use neosl_gasbank::GasBank;
use neosl_neo::param::StackItem;
use neosl_neo::{UInt160, UInt256};
use neosl_runtime::clock::{Clock, ManualClock};
use neosl_runtime::db::Database;
use neosl_runtime::service::FeeSchedule;
use neosl_testkit::{TestDatabase, on_both_backends};
use serde_json::json;

/// 2026-12-04T00:00:00Z.
const T0: i64 = 1_796_342_400_000;

async fn engine(db: &TestDatabase, clock: Arc<ManualClock>) -> Automation {
    engine_with(db, clock, AutomationSettings::default()).await
}

async fn engine_with(
    db: &TestDatabase,
    clock: Arc<ManualClock>,
    settings: AutomationSettings,
) -> Automation {
    let database = Database::connect(&db.url()).await.expect("connect");
    let store = Store::open(database.clone()).await.expect("migrate");
    let bank = GasBank::open(database.clone()).await.expect("bank");
    let outbox = Outbox::open(database, clock.clone()).await.expect("outbox");
    let fees = Arc::new(
        FeeSchedule::new(
            &[neosl_automation::definition::AUTOMATION_FEE],
            &Default::default(),
        )
        .expect("fees"),
    );
    Automation::new(store, bank, outbox, None, None, None, fees, clock, settings)
}

fn spec(condition: serde_json::Value, catch_up: &str) -> TriggerSpec {
    serde_json::from_value(json!({
        "name": "t",
        "condition": condition,
        "action": {"contract": "0x1111111111111111111111111111111111111111", "method": "run"},
        "catch_up": catch_up,
    }))
    .expect("spec")
}

async fn cron_trigger(a: &Automation, expression: &str, catch_up: &str, now: i64) -> String {
    let cron = neosl_automation::cron::Cron::parse(expression).expect("cron");
    let indexed = Indexed {
        next_fire_at: cron.next_after(now),
        ..Indexed::default()
    };
    a.store()
        .insert(
            "user:u",
            &spec(json!({"type": "cron", "expression": expression}), catch_up),
            &indexed,
            1000,
            now,
        )
        .await
        .expect("insert")
        .id
}

async fn firings(a: &Automation, id: &str) -> Vec<(String, String, Option<String>)> {
    let mut f: Vec<_> = a
        .store()
        .firings(id, 1000)
        .await
        .expect("firings")
        .into_iter()
        .map(|f| (f.firing_key, f.state, f.reason))
        .collect();
    f.sort();
    f
}

async fn missed_times_follow_each_triggers_catch_up_rule(db: &TestDatabase) {
    let clock = ManualClock::at(T0);
    let a = engine(db, clock.clone()).await;
    let every_10s = "*/10 * * * * *";
    let all = cron_trigger(&a, every_10s, "all", T0).await;
    let once = cron_trigger(&a, every_10s, "once", T0).await;
    let skip = cron_trigger(&a, every_10s, "skip", T0).await;
    // Five minutes down: 30 times passed; those more than a minute old (23) were missed.
    clock.advance(Duration::from_secs(300));
    a.evaluate_cron().await.expect("evaluate");
    let count = |f: &[(String, String, Option<String>)], state: &str| {
        f.iter().filter(|(_, s, _)| s == state).count()
    };
    let f = firings(&a, &all).await;
    assert_eq!((f.len(), count(&f, "due")), (30, 30));
    let f = firings(&a, &once).await;
    assert_eq!(
        (count(&f, "due"), count(&f, "skipped")),
        (8, 22),
        "the 7 recent and the latest missed"
    );
    let f = firings(&a, &skip).await;
    assert_eq!((count(&f, "due"), count(&f, "skipped")), (7, 23));
    assert!(
        f.iter()
            .filter(|(_, s, _)| s == "skipped")
            .all(|(_, _, r)| r.as_deref() == Some("missed: catch-up is skip"))
    );
    // Evaluating again records nothing new; the next time comes after now.
    a.evaluate_cron().await.expect("evaluate");
    assert_eq!(firings(&a, &all).await.len(), 30);
    let t = a.store().get(None, &all).await.expect("trigger");
    assert_eq!(t.next_fire_at, Some(T0 + 310_000));
}

async fn times_while_disabled_are_not_missed(db: &TestDatabase) {
    let clock = ManualClock::at(T0);
    let a = engine(db, clock.clone()).await;
    let id = cron_trigger(&a, "*/10 * * * * *", "all", T0).await;
    a.set_enabled("user:u", &id, false).await.expect("disable");
    clock.advance(Duration::from_secs(3600));
    a.evaluate_cron().await.expect("evaluate");
    assert!(firings(&a, &id).await.is_empty(), "nothing while disabled");
    let t = a.set_enabled("user:u", &id, true).await.expect("enable");
    assert_eq!(t.next_fire_at, Some(T0 + 3_610_000), "it goes on from now");
    clock.advance(Duration::from_secs(10));
    a.evaluate_cron().await.expect("evaluate");
    assert_eq!(firings(&a, &id).await.len(), 1);
}

async fn firings_that_cannot_run_are_skipped_with_the_reason(db: &TestDatabase) {
    let clock = ManualClock::at(T0);
    let limited = AutomationSettings {
        max_executions_per_hour: 0,
        ..AutomationSettings::default()
    };
    let a = engine_with(db, clock.clone(), limited).await;
    let id = cron_trigger(&a, "* * * * * *", "all", T0).await;
    clock.advance(Duration::from_secs(2));
    a.evaluate_cron().await.expect("evaluate");
    // One firing of a trigger at a time: each round settles the earliest.
    a.execute_due().await.expect("execute");
    a.execute_due().await.expect("execute");
    let f = firings(&a, &id).await;
    assert_eq!(f.len(), 2);
    assert!(
        f.iter()
            .all(|(_, s, r)| s == "skipped" && r.as_deref() == Some("rate_limited")),
        "{f:?}"
    );
    // A disabled trigger's firing already recorded is skipped as disabled.
    let b = engine(db, clock.clone()).await;
    let other = cron_trigger(&b, "* * * * * *", "all", clock.now_millis()).await;
    clock.advance(Duration::from_secs(1));
    b.evaluate_cron().await.expect("evaluate");
    b.set_enabled("user:u", &other, false)
        .await
        .expect("disable");
    b.execute_due().await.expect("execute");
    let f = firings(&b, &other).await;
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].1.as_str(), f[0].2.as_deref()),
        ("skipped", Some("disabled"))
    );
}

async fn replicas_record_each_time_once(db: &TestDatabase) {
    let clock = ManualClock::at(T0);
    let a = Arc::new(engine(db, clock.clone()).await);
    let b = Arc::new(engine(db, clock.clone()).await);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(cron_trigger(&a, "* * * * * *", "all", T0).await);
    }
    for _ in 0..30 {
        clock.advance(Duration::from_secs(1));
        let (x, y) = tokio::join!(a.evaluate_cron(), b.evaluate_cron());
        x.expect("a");
        y.expect("b");
    }
    for id in &ids {
        let f = firings(&a, id).await;
        let mut keys: Vec<&String> = f.iter().map(|(k, _, _)| k).collect();
        keys.dedup();
        assert_eq!(keys.len(), 30, "every second once, none twice");
        assert_eq!(f.len(), 30);
    }
}

async fn a_replayed_event_fires_once_and_filters_hold(db: &TestDatabase) {
    let clock = ManualClock::at(T0);
    let a = Arc::new(engine(db, clock.clone()).await);
    let contract = UInt160::from_le_bytes([7; 20]);
    let condition = json!({"type": "event", "contract": contract.to_string(), "event": "Ping",
                           "filters": [{"index": 0, "equals": "7"}]});
    let id = a
        .store()
        .insert(
            "user:u",
            &spec(condition, "all"),
            &Indexed {
                event: Some((contract.to_string(), "Ping".into())),
                ..Indexed::default()
            },
            1000,
            T0,
        )
        .await
        .expect("insert")
        .id;
    let event = |tag: i64, n: u32| ChainEvent {
        block_index: 10,
        block_hash: UInt256::default(),
        block_time: u64::try_from(T0).expect("time"),
        event_index: n,
        tx_hash: UInt256::from_le_bytes([9; 32]),
        notification_index: n,
        contract,
        event_name: "Ping".into(),
        state: StackItem::Array(vec![
            StackItem::Integer(tag.into()),
            StackItem::Integer(n.into()),
        ]),
    };
    let handler = a.event_handler();
    // 55 is the byte "7": an integer argument is compared as a number, never as bytes.
    for e in [
        event(7, 0),
        event(7, 0),
        event(8, 1),
        event(7, 2),
        event(55, 3),
    ] {
        handler.handle(&e).await.expect("handled");
    }
    let f = firings(&a, &id).await;
    let keys: Vec<&str> = f.iter().map(|(k, _, _)| k.as_str()).collect();
    let tx = UInt256::from_le_bytes([9; 32]);
    assert_eq!(keys, [format!("event:{tx}:0"), format!("event:{tx}:2")]);
    let _ = clock.now_millis();
}

async fn a_triggers_firings_are_claimed_one_at_a_time_in_order(db: &TestDatabase) {
    let clock = ManualClock::at(T0);
    let a = engine(db, clock.clone()).await;
    let b = engine(db, clock.clone()).await;
    let id = cron_trigger(&a, "* * * * * *", "all", T0).await;
    clock.advance(Duration::from_secs(3));
    a.evaluate_cron().await.expect("evaluate");
    let now = clock.now_millis();
    let first = a
        .store()
        .claim("a", now, now + 30_000, 10)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1, "one firing of a trigger at a time");
    assert_eq!(first[0].firing_key, format!("at:{}", T0 + 1000));
    assert!(
        b.store()
            .claim("b", now, now + 30_000, 10)
            .await
            .expect("claim")
            .is_empty(),
        "nothing else while it is claimed"
    );
    let mut tx = a.store().database().pool().begin().await.expect("tx");
    assert!(
        a.store()
            .finish_claimed_in(&mut tx, &first[0].id, "a", "skipped", "test", now)
            .await
            .expect("finish")
    );
    tx.commit().await.expect("commit");
    let next = b
        .store()
        .claim("b", now, now + 30_000, 10)
        .await
        .expect("claim");
    assert_eq!(
        next[0].firing_key,
        format!("at:{}", T0 + 2000),
        "then the next, in order"
    );
    // A lapsed claim is taken over.
    clock.advance(Duration::from_secs(31));
    let later = clock.now_millis();
    let taken = a
        .store()
        .claim("a", later, later + 30_000, 10)
        .await
        .expect("claim");
    assert_eq!(taken[0].id, next[0].id);
    let _ = id;
}

on_both_backends!(
    missed_times_follow_each_triggers_catch_up_rule,
    times_while_disabled_are_not_missed,
    firings_that_cannot_run_are_skipped_with_the_reason,
    replicas_record_each_time_once,
    a_replayed_event_fires_once_and_filters_hold,
    a_triggers_firings_are_claimed_one_at_a_time_in_order,
);
