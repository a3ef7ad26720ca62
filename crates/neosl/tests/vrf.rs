//! `neosl vrf-verify`: the offline verifier, on RFC 9381's own vector.

use std::process::Command;

const PUBLIC: &str = "0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
const SEED: &str = "73616d706c65";
const PROOF: &str = "035b5c726e8c0e2c488a107c600578ee75cb702343c153cb1eb8dec77f4b5071b4a53f0a46f018bc2c56e58d383f2305e0975972c26feea0eb122fe7893c15af376b33edf7de17c6ea056d4d82de6bc02f";
const BETA: &str = "a3ad7b0ef73d8fc6655053ea22f9bede8c743f08bbed3d38821f0e16474b505e";

fn run(args: &[&str]) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .arg("vrf-verify")
        .args(args)
        .arg("--json")
        .output()
        .expect("runs");
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
    )
}

#[test]
fn verifies_proofs_and_words_offline() {
    let (ok, answer) = run(&["--public-key", PUBLIC, "--seed", SEED, "--proof", PROOF]);
    assert!(ok);
    assert_eq!(answer["beta"], BETA);
    // Word 0 = SHA-256(beta ‖ 00000000).
    let mut input = hex::decode(BETA).expect("hex");
    input.extend_from_slice(&[0, 0, 0, 0]);
    let word0 = hex::encode(neosl_crypto::hash::sha256(&input));
    let (ok, answer) = run(&[
        "--public-key",
        PUBLIC,
        "--seed",
        SEED,
        "--proof",
        PROOF,
        "--words",
        &word0,
    ]);
    assert!(ok && answer["valid"] == true && answer["words_checked"] == 1);
    let wrong_word = format!("{}0", &word0[..63]);
    assert!(
        !run(&[
            "--public-key",
            PUBLIC,
            "--seed",
            SEED,
            "--proof",
            PROOF,
            "--words",
            &wrong_word
        ])
        .0
    );
    let (ok, answer) = run(&[
        "--public-key",
        PUBLIC,
        "--seed",
        "74657374",
        "--proof",
        PROOF,
    ]);
    assert!(!ok && answer["valid"] == false, "another seed");
    assert!(
        !run(&[
            "--public-key",
            PUBLIC,
            "--seed",
            SEED,
            "--proof",
            &PROOF[..160]
        ])
        .0,
        "malformed proof"
    );
}
