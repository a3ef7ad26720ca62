//! A real Neo N3 chain on this machine: NeoGo 0.105.1, taken from the PyPI package
//! `boa-test-constructor==0.3.3` (which ships a static NeoGo binary and the single-validator
//! wallet), configured as a single-validator network bound to 127.0.0.1.
//!
//! The same code serves `neosl devnet` and the test suite: [`Devnet::start`] fetches the node once
//! into a cache directory, writes its configuration, starts it, waits until RPC answers and
//! returns a handle that can fund accounts from the genesis (committee) account and stop exactly
//! the process it started.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use neosl_chain::RpcClient;
use neosl_chain::rpc::RpcConfig;
use neosl_chain::signer::{LocalMultisigSigner, TxSigner};
use neosl_chain::submit::{SignerEntry, SubmitConfig, Submitter, TxOutcome};
use neosl_neo::wallet::Nep6Wallet;
use neosl_neo::{PublicKey, UInt160, contract, native, script};
use num_bigint::BigInt;
use tokio::process::{Child, Command};

/// The PyPI package that carries the node, pinned.
pub const NEOGO_PACKAGE: &str = "boa-test-constructor==0.3.3";
/// The standby committee key of the single-validator network (from the package's wallet).
pub const COMMITTEE_KEY: &str =
    "02b3622bf4017bdfe317c58aed5f4c753f206b7db896046fa7d774bbc4bf7f8dc2";
const WALLET_FILE: &str = "wallet1_solo.json";
const WALLET_PASSWORD: &str = "one";
const WALLET_ACCOUNT: &str = "Nhfg3TbpwogLvDGVvAvqyThbsHgoSUKwtn";

/// How to run a devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Where the node binary is cached (fetched once).
    pub cache_dir: PathBuf,
    /// Where this node's configuration, log, PID file and (if persistent) chain live.
    pub data_dir: PathBuf,
    /// RPC port on 127.0.0.1; 0 picks a free one.
    pub rpc_port: u16,
    /// Network magic.
    pub magic: u32,
    /// Block time.
    pub block_time: Duration,
    /// Keep the chain on disk (survives a node restart) instead of in memory.
    pub persistent: bool,
    /// Leave the node running when this handle is dropped (for `neosl devnet`, which exits and
    /// leaves the node to `neosl devnet stop`). Tests leave it false: a dropped handle kills
    /// its node.
    pub keep_running: bool,
}

impl DevnetConfig {
    /// Defaults for a data directory: free port, magic 42 (the wallet's network), 1 s blocks,
    /// in-memory chain, node cache in `data_dir/cache`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            cache_dir: data_dir.join("cache"),
            data_dir,
            rpc_port: 0,
            magic: 42,
            block_time: Duration::from_secs(1),
            persistent: false,
            keep_running: false,
        }
    }
}

/// Fetches NeoGo and the single-validator wallet into `cache_dir` (once). Returns the binary.
pub async fn ensure_neogo(cache_dir: &Path) -> Result<PathBuf> {
    let binary = cache_dir.join("neogo");
    let wallet = cache_dir.join(WALLET_FILE);
    if binary.exists() && wallet.exists() {
        return Ok(binary);
    }
    tokio::fs::create_dir_all(cache_dir).await?;
    // Several processes (parallel tests) may arrive here at once: one fetches, the others wait.
    let lock = std::fs::File::create(cache_dir.join("fetch.lock"))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock)).await??;
    if binary.exists() && wallet.exists() {
        return Ok(binary);
    }
    let download = cache_dir.join("download");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args([
            "--only-binary=:all:",
            "--platform",
            "manylinux1_x86_64",
            NEOGO_PACKAGE,
            "-d",
        ])
        .arg(&download)
        .status()
        .await
        .with_context(|| format!("running {python} -m pip download {NEOGO_PACKAGE}"))?;
    if !status.success() {
        bail!("pip could not download {NEOGO_PACKAGE} (is PyPI reachable?)");
    }
    // Extract the two files with Python's zipfile (pip needs Python anyway).
    let extract = r#"
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(src, "boa_test_constructor-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name, out in (("boaconstructor/data/neogo", "neogo"), ("boaconstructor/data/wallet1_solo.json", "wallet1_solo.json")):
        data = z.read(name)
        tmp = os.path.join(dst, out + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755 if out == "neogo" else 0o600)
        os.replace(tmp, os.path.join(dst, out))
"#;
    let status = Command::new(&python)
        .arg("-c")
        .arg(extract)
        .arg(&download)
        .arg(cache_dir)
        .status()
        .await?;
    if !status.success() {
        bail!("extracting NeoGo from the {NEOGO_PACKAGE} wheel failed");
    }
    tokio::fs::remove_dir_all(&download).await.ok();
    drop(lock);
    Ok(binary)
}

