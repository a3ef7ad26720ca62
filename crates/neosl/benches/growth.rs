//! Cost growth, measured (a benchmark, not a test): the same operations as the pool grows
//! 10k → 100k → 1M accounts, the GasBank ledger 10k → 1M entries and the VRF request table
//! 10k → 1M rows, on PostgreSQL. Latency should stay flat (indexes, no scans). Rows are
//! generated in SQL (the accounts' keys derive from their ids when signing, so generated
//! accounts sign like created ones); the measured calls are the services' own.
//!
//! `cargo bench -p neosl --bench growth` (needs PostgreSQL on 127.0.0.1:5432, as the tests;
//! `-- --max 100000` stops at 100k)

use std::sync::Arc;
use std::time::{Duration, Instant};

use neosl_accountpool::store::PoolStore;
use neosl_accountpool::{AccountPool, PoolConfig};
use neosl_accountpool_api::ReleaseAccounts;
use neosl_crypto::{MasterKey, SecretBytes, SecretKey};
use neosl_gasbank::{GasBank, Owner};
use neosl_runtime::RuntimeMode;
use neosl_runtime::db::Database;
use neosl_testkit::TestDatabase;

struct Stats {
    p50: Duration,
    p99: Duration,
}

async fn time<F, Fut>(n: usize, mut f: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        f(i).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    Stats {
        p50: samples[n / 2],
        p99: samples[n * 99 / 100],
    }
}

