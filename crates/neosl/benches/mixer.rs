//! How well the Mixer hides who paid whom, and what a mix costs. Run:
//! `cargo bench -p neosl --bench mixer`.
//!
//! On a devnet through `neosl serve` (two replicas' worth of state on one PostgreSQL is not
//! needed here: one replica), 20 users each mix to one fresh target at the same time, twice:
//! all with the same amount (5 GAS), then with similar amounts (4.5 to 5.5 GAS). Then a simple
//! chain analyst who sees every deposit and every delivery, knows which accounts are the
//! Mixer's and knows the public fee formula links each delivery to a depositor:
//!
//! - by amount: the depositor whose deposit is the delivery's amount plus its fee (ties broken
//!   by the nearest deposit in time before it);
//! - by time: the i-th delivery to the i-th deposit.
//!
//! It prints how many of the 20 each analyst links correctly, the anonymity set (depositors
//! consistent with a delivery's amount and time, mean and minimum), and the transactions and
//! GAS per mix. Prints figures; asserts only that every target was paid exactly.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_neo::{Address, UInt160, UInt256};
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use serde_json::{Value, json};
use sqlx::Row;

const GAS: i64 = 100_000_000;
const USERS: usize = 20;

struct Mix {
    user: UInt160,
    target: UInt160,
    net: i64,
    total: i64,
    request_id: String,
    deposit_time: i64,
}

async fn send(submitter: &Submitter, from: Arc<dyn TxSigner>, script: Vec<u8>) -> UInt256 {
    let tx = submitter
        .build(script, &[SignerEntry::called_by_entry(from)], vec![])
        .await
        .expect("built");
    submitter
        .send_with_retry(&tx, Duration::from_secs(30))
        .await
        .expect("sent")
}

async fn block_time_of(submitter: &Submitter, tx: &UInt256) -> i64 {
    neosl_testkit::wait_until(Duration::from_secs(60), "a transaction's block", || async {
        let verbose = submitter
            .rpc()
            .call_raw("getrawtransaction", json!([tx.to_string(), true]), true)
            .await
            .ok()?;
        verbose["blocktime"].as_i64()
    })
    .await
}

