use std::collections::BTreeSet;
use std::time::Duration;

use neosl_accountpool::PoolConfig;
use neosl_accountpool_api::*;
use neosl_neo::tx::sign_data;
use neosl_neo::{PublicKey, Signature, UInt256};

use neosl_testkit::on_both_backends;

use crate::common::{NETWORK, TestDb, client, config, pool_on, pool_with_clock};

fn request(count: u32) -> RequestAccounts {
    RequestAccounts {
        service_id: None,
        count,
        purpose: "tests".into(),
    }
}

fn code<T: std::fmt::Debug>(r: PoolResult<T>) -> (String, u16) {
    let e = r.expect_err("should be refused");
    (e.code, e.status)
}

async fn request_and_release(db: &TestDb) {
    let pool = pool_on(db, config(20, 100), None).await;
    let mixer = client(&pool, "mixer");
    let other = client(&pool, "automation");
    assert_eq!(
        code(mixer.request_accounts(request(0)).await),
        ("count_out_of_range".into(), 400)
    );
    assert_eq!(
        code(mixer.request_accounts(request(101)).await),
        ("count_out_of_range".into(), 400)
    );

    let first = mixer.request_accounts(request(5)).await.expect("granted");
    assert_eq!(first.accounts.len(), 5);
    for a in &first.accounts {
        assert_eq!(a.locked_by.as_deref(), Some("mixer"));
        assert_eq!(a.lock_id.as_deref(), Some(first.lock_id.as_str()));
        assert_eq!(
            a.balances
                .iter()
                .map(|b| b.token_type.as_str())
                .collect::<Vec<_>>(),
            ["GAS", "NEO"]
        );
        assert_eq!(
            neosl_neo::Address::parse(&a.address)
                .expect("address")
                .script_hash()
                .to_string(),
            a.script_hash
        );
    }
    let second = other.request_accounts(request(5)).await.expect("granted");
    let ids = |g: &LockGrant| {
        g.accounts
            .iter()
            .map(|a| a.id.clone())
            .collect::<BTreeSet<_>>()
    };
    assert!(ids(&first).is_disjoint(&ids(&second)));

    // Releasing someone else's lock or accounts is refused, and changes nothing.
    let theirs = ReleaseAccounts {
        lock_id: Some(second.lock_id.clone()),
        ..Default::default()
    };
    assert_eq!(
        code(mixer.release_accounts(theirs).await).0,
        "not_locked_by_caller"
    );
    let mixed = ReleaseAccounts {
        account_ids: Some(vec![
            first.accounts[0].id.clone(),
            second.accounts[0].id.clone(),
        ]),
        ..Default::default()
    };
    assert_eq!(
        code(mixer.release_accounts(mixed).await).0,
        "not_locked_by_caller"
    );
    assert_eq!(
        mixer
            .accounts(AccountsQuery::default())
            .await
            .expect("list")
            .accounts
            .len(),
        5,
        "nothing released"
    );
    let unknown = ReleaseAccounts {
        lock_id: Some("00000000-0000-4000-8000-000000000000".into()),
        ..Default::default()
    };
    assert_eq!(
        code(mixer.release_accounts(unknown).await),
        ("unknown_lock".into(), 404)
    );
    let neither = ReleaseAccounts::default();
    assert_eq!(
        code(mixer.release_accounts(neither).await).0,
        "invalid_request"
    );

    // By ids, by lock, everything.
    let some = ReleaseAccounts {
        account_ids: Some(vec![first.accounts[0].id.clone()]),
        ..Default::default()
    };
    assert_eq!(
        mixer
            .release_accounts(some)
            .await
            .expect("released")
            .released,
        1
    );
    let by_lock = ReleaseAccounts {
        lock_id: Some(first.lock_id.clone()),
        ..Default::default()
    };
    assert_eq!(
        mixer
            .release_accounts(by_lock)
            .await
            .expect("released")
            .released,
        4
    );
    assert!(
        mixer
            .accounts(AccountsQuery::default())
            .await
            .expect("list")
            .accounts
            .is_empty()
    );
    let all = ReleaseAccounts {
        all: Some(true),
        ..Default::default()
    };
    assert_eq!(
        other
            .release_accounts(all)
            .await
            .expect("released")
            .released,
        5
    );

    // Least recently used first: the 10 just released are the last choice.
    let used: BTreeSet<String> = ids(&first).union(&ids(&second)).cloned().collect();
    let next = mixer.request_accounts(request(10)).await.expect("granted");
    assert!(
        ids(&next).is_disjoint(&used),
        "never-used accounts come first"
    );

    // The body's service_id cannot override the caller.
    let spoof = RequestAccounts {
        service_id: Some("gateway".into()),
        count: 1,
        purpose: String::new(),
    };
    assert_eq!(
        code(mixer.request_accounts(spoof).await),
        ("identity_mismatch".into(), 403)
    );
}

