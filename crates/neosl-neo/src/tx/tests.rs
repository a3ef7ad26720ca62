use num_bigint::BigInt;
use proptest::prelude::*;

use super::*;
use crate::contract::nep17_transfer;
use crate::native;

fn key(seed: u8) -> neosl_crypto::SecretKey {
    neosl_crypto::SecretKey::from_bytes(&[seed; 32]).expect("valid scalar")
}

fn account(seed: u8) -> UInt160 {
    UInt160::of_script(&verification_script(&key(seed).public_key()))
}

fn transfer_tx() -> Transaction {
    let from = account(1);
    let script = nep17_transfer(
        &native::GAS,
        &from,
        &account(2),
        &BigInt::from(100_000_000),
        None,
    )
    .expect("script");
    Transaction {
        nonce: 0x0102_0304,
        system_fee: 997_775,
        network_fee: 122_352,
        valid_until_block: 5_760,
        signers: vec![Signer::called_by_entry(from)],
        attributes: vec![],
        script,
        witnesses: vec![],
    }
}

fn signed(mut tx: Transaction, network: u32) -> Transaction {
    let k = key(1);
    let sig = k
        .sign(&tx.sign_data(network).expect("sign data"))
        .expect("sign");
    tx.witnesses = vec![Witness::single_sig(&sig, &k.public_key())];
    tx
}

#[test]
fn layout_of_a_simple_transfer() {
    let tx = transfer_tx();
    let bytes = tx.unsigned_bytes().expect("serializes");
    // version, nonce (LE), system fee (LE i64), network fee, valid until block.
    assert_eq!(
        hex::encode(&bytes[..25]),
        "0004030201 8f390f0000000000 f0dd010000000000 80160000".replace(' ', "")
    );
    // one signer: account + CalledByEntry; no attributes.
    assert_eq!(bytes[25], 1);
    assert_eq!(&bytes[26..46], account(1).as_le_bytes());
    assert_eq!(bytes[46], 0x01);
    assert_eq!(bytes[47], 0);
    // the script follows with its var_int length.
    assert_eq!(bytes[48] as usize, tx.script.len());
    assert_eq!(&bytes[49..], &tx.script[..]);
    // the hash is a single SHA-256 of those bytes.
    assert_eq!(
        tx.hash().expect("hash").to_le_bytes(),
        neosl_crypto::hash::sha256(&bytes)
    );
}

#[test]
fn the_transfer_script_is_the_canonical_one() {
    let script = transfer_tx().script;
    let mut expected = String::new();
    expected.push_str("0b"); // data: null
    expected.push_str("0200e1f505"); // amount 100000000
    expected.push_str(&format!("0c14{}", hex::encode(account(2).as_le_bytes()))); // to
    expected.push_str(&format!("0c14{}", hex::encode(account(1).as_le_bytes()))); // from
    expected.push_str("14c0"); // 4 items, PACK
    expected.push_str("1f"); // CallFlags.All = 15
    expected.push_str("0c087472616e73666572"); // "transfer"
    expected.push_str("0c14cf76e28bd0062c4a478ee35561011319f3cfa4d2"); // GAS
    expected.push_str("41627d5b52"); // SYSCALL System.Contract.Call
    expected.push_str("39"); // ASSERT
    assert_eq!(hex::encode(script), expected);
}

#[test]
fn signed_round_trip_and_signature_check() {
    let tx = signed(transfer_tx(), 860_833_102);
    let bytes = tx.to_bytes().expect("serializes");
    let back = Transaction::from_bytes(&bytes).expect("parses");
    assert_eq!(back, tx);
    assert_eq!(back.hash().expect("hash"), tx.hash().expect("hash"));
    let witness = &back.witnesses[0];
    assert_eq!(witness.script_hash(), tx.signers[0].account);
    let public = crate::script::parse_single_sig(&witness.verification).expect("single sig");
    let sig = neosl_crypto::Signature::from_slice(&witness.invocation[2..]).expect("64 bytes");
    assert!(public.verify(&tx.sign_data(860_833_102).expect("data"), &sig));
    assert!(
        !public.verify(&tx.sign_data(894_710_606).expect("data"), &sig),
        "network bound"
    );
}

