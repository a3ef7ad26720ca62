//! The user's path end to end on a real devnet, through `neosl serve` and `slcli` only: register,
//! deposit address, GAS sent on chain and credited once, the operator's re-credit changes nothing,
//! a withdrawal arrives on chain, a paid VRF call's fee shows in `slcli transactions`, and the
//! proof verifies offline.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use neosl_devnet::{Devnet, DevnetConfig};
use neosl_neo::{Address, SecretKey, native};
use neosl_testkit::TempDir;
use serde_json::Value;

const GAS: i64 = 100_000_000;
const ADMIN_TOKEN: &str = "5e1f0c0a11ce00000000000000000000000000000000000000000000000000aa";

struct Slcli<'a> {
    url: String,
    config: &'a Path,
}

impl Slcli<'_> {
    fn output(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_slcli"))
            .args(args)
            .env("SLCLI_URL", &self.url)
            .env("SLCLI_CONFIG", self.config)
            .env("SLCLI_PASSWORD", "correct horse battery staple")
            .env_remove("SLCLI_TOKEN")
            .env_remove("SLCLI_API_KEY")
            .env_remove("SLCLI_ADMIN_TOKEN")
            .output()
            .expect("slcli runs")
    }

    /// Runs a command that must succeed and returns its `--json` answer.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.output(&all);
        assert!(
            out.status.success(),
            "slcli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("--json prints JSON")
    }

    /// Runs a command that must fail and returns what it printed on stderr.
    fn failure(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(!out.status.success(), "slcli {args:?} should fail");
        assert!(
            out.stdout.is_empty(),
            "slcli {args:?}: nothing on stdout on failure, got {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn balance(&self) -> i64 {
        self.json(&["balance"])["balance"]
            .as_i64()
            .expect("balance")
    }
}

