//! `neosl`: the Neo Service Layer platform binary.
//!
//! Subcommands are operator tools; later issues add `serve`, `devnet` and the services.

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(args) => keys::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
