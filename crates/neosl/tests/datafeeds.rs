//! Prices on a real devnet: local exchange servers (each in its exchange's wire format) feed
//! `neosl serve`, whose DataFeeds rounds the on-chain worker keeps in the `DataFeedsService`
//! contract; the contract follows a deviation, refuses updates it must refuse, and its safe read
//! faults once the feed stops.

mod common;

use common::{dev_key, neosl};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use neosl_contracts::Deployed;
use neosl_contracts::datafeeds::{PriceUpdate, update_message, update_prices_args};
use neosl_neo::UInt160;
use neosl_neo::param::ContractParameter as P;
use neosl_neo::tx::Signer;
use neosl_testkit::TempDir;
use neosl_testkit::exchanges::{Behaviour, Exchanges};
use serde_json::Value;

const BTC: [(&str, &str); 5] = [
    ("binance", "BTCUSDT"),
    ("coinbase", "BTC-USD"),
    ("kraken", "XBTUSD"),
    ("okx", "BTC-USDT"),
    ("htx", "btcusdt"),
];
const ETH: [(&str, &str); 3] = [
    ("bitstamp", "ethusd"),
    ("kucoin", "ETH-USDT"),
    ("gate", "ETH_USDT"),
];

fn set(exchanges: &Exchanges, symbols: &[(&str, &str)], price: &str) {
    for (e, s) in symbols {
        exchanges.set_price(e, s, price);
    }
}

fn config(exchanges: &Exchanges) -> String {
    let mut c = String::from(
        "[gateway.rate_limits]\npublic = { per_second = 1000.0, burst = 1000 }\n\n[datafeeds]\ninterval_ms = 300\ntimeout_ms = 1000\nretries = 0\n\n",
    );
    c.push_str(&exchanges.settings_toml());
    for (pair, symbols) in [("BTC/USD", &BTC[..]), ("ETH/USD", &ETH[..])] {
        c.push_str(&format!(
            "\n[[datafeeds.pairs]]\npair = \"{pair}\"\nheartbeat_secs = 3600\ndeviation_bps = 50\n[datafeeds.pairs.sources]\n"
        ));
        for (e, s) in symbols {
            c.push_str(&format!("{e} = \"{s}\"\n"));
        }
    }
    c
}

/// The DataFeeds key of this data directory's development secrets.
fn datafeeds_key(data_dir: &Path) -> neosl_crypto::SecretKey {
    let registry = neosl::registry();
    let secrets = neosl_runtime::SecretStore::load(
        neosl_runtime::RuntimeMode::Simulation,
        &registry.secrets(),
        &neosl_runtime::secrets::EnvSource,
        Some(&data_dir.join("secrets")),
    )
    .expect("secrets");
    secrets
        .use_secret("DATAFEEDS_SIGNING_KEY", neosl_crypto::SecretKey::from_slice)
        .expect("read")
        .expect("key")
}

