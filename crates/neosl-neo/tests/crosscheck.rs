//! Cross-check against an independent implementation: neo-mamba (PyPI) recomputes, for a few
//! hundred random keys, the public key, verification script, script hash and address; for
//! multi-signature accounts, the script and address; for transactions built and signed here, the
//! hash, the re-serialization and the validity of every witness; and the NEP-17 transfer script.
//! Every value must agree exactly.

use std::path::Path;

use neosl_crypto::SecretKey;
use neosl_neo::address::wif_encode;
use neosl_neo::contract::nep17_transfer;
use neosl_neo::script::{multisig_verification_script, verification_script};
use neosl_neo::tx::{Signer, Transaction, TransactionAttribute, Witness, WitnessScope};
use neosl_neo::{Address, UInt160, native};
use num_bigint::BigInt;
use serde_json::{Value, json};

const NETWORK: u32 = 860_833_102;
const KEYS: usize = 300;

fn script_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crosscheck/neo_mamba.py")
}

fn signed_transaction(keys: &[SecretKey], index: usize) -> Transaction {
    let sender = Address::from_public_key(&keys[0].public_key()).script_hash();
    let receiver = Address::from_public_key(&keys[1].public_key()).script_hash();
    let amount = BigInt::from(index as u64 * 1_234_567 + 1);
    let token = if index.is_multiple_of(2) {
        native::GAS
    } else {
        native::NEO
    };
    let mut signers = vec![Signer::called_by_entry(sender)];
    let mut signing_keys = vec![&keys[0]];
    if index.is_multiple_of(3) {
        let co = Address::from_public_key(&keys[2].public_key()).script_hash();
        let mut signer = Signer::new(co, WitnessScope::CUSTOM_CONTRACTS);
        signer.allowed_contracts = vec![token];
        signers.push(signer);
        signing_keys.push(&keys[2]);
    }
    let mut attributes = vec![];
    // neo-mamba 2.7 decodes only the HighPriority and OracleResponse attributes; the others are
    // checked against the real node.
    if index % 4 == 1 {
        attributes.push(TransactionAttribute::HighPriority);
    }
    let mut tx = Transaction {
        nonce: (index as u32).wrapping_mul(2_654_435_761),
        system_fee: 1_000_000 + index as i64,
        network_fee: 200_000 + index as i64,
        valid_until_block: 1_000 + index as u32,
        signers,
        attributes,
        script: nep17_transfer(&token, &sender, &receiver, &amount, None).expect("script"),
        witnesses: vec![],
    };
    let data = tx.sign_data(NETWORK).expect("sign data");
    tx.witnesses = signing_keys
        .iter()
        .map(|k| Witness::single_sig(&k.sign(&data).expect("sign"), &k.public_key()))
        .collect();
    tx
}