/// Stops the node whose PID file is in `data_dir`, if that process is still the NeoGo node
/// started with that directory's configuration (a reused PID is left alone). Returns whether a
/// node was stopped.
pub async fn stop_by_pid_file(data_dir: &Path) -> Result<bool> {
    let Ok(data_dir) = data_dir.canonicalize() else {
        return Ok(false);
    };
    let data_dir = data_dir.as_path();
    let pid_file = data_dir.join("neogo.pid");
    let Ok(text) = tokio::fs::read_to_string(&pid_file).await else {
        return Ok(false);
    };
    let pid: u32 = text.trim().parse().context("malformed PID file")?;
    let config_path = data_dir.join("neogo.yml");
    let cmdline = tokio::fs::read(format!("/proc/{pid}/cmdline"))
        .await
        .unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    if !cmdline.contains("neogo") || !cmdline.contains(&*config_path.to_string_lossy()) {
        tokio::fs::remove_file(&pid_file).await.ok();
        return Ok(false);
    }
    for (signal, wait) in [
        ("-TERM", Duration::from_secs(10)),
        ("-KILL", Duration::from_secs(5)),
    ] {
        Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .await?;
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid).await {
                tokio::fs::remove_file(&pid_file).await.ok();
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    bail!("process {pid} did not stop")
}

async fn is_zombie(pid: u32) -> bool {
    tokio::fs::read_to_string(format!("/proc/{pid}/stat"))
        .await
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

/// A free TCP port on 127.0.0.1 (released before the node binds it).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn node_config(config: &DevnetConfig, port: u16, wallet: &Path) -> String {
    let ms = config.block_time.as_millis();
    let db = if config.persistent {
        format!(
            "    Type: \"boltdb\"\n    BoltDBOptions:\n      FilePath: \"{}\"\n",
            config.data_dir.join("chain.bolt").display()
        )
    } else {
        "    Type: \"inmemory\"\n".to_owned()
    };
    format!(
        r#"ProtocolConfiguration:
  Magic: {magic}
  MaxTraceableBlocks: 200000
  TimePerBlock: {ms}ms
  MemPoolSize: 50000
  StandbyCommittee:
    - {COMMITTEE_KEY}
  ValidatorsCount: 1
  VerifyTransactions: true
  P2PSigExtensions: false
ApplicationConfiguration:
  SkipBlockVerification: false
  DBConfiguration:
{db}  P2P:
    Addresses:
      - "127.0.0.1:0"
    MinPeers: 0
    MaxPeers: 10
    AttemptConnPeers: 0
  Relay: true
  Consensus:
    Enabled: true
    UnlockWallet:
      Path: "{wallet}"
      Password: "{WALLET_PASSWORD}"
  RPC:
    Enabled: true
    Addresses:
      - "127.0.0.1:{port}"
    MaxGasInvoke: 100
    SessionEnabled: true
  Prometheus:
    Enabled: false
  Pprof:
    Enabled: false
"#,
        magic = config.magic,
        wallet = wallet.display(),
    )
}

/// A running single-validator Neo N3 node.
pub struct Devnet {
    config: DevnetConfig,
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    rpc: RpcClient,
    network: u32,
    committee: Arc<LocalMultisigSigner>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("rpc_url", &self.rpc_url())
            .field("pid", &self.pid())
            .finish()
    }
}

