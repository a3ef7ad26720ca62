//! `slcli mixer …`: the whole Mixer path for a user, including the on-chain dispute and claim
//! built and signed with the user's own key (the Mixer never sees it).
//!
//! Everything a user must keep is checked here before it is saved: the request bytes decode to
//! what was asked, their hash is the one given, and the signature verifies with the Mixer's key
//! (pinned with `--public-key` when the user has it from `/attestation`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_contracts::mixer::{self, RequestTerms};
use neosl_crypto::ecdsa::{PublicKey, Signature};
use neosl_neo::param::ContractParameter as P;
use neosl_neo::{Address, UInt160, UInt256};
use serde_json::{Value, json};

use crate::Client;

#[derive(Debug, Subcommand)]
pub enum MixerCommand {
    /// Ask for a mix; saves the RequestProof (keep it: it is what a dispute needs).
    Request {
        /// Your address (deposits come from it; compensation would go to it).
        #[arg(long)]
        user: String,
        /// ADDRESS=GAS, once per target (each receives exactly that amount).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// The mix window: 30m, 1h, 24h or 7d.
        #[arg(long, default_value = "1h")]
        window: String,
        /// Where to save the RequestProof (default: mixer-<id>.json).
        #[arg(long)]
        save: Option<PathBuf>,
        /// The Mixer key you trust (hex; from /attestation); refuses any other signer.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Where a request is.
    Status {
        /// The request id.
        id: String,
    },
    /// Tell the Mixer about deposit transactions (it also sees them on chain by itself).
    Deposit {
        /// The request id.
        id: String,
        /// The transactions.
        #[arg(required = true)]
        tx_hashes: Vec<String>,
    },
    /// Pay a request's deposit plan from your key: sent now, or with `--hand-over` signed and
    /// handed to the Mixer, which broadcasts each at a random time inside the deposit window.
    Pay {
        /// Your saved RequestProof.
        #[arg(long)]
        request_proof: PathBuf,
        /// A file holding your WIF (also SLCLI_WIF).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The Neo node's RPC URL.
        #[arg(long, env = "SLCLI_RPC")]
        rpc: String,
        /// Let the Mixer broadcast the signed transfers.
        #[arg(long)]
        hand_over: bool,
    },
    /// The CompletionProof, verified offline.
    Proof {
        /// The request id.
        id: String,
        /// The Mixer key you trust (hex); default: the key in your saved RequestProof, if
        /// `--request-proof` is given, else the key the answer names.
        #[arg(long)]
        public_key: Option<String>,
        /// Your saved RequestProof (its key and request hash are checked).
        #[arg(long)]
        request_proof: Option<PathBuf>,
    },
    /// Ask the Mixer to send its CompletionProof to the contract.
    Prove {
        /// The request id.
        id: String,
    },
    /// Dispute on chain (after the deadline): publishes the request, locks its total in the
    /// bond.
    Dispute {
        /// Your saved RequestProof.
        #[arg(long)]
        request_proof: PathBuf,
        /// A file holding your WIF (also SLCLI_WIF).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The Neo node's RPC URL.
        #[arg(long, env = "SLCLI_RPC")]
        rpc: String,
    },
    /// Claim the compensation (after the grace, if the Mixer proved nothing).
    Claim {
        /// Your saved RequestProof.
        #[arg(long)]
        request_proof: PathBuf,
        /// A file holding your WIF (also SLCLI_WIF).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The Neo node's RPC URL.
        #[arg(long, env = "SLCLI_RPC")]
        rpc: String,
    },
}

fn window_ms(text: &str) -> Result<i64> {
    Ok(match text {
        "30m" => 1_800_000,
        "1h" => 3_600_000,
        "24h" => 86_400_000,
        "7d" => 604_800_000,
        other => bail!("--window is 30m, 1h, 24h or 7d, not {other:?}"),
    })
}

/// What a saved RequestProof must hold, checked: the bytes, their hash, the signature.
pub struct RequestProof {
    /// The decoded terms.
    pub terms: RequestTerms,
    /// The request bytes.
    pub bytes: Vec<u8>,
    /// Their hash.
    pub hash: [u8; 32],
    /// The TEE signature.
    pub signature: Vec<u8>,
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v[key]
        .as_str()
        .with_context(|| format!("the RequestProof has no {key}"))
}

/// Checks a RequestProof (as `POST /mixer/request` answered it) against `pinned`.
pub fn check_request_proof(v: &Value, pinned: Option<&str>) -> Result<RequestProof> {
    let bytes = hex::decode(field(v, "request_bytes")?).context("request_bytes")?;
    let hash: [u8; 32] = hex::decode(field(v, "request_hash")?)
        .ok()
        .and_then(|h| h.try_into().ok())
        .context("request_hash is not 32 bytes")?;
    if mixer::request_hash(&bytes) != hash {
        bail!("the request hash is not Hash256 of the request bytes");
    }
    let public_key = field(v, "public_key")?.to_owned();
    if let Some(pinned) = pinned
        && !pinned.eq_ignore_ascii_case(&public_key)
    {
        bail!("signed by {public_key}, not by the key you trust");
    }
    let key = PublicKey::from_slice(&hex::decode(&public_key)?)?;
    let signature = hex::decode(field(v, "tee_signature")?)?;
    if !key.verify(
        &mixer::request_message(&hash),
        &Signature::from_slice(&signature)?,
    ) {
        bail!("the TEE signature does not verify");
    }
    let terms = RequestTerms::from_bytes(&bytes).map_err(anyhow::Error::msg)?;
    Ok(RequestProof {
        terms,
        bytes,
        hash,
        signature,
    })
}

fn load(path: &Path) -> Result<Value> {
    serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))
}