fn transactions(cli: &Slcli<'_>) -> Vec<Value> {
    cli.json(&["transactions", "100"])["transactions"]
        .as_array()
        .expect("list")
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn register_deposit_withdraw_and_pay_through_slcli() {
    let dir = TempDir::new("neosl-slcli").expect("temp dir");
    let mut config = DevnetConfig::new(dir.path().join("chain"));
    config.cache_dir = neosl_testkit::tools_dir().join("neogo");
    config.block_time = Duration::from_millis(250);
    let devnet = Devnet::start(config).await.expect("devnet");

    let rpc_url = devnet.rpc_url();
    let magic = devnet.network().to_string();
    let running = common::serve(
        &dir,
        &[],
        &[
            ("NEOSL_CHAIN_RPC", &rpc_url),
            ("NEOSL_NETWORK_MAGIC", &magic),
            ("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    )
    .expect("serve starts");
    // The log is drained by a thread: give it a moment to catch up with "ready".
    let start = Instant::now();
    let treasury = loop {
        let log = running.log_text();
        if let Some(found) = log
            .split_whitespace()
            .find_map(|w| w.strip_prefix("treasury="))
        {
            break found.trim_matches('"').to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the treasury address is logged at start: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let treasury = Address::parse(&treasury).expect("an address");

    let session = dir.path().join("alice.json");
    let alice = Slcli {
        url: running.urls["gateway"].clone(),
        config: &session,
    };
    let other_session = dir.path().join("bob.json");
    let bob = Slcli {
        url: running.urls["gateway"].clone(),
        config: &other_session,
    };

    // Register; the session is saved owner-only.
    let registered = alice.json(&["register", "alice@example.com"]);
    let alice_id = registered["user_id"].as_str().expect("user id").to_owned();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&session)
        .expect("saved")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the session file is owner-only");
    let bob_id = bob.json(&["register", "bob@example.com"])["user_id"]
        .as_str()
        .expect("user id")
        .to_owned();
    assert_eq!(alice.balance(), 0);

    // A deposit address of her own, stable.
    let address = alice.json(&["deposit-address"])["address"]
        .as_str()
        .expect("address")
        .to_owned();
    assert_eq!(
        alice.json(&["deposit-address"])["address"],
        address.as_str()
    );
    let bob_address = bob.json(&["deposit-address"])["address"].clone();
    assert_ne!(bob_address, address.as_str());
    let deposit_to = Address::parse(&address).expect("a Neo address");

    // GAS sent on chain to it is credited once.
    let sent = devnet
        .fund(&[deposit_to.script_hash()], 5 * GAS, 0)
        .await
        .expect("funded");
    let start = Instant::now();
    while alice.balance() < 5 * GAS {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "deposit not credited"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // several more blocks
    assert_eq!(alice.balance(), 5 * GAS, "credited exactly once");
    let deposits: Vec<Value> = transactions(&alice)
        .into_iter()
        .filter(|t| t["type"] == "deposit")
        .collect();
    assert_eq!(deposits.len(), 1, "{deposits:?}");
    assert_eq!(deposits[0]["amount"], 5 * GAS);

    // The operator crediting the same transaction changes nothing; to the wrong user, refused.
    let tx = format!("{}", sent.hash);
    let again = alice.json(&["deposit", &alice_id, &tx, "--admin-token", ADMIN_TOKEN]);
    assert_eq!(
        alice.balance(),
        5 * GAS,
        "re-credit changed nothing: {again}"
    );
    let wrong = bob.failure(&["deposit", &bob_id, &tx, "--admin-token", ADMIN_TOKEN]);
    assert!(wrong.contains("HTTP 4"), "{wrong}");
    assert_eq!(bob.balance(), 0);
    let forged = bob.failure(&["deposit", &bob_id, &tx, "--admin-token", "00"]);
    assert!(forged.contains("forbidden"), "{forged}");

    // Withdraw to a fresh address: the GAS arrives on chain and the ledger is debited.
    devnet
        .fund(&[treasury.script_hash()], 20 * GAS, 0)
        .await
        .expect("treasury funded");
    let recipient = Address::from_public_key(&SecretKey::generate().public_key());
    let withdrawn = alice.json(&[
        "withdraw",
        &recipient.to_string(),
        &GAS.to_string(),
        "--wait",
    ]);
    assert_eq!(withdrawn["state"], "confirmed", "{withdrawn}");
    let on_chain = devnet
        .rpc()
        .get_nep17_balances(&recipient.script_hash())
        .await
        .expect("balances");
    assert_eq!(on_chain.of(&native::GAS).to_string(), GAS.to_string());
    assert_eq!(alice.balance(), 4 * GAS);
    // Bob cannot spend what he does not have.
    let broke = bob.failure(&["withdraw", &recipient.to_string(), "1"]);
    assert!(broke.contains("HTTP 4"), "{broke}");

    // A paid call: the fee is in `slcli transactions`, the proof verifies offline.
    let fees = alice.json(&["fees"]);
    let vrf_fee = fees["schedule"]["vrf"].as_i64().expect("vrf fee");
    assert_eq!(vrf_fee, 100_000, "0.001 GAS by default");
    let random = alice.json(&["vrf", "random", "--seed", "c0ffee", "--words", "3"]);
    let words: Vec<&str> = random["random_words"]
        .as_array()
        .expect("words")
        .iter()
        .map(|w| w.as_str().expect("hex"))
        .collect();
    assert_eq!(words.len(), 3);
    assert_eq!(alice.balance(), 4 * GAS - vrf_fee);
    let ledger = transactions(&alice);
    let fee_rows: Vec<&Value> = ledger
        .iter()
        .filter(|t| t["type"] == "service_fee")
        .collect();
    assert_eq!(fee_rows.len(), 1, "{ledger:?}");
    assert_eq!(fee_rows[0]["amount"], -vrf_fee);
    let table = String::from_utf8(alice.output(&["transactions"]).stdout).expect("utf-8");
    for kind in ["deposit", "withdraw", "service_fee"] {
        assert!(table.contains(kind), "{kind} in the table:\n{table}");
    }
    assert!(table.contains("-0.00100000 GAS"), "{table}");

    let proof = random["proof"].as_str().expect("proof");
    let public_key = random["public_key"].as_str().expect("key");
    let joined = words.join(",");
    let verify_args = |seed: &'static str| {
        [
            "vrf",
            "verify",
            "--seed",
            seed,
            "--proof",
            proof,
            "--public-key",
            public_key,
            "--words",
            joined.as_str(),
        ]
    };
    let verified = alice.json(&verify_args("c0ffee"));
    assert_eq!(verified["valid"], true);
    let tampered = alice.output(&verify_args("c0ffef"));
    assert!(!tampered.status.success(), "a changed seed fails");
    assert_eq!(String::from_utf8_lossy(&tampered.stdout).trim(), "INVALID");
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("verification failed"));

    // Sponsorship and API keys, as a script would use them.
    let before = alice.balance();
    alice.json(&["pay-user", &bob_id, "1000", "--reference", "gift-1"]);
    alice.json(&["pay-user", &bob_id, "1000", "--reference", "gift-1"]);
    assert_eq!(bob.balance(), 1000, "a replayed reference pays once");
    let contract = "0x0123456789abcdef0123456789abcdef01234567";
    let paid = alice.json(&["pay-contract", contract, "500"]);
    assert_eq!(paid["credit"]["amount"], 500, "{paid}");
    assert_eq!(alice.balance(), before - 1500);
    let created = alice.json(&["api-key", "create", "ci"]);
    let key = created["key"].as_str().expect("key").to_owned();
    let key_id = created["info"]["id"].as_str().expect("id").to_owned();
    let by_key = alice.json(&["--api-key", &key, "balance"]);
    assert_eq!(by_key["balance"], before - 1500);
    let listed = alice.output(&["api-key", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&key_id));
    alice.json(&["api-key", "revoke", &key_id]);
    let revoked = alice.failure(&["--api-key", &key, "balance"]);
    assert!(revoked.contains("HTTP 401"), "{revoked}");

    // Clear errors, not panics.
    let bad = alice.failure(&["withdraw", "not-an-address", "1"]);
    assert!(bad.contains("not a Neo address"), "{bad}");
    let garbage = Slcli {
        url: running.urls["gateway"].clone(),
        config: &dir.path().join("nobody.json"),
    };
    let unsigned = garbage.failure(&["balance"]);
    assert!(unsigned.contains("not signed in"), "{unsigned}");
    let log = running.stop();
    assert!(
        !log.contains(ADMIN_TOKEN),
        "the admin token never reaches the log"
    );
    assert!(!log.contains("panicked"), "{log}");
}