impl Devnet {
    /// Fetches (once), configures and starts a node, and waits until its RPC answers.
    pub async fn start(mut config: DevnetConfig) -> Result<Self> {
        let binary = ensure_neogo(&config.cache_dir).await?.canonicalize()?;
        tokio::fs::create_dir_all(&config.data_dir).await?;
        // The node runs in its data directory: every path handed to it must be absolute.
        config.data_dir = config.data_dir.canonicalize()?;
        config.cache_dir = config.cache_dir.canonicalize()?;
        let port = if config.rpc_port == 0 {
            free_port()?
        } else {
            config.rpc_port
        };
        config.rpc_port = port;
        let wallet_text = tokio::fs::read_to_string(config.cache_dir.join(WALLET_FILE)).await?;
        let wallet = Nep6Wallet::from_json(&wallet_text)?;
        let key = wallet
            .decrypt(WALLET_ACCOUNT, WALLET_PASSWORD)
            .context("decrypting the validator wallet")?;
        let committee_key = PublicKey::from_slice(&hex::decode(COMMITTEE_KEY)?)?;
        if key.public_key() != committee_key {
            bail!("the validator wallet does not hold the committee key");
        }
        let committee = Arc::new(LocalMultisigSigner::new(1, &[committee_key], vec![key])?);
        let rpc = RpcClient::new(
            vec![format!("http://127.0.0.1:{port}")],
            RpcConfig {
                timeout: Duration::from_secs(10),
                retries: 2,
                backoff: Duration::from_millis(100),
            },
        )?;
        let mut devnet = Self {
            config,
            binary,
            port,
            child: None,
            rpc,
            network: 0,
            committee,
        };
        devnet.spawn().await?;
        Ok(devnet)
    }

