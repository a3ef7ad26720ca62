//! A contract asks for randomness on a real devnet and gets it back in its callback, through
//! the commands a new user runs: `neosl devnet` (contracts deployed), `neosl serve` (which finds
//! that devnet by itself), `neosl devnet invoke`. Then every way a request can go wrong, seen
//! through the gateway's `/onchain/requests`.

mod common;

use common::neosl;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use neosl_contracts::Deployed;
use neosl_contracts::vrf::VrfResult;
use neosl_gasbank::{GasBank, Owner};
use neosl_neo::UInt160;
use neosl_neo::param::ContractParameter as P;
use neosl_runtime::db::Database;
use neosl_testkit::TempDir;
use num_bigint::BigInt;
use serde_json::{Value, json};

/// The WIF of development account `name`.
fn dev_wif(data_dir: &Path, name: &str) -> String {
    let accounts: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(data_dir.join("devnet/accounts.json")).expect("accounts"),
    )
    .expect("json");
    accounts
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["wif"].as_str())
        .unwrap_or_else(|| panic!("no account {name}"))
        .to_owned()
}

fn rpc_url(data_dir: &Path) -> String {
    serde_json::from_slice::<Value>(
        &std::fs::read(data_dir.join("devnet/devnet.json")).expect("devnet.json"),
    )
    .expect("json")["rpc_url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// `requestRandom(words)` on `consumer`, built, signed and sent by neo-mamba.
fn mamba_request(rpc: &str, consumer: &UInt160, wif: &str, words: u32) -> Value {
    let tools = neosl_testkit::python_tools().expect("python tools");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onchain/request_with_mamba.py");
    let mut child = Command::new(tools.python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = json!({"rpc": rpc, "contract": consumer.to_string(), "wif": wif, "words": words});
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        input.to_string().as_bytes(),
    )
    .expect("write");
    let out = child.wait_with_output().expect("finishes");
    assert!(
        out.status.success(),
        "neo-mamba: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

struct Gateway {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Gateway {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = common::with_auth(
            self.http.request(method, format!("{}{path}", self.url)),
            &self.token,
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = common::send(request).await;
        assert!(
            answer.status < 300,
            "{path}: {} {}",
            answer.status,
            answer.body
        );
        answer.body["data"].clone()
    }

    /// Runs `slcli` as this user; what it printed.
    fn slcli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_slcli"))
            .args(args)
            .env("SLCLI_URL", &self.url)
            .env("SLCLI_TOKEN", &self.token)
            .env_remove("SLCLI_API_KEY")
            .output()
            .expect("slcli runs");
        assert!(
            out.status.success(),
            "slcli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    async fn request(&self, id: u64) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/onchain/requests/{id}"),
            None,
        )
        .await
    }

    /// Waits until request `id` is in `status`.
    async fn until_status(&self, id: u64, status: &str) -> Value {
        neosl_testkit::wait_until(
            Duration::from_secs(60),
            format_args!("request {id} to be {status}"),
            || async {
                let request = self.request_or_none(id).await?;
                (request["status"] == status).then_some(request)
            },
        )
        .await
    }

    async fn request_or_none(&self, id: u64) -> Option<Value> {
        let request = common::with_auth(
            self.http.get(format!("{}/onchain/requests/{id}", self.url)),
            &self.token,
        );
        let answer = common::send(request).await;
        (answer.status == 200).then(|| answer.body["data"].clone())
    }

    async fn pay_contract(&self, contract: &UInt160, amount: i64, reference: &str) {
        self.call(
            reqwest::Method::POST,
            "/api/v1/gasbank/pay-contract",
            Some(
                json!({"contract": contract.to_string(), "amount": amount, "reference": reference}),
            ),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_gets_verifiable_randomness_in_its_callback_and_failures_are_visible() {
    let dir = TempDir::new("neosl-onchain").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    let printed = neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "300"],
    );
    assert!(printed.contains("ServiceLayerGateway"), "{printed}");
    let deployed: Deployed = serde_json::from_slice(
        &std::fs::read(data_dir.join(Deployed::FILE)).expect("contracts.json"),
    )
    .expect("json");

    // `neosl serve` finds the devnet of its data directory by itself.
    // The operator wants 2000 GAS in the treasury; `neosl devnet` put 1000 there.
    let config = dir.path().join("neosl.toml");
    std::fs::write(&config, "[gateway]\ntreasury_low_gas = 200000000000\n").expect("config");
    let config = config.display().to_string();
    let running = common::serve(
        &dir,
        &["--config", &config],
        &[("NEOSL_POOL_TARGET_SIZE", "10")],
    )
    .expect("serve");
    let http = reqwest::Client::new();
    let url = running.urls["gateway"].clone();
    let ready = neosl_testkit::wait_until(
        Duration::from_secs(30),
        "the treasury warning in /ready",
        || async {
            let ready: Value = http
                .get(format!("{url}/ready"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            ready["warnings"]
                .as_array()?
                .iter()
                .any(|w| w["check"] == "treasury")
                .then_some(ready)
        },
    )
    .await;
    assert_eq!(
        ready["status"], "ready",
        "a warning, not a failure: {ready}"
    );
    assert!(
        running.log_text().contains("treasury runs low"),
        "and a warning in the log"
    );
    let token = common::register(&http, &url, "dapp@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let gw = Gateway { url, token, http };
    let data_dir_text = data_dir.display().to_string();
    common::dev_credit(
        "dapp@example.org",
        100_000_000,
        &[("NEOSL_DATA_DIR", &data_dir_text)],
    );
    let consumer = deployed.example_consumer;
    gw.pay_contract(&consumer, 1_000_000, "fund-consumer").await;
    let contracts = gw
        .call(reqwest::Method::GET, "/onchain/contracts", None)
        .await;
    assert_eq!(contracts["gateway"], deployed.gateway.to_string());

    // The dApp's transaction asks for three words; the callback stores them.
    let id = common::request_id_of(&neosl(
        &data_dir,
        &[
            "devnet",
            "invoke",
            "--from",
            "alice",
            "ExampleConsumer",
            "requestRandom",
            "int:3",
        ],
    ));
    let done = gw.until_status(id, "fulfilled").await;
    assert!(done["fulfil_tx"].as_str().is_some(), "{done}");
    assert_eq!(done["fee"], 100_000);
    let rpc = neosl_chain::RpcClient::single(
        serde_json::from_slice::<Value>(
            &std::fs::read(data_dir.join("devnet/devnet.json")).expect("devnet.json"),
        )
        .expect("json")["rpc_url"]
            .as_str()
            .expect("url")
            .to_owned(),
    )
    .expect("rpc");
    let read = |contract: UInt160, method: &'static str, id: u64| {
        let rpc = rpc.clone();
        async move {
            neosl::contracts::read(&rpc, &contract, method, &[P::Integer(BigInt::from(id))])
                .await
                .expect(method)
        }
    };
    let words: Vec<[u8; 32]> = read(consumer, "getRandom", id)
        .await
        .as_array()
        .expect("words")
        .iter()
        .map(|w| {
            w.as_bytes()
                .and_then(|b| b.try_into().ok())
                .expect("32 bytes")
        })
        .collect();
    assert_eq!(words.len(), 3);
    // They verify from chain data alone: the input the VRF contract fixed, the proof the gateway
    // keeps, the service's public key.
    let alpha = read(deployed.vrf_service, "getInput", id)
        .await
        .as_bytes()
        .expect("alpha");
    let stored =
        neosl_contracts::gateway::stored_request(&read(deployed.gateway, "getRequest", id).await)
            .expect("stored");
    let result = VrfResult::from_bytes(&stored.result).expect("result");
    assert_eq!(result.words, words);
    let key_hex = gw.call(reqwest::Method::GET, "/vrf/public-key", None).await["public_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let key =
        neosl_crypto::PublicKey::from_slice(&hex::decode(key_hex).expect("hex")).expect("key");
    assert!(
        neosl_crypto::vrf::verify_random_words(&key, &alpha, &result.proof, &words)
            .expect("verifies")
            .is_some()
    );
    // The contract's GasBank account paid the VRF fee exactly once.
    let bank = GasBank::open(
        Database::connect_unshared(&format!("sqlite://{}", data_dir.join("neosl.db").display()))
            .await
            .expect("db"),
    )
    .await
    .expect("bank");
    let ledger = bank
        .transactions(&Owner::Contract(consumer.to_string()), 10)
        .await
        .expect("ledger");
    let fees: Vec<i64> = ledger
        .iter()
        .filter(|e| e.r#type == "service_fee")
        .map(|e| e.amount)
        .collect();
    assert_eq!(fees, [-100_000]);

    // Independent check: a request built and sent by neo-mamba is served like any other.
    let alice_wif = dev_wif(&data_dir, "alice");
    let mamba = mamba_request(&rpc_url(&data_dir), &consumer, &alice_wif, 2);
    assert!(
        mamba["state"].as_str().unwrap_or_default().contains("HALT"),
        "{mamba}"
    );
    let mamba_id = mamba["request_id"].as_u64().expect("request id");
    assert_eq!(mamba["returned"].as_u64(), Some(mamba_id), "{mamba}");
    gw.until_status(mamba_id, "fulfilled").await;
    assert_eq!(
        read(consumer, "getRandom", mamba_id)
            .await
            .as_array()
            .map(<[_]>::len),
        Some(2)
    );

    // The failure paths, with a consumer whose callbacks raise or fault.
    let compiled = neosl_testkit::compile_contract("test_consumer").expect("compiles");
    let owner_wif =
        std::fs::read_to_string(data_dir.join("devnet/accounts.json")).expect("accounts");
    let owner_wif: Vec<Value> = serde_json::from_str(&owner_wif).expect("json");
    let owner_wif = owner_wif
        .iter()
        .find(|a| a["name"] == "alice")
        .and_then(|a| a["wif"].as_str())
        .expect("alice");
    let alice: std::sync::Arc<dyn neosl_chain::signer::TxSigner> =
        std::sync::Arc::new(neosl_chain::signer::LocalKeySigner::new(
            neosl_neo::address::wif_decode(owner_wif).expect("wif"),
        ));
    let submitter = neosl_chain::submit::Submitter::connect(rpc.clone(), Default::default())
        .await
        .expect("submitter");
    let test_consumer = neosl_devnet::deploy_contract_with(
        &submitter,
        alice,
        &compiled.nef,
        &compiled.manifest,
        Some(P::Hash160(deployed.gateway)),
    )
    .await
    .expect("deployed");
    let ask = |callback: &str| {
        common::request_id_of(&neosl(
            &data_dir,
            &[
                "devnet",
                "invoke",
                "--from",
                "alice",
                &test_consumer.to_string(),
                "request",
                "int:1",
                &format!("str:{callback}"),
            ],
        ))
    };
    // Without a balance: waiting, visibly; served once funded.
    let unpaid = ask("onAnswer");
    let waiting = gw.until_status(unpaid, "waiting_for_balance").await;
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("pay-contract"),
        "{waiting}"
    );
    let listed = gw
        .call(
            reqwest::Method::GET,
            &format!("/onchain/requests?contract={test_consumer}&status=waiting_for_balance"),
            None,
        )
        .await;
    assert_eq!(listed["requests"].as_array().map(Vec::len), Some(1));
    gw.pay_contract(&test_consumer, 1_000_000, "fund-test-consumer")
        .await;
    gw.until_status(unpaid, "fulfilled").await;
    // A callback that raises: caught on chain, the transaction HALTs, the result is kept.
    let raising = ask("onRaise");
    let raised = gw.until_status(raising, "callback_failed").await;
    assert_eq!(raised["reason"], "the callback raised");
    // A callback that would fault: found off chain first, sent without it, with the reason.
    let faulting = ask("onAssert");
    let faulted = gw.until_status(faulting, "callback_failed").await;
    assert!(
        faulted["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("the consumer faults"),
        "{faulted}"
    );
    // The same picture through slcli, as a dApp developer sees it.
    let failed = gw.slcli(&[
        "--json",
        "requests",
        "list",
        "--contract",
        &test_consumer.to_string(),
        "--status",
        "callback_failed",
    ]);
    let failed: Value = serde_json::from_str(&failed).expect("--json prints JSON");
    assert_eq!(
        failed["requests"].as_array().map(Vec::len),
        Some(2),
        "{failed}"
    );
    let shown = gw.slcli(&["requests", "show", &faulting.to_string()]);
    assert!(
        shown.contains("callback_failed") && shown.contains("the consumer faults"),
        "{shown}"
    );
    // The same consumer still works afterwards.
    let after = ask("onAnswer");
    gw.until_status(after, "fulfilled").await;
    let answered = read(test_consumer, "answered", after).await;
    assert!(answered.as_bytes().is_some_and(|b| !b.is_empty()));
    // A deadline that passes while the contract cannot pay: expired, never fulfilled later.
    neosl(
        &data_dir,
        &[
            "devnet",
            "invoke",
            "--from",
            "owner",
            "ServiceLayerGateway",
            "setRequestTimeout",
            "int:3000",
        ],
    );
    let poor = deploy_poor_consumer(&submitter, &data_dir, &compiled, deployed.gateway).await;
    let late = common::request_id_of(&neosl(
        &data_dir,
        &[
            "devnet",
            "invoke",
            "--from",
            "alice",
            &poor.to_string(),
            "request",
            "int:1",
            "str:onAnswer",
        ],
    ));
    gw.until_status(late, "waiting_for_balance").await;
    gw.until_status(late, "expired").await;
    gw.pay_contract(&poor, 1_000_000, "too-late").await;
    let stored =
        neosl_contracts::gateway::stored_request(&read(deployed.gateway, "getRequest", late).await)
            .expect("stored");
    assert_eq!(
        stored.status,
        neosl_contracts::gateway::RequestStatus::Pending
    );
    assert_eq!(
        gw.request(late).await["status"],
        "expired",
        "never served after its deadline"
    );
    running.stop();
    neosl(&data_dir, &["devnet", "stop"]);
}

/// Another copy of the test consumer (its own contract, with no GasBank balance).
async fn deploy_poor_consumer(
    submitter: &neosl_chain::submit::Submitter,
    data_dir: &Path,
    compiled: &neosl_testkit::CompiledContract,
    gateway: UInt160,
) -> UInt160 {
    let accounts: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(data_dir.join("devnet/accounts.json")).expect("accounts"),
    )
    .expect("json");
    let bob = accounts
        .iter()
        .find(|a| a["name"] == "bob")
        .and_then(|a| a["wif"].as_str())
        .expect("bob");
    let bob: std::sync::Arc<dyn neosl_chain::signer::TxSigner> = std::sync::Arc::new(
        neosl_chain::signer::LocalKeySigner::new(neosl_neo::address::wif_decode(bob).expect("wif")),
    );
    neosl_devnet::deploy_contract_with(
        submitter,
        bob,
        &compiled.nef,
        &compiled.manifest,
        Some(P::Hash160(gateway)),
    )
    .await
    .expect("deployed")
}