#[test]
fn sign_data_is_magic_then_hash() {
    let hash = UInt256::from_le_bytes([0xab; 32]);
    let data = sign_data(0x3344_5566, &hash);
    assert_eq!(&data[..4], &[0x66, 0x55, 0x44, 0x33]);
    assert_eq!(&data[4..], &[0xab; 32]);
}

#[test]
fn every_scope_and_attribute_round_trips() {
    let group = key(7).public_key();
    let mut tx = transfer_tx();
    tx.signers = vec![
        Signer::new(account(1), WitnessScope::NONE),
        Signer::called_by_entry(account(2)),
        Signer {
            allowed_contracts: vec![native::GAS, native::NEO],
            allowed_groups: vec![group],
            rules: vec![
                WitnessRule {
                    action: WitnessRuleAction::Allow,
                    condition: WitnessCondition::CalledByEntry,
                },
                WitnessRule {
                    action: WitnessRuleAction::Deny,
                    condition: WitnessCondition::And(vec![
                        WitnessCondition::Boolean(true),
                        WitnessCondition::ScriptHash(native::GAS),
                        WitnessCondition::Group(group),
                        WitnessCondition::CalledByContract(native::NEO),
                        WitnessCondition::CalledByGroup(group),
                    ]),
                },
                WitnessRule {
                    action: WitnessRuleAction::Allow,
                    condition: WitnessCondition::Or(vec![WitnessCondition::Boolean(false)]),
                },
                WitnessRule {
                    action: WitnessRuleAction::Deny,
                    condition: WitnessCondition::Not(Box::new(WitnessCondition::CalledByEntry)),
                },
            ],
            ..Signer::new(
                account(3),
                WitnessScope::CUSTOM_CONTRACTS
                    .with(WitnessScope::CUSTOM_GROUPS)
                    .and_then(|s| s.with(WitnessScope::WITNESS_RULES))
                    .and_then(|s| s.with(WitnessScope::CALLED_BY_ENTRY))
                    .expect("valid combination"),
            )
        },
        Signer::new(account(4), WitnessScope::GLOBAL),
    ];
    tx.attributes = vec![
        TransactionAttribute::HighPriority,
        TransactionAttribute::NotValidBefore { height: 77 },
        TransactionAttribute::Conflicts {
            hash: UInt256::from_le_bytes([1; 32]),
        },
        TransactionAttribute::Conflicts {
            hash: UInt256::from_le_bytes([2; 32]),
        },
        TransactionAttribute::OracleResponse {
            id: 9,
            code: OracleResponseCode::SUCCESS,
            result: b"42".to_vec(),
        },
    ];
    tx.witnesses = vec![Witness::default(); 4];
    let bytes = tx.to_bytes().expect("serializes");
    assert_eq!(Transaction::from_bytes(&bytes).expect("parses"), tx);
    // JSON of every signer round-trips too.
    for signer in &tx.signers {
        assert_eq!(&Signer::from_json(&signer.to_json()).expect("json"), signer);
    }
    assert_eq!(
        tx.signers[2].to_json()["scopes"],
        "CalledByEntry, CustomContracts, CustomGroups, WitnessRules"
    );
}

