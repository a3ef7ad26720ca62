//! Shared rate-limit buckets: in the database on both backends and in a real Redis, the limit
//! holds in total across several gateways' stores under concurrent callers, tokens come back at
//! the configured rate, and a store that cannot be reached falls back to limiting in-process.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use neosl_gateway::buckets::Buckets;
use neosl_gateway::limit::Rate;
use neosl_runtime::db::Database;
use neosl_testkit::{TestDatabase, on_both_backends};

const T0: i64 = 1_796_342_400_000;
const RATE: Rate = Rate {
    per_second: 1.0,
    burst: 10,
};

/// 50 callers at once over `stores` (replicas sharing one store): exactly the burst gets in.
async fn holds_in_total(stores: Vec<Arc<Buckets>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let store = stores[i % stores.len()].clone();
        tasks.spawn(async move { store.check_at("k", RATE, T0).await });
    }
    let mut allowed = 0;
    while let Some(done) = tasks.join_next().await {
        if done.expect("task").is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10, "the burst, in total");
    let wait = stores[0].check_at("k", RATE, T0).await.expect_err("empty");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    // Two seconds later, two tokens.
    let later = T0 + 2_000;
    assert!(
        stores[1 % stores.len()]
            .check_at("k", RATE, later)
            .await
            .is_ok()
    );
    assert!(
        stores[0].peek_at("k", RATE, later).await.is_ok(),
        "peeking takes nothing"
    );
    assert!(stores[0].check_at("k", RATE, later).await.is_ok());
    assert!(stores[0].check_at("k", RATE, later).await.is_err());
    // Other keys are other buckets.
    assert!(stores[0].check_at("other", RATE, later).await.is_ok());
}

async fn database_buckets_hold_across_replicas(db: &TestDatabase) {
    let mut stores = Vec::new();
    for _ in 0..3 {
        let database = Database::connect(&db.url()).await.expect("connect");
        neosl_gateway::store::GatewayStore::open(database.clone())
            .await
            .expect("migrate");
        stores.push(Arc::new(Buckets::database(database)));
    }
    holds_in_total(stores).await;
}

on_both_backends!(database_buckets_hold_across_replicas);

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct RedisServer(Child, u16);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> RedisServer {
    let port = free_port();
    let server = RedisServer(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server)"),
        port,
    );
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_buckets_hold_across_replicas() {
    let server = redis();
    let url = format!("redis://127.0.0.1:{}", server.1);
    let stores = (0..3)
        .map(|_| Arc::new(Buckets::redis(&url).expect("url")))
        .collect();
    holds_in_total(stores).await;
}

#[tokio::test]
async fn an_unreachable_store_still_limits_in_process() {
    let port = free_port();
    let store = Buckets::redis(&format!("redis://127.0.0.1:{port}")).expect("url");
    for _ in 0..10 {
        assert!(store.check_at("k", RATE, T0).await.is_ok());
    }
    assert!(store.check_at("k", RATE, T0).await.is_err());
    assert!(Buckets::redis("http://x").is_err());
    assert!(Buckets::redis("redis://user:pw@host:1").is_err());
}
