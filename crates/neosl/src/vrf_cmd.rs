//! `neosl vrf verify`: checks a VRF answer offline, with nothing but the service's public key.

use anyhow::{Context, Result, bail};
use clap::Args;
use neosl_crypto::PublicKey;
use neosl_crypto::vrf::{random_words, verify};

#[derive(Debug, Args)]
pub struct VrfVerifyArgs {
    /// The VRF service's public key (33 bytes compressed, hex), from `/vrf/public-key`.
    #[arg(long)]
    public_key: String,
    /// The seed (the VRF input), hex.
    #[arg(long)]
    seed: String,
    /// The 81-byte proof, hex.
    #[arg(long)]
    proof: String,
    /// The random words to check (32-byte hex values, comma-separated), in order.
    #[arg(long, value_delimiter = ',')]
    words: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn hex_arg(name: &str, value: &str) -> Result<Vec<u8>> {
    hex::decode(value.trim().trim_start_matches("0x"))
        .with_context(|| format!("--{name} is not hex"))
}

pub fn run(args: VrfVerifyArgs) -> Result<()> {
    let key = PublicKey::from_slice(&hex_arg("public-key", &args.public_key)?)
        .context("--public-key is not a P-256 key")?;
    let seed = hex_arg("seed", &args.seed)?;
    let proof = hex_arg("proof", &args.proof)?;
    let beta = verify(&key, &seed, &proof).context("malformed proof")?;
    let Some(beta) = beta else {
        if args.json {
            println!("{}", serde_json::json!({ "valid": false }));
        } else {
            println!("INVALID: the proof does not verify for this seed and key");
        }
        std::process::exit(1);
    };
    let words: Vec<[u8; 32]> = args
        .words
        .iter()
        .map(|w| {
            let bytes = hex_arg("words", w)?;
            <[u8; 32]>::try_from(bytes).map_err(|_| anyhow::anyhow!("each word is 32 bytes"))
        })
        .collect::<Result<_>>()?;
    let words_ok = random_words(&beta, words.len() as u32) == words;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "valid": words_ok, "beta": hex::encode(beta), "words_checked": words.len() })
        );
    } else if words_ok {
        println!("VALID: proof verifies; output (beta) {}", hex::encode(beta));
        if !words.is_empty() {
            println!(
                "       and all {} words equal SHA-256(beta || i)",
                words.len()
            );
        }
    } else {
        println!("INVALID: the proof verifies but the words are not the ones it derives");
    }
    if !words_ok {
        bail!("verification failed");
    }
    Ok(())
}
