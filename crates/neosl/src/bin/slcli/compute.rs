//! `slcli secrets …` and `slcli compute …`: a user's secrets (names and metadata only ever come
//! back) and confidential jobs, with the offline check of a signed result.
//!
//! A value is read from a file or standard input, never from the command line (where the shell
//! history and the process list would keep it).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use neosl_contracts::confidential::Attestation;
use neosl_crypto::ecdsa::{PublicKey, Signature};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Client;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Your secrets (names, allowed services, sizes; never values).
    List,
    /// Stores a secret; the value comes from `--file` or standard input.
    Put {
        /// Its name.
        name: String,
        /// A service that may use it (repeat; e.g. `confidential`).
        #[arg(long = "allow")]
        allowed_services: Vec<String>,
        /// Read the value from this file (default: standard input).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// One secret's metadata.
    Show {
        /// Its name.
        name: String,
    },
    /// Deletes a secret.
    Delete {
        /// Its name.
        name: String,
    },
    /// Every write, delete and use of your secrets, newest first.
    Audit {
        /// Only this secret.
        #[arg(long)]
        name: Option<String>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum ComputeCommand {
    /// Runs a program (JavaScript, or WebAssembly binary or text) and prints its signed result.
    Run {
        /// `js` or `wasm`.
        #[arg(long)]
        runtime: String,
        /// The program's file.
        file: PathBuf,
        /// The input (text).
        #[arg(long, default_value = "")]
        input: String,
        /// A secret the program may read (repeat).
        #[arg(long = "secret")]
        secrets: Vec<String>,
        /// The fuel limit.
        #[arg(long)]
        fuel: Option<u64>,
        /// The wall-clock limit (ms).
        #[arg(long)]
        wall_ms: Option<u64>,
        /// Queue it and print the job id instead of waiting.
        #[arg(long = "async")]
        run_async: bool,
        /// Save the result (JSON) here, for `slcli compute verify`.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// One job.
    Show {
        /// Its id.
        id: String,
    },
    /// Your jobs, newest first.
    List {
        /// Only jobs in this state (queued, running, succeeded, failed, refused).
        #[arg(long)]
        state: Option<String>,
        /// How many (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Uploads a program that contracts may run by its upload id (`ExampleConsumer.compute`).
    Upload {
        /// `js` or `wasm`.
        #[arg(long)]
        runtime: String,
        /// The program's file.
        file: PathBuf,
        /// A contract that may run it (0x…; repeat).
        #[arg(long = "contract", required = true)]
        contracts: Vec<String>,
        /// A secret each run may read (repeat).
        #[arg(long = "secret")]
        secrets: Vec<String>,
    },
    /// Checks a saved result offline: its hashes, the signature, and optionally the code and
    /// the key you trust.
    Verify {
        /// The saved result (JSON, as `run --save` or `show --json` wrote it).
        result: PathBuf,
        /// The program's file: its SHA-256 must be the result's code hash.
        #[arg(long)]
        code: Option<PathBuf>,
        /// The key you trust (hex; from `/confidential/public-key`); default: the result's own.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// A program's file as the API takes it: text as is, a WebAssembly binary in base64.
fn program(path: &PathBuf) -> Result<(String, Option<&'static str>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        use base64::Engine as _;
        return Ok((
            base64::engine::general_purpose::STANDARD.encode(bytes),
            Some("base64"),
        ));
    }
    Ok((
        String::from_utf8(bytes).context("the program is neither UTF-8 text nor a .wasm binary")?,
        None,
    ))
}

fn print_job(job: &Value) {
    println!("job:      {}", job["id"].as_str().unwrap_or("?"));
    println!("state:    {}", job["state"].as_str().unwrap_or("?"));
    if let Some(error) = job["error"].as_object() {
        println!(
            "error:    {} ({})",
            error.get("message").and_then(Value::as_str).unwrap_or(""),
            error.get("code").and_then(Value::as_str).unwrap_or("?")
        );
    }
    if let Some(output) = job["output"].as_str() {
        println!("output:   {output}");
    } else if let Some(output) = job["output_hex"].as_str() {
        println!("output:   0x{output}");
    }
    if let Some(fuel) = job["fuel_used"].as_i64() {
        println!("fuel:     {fuel} of {}", job["limits"]["fuel"]);
    }
    if let Some(charged) = job["fee"]["charged"].as_i64() {
        println!("charged:  {charged} (10^-8 GAS)");
    }
    if job["signature"].is_string() {
        println!("signed:   by {}", job["public_key"].as_str().unwrap_or("?"));
    }
    if let Some(log) = job["log"].as_str() {
        println!("log:\n{log}");
    }
}

/// Checks `job` offline; answers what was checked.
pub fn verify(job: &Value, code: Option<&[u8]>, trusted: Option<&str>) -> Result<String> {
    let hash = |field: &str| -> Result<[u8; 32]> {
        hex::decode(job[field].as_str().with_context(|| format!("no {field}"))?)
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{field} is not 32 bytes of hex"))
    };
    if job["state"] != "succeeded" {
        bail!("the job did not succeed: nothing is signed");
    }
    let output = hex::decode(job["output_hex"].as_str().context("no output_hex")?)
        .context("output_hex is not hex")?;
    let output_hash = neosl_crypto::hash::sha256(&output);
    if output_hash != hash("output_hash")? {
        bail!("the output does not match its hash");
    }
    let code_hash = hash("code_hash")?;
    if let Some(code) = code
        && neosl_crypto::hash::sha256(code) != code_hash
    {
        bail!("the result is not of this code");
    }
    let names: Vec<String> = job["secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let secrets_hash = neosl_contracts::confidential::secrets_hash(&names);
    if secrets_hash != hash("secrets_hash")? {
        bail!("the secret names do not match their hash");
    }
    let attestation = Attestation {
        engine: job["runtime"].as_str().context("no runtime")?.to_owned(),
        code_hash,
        input_hash: hash("input_hash")?,
        secrets_hash,
        output_hash,
    };
    let key_hex = trusted
        .or_else(|| job["public_key"].as_str())
        .context("no public key")?;
    let key = PublicKey::from_slice(&hex::decode(key_hex.trim_start_matches("0x"))?)
        .context("not a P-256 public key")?;
    let signature = Signature::from_slice(&hex::decode(
        job["signature"].as_str().context("no signature")?,
    )?)
    .context("not a 64-byte signature")?;
    if !key.verify(&attestation.message(), &signature) {
        bail!("the signature does not verify under {key_hex}");
    }
    Ok(format!(
        "verified: {} code {} on input {} gave output {} (signed by {key_hex}{})",
        attestation.engine,
        hex::encode(code_hash),
        hex::encode(attestation.input_hash),
        hex::encode(output_hash),
        if code.is_some() { "; code checked" } else { "" }
    ))
}

pub async fn run_secrets(client: &Client, json_out: bool, command: SecretsCommand) -> Result<()> {
    use reqwest::Method;
    let show = |data: &Value, human: &dyn Fn(&Value)| {
        if json_out {
            println!("{data:#}");
        } else {
            human(data);
        }
    };
    let describe = |s: &Value| {
        println!(
            "{:<24} v{:<4} {:>6} B  allowed: {}",
            s["name"].as_str().unwrap_or("?"),
            s["version"],
            s["value_size"],
            s["allowed_services"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "(none)".into())
        )
    };
    match command {
        SecretsCommand::List => {
            let data = client
                .send(Method::GET, "/secrets", None, true, &[])
                .await?;
            show(&data, &|d| {
                for s in d["secrets"].as_array().into_iter().flatten() {
                    describe(s);
                }
            });
        }
        SecretsCommand::Put {
            name,
            allowed_services,
            file,
        } => {
            let mut value = Zeroizing::new(String::new());
            match file {
                Some(path) => {
                    *value = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                }
                None => {
                    std::io::stdin()
                        .read_to_string(&mut value)
                        .context("reading the value from standard input")?;
                }
            }
            let trimmed = Zeroizing::new(value.trim_end_matches(['\r', '\n']).to_owned());
            let data = client
                .send(
                    Method::PUT,
                    &format!("/secrets/{name}"),
                    Some(json!({"value": trimmed.as_str(), "allowed_services": allowed_services})),
                    true,
                    &[],
                )
                .await?;
            show(&data, &|d| describe(d));
        }
        SecretsCommand::Show { name } => {
            let data = client
                .send(Method::GET, &format!("/secrets/{name}"), None, true, &[])
                .await?;
            show(&data, &|d| describe(d));
        }
        SecretsCommand::Delete { name } => {
            let data = client
                .send(Method::DELETE, &format!("/secrets/{name}"), None, true, &[])
                .await?;
            show(&data, &|_| println!("deleted {name}"));
        }
        SecretsCommand::Audit { name, limit } => {
            let mut path = format!("/secrets/audit?limit={limit}");
            if let Some(name) = name {
                path.push_str(&format!("&name={name}"));
            }
            let data = client.send(Method::GET, &path, None, true, &[]).await?;
            show(&data, &|d| {
                for e in d["entries"].as_array().into_iter().flatten() {
                    println!(
                        "{:>14}  {:<20} {:<7} by {:<13} {:<20} {}",
                        e["at"],
                        e["name"].as_str().unwrap_or("?"),
                        e["action"].as_str().unwrap_or("?"),
                        e["actor"].as_str().unwrap_or("?"),
                        e["outcome"].as_str().unwrap_or("?"),
                        e["purpose"].as_str().unwrap_or("")
                    );
                }
            });
        }
    }
    Ok(())
}

pub async fn run_compute(client: &Client, json_out: bool, command: ComputeCommand) -> Result<()> {
    use reqwest::Method;
    let show = |data: &Value, human: &dyn Fn(&Value)| {
        if json_out {
            println!("{data:#}");
        } else {
            human(data);
        }
    };
    match command {
        ComputeCommand::Run {
            runtime,
            file,
            input,
            secrets,
            fuel,
            wall_ms,
            run_async,
            save,
        } => {
            let (code, encoding) = program(&file)?;
            let mut body = json!({"runtime": runtime, "code": code, "input": input,
                                  "secrets": secrets, "async": run_async});
            if let Some(encoding) = encoding {
                body["code_encoding"] = json!(encoding);
            }
            if fuel.is_some() || wall_ms.is_some() {
                let mut limits = json!({});
                if let Some(fuel) = fuel {
                    limits["fuel"] = json!(fuel);
                }
                if let Some(wall) = wall_ms {
                    limits["wall_ms"] = json!(wall);
                }
                body["limits"] = limits;
            }
            let data = client
                .send(Method::POST, "/confidential/execute", Some(body), true, &[])
                .await?;
            if let Some(path) = save {
                std::fs::write(&path, format!("{data:#}\n"))
                    .with_context(|| format!("saving {}", path.display()))?;
            }
            show(&data, &print_job);
        }
        ComputeCommand::Show { id } => {
            let data = client
                .send(
                    Method::GET,
                    &format!("/confidential/jobs/{id}"),
                    None,
                    true,
                    &[],
                )
                .await?;
            show(&data, &print_job);
        }
        ComputeCommand::List { state, limit } => {
            let mut path = format!("/confidential/jobs?limit={limit}");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            let data = client.send(Method::GET, &path, None, true, &[]).await?;
            show(&data, &|d| {
                for j in d["jobs"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {:<9} {:<4} {}",
                        j["id"].as_str().unwrap_or("?"),
                        j["state"].as_str().unwrap_or("?"),
                        j["runtime"].as_str().unwrap_or("?"),
                        j["error"]["code"].as_str().unwrap_or("")
                    );
                }
            });
        }
        ComputeCommand::Upload {
            runtime,
            file,
            contracts,
            secrets,
        } => {
            let (code, encoding) = program(&file)?;
            let mut body = json!({"runtime": runtime, "code": code, "secrets": secrets,
                                  "allowed_contracts": contracts});
            if let Some(encoding) = encoding {
                body["code_encoding"] = json!(encoding);
            }
            let data = client
                .send(Method::POST, "/confidential/code", Some(body), true, &[])
                .await?;
            show(&data, &|d| {
                println!("upload id: {}", d["upload_id"].as_str().unwrap_or("?"));
                println!("code hash: {}", d["code_hash"].as_str().unwrap_or("?"));
                println!("a named contract runs it with ExampleConsumer.compute(uploadId, input)");
            });
        }
        ComputeCommand::Verify {
            result,
            code,
            public_key,
        } => {
            let text = std::fs::read_to_string(&result)
                .with_context(|| format!("reading {}", result.display()))?;
            let value: Value = serde_json::from_str(&text).context("the result is not JSON")?;
            // Accept the bare job or the gateway's envelope.
            let job = if value["data"].is_object() {
                &value["data"]
            } else {
                &value
            };
            let code = code
                .map(|p| std::fs::read(&p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let said = verify(job, code.as_deref(), public_key.as_deref())?;
            if json_out {
                println!("{}", json!({"verified": true, "summary": said}));
            } else {
                println!("{said}");
            }
        }
    }
    Ok(())
}