    async fn spawn(&mut self) -> Result<()> {
        let wallet = self.config.cache_dir.join(WALLET_FILE).canonicalize()?;
        let config_path = self.config.data_dir.join("neogo.yml");
        tokio::fs::write(&config_path, node_config(&self.config, self.port, &wallet)).await?;
        let log = std::fs::File::create(self.config.data_dir.join("neogo.log"))?;
        let child = Command::new(&self.binary)
            .args(["node", "--config-file"])
            .arg(&config_path)
            .current_dir(&self.config.data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(!self.config.keep_running)
            // Its own process group: a Ctrl-C meant for the terminal does not reach it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        if let Some(pid) = child.id() {
            tokio::fs::write(self.config.data_dir.join("neogo.pid"), pid.to_string()).await?;
        }
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.rpc.get_version().await {
                Ok(v) => {
                    self.network = v.protocol.network;
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    bail!(
                        "the node did not answer within 30 s ({e}); see {}",
                        self.config.data_dir.join("neogo.log").display()
                    )
                }
                Err(_) => {}
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the node exited ({status}); see {}",
                    self.config.data_dir.join("neogo.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Wait for the first block after genesis so that transactions can be included at once.
        while self.rpc.get_block_count().await? < 2 {
            if Instant::now() > deadline {
                bail!("the node produces no blocks");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops the node process and starts it again on the same port (the RPC listener goes down
    /// and comes back). With a persistent chain the blocks survive.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await?;
        self.spawn().await
    }

    async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.ok();
            child.wait().await.ok();
        }
        tokio::fs::remove_file(self.config.data_dir.join("neogo.pid"))
            .await
            .ok();
        Ok(())
    }

    /// Stops exactly the node this handle started.
    pub async fn stop(mut self) -> Result<()> {
        self.kill().await
    }

    /// The RPC URL.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where this node's files are.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The node's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The network magic.
    pub fn network(&self) -> u32 {
        self.network
    }

    /// An RPC client for this node.
    pub fn rpc(&self) -> RpcClient {
        self.rpc.clone()
    }

    /// The genesis account (1-of-1 multi-signature of the committee key) holding all NEO and
    /// the initial GAS.
    pub fn genesis_signer(&self) -> Arc<dyn TxSigner> {
        self.committee.clone()
    }

    /// The genesis account's script hash.
    pub fn genesis_account(&self) -> UInt160 {
        self.committee.account()
    }

    /// A transaction submitter for this node.
    pub async fn submitter(&self) -> Result<Submitter> {
        let config = SubmitConfig {
            poll_interval: Duration::from_millis(100),
            ..SubmitConfig::default()
        };
        Ok(Submitter::connect(self.rpc.clone(), config).await?)
    }

    /// Sends `gas` and `neo` (in their smallest units) from the genesis account to each account,
    /// all in one transaction, and waits for it.
    pub async fn fund(&self, accounts: &[UInt160], gas: i64, neo: i64) -> Result<TxOutcome> {
        let from = self.genesis_account();
        let mut script_bytes = Vec::new();
        for to in accounts {
            if gas > 0 {
                script_bytes.extend(contract::nep17_transfer(
                    &native::GAS,
                    &from,
                    to,
                    &BigInt::from(gas),
                    None,
                )?);
            }
            if neo > 0 {
                script_bytes.extend(contract::nep17_transfer(
                    &native::NEO,
                    &from,
                    to,
                    &BigInt::from(neo),
                    None,
                )?);
            }
        }
        if script_bytes.is_empty() {
            bail!("nothing to fund");
        }
        let submitter = self.submitter().await?;
        let signers = [SignerEntry::called_by_entry(self.genesis_signer())];
        let outcome = submitter
            .submit_and_wait(script_bytes, &signers, Duration::from_secs(30))
            .await?;
        if !outcome.halted() {
            bail!("funding failed: {:?}", outcome.exception);
        }
        Ok(outcome)
    }
}

/// Deploys a contract (NEF file + manifest JSON) from `deployer` and returns its hash.
pub async fn deploy_contract(
    submitter: &Submitter,
    deployer: Arc<dyn TxSigner>,
    nef: &[u8],
    manifest: &str,
) -> Result<UInt160> {
    deploy_contract_with(submitter, deployer, nef, manifest, None).await
}

/// [`deploy_contract`] with the deploy data its `_deploy` receives.
pub async fn deploy_contract_with(
    submitter: &Submitter,
    deployer: Arc<dyn TxSigner>,
    nef: &[u8],
    manifest: &str,
    data: Option<neosl_neo::param::ContractParameter>,
) -> Result<UInt160> {
    use neosl_neo::param::ContractParameter as P;
    let checksum_bytes: [u8; 4] = nef
        .get(nef.len().saturating_sub(4)..)
        .and_then(|b| b.try_into().ok())
        .context("NEF file too short")?;
    let name = serde_json::from_str::<serde_json::Value>(manifest)?
        .get("name")
        .and_then(|n| n.as_str().map(str::to_owned))
        .context("manifest has no name")?;
    let hash = native::contract_hash(
        &deployer.account(),
        u32::from_le_bytes(checksum_bytes),
        &name,
    );
    let mut sb = script::ScriptBuilder::new();
    neosl_neo::contract::call(
        &mut sb,
        &native::CONTRACT_MANAGEMENT,
        "deploy",
        contract::CallFlags::ALL,
        &match data {
            Some(data) => vec![
                P::ByteArray(nef.to_vec()),
                P::String(manifest.to_owned()),
                data,
            ],
            None => vec![P::ByteArray(nef.to_vec()), P::String(manifest.to_owned())],
        },
    )?;
    let signers = [SignerEntry::called_by_entry(deployer)];
    let outcome = submitter
        .submit_and_wait(sb.into_bytes(), &signers, Duration::from_secs(30))
        .await?;
    if !outcome.halted() {
        bail!("deployment failed: {:?}", outcome.exception);
    }
    Ok(hash)
}
