//! Automation exactly once under a crash: 100 event triggers on two `neosl serve` replicas
//! sharing one PostgreSQL, a burst of 200 matching notifications, one replica killed with
//! SIGKILL midway and started again. Every notification fires its trigger once: 200
//! executions, none lost, none doubled (the counter contract says so), each paid once.

mod common;

use common::{dev_signer, neosl};

use std::time::Duration;

use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_neo::param::ContractParameter as P;
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use serde_json::json;
use sqlx::Row;

const TRIGGERS: i64 = 100;
const EVENTS_PER_TRIGGER: i64 = 2;

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_events_fires_each_trigger_exactly_once_through_a_crash() {
    let dir = TempDir::new("neosl-automation-burst").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "500"],
    );
    let rpc = common::devnet_rpc(&data_dir);
    let submitter = Submitter::connect(rpc.clone(), Default::default())
        .await
        .expect("submitter");
    let alice = dev_signer(&data_dir, "alice");
    let mut deployed = Vec::new();
    for name in ["test_counter", "test_events"] {
        let c = neosl_testkit::compile_contract(name).expect("compiles");
        deployed.push(
            neosl_devnet::deploy_contract(&submitter, alice.clone(), &c.nef, &c.manifest)
                .await
                .expect("deploys"),
        );
    }
    let (counter, events) = (deployed[0], deployed[1]);

    let pg = neosl_testkit::TestPostgres::create("neosl_auto_burst")
        .await
        .expect("database");
    let data_dir_text = data_dir.display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("NEOSL_DATA_DIR", &data_dir_text),
        ("NEOSL_DATABASE_URL", &pg.url),
        ("NEOSL_CHAIN_WORK_LEASE_SECS", "2"),
        ("NEOSL_POOL_TARGET_SIZE", "10"),
        ("NEOSL_MODE", "simulation"),
    ];
    let replica_a = TempDir::new("neosl-auto-a").expect("temp dir");
    let replica_b = TempDir::new("neosl-auto-b").expect("temp dir");
    let config = replica_a.path().join("neosl.toml");
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000.0, burst = 1000 }\npublic = { per_second = 1000.0, burst = 1000 }\n\n[automation]\ntick_ms = 100\nclaim_lease_ms = 3000\nmin_account_gas = 5000000000\ntop_up_gas = 20000000000\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let args = ["--config", config.as_str()];
    let a = common::serve(&replica_a, &args, &env).expect("replica a");
    let b = common::serve(&replica_b, &args, &env).expect("replica b");

    let http = reqwest::Client::new();
    let gateway = b.urls["gateway"].clone();
    let token = common::register(&http, &gateway, "burst@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    common::dev_credit("burst@example.org", 100 * 100_000_000, &env);
    for tag in 0..TRIGGERS {
        let answer = common::post(
            &http,
            &format!("{gateway}/automation/triggers"),
            Some(&token),
            json!({
                "name": format!("tag {tag}"),
                "condition": {"type": "event", "contract": events.to_string(), "event": "Ping",
                              "filters": [{"index": 0, "equals": tag.to_string()}]},
                "action": {"contract": counter.to_string(), "method": "increment",
                           "args": [{"type": "Integer", "value": "1"}]},
            }),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    // The burst: every tag pinged twice, 25 tags to a transaction.
    let signers = [SignerEntry::called_by_entry(alice.clone())];
    let mut sent = Vec::new();
    for chunk in (0..TRIGGERS).collect::<Vec<_>>().chunks(25) {
        let mut sb = neosl_neo::script::ScriptBuilder::new();
        for tag in chunk {
            neosl_neo::contract::call(
                &mut sb,
                &events,
                "ping",
                neosl_neo::contract::CallFlags::ALL,
                &[
                    P::Integer((*tag).into()),
                    P::Integer(EVENTS_PER_TRIGGER.into()),
                ],
            )
            .expect("script");
        }
        let tx = submitter
            .build(sb.into_bytes(), &signers, vec![])
            .await
            .expect("built");
        submitter
            .send_with_retry(&tx, Duration::from_secs(30))
            .await
            .expect("sent");
        sent.push(tx);
    }
    for tx in &sent {
        let outcome = submitter
            .wait(tx, Duration::from_secs(60))
            .await
            .expect("included");
        assert!(outcome.halted(), "{:?}", outcome.exception);
    }

    let burst_done = std::time::Instant::now();

    // Midway, replica A dies without warning and comes back.
    let db = Database::connect_unshared(&pg.url).await.expect("database");
    let at_kill =
        neosl_testkit::wait_until(Duration::from_secs(120), "the first executions", || async {
            let now = common::counts_by(&db, "automation_firings", "state").await;
            (common::count_of(&now, "executed") > 0).then_some(now)
        })
        .await;
    common::kill_9(a);
    let a = common::serve(&replica_a, &args, &env).expect("replica a again");
    let total = TRIGGERS * EVENTS_PER_TRIGGER;
    let end = neosl_testkit::wait_until(
        Duration::from_secs(400),
        "every firing to execute",
        || async {
            let now = common::counts_by(&db, "automation_firings", "state").await;
            let stuck = ["faulted", "skipped", "failed"]
                .iter()
                .any(|s| common::count_of(&now, s) > 0);
            (common::count_of(&now, "executed") == total || stuck).then_some(now)
        },
    )
    .await;
    assert_eq!(
        end,
        [("executed".to_owned(), total)],
        "killed at {at_kill:?}"
    );
    // A figure, not a check: firings executed per second through the crash.
    let secs = burst_done.elapsed().as_secs_f64();
    eprintln!(
        "{total} firings executed {secs:.1} s after the burst was on chain ({:.1}/s, one replica killed and restarted)",
        total as f64 / secs
    );

    // Each trigger fired once per matching notification, and the chain did each once.
    let per_trigger: Vec<i64> =
        sqlx::query("SELECT COUNT(*) FROM automation_firings GROUP BY trigger_id")
            .fetch_all(db.pool())
            .await
            .expect("query")
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
    assert_eq!(per_trigger.len(), usize::try_from(TRIGGERS).expect("fits"));
    assert!(per_trigger.iter().all(|n| *n == EVENTS_PER_TRIGGER));
    let on_chain = neosl::contracts::read(&rpc, &counter, "total", &[])
        .await
        .expect("total")
        .as_integer()
        .expect("integer");
    assert_eq!(on_chain, total.into(), "no execution lost or sent twice");
    // Paid once each: one consumed reservation per execution, nothing held.
    let bank = neosl_gasbank::GasBank::open(db.clone())
        .await
        .expect("bank");
    let owner_id: String = sqlx::query_scalar("SELECT DISTINCT owner FROM automation_firings")
        .fetch_one(db.pool())
        .await
        .expect("owner");
    let owner = neosl_gasbank::Owner::User(owner_id.trim_start_matches("user:").to_owned());
    let fees = bank
        .transactions(&owner, 10_000)
        .await
        .expect("ledger")
        .into_iter()
        .filter(|e| e.r#type == "service_fee")
        .count();
    assert_eq!(fees, usize::try_from(total).expect("fits"));
    assert_eq!(bank.account(&owner).await.expect("account").reserved, 0);
    assert!(bank.check_invariants().await.expect("check").is_empty());

    a.stop();
    b.stop();
    db.pool().close().await;
    pg.drop().await;
    neosl(&data_dir, &["devnet", "stop"]);
}