fn user_signer(key_file: Option<&Path>) -> Result<Arc<dyn TxSigner>> {
    let wif = match key_file {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => std::env::var("SLCLI_WIF").context("give --key-file or SLCLI_WIF")?,
    };
    let key = neosl_neo::address::wif_decode(wif.trim()).context("not a WIF")?;
    Ok(Arc::new(LocalKeySigner::new(key)))
}

async fn call_contract(
    rpc: &str,
    signer: Arc<dyn TxSigner>,
    contract: &UInt160,
    method: &str,
    args: &[P],
) -> Result<Value> {
    let rpc = neosl_chain::RpcClient::single(rpc.to_owned())?;
    let submitter = Submitter::connect(rpc, Default::default())
        .await
        .context("the node does not answer")?;
    let mut sb = neosl_neo::script::ScriptBuilder::new();
    neosl_neo::contract::call(
        &mut sb,
        contract,
        method,
        neosl_neo::contract::CallFlags::ALL,
        args,
    )?;
    let tx = submitter
        .build(
            sb.into_bytes(),
            &[SignerEntry::called_by_entry(signer)],
            vec![],
        )
        .await
        .with_context(|| format!("{method} would fail"))?;
    submitter.send(&tx).await?;
    let outcome = submitter.wait(&tx, Duration::from_secs(120)).await?;
    if outcome.vm_state != "HALT" {
        bail!(
            "{method} faulted: {}",
            outcome.exception.unwrap_or_default()
        );
    }
    Ok(json!({"tx_hash": outcome.hash.to_string(), "vm_state": outcome.vm_state}))
}

