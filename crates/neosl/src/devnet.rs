//! `neosl devnet`: a real single-validator Neo N3 chain on 127.0.0.1 for development.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_crypto::SecretKey;
use neosl_devnet::{Devnet, DevnetConfig, stop_by_pid_file};
use neosl_neo::Address;
use neosl_neo::address::{wif_decode, wif_encode};
use neosl_runtime::RuntimeMode;
use neosl_runtime::secrets::{EnvSource, SecretStore};
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
    /// Send GAS or NEO from a development account to any address (a GasBank deposit address,
    /// a contract).
    Send(SendArgs),
    /// Call a contract from a development account: prints the result, the notifications and
    /// the GAS spent.
    Invoke(InvokeArgs),
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The development account that pays (a name from `accounts.json`, or `genesis`).
    #[arg(long, default_value = "alice")]
    from: String,
    /// The receiving address (or `0x…` script hash).
    #[arg(long)]
    to: String,
    /// The amount, in whole tokens (decimals allowed for GAS: `1.5`).
    amount: String,
    /// `GAS` or `NEO`.
    #[arg(long, default_value = "GAS")]
    token: String,
}

#[derive(Debug, Args)]
struct InvokeArgs {
    /// The development account that signs and pays.
    #[arg(long, default_value = "alice")]
    from: String,
    /// Only test-invoke (nothing is sent).
    #[arg(long)]
    test: bool,
    /// The contract: `0x…`, or a name of the platform's contracts (`ExampleConsumer`).
    contract: String,
    /// The method.
    method: String,
    /// Arguments: `int:5`, `str:text`, `bytes:<hex>`, `bool:true`, `hash160:<0x…|address>`,
    /// `key:<hex>`; a bare integer is an int, anything else a string.
    args: Vec<String>,
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
        DevnetCommand::Send(send) => send_tokens(&args.data_dir, &dir, send).await,
        DevnetCommand::Invoke(invoke) => invoke_contract(&args.data_dir, &dir, invoke).await,
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
    let mut names = args.accounts.clone();
    names.push(OWNER.to_owned());
    let accounts = load_or_create_accounts(dir, &names).await?;
    let hash_of = |a: &DevAccount| Ok(Address::parse(&a.address)?.script_hash());
    let hashes = accounts
        .iter()
        .filter(|a| a.name != OWNER)
        .map(hash_of)
        .collect::<Result<Vec<_>>>()?;
    if !hashes.is_empty() {
        devnet
            .fund(&hashes, args.gas * 100_000_000, args.neo)
            .await
            .context("funding the accounts")?;
    }
    // The contracts' owner pays their deployment (about 10 GAS each) and administration.
    let owners = accounts
        .iter()
        .filter(|a| a.name == OWNER)
        .map(hash_of)
        .collect::<Result<Vec<_>>>()?;
    devnet
        .fund(&owners, OWNER_GAS * 100_000_000, 0)
        .await
        .context("funding the owner")?;
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
    let owner = accounts
        .iter()
        .find(|a| a.name == OWNER)
        .and_then(|a| a.wif.as_deref())
        .context("the owner account has no key")?;
    let owner: Arc<dyn TxSigner> = Arc::new(LocalKeySigner::new(wif_decode(owner)?));
    let deployed = set_up_platform(data_dir, &devnet, owner).await?;
    println!(
        "contracts (in {}):",
        data_dir.join(neosl_contracts::Deployed::FILE).display()
    );
    for (name, hash) in deployed.list() {
        println!("  {name:<20} {hash}");
    }
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

/// The development account that owns the platform's contracts on the devnet.
const OWNER: &str = "owner";
/// The owner's GAS, in whole GAS.
const OWNER_GAS: i64 = 200;
/// The Mixer operator's bond on the devnet, in whole GAS.
const MIXER_BOND_GAS: i64 = 2_000;
/// On the devnet a bond withdrawal may follow its announcement after a minute.
const DEV_MIXER_WITHDRAW_DELAY_MS: i64 = 60_000;

/// Deploys the platform's contracts, registers the services' TEE keys (from this data
/// directory's development secrets, the ones `neosl serve` uses) and funds the GasBank treasury.
async fn set_up_platform(
    data_dir: &Path,
    devnet: &Devnet,
    owner: Arc<dyn TxSigner>,
) -> Result<neosl_contracts::Deployed> {
    let submitter = devnet.submitter().await?;
    let deployed = neosl::contracts::deploy(&submitter, owner.clone(), DEV_MIXER_WITHDRAW_DELAY_MS)
        .await
        .context("deploying the platform's contracts")?;
    let registry = neosl::registry();
    let secrets = SecretStore::load(
        RuntimeMode::Simulation,
        &registry.secrets(),
        &EnvSource,
        Some(&data_dir.join("secrets")),
    )?;
    for service in registry.services() {
        let Some(on_chain) = service.declaration().on_chain else {
            continue;
        };
        let key = service
            .published_keys(&secrets)?
            .into_iter()
            .find(|k| k.purpose == on_chain.tee_key)
            .with_context(|| format!("{} publishes no {} key", service.name(), on_chain.tee_key))?;
        let key = neosl_neo::PublicKey::from_slice(&hex::decode(&key.public_key)?)?;
        neosl::contracts::ensure_tee_key(
            &submitter,
            owner.clone(),
            &deployed.gateway,
            on_chain.service_id,
            &key,
        )
        .await?;
    }
    // The Mixer's key signs its RequestProofs and CompletionProofs; the bond backs disputes.
    let mixer_key = neosl_mixer::definition::signing_key(&secrets)?.public_key();
    neosl::contracts::call_as(
        &submitter,
        owner.clone(),
        &deployed.mixer_service,
        "registerService",
        &[neosl_neo::param::ContractParameter::PublicKey(
            neosl_neo::PublicKey::from_slice(&mixer_key.to_compressed())?,
        )],
    )
    .await
    .context("registering the Mixer's key")?;
    devnet
        .fund(&[deployed.mixer_service], MIXER_BOND_GAS * 100_000_000, 0)
        .await
        .context("depositing the Mixer's bond")?;
    println!("mixer bond:     {MIXER_BOND_GAS} GAS in MixerService");
    let master = secrets
        .use_secret("GASBANK_MASTER_KEY", |b| {
            neosl_crypto::MasterKey::new(neosl_crypto::SecretBytes::from_slice(b))
        })?
        .context("GASBANK_MASTER_KEY")?;
    let treasury = neosl_gasbank::withdrawals::treasury_address(&master)?;
    devnet
        .fund(&[treasury.script_hash()], 1_000 * 100_000_000, 0)
        .await
        .context("funding the GasBank treasury")?;
    println!("treasury:       {treasury} (1000 GAS; pays withdrawals and fulfilment fees)");
    neosl::contracts::save(&deployed, data_dir)?;
    Ok(deployed)
}

/// The signer of development account `name` (or the genesis account).
async fn dev_signer(dir: &Path, name: &str) -> Result<Arc<dyn TxSigner>> {
    if name == "genesis" {
        bail!("use a named development account (the genesis account is the node's)");
    }
    let bytes = tokio::fs::read(dir.join("accounts.json"))
        .await
        .context("no development accounts here: run `neosl devnet` first")?;
    let accounts: Vec<DevAccount> = serde_json::from_slice(&bytes)?;
    let account = accounts
        .iter()
        .find(|a| a.name == name)
        .with_context(|| format!("no development account {name:?}"))?;
    let key = wif_decode(account.wif.as_deref().context("the account has no key")?)?;
    Ok(Arc::new(LocalKeySigner::new(key)))
}

async fn chain_of(dir: &Path) -> Result<neosl_chain::submit::Submitter> {
    let info = read_info(dir).await?;
    let rpc = neosl_chain::RpcClient::single(info.rpc_url)?;
    neosl_chain::submit::Submitter::connect(rpc, Default::default())
        .await
        .context("the devnet does not answer (neosl devnet status)")
}

fn parse_address(text: &str) -> Result<neosl_neo::UInt160> {
    if text.starts_with("0x") {
        return Ok(neosl_neo::UInt160::parse_display(text)?);
    }
    Ok(Address::parse(text)?.script_hash())
}

/// `1.5` GAS → 150000000; NEO is indivisible.
fn token_amount(text: &str, decimals: u32) -> Result<num_bigint::BigInt> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > decimals as usize
    {
        bail!("{text:?} is not an amount with at most {decimals} decimals");
    }
    let padded = format!("{whole}{fraction:0<width$}", width = decimals as usize);
    Ok(padded.parse()?)
}

