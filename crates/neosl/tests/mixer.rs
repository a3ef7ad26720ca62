//! The Mixer on a real devnet through `neosl serve` and `slcli`: a request with two targets is
//! paid by ordinary transfers and delivered exactly, never from the address the user paid; its
//! CompletionProof verifies offline and on chain (a dispute is answered by the Mixer's proof and
//! the claim refused); a request the Mixer never served is disputed after its deadline and
//! compensated from the bond exactly once; forged and early disputes fault; bad requests are
//! refused with stable codes and nothing signed; deposits that do not fit (late, foreign, over
//! or under the plan) are sent back and reported.

mod common;

use common::{dev_key, dev_signer, neosl};

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use neosl_chain::signer::TxSigner;
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_contracts::Deployed;
use neosl_contracts::mixer::{self, RequestTerms};
use neosl_crypto::SecretKey;
use neosl_neo::param::ContractParameter as P;
use neosl_neo::{Address, UInt160, UInt256};
use neosl_testkit::TempDir;
use serde_json::{Value, json};

const GAS: i64 = 100_000_000;

struct Env {
    url: String,
    http: reqwest::Client,
    submitter: Submitter,
    deployed: Deployed,
    data_dir: std::path::PathBuf,
}

impl Env {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> common::Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        common::send(request).await
    }

    async fn request(&self, user: &UInt160, targets: &[(UInt160, &str)], option: i64) -> Value {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/mixer/request",
                Some(body(user, targets, option, now_secs())),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["data"].clone()
    }

    async fn status(&self, id: &str) -> Value {
        let answer = self
            .call(reqwest::Method::GET, &format!("/mixer/status/{id}"), None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["data"].clone()
    }

    async fn until_state(&self, id: &str, state: &str) -> Value {
        neosl_testkit::wait_until(
            Duration::from_secs(120),
            format_args!("request {id} to be {state}"),
            || async {
                let s = self.status(id).await;
                if std::env::var_os("MIXER_TEST_TRACE").is_some() {
                    eprintln!("{s}");
                }
                (s["state"] == state).then_some(s)
            },
        )
        .await
    }

    async fn gas_of(&self, account: &UInt160) -> i64 {
        let b = self
            .submitter
            .rpc()
            .get_nep17_balances(account)
            .await
            .expect("balances")
            .of(&neosl_neo::native::GAS);
        i64::try_from(&b).expect("fits")
    }

    /// Pays the deposit plan from `user` by ordinary transfers.
    async fn deposit(&self, user: Arc<dyn TxSigner>, created: &Value) -> Vec<UInt256> {
        let mut hashes = Vec::new();
        for d in created["deposits"].as_array().expect("deposits") {
            let to = Address::parse(d["address"].as_str().expect("address"))
                .expect("address")
                .script_hash();
            let amount = neosl_mixer::terms::parse_gas(d["amount"].as_str().expect("amount"))
                .expect("amount");
            hashes.push(self.transfer(user.clone(), &to, amount).await);
        }
        hashes
    }

    async fn transfer(&self, from: Arc<dyn TxSigner>, to: &UInt160, amount: i64) -> UInt256 {
        let script = neosl_neo::contract::nep17_transfer(
            &neosl_neo::native::GAS,
            &from.account(),
            to,
            &amount.into(),
            None,
        )
        .expect("script");
        let tx = self
            .submitter
            .build(script, &[SignerEntry::called_by_entry(from)], vec![])
            .await
            .expect("built");
        self.submitter.send(&tx).await.expect("sent");
        let outcome = self
            .submitter
            .wait(&tx, Duration::from_secs(60))
            .await
            .expect("included");
        assert_eq!(outcome.vm_state, "HALT");
        outcome.hash
    }

    /// Test-invokes a MixerService call as `signer`: the exception, if it faults.
    async fn would_fault(
        &self,
        signer: &Arc<dyn TxSigner>,
        method: &str,
        args: &[P],
    ) -> Option<String> {
        let mut sb = neosl_neo::script::ScriptBuilder::new();
        neosl_neo::contract::call(
            &mut sb,
            &self.deployed.mixer_service,
            method,
            neosl_neo::contract::CallFlags::ALL,
            args,
        )
        .expect("script");
        let result = self
            .submitter
            .rpc()
            .invoke_script(
                &sb.into_bytes(),
                &[neosl_neo::tx::Signer::called_by_entry(signer.account())],
            )
            .await
            .expect("invoked");
        (!result.halted()).then(|| result.exception.unwrap_or_default())
    }

    async fn fee_of(&self, tx: &UInt256) -> i64 {
        let tx = self
            .submitter
            .rpc()
            .get_raw_transaction(tx)
            .await
            .expect("tx");
        tx.system_fee + tx.network_fee
    }

    async fn dispute_state(&self, hash: &str) -> Option<i64> {
        let result = self
            .submitter
            .rpc()
            .invoke_function(
                &self.deployed.mixer_service,
                "getDispute",
                &[P::ByteArray(hex::decode(hash).expect("hex"))],
                &[],
            )
            .await
            .expect("read");
        result.stack[0]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|s| s.as_integer())
            .and_then(|n| i64::try_from(n).ok())
    }

    async fn chain_time(&self) -> i64 {
        let rpc = self.submitter.rpc();
        let height = rpc.get_block_count().await.expect("height") - 1;
        rpc.get_block(height).await.expect("block").time as i64
    }

    /// Waits until the chain's time is past `ms`.
    async fn until_chain_time(&self, ms: i64) {
        neosl_testkit::wait_until(
            Duration::from_secs(120),
            format_args!("chain time {ms}"),
            || async { (self.chain_time().await > ms).then_some(()) },
        )
        .await
    }

    fn slcli(&self, args: &[&str], wif: Option<&str>) -> (bool, String) {
        let config = self.data_dir.join("slcli.json");
        let mut command = Command::new(env!("CARGO_BIN_EXE_slcli"));
        command
            .args(args)
            .env("SLCLI_URL", &self.url)
            .env("SLCLI_CONFIG", &config)
            .env("SLCLI_RPC", common::devnet_rpc_url(&self.data_dir));
        if let Some(wif) = wif {
            command.env("SLCLI_WIF", wif);
        }
        let out = command.output().expect("slcli runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}

fn body(user: &UInt160, targets: &[(UInt160, &str)], option: i64, timestamp: i64) -> Value {
    json!({
        "version": 1,
        "user_address": Address::from_script_hash(*user).to_string(),
        "targets": targets.iter().map(|(t, a)| json!({"address": Address::from_script_hash(*t).to_string(), "amount": a})).collect::<Vec<_>>(),
        "mix_option": option,
        "timestamp": timestamp,
    })
}

fn fresh_address() -> UInt160 {
    Address::from_script_hash(UInt160::of_script(&neosl_neo::script::verification_script(
        &neosl_neo::PublicKey::from_slice(&SecretKey::generate().public_key().to_compressed())
            .expect("key"),
    )))
    .script_hash()
}

fn wif_of(key: &SecretKey) -> String {
    neosl_neo::address::wif_encode(key).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn mixes_deliver_exactly_and_disputes_are_paid_from_the_bond_once() {
    let dir = TempDir::new("neosl-mixer").expect("temp dir");
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
    let deployed: Deployed =
        serde_json::from_slice(&std::fs::read(data_dir.join("contracts.json")).expect("contracts"))
            .expect("json");
    // Windows ÷ 600: 30 min → 3 s; the grace (1 h ÷ 600) 6 s; deposits within 12 s.
    let config = dir.path().join("neosl.toml");
    std::fs::write(
        &config,
        "[gateway.rate_limits]\napi = { per_second = 1000.0, burst = 1000 }\npublic = { per_second = 1000.0, burst = 1000 }\n\n[mixer]\ntick_ms = 200\nwindow_divisor = 600\ngrace_ms = 3600000\ndeposit_window_ms = 7200000\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let args = ["--config", config.as_str()];
    let pool_env = [("NEOSL_POOL_TARGET_SIZE", "20")];
    let running = common::serve(&dir, &args, &pool_env).expect("serve");
    let env = Env {
        url: running.urls["gateway"].clone(),
        http: reqwest::Client::new(),
        submitter,
        deployed,
        data_dir: data_dir.clone(),
    };
    let alice_key = dev_key(&data_dir, "alice");
    let alice = dev_signer(&data_dir, "alice");
    let bob_key = dev_key(&data_dir, "bob");
    let bob = dev_signer(&data_dir, "bob");

    // /mixer/info: limits, the key, the bond.
    let info = env.call(reqwest::Method::GET, "/mixer/info", None).await;
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.body["data"].clone();
    assert_eq!(info["max_request"], "10000");
    assert_eq!(info["max_pool"], "100000");
    assert_eq!(info["bond"]["total"], 2_000 * GAS);
    let public_key = info["public_key"].as_str().expect("key").to_owned();

    // Bad requests: 4xx with stable codes, nothing signed or recorded.
    let t = fresh_address();
    let alice_hash = alice.account();
    let cases = [
        (
            body(&alice_hash, &[(t, "10001")], 1_800_000, now_secs()),
            "request_over_limit",
        ),
        (
            body(&alice_hash, &[(t, "0")], 1_800_000, now_secs()),
            "invalid_amount",
        ),
        (
            body(&alice_hash, &[(t, "-1")], 1_800_000, now_secs()),
            "invalid_amount",
        ),
        (
            body(&alice_hash, &[(t, "1")], 60_000, now_secs()),
            "invalid_mix_option",
        ),
        (
            body(&alice_hash, &[(t, "1")], 1_800_000, now_secs() + 86_400),
            "invalid_timestamp",
        ),
        (
            body(&alice_hash, &[], 1_800_000, now_secs()),
            "invalid_targets",
        ),
        (
            body(
                &alice_hash,
                &vec![(t, "1"); 17]
                    .iter()
                    .enumerate()
                    .map(|(i, _)| (UInt160::from_be_bytes([i as u8 + 1; 20]), "1"))
                    .collect::<Vec<_>>(),
                1_800_000,
                now_secs(),
            ),
            "invalid_targets",
        ),
        (
            json!({"version": 1, "user_address": "NotAnAddress", "targets": [{"address": Address::from_script_hash(t).to_string(), "amount": "1"}], "mix_option": 1_800_000, "timestamp": now_secs()}),
            "invalid_address",
        ),
        (
            json!({"version": 1, "user_address": Address::from_script_hash(alice_hash).to_string(), "targets": [{"address": "Nbad", "amount": "1"}], "mix_option": 1_800_000, "timestamp": now_secs()}),
            "invalid_address",
        ),
        (json!({"version": 1}), "invalid_request"),
    ];
    for (bad, code) in cases {
        let answer = env
            .call(reqwest::Method::POST, "/mixer/request", Some(bad.clone()))
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.body["code"], code, "{bad}");
    }
    let listed = env
        .call(reqwest::Method::GET, "/mixer/requests", None)
        .await;
    assert_eq!(
        listed.body["data"]["requests"].as_array().map(Vec::len),
        Some(0),
        "nothing recorded"
    );

    // A: two targets, paid exactly, never from the address the user paid.
    let (t1, t2) = (fresh_address(), fresh_address());
    let created = env
        .request(&alice_hash, &[(t1, "3"), (t2, "2.5")], 1_800_000)
        .await;
    let id_a = created["request_id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["public_key"],
        public_key.as_str(),
        "signed by the published key"
    );
    let proof_file = data_dir.join("request-a.json");
    std::fs::write(&proof_file, serde_json::to_vec(&created).expect("json")).expect("saved");
    let terms = RequestTerms::from_bytes(
        &hex::decode(created["request_bytes"].as_str().expect("present")).expect("present"),
    )
    .expect("the bytes decode");
    assert_eq!(terms.user, alice_hash);
    assert_eq!(terms.targets, vec![(t1, 3 * GAS), (t2, 250_000_000)]);
    assert_eq!(terms.contract, env.deployed.mixer_service);
    assert_eq!(terms.total, terms.net + terms.fee);
    // Before the deadline a dispute faults.
    let hash_a = created["request_hash"]
        .as_str()
        .expect("present")
        .to_owned();
    let dispute_args = |c: &Value, bytes: Option<Vec<u8>>, sig: Option<Vec<u8>>| {
        vec![
            P::ByteArray(bytes.unwrap_or_else(|| {
                hex::decode(c["request_bytes"].as_str().expect("present")).expect("present")
            })),
            P::ByteArray(
                hex::decode(c["request_hash"].as_str().expect("present")).expect("present"),
            ),
            P::ByteArray(sig.unwrap_or_else(|| {
                hex::decode(c["tee_signature"].as_str().expect("present")).expect("present")
            })),
        ]
    };
    let early = env
        .would_fault(&alice, "dispute", &dispute_args(&created, None, None))
        .await;
    assert!(
        early.as_deref().is_some_and(|e| e.contains("deadline")),
        "{early:?}"
    );
    let deposit_addresses: Vec<UInt160> = terms.deposits.iter().map(|d| d.0).collect();
    env.deposit(alice.clone(), &created).await;
    let delivered = env.until_state(&id_a, "delivered").await;
    assert_eq!(delivered["outcome"], "delivered");
    assert_eq!(
        env.gas_of(&t1).await,
        3 * GAS,
        "the first target receives exactly its amount"
    );
    assert_eq!(env.gas_of(&t2).await, 250_000_000, "the second too");
    for txid in delivered["txids"].as_array().expect("txids") {
        let tx = env
            .submitter
            .rpc()
            .get_raw_transaction(
                &UInt256::parse_display(txid.as_str().expect("present")).expect("present"),
            )
            .await
            .expect("tx");
        let sender = tx.signers[0].account;
        assert!(
            !deposit_addresses.contains(&sender),
            "a delivery came straight from a deposit address"
        );
        assert_ne!(sender, alice_hash);
    }
    // The CompletionProof verifies offline (slcli, with the key pinned from the RequestProof).
    let proof_path = proof_file.display().to_string();
    let (ok, out) = env.slcli(
        &["mixer", "proof", &id_a, "--request-proof", &proof_path],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("verified"), "{out}");
    let (ok, out) = env.slcli(
        &[
            "mixer",
            "proof",
            &id_a,
            "--public-key",
            &hex::encode(SecretKey::generate().public_key().to_compressed()),
        ],
        None,
    );
    assert!(!ok, "a proof checked against another key is refused: {out}");

    // Deposits that do not fit are sent back, less one transfer's allowance, and reported:
    // late (to A, already delivered), from someone else than the user (to C), more than the
    // plan (C), less than the plan by the deposit deadline (D).
    let stranger_key = SecretKey::generate();
    let stranger: Arc<dyn TxSigner> =
        Arc::new(neosl_chain::signer::LocalKeySigner::new(stranger_key));
    env.transfer(alice.clone(), &stranger.account(), 10 * GAS)
        .await;
    let allowance =
        neosl_mixer::terms::parse_gas(info["transfer_allowance"].as_str().expect("allowance"))
            .expect("amount");
    let deposit_a = terms.deposits[0].0;
    let mut stranger_spent = 0;
    let late = env.transfer(stranger.clone(), &deposit_a, GAS).await;
    stranger_spent += GAS + env.fee_of(&late).await;
    let created_c = env
        .request(&alice_hash, &[(fresh_address(), "1")], 1_800_000)
        .await;
    let id_c = created_c["request_id"].as_str().expect("id").to_owned();
    let deposit_c = Address::parse(
        created_c["deposits"][0]["address"]
            .as_str()
            .expect("address"),
    )
    .expect("address")
    .script_hash();
    let foreign = env.transfer(stranger.clone(), &deposit_c, GAS).await;
    stranger_spent += GAS + env.fee_of(&foreign).await;
    let planned_c =
        neosl_mixer::terms::parse_gas(created_c["deposits"][0]["amount"].as_str().expect("amount"))
            .expect("amount");
    env.transfer(alice.clone(), &deposit_c, planned_c + GAS / 2)
        .await;
    let refunded = env.until_state(&id_c, "refunded").await;
    assert_eq!(refunded["outcome"], "refunded");
    assert_eq!(refunded["reason"], "overpaid");
    let seen: Vec<&str> = refunded["deposits_seen"]
        .as_array()
        .expect("seen")
        .iter()
        .map(|d| d["disposition"].as_str().expect("disposition"))
        .collect();
    assert_eq!(seen, ["returned", "accepted"], "{refunded}");
    let refund_tx =
        UInt256::parse_display(refunded["txids"][0].as_str().expect("txid")).expect("hash");
    let refund = env
        .submitter
        .rpc()
        .get_application_log(&refund_tx)
        .await
        .expect("log");
    let paid_back = refund.executions[0]
        .notifications
        .iter()
        .filter_map(|n| neosl_gasbank::deposits::parse_transfer(&n.state))
        .find(|(_, to, _)| *to == alice_hash)
        .map(|(_, _, amount)| amount);
    assert_eq!(
        paid_back,
        Some(planned_c + GAS / 2 - allowance),
        "the user gets the deposit back less the refund's allowance"
    );
    let status_a = env.status(&id_a).await;
    assert!(
        status_a["deposits_seen"]
            .as_array()
            .expect("seen")
            .iter()
            .any(|d| d["disposition"] == "returned"
                && d["reason"].as_str().is_some_and(|r| r.contains("late"))),
        "{status_a}"
    );
    neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the stranger's deposits sent back",
        || async {
            (env.gas_of(&stranger.account()).await
                == 10 * GAS - stranger_spent + 2 * (GAS - allowance))
                .then_some(())
        },
    )
    .await;
    let created_d = env
        .request(&alice_hash, &[(fresh_address(), "2")], 1_800_000)
        .await;
    let id_d = created_d["request_id"].as_str().expect("id").to_owned();
    let deposit_d = Address::parse(
        created_d["deposits"][0]["address"]
            .as_str()
            .expect("address"),
    )
    .expect("address")
    .script_hash();
    env.transfer(alice.clone(), &deposit_d, GAS).await;
    let underpaid = env.until_state(&id_d, "refunded").await;
    assert_eq!(underpaid["reason"], "underpaid");

    // E: the user hands the Mixer signed deposits (slcli), which it broadcasts by itself.
    let t5 = fresh_address();
    let created_e = env.request(&alice_hash, &[(t5, "1.5")], 1_800_000).await;
    let id_e = created_e["request_id"].as_str().expect("id").to_owned();
    let file_e = data_dir.join("request-e.json");
    std::fs::write(&file_e, serde_json::to_vec(&created_e).expect("json")).expect("saved");
    let (ok, out) = env.slcli(
        &[
            "mixer",
            "pay",
            "--request-proof",
            &file_e.display().to_string(),
            "--hand-over",
        ],
        Some(&wif_of(&alice_key)),
    );
    assert!(ok, "{out}");
    let delivered_e = env.until_state(&id_e, "delivered").await;
    assert_eq!(
        delivered_e["presigned"][0]["state"], "sent",
        "{delivered_e}"
    );
    assert_eq!(env.gas_of(&t5).await, 150_000_000);

    // After the deadline the user disputes; the Mixer answers with its proof and the claim is
    // refused.
    env.until_chain_time(created["deadline"].as_i64().expect("present"))
        .await;
    let (ok, out) = env.slcli(
        &["mixer", "dispute", "--request-proof", &proof_path],
        Some(&wif_of(&alice_key)),
    );
    assert!(ok, "{out}");
    neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the Mixer's proof on chain",
        || async { (env.dispute_state(&hash_a).await == Some(mixer::state::PROVED)).then_some(()) },
    )
    .await;
    let refused = env
        .would_fault(
            &alice,
            "claimCompensation",
            &[P::ByteArray(hex::decode(&hash_a).expect("present"))],
        )
        .await;
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("proved")),
        "{refused:?}"
    );
    // Asking the Mixer to prove again answers the one submission, confirmed.
    neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the proof's submission confirmed",
        || async {
            let again = env
                .call(
                    reqwest::Method::POST,
                    &format!("/mixer/request/{id_a}/dispute"),
                    None,
                )
                .await;
            assert_eq!(again.status, 200, "{}", again.body);
            (again.body["data"]["state"] == "confirmed").then_some(())
        },
    )
    .await;

    // B: the Mixer stops once the request is accepted; the user deposits anyway, disputes
    // after the deadline and, after the grace, is paid the total from the bond once.
    let t3 = fresh_address();
    let created_b = env.request(&bob.account(), &[(t3, "4")], 1_800_000).await;
    let id_b = created_b["request_id"]
        .as_str()
        .expect("present")
        .to_owned();
    let file_b = data_dir.join("request-b.json");
    std::fs::write(&file_b, serde_json::to_vec(&created_b).expect("present")).expect("present");
    let file_b = file_b.display().to_string();
    common::kill_9(running);
    env.deposit(bob.clone(), &created_b).await;
    let total_b = neosl_mixer::terms::parse_gas(created_b["total"].as_str().expect("present"))
        .expect("present");
    // Forged, altered and foreign-key disputes fault, and so does one by another account.
    let mut altered =
        hex::decode(created_b["request_bytes"].as_str().expect("present")).expect("present");
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let forged = SecretKey::generate()
        .sign(&mixer::request_message(
            &<[u8; 32]>::try_from(
                hex::decode(created_b["request_hash"].as_str().expect("present")).expect("present"),
            )
            .expect("present"),
        ))
        .expect("present")
        .to_bytes()
        .to_vec();
    env.until_chain_time(created_b["deadline"].as_i64().expect("present"))
        .await;
    let fault = env
        .would_fault(
            &bob,
            "dispute",
            &dispute_args(&created_b, Some(altered), None),
        )
        .await;
    assert!(
        fault.as_deref().is_some_and(|e| e.contains("do not match")),
        "{fault:?}"
    );
    let fault = env
        .would_fault(
            &bob,
            "dispute",
            &dispute_args(&created_b, None, Some(forged)),
        )
        .await;
    assert!(
        fault
            .as_deref()
            .is_some_and(|e| e.contains("bad TEE signature")),
        "{fault:?}"
    );
    let fault = env
        .would_fault(&alice, "dispute", &dispute_args(&created_b, None, None))
        .await;
    assert!(
        fault
            .as_deref()
            .is_some_and(|e| e.contains("only the user")),
        "{fault:?}"
    );
    let bob_wif = wif_of(&bob_key);
    let (ok, out) = env.slcli(
        &["mixer", "dispute", "--request-proof", &file_b],
        Some(&bob_wif),
    );
    assert!(ok, "{out}");
    let (ok, out) = env.slcli(
        &["mixer", "claim", "--request-proof", &file_b],
        Some(&bob_wif),
    );
    assert!(
        !ok && out.contains("grace"),
        "a claim before the grace is refused: {out}"
    );
    let disputed_at = env.chain_time().await;
    env.until_chain_time(disputed_at + 6_000).await;
    let before = env.gas_of(&bob.account()).await;
    let (ok, out) = env.slcli(
        &["mixer", "claim", "--request-proof", &file_b],
        Some(&bob_wif),
    );
    assert!(ok, "{out}");
    let after = env.gas_of(&bob.account()).await;
    assert!(
        after - before > total_b - GAS / 2 && after - before < total_b,
        "bob receives the total less the claim's fees: {}",
        after - before
    );
    assert_eq!(
        env.dispute_state(created_b["request_hash"].as_str().expect("present"))
            .await,
        Some(mixer::state::CLAIMED)
    );
    let (ok, out) = env.slcli(
        &["mixer", "claim", "--request-proof", &file_b],
        Some(&bob_wif),
    );
    assert!(!ok && out.contains("already compensated"), "{out}");
    let bond: Value = serde_json::to_value(
        env.submitter
            .rpc()
            .invoke_function(&env.deployed.mixer_service, "getBond", &[], &[])
            .await
            .expect("present")
            .stack[0]
            .as_array()
            .expect("present")
            .iter()
            .map(|i| i64::try_from(i.as_integer().expect("present")).expect("present"))
            .collect::<Vec<_>>(),
    )
    .expect("present");
    assert_eq!(bond[0], 2_000 * GAS - total_b, "the bond paid it");
    assert_eq!(bond[1], 0, "nothing stays locked");

    // Back up, the Mixer sees the deposit and the compensation: it delivers nothing.
    let running = common::serve(&dir, &args, &pool_env).expect("serve again");
    let env = Env {
        url: running.urls["gateway"].clone(),
        ..env
    };
    env.until_state(&id_b, "compensated").await;
    assert_eq!(
        env.gas_of(&t3).await,
        0,
        "a compensated request is not delivered too"
    );
    running.stop();
}
