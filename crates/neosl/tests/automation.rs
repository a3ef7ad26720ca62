//! Automation on a real devnet through `neosl serve`: cron, event, threshold and price triggers
//! call a counter contract, each firing exactly once; a faulting action, an owner who cannot pay
//! and bad registrations are recorded or refused with their reasons.

mod common;

use common::{dev_signer, neosl};

use std::process::Command;
use std::time::Duration;

use neosl_neo::UInt160;
use neosl_neo::param::ContractParameter as P;
use neosl_testkit::TempDir;
use neosl_testkit::exchanges::Exchanges;
use serde_json::{Value, json};

struct User {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl User {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> common::Answer {
        let mut request = common::with_auth(
            self.http.request(method, format!("{}{path}", self.url)),
            &self.token,
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        common::send(request).await
    }

    async fn create(&self, trigger: Value) -> Value {
        let answer = self
            .call(reqwest::Method::POST, "/automation/triggers", Some(trigger))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["data"].clone()
    }

    async fn executions(&self, id: &str) -> Vec<Value> {
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("/automation/triggers/{id}/executions?limit=1000"),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["data"]["executions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn count(&self, id: &str, state: &str) -> usize {
        self.executions(id)
            .await
            .iter()
            .filter(|e| e["state"] == state)
            .count()
    }

    async fn until(&self, id: &str, state: &str, at_least: usize) -> Vec<Value> {
        neosl_testkit::wait_until(
            Duration::from_secs(90),
            format_args!("{at_least} {state} firings of {id}"),
            || async {
                let all = self.executions(id).await;
                (all.iter().filter(|e| e["state"] == state).count() >= at_least).then_some(all)
            },
        )
        .await
    }

    /// Waits until none of the trigger's firings is still on its way.
    async fn settled(&self, id: &str) -> Vec<Value> {
        neosl_testkit::wait_until(
            Duration::from_secs(60),
            format_args!("the firings of {id} to settle"),
            || async {
                let all = self.executions(id).await;
                all.iter()
                    .all(|e| !matches!(e["state"].as_str(), Some("due" | "claimed" | "planned")))
                    .then_some(all)
            },
        )
        .await
    }
}

fn counter_call(counter: &UInt160, by: i64) -> Value {
    json!({"contract": counter.to_string(), "method": "increment", "args": [{"type": "Integer", "value": by.to_string()}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn triggers_fire_exactly_once_and_say_why_when_they_do_not() {
    let exchanges = Exchanges::start().await.expect("exchanges");
    let btc = [
        ("binance", "BTCUSDT"),
        ("okx", "BTC-USDT"),
        ("kucoin", "BTC-USDT"),
    ];
    let set_btc = |p: &str| {
        for (e, s) in btc {
            exchanges.set_price(e, s, p);
        }
    };
    set_btc("100000");
    let dir = TempDir::new("neosl-automation").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "500"],
    );
    let rpc = common::devnet_rpc(&data_dir);
    let submitter = neosl_chain::submit::Submitter::connect(rpc.clone(), Default::default())
        .await
        .expect("submitter");
    let alice = dev_signer(&data_dir, "alice");
    let deploy = |name: &'static str| {
        let submitter = submitter.clone();
        let alice = alice.clone();
        async move {
            let c = neosl_testkit::compile_contract(name).expect("compiles");
            neosl_devnet::deploy_contract(&submitter, alice, &c.nef, &c.manifest)
                .await
                .expect("deploys")
        }
    };
    let counter = deploy("test_counter").await;
    let events = deploy("test_events").await;

    let config = dir.path().join("neosl.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway.rate_limits]\napi = {{ per_second = 1000.0, burst = 1000 }}\n\n[automation]\ntick_ms = 200\n\n[datafeeds]\ninterval_ms = 200\nretries = 0\n\n{}\n[[datafeeds.pairs]]\npair = \"BTC/USD\"\n[datafeeds.pairs.sources]\nbinance = \"BTCUSDT\"\nokx = \"BTC-USDT\"\nkucoin = \"BTC-USDT\"\n",
            exchanges.settings_toml()
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let running = common::serve(
        &dir,
        &["--config", &config],
        &[("NEOSL_POOL_TARGET_SIZE", "10")],
    )
    .expect("serve");
    let url = running.urls["gateway"].clone();
    let http = reqwest::Client::new();
    let data_dir_text = data_dir.display().to_string();
    let env = [("NEOSL_DATA_DIR", data_dir_text.as_str())];
    let token = common::register(&http, &url, "auto@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    common::dev_credit("auto@example.org", 100 * 100_000_000, &env);
    let user = User {
        url: url.clone(),
        token,
        http: http.clone(),
    };

    // Bad registrations: 400 with a stable code, nothing stored.
    let bad = [
        (
            json!({"name": "x", "condition": {"type": "cron", "expression": "61 * * * *"}, "action": counter_call(&counter, 1)}),
            "invalid_cron",
        ),
        (
            json!({"name": "x", "condition": {"type": "price", "pair": "DOGE/USD", "direction": "above", "threshold": "1"}, "action": counter_call(&counter, 1)}),
            "unknown_pair",
        ),
        (
            json!({"name": "x", "condition": {"type": "threshold", "subject": {"nep17": {"address": "NbnjKGMBJzJ6j5PHeYhjJDaQ5Vy5UYu4Fx", "token": "GAS"}}, "direction": "below", "amount": 1}, "action": counter_call(&counter, 1)}),
            "invalid_address",
        ),
        (
            json!({"name": "x", "condition": {"type": "cron", "expression": "* * * * *"}, "action": {"contract": counter.to_string(), "method": "decrement", "args": []}}),
            "invalid_method",
        ),
        (
            json!({"name": "x", "condition": {"type": "cron", "expression": "* * * * *"}, "action": {"contract": counter.to_string(), "method": "increment", "args": []}}),
            "invalid_method",
        ),
        (
            json!({"name": "x", "condition": {"type": "cron", "expression": "* * * * *"}, "action": {"contract": counter.to_string(), "method": "increment", "args": [{"type": "String", "value": "one"}]}}),
            "invalid_arguments",
        ),
        (
            json!({"name": "x", "condition": {"type": "event", "contract": events.to_string(), "event": "Pong"}, "action": counter_call(&counter, 1)}),
            "invalid_condition",
        ),
        (
            json!({"name": "x", "condition": {"type": "cron", "expression": "* * * * *"}, "action": counter_call(&counter, 1), "colour": "red"}),
            "invalid_trigger",
        ),
    ];
    for (body, code) in bad {
        let answer = user
            .call(
                reqwest::Method::POST,
                "/automation/triggers",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (400, Some(code)),
            "{body}: {}",
            answer.body
        );
    }
    let listed = user
        .call(reqwest::Method::GET, "/automation/triggers", None)
        .await;
    assert_eq!(listed.body["data"]["triggers"], json!([]), "nothing stored");

    // Four triggers, each adding its own weight to the counter.
    let cron = user
        .create(json!({"name": "every 2 s", "condition": {"type": "cron", "expression": "*/2 * * * * *"}, "action": counter_call(&counter, 1)}))
        .await;
    let event = user
        .create(json!({"name": "ping 7", "condition": {"type": "event", "contract": events.to_string(), "event": "Ping", "filters": [{"index": 0, "equals": "7"}]}, "action": counter_call(&counter, 100)}))
        .await;
    let bob = dev_signer(&data_dir, "bob");
    let bob_address = neosl_neo::Address::from_script_hash(bob.account()).to_string();
    let bob_gas = rpc
        .get_nep17_balances(&bob.account())
        .await
        .expect("balances")
        .of(&neosl_neo::native::GAS);
    let bob_gas = i64::try_from(&bob_gas).expect("fits");
    let threshold = user
        .create(json!({"name": "bob runs low", "condition": {"type": "threshold", "subject": {"nep17": {"address": bob_address, "token": "GAS"}}, "direction": "below", "amount": bob_gas - 50 * 100_000_000}, "action": counter_call(&counter, 10_000)}))
        .await;
    let price = user
        .create(json!({"name": "btc above 110k", "condition": {"type": "price", "pair": "BTC/USD", "direction": "above", "threshold": "110000"}, "action": counter_call(&counter, 1_000_000)}))
        .await;
    let faulty = user
        .create(json!({"name": "explodes", "condition": {"type": "cron", "expression": "*/2 * * * * *"}, "action": {"contract": counter.to_string(), "method": "explode", "args": [{"type": "Integer", "value": "1"}]}}))
        .await;
    let stingy = user
        .create(json!({"name": "too little gas", "condition": {"type": "cron", "expression": "*/2 * * * * *"}, "action": counter_call(&counter, 1), "gas_limit": 1000}))
        .await;
    let id = |t: &Value| t["id"].as_str().expect("id").to_owned();

    // Cron: several runs, one per scheduled time.
    let runs = user.until(&id(&cron), "executed", 3).await;
    let mut keys: Vec<&str> = runs
        .iter()
        .filter_map(|r| r["firing_key"].as_str())
        .collect();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "one firing per time");
    assert!(
        runs.iter()
            .filter(|r| r["state"] == "executed")
            .all(|r| r["tx_hash"].is_string() && r["fee"].as_i64().is_some_and(|f| f > 50_000))
    );

    // Event: two matching pings and one that does not match.
    let events_call = |tag: i64, count: i64| {
        let submitter = submitter.clone();
        let alice = alice.clone();
        async move {
            let mut sb = neosl_neo::script::ScriptBuilder::new();
            neosl_neo::contract::call(
                &mut sb,
                &events,
                "ping",
                neosl_neo::contract::CallFlags::ALL,
                &[P::Integer(tag.into()), P::Integer(count.into())],
            )
            .expect("script");
            let tx = submitter
                .build(
                    sb.into_bytes(),
                    &[neosl_chain::submit::SignerEntry::called_by_entry(alice)],
                    vec![],
                )
                .await
                .expect("built");
            submitter
                .send_with_retry(&tx, Duration::from_secs(30))
                .await
                .expect("sent");
            submitter
                .wait(&tx, Duration::from_secs(30))
                .await
                .expect("included");
        }
    };
    events_call(7, 2).await;
    events_call(8, 1).await;
    user.until(&id(&event), "executed", 2).await;

    // Threshold: Bob sends 60 GAS away; his balance crosses the line once.
    neosl(
        &data_dir,
        &[
            "devnet",
            "send",
            "--from",
            "bob",
            "--to",
            &neosl_neo::Address::from_script_hash(alice.account()).to_string(),
            "60",
        ],
    );
    user.until(&id(&threshold), "executed", 1).await;

    // Price: BTC crosses 110,000 once; staying above fires nothing more.
    set_btc("120000");
    user.until(&id(&price), "executed", 1).await;
    set_btc("121000");

    // The faulting action is recorded with the VM's exception, never sent.
    let faults = user.until(&id(&faulty), "faulted", 1).await;
    assert!(
        faults
            .iter()
            .any(|f| f["reason"].as_str().is_some_and(|r| r.contains("boom"))),
        "{faults:?}"
    );

    // A gas limit below what the action needs: skipped with the reason, never sent.
    let stingy_runs = user.until(&id(&stingy), "skipped", 1).await;
    assert!(
        stingy_runs.iter().all(|r| r["state"] != "executed")
            && stingy_runs.iter().any(|r| r["reason"]
                .as_str()
                .is_some_and(|x| x.starts_with("gas_limit_exceeded"))),
        "{stingy_runs:?}"
    );

    // Stop the schedules and compare the counter with the executions: exactly once each.
    for t in [&cron, &faulty, &stingy] {
        let answer = user
            .call(
                reqwest::Method::POST,
                &format!("/automation/triggers/{}/disable", id(t)),
                None,
            )
            .await;
        assert_eq!(answer.body["data"]["state"], "disabled", "{}", answer.body);
    }
    let mut expected = 0i64;
    for (t, weight) in [
        (&cron, 1),
        (&event, 100),
        (&threshold, 10_000),
        (&price, 1_000_000),
    ] {
        let all = user.settled(&id(t)).await;
        expected += weight * all.iter().filter(|e| e["state"] == "executed").count() as i64;
    }
    assert_eq!(
        user.count(&id(&event), "executed").await,
        2,
        "the non-matching ping fired nothing"
    );
    assert_eq!(user.count(&id(&threshold), "executed").await, 1);
    assert_eq!(
        user.count(&id(&price), "executed").await,
        1,
        "no second firing while above"
    );
    let total = neosl::contracts::read(&rpc, &counter, "total", &[])
        .await
        .expect("total")
        .as_integer()
        .expect("integer");
    assert_eq!(total, expected.into(), "every execution landed once");

    // An owner who cannot pay: the firing is skipped and the trigger paused; funded, it resumes.
    let poor_token = common::register(&http, &url, "poor@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let poor = User {
        url: url.clone(),
        token: poor_token,
        http: http.clone(),
    };
    let unpaid = poor
        .create(json!({"name": "unpaid", "condition": {"type": "cron", "expression": "*/2 * * * * *"}, "action": counter_call(&counter, 1)}))
        .await;
    let skipped = poor.until(&id(&unpaid), "skipped", 1).await;
    assert!(
        skipped
            .iter()
            .any(|s| s["reason"] == "insufficient_balance"),
        "{skipped:?}"
    );
    let shown = poor
        .call(
            reqwest::Method::GET,
            &format!("/automation/triggers/{}", id(&unpaid)),
            None,
        )
        .await;
    assert_eq!(shown.body["data"]["state"], "paused", "{}", shown.body);
    assert_eq!(shown.body["data"]["state_reason"], "insufficient_balance");
    common::dev_credit("poor@example.org", 100_000_000, &env);
    poor.until(&id(&unpaid), "executed", 1).await;

    // The same through slcli.
    let slcli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_slcli"))
            .args(args)
            .env("SLCLI_URL", &url)
            .env("SLCLI_TOKEN", &user.token)
            .env_remove("SLCLI_API_KEY")
            .output()
            .expect("slcli runs");
        assert!(
            out.status.success(),
            "slcli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let listed = slcli(&["automation", "list"]);
    assert!(
        listed.contains("ping 7") && listed.contains("disabled"),
        "{listed}"
    );
    let runs = slcli(&["automation", "executions", &id(&price)]);
    assert!(runs.contains("executed"), "{runs}");

    // A contract registers its own trigger on chain through the gateway contract; its GasBank
    // account pays. The trigger adds 7 to the counter every 2 s.
    let deployed: neosl_contracts::Deployed = serde_json::from_slice(
        &std::fs::read(data_dir.join(neosl_contracts::Deployed::FILE)).expect("contracts.json"),
    )
    .expect("json");
    let consumer = deployed.example_consumer;
    let paid = user
        .call(
            reqwest::Method::POST,
            "/api/v1/gasbank/pay-contract",
            Some(json!({"contract": consumer.to_string(), "amount": 10 * 100_000_000i64, "reference": "fund-consumer"})),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    let before = neosl::contracts::read(&rpc, &counter, "total", &[])
        .await
        .expect("total")
        .as_integer()
        .expect("integer");
    let on_chain_trigger = json!({"name": "from a contract", "condition": {"type": "cron", "expression": "*/2 * * * * *"},
                                  "action": counter_call(&counter, 7)});
    let mut sb = neosl_neo::script::ScriptBuilder::new();
    neosl_neo::contract::call(
        &mut sb,
        &consumer,
        "scheduleAutomation",
        neosl_neo::contract::CallFlags::ALL,
        &[P::ByteArray(on_chain_trigger.to_string().into_bytes())],
    )
    .expect("script");
    let tx = submitter
        .build(
            sb.into_bytes(),
            &[neosl_chain::submit::SignerEntry::called_by_entry(
                alice.clone(),
            )],
            vec![],
        )
        .await
        .expect("built");
    submitter
        .send_with_retry(&tx, Duration::from_secs(30))
        .await
        .expect("sent");
    let outcome = submitter
        .wait(&tx, Duration::from_secs(30))
        .await
        .expect("included");
    assert!(outcome.halted(), "{:?}", outcome.exception);
    let request_id = outcome.stack[0].as_integer().expect("request id");
    let answer = neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the registration's callback",
        || async {
            let stored = neosl::contracts::read(
                &rpc,
                &consumer,
                "getAutomation",
                &[P::Integer(request_id.clone())],
            )
            .await
            .ok()?;
            let fields = stored.as_array()?.to_vec();
            (fields.len() == 2).then_some(fields)
        },
    )
    .await;
    assert_eq!(answer[0].as_bool(), Some(true), "registered: {answer:?}");
    let trigger_id = String::from_utf8(answer[1].as_bytes().expect("bytes")).expect("text");
    assert_eq!(trigger_id.len(), 36, "a trigger id: {trigger_id}");
    neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the contract's trigger to run",
        || async {
            let total = neosl::contracts::read(&rpc, &counter, "total", &[])
                .await
                .ok()?
                .as_integer()?;
            (total >= before.clone() + 14).then_some(())
        },
    )
    .await;
    // A user cannot see or change a contract's trigger.
    let hidden = user
        .call(
            reqwest::Method::POST,
            &format!("/automation/triggers/{trigger_id}/disable"),
            None,
        )
        .await;
    assert_eq!(hidden.status, 404);

    // Only the owner sees a trigger.
    let foreign = poor
        .call(
            reqwest::Method::GET,
            &format!("/automation/triggers/{}", id(&cron)),
            None,
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.body["code"].as_str()),
        (404, Some("unknown_trigger"))
    );
    running.stop();
    neosl(&data_dir, &["devnet", "stop"]);
}
