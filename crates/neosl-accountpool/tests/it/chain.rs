//! End to end on a real devnet: transfers from pool accounts, witnesses the node accepts, and
//! balances that follow the chain.

use std::sync::Arc;
use std::time::Duration;

use neosl_accountpool::Chain;
use neosl_accountpool_api::*;
use neosl_chain::submit::{SignerEntry, SubmitConfig, Submitter};
use neosl_devnet::{Devnet, DevnetConfig};
use neosl_neo::{UInt160, native};
use neosl_testkit::TempDir;
use num_bigint::BigInt;

use crate::common::{TestDb, client, config, pool_on};

const GAS: i64 = 100_000_000;

async fn devnet(dir: &TempDir) -> Devnet {
    let mut config = DevnetConfig::new(dir.path());
    config.cache_dir = neosl_testkit::tools_dir().join("neogo");
    config.block_time = Duration::from_millis(250);
    Devnet::start(config).await.expect("devnet")
}

fn hash_of(account: &AccountView) -> UInt160 {
    UInt160::parse_display(&account.script_hash).expect("hash")
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_accounts_transfer_sign_and_follow_the_chain() {
    let dir = TempDir::new("neosl-pool-chain").expect("temp dir");
    let devnet = devnet(&dir).await;
    let rpc = devnet.rpc();
    let submitter = Submitter::connect(
        rpc.clone(),
        SubmitConfig {
            poll_interval: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .await
    .expect("submitter");
    let db = TestDb::sqlite("pool");
    let pool = pool_on(
        &db,
        config(10, 50),
        Some(Chain {
            rpc: rpc.clone(),
            submitter: submitter.clone(),
        }),
    )
    .await;
    let mixer = client(&pool, "mixer");
    let grant = mixer
        .request_accounts(RequestAccounts {
            service_id: None,
            count: 2,
            purpose: "e2e".into(),
        })
        .await
        .expect("granted");
    let (a, b) = (&grant.accounts[0], &grant.accounts[1]);
    devnet
        .fund(&[hash_of(a)], 20 * GAS, 5)
        .await
        .expect("funded");

    // Sync: the chain figures equal getnep17balances; the tracked ones (still 0) differ, visibly.
    pool.sync_locked().await.expect("sync");
    let on_chain = rpc.get_nep17_balances(&hash_of(a)).await.expect("balances");
    let listed = mixer
        .accounts(AccountsQuery::default())
        .await
        .expect("list");
    let view_a = listed.accounts.iter().find(|v| v.id == a.id).expect("a");
    for token in [native::GAS, native::NEO] {
        let b = view_a
            .balances
            .iter()
            .find(|x| x.script_hash == token.to_string())
            .expect("row");
        assert_eq!(
            b.chain.as_deref(),
            Some(on_chain.of(&token).to_string().as_str())
        );
    }
    let info = serde_json::to_value(pool.pool_info().await.expect("info")).expect("json");
    assert!(
        info["mismatches"]
            .as_array()
            .expect("list")
            .iter()
            .any(|m| m["account_id"] == a.id.as_str())
    );

    // Transfer 3 GAS from A to B, waiting for the block.
    let transfer = TransferRequest {
        service_id: None,
        account_id: a.id.clone(),
        to_address: b.address.clone(),
        amount: Amount("300000000".into()),
        token: "GAS".into(),
        data: None,
        wait: true,
    };
    let result = mixer.transfer(transfer.clone()).await.expect("transferred");
    assert_eq!(result.vm_state.as_deref(), Some("HALT"));
    let b_chain = rpc.get_nep17_balances(&hash_of(b)).await.expect("balances");
    assert_eq!(b_chain.of(&native::GAS), BigInt::from(3 * GAS));
    // A's tracked balances now follow the chain.
    let a_chain = rpc.get_nep17_balances(&hash_of(a)).await.expect("balances");
    let listed = mixer
        .accounts(AccountsQuery::default())
        .await
        .expect("list");
    let view_a = listed.accounts.iter().find(|v| v.id == a.id).expect("a");
    let gas_row = view_a
        .balances
        .iter()
        .find(|x| x.token_type == "GAS")
        .expect("gas");
    assert_eq!(gas_row.tracked, a_chain.of(&native::GAS).to_string());
    assert_eq!(gas_row.chain.as_deref(), Some(gas_row.tracked.as_str()));
    let audit = pool
        .store()
        .audit(Some(&a.id), None, None, 10)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "transfer" && e.hash == result.tx_hash)
    );

    // A transaction signed through /sign (PoolSigner) is accepted by the node.
    let api: Arc<dyn AccountPoolApi> = mixer.clone();
    let signer = Arc::new(PoolSigner::new(api, a).expect("signer"));
    let script = neosl_neo::contract::nep17_transfer(
        &native::NEO,
        &hash_of(a),
        &hash_of(b),
        &BigInt::from(2),
        None,
    )
    .expect("script");
    let outcome = submitter
        .submit_and_wait(
            script,
            &[SignerEntry::called_by_entry(signer)],
            Duration::from_secs(30),
        )
        .await
        .expect("the node accepts the pool's witness");
    assert!(outcome.halted());
    assert_eq!(
        rpc.get_nep17_balances(&hash_of(b))
            .await
            .expect("b")
            .of(&native::NEO),
        BigInt::from(2)
    );

    // Refusals: more than the account holds; an account the caller does not hold; bad input.
    let too_much = TransferRequest {
        amount: Amount((1000 * GAS).to_string()),
        ..transfer.clone()
    };
    let e = mixer.transfer(too_much).await.expect_err("refused");
    assert_eq!((e.code.as_str(), e.status), ("insufficient_balance", 409));
    let other = client(&pool, "automation");
    let e = other.transfer(transfer.clone()).await.expect_err("refused");
    assert_eq!(e.code, "not_locked_by_caller");
    let bad_address = TransferRequest {
        to_address: "NotAnAddress".into(),
        ..transfer.clone()
    };
    assert_eq!(
        mixer.transfer(bad_address).await.expect_err("refused").code,
        "invalid_request"
    );
    let zero = TransferRequest {
        amount: Amount("0".into()),
        ..transfer.clone()
    };
    assert_eq!(
        mixer.transfer(zero).await.expect_err("refused").code,
        "invalid_request"
    );

    // Retirement: released accounts marked retiring become retired only once empty on chain.
    mixer
        .release_accounts(ReleaseAccounts {
            all: Some(true),
            ..Default::default()
        })
        .await
        .expect("released");
    let marked = pool
        .store()
        .mark_retiring(i64::MAX, 100, 0)
        .await
        .expect("mark");
    assert_eq!(marked, 10);
    let retired = pool.retire_drained().await.expect("retire");
    assert_eq!(retired, 8, "A and B still hold funds");
    let info = serde_json::to_value(pool.pool_info().await.expect("info")).expect("json");
    assert_eq!(
        (info["retired"].as_i64(), info["retiring"].as_i64()),
        (Some(8), Some(2))
    );
    devnet.stop().await.expect("stop");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_chain_transfers_say_so() {
    let db = TestDb::sqlite("pool");
    let pool = pool_on(&db, config(3, 10), None).await;
    let mixer = client(&pool, "mixer");
    let grant = mixer
        .request_accounts(RequestAccounts {
            service_id: None,
            count: 1,
            purpose: String::new(),
        })
        .await
        .expect("granted");
    let e = mixer
        .transfer(TransferRequest {
            service_id: None,
            account_id: grant.accounts[0].id.clone(),
            to_address: grant.accounts[0].address.clone(),
            amount: Amount("1".into()),
            token: "GAS".into(),
            data: None,
            wait: false,
        })
        .await
        .expect_err("no chain");
    assert_eq!((e.code.as_str(), e.status), ("chain_unavailable", 503));
    db.cleanup().await;
}
