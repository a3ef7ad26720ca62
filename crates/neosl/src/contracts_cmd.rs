//! `neosl contracts …`: deploying the platform's contracts to a chain and administering the
//! gateway as its owner.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use neosl_chain::RpcClient;
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::Submitter;
use neosl_neo::{Address, PublicKey};
use neosl_runtime::RuntimeMode;
use neosl_runtime::secrets::{EnvSource, SecretStore};

#[derive(Debug, Args)]
pub struct ContractsArgs {
    #[command(subcommand)]
    command: ContractsCommand,
    /// Settings file (TOML); also `NEOSL_CONFIG`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The data directory (`contracts.json` is written there); also `NEOSL_DATA_DIR`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The chain's RPC URL (default: the settings' `chain_rpc`).
    #[arg(long, global = true)]
    rpc: Option<String>,
    /// A file holding the gateway owner's WIF (default: `NEOSL_OWNER_WIF`). The owner pays.
    #[arg(long, global = true)]
    owner_wif_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ContractsCommand {
    /// Deploy ServiceLayerGateway, VRFService and ExampleConsumer, register the services and
    /// their TEE keys, and write `contracts.json` for `neosl serve`.
    Deploy {
        /// A service's TEE key as `service=HEX` (default: from this machine's secrets).
        #[arg(long = "tee-key")]
        tee_keys: Vec<String>,
    },
    /// Let an account send fulfilments (the address `/ready` of the on-chain worker names).
    AddTeeAccount {
        /// The account's address.
        address: String,
    },
    /// Print the deployed contracts of this data directory.
    Show {
        /// Print only this contract's hash (`ExampleConsumer`), for scripts.
        #[arg(long)]
        name: Option<String>,
    },
}

fn owner(args: &ContractsArgs) -> Result<Arc<dyn TxSigner>> {
    let wif = match &args.owner_wif_file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => std::env::var("NEOSL_OWNER_WIF")
            .context("the owner's key: --owner-wif-file or NEOSL_OWNER_WIF")?,
    };
    let key = neosl_neo::address::wif_decode(wif.trim()).context("the owner's WIF")?;
    Ok(Arc::new(LocalKeySigner::new(key)))
}

pub async fn run(args: ContractsArgs) -> Result<()> {
    let settings = crate::serve::settings_from(args.config.as_deref(), args.data_dir.clone())?;
    if let ContractsCommand::Show { name } = &args.command {
        let deployed = neosl::contracts::load(&settings.data_dir)?
            .context("no contracts.json in this data directory")?;
        if let Some(wanted) = name {
            let (_, hash) = deployed
                .list()
                .into_iter()
                .find(|(n, _)| *n == wanted.as_str())
                .with_context(|| format!("no contract named {wanted}"))?;
            println!("{hash}");
            return Ok(());
        }
        println!("network magic:  {}", deployed.network);
        for (name, hash) in deployed.list() {
            println!("  {name:<20} {hash}");
        }
        return Ok(());
    }
    let endpoints = match &args.rpc {
        Some(url) => vec![url.clone()],
        None if !settings.chain_rpc.is_empty() => settings.chain_rpc.clone(),
        None => bail!("which chain? --rpc URL or chain_rpc in the settings"),
    };
    let rpc = RpcClient::new(endpoints, Default::default())?;
    let submitter = Submitter::connect(rpc, Default::default())
        .await
        .context("the chain does not answer")?;
    let owner = owner(&args)?;
    match &args.command {
        ContractsCommand::Deploy { tee_keys } => {
            let deployed = neosl::contracts::deploy(
                &submitter,
                owner.clone(),
                neosl::contracts::MIXER_WITHDRAW_DELAY_MS,
            )
            .await?;
            let keys = if tee_keys.is_empty() {
                local_tee_keys(&settings)?
            } else {
                tee_keys
                    .iter()
                    .map(|entry| {
                        let (service, key) =
                            entry.split_once('=').context("--tee-key is service=HEX")?;
                        Ok((
                            service.to_owned(),
                            PublicKey::from_slice(&hex::decode(key)?)?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            for (service, key) in &keys {
                neosl::contracts::ensure_tee_key(
                    &submitter,
                    owner.clone(),
                    &deployed.gateway,
                    service,
                    key,
                )
                .await?;
                println!("TEE key of {service}: {key}");
            }
            neosl::contracts::save(&deployed, &settings.data_dir)?;
            println!("network magic:  {}", deployed.network);
            for (name, hash) in deployed.list() {
                println!("  {name:<20} {hash}");
            }
            println!(
                "written to {}; register the fulfilment account with `neosl contracts add-tee-account`",
                settings
                    .data_dir
                    .join(neosl_contracts::Deployed::FILE)
                    .display()
            );
        }
        ContractsCommand::AddTeeAccount { address } => {
            let deployed = neosl::contracts::load(&settings.data_dir)?
                .context("no contracts.json in this data directory")?;
            let account = Address::parse(address)?.script_hash();
            let added = neosl::contracts::ensure_tee_account(
                &submitter,
                owner,
                &deployed.gateway,
                &account,
            )
            .await?;
            println!(
                "{address} {}",
                if added {
                    "may now send fulfilments"
                } else {
                    "was a TEE account already"
                }
            );
        }
        ContractsCommand::Show { .. } => {}
    }
    Ok(())
}

/// Each on-chain service's TEE key, from this machine's secrets (injected, or in simulation
/// the development ones of the data directory).
fn local_tee_keys(settings: &neosl_runtime::config::Settings) -> Result<Vec<(String, PublicKey)>> {
    let registry = neosl::registry();
    let mode = RuntimeMode::resolve(settings.mode);
    let secrets = SecretStore::load(
        mode,
        &registry.secrets(),
        &EnvSource,
        Some(&settings.data_dir.join("secrets")),
    )?;
    let mut keys = Vec::new();
    for service in registry.services() {
        let Some(on_chain) = service.declaration().on_chain else {
            continue;
        };
        let key = service
            .published_keys(&secrets)?
            .into_iter()
            .find(|k| k.purpose == on_chain.tee_key)
            .with_context(|| format!("{} publishes no {} key", service.name(), on_chain.tee_key))?;
        keys.push((
            on_chain.service_id.to_owned(),
            PublicKey::from_slice(&hex::decode(&key.public_key)?)?,
        ));
    }
    Ok(keys)
}
