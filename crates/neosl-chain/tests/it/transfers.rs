use std::time::Duration;

use neosl_chain::submit::SignerEntry;
use neosl_neo::contract::nep17_transfer;
use neosl_neo::native;
use neosl_neo::param::{ContractParameter, StackItem};
use neosl_neo::script::ScriptBuilder;
use num_bigint::BigInt;

use crate::common::{GAS, as_signer, new_account, start_chain};

#[tokio::test(flavor = "multi_thread")]
async fn gas_and_neo_transfers_built_in_rust_are_confirmed() {
    let chain = start_chain(false).await;
    let devnet = &chain.devnet;
    let alice = new_account();
    let bob = new_account();
    let alice_account = as_signer(&alice).account();
    let bob_account = as_signer(&bob).account();
    devnet
        .fund(&[alice_account], 50 * GAS, 10)
        .await
        .expect("funding");

    let rpc = devnet.rpc();
    let before = rpc
        .get_nep17_balances(&alice_account)
        .await
        .expect("balances");
    assert_eq!(before.of(&native::GAS), BigInt::from(50 * GAS));
    assert_eq!(before.of(&native::NEO), BigInt::from(10));

    let submitter = devnet.submitter().await.expect("submitter");
    let mut script = nep17_transfer(
        &native::GAS,
        &alice_account,
        &bob_account,
        &BigInt::from(150_000_000),
        None,
    )
    .expect("gas script");
    script.extend(
        nep17_transfer(
            &native::NEO,
            &alice_account,
            &bob_account,
            &BigInt::from(3),
            None,
        )
        .expect("neo script"),
    );
    let tx = submitter
        .build(
            script,
            &[SignerEntry::called_by_entry(as_signer(&alice))],
            vec![],
        )
        .await
        .expect("builds");
    // Our transaction's hash is the node's: it accepts and echoes it.
    let sent = submitter.send(&tx).await.expect("accepted");
    assert_eq!(sent, tx.hash().expect("hash"));
    // Sending the same signed transaction again is safe.
    assert_eq!(submitter.send(&tx).await.expect("resend is fine"), sent);
    let outcome = submitter
        .wait(&tx, Duration::from_secs(30))
        .await
        .expect("included");
    assert!(outcome.halted(), "{:?}", outcome.exception);
    let to_bob = |token| {
        outcome.notifications.iter().any(|n| {
            n.contract == token
                && n.eventname == "Transfer"
                && n.state.as_array().and_then(|a| a.get(1)?.as_bytes())
                    == Some(bob_account.as_le_bytes().to_vec())
        })
    };
    assert!(
        to_bob(native::GAS) && to_bob(native::NEO),
        "{:?}",
        outcome.notifications
    );

    let bob_balances = rpc
        .get_nep17_balances(&bob_account)
        .await
        .expect("balances");
    assert_eq!(bob_balances.of(&native::GAS), BigInt::from(150_000_000));
    assert_eq!(bob_balances.of(&native::NEO), BigInt::from(3));
    let alice_after = rpc
        .get_nep17_balances(&alice_account)
        .await
        .expect("balances");
    let fees = tx.system_fee + tx.network_fee;
    let neo_bonus: BigInt = outcome
        .notifications
        .iter()
        .filter(|n| n.contract == native::GAS && n.eventname == "Transfer")
        .filter_map(|n| {
            let items = n.state.as_array()?;
            let to = items.get(1)?.as_bytes()?;
            (to == alice_account.as_le_bytes().to_vec() && items.first() == Some(&StackItem::Any))
                .then(|| items[2].as_integer())?
        })
        .sum();
    assert_eq!(
        alice_after.of(&native::GAS),
        BigInt::from(50 * GAS - 150_000_000 - fees) + neo_bonus,
        "sender pays amount and both fees exactly"
    );
    assert_eq!(alice_after.of(&native::NEO), BigInt::from(7));

    // The node's copy of the transaction decodes with our parser to the same value.
    let fetched = rpc.get_raw_transaction(&sent).await.expect("on chain");
    assert_eq!(fetched, tx);
    chain.devnet.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_invocation_returns_its_result_and_notifications() {
    let chain = start_chain(false).await;
    let devnet = &chain.devnet;
    let owner = new_account();
    devnet
        .fund(&[as_signer(&owner).account()], 100 * GAS, 0)
        .await
        .expect("funding");
    let contract = neosl_testkit::compile_contract("test_events").expect("compiles");
    let submitter = devnet.submitter().await.expect("submitter");
    let hash = neosl_devnet::deploy_contract(
        &submitter,
        as_signer(&owner),
        &contract.nef,
        &contract.manifest,
    )
    .await
    .expect("deploys");
    let state = devnet
        .rpc()
        .get_contract_state(&hash)
        .await
        .expect("deployed");
    assert_eq!(state.hash, hash);
    assert_eq!(state.manifest["name"], "NeoslTestEvents");

    // Read-only: invokefunction.
    let args = [
        ContractParameter::Integer(40.into()),
        ContractParameter::Integer(2.into()),
    ];
    let result = devnet
        .rpc()
        .invoke_function(&hash, "add", &args, &[])
        .await
        .expect("invokes");
    assert!(result.halted());
    assert_eq!(result.stack[0].as_integer(), Some(BigInt::from(42)));
    assert_eq!(result.notifications.len(), 1);
    assert_eq!(result.notifications[0].eventname, "Added");

    // On chain: a transaction.
    let mut sb = ScriptBuilder::new();
    neosl_neo::contract::call(
        &mut sb,
        &hash,
        "add",
        neosl_neo::contract::CallFlags::ALL,
        &args,
    )
    .expect("script");
    let outcome = submitter
        .submit_and_wait(
            sb.into_bytes(),
            &[SignerEntry::called_by_entry(as_signer(&owner))],
            Duration::from_secs(30),
        )
        .await
        .expect("included");
    assert!(outcome.halted());
    assert_eq!(outcome.stack[0].as_integer(), Some(BigInt::from(42)));
    assert_eq!(outcome.notifications[0].contract, hash);
    let state = outcome.notifications[0]
        .state
        .as_array()
        .expect("array")
        .to_vec();
    assert_eq!(
        state.iter().map(|s| s.as_integer()).collect::<Vec<_>>(),
        vec![Some(40.into()), Some(2.into()), Some(42.into())]
    );
    // A faulting call is refused before sending, with the VM's message.
    let fault = devnet
        .rpc()
        .invoke_function(
            &hash,
            "fail",
            &[ContractParameter::String("boom".into())],
            &[],
        )
        .await
        .expect("invokes");
    assert!(!fault.halted());
    assert!(fault.exception.unwrap_or_default().contains("boom"));
    chain.devnet.stop().await.expect("stops");
}
