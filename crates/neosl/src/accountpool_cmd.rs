//! `neosl accountpool …`: operator commands that read the AccountPool's database directly.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use neosl_accountpool::store::PoolStore;
use neosl_runtime::db::Database;

#[derive(Debug, Args)]
pub struct AccountPoolArgs {
    #[command(subcommand)]
    command: PoolCommand,
    /// Settings file (TOML); also `NEOSL_CONFIG`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The data directory; also `NEOSL_DATA_DIR`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PoolCommand {
    /// List signatures and transfers, newest first.
    Audit {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: AccountPoolArgs) -> Result<()> {
    let settings = crate::serve::settings_from(args.config.as_deref(), args.data_dir)?;
    let db = Database::connect(&settings.database_url())
        .await
        .context("opening the database")?;
    let store = PoolStore::open(db).await?;
    match args.command {
        PoolCommand::Audit {
            account,
            service,
            limit,
            json,
        } => {
            let entries = store
                .audit(
                    account.as_deref(),
                    service.as_deref(),
                    limit.clamp(1, 100_000),
                )
                .await?;
            for e in &entries {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "kind": e.kind, "account_id": e.account_id, "service_id": e.service_id, "lock_id": e.lock_id,
                            "hash": e.hash, "detail": e.detail, "created_at": e.created_at,
                        })
                    );
                } else {
                    println!(
                        "{}  {:<8} {:<14} {}  {}",
                        e.created_at, e.kind, e.service_id, e.account_id, e.hash
                    );
                }
            }
            if !json {
                eprintln!("{} record(s)", entries.len());
            }
            Ok(())
        }
    }
}