async fn signing(db: &TestDb) {
    let pool = pool_on(db, config(10, 50), None).await;
    let mixer = client(&pool, "mixer");
    let other = client(&pool, "automation");
    let grant = mixer.request_accounts(request(3)).await.expect("granted");
    let account = &grant.accounts[0];
    let hash = UInt256::from_le_bytes([7; 32]);
    let signed = mixer
        .sign(SignRequest {
            service_id: None,
            account_id: account.id.clone(),
            tx_hash: hash.to_string(),
        })
        .await
        .expect("signed");
    assert_eq!(signed.public_key, account.public_key);
    let key = PublicKey::from_slice(&hex::decode(&signed.public_key).expect("hex")).expect("key");
    let sig =
        Signature::from_slice(&hex::decode(&signed.signature).expect("hex")).expect("64 bytes");
    assert!(
        key.verify(&sign_data(NETWORK, &hash), &sig),
        "Neo sign data: magic ‖ hash"
    );
    assert!(sig.is_low_s());
    use base64::Engine as _;
    let verification = base64::engine::general_purpose::STANDARD
        .decode(&signed.witness.verification)
        .expect("b64");
    assert_eq!(
        neosl_neo::UInt160::of_script(&verification).to_string(),
        account.script_hash
    );

    let sign = |who: &std::sync::Arc<dyn AccountPoolApi>, id: &str, h: &str| {
        let who = who.clone();
        let req = SignRequest {
            service_id: None,
            account_id: id.into(),
            tx_hash: h.into(),
        };
        async move { who.sign(req).await }
    };
    assert_eq!(
        code(sign(&other, &account.id, &hash.to_string()).await),
        ("not_locked_by_caller".into(), 403)
    );
    assert_eq!(
        code(
            sign(
                &mixer,
                "00000000-0000-4000-8000-000000000000",
                &hash.to_string()
            )
            .await
        ),
        ("unknown_account".into(), 404)
    );
    for bad in [
        "0x1234",
        "07".repeat(32).as_str(),
        &format!("0x{}", "zz".repeat(32)),
    ] {
        assert_eq!(
            code(sign(&mixer, &account.id, bad).await),
            ("malformed_hash".into(), 400),
            "{bad}"
        );
    }
    // Batch: good items signed, bad items carry their own errors.
    let unlocked = other
        .request_accounts(request(1))
        .await
        .expect("granted")
        .accounts[0]
        .id
        .clone();
    let mut items: Vec<BatchItem> = (0..6u8)
        .map(|i| BatchItem {
            account_id: grant.accounts[(i % 3) as usize].id.clone(),
            tx_hash: UInt256::from_le_bytes([i; 32]).to_string(),
        })
        .collect();
    items.push(BatchItem {
        account_id: unlocked,
        tx_hash: hash.to_string(),
    });
    items.push(BatchItem {
        account_id: account.id.clone(),
        tx_hash: "0xnope".into(),
    });
    let batch = mixer
        .batch_sign(BatchSignRequest {
            service_id: None,
            requests: items.clone(),
        })
        .await
        .expect("batch");
    assert_eq!(batch.results.len(), 8);
    for (i, r) in batch.results.iter().enumerate() {
        assert_eq!(r.index, i);
        if i < 6 {
            let s = r.signed.as_ref().expect("signed");
            let key =
                PublicKey::from_slice(&hex::decode(&s.public_key).expect("hex")).expect("key");
            let sig = Signature::from_slice(&hex::decode(&s.signature).expect("hex")).expect("sig");
            assert!(key.verify(
                &sign_data(NETWORK, &UInt256::from_le_bytes([i as u8; 32])),
                &sig
            ));
        }
    }
    assert_eq!(
        batch.results[6].code.as_deref(),
        Some("not_locked_by_caller")
    );
    assert_eq!(batch.results[7].code.as_deref(), Some("malformed_hash"));
    let too_many = BatchSignRequest {
        service_id: None,
        requests: vec![items[0].clone(); 1001],
    };
    assert_eq!(code(mixer.batch_sign(too_many).await).0, "invalid_request");

    // Every signature is in the audit.
    let audit = pool
        .store()
        .audit(Some(&account.id), None, None, 100)
        .await
        .expect("audit");
    assert_eq!(
        audit.iter().filter(|e| e.kind == "sign").count(),
        1 + 2,
        "one /sign and two batch items"
    );
    assert!(audit.iter().all(|e| e.service_id == "mixer"));
}

