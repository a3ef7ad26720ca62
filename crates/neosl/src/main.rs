//! `neosl`: the Neo Service Layer platform binary.
//!
//! Subcommands are operator tools; `serve` (every service) arrives with the runtime.

mod devnet;
mod keys;

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
    /// Run a real single-validator Neo N3 chain on 127.0.0.1 (NeoGo, fetched once from PyPI).
    Devnet(devnet::DevnetArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(args) => keys::run(args),
        Command::Devnet(args) => runtime().and_then(|rt| rt.block_on(devnet::run(args))),
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