#[test]
fn forbidden_scopes_and_rules_are_refused() {
    assert!(WitnessScope::from_bits(0x81).is_err(), "Global combined");
    assert!(WitnessScope::from_bits(0x02).is_err(), "unknown bit");
    assert!(WitnessScope::parse_name("Global, CalledByEntry").is_err());
    assert!(WitnessScope::parse_name("Everything").is_err());
    assert_eq!(
        WitnessScope::parse_name("None").expect("ok"),
        WitnessScope::NONE
    );

    let mut tx = transfer_tx();
    tx.signers[0].allowed_contracts = vec![native::GAS];
    assert!(tx.unsigned_bytes().is_err(), "list without its scope");

    let mut tx = transfer_tx();
    tx.signers[0] = Signer {
        rules: vec![],
        ..Signer::new(account(1), WitnessScope::WITNESS_RULES)
    };
    tx.signers[0].rules.push(WitnessRule {
        action: WitnessRuleAction::Allow,
        condition: WitnessCondition::Not(Box::new(WitnessCondition::Not(Box::new(
            WitnessCondition::CalledByEntry,
        )))),
    });
    assert!(tx.unsigned_bytes().is_err(), "nesting too deep");
    tx.signers[0].rules[0].condition = WitnessCondition::And(vec![]);
    assert!(tx.unsigned_bytes().is_err(), "empty And");
    tx.signers[0].rules[0].condition =
        WitnessCondition::Or(vec![WitnessCondition::CalledByEntry; 17]);
    assert!(tx.unsigned_bytes().is_err(), "17 sub-conditions");

    let mut tx = transfer_tx();
    tx.signers[0].scopes = WitnessScope::CUSTOM_CONTRACTS;
    tx.signers[0].allowed_contracts = vec![native::GAS; 17];
    assert!(matches!(
        tx.unsigned_bytes(),
        Err(NeoError::TooLarge { .. })
    ));
}

#[test]
fn transaction_rules_are_enforced() {
    let base = transfer_tx();
    let check = |mutate: &dyn Fn(&mut Transaction)| {
        let mut tx = base.clone();
        mutate(&mut tx);
        tx.unsigned_bytes().err()
    };
    assert!(check(&|tx| tx.system_fee = -1).is_some());
    assert!(check(&|tx| tx.network_fee = -1).is_some());
    assert!(
        check(&|tx| {
            tx.system_fee = i64::MAX;
            tx.network_fee = 1
        })
        .is_some()
    );
    assert!(check(&|tx| tx.signers.clear()).is_some());
    assert!(
        check(&|tx| tx.signers.push(tx.signers[0].clone())).is_some(),
        "duplicate signer"
    );
    assert!(check(&|tx| tx.script.clear()).is_some());
    assert!(check(&|tx| tx.script = vec![0x21; 65_536]).is_some());
    assert!(check(&|tx| tx.attributes = vec![TransactionAttribute::HighPriority; 2]).is_some());
    assert!(
        check(&|tx| tx.attributes = vec![
            TransactionAttribute::Conflicts {
                hash: UInt256::ZERO
            };
            16
        ])
        .is_some(),
        "16 attributes plus 1 signer"
    );
    assert!(
        check(
            &|tx| tx.attributes = vec![TransactionAttribute::OracleResponse {
                id: 1,
                code: OracleResponseCode::from_byte(0x14).expect("NotFound"),
                result: vec![1]
            }]
        )
        .is_some()
    );
    assert!(OracleResponseCode::from_byte(0x13).is_err());
    // Signed form: witness count must equal signer count.
    assert!(base.to_bytes().is_err());
    let mut two = signed(base.clone(), 1);
    two.witnesses.push(Witness::default());
    assert!(two.to_bytes().is_err());
    let mut big = signed(base, 1);
    big.witnesses[0].invocation = vec![0; 1025];
    assert!(matches!(big.to_bytes(), Err(NeoError::TooLarge { .. })));
}

