//! `neosl gasbank …`: operator commands on the GasBank's database.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use neosl_gasbank::{GasBank, Owner};
use neosl_gateway::store::GatewayStore;
use neosl_runtime::RuntimeMode;
use neosl_runtime::db::Database;

#[derive(Debug, Args)]
pub struct GasBankArgs {
    #[command(subcommand)]
    command: GasBankCommand,
    /// Settings file (TOML); also `NEOSL_CONFIG`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The data directory; also `NEOSL_DATA_DIR`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum GasBankCommand {
    /// SIMULATION ONLY: credit a development balance to a registered user, so paid services
    /// can be tried without a chain. Refused in enclave mode and on a production database;
    /// recorded in the ledger as `dev_credit`.
    DevCredit {
        /// The user's e-mail address.
        email: String,
        /// The amount in 10⁻⁸ GAS (100000000 = 1 GAS).
        amount: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: GasBankArgs) -> Result<()> {
    let settings = crate::serve::settings_from(args.config.as_deref(), args.data_dir)?;
    let mode = RuntimeMode::resolve(settings.mode);
    match args.command {
        GasBankCommand::DevCredit {
            email,
            amount,
            json,
        } => {
            let db = Database::connect(&settings.database_url())
                .await
                .context("opening the database")?;
            let email = neosl_gateway::guard::normalise_email(&email)?;
            let store = GatewayStore::open(db.clone()).await?;
            let (user, _) = store
                .user_by_email(&email)
                .await?
                .with_context(|| format!("no user is registered as {email}"))?;
            let bank = GasBank::open(db).await?;
            let owner = Owner::User(user.id.clone());
            let reference = format!("dev-credit:{}", uuid_v4());
            let entry = bank.dev_credit(&owner, amount, &reference, mode).await?;
            let state = bank.account(&owner).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "entry": entry, "account": state })
                );
            } else {
                println!(
                    "credited {amount} (10^-8 GAS) to {email}: balance {}, available {}",
                    state.balance, state.available
                );
            }
            Ok(())
        }
    }
}

fn uuid_v4() -> String {
    hex::encode(neosl_crypto::random_array::<16>())
}
