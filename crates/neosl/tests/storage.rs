//! The PostgreSQL schema is Supabase-compatible: every table of every service has row-level
//! security with the `service_role` policy, so a role without `BYPASSRLS` (Supabase's `anon`
//! and `authenticated`) reads nothing, even where it was granted the table.

mod common;

use neosl::{Options, Platform};
use neosl_runtime::db::Database;
use neosl_testkit::{TempDir, TestPostgres};
use sqlx::Row;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_postgres_table_has_row_level_security_and_the_service_role_policy() {
    let pg = TestPostgres::create("neosl_rls").await.expect("database");
    let dir = TempDir::new("neosl-rls").expect("temp dir");
    let registry = neosl::registry();
    let env = common::platform_env(
        &dir,
        &[
            ("NEOSL_DATABASE_URL", pg.url.as_str()),
            ("NEOSL_POOL_TARGET_SIZE", "5"),
        ],
    );
    let settings = registry.load_settings(None, &env).expect("settings");
    // Every service opens (and migrates) its tables; the outbox's come with them.
    let platform = Platform::start(&registry, settings, Options::default())
        .await
        .expect("starts");
    let db = Database::connect_unshared(&pg.url).await.expect("connect");
    neosl_chainwork::migrate(&db)
        .await
        .expect("chain work tables");

    let tables: Vec<(String, bool, bool)> = sqlx::query(
        "SELECT c.relname::text, c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policies p \
           WHERE p.schemaname = current_schema() AND p.tablename = c.relname AND 'service_role' = ANY (p.roles)) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname",
    )
    .fetch_all(db.pool())
    .await
    .expect("catalog")
    .iter()
    .map(|r| {
        (
            r.try_get(0).expect("name"),
            r.try_get(1).expect("rls"),
            r.try_get(2).expect("policy"),
        )
    })
    .collect();
    let names: Vec<&str> = tables.iter().map(|(n, _, _)| n.as_str()).collect();
    for expected in [
        "chain_cursors",
        "chain_work",
        "gasbank_accounts",
        "gasbank_transactions",
        "gateway_users",
        "neosl_platform",
        "neosl_schema_migrations",
        "pool_accounts",
        "pool_audit",
        "vrf_requests",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let unprotected: Vec<&(String, bool, bool)> = tables
        .iter()
        .filter(|(_, rls, policy)| !rls || !policy)
        .collect();
    assert!(
        unprotected.is_empty(),
        "without RLS or policy: {unprotected:?}"
    );

    // A role without BYPASSRLS reads nothing, even with the grant.
    let accounts: i64 = sqlx::query("SELECT count(*) FROM pool_accounts")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .try_get(0)
        .expect("count");
    assert!(accounts >= 5, "the pool was filled");
    let mut conn = db.pool().acquire().await.expect("connection");
    for sql in [
        "DO $$ BEGIN CREATE ROLE neosl_test_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        "GRANT SELECT ON pool_accounts TO neosl_test_anon",
        "SET ROLE neosl_test_anon",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .expect(sql);
    }
    let seen: i64 = sqlx::query("SELECT count(*) FROM pool_accounts")
        .fetch_one(&mut *conn)
        .await
        .expect("count as anon")
        .try_get(0)
        .expect("count");
    assert_eq!(seen, 0, "row-level security hides every row");
    sqlx::raw_sql("RESET ROLE")
        .execute(&mut *conn)
        .await
        .expect("reset");
    drop(conn);
    platform.stop().await.expect("stops");
    db.pool().close().await;
    pg.drop().await;
}