pub async fn run(client: &Client, json_out: bool, command: MixerCommand) -> Result<()> {
    use reqwest::Method;
    let print = |data: &Value, human: &dyn Fn(&Value)| {
        if json_out {
            println!("{data:#}");
        } else {
            human(data);
        }
    };
    match command {
        MixerCommand::Request {
            user,
            targets,
            window,
            save,
            public_key,
        } => {
            let mut list = Vec::new();
            for t in &targets {
                let (address, amount) = t
                    .split_once('=')
                    .with_context(|| format!("--target is ADDRESS=GAS, not {t:?}"))?;
                list.push(json!({"address": address, "amount": amount}));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let body = json!({
                "version": 1,
                "user_address": user,
                "targets": list,
                "mix_option": window_ms(&window)?,
                "timestamp": now,
            });
            let data = client
                .send(Method::POST, "/mixer/request", Some(body), false, &[])
                .await?;
            let proof = check_request_proof(&data, public_key.as_deref())?;
            // The bytes — what a dispute proves — must say what was asked.
            if proof.terms.user != Address::parse(&user)?.script_hash() {
                bail!("the signed request names another user");
            }
            for t in &targets {
                let (address, amount) = t.split_once('=').unwrap_or_default();
                let hash = Address::parse(address)?.script_hash();
                let want =
                    neosl_mixer::terms::parse_gas(amount).map_err(|e| anyhow::anyhow!("{e}"))?;
                if !proof.terms.targets.contains(&(hash, want)) {
                    bail!("the signed request does not pay {address} {amount} GAS");
                }
            }
            let id = field(&data, "request_id")?;
            let path = save.unwrap_or_else(|| PathBuf::from(format!("mixer-{id}.json")));
            write_private(&path, &serde_json::to_vec_pretty(&data)?)?;
            print(&data, &|d| {
                println!("request    {id}");
                println!(
                    "saved      {} (keep it: a dispute needs it)",
                    path.display()
                );
                println!(
                    "deposit    {} GAS in all, exactly as follows, from {user}:",
                    d["total"].as_str().unwrap_or("?")
                );
                for p in d["deposits"].as_array().into_iter().flatten() {
                    println!(
                        "           {} GAS to {}",
                        p["amount"].as_str().unwrap_or("?"),
                        p["address"].as_str().unwrap_or("?")
                    );
                }
                println!("before     {} (Unix ms)", d["deposit_deadline"]);
                println!("delivered  about {} (Unix ms)", d["deliver_by"]);
                println!("dispute    possible after {} (Unix ms)", d["deadline"]);
            });
        }
        MixerCommand::Status { id } => {
            let data = client
                .send(
                    Method::GET,
                    &format!("/mixer/status/{id}"),
                    None,
                    false,
                    &[],
                )
                .await?;
            print(&data, &|d| {
                println!("request    {id}");
                println!("state      {}", d["state"].as_str().unwrap_or("?"));
                if let Some(r) = d["reason"].as_str() {
                    println!("reason     {r}");
                }
                for a in d["deposits"].as_array().into_iter().flatten() {
                    println!(
                        "deposit    {} of {} GAS received at {}",
                        a["received"].as_str().unwrap_or("?"),
                        a["expected"].as_str().unwrap_or("?"),
                        a["address"].as_str().unwrap_or("?")
                    );
                }
                for s in d["deposits_seen"].as_array().into_iter().flatten() {
                    println!(
                        "seen       {} GAS in {}: {}{}",
                        s["amount"].as_str().unwrap_or("?"),
                        s["tx_hash"].as_str().unwrap_or("?"),
                        s["disposition"].as_str().unwrap_or("?"),
                        s["reason"]
                            .as_str()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    );
                }
                println!(
                    "transactions {} of {} confirmed",
                    d["transactions"]["confirmed"], d["transactions"]["planned"]
                );
                if let Some(o) = d["outcome"].as_str() {
                    println!("outcome    {o}");
                }
            });
        }
        MixerCommand::Deposit { id, tx_hashes } => {
            let data = client
                .send(
                    Method::POST,
                    &format!("/mixer/request/{id}/deposit"),
                    Some(json!({"tx_hashes": tx_hashes})),
                    false,
                    &[],
                )
                .await?;
            print(&data, &|d| {
                println!("state      {}", d["state"].as_str().unwrap_or("?"))
            });
        }
        MixerCommand::Pay {
            request_proof,
            key_file,
            rpc,
            hand_over,
        } => {
            let saved = load(&request_proof)?;
            let proof = check_request_proof(&saved, None)?;
            let id = field(&saved, "request_id")?;
            let signer = user_signer(key_file.as_deref())?;
            if signer.account() != proof.terms.user {
                bail!("the key is not the request's user");
            }
            let submitter =
                Submitter::connect(neosl_chain::RpcClient::single(rpc)?, Default::default())
                    .await
                    .context("the node does not answer")?;
            let mut hashes = Vec::new();
            let mut signed = Vec::new();
            for (to, amount) in &proof.terms.deposits {
                let script = neosl_neo::contract::nep17_transfer(
                    &neosl_neo::native::GAS,
                    &proof.terms.user,
                    to,
                    &(*amount).into(),
                    None,
                )?;
                let tx = submitter
                    .build(
                        script,
                        &[SignerEntry::called_by_entry(signer.clone())],
                        vec![],
                    )
                    .await
                    .context("the transfer would fail")?;
                if hand_over {
                    signed.push(hex::encode(tx.to_bytes()?));
                } else {
                    hashes.push(submitter.send(&tx).await?.to_string());
                }
            }
            // Sent transfers are seen on chain by the Mixer; handed-over ones it sends itself.
            let data = if hand_over {
                client
                    .send(
                        Method::POST,
                        &format!("/mixer/request/{id}/deposit"),
                        Some(json!({"transactions": signed})),
                        false,
                        &[],
                    )
                    .await?
            } else {
                json!({"tx_hashes": hashes})
            };
            print(&data, &|_| {
                if hand_over {
                    println!(
                        "handed over {} signed deposit(s); the Mixer sends them inside the deposit window",
                        proof.terms.deposits.len()
                    );
                } else {
                    for h in &hashes {
                        println!("sent       {h}");
                    }
                }
            });
        }
        MixerCommand::Proof {
            id,
            public_key,
            request_proof,
        } => {
            let data = client
                .send(
                    Method::GET,
                    &format!("/mixer/request/{id}/proof"),
                    None,
                    false,
                    &[],
                )
                .await?;
            let saved = request_proof.as_deref().map(load).transpose()?;
            let pinned = public_key.or_else(|| {
                saved
                    .as_ref()
                    .and_then(|s| s["public_key"].as_str().map(str::to_owned))
            });
            verify_completion(&data, pinned.as_deref(), saved.as_ref())?;
            print(&data, &|d| {
                println!("request    {id}");
                println!("outcome    {}", d["outcome"].as_str().unwrap_or("?"));
                for t in d["txids"].as_array().into_iter().flatten() {
                    println!("tx         {}", t.as_str().unwrap_or("?"));
                }
                println!("txidsHash  {}", d["txids_hash"].as_str().unwrap_or("?"));
                println!("verified   signature and txids hash check out offline");
            });
        }
        MixerCommand::Prove { id } => {
            let data = client
                .send(
                    Method::POST,
                    &format!("/mixer/request/{id}/dispute"),
                    None,
                    false,
                    &[],
                )
                .await?;
            print(&data, &|d| {
                println!("proof      {}", d["state"].as_str().unwrap_or("?"))
            });
        }
        MixerCommand::Dispute {
            request_proof,
            key_file,
            rpc,
        } => {
            let saved = load(&request_proof)?;
            let proof = check_request_proof(&saved, None)?;
            let signer = user_signer(key_file.as_deref())?;
            if signer.account() != proof.terms.user {
                bail!("the key is not the request's user");
            }
            let data = call_contract(
                &rpc,
                signer,
                &proof.terms.contract,
                "dispute",
                &[
                    P::ByteArray(proof.bytes.clone()),
                    P::ByteArray(proof.hash.to_vec()),
                    P::ByteArray(proof.signature.clone()),
                ],
            )
            .await?;
            print(&data, &|d| {
                println!("disputed   in {}", d["tx_hash"].as_str().unwrap_or("?"))
            });
        }
        MixerCommand::Claim {
            request_proof,
            key_file,
            rpc,
        } => {
            let saved = load(&request_proof)?;
            let proof = check_request_proof(&saved, None)?;
            let signer = user_signer(key_file.as_deref())?;
            let data = call_contract(
                &rpc,
                signer,
                &proof.terms.contract,
                "claimCompensation",
                &[P::ByteArray(proof.hash.to_vec())],
            )
            .await?;
            print(&data, &|d| {
                println!(
                    "claimed    {} GAS in {}",
                    neosl_mixer::terms::format_gas(proof.terms.total),
                    d["tx_hash"].as_str().unwrap_or("?")
                )
            });
        }
    }
    Ok(())
}

/// Checks a CompletionProof offline: the txids hash from the txids, the signature over the
/// domain-separated message with the trusted key, and (with the saved RequestProof) that it is
/// for that request.
pub fn verify_completion(proof: &Value, pinned: Option<&str>, saved: Option<&Value>) -> Result<()> {
    let request_hash: [u8; 32] = hex::decode(field(proof, "request_hash")?)
        .ok()
        .and_then(|h| h.try_into().ok())
        .context("request_hash")?;
    if let Some(saved) = saved
        && field(saved, "request_hash")? != field(proof, "request_hash")?
    {
        bail!("the proof is for another request");
    }
    let txids = proof["txids"]
        .as_array()
        .context("txids")?
        .iter()
        .map(|t| UInt256::parse_display(t.as_str().unwrap_or_default()).context("a txid"))
        .collect::<Result<Vec<_>>>()?;
    let txids_hash = mixer::txids_hash(&txids);
    if hex::encode(txids_hash) != field(proof, "txids_hash")? {
        bail!("the txids hash is not Hash256 of the txids");
    }
    let key_hex = pinned.unwrap_or(field(proof, "public_key")?);
    let key = PublicKey::from_slice(&hex::decode(key_hex)?)?;
    let signature = Signature::from_slice(&hex::decode(field(proof, "proof_signature")?)?)?;
    if !key.verify(
        &mixer::proof_message(&request_hash, &txids_hash),
        &signature,
    ) {
        bail!("the proof signature does not verify with {key_hex}");
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
