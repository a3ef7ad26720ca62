//! `neosl keys`: what an operator needs to reason about Neo accounts without a wallet.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use neosl_crypto::{MasterKey, PublicKey, SecretBytes, kdf};
use neosl_neo::address::{wif_decode, wif_encode};
use neosl_neo::script::verification_script;
use neosl_neo::{Address, UInt160};
use serde_json::json;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Show the address, script hash and verification script of a public key (hex, 33 or 65
    /// bytes), a WIF private key, a script hash (0x-prefixed display form) or an address.
    Show {
        /// The key, hash or address.
        value: String,
    },
    /// Derive the AccountPool account for an account id from a master key.
    Derive {
        /// The master key, hex (at least 32 bytes). Prefer the environment variable: command
        /// lines are visible to other users of the machine.
        #[arg(long, env = "NEOSL_MASTER_KEY", hide_env_values = true)]
        master_key: String,
        /// The account id (a lowercase UUID).
        #[arg(long)]
        account_id: String,
    },
    /// Generate a new random key pair and print its WIF (for development accounts).
    Generate,
}

/// What the command prints about one account.
struct AccountView {
    public_key: Option<PublicKey>,
    script_hash: UInt160,
    verification_script: Option<Vec<u8>>,
}

impl AccountView {
    fn of_key(key: PublicKey) -> Self {
        let script = verification_script(&key);
        Self {
            public_key: Some(key),
            script_hash: UInt160::of_script(&script),
            verification_script: Some(script),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "address": Address::from_script_hash(self.script_hash).to_string(),
            "script_hash": self.script_hash.to_string(),
            "script_hash_le": hex::encode(self.script_hash.as_le_bytes()),
            "public_key": self.public_key.map(|k| k.to_string()),
            "verification_script": self.verification_script.as_ref().map(hex::encode),
        })
    }

    fn print(&self, extra: &[(&str, String)], as_json: bool) {
        if as_json {
            let mut v = self.to_json();
            for (k, val) in extra {
                v[*k] = json!(val);
            }
            println!("{v:#}");
            return;
        }
        for (k, val) in extra {
            println!("{:<22}{val}", format!("{k}:"));
        }
        if let Some(key) = &self.public_key {
            println!("{:<22}{key}", "public key:");
        }
        println!(
            "{:<22}{}",
            "address:",
            Address::from_script_hash(self.script_hash)
        );
        println!("{:<22}{}", "script hash:", self.script_hash);
        println!(
            "{:<22}{}",
            "script hash (LE):",
            hex::encode(self.script_hash.as_le_bytes())
        );
        match &self.verification_script {
            Some(script) => println!("{:<22}{}", "verification script:", hex::encode(script)),
            None => println!(
                "{:<22}unknown (only the hash is given)",
                "verification script:"
            ),
        }
    }
}

pub fn run(args: KeysArgs) -> Result<()> {
    match args.command {
        KeysCommand::Show { value } => show(value.trim(), args.json),
        KeysCommand::Derive {
            master_key,
            account_id,
        } => derive(&master_key, &account_id, args.json),
        KeysCommand::Generate => {
            let key = neosl_crypto::SecretKey::generate();
            let wif = wif_encode(&key);
            AccountView::of_key(key.public_key()).print(&[("wif", wif.to_string())], args.json);
            Ok(())
        }
    }
}

fn show(value: &str, as_json: bool) -> Result<()> {
    let view = if let Some(hex_digits) = value.strip_prefix("0x") {
        AccountView {
            public_key: None,
            script_hash: UInt160::parse_display(hex_digits).context("not a script hash")?,
            verification_script: None,
        }
    } else if value.len() == 66 || value.len() == 130 {
        let bytes = hex::decode(value).context("a public key must be hex")?;
        AccountView::of_key(PublicKey::from_slice(&bytes).context("not a valid public key")?)
    } else if value.len() == 52 && (value.starts_with('K') || value.starts_with('L')) {
        AccountView::of_key(wif_decode(value).context("not a valid WIF")?.public_key())
    } else if value.len() == 34 && value.starts_with('N') {
        AccountView {
            public_key: None,
            script_hash: Address::parse(value)
                .context("not a valid address")?
                .script_hash(),
            verification_script: None,
        }
    } else {
        bail!(
            "expected a public key (66 or 130 hex digits), a WIF (52 characters starting with K or L), \
             a script hash (0x + 40 hex digits) or an address (34 characters starting with N)"
        );
    };
    view.print(&[], as_json);
    Ok(())
}

fn derive(master_key_hex: &str, account_id: &str, as_json: bool) -> Result<()> {
    let bytes = SecretBytes::new(
        hex::decode(master_key_hex.trim())
            .map_err(|_| anyhow::anyhow!("the master key must be hex"))?,
    );
    let master = MasterKey::new(bytes).context("invalid master key")?;
    if !is_lowercase_uuid(account_id) {
        bail!("the account id must be a lowercase hyphenated UUID, got {account_id:?}");
    }
    let key = kdf::derive_pool_account_key(&master, account_id).context("derivation failed")?;
    AccountView::of_key(key.public_key()).print(&[("account id", account_id.to_owned())], as_json);
    Ok(())
}

fn is_lowercase_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, len)| {
            g.len() == len
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}