#[test]
fn malformed_bytes_give_typed_errors() {
    let good = signed(transfer_tx(), 42).to_bytes().expect("serializes");
    // Every truncation fails.
    for cut in 0..good.len() {
        assert!(
            Transaction::from_bytes(&good[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // Trailing bytes.
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        Transaction::from_bytes(&long),
        Err(NeoError::TrailingBytes(1))
    );
    // Version 1.
    let mut v1 = good.clone();
    v1[0] = 1;
    assert!(matches!(
        Transaction::from_bytes(&v1),
        Err(NeoError::Invalid { .. })
    ));
    // Oversized.
    assert!(matches!(
        Transaction::from_bytes(&vec![0; MAX_TRANSACTION_SIZE + 1]),
        Err(NeoError::TooLarge { .. })
    ));
    // Global combined with CalledByEntry in the scope byte.
    let mut scope = good.clone();
    scope[46] = 0x81;
    assert!(Transaction::from_bytes(&scope).is_err());
}

fn arb_condition() -> impl Strategy<Value = WitnessCondition> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(WitnessCondition::Boolean),
        Just(WitnessCondition::CalledByEntry),
        any::<[u8; 20]>().prop_map(|b| WitnessCondition::ScriptHash(UInt160::from_le_bytes(b))),
        any::<[u8; 20]>()
            .prop_map(|b| WitnessCondition::CalledByContract(UInt160::from_le_bytes(b))),
        (1u8..200).prop_map(|s| WitnessCondition::Group(key(s).public_key())),
    ];
    prop_oneof![
        leaf.clone(),
        leaf.clone()
            .prop_map(|c| WitnessCondition::Not(Box::new(c))),
        proptest::collection::vec(leaf.clone(), 1..4).prop_map(WitnessCondition::And),
        proptest::collection::vec(leaf, 1..4).prop_map(WitnessCondition::Or),
    ]
}

fn arb_tx() -> impl Strategy<Value = Transaction> {
    (
        any::<u32>(),
        0i64..1 << 40,
        0i64..1 << 40,
        any::<u32>(),
        proptest::collection::vec(arb_condition(), 0..3),
        proptest::collection::vec(any::<u8>(), 1..300),
        proptest::collection::vec(any::<u32>(), 0..3),
        1usize..4,
    )
        .prop_map(
            |(
                nonce,
                system_fee,
                network_fee,
                valid_until_block,
                conditions,
                script,
                heights,
                n,
            )| {
                let mut signers: Vec<Signer> = (0..n)
                    .map(|i| Signer::called_by_entry(account(i as u8 + 1)))
                    .collect();
                if !conditions.is_empty() {
                    signers[0].scopes = WitnessScope::WITNESS_RULES;
                    signers[0].rules = conditions
                        .into_iter()
                        .map(|condition| WitnessRule {
                            action: WitnessRuleAction::Allow,
                            condition,
                        })
                        .collect();
                }
                let attributes = heights
                    .into_iter()
                    .map(|h| TransactionAttribute::Conflicts {
                        hash: UInt256::from_le_bytes([h as u8; 32]),
                    })
                    .collect();
                let witnesses = (0..n)
                    .map(|i| Witness {
                        invocation: vec![i as u8; 66],
                        verification: vec![1; 40],
                    })
                    .collect();
                Transaction {
                    nonce,
                    system_fee,
                    network_fee,
                    valid_until_block,
                    signers,
                    attributes,
                    script,
                    witnesses,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transactions_round_trip(tx in arb_tx()) {
        let bytes = tx.to_bytes().expect("valid by construction");
        let back = Transaction::from_bytes(&bytes).expect("parses");
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.to_bytes().expect("serializes"), bytes);
        let unsigned = tx.unsigned_bytes().expect("unsigned");
        prop_assert_eq!(Transaction::from_unsigned_bytes(&unsigned).expect("parses").hash().expect("hash"), tx.hash().expect("hash"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Transaction::from_bytes(&bytes);
        let _ = Transaction::from_unsigned_bytes(&bytes);
    }

    #[test]
    fn mutated_transactions_never_panic(tx in arb_tx(), index in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = tx.to_bytes().expect("valid");
        let i = index % bytes.len();
        bytes[i] = byte;
        if let Ok(parsed) = Transaction::from_bytes(&bytes) {
            // Whatever parses re-serializes to the same bytes (canonical decoding).
            prop_assert_eq!(parsed.to_bytes().expect("serializes"), bytes);
        }
    }
}
