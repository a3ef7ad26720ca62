//! `neosl`: the Neo Service Layer platform binary.
//!
//! `serve` runs the services; the other subcommands are operator tools.

mod accountpool_cmd;
mod contracts_cmd;
mod dev_certs;
mod devnet;
mod gasbank_cmd;
mod keys;
mod serve;
mod vrf_cmd;

use clap::{Parser, Subcommand};

/// The Neo Service Layer platform.
#[derive(Debug, Parser)]
#[command(name = "neosl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect keys, addresses and script hashes; derive pool accounts.
    Keys(keys::KeysArgs),
    /// Run every service in one process (the default), or one service alone.
    Serve(serve::ServeArgs),
    /// Run a real single-validator Neo N3 chain on 127.0.0.1 (NeoGo, fetched once from PyPI).
    Devnet(devnet::DevnetArgs),
    /// Create a local CA and a certificate per service, for mutual TLS without MarbleRun.
    DevCerts(dev_certs::DevCertsArgs),
    /// Verify a VRF answer offline (needs only the service's public key).
    VrfVerify(vrf_cmd::VrfVerifyArgs),
    /// AccountPool operator commands (audit).
    Accountpool(accountpool_cmd::AccountPoolArgs),
    /// Deploy the platform's contracts and administer the gateway as its owner.
    Contracts(contracts_cmd::ContractsArgs),
    /// GasBank operator commands (development credits).
    Gasbank(gasbank_cmd::GasBankArgs),
    /// List the secrets each service reads (what a MarbleRun manifest must inject).
    Secrets {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(args) => keys::run(args),
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve::run(args))),
        Command::Devnet(args) => runtime().and_then(|rt| rt.block_on(devnet::run(args))),
        Command::DevCerts(args) => dev_certs::run(args),
        Command::VrfVerify(args) => vrf_cmd::run(args),
        Command::Accountpool(args) => {
            runtime().and_then(|rt| rt.block_on(accountpool_cmd::run(args)))
        }
        Command::Contracts(args) => runtime().and_then(|rt| rt.block_on(contracts_cmd::run(args))),
        Command::Gasbank(args) => runtime().and_then(|rt| rt.block_on(gasbank_cmd::run(args))),
        Command::Secrets { json } => {
            print!(
                "{}",
                neosl::platform::secrets_listing(&neosl::registry(), json)
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