async fn balances(db: &TestDb) {
    let pool = pool_on(db, config(10, 50), None).await;
    let mixer = client(&pool, "mixer");
    let other = client(&pool, "automation");
    let grant = mixer.request_accounts(request(2)).await.expect("granted");
    let id = grant.accounts[0].id.clone();
    let update = |token: &str, delta: Option<&str>, absolute: Option<&str>| BalanceUpdate {
        service_id: None,
        account_id: id.clone(),
        token: token.into(),
        delta: delta.map(|d| Amount(d.into())),
        absolute: absolute.map(|a| Amount(a.into())),
    };
    assert_eq!(
        mixer
            .update_balance(update("GAS", Some("150"), None))
            .await
            .expect("ok")
            .tracked,
        "150"
    );
    assert_eq!(
        mixer
            .update_balance(update("gas", Some("-50"), None))
            .await
            .expect("ok")
            .tracked,
        "100"
    );
    assert_eq!(
        code(
            mixer
                .update_balance(update("GAS", Some("-101"), None))
                .await
        ),
        ("insufficient_balance".into(), 409)
    );
    assert_eq!(
        code(
            mixer
                .update_balance(update("GAS", Some("9223372036854775807"), None))
                .await
        )
        .0,
        "amount_out_of_range"
    );
    assert_eq!(
        code(mixer.update_balance(update("GAS", None, Some("-1"))).await).0,
        "insufficient_balance"
    );
    assert_eq!(
        code(
            mixer
                .update_balance(update("GAS", Some("1"), Some("1")))
                .await
        )
        .0,
        "invalid_request"
    );
    assert_eq!(
        code(mixer.update_balance(update("GAS", Some("1.5"), None)).await).0,
        "invalid_request"
    );
    assert_eq!(
        code(mixer.update_balance(update("BTC", Some("1"), None)).await).0,
        "invalid_request"
    );
    assert_eq!(
        code(other.update_balance(update("GAS", Some("1"), None)).await).0,
        "not_locked_by_caller"
    );
    // Any NEP-17 token by hash.
    let token = "0x1111111111111111111111111111111111111111";
    let custom = mixer
        .update_balance(update(token, None, Some("7")))
        .await
        .expect("ok");
    assert_eq!(
        (custom.token_type.as_str(), custom.tracked.as_str()),
        (token, "7")
    );
    // Filters by token and minimum.
    let q = |min: &str| AccountsQuery {
        service_id: None,
        token: Some("GAS".into()),
        min_balance: Some(min.into()),
    };
    assert_eq!(
        mixer.accounts(q("100")).await.expect("list").accounts.len(),
        1
    );
    assert_eq!(
        mixer.accounts(q("101")).await.expect("list").accounts.len(),
        0
    );
    assert_eq!(
        mixer.accounts(q("0")).await.expect("list").accounts.len(),
        2
    );
    assert_eq!(
        mixer
            .accounts(AccountsQuery::default())
            .await
            .expect("list")
            .accounts
            .len(),
        2
    );
    let info = serde_json::to_value(pool.pool_info().await.expect("info")).expect("json");
    let gas = info["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["token_type"] == "GAS")
        .expect("gas")
        .clone();
    assert_eq!(
        (
            gas["tracked"].as_str(),
            gas["locked"].as_str(),
            gas["available"].as_str()
        ),
        (Some("100"), Some("100"), Some("0"))
    );
}

async fn growth_expiry_and_rotation(db: &TestDb) {
    let mut cfg: PoolConfig = config(5, 12);
    cfg.lock_ttl = Duration::from_millis(400);
    cfg.rotation_min_age = Duration::ZERO;
    cfg.rotation_interval = Duration::from_millis(1);
    let clock = neosl_runtime::clock::ManualClock::starting_now();
    let pool = pool_with_clock(db, cfg, None, clock.clone()).await;
    let mixer = client(&pool, "mixer");
    let other = client(&pool, "automation");
    // Asking for more than are free grows the pool, up to its maximum.
    let big = mixer
        .request_accounts(request(10))
        .await
        .expect("the pool grows");
    assert_eq!(big.accounts.len(), 10);
    assert_eq!(
        code(other.request_accounts(request(3)).await),
        ("pool_exhausted".into(), 503)
    );
    assert_eq!(pool.store().count_all().await.expect("count"), 12);
    // An expired lock cannot sign; the sweeper frees it; others may then take the account.
    clock.advance(Duration::from_millis(500));
    let req = SignRequest {
        service_id: None,
        account_id: big.accounts[0].id.clone(),
        tx_hash: UInt256::ZERO.to_string(),
    };
    assert_eq!(code(mixer.sign(req).await), ("lock_expired".into(), 409));
    assert_eq!(pool.sweep().await.expect("sweep"), 10);
    assert!(
        mixer
            .accounts(AccountsQuery::default())
            .await
            .expect("list")
            .accounts
            .is_empty()
    );
    let after = other
        .request_accounts(request(12))
        .await
        .expect("all free again");
    assert_eq!(after.accounts.len(), 12);
    other
        .release_accounts(ReleaseAccounts {
            all: Some(true),
            ..Default::default()
        })
        .await
        .expect("release");
    // Rotation marks 10% of active, unlocked, old-enough accounts retiring; they are never allocated.
    let marked = pool.rotate_if_due().await.expect("rotation");
    assert_eq!(marked, 1, "10% of 12 active accounts");
    let info = serde_json::to_value(pool.pool_info().await.expect("info")).expect("json");
    assert_eq!(info["retiring"], 1);
    let grant = mixer
        .request_accounts(request(11))
        .await
        .expect("eleven active remain");
    assert!(grant.accounts.iter().all(|a| a.status == "active"));
    assert_eq!(
        code(other.request_accounts(request(1)).await).0,
        "pool_exhausted",
        "the retiring one is never handed out"
    );
}

async fn master_key_and_info(db: &TestDb) {
    let pool = pool_on(db, config(8, 50), None).await;
    let info = serde_json::to_value(pool.master_key_info()).expect("json");
    let expected = neosl_crypto::kdf::master_public_key(&crate::common::master()).expect("derive");
    assert_eq!(info["public_key"], expected.to_string());
    assert_eq!(
        info["public_key_sha256"],
        hex::encode(neosl_crypto::hash::sha256(&expected.to_compressed()))
    );
    assert_eq!(info["simulation"], true);
    assert_eq!(info["attestation"]["attested"], false);
    let text = info.to_string();
    assert!(
        !text.contains(&hex::encode([0x5a; 32])),
        "no master key material"
    );
    let pool_info = serde_json::to_value(pool.pool_info().await.expect("info")).expect("json");
    assert_eq!(
        (pool_info["total"].as_i64(), pool_info["active"].as_i64()),
        (Some(8), Some(8))
    );
    // The pool can be rebuilt from the master key and the ids alone.
    let accounts = pool.store().accounts_by_id(&[]).await.expect("empty");
    assert!(accounts.is_empty());
}

/// One audit record per (batch, account), chained per service: a 1,000-hash batch over 100
/// accounts writes 100 records; every hash is still found (who, when); altering or deleting a
/// record makes the verification name it.
async fn the_audit_is_a_chain_of_one_record_per_batch_and_account(db: &TestDb) {
    let pool = pool_on(db, config(100, 200), None).await;
    let mixer = client(&pool, "mixer");
    let grant = mixer.request_accounts(request(100)).await.expect("granted");
    let items: Vec<BatchItem> = (0..1000u32)
        .map(|i| BatchItem {
            account_id: grant.accounts[(i % 100) as usize].id.clone(),
            tx_hash: UInt256::from_le_bytes(neosl_crypto::hash::sha256(&i.to_le_bytes()))
                .to_string(),
        })
        .collect();
    let batch = mixer
        .batch_sign(BatchSignRequest {
            service_id: None,
            requests: items.clone(),
        })
        .await
        .expect("batch");
    assert!(batch.results.iter().all(|r| r.signed.is_some()));
    let store = pool.store();
    let records: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM pool_audit_records WHERE service_id = 'mixer'",
    )
    .fetch_one(store.database().pool())
    .await
    .expect("count");
    assert_eq!(records, 100, "one record per (batch, account)");
    let who = store
        .audit(None, None, Some(&items[517].tx_hash), 10)
        .await
        .expect("audit");
    assert_eq!(who.len(), 1);
    assert_eq!(
        (who[0].service_id.as_str(), who[0].account_id.as_str()),
        ("mixer", items[517].account_id.as_str())
    );
    let key = neosl_accountpool::store::audit_key(&crate::common::master()).expect("key");
    let counts = store
        .verify_audit(Some(key.expose()))
        .await
        .expect("read")
        .expect("intact");
    assert_eq!(counts.len(), 1, "one chain: this pool instance's for mixer");
    assert!(
        counts[0].0.starts_with("mixer@") && counts[0].1 == 100,
        "{counts:?}"
    );
    // A second key (another pool) does not verify the MACs.
    let other = neosl_crypto::SecretBytes::from_slice(&[9; 32]);
    assert!(
        store
            .verify_audit(Some(other.expose()))
            .await
            .expect("read")
            .is_err()
    );
    // Altered: one hash of record 40.
    let db_pool = store.database().pool();
    let hashes: String = sqlx::query_scalar(
        "SELECT hashes FROM pool_audit_records WHERE service_id = 'mixer' AND seq = 40",
    )
    .fetch_one(db_pool)
    .await
    .expect("record");
    let altered = hashes.replacen('1', "2", 1);
    sqlx::query(
        "UPDATE pool_audit_records SET hashes = $1 WHERE service_id = 'mixer' AND seq = 40",
    )
    .bind(&altered)
    .execute(db_pool)
    .await
    .expect("alter");
    let broken = store
        .verify_audit(None)
        .await
        .expect("read")
        .expect_err("altered");
    assert_eq!(
        (broken.chain_id.starts_with("mixer@"), broken.seq),
        (true, 40),
        "{broken}"
    );
    sqlx::query(
        "UPDATE pool_audit_records SET hashes = $1 WHERE service_id = 'mixer' AND seq = 40",
    )
    .bind(&hashes)
    .execute(db_pool)
    .await
    .expect("restore");
    // Deleted: one in the middle, then the newest.
    for seq in [63, 100] {
        sqlx::query("DELETE FROM pool_audit_records WHERE service_id = 'mixer' AND seq = $1")
            .bind(seq)
            .execute(db_pool)
            .await
            .expect("delete");
        let broken = store
            .verify_audit(Some(key.expose()))
            .await
            .expect("read")
            .expect_err("deleted");
        assert_eq!(broken.seq, 63, "{broken}");
    }
}

