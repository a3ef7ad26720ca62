//! `slcli`: the command-line client of the gateway's HTTP API.
//!
//! Human-readable output by default, `--json` for scripts. Credentials: `slcli login` (or
//! `register`) keeps the session in `$SLCLI_CONFIG` (default `~/.slcli.json`, owner-only);
//! `--token`/`SLCLI_TOKEN` or `--api-key`/`SLCLI_API_KEY` override it.

mod compute;
mod mixer;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "slcli",
    version,
    about = "Neo Service Layer command-line client"
)]
struct Cli {
    /// The gateway.
    #[arg(
        long,
        env = "SLCLI_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// An access token (default: the saved session).
    #[arg(long, env = "SLCLI_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// An API key instead of a session.
    #[arg(long, env = "SLCLI_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// Print the raw JSON answer.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an account (the password comes from SLCLI_PASSWORD or stdin).
    Register {
        /// Your e-mail.
        email: String,
    },
    /// Sign in (the password comes from SLCLI_PASSWORD or stdin) and keep the session.
    Login {
        /// Your e-mail.
        email: String,
    },
    /// End the saved session.
    Logout,
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Your GAS balance (10^-8 GAS units).
    Balance,
    /// Your ledger, newest first.
    Transactions {
        /// How many.
        #[arg(default_value_t = 20)]
        limit: u32,
    },
    /// The fee schedule.
    Fees,
    /// Your deposit address.
    DepositAddress,
    /// Operator: credit a deposit transaction after the gateway checks it on chain.
    Deposit {
        /// The user to credit.
        user_id: String,
        /// The transaction that sent GAS to their deposit address.
        tx_hash: String,
        /// The operator token (also SLCLI_ADMIN_TOKEN).
        #[arg(long, env = "SLCLI_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
    /// Withdraw GAS to a Neo address.
    Withdraw {
        /// The destination address.
        address: String,
        /// The amount in 10^-8 GAS.
        amount: u64,
        /// Idempotency reference (default: random).
        #[arg(long)]
        reference: Option<String>,
        /// Wait until the transfer is in a block.
        #[arg(long)]
        wait: bool,
    },
    /// Pay for a contract's requests.
    PayContract {
        /// The contract hash (0x…).
        contract: String,
        /// The amount in 10^-8 GAS.
        amount: u64,
        /// Idempotency reference (default: random).
        #[arg(long)]
        reference: Option<String>,
    },
    /// Pay for another user's requests.
    PayUser {
        /// The user id.
        user_id: String,
        /// The amount in 10^-8 GAS.
        amount: u64,
        /// Idempotency reference (default: random).
        #[arg(long)]
        reference: Option<String>,
    },
    /// Verifiable randomness.
    Vrf {
        #[command(subcommand)]
        command: VrfCommand,
    },
    /// DataFeeds prices: every pair's state (free), or one pair's signed latest round (paid).
    Prices {
        /// A pair (`BTC/USD` or `BTC-USD`); without one, every pair.
        pair: Option<String>,
    },
    /// Automation triggers and what each firing did.
    Automation {
        #[command(subcommand)]
        command: AutomationCommand,
    },
    /// Contracts' on-chain requests and where each one is.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// The Mixer: request, follow, prove, dispute, claim (no account needed).
    Mixer {
        #[command(subcommand)]
        command: mixer::MixerCommand,
    },
    /// Your secrets: stored once, used only by the services you allow, never shown again.
    Secrets {
        #[command(subcommand)]
        command: compute::SecretsCommand,
    },
    /// Confidential compute: run programs with your secrets, verify signed results offline.
    Compute {
        #[command(subcommand)]
        command: compute::ComputeCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AutomationCommand {
    /// Your triggers.
    List,
    /// Registers the trigger in a JSON file (`-` for standard input).
    Create {
        /// The file.
        file: String,
    },
    /// One trigger.
    Show {
        /// Its id.
        id: String,
    },
    /// Every firing of a trigger with its outcome.
    Executions {
        /// Its id.
        id: String,
    },
    /// Enables a trigger (a paused one too).
    Enable {
        /// Its id.
        id: String,
    },
    /// Disables a trigger.
    Disable {
        /// Its id.
        id: String,
    },
    /// Deletes a trigger (its firings stay on record).
    Delete {
        /// Its id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum RequestsCommand {
    /// Requests, open ones first, then newest first.
    List {
        /// Only this requesting contract (0x…).
        #[arg(long)]
        contract: Option<String>,
        /// Only this status (pending, waiting_for_balance, prepared, batched, fulfilled,
        /// callback_failed, expired, failed).
        #[arg(long)]
        status: Option<String>,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One request, with its reason, fee and transactions.
    Show {
        /// The request id on the gateway contract.
        id: u64,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key (shown once).
    Create {
        /// A name for it.
        name: String,
    },
    /// List your keys.
    List,
    /// Revoke a key.
    Revoke {
        /// The key id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum VrfCommand {
    /// Random words for a seed (paid).
    Random {
        /// The seed, hex.
        #[arg(long)]
        seed: String,
        /// How many 32-byte words.
        #[arg(long, default_value_t = 1)]
        words: u32,
    },
    /// Verify a proof (and words) — offline, with the public key alone.
    Verify {
        /// The seed, hex.
        #[arg(long)]
        seed: String,
        /// The proof, hex.
        #[arg(long)]
        proof: String,
        /// The service's public key (default: fetched from the gateway).
        #[arg(long)]
        public_key: Option<String>,
        /// Words to check, comma-separated hex.
        #[arg(long, value_delimiter = ',')]
        words: Vec<String>,
    },
}

fn config_path() -> PathBuf {
    std::env::var_os("SLCLI_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".slcli.json")
        })
}

fn save_session(tokens: &Value) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(tokens)?.as_bytes())?;
    Ok(())
}

fn saved_token() -> Option<String> {
    let text = std::fs::read_to_string(config_path()).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    value["access_token"].as_str().map(str::to_owned)
}

fn password() -> Result<String> {
    if let Ok(p) = std::env::var("SLCLI_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn reference(given: Option<String>) -> String {
    given.unwrap_or_else(|| hex::encode(neosl_crypto::random_array::<12>()))
}

pub(crate) struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    api_key: Option<String>,
}

impl Client {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        auth: bool,
        extra: &[(&str, &str)],
    ) -> Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        if auth {
            request = match (&self.api_key, &self.token) {
                (Some(key), _) => request.header("X-API-Key", key),
                (None, Some(token)) => request.bearer_auth(token),
                (None, None) => {
                    bail!("not signed in: run `slcli login EMAIL` (or pass --token / --api-key)")
                }
            };
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.url))?;
        let status = response.status();
        let retry = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let value: Value = response
            .json()
            .await
            .context("the gateway answered something that is not JSON")?;
        if !status.is_success() || value["success"] == false {
            let code = value["code"].as_str().unwrap_or("error");
            let message = value["error"].as_str().unwrap_or("request failed");
            match retry {
                Some(r) => bail!(
                    "{message} ({code}, HTTP {}; retry in {r} s)",
                    status.as_u16()
                ),
                None => bail!("{message} ({code}, HTTP {})", status.as_u16()),
            }
        }
        Ok(value["data"].clone())
    }
}

/// `register` / `login`: e-mail + password in, a session saved for the next commands.
async fn start_session(client: &Client, path: &str, email: &str) -> Result<Value> {
    let body = json!({"email": email, "password": password()?});
    let data = client
        .send(reqwest::Method::POST, path, Some(body), false, &[])
        .await?;
    save_session(&data)?;
    Ok(data)
}

/// `pay-contract` / `pay-user`: the same answer, a credit to the sponsored account.
async fn sponsor(client: &Client, json_out: bool, path: &str, body: Value) -> Result<()> {
    let data = client
        .send(reqwest::Method::POST, path, Some(body), true, &[])
        .await?;
    if json_out {
        println!("{data:#}");
    } else {
        println!(
            "paid {} for {}",
            gas(&data["credit"]["amount"]),
            data["credit"]["account_id"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// 10⁻⁸ GAS units as GAS, exactly (integers only; the sign kept below one GAS).
fn gas(units: &Value) -> String {
    let n = units
        .as_i64()
        .or_else(|| units.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let sign = if n < 0 { "-" } else { "" };
    let n = n.unsigned_abs();
    format!("{sign}{}.{:08} GAS", n / 100_000_000, n % 100_000_000)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slcli: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    use reqwest::Method;
    let client = Client {
        http: reqwest::Client::new(),
        url: cli.url.clone(),
        token: cli.token.clone().or_else(saved_token),
        api_key: cli.api_key.clone(),
    };
    let print = |data: &Value, human: &dyn Fn(&Value)| {
        if cli.json {
            println!("{data:#}");
        } else {
            human(data);
        }
    };
    match cli.command {
        Command::Register { email } => {
            let data = start_session(&client, "/api/v1/auth/register", &email).await?;
            print(&data, &|d| {
                println!(
                    "registered; user id {} (session saved to {})",
                    d["user_id"].as_str().unwrap_or("?"),
                    config_path().display()
                )
            });
        }
        Command::Login { email } => {
            let data = start_session(&client, "/api/v1/auth/login", &email).await?;
            print(&data, &|d| {
                println!(
                    "signed in as {} (session saved)",
                    d["user_id"].as_str().unwrap_or("?")
                )
            });
        }
        Command::Logout => {
            let data = client
                .send(Method::POST, "/api/v1/auth/logout", None, true, &[])
                .await?;
            let _ = std::fs::remove_file(config_path());
            print(&data, &|_| println!("signed out"));
        }
        Command::ApiKey { command } => match command {
            KeyCommand::Create { name } => {
                let data = client
                    .send(
                        Method::POST,
                        "/api/v1/api-keys",
                        Some(json!({"name": name})),
                        true,
                        &[],
                    )
                    .await?;
                print(&data, &|d| {
                    println!("key:  {}", d["key"].as_str().unwrap_or("?"));
                    println!("id:   {}", d["info"]["id"].as_str().unwrap_or("?"));
                    println!("shown once: store it now");
                });
            }
            KeyCommand::List => {
                let data = client
                    .send(Method::GET, "/api/v1/api-keys", None, true, &[])
                    .await?;
                print(&data, &|d| {
                    println!("{:<38} {:<16} {:<14} STATE", "ID", "NAME", "PREFIX");
                    for k in d["keys"].as_array().into_iter().flatten() {
                        let state = if k["revoked_at"].is_null() {
                            "active"
                        } else {
                            "revoked"
                        };
                        println!(
                            "{:<38} {:<16} {:<14} {state}",
                            k["id"].as_str().unwrap_or(""),
                            k["name"].as_str().unwrap_or(""),
                            k["prefix"].as_str().unwrap_or("")
                        );
                    }
                });
            }
            KeyCommand::Revoke { id } => {
                let data = client
                    .send(
                        Method::DELETE,
                        &format!("/api/v1/api-keys/{id}"),
                        None,
                        true,
                        &[],
                    )
                    .await?;
                print(&data, &|_| println!("revoked {id}"));
            }
        },
        Command::Balance => {
            let data = client
                .send(Method::GET, "/api/v1/gasbank/balance", None, true, &[])
                .await?;
            print(&data, &|d| {
                println!("balance:   {}", gas(&d["balance"]));
                println!("reserved:  {}", gas(&d["reserved"]));
                println!("available: {}", gas(&d["available"]));
            });
        }
        Command::Transactions { limit } => {
            let data = client
                .send(
                    Method::GET,
                    &format!("/api/v1/gasbank/transactions?limit={limit}"),
                    None,
                    true,
                    &[],
                )
                .await?;
            print(&data, &|d| {
                println!(
                    "{:<8} {:<15} {:>20} {:>20}  REFERENCE",
                    "ID", "TYPE", "AMOUNT", "BALANCE AFTER"
                );
                for t in d["transactions"].as_array().into_iter().flatten() {
                    println!(
                        "{:<8} {:<15} {:>20} {:>20}  {}",
                        t["id"],
                        t["type"].as_str().unwrap_or(""),
                        gas(&t["amount"]),
                        gas(&t["balance_after"]),
                        t["reference_id"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Command::Fees => {
            let data = client
                .send(Method::GET, "/api/v1/gasbank/fees", None, false, &[])
                .await?;
            print(&data, &|d| {
                for (service, fee) in d["schedule"].as_object().into_iter().flatten() {
                    println!("{service:<20} {fee}");
                }
                println!("(units: 10^-8 GAS; mixer_basis_points is 1/100 of a percent)");
            });
        }
        Command::DepositAddress => {
            let data = client
                .send(
                    Method::GET,
                    "/api/v1/gasbank/deposit-address",
                    None,
                    true,
                    &[],
                )
                .await?;
            print(&data, &|d| {
                println!("{}", d["address"].as_str().unwrap_or("?"))
            });
        }
        Command::Deposit {
            user_id,
            tx_hash,
            admin_token,
        } => {
            let data = client
                .send(
                    Method::POST,
                    "/api/v1/admin/deposits",
                    Some(json!({"user_id": user_id, "tx_hash": tx_hash})),
                    false,
                    &[("X-Admin-Token", &admin_token)],
                )
                .await?;
            print(&data, &|d| {
                for e in d["credited"].as_array().into_iter().flatten() {
                    println!(
                        "credited {} to {} ({})",
                        gas(&e["amount"]),
                        e["account_id"].as_str().unwrap_or(""),
                        e["reference_id"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Command::Withdraw {
            address,
            amount,
            reference: r,
            wait,
        } => {
            neosl_neo::Address::parse(&address).context("not a Neo address")?;
            let body = json!({"to_address": address, "amount": amount.to_string(), "reference": reference(r), "wait": wait});
            let data = client
                .send(
                    Method::POST,
                    "/api/v1/gasbank/withdraw",
                    Some(body),
                    true,
                    &[],
                )
                .await?;
            print(&data, &|d| {
                println!(
                    "withdrawal {}: {} (tx {})",
                    d["reference_id"].as_str().unwrap_or(""),
                    d["state"].as_str().unwrap_or(""),
                    d["tx_hash"].as_str().unwrap_or("-")
                )
            });
        }
        Command::PayContract {
            contract,
            amount,
            reference: r,
        } => {
            let body = json!({"contract": contract, "amount": amount.to_string(), "reference": reference(r)});
            sponsor(&client, cli.json, "/api/v1/gasbank/pay-contract", body).await?;
        }
        Command::PayUser {
            user_id,
            amount,
            reference: r,
        } => {
            let body = json!({"user_id": user_id, "amount": amount.to_string(), "reference": reference(r)});
            sponsor(&client, cli.json, "/api/v1/gasbank/pay-user", body).await?;
        }
        Command::Vrf { command } => match command {
            VrfCommand::Random { seed, words } => {
                let data = client
                    .send(
                        Method::POST,
                        "/vrf/random",
                        Some(json!({"seed": seed, "num_words": words})),
                        true,
                        &[],
                    )
                    .await?;
                print(&data, &|d| {
                    for w in d["random_words"].as_array().into_iter().flatten() {
                        println!("{}", w.as_str().unwrap_or(""));
                    }
                    println!("proof:      {}", d["proof"].as_str().unwrap_or(""));
                    println!("public key: {}", d["public_key"].as_str().unwrap_or(""));
                    println!("fee:        {}", gas(&d["fee"]["amount"]));
                });
            }
            VrfCommand::Verify {
                seed,
                proof,
                public_key,
                words,
            } => {
                let public_key = match public_key {
                    Some(k) => k,
                    None => client
                        .send(Method::GET, "/vrf/public-key", None, false, &[])
                        .await?["public_key"]
                        .as_str()
                        .context("no public key")?
                        .to_owned(),
                };
                let key = neosl_crypto::PublicKey::from_slice(
                    &hex::decode(&public_key).context("public key hex")?,
                )
                .context("public key")?;
                let proof = hex::decode(proof.trim_start_matches("0x")).context("proof hex")?;
                let seed = hex::decode(seed.trim_start_matches("0x")).context("seed hex")?;
                let words: Vec<[u8; 32]> = words
                    .iter()
                    .map(|w| {
                        hex::decode(w.trim_start_matches("0x"))
                            .ok()
                            .and_then(|b| <[u8; 32]>::try_from(b).ok())
                            .context("each word is 32 bytes hex")
                    })
                    .collect::<Result<_>>()?;
                let beta = neosl_crypto::vrf::verify_random_words(&key, &seed, &proof, &words)
                    .context("malformed proof")?;
                let data = json!({ "valid": beta.is_some(), "output": beta.map(hex::encode) });
                print(&data, &|d| {
                    if d["valid"] == true {
                        println!("VALID (output {})", d["output"].as_str().unwrap_or(""));
                    } else {
                        println!("INVALID");
                    }
                });
                if beta.is_none() {
                    bail!("verification failed");
                }
            }
        },
        Command::Prices { pair: None } => {
            let data = client
                .send(Method::GET, "/datafeeds/prices", None, false, &[])
                .await?;
            print(&data, &|d| {
                println!(
                    "{:<10} {:<13} {:>22} {:>7} {:<9} reason",
                    "pair", "state", "price", "round", "on chain"
                );
                for p in d["prices"].as_array().into_iter().flatten() {
                    let latest = &p["latest"];
                    println!(
                        "{:<10} {:<13} {:>22} {:>7} {:<9} {}",
                        p["pair"].as_str().unwrap_or(""),
                        p["state"].as_str().unwrap_or(""),
                        latest["price_decimal"].as_str().unwrap_or("-"),
                        latest["round_id"]
                            .as_u64()
                            .map_or("-".into(), |r| r.to_string()),
                        if latest["on_chain"] == true {
                            "yes"
                        } else {
                            "no"
                        },
                        p["reason"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Command::Prices { pair: Some(pair) } => {
            let path = format!("/datafeeds/prices/{}", pair.replace('/', "-"));
            let data = client.send(Method::GET, &path, None, true, &[]).await?;
            print(&data, &|p| {
                let r = &p["latest"];
                let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
                println!("pair       {} ({})", text(&p["pair"]), text(&p["state"]));
                if r.is_null() {
                    println!("no round yet");
                    return;
                }
                println!(
                    "price      {} ({} decimals: {})",
                    text(&r["price_decimal"]),
                    r["decimals"],
                    text(&r["price"])
                );
                println!(
                    "round      {} ({}, Unix ms {})",
                    r["round_id"],
                    text(&r["reason"]),
                    r["timestamp"]
                );
                let used: Vec<&str> = r["sources_used"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str())
                    .collect();
                println!("sources    {}", used.join(", "));
                for d in r["sources_dropped"].as_array().into_iter().flatten() {
                    println!("dropped    {} ({})", text(&d["source"]), text(&d["reason"]));
                }
                println!("signature  {}", text(&r["signature"]));
                println!(
                    "signed for network {} contract {}",
                    r["network"],
                    text(&r["contract"])
                );
                println!(
                    "on chain   {}",
                    if r["on_chain"] == true {
                        "yes"
                    } else {
                        "not yet"
                    }
                );
            });
        }
        Command::Automation { command } => {
            let show_trigger = |t: &Value| {
                println!(
                    "{:<36}  {:<9} {:<9} {}{}",
                    t["id"].as_str().unwrap_or(""),
                    t["kind"].as_str().unwrap_or(""),
                    t["state"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or(""),
                    t["state_reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            };
            match command {
                AutomationCommand::List => {
                    let data = client
                        .send(Method::GET, "/automation/triggers", None, true, &[])
                        .await?;
                    print(&data, &|d| {
                        let triggers = d["triggers"].as_array().cloned().unwrap_or_default();
                        if triggers.is_empty() {
                            println!("no triggers");
                        }
                        for t in &triggers {
                            show_trigger(t);
                        }
                    });
                }
                AutomationCommand::Create { file } => {
                    let text = if file == "-" {
                        let mut text = String::new();
                        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                        text
                    } else {
                        std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
                    };
                    let body: Value =
                        serde_json::from_str(&text).context("the trigger is not JSON")?;
                    let data = client
                        .send(Method::POST, "/automation/triggers", Some(body), true, &[])
                        .await?;
                    print(&data, &|t| show_trigger(t));
                }
                AutomationCommand::Show { id } => {
                    let data = client
                        .send(
                            Method::GET,
                            &format!("/automation/triggers/{id}"),
                            None,
                            true,
                            &[],
                        )
                        .await?;
                    print(&data, &|t| {
                        show_trigger(t);
                        if let Some(next) = t["next_fire_at"].as_i64() {
                            println!("next run at {next} (Unix ms)");
                        }
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&t["spec"]).unwrap_or_default()
                        );
                    });
                }
                AutomationCommand::Executions { id } => {
                    let data = client
                        .send(
                            Method::GET,
                            &format!("/automation/triggers/{id}/executions"),
                            None,
                            true,
                            &[],
                        )
                        .await?;
                    print(&data, &|d| {
                        let runs = d["executions"].as_array().cloned().unwrap_or_default();
                        if runs.is_empty() {
                            println!("no firings yet");
                        }
                        for r in &runs {
                            println!(
                                "{:>14}  {:<9} {:<68} {}",
                                r["due_at"],
                                r["state"].as_str().unwrap_or(""),
                                r["tx_hash"].as_str().unwrap_or(""),
                                r["reason"].as_str().unwrap_or("")
                            );
                        }
                    });
                }
                AutomationCommand::Enable { ref id } | AutomationCommand::Disable { ref id } => {
                    let verb = if matches!(command, AutomationCommand::Enable { .. }) {
                        "enable"
                    } else {
                        "disable"
                    };
                    let data = client
                        .send(
                            Method::POST,
                            &format!("/automation/triggers/{id}/{verb}"),
                            None,
                            true,
                            &[],
                        )
                        .await?;
                    print(&data, &|t| show_trigger(t));
                }
                AutomationCommand::Delete { id } => {
                    let data = client
                        .send(
                            Method::DELETE,
                            &format!("/automation/triggers/{id}"),
                            None,
                            true,
                            &[],
                        )
                        .await?;
                    print(&data, &|_| println!("deleted {id}"));
                }
            }
        }
        Command::Requests { command } => match command {
            RequestsCommand::List {
                contract,
                status,
                limit,
            } => {
                let mut query = reqwest::Url::parse("http://query/").expect("a valid base");
                {
                    let mut pairs = query.query_pairs_mut();
                    pairs.append_pair("limit", &limit.to_string());
                    if let Some(c) = &contract {
                        pairs.append_pair("contract", c);
                    }
                    if let Some(s) = &status {
                        pairs.append_pair("status", s);
                    }
                }
                let path = format!("/onchain/requests?{}", query.query().unwrap_or_default());
                let data = client.send(Method::GET, &path, None, true, &[]).await?;
                print(&data, &|d| {
                    let requests = d["requests"].as_array().cloned().unwrap_or_default();
                    if requests.is_empty() {
                        println!("no requests");
                        return;
                    }
                    println!(
                        "{:>8}  {:<12} {:<20} {:<42} reason",
                        "id", "service", "status", "contract"
                    );
                    for r in &requests {
                        println!(
                            "{:>8}  {:<12} {:<20} {:<42} {}",
                            r["request_id"],
                            r["service_id"].as_str().unwrap_or(""),
                            r["status"].as_str().unwrap_or(""),
                            r["requester"].as_str().unwrap_or(""),
                            r["reason"].as_str().unwrap_or("")
                        );
                    }
                });
            }
            RequestsCommand::Show { id } => {
                let data = client
                    .send(
                        Method::GET,
                        &format!("/onchain/requests/{id}"),
                        None,
                        true,
                        &[],
                    )
                    .await?;
                print(&data, &|r| {
                    let text = |key: &str| r[key].as_str().unwrap_or("-").to_owned();
                    println!("request    {} on {}", r["request_id"], text("gateway"));
                    println!("service    {}", text("service_id"));
                    println!(
                        "contract   {} (callback {})",
                        text("requester"),
                        text("callback")
                    );
                    println!("status     {}", text("status"));
                    if let Some(reason) = r["reason"].as_str() {
                        println!("reason     {reason}");
                    }
                    if !r["fee"].is_null() {
                        println!("fee        {}", gas(&r["fee"]));
                    }
                    println!(
                        "requested  {} (block {})",
                        text("request_tx"),
                        r["block_index"]
                    );
                    if let Some(tx) = r["fulfil_tx"].as_str() {
                        println!("fulfilled  {tx}");
                    }
                    println!("deadline   {} (Unix ms)", r["deadline"]);
                });
            }
        },
        Command::Mixer { command } => mixer::run(&client, cli.json, command).await?,
        Command::Secrets { command } => compute::run_secrets(&client, cli.json, command).await?,
        Command::Compute { command } => compute::run_compute(&client, cli.json, command).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::gas;
    use serde_json::json;

    #[test]
    fn gas_amounts_print_exactly_with_their_sign() {
        assert_eq!(gas(&json!(0)), "0.00000000 GAS");
        assert_eq!(gas(&json!(-100_000)), "-0.00100000 GAS");
        assert_eq!(gas(&json!(1_250_000_000)), "12.50000000 GAS");
        assert_eq!(gas(&json!("-150000000")), "-1.50000000 GAS");
        assert_eq!(gas(&json!(i64::MIN)), "-92233720368.54775808 GAS");
    }
}
