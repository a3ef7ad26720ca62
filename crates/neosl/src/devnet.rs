//! `neosl devnet`: a real single-validator Neo N3 chain on 127.0.0.1 for development.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use neosl_crypto::SecretKey;
use neosl_devnet::{Devnet, DevnetConfig, stop_by_pid_file};
use neosl_neo::Address;
use neosl_neo::address::{wif_decode, wif_encode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Args)]
pub struct DevnetArgs {
    #[command(subcommand)]
    command: Option<DevnetCommand>,
    #[command(flatten)]
    start: StartArgs,
    /// The platform's data directory (the devnet lives in its `devnet/` folder).
    #[arg(long, env = "NEOSL_DATA_DIR", default_value = ".neosl", global = true)]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum DevnetCommand {
    /// Start the node (the default when no subcommand is given).
    Start,
    /// Stop the node this data directory started.
    Stop,
    /// Print where the running node is and check that it answers.
    Status,
}

#[derive(Debug, Args)]
struct StartArgs {
    /// RPC port on 127.0.0.1.
    #[arg(long, default_value_t = 20332)]
    port: u16,
    /// Development accounts to create (once) and fund, comma-separated names.
    #[arg(long, value_delimiter = ',', default_value = "alice,bob")]
    accounts: Vec<String>,
    /// GAS for each account, in whole GAS.
    #[arg(long, default_value_t = 1000)]
    gas: i64,
    /// NEO for each account.
    #[arg(long, default_value_t = 100)]
    neo: i64,
    /// Block time in milliseconds.
    #[arg(long, default_value_t = 1000)]
    block_time_ms: u64,
    /// Keep the chain on disk so it survives `stop` and `start` (default: in memory, new chain
    /// on every start).
    #[arg(long)]
    persistent: bool,
    /// Stay in the foreground and stop the node on Ctrl-C.
    #[arg(long)]
    foreground: bool,
    /// Where the node binary is cached (default: the data directory's `cache/neogo`).
    #[arg(long, env = "NEOSL_NODE_CACHE")]
    node_cache: Option<PathBuf>,
}

/// What `neosl devnet` prints and keeps in `devnet/devnet.json`.
#[derive(Debug, Serialize, Deserialize)]
struct DevnetInfo {
    rpc_url: String,
    network_magic: u32,
    pid: Option<u32>,
    genesis_address: String,
    accounts: Vec<DevAccount>,
}

/// A development account. Its WIF is stored only in `devnet/accounts.json` (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DevAccount {
    name: String,
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    wif: Option<String>,
}

pub async fn run(args: DevnetArgs) -> Result<()> {
    let dir = args.data_dir.join("devnet");
    match args.command.unwrap_or(DevnetCommand::Start) {
        DevnetCommand::Start => start(&args.data_dir, &dir, args.start).await,
        DevnetCommand::Stop => {
            if stop_by_pid_file(&dir).await? {
                println!("devnet stopped");
            } else {
                println!("no devnet is running from {}", dir.display());
            }
            Ok(())
        }
        DevnetCommand::Status => {
            let info = read_info(&dir).await?;
            let rpc = neosl_chain::RpcClient::single(info.rpc_url.clone())?;
            let height = rpc
                .get_block_count()
                .await
                .context("the devnet does not answer")?;
            print_info(&info);
            println!("height:         {}", height.saturating_sub(1));
            Ok(())
        }
    }
}

async fn start(data_dir: &Path, dir: &Path, args: StartArgs) -> Result<()> {
    if stop_by_pid_file(dir).await? {
        println!("stopped the devnet that was running from {}", dir.display());
    }
    let mut config = DevnetConfig::new(dir);
    config.cache_dir = args
        .node_cache
        .clone()
        .unwrap_or_else(|| data_dir.join("cache").join("neogo"));
    config.rpc_port = args.port;
    config.block_time = Duration::from_millis(args.block_time_ms.max(100));
    config.persistent = args.persistent;
    config.keep_running = !args.foreground;
    println!(
        "starting NeoGo (fetched once from PyPI into {}) ...",
        config.cache_dir.display()
    );
    let devnet = Devnet::start(config).await?;
    let accounts = load_or_create_accounts(dir, &args.accounts).await?;
    let hashes = accounts
        .iter()
        .map(|a| Ok(Address::parse(&a.address)?.script_hash()))
        .collect::<Result<Vec<_>>>()?;
    if !hashes.is_empty() {
        devnet
            .fund(&hashes, args.gas * 100_000_000, args.neo)
            .await
            .context("funding the accounts")?;
    }
    let info = DevnetInfo {
        rpc_url: devnet.rpc_url(),
        network_magic: devnet.network(),
        pid: devnet.pid(),
        genesis_address: Address::from_script_hash(devnet.genesis_account()).to_string(),
        accounts: accounts
            .iter()
            .map(|a| DevAccount {
                wif: None,
                ..a.clone()
            })
            .collect(),
    };
    tokio::fs::write(dir.join("devnet.json"), serde_json::to_vec_pretty(&info)?).await?;
    print_info(&info);
    println!("funded:         {} GAS and {} NEO each", args.gas, args.neo);
    println!(
        "keys:           {} (WIF, owner-only)",
        dir.join("accounts.json").display()
    );
    if args.foreground {
        println!("running in the foreground; Ctrl-C stops the node");
        tokio::signal::ctrl_c().await?;
        devnet.stop().await?;
        println!("devnet stopped");
    } else {
        println!("stop it with:   neosl devnet stop");
    }
    Ok(())
}

fn print_info(info: &DevnetInfo) {
    println!("rpc url:        {}", info.rpc_url);
    println!("network magic:  {}", info.network_magic);
    if let Some(pid) = info.pid {
        println!("pid:            {pid}");
    }
    println!("genesis:        {}", info.genesis_address);
    for account in &info.accounts {
        println!(
            "account {:<7}{}",
            format!("{}:", account.name),
            account.address
        );
    }
}

async fn read_info(dir: &Path) -> Result<DevnetInfo> {
    let bytes = tokio::fs::read(dir.join("devnet.json"))
        .await
        .context("no devnet has been started here")?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Loads the named accounts from `accounts.json`, creating keys for new names.
async fn load_or_create_accounts(dir: &Path, names: &[String]) -> Result<Vec<DevAccount>> {
    let path = dir.join("accounts.json");
    let mut stored: Vec<DevAccount> = match tokio::fs::read(&path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).context("reading accounts.json")?,
        Err(_) => Vec::new(),
    };
    let mut changed = false;
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("account names are letters, digits, '-' and '_': {name:?}");
        }
        if stored.iter().any(|a| a.name == name) {
            continue;
        }
        let key = SecretKey::generate();
        stored.push(DevAccount {
            name: name.to_owned(),
            address: Address::from_public_key(&key.public_key()).to_string(),
            wif: Some(wif_encode(&key).to_string()),
        });
        changed = true;
    }
    for account in &stored {
        let wif = account
            .wif
            .as_deref()
            .context("accounts.json: an account has no key")?;
        let key = wif_decode(wif).context("accounts.json: invalid WIF")?;
        if Address::from_public_key(&key.public_key()).to_string() != account.address {
            bail!(
                "accounts.json: the key of {} does not match its address",
                account.name
            );
        }
    }
    if changed {
        write_private(&path, &serde_json::to_vec_pretty(&stored)?).await?;
    }
    Ok(stored
        .into_iter()
        .filter(|a| names.iter().any(|n| n.trim() == a.name))
        .collect())
}

async fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