async fn send_tokens(_data_dir: &Path, dir: &Path, args: SendArgs) -> Result<()> {
    let (token, decimals) = match args.token.to_ascii_uppercase().as_str() {
        "GAS" => (neosl_neo::native::GAS, 8),
        "NEO" => (neosl_neo::native::NEO, 0),
        other => bail!("token {other:?}: GAS or NEO"),
    };
    let amount = token_amount(&args.amount, decimals)?;
    let from = dev_signer(dir, &args.from).await?;
    let to = parse_address(&args.to)?;
    let submitter = chain_of(dir).await?;
    let script = neosl_neo::contract::nep17_transfer(&token, &from.account(), &to, &amount, None)?;
    let outcome = submitter
        .submit_and_wait(
            script,
            &[neosl_chain::submit::SignerEntry::called_by_entry(from)],
            Duration::from_secs(60),
        )
        .await?;
    if !outcome.halted() {
        bail!(
            "the transfer faulted: {}",
            outcome.exception.unwrap_or_default()
        );
    }
    println!(
        "sent {} {} to {} in {}",
        args.amount,
        args.token.to_ascii_uppercase(),
        args.to,
        outcome.hash
    );
    Ok(())
}

/// `int:5`, `str:…`, `bytes:…`, `bool:…`, `hash160:…`, `key:…`; a bare integer, else a string.
fn parse_arg(text: &str) -> Result<neosl_neo::param::ContractParameter> {
    use neosl_neo::param::ContractParameter as P;
    let (kind, value) = text.split_once(':').unwrap_or(("", text));
    Ok(match kind {
        "int" => P::Integer(value.parse()?),
        "str" => P::String(value.to_owned()),
        "bytes" => P::ByteArray(hex::decode(value.trim_start_matches("0x"))?),
        "bool" => P::Boolean(value.parse()?),
        "hash160" => P::Hash160(parse_address(value)?),
        "key" => P::PublicKey(neosl_neo::PublicKey::from_slice(&hex::decode(value)?)?),
        _ => match text.parse::<num_bigint::BigInt>() {
            Ok(n) => P::Integer(n),
            Err(_) => P::String(text.to_owned()),
        },
    })
}