#[allow(clippy::too_many_arguments)]
async fn round(
    label: &str,
    amounts: &[i64],
    users: &[Arc<dyn TxSigner>],
    gateway: &str,
    submitter: &Submitter,
    db: &Database,
    fee: &dyn Fn(i64) -> i64,
) {
    let http = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let mut mixes = Vec::new();
    for (user, net) in users.iter().zip(amounts) {
        let target = UInt160::of_script(&neosl_neo::script::verification_script(
            &neosl_neo::PublicKey::from_slice(
                &neosl_crypto::SecretKey::generate()
                    .public_key()
                    .to_compressed(),
            )
            .expect("key"),
        ));
        let body = json!({
            "version": 1, "user_address": Address::from_script_hash(user.account()).to_string(),
            "targets": [{"address": Address::from_script_hash(target).to_string(), "amount": neosl_mixer::terms::format_gas(*net)}],
            "mix_option": 1_800_000, "timestamp": now,
        });
        let answer = common::send(http.post(format!("{gateway}/mixer/request")).json(&body)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let created = answer.body["data"].clone();
        let total = neosl_mixer::terms::parse_gas(created["total"].as_str().expect("total"))
            .expect("amount");
        assert_eq!(total, *net + fee(*net), "the fee is the public formula");
        let mut hashes = Vec::new();
        for d in created["deposits"].as_array().expect("deposits") {
            let to = Address::parse(d["address"].as_str().expect("address"))
                .expect("address")
                .script_hash();
            let amount = neosl_mixer::terms::parse_gas(d["amount"].as_str().expect("amount"))
                .expect("amount");
            let script = neosl_neo::contract::nep17_transfer(
                &neosl_neo::native::GAS,
                &user.account(),
                &to,
                &amount.into(),
                None,
            )
            .expect("script");
            hashes.push(send(submitter, user.clone(), script).await);
        }
        mixes.push((
            user.account(),
            target,
            *net,
            total,
            created["request_id"].as_str().expect("id").to_owned(),
            hashes,
        ));
    }
    let mut done = Vec::new();
    for (user, target, net, total, request_id, hashes) in mixes {
        let deposit_time = block_time_of(submitter, &hashes[0]).await;
        done.push(Mix {
            user,
            target,
            net,
            total,
            request_id,
            deposit_time,
        });
    }
    neosl_testkit::wait_until(Duration::from_secs(600), "every mix delivered", || async {
        let states = common::counts_by(db, "mixer_requests", "state").await;
        let delivered = common::count_of(&states, "delivered");
        (delivered >= (USERS as i64) * if label == "equal" { 1 } else { 2 }).then_some(())
    })
    .await;

    // What the chain shows: each target's deliveries (amount, first block time).
    let mut delivered: HashMap<UInt160, (i64, i64)> = HashMap::new();
    let mut transactions = 0usize;
    let mut gas = 0i64;
    for mix in &done {
        let rows = sqlx::query(
            "SELECT kind, tx_hash FROM mixer_legs WHERE request_id = $1 AND state = 'confirmed'",
        )
        .bind(&mix.request_id)
        .fetch_all(db.pool())
        .await
        .expect("legs");
        for row in rows {
            let kind: String = row.get(0);
            let hash = UInt256::parse_display(&row.get::<String, _>(1)).expect("hash");
            let tx = submitter
                .rpc()
                .get_raw_transaction(&hash)
                .await
                .expect("tx");
            transactions += 1;
            gas += tx.system_fee + tx.network_fee;
            if kind != "deliver" {
                continue;
            }
            let time = block_time_of(submitter, &hash).await;
            let log = submitter
                .rpc()
                .get_application_log(&hash)
                .await
                .expect("log");
            for n in &log.executions[0].notifications {
                if let Some((_, to, amount)) = neosl_gasbank::deposits::parse_transfer(&n.state)
                    && to == mix.target
                {
                    let entry = delivered.entry(to).or_insert((0, time));
                    entry.0 += amount;
                    entry.1 = entry.1.min(time);
                }
            }
        }
    }
    for mix in &done {
        assert_eq!(
            delivered.get(&mix.target).map(|d| d.0),
            Some(mix.net),
            "paid exactly"
        );
    }
    // The analysts.
    let mut by_amount = 0;
    let mut sets = Vec::new();
    for mix in &done {
        let (amount, time) = delivered[&mix.target];
        let candidates: Vec<&Mix> = done
            .iter()
            .filter(|d| d.deposit_time <= time && d.total == amount + fee(amount))
            .collect();
        sets.push(candidates.len());
        let guess = candidates.iter().max_by_key(|d| d.deposit_time);
        if guess.is_some_and(|g| g.user == mix.user) {
            by_amount += 1;
        }
    }
    let mut deposits: Vec<&Mix> = done.iter().collect();
    deposits.sort_by_key(|m| m.deposit_time);
    let mut deliveries: Vec<&Mix> = done.iter().collect();
    deliveries.sort_by_key(|m| delivered[&m.target].1);
    let by_time = deposits
        .iter()
        .zip(&deliveries)
        .filter(|(d, v)| d.user == v.user)
        .count();
    let mean = sets.iter().sum::<usize>() as f64 / sets.len() as f64;
    println!(
        "{label:>7} amounts: linked by amount {by_amount}/{USERS}, by time order {by_time}/{USERS}; anonymity set mean {mean:.1}, min {}; {:.1} transactions and {:.4} GAS of chain fees per mix",
        sets.iter().min().copied().unwrap_or(0),
        transactions as f64 / USERS as f64,
        gas as f64 / USERS as f64 / GAS as f64
    );
}

#[tokio::main]
async fn main() {
    let dir = TempDir::new("neosl-bench-mixer").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    common::neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "1000"],
    );
    let rpc = common::devnet_rpc(&data_dir);
    let submitter = Submitter::connect(rpc, Default::default())
        .await
        .expect("submitter");
    let alice = common::dev_signer(&data_dir, "alice");
    let users: Vec<Arc<dyn TxSigner>> = (0..USERS)
        .map(|_| {
            Arc::new(LocalKeySigner::new(neosl_crypto::SecretKey::generate())) as Arc<dyn TxSigner>
        })
        .collect();
    let mut script = Vec::new();
    for u in &users {
        script.extend(
            neosl_neo::contract::nep17_transfer(
                &neosl_neo::native::GAS,
                &alice.account(),
                &u.account(),
                &(20 * GAS).into(),
                None,
            )
            .expect("script"),
        );
    }
    let funded = send(&submitter, alice.clone(), script).await;
    block_time_of(&submitter, &funded).await;

    let pg = neosl_testkit::TestPostgres::create("neosl_bench_mixer")
        .await
        .expect("database");
    let data_dir_text = data_dir.display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("NEOSL_DATA_DIR", &data_dir_text),
        ("NEOSL_DATABASE_URL", &pg.url),
        ("NEOSL_POOL_TARGET_SIZE", "200"),
        ("NEOSL_MODE", "simulation"),
    ];
    let config = dir.path().join("neosl.toml");
    // 30-minute windows ÷ 60: 30 s.
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000.0, burst = 1000 }\npublic = { per_second = 1000.0, burst = 1000 }\n\n[mixer]\ntick_ms = 200\nwindow_divisor = 60\ndeposit_window_ms = 7200000\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let running = common::serve(&dir, &["--config", &config], &env).expect("serve");
    let gateway = running.urls["gateway"].clone();
    let db = Database::connect_unshared(&pg.url).await.expect("database");
    let info: Value = common::send(reqwest::Client::new().get(format!("{gateway}/mixer/info")))
        .await
        .body["data"]
        .clone();
    let allowance =
        neosl_mixer::terms::parse_gas(info["transfer_allowance"].as_str().expect("allowance"))
            .expect("amount");
    let fee = move |net: i64| {
        neosl_mixer::definition::MIXER_FEE.fee(net).expect("fee")
            + allowance * neosl_mixer::terms::transfer_budget(1, 1) as i64
    };
    round(
        "equal",
        &[5 * GAS; USERS],
        &users,
        &gateway,
        &submitter,
        &db,
        &fee,
    )
    .await;
    let varied: Vec<i64> = (0..USERS)
        .map(|_| {
            450_000_000
                + (u64::from_le_bytes(neosl_crypto::random_array::<8>()) % 100) as i64 * 1_000_000
        })
        .collect();
    round("similar", &varied, &users, &gateway, &submitter, &db, &fee).await;
    running.stop();
    db.pool().close().await;
    pg.drop().await;
    common::neosl(&data_dir, &["devnet", "stop"]);
}