#[tokio::test(flavor = "multi_thread")]
async fn prices_follow_the_exchanges_on_chain_and_stale_reads_fault() {
    let exchanges = Exchanges::start().await.expect("exchanges");
    set(&exchanges, &BTC, "100000.00");
    set(&exchanges, &ETH, "3000.00");
    let dir = TempDir::new("neosl-datafeeds").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "1000"],
    );
    let deployed: Deployed = serde_json::from_slice(
        &std::fs::read(data_dir.join(Deployed::FILE)).expect("contracts.json"),
    )
    .expect("json");
    let feeds_contract = deployed.datafeeds_service;
    let config_path = dir.path().join("neosl.toml");
    std::fs::write(&config_path, config(&exchanges)).expect("config");
    let config_text = config_path.display().to_string();
    let running = common::serve(
        &dir,
        &["--config", &config_text],
        &[("NEOSL_POOL_TARGET_SIZE", "10")],
    )
    .expect("serve");
    let url = running.urls["gateway"].clone();
    let http = reqwest::Client::new();
    let rpc_url = serde_json::from_slice::<Value>(
        &std::fs::read(data_dir.join("devnet/devnet.json")).expect("devnet.json"),
    )
    .expect("json")["rpc_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let rpc = neosl_chain::RpcClient::single(rpc_url).expect("rpc");
    let latest = |pair: &'static str| {
        let rpc = rpc.clone();
        async move {
            let r = rpc
                .invoke_function(
                    &feeds_contract,
                    "getLatestPrice",
                    &[P::String(pair.into())],
                    &[],
                )
                .await
                .ok()?;
            if !r.halted() {
                return None;
            }
            let f = r.stack.first()?.as_array()?.to_vec();
            let n = |i: usize| {
                f.get(i)
                    .and_then(|x| x.as_integer())
                    .and_then(|x| i64::try_from(x).ok())
            };
            Some((n(0)?, n(1)?, n(2)?, n(3)?))
        }
    };

    // The first rounds reach the contract.
    let (price, decimals, round, _) =
        neosl_testkit::wait_until(Duration::from_secs(60), "BTC/USD on chain", || {
            latest("BTC/USD")
        })
        .await;
    assert_eq!((price, decimals), (10_000_000_000_000, 8));
    assert_eq!(round, 1);
    neosl_testkit::wait_until(Duration::from_secs(30), "ETH/USD on chain", || {
        latest("ETH/USD")
    })
    .await;
    let (hb, dev) = {
        let r = rpc
            .invoke_function(
                &feeds_contract,
                "getPairConfig",
                &[P::String("BTC/USD".into())],
                &[],
            )
            .await
            .expect("config");
        let f = r.stack[0].as_array().expect("array").to_vec();
        (
            f[0].as_integer().expect("hb"),
            f[1].as_integer().expect("dev"),
        )
    };
    assert_eq!((hb, dev), (3600.into(), 50.into()));

    // A move of 2 % is a new round, and the contract follows it.
    set(&exchanges, &BTC, "102000.00");
    let (price, _, round, _) = neosl_testkit::wait_until(
        Duration::from_secs(60),
        "the new BTC/USD price on chain",
        || async {
            let l = latest("BTC/USD").await?;
            (l.0 == 10_200_000_000_000).then_some(l)
        },
    )
    .await;
    assert_eq!((price, round), (10_200_000_000_000, 2));

    // The API shows it, with the round's sources and whether it is on chain.
    let listing = neosl_testkit::wait_until(
        Duration::from_secs(30),
        "round 2 marked on chain",
        || async {
            let v: Value = http
                .get(format!("{url}/datafeeds/prices"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let btc = v["data"]["prices"]
                .as_array()?
                .iter()
                .find(|p| p["pair"] == "BTC/USD")?
                .clone();
            (btc["latest"]["round_id"] == 2 && btc["latest"]["on_chain"] == true).then_some(btc)
        },
    )
    .await;
    assert_eq!(listing["state"], "fresh");
    assert_eq!(listing["latest"]["price"], "10200000000000");
    assert_eq!(
        listing["latest"]["contract"],
        feeds_contract.to_string(),
        "{listing}"
    );
    assert_eq!(
        listing["latest"]["sources_used"].as_array().map(Vec::len),
        Some(5)
    );
    // The signed read is paid: it needs a signed-in user.
    let anonymous = http
        .get(format!("{url}/datafeeds/prices/BTC-USD"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let token = common::register(&http, &url, "feeds@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let data_dir_text = data_dir.display().to_string();
    common::dev_credit(
        "feeds@example.org",
        1_000_000,
        &[("NEOSL_DATA_DIR", &data_dir_text)],
    );
    let paid = common::send(common::with_auth(
        http.get(format!("{url}/datafeeds/prices/BTC-USD")),
        &token,
    ))
    .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.body["data"]["fee"]["amount"], 10_000, "{}", paid.body);
    assert_eq!(paid.body["data"]["latest"]["round_id"], 2);
    let unknown = common::send(common::with_auth(
        http.get(format!("{url}/datafeeds/prices/DOGE-USD")),
        &token,
    ))
    .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("unknown_pair"))
    );

    // slcli shows the same: every pair free, one pair's signed round for the signed-in user.
    let slcli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_slcli"))
            .args(args)
            .env("SLCLI_URL", &url)
            .env("SLCLI_TOKEN", &token)
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
    let all = slcli(&["prices"]);
    assert!(
        all.contains("BTC/USD") && all.contains("102000.00000000"),
        "{all}"
    );
    let one = slcli(&["prices", "BTC/USD"]);
    assert!(
        one.contains("round      2") && one.contains("on chain   yes"),
        "{one}"
    );

    // The consumer's safe read gives the price while it is fresh.
    let read = rpc
        .invoke_function(
            &deployed.example_consumer,
            "readPrice",
            &[P::String("BTC/USD".into()), P::Integer(60.into())],
            &[],
        )
        .await
        .expect("readPrice");
    assert!(read.halted(), "{:?}", read.exception);
    assert_eq!(
        read.stack[0].as_array().expect("array")[0].as_integer(),
        Some(10_200_000_000_000i64.into())
    );

    // Updates the contract must refuse. Alice is made a TEE account for the test; Bob is not.
    let submitter = neosl_chain::submit::Submitter::connect(rpc.clone(), Default::default())
        .await
        .expect("submitter");
    let owner: std::sync::Arc<dyn neosl_chain::signer::TxSigner> = std::sync::Arc::new(
        neosl_chain::signer::LocalKeySigner::new(dev_key(&data_dir, "owner")),
    );
    let alice = dev_key(&data_dir, "alice");
    let alice_account =
        UInt160::of_script(&neosl_neo::script::verification_script(&alice.public_key()));
    let bob = dev_key(&data_dir, "bob");
    let bob_account =
        UInt160::of_script(&neosl_neo::script::verification_script(&bob.public_key()));
    neosl::contracts::ensure_tee_account(&submitter, owner, &deployed.gateway, &alice_account)
        .await
        .expect("alice is a TEE account");
    let service_key = datafeeds_key(&data_dir);
    let (_, _, on_chain_round, _) = latest("BTC/USD").await.expect("latest");
    let update = |round_id: u64, key: &neosl_crypto::SecretKey| {
        let mut u = PriceUpdate {
            pair: "BTC/USD".into(),
            round_id,
            price: 10_300_000_000_000,
            decimals: 8,
            timestamp_ms: i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("time")
                    .as_millis(),
            )
            .expect("ms")
                - 5_000,
            heartbeat_secs: 3600,
            deviation_bps: 50,
            signature: Vec::new(),
        };
        let message = update_message(deployed.network, &feeds_contract, &u);
        u.signature = key.sign(&message).expect("sign").to_bytes().to_vec();
        u
    };
    let attempt = |u: PriceUpdate, sender: UInt160| {
        let rpc = rpc.clone();
        async move {
            let mut sb = neosl_neo::script::ScriptBuilder::new();
            neosl_neo::contract::call(
                &mut sb,
                &feeds_contract,
                "updatePrices",
                neosl_neo::contract::CallFlags::ALL,
                &update_prices_args(&[u]),
            )
            .expect("script");
            rpc.invoke_script(&sb.into_bytes(), &[Signer::called_by_entry(sender)])
                .await
                .expect("invoke")
        }
    };
    let next = u64::try_from(on_chain_round).expect("round") + 100;
    let good = attempt(update(next, &service_key), alice_account).await;
    assert!(
        good.halted(),
        "the control case is accepted: {:?}",
        good.exception
    );
    let other_key = attempt(
        update(next, &neosl_crypto::SecretKey::generate()),
        alice_account,
    )
    .await;
    assert!(
        other_key
            .exception
            .unwrap_or_default()
            .contains("bad signature")
    );
    let old_round = attempt(update(1, &service_key), alice_account).await;
    assert!(
        old_round
            .exception
            .unwrap_or_default()
            .contains("round id must increase")
    );
    let unregistered = attempt(update(next, &service_key), bob_account).await;
    assert!(
        unregistered
            .exception
            .unwrap_or_default()
            .contains("not a TEE account")
    );

    // The feed stops: the sources go down, the pair turns unhealthy, and a consumer that
    // bounds the age sees the read fault instead of a stale price.
    for e in neosl_testkit::exchanges::NAMES {
        exchanges.set_behaviour(e, Behaviour::Down);
    }
    neosl_testkit::wait_until(Duration::from_secs(30), "BTC/USD unhealthy", || async {
        let v: Value = http
            .get(format!("{url}/datafeeds/sources"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["data"]["pairs"]
            .as_array()?
            .iter()
            .any(|p| p["pair"] == "BTC/USD" && p["state"] == "unhealthy")
            .then_some(())
    })
    .await;
    let ready: Value = http
        .get(format!("{url}/ready"))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert!(
        ready["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["check"] == "datafeeds")),
        "{ready}"
    );
    neosl_testkit::wait_until(
        Duration::from_secs(30),
        "the bounded read to fault",
        || async {
            let r = rpc
                .invoke_function(
                    &deployed.example_consumer,
                    "readPrice",
                    &[P::String("BTC/USD".into()), P::Integer(3.into())],
                    &[],
                )
                .await
                .ok()?;
            r.exception
                .filter(|e| e.contains("price is stale"))
                .map(|_| ())
        },
    )
    .await;
    running.stop();
}