on_both_backends!(
    the_audit_is_a_chain_of_one_record_per_batch_and_account,
    request_and_release,
    signing,
    balances,
    growth_expiry_and_rotation,
    master_key_and_info,
);

/// A live lock can be renewed by its holder, never by another service, and never once expired.
async fn renewing_keeps_a_lock_alive(db: &TestDb) {
    let mut cfg: PoolConfig = config(5, 10);
    cfg.lock_ttl = Duration::from_millis(400);
    let clock = neosl_runtime::clock::ManualClock::starting_now();
    let pool = pool_with_clock(db, cfg, None, clock.clone()).await;
    let holder = client(&pool, "onchain");
    let other = client(&pool, "mixer");
    let grant = holder.request_accounts(request(1)).await.expect("granted");
    let renew = |lock_id: &str| RenewLock {
        service_id: None,
        lock_id: lock_id.to_owned(),
    };
    clock.advance(Duration::from_millis(300));
    let renewed = holder
        .renew_lock(renew(&grant.lock_id))
        .await
        .expect("renewed");
    assert!(renewed.expires_at > grant.expires_at);
    assert_eq!(renewed.accounts.len(), 1);
    assert_eq!(
        code(other.renew_lock(renew(&grant.lock_id)).await),
        ("not_locked_by_caller".into(), 403)
    );
    assert_eq!(
        code(holder.renew_lock(renew("no-such-lock")).await),
        ("unknown_lock".into(), 404)
    );
    // Still held 300 ms later (it would have expired without the renewal).
    clock.advance(Duration::from_millis(300));
    let sign = SignRequest {
        service_id: None,
        account_id: grant.accounts[0].id.clone(),
        tx_hash: UInt256::ZERO.to_string(),
    };
    holder.sign(sign.clone()).await.expect("still held");
    clock.advance(Duration::from_millis(500));
    assert_eq!(
        code(holder.renew_lock(renew(&grant.lock_id)).await),
        ("lock_expired".into(), 409)
    );
    assert_eq!(code(holder.sign(sign).await), ("lock_expired".into(), 409));
}

on_both_backends!(renewing_keeps_a_lock_alive);