fn ms(s: &Stats) -> String {
    format!(
        "p50 {:>6.3} ms  p99 {:>6.3} ms",
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn scalar(db: &Database, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db.pool())
        .await
        .expect(sql)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let max: i64 = std::env::args()
        .skip_while(|a| a != "--max")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let test_db = TestDatabase::postgres("neosl_growth").await;
    let db = Database::connect_unshared(&test_db.url())
        .await
        .expect("connect");
    let master = MasterKey::new(SecretBytes::from_slice(&[0x42; 32])).expect("key");
    let store = PoolStore::open(db.clone()).await.expect("migrate");
    let pool = Arc::new(
        AccountPool::new(
            store,
            master,
            PoolConfig {
                target_size: 0,
                max_size: 2_000_000,
                ..PoolConfig::default()
            },
            None,
            Some(42),
            RuntimeMode::Simulation,
            neosl_runtime::clock::system(),
        )
        .expect("pool"),
    );
    let bank = GasBank::open(db.clone()).await.expect("gasbank");
    let vrf = neosl_vrf::VrfService::open(
        db.clone(),
        SecretKey::from_slice(&[7; 32]).expect("key"),
        neosl_runtime::clock::system(),
    )
    .await
    .expect("vrf");
    let light = Owner::User("light-user".into());
    let heavy = Owner::User("heavy-user".into());
    for (owner, name) in [(&light, "light"), (&heavy, "heavy")] {
        bank.deposit(owner, 1_000_000, &format!("seed-{name}"), None)
            .await
            .expect("deposit");
    }
    for i in 0..100 {
        bank.deposit(&light, 1, &format!("light-{i}"), None)
            .await
            .expect("deposit");
    }
    println!("cost growth on PostgreSQL (2 cores); in-process calls, 300 samples each\n");
    let rss_start = rss_kib();
    let (mut accounts, mut ledger, mut requests) = (0i64, 0i64, 0i64);
    for size in [10_000i64, 100_000, 1_000_000] {
        if size > max {
            break;
        }
        let started = Instant::now();
        sqlx::query(
            "INSERT INTO pool_accounts (id, address, script_hash, public_key, status, last_used_at, created_at) \
             SELECT '00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'), 'addr-' || g, 'sh-' || g, 'pk', 'active', 0, 1 \
             FROM generate_series($1::bigint, $2::bigint) AS g",
        )
        .bind(accounts + 1)
        .bind(size)
        .execute(db.pool())
        .await
        .expect("accounts");
        let heavy_id = "user:heavy-user".to_owned();
        let base: i64 = sqlx::query_scalar("SELECT balance FROM gasbank_accounts WHERE id = $1")
            .bind(&heavy_id)
            .fetch_one(db.pool())
            .await
            .expect("balance");
        // The ledger's triggers check every posting against the account row; a single bulk
        // statement updating one row a million times is quadratic in PostgreSQL (each update
        // walks the row's version chain), so the generated entries go in with triggers off and
        // the balance is set to what they add up to, in one transaction.
        let added = size - ledger;
        let mut tx = db.pool().begin().await.expect("tx");
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .expect("triggers off");
        sqlx::query(
            "INSERT INTO gasbank_transactions (account_id, type, amount, balance_after, reference_id, created_at) \
             SELECT $1, 'deposit', 1, $2 + g - $3 + 1, 'bulk-' || g, 1 FROM generate_series($3::bigint, $4::bigint) AS g",
        )
        .bind(&heavy_id)
        .bind(base)
        .bind(ledger + 1)
        .bind(size)
        .execute(&mut *tx)
        .await
        .expect("ledger");
        sqlx::query("UPDATE gasbank_accounts SET balance = balance + $2 WHERE id = $1")
            .bind(&heavy_id)
            .bind(added)
            .execute(&mut *tx)
            .await
            .expect("balance");
        tx.commit().await.expect("commit");
        sqlx::query(
            "INSERT INTO vrf_requests (id, user_id, seed, num_words, proof, beta, public_key, created_at) \
             SELECT 'bulk-' || g, 'user-' || (g % 1000), 'seed', 1, 'proof', 'beta', 'pk', g FROM generate_series($1::bigint, $2::bigint) AS g",
        )
        .bind(requests + 1)
        .bind(size)
        .execute(db.pool())
        .await
        .expect("requests");
        sqlx::query("ANALYZE")
            .execute(db.pool())
            .await
            .expect("analyze");
        (accounts, ledger, requests) = (size, size, size);
        let filled = started.elapsed();

        let request_release = time(300, |_| {
            let pool = pool.clone();
            async move {
                let grant = pool.request("bench", 1, "growth").await.expect("request");
                pool.release(
                    "bench",
                    &ReleaseAccounts {
                        service_id: None,
                        lock_id: Some(grant.lock_id),
                        account_ids: None,
                        all: None,
                    },
                )
                .await
                .expect("release");
            }
        })
        .await;
        let held = pool.request("signer", 1, "growth").await.expect("request");
        let account = held.accounts[0].id.clone();
        let sign = time(300, |i| {
            let (pool, account) = (pool.clone(), account.clone());
            async move {
                let hash = format!("0x{:064x}", i as u64 + size as u64 * 1000);
                pool.sign("signer", &account, &hash).await.expect("sign");
            }
        })
        .await;
        pool.release(
            "signer",
            &ReleaseAccounts {
                service_id: None,
                lock_id: Some(held.lock_id),
                account_ids: None,
                all: None,
            },
        )
        .await
        .expect("release");
        let balance = time(300, |_| {
            let (bank, heavy) = (&bank, &heavy);
            async move {
                bank.account(heavy).await.expect("balance");
            }
        })
        .await;
        let light_page = time(300, |_| {
            let (bank, light) = (&bank, &light);
            async move {
                bank.transactions(light, 50).await.expect("transactions");
            }
        })
        .await;
        let heavy_page = time(300, |_| {
            let (bank, heavy) = (&bank, &heavy);
            async move {
                bank.transactions(heavy, 50).await.expect("transactions");
            }
        })
        .await;
        let vrf_page = time(300, |i| {
            let vrf = &vrf;
            async move {
                vrf.requests(&format!("user-{}", i % 1000), 50)
                    .await
                    .expect("requests");
            }
        })
        .await;
        let pool_bytes = scalar(&db, "SELECT pg_total_relation_size('pool_accounts')").await;
        println!(
            "{size:>9} accounts / ledger entries / VRF requests   (generated in {:.1} s)",
            filled.as_secs_f64()
        );
        println!(
            "  /request + /release (1 account)          {}",
            ms(&request_release)
        );
        println!("  /sign (audit chain record + signature)   {}", ms(&sign));
        println!(
            "  balance read (the heaviest account)      {}",
            ms(&balance)
        );
        println!(
            "  /gasbank/transactions, 100-entry user    {}",
            ms(&light_page)
        );
        println!(
            "  /gasbank/transactions, {size}-entry user {}",
            ms(&heavy_page)
        );
        println!(
            "  /vrf/requests, 50 newest of a user       {}",
            ms(&vrf_page)
        );
        println!(
            "  pool_accounts on disk: {:.1} MiB ({:.1} MiB per 100k accounts)",
            pool_bytes as f64 / 1048576.0,
            pool_bytes as f64 / 1048576.0 / (size as f64 / 100_000.0)
        );
    }
    println!(
        "\nprocess memory grew {} KiB over the run: the pool keeps no per-account state in memory",
        rss_kib().saturating_sub(rss_start)
    );
    drop(pool);
    test_db.cleanup().await;
}
