//! `neosl devnet` as a new user runs it: start, status, a funded account, stop.

use std::process::Command;

use neosl_testkit::TempDir;

fn neosl(dir: &TempDir, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(args)
        .env("NEOSL_DATA_DIR", dir.path().join("data"))
        .env("NEOSL_NODE_CACHE", neosl_testkit::tools_dir().join("neogo"))
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name:?} in:\n{out}"))
}

#[test]
fn start_fund_status_and_stop() {
    let dir = TempDir::new("neosl-devnet-cli").expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let port = port.to_string();
    let (ok, out, err) = neosl(
        &dir,
        &[
            "devnet",
            "--port",
            &port,
            "--accounts",
            "alice,bob",
            "--gas",
            "7",
            "--neo",
            "3",
            "--block-time-ms",
            "200",
        ],
    );
    assert!(ok, "start failed: {err}\n{out}");
    let rpc_url = field(&out, "rpc url:").to_owned();
    assert_eq!(rpc_url, format!("http://127.0.0.1:{port}"));
    assert_eq!(field(&out, "network magic:"), "42");
    assert_eq!(
        field(&out, "genesis:"),
        "NfgHwwTi3wHAS8aFAN243C5vGbkYDpqLHP"
    );
    let alice = field(&out, "account alice:").to_owned();
    assert!(out.contains("account bob:"));
    assert!(
        !out.contains(" K") && !out.contains(" L"),
        "no WIF is printed"
    );

    // The node outlives the command and holds the funded balances.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let balances = rt.block_on(async {
        let rpc = neosl_chain::RpcClient::single(rpc_url.clone()).expect("client");
        let hash = neosl_neo::Address::parse(&alice)
            .expect("address")
            .script_hash();
        rpc.get_nep17_balances(&hash).await.expect("balances")
    });
    assert_eq!(balances.of(&neosl_neo::native::GAS), 700_000_000.into());
    assert_eq!(balances.of(&neosl_neo::native::NEO), 3.into());

    let (ok, status, err) = neosl(&dir, &["devnet", "status"]);
    assert!(ok, "{err}");
    assert_eq!(field(&status, "account alice:"), alice);

    // Keys are kept owner-only; a second start reuses them.
    let accounts = dir.path().join("data/devnet/accounts.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&accounts)
            .expect("accounts.json")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let (ok, out, _) = neosl(&dir, &["devnet", "stop"]);
    assert!(ok && out.contains("devnet stopped"), "{out}");
    let answered = rt.block_on(async {
        neosl_chain::RpcClient::single(rpc_url)
            .expect("client")
            .get_block_count()
            .await
            .is_ok()
    });
    assert!(!answered, "the node is gone after stop");
    let (ok, out, _) = neosl(&dir, &["devnet", "stop"]);
    assert!(ok && out.contains("no devnet is running"), "{out}");
}
