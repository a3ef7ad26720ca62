use std::sync::Arc;
use std::time::Duration;

use neosl_accountpool::http::router;
use neosl_accountpool::store::PoolStore;
use neosl_accountpool::{AccountPool, Chain, PoolConfig};
use neosl_accountpool_api::{AccountPoolApi, AccountPoolClient};
use neosl_crypto::{MasterKey, SecretBytes};
use neosl_runtime::RuntimeMode;
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::db::Database;
use neosl_runtime::server::{self, Limits, ServiceInfo};

pub const NETWORK: u32 = 42;

/// A database for one test (SQLite or a fresh PostgreSQL database).
pub use neosl_testkit::TestDatabase as TestDb;

pub fn master() -> MasterKey {
    MasterKey::new(SecretBytes::from_slice(&[0x5a; 32])).expect("32 bytes")
}

pub fn config(target: u32, max: u32) -> PoolConfig {
    PoolConfig {
        target_size: target,
        max_size: max,
        fill_batch: 100,
        ..PoolConfig::default()
    }
}

pub async fn pool_on(db: &TestDb, config: PoolConfig, chain: Option<Chain>) -> Arc<AccountPool> {
    pool_with_clock(db, config, chain, neosl_runtime::clock::system()).await
}

/// A pool reading the time from `clock` (tests move it instead of sleeping).
pub async fn pool_with_clock(
    db: &TestDb,
    config: PoolConfig,
    chain: Option<Chain>,
    clock: neosl_runtime::clock::SharedClock,
) -> Arc<AccountPool> {
    // A pool per instance, as separate replicas would have.
    let database = Database::connect_unshared(&db.url())
        .await
        .expect("connect");
    let store = PoolStore::open(database.clone()).await.expect("migrate");
    let pool = AccountPool::new(
        store,
        master(),
        config,
        chain.clone(),
        Some(NETWORK),
        RuntimeMode::Simulation,
        clock.clone(),
    )
    .expect("pool");
    // With a chain, transfers go through the outbox; its worker runs for the test's duration.
    let pool = match &chain {
        Some(chain) => {
            let outbox = neosl_chainwork::Outbox::open(database, clock)
                .await
                .expect("outbox");
            let pool = pool.with_outbox(outbox.clone());
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(outbox.run(
                vec![pool.transfer_kind(chain)],
                chain.clone(),
                Duration::from_millis(100),
                stopped,
            ));
            std::mem::forget(stop);
            pool
        }
        None => pool,
    };
    pool.fill_to_target().await.expect("fill");
    Arc::new(pool)
}

/// The pool's HTTP API in this process, called as `caller` (verified, as in-process calls are).
pub fn client(pool: &Arc<AccountPool>, caller: &str) -> Arc<dyn AccountPoolApi> {
    let info = Arc::new(ServiceInfo::new(
        "accountpool",
        RuntimeMode::Simulation,
        true,
        true,
    ));
    let app = server::router(
        info,
        router(pool.clone()),
        Limits {
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        },
    );
    Arc::new(AccountPoolClient::new(ServiceTransport::InProcess {
        router: app,
        caller: caller.into(),
    }))
}
