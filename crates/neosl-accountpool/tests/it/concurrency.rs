//! Concurrency on PostgreSQL: several pool instances (as replicas) share one database.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use neosl_accountpool_api::*;
use sqlx::Row;

use crate::common::{TestDb, client, config, pool_on, pool_with_clock};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_requests_across_replicas_never_share_an_account() {
    let db = TestDb::postgres("neosl_pool").await;
    // Two replicas start at once: filling is serialized, so the pool is filled exactly once.
    let (a, b) = tokio::join!(
        pool_on(&db, config(300, 5000), None),
        pool_on(&db, config(300, 5000), None)
    );
    assert_eq!(a.store().count_all().await.expect("count"), 300);
    let replicas = [a.clone(), b.clone()];

    let mut tasks = Vec::new();
    for i in 0..400usize {
        let pool = replicas[i % 2].clone();
        let service = format!("svc{}", i % 5);
        let count = 1 + (i % 4) as u32;
        tasks.push(tokio::spawn(async move {
            let api = client(&pool, &service);
            let grant = api
                .request_accounts(RequestAccounts {
                    service_id: None,
                    count,
                    purpose: "load".into(),
                })
                .await;
            (service, count, grant)
        }));
    }
    let mut grants = Vec::new();
    for t in tasks {
        let (service, count, grant) = t.await.expect("task");
        let grant = grant.expect("every request is served (the pool grows)");
        assert_eq!(grant.accounts.len(), count as usize);
        grants.push((service, grant));
    }
    let mut seen = BTreeSet::new();
    for (service, grant) in &grants {
        for account in &grant.accounts {
            assert!(
                seen.insert(account.id.clone()),
                "account {} handed out twice",
                account.id
            );
            assert_eq!(account.locked_by.as_deref(), Some(service.as_str()));
        }
    }
    // The database agrees: each account under exactly the lock that was returned.
    let rows = sqlx::query("SELECT id, lock_id FROM pool_accounts WHERE lock_id IS NOT NULL")
        .fetch_all(a.store().database().pool())
        .await
        .expect("query");
    let in_db: BTreeMap<String, String> = rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect();
    assert_eq!(in_db.len(), seen.len());
    for (_, grant) in &grants {
        for account in &grant.accounts {
            assert_eq!(in_db.get(&account.id), Some(&grant.lock_id));
        }
    }

    // Concurrent releases, half through each replica: exact.
    let mut tasks = Vec::new();
    for (i, (service, grant)) in grants.iter().enumerate() {
        let api = client(&replicas[i % 2], service);
        let lock_id = grant.lock_id.clone();
        tasks.push(tokio::spawn(async move {
            api.release_accounts(ReleaseAccounts {
                lock_id: Some(lock_id),
                ..Default::default()
            })
            .await
        }));
    }
    let mut released = 0;
    for t in tasks {
        released += t.await.expect("task").expect("released").released;
    }
    assert_eq!(released as usize, seen.len());
    let info = serde_json::to_value(a.pool_info().await.expect("info")).expect("json");
    assert_eq!(info["locked"], 0);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_is_exact_when_replicas_sweep_together() {
    let db = TestDb::postgres("neosl_pool").await;
    let mut cfg = config(60, 100);
    cfg.lock_ttl = Duration::from_millis(300);
    let clock = neosl_runtime::clock::ManualClock::starting_now();
    let a = pool_with_clock(&db, cfg.clone(), None, clock.clone()).await;
    let b = pool_with_clock(&db, cfg, None, clock.clone()).await;
    let api = client(&a, "mixer");
    for _ in 0..10 {
        api.request_accounts(RequestAccounts {
            service_id: None,
            count: 5,
            purpose: String::new(),
        })
        .await
        .expect("granted");
    }
    clock.advance(Duration::from_millis(400));
    let (x, y) = tokio::join!(a.sweep(), b.sweep());
    assert_eq!(
        x.expect("sweep") + y.expect("sweep"),
        50,
        "each expired lock is freed once"
    );
    assert_eq!(
        serde_json::to_value(a.pool_info().await.expect("info")).expect("json")["locked"],
        0
    );
    db.cleanup().await;
}