async fn invoke_contract(data_dir: &Path, dir: &Path, args: InvokeArgs) -> Result<()> {
    let contract = if args.contract.starts_with("0x") {
        neosl_neo::UInt160::parse_display(&args.contract)?
    } else {
        let deployed = neosl::contracts::load(data_dir)?
            .context("no platform contracts here: run `neosl devnet` first")?;
        deployed
            .list()
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&args.contract))
            .map(|(_, hash)| hash)
            .with_context(|| format!("no platform contract named {:?}", args.contract))?
    };
    let params = args
        .args
        .iter()
        .map(|a| parse_arg(a))
        .collect::<Result<Vec<_>>>()?;
    let from = dev_signer(dir, &args.from).await?;
    let submitter = chain_of(dir).await?;
    if args.test {
        let result = submitter
            .rpc()
            .invoke_function(
                &contract,
                &args.method,
                &params,
                &[neosl_neo::tx::Signer::called_by_entry(from.account())],
            )
            .await?;
        println!("state:          {}", result.state);
        println!("gas consumed:   {}", result.gasconsumed);
        for item in &result.stack {
            println!("result:         {}", item.to_json());
        }
        if let Some(e) = result.exception {
            println!("exception:      {e}");
        }
        return Ok(());
    }
    let mut sb = neosl_neo::script::ScriptBuilder::new();
    neosl_neo::contract::call(
        &mut sb,
        &contract,
        &args.method,
        neosl_neo::contract::CallFlags::ALL,
        &params,
    )?;
    let signers = [neosl_chain::submit::SignerEntry::called_by_entry(from)];
    let tx = submitter.build(sb.into_bytes(), &signers, vec![]).await?;
    submitter
        .send_with_retry(&tx, Duration::from_secs(30))
        .await?;
    let outcome = submitter.wait(&tx, Duration::from_secs(60)).await?;
    println!("transaction:    {}", outcome.hash);
    println!("state:          {}", outcome.vm_state);
    println!(
        "gas:            system fee {} + network fee {} (consumed {})",
        tx.system_fee, tx.network_fee, outcome.gas_consumed
    );
    for item in &outcome.stack {
        println!("result:         {}", item.to_json());
    }
    for n in &outcome.notifications {
        println!(
            "notification:   {} {} {}",
            n.contract,
            n.eventname,
            n.state.to_json()
        );
    }
    if let Some(e) = outcome.exception {
        println!("exception:      {e}");
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
