use std::time::Duration;

use neosl_chain::signer::TxSigner;
use neosl_chain::submit::SignerEntry;
use neosl_chain::{ChainError, RpcErrorKind};
use neosl_neo::contract::nep17_transfer;
use neosl_neo::script::{ScriptBuilder, opcode};
use neosl_neo::{UInt256, native};
use num_bigint::BigInt;

use crate::common::{GAS, as_signer, new_account, start_chain};

fn kind(result: Result<impl std::fmt::Debug, ChainError>) -> RpcErrorKind {
    match result {
        Err(e) => e
            .rpc_kind()
            .unwrap_or_else(|| panic!("not an RPC error: {e}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_errors_map_to_distinct_typed_errors() {
    let chain = start_chain(false).await;
    let devnet = &chain.devnet;
    let rpc = devnet.rpc();
    let submitter = devnet.submitter().await.expect("submitter");
    let rich = new_account();
    devnet
        .fund(&[as_signer(&rich).account()], 10 * GAS, 0)
        .await
        .expect("funding");

    // Unknown transaction.
    let unknown = kind(
        rpc.get_raw_transaction(&UInt256::from_le_bytes([7; 32]))
            .await,
    );
    assert_eq!(unknown, RpcErrorKind::UnknownTransaction);
    let no_log = rpc
        .get_application_log(&UInt256::from_le_bytes([7; 32]))
        .await;
    assert!(
        no_log.as_ref().is_err_and(ChainError::is_not_found),
        "{no_log:?}"
    );

    // Insufficient funds: an account with no GAS cannot pay the fees of a harmless script.
    let poor = new_account();
    let mut sb = ScriptBuilder::new();
    sb.push_i64(1).opcode(opcode::RET);
    let tx = submitter
        .build(
            sb.into_bytes(),
            &[SignerEntry::called_by_entry(as_signer(&poor))],
            vec![],
        )
        .await
        .expect("builds (fees are estimated, not checked)");
    let insufficient = kind(submitter.send(&tx).await);
    assert_eq!(insufficient, RpcErrorKind::InsufficientFunds);

    // Invalid signature: a well-formed signature over other data.
    let script = nep17_transfer(
        &native::GAS,
        &as_signer(&rich).account(),
        &as_signer(&poor).account(),
        &BigInt::from(1),
        None,
    )
    .expect("script");
    let mut tx = submitter
        .build(
            script.clone(),
            &[SignerEntry::called_by_entry(as_signer(&rich))],
            vec![],
        )
        .await
        .expect("builds");
    let other = rich
        .sign(submitter.network(), &UInt256::from_le_bytes([1; 32]))
        .await
        .expect("signs");
    tx.witnesses[0] = other;
    let invalid = kind(submitter.send(&tx).await);
    assert_eq!(invalid, RpcErrorKind::InvalidSignature);

    // Expired: valid-until-block already passed (re-signed, so only the height is wrong).
    let mut tx = submitter
        .build(
            script,
            &[SignerEntry::called_by_entry(as_signer(&rich))],
            vec![],
        )
        .await
        .expect("builds");
    let height = rpc.get_block_count().await.expect("height") - 1;
    tx.valid_until_block = height - 1;
    tx.witnesses[0] = rich
        .sign(submitter.network(), &tx.hash().expect("hash"))
        .await
        .expect("signs");
    let expired = kind(submitter.send(&tx).await);
    assert_eq!(expired, RpcErrorKind::ExpiredTransaction);
    // Waiting for it says so too.
    assert!(matches!(
        submitter.wait(&tx, Duration::from_secs(5)).await,
        Err(ChainError::Expired { .. })
    ));

    let kinds = [unknown, insufficient, invalid, expired];
    for (i, a) in kinds.iter().enumerate() {
        for b in &kinds[i + 1..] {
            assert_ne!(a, b, "every failure has its own kind");
        }
    }

    // A script that faults in the test invocation is never sent.
    let mut sb = ScriptBuilder::new();
    sb.opcode(opcode::ABORT);
    let refused = submitter
        .build(
            sb.into_bytes(),
            &[SignerEntry::called_by_entry(as_signer(&rich))],
            vec![],
        )
        .await;
    assert!(
        matches!(refused, Err(ChainError::InvocationFault { .. })),
        "{refused:?}"
    );
    chain.devnet.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_skips_a_dead_endpoint_and_unreachable_is_typed() {
    let chain = start_chain(false).await;
    let dead = format!(
        "http://127.0.0.1:{}",
        neosl_devnet::free_port().expect("port")
    );
    let config = neosl_chain::rpc::RpcConfig {
        timeout: Duration::from_secs(2),
        retries: 1,
        backoff: Duration::from_millis(10),
    };
    let rpc =
        neosl_chain::RpcClient::new(vec![dead.clone(), chain.devnet.rpc_url()], config.clone())
            .expect("client");
    assert!(rpc.get_block_count().await.expect("fails over") >= 1);
    assert_eq!(rpc.current_endpoint(), chain.devnet.rpc_url());
    let only_dead = neosl_chain::RpcClient::new(vec![dead], config).expect("client");
    assert!(matches!(
        only_dead.get_block_count().await,
        Err(ChainError::Unavailable(_))
    ));
    chain.devnet.stop().await.expect("stops");
}