#[test]
fn neo_mamba_agrees_on_keys_addresses_scripts_and_transactions() {
    let tools = neosl_testkit::python_tools().expect("Python tools (neo-mamba) must install");
    let keys: Vec<SecretKey> = (0..KEYS).map(|_| SecretKey::generate()).collect();

    let key_requests: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "private_key": hex::encode(k.to_bytes().as_slice()),
                "wif": wif_encode(k).as_str(),
                "address": Address::from_public_key(&k.public_key()).to_string(),
            })
        })
        .collect();
    let multisig: Vec<(usize, Vec<_>)> = (0..20)
        .map(|i| {
            let n = 1 + i % 7;
            let m = 1 + i % n;
            (
                m,
                keys[i * 5..i * 5 + n]
                    .iter()
                    .map(SecretKey::public_key)
                    .collect(),
            )
        })
        .collect();
    let transactions: Vec<Transaction> =
        (0..40).map(|i| signed_transaction(&keys[i..], i)).collect();
    let amounts = [
        "0",
        "1",
        "16",
        "17",
        "-1",
        "255",
        "100000000",
        "9223372036854775807",
        "18446744073709551616",
        "-57896044618658097711785492504343953926634992332820282019728792003956564819968",
    ];
    let transfers: Vec<(UInt160, UInt160, UInt160, BigInt)> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let from = Address::from_public_key(&keys[i].public_key()).script_hash();
            let to = Address::from_public_key(&keys[i + 1].public_key()).script_hash();
            (native::GAS, from, to, a.parse().expect("amount"))
        })
        .collect();

    let request = json!({
        "network": NETWORK,
        "keys": key_requests,
        "multisig": multisig.iter().map(|(m, ks)| json!({
            "m": m, "public_keys": ks.iter().map(ToString::to_string).collect::<Vec<_>>()
        })).collect::<Vec<_>>(),
        "transactions": transactions.iter().map(|t| json!({
            "raw": hex::encode(t.to_bytes().expect("serializes"))
        })).collect::<Vec<_>>(),
        "transfers": transfers.iter().map(|(t, f, to, a)| json!({
            "token_le": hex::encode(t.as_le_bytes()),
            "from_le": hex::encode(f.as_le_bytes()),
            "to_le": hex::encode(to.as_le_bytes()),
            "amount": a.to_string(),
        })).collect::<Vec<_>>(),
    });
    let answer = tools
        .run_json(&script_path(), &request)
        .expect("neo-mamba ran");

    let answered = answer["keys"].as_array().expect("keys");
    assert_eq!(answered.len(), KEYS);
    for (key, theirs) in keys.iter().zip(answered) {
        let public = key.public_key();
        let script = verification_script(&public);
        let hash = UInt160::of_script(&script);
        assert_eq!(theirs["public_key"], public.to_string());
        assert_eq!(theirs["verification_script"], hex::encode(&script));
        assert_eq!(theirs["script_hash_le"], hex::encode(hash.as_le_bytes()));
        assert_eq!(
            theirs["address"],
            Address::from_script_hash(hash).to_string()
        );
        assert_eq!(
            theirs["address_to_script_hash_le"],
            hex::encode(hash.as_le_bytes())
        );
        assert_eq!(
            theirs["wif_private_key"],
            hex::encode(key.to_bytes().as_slice())
        );
    }

    for ((m, ks), theirs) in multisig
        .iter()
        .zip(answer["multisig"].as_array().expect("multisig"))
    {
        let script = multisig_verification_script(*m, ks).expect("valid multisig");
        assert_eq!(theirs["script"], hex::encode(&script));
        assert_eq!(
            theirs["address"],
            Address::from_script_hash(UInt160::of_script(&script)).to_string()
        );
    }

    let answered = answer["transactions"].as_array().expect("transactions");
    assert_eq!(answered.len(), transactions.len());
    for (tx, theirs) in transactions.iter().zip(answered) {
        assert_eq!(
            theirs["hash_le"],
            hex::encode(tx.hash().expect("hash").as_le_bytes())
        );
        assert_eq!(
            theirs["reserialized"],
            hex::encode(tx.to_bytes().expect("bytes"))
        );
        assert_eq!(
            theirs["witnesses_valid"],
            json!(vec![true; tx.witnesses.len()])
        );
        assert_eq!(
            theirs["sender_le"],
            hex::encode(tx.sender().expect("sender").as_le_bytes())
        );
        assert_eq!(theirs["nonce"], tx.nonce);
        assert_eq!(theirs["system_fee"], tx.system_fee);
        assert_eq!(theirs["network_fee"], tx.network_fee);
        assert_eq!(theirs["valid_until_block"], tx.valid_until_block);
    }

    for ((token, from, to, amount), theirs) in transfers
        .iter()
        .zip(answer["transfers"].as_array().expect("transfers"))
    {
        let ours = nep17_transfer(token, from, to, amount, None).expect("script");
        assert_eq!(theirs["script"], hex::encode(ours), "amount {amount}");
    }
}

#[test]
fn neo_mamba_refuses_a_tampered_signature_that_we_also_refuse() {
    // The cross-check must be able to fail: flip a signature bit and both sides say invalid.
    let tools = neosl_testkit::python_tools().expect("Python tools (neo-mamba) must install");
    let keys: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
    let mut tx = signed_transaction(&keys, 1);
    tx.witnesses[0].invocation[10] ^= 0x01;
    let request = json!({
        "network": NETWORK, "keys": [], "multisig": [], "transfers": [],
        "transactions": [{ "raw": hex::encode(tx.to_bytes().expect("serializes")) }],
    });
    let answer = tools
        .run_json(&script_path(), &request)
        .expect("neo-mamba ran");
    assert_eq!(answer["transactions"][0]["witnesses_valid"], json!([false]));
    let sig = neosl_crypto::Signature::from_slice(&tx.witnesses[0].invocation[2..]);
    let ours_valid = sig.is_ok_and(|s| {
        keys[0]
            .public_key()
            .verify(&tx.sign_data(NETWORK).expect("data"), &s)
    });
    assert!(!ours_valid);
}
