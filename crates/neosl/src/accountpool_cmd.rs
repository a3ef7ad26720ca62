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
        /// Only this hash: who signed it, when.
        #[arg(long)]
        hash: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Verify the audit chain of every service: each record follows the one before it, its
    /// digest matches its fields, its MAC is the pool's (with the pool's master key, from
    /// POOL_MASTER_KEY / COORD_MASTER_SEED or the development secrets), and nothing is missing
    /// at the end. Exits non-zero naming the first record that does not fit.
    VerifyAudit {
        /// Check links and digests only (no master key at hand): a forger who recomputes the
        /// chain is then not caught.
        #[arg(long)]
        without_key: bool,
    },
}

pub async fn run(args: AccountPoolArgs) -> Result<()> {
    let settings = crate::serve::settings_from(args.config.as_deref(), args.data_dir)?;
    let db = Database::connect(&settings.database_url())
        .await
        .context("opening the database")?;
    let store = PoolStore::open(db).await?;
    match args.command {
        PoolCommand::VerifyAudit { without_key } => {
            let key = if without_key {
                None
            } else {
                Some(audit_key(&settings)?)
            };
            match store.verify_audit(key.as_ref().map(|k| k.expose())).await? {
                Ok(counts) => {
                    for (service, n) in &counts {
                        println!("{service}: {n} record(s), chain intact");
                    }
                    if counts.is_empty() {
                        println!("no audit records yet");
                    }
                    Ok(())
                }
                Err(broken) => anyhow::bail!("the audit chain is broken: {broken}"),
            }
        }
        PoolCommand::Audit {
            account,
            service,
            hash,
            limit,
            json,
        } => {
            let entries = store
                .audit(
                    account.as_deref(),
                    service.as_deref(),
                    hash.as_deref(),
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

/// The audit key from the pool's master key as `neosl serve` would load it; never a freshly
/// generated development key (it would call every record forged).
fn audit_key(settings: &neosl_runtime::config::Settings) -> Result<neosl_crypto::SecretBytes> {
    use neosl_runtime::Service as _;
    let dev_dir = settings.data_dir.join("secrets");
    let dev_dir = dev_dir.join("dev-secrets.json").exists().then_some(dev_dir);
    let secrets = neosl_runtime::SecretStore::load(
        settings.mode.unwrap_or(neosl_runtime::RuntimeMode::Simulation),
        neosl_accountpool::Definition.secrets(),
        &neosl_runtime::secrets::EnvSource,
        dev_dir.as_deref(),
    )
    .context("the pool's master key (POOL_MASTER_KEY or COORD_MASTER_SEED) is needed to check the MACs; --without-key checks the links only")?;
    let master = neosl_accountpool::definition::pool_master_key(&secrets)?;
    Ok(neosl_accountpool::store::audit_key(&master)?)
}
