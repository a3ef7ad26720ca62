//! The platform's contracts on a real devnet, driven directly (no platform running): the
//! request → fulfil → callback loop, and every way a fulfilment must be refused.

use std::sync::Arc;
use std::time::Duration;

use neosl::contracts::{self, Deployed, call_as, read};
use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_contracts::gateway::{self, Fulfilment, RequestStatus};
use neosl_contracts::vrf::VrfResult;
use neosl_crypto::SecretKey;
use neosl_crypto::vrf;
use neosl_devnet::{Devnet, DevnetConfig};
use neosl_neo::UInt160;
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_testkit::TempDir;
use num_bigint::BigInt;

const GAS: i64 = 100_000_000;

struct World {
    devnet: Devnet,
    submitter: Submitter,
    owner: Arc<dyn TxSigner>,
    tee: Arc<dyn TxSigner>,
    tee_key: SecretKey,
    vrf_key: SecretKey,
    deployed: Deployed,
    test_consumer: UInt160,
    _dir: TempDir,
}

fn signer() -> Arc<dyn TxSigner> {
    Arc::new(LocalKeySigner::new(SecretKey::generate()))
}

async fn world() -> World {
    let dir = TempDir::new("neosl-gw-contract").expect("temp dir");
    let mut config = DevnetConfig::new(dir.path().join("chain"));
    config.cache_dir = neosl_testkit::tools_dir().join("neogo");
    config.block_time = Duration::from_millis(250);
    let devnet = Devnet::start(config).await.expect("devnet");
    let submitter = devnet.submitter().await.expect("submitter");
    let owner = signer();
    let tee = signer();
    devnet
        .fund(&[owner.account(), tee.account()], 200 * GAS, 0)
        .await
        .expect("funded");
    let deployed = contracts::deploy(&submitter, owner.clone(), 60_000)
        .await
        .expect("deployed");
    let tee_key = SecretKey::generate();
    contracts::ensure_tee_key(
        &submitter,
        owner.clone(),
        &deployed.gateway,
        "vrf",
        &tee_key.public_key(),
    )
    .await
    .expect("key");
    contracts::ensure_tee_account(&submitter, owner.clone(), &deployed.gateway, &tee.account())
        .await
        .expect("account");
    let compiled = neosl_testkit::compile_contract("test_consumer").expect("compiles");
    let test_consumer = neosl_devnet::deploy_contract_with(
        &submitter,
        owner.clone(),
        &compiled.nef,
        &compiled.manifest,
        Some(P::Hash160(deployed.gateway)),
    )
    .await
    .expect("test consumer");
    World {
        devnet,
        submitter,
        owner,
        tee,
        tee_key,
        vrf_key: SecretKey::generate(),
        deployed,
        test_consumer,
        _dir: dir,
    }
}

impl World {
    /// A request through `consumer.method(args)`; answers its id and the VRF input.
    async fn request(&self, consumer: &UInt160, method: &str, args: &[P]) -> (u64, Vec<u8>) {
        let outcome = call_as(
            &self.submitter,
            signer_funded(self).await,
            consumer,
            method,
            args,
        )
        .await
        .expect("requested");
        let id = outcome.stack[0].as_integer().expect("id");
        let alpha = outcome
            .notifications
            .iter()
            .find(|n| n.eventname == "VRFRequest")
            .and_then(|n| n.state.as_array().map(|s| s[4].clone()))
            .and_then(|a| a.as_bytes())
            .expect("VRFRequest carries alpha");
        (u64::try_from(id).expect("id"), alpha)
    }

    /// A correct fulfilment of `id` with `num_words` words.
    fn fulfilment(&self, id: u64, alpha: &[u8], num_words: u32, skip: &str) -> Fulfilment {
        let proof = vrf::prove(&self.vrf_key, alpha);
        let beta = vrf::proof_to_hash(&proof).expect("beta");
        let result = VrfResult {
            words: vrf::random_words(&beta, num_words),
            proof: proof.to_vec(),
        }
        .to_bytes()
        .expect("result");
        self.signed(id, true, result, &self.tee_key, self.devnet.network(), skip)
    }

    fn signed(
        &self,
        id: u64,
        success: bool,
        result: Vec<u8>,
        key: &SecretKey,
        network: u32,
        skip: &str,
    ) -> Fulfilment {
        let message =
            gateway::fulfilment_message(network, &self.deployed.gateway, id, success, &result);
        Fulfilment {
            request_id: id,
            success,
            result,
            signature: key.sign(&message).expect("signed").to_bytes().to_vec(),
            skip_reason: skip.into(),
        }
    }

    /// Sends `batch` from `from`; answers whether it HALTed (and the exception otherwise).
    async fn fulfil_from(
        &self,
        from: Arc<dyn TxSigner>,
        batch: &[Fulfilment],
    ) -> Result<(), String> {
        let script = gateway::fulfil_script(&self.deployed.gateway, batch).expect("script");
        let signers = [SignerEntry::called_by_entry(from)];
        match self.submitter.build(script, &signers, vec![]).await {
            Ok(tx) => {
                self.submitter
                    .send_with_retry(&tx, Duration::from_secs(30))
                    .await
                    .expect("sent");
                let outcome = self
                    .submitter
                    .wait(&tx, Duration::from_secs(30))
                    .await
                    .expect("included");
                if outcome.halted() {
                    Ok(())
                } else {
                    Err(outcome.exception.unwrap_or_default())
                }
            }
            Err(neosl_chain::ChainError::InvocationFault { exception }) => Err(exception),
            Err(e) => panic!("building the fulfilment: {e}"),
        }
    }

    async fn fulfil(&self, batch: &[Fulfilment]) -> Result<(), String> {
        self.fulfil_from(self.tee.clone(), batch).await
    }

    async fn stored(&self, id: u64) -> gateway::StoredRequest {
        let item = read(
            &self.devnet.rpc(),
            &self.deployed.gateway,
            "getRequest",
            &[P::Integer(BigInt::from(id))],
        )
        .await
        .expect("read");
        gateway::stored_request(&item).expect("a request")
    }
}

/// A fresh funded account (a dApp user sending the request transaction).
async fn signer_funded(w: &World) -> Arc<dyn TxSigner> {
    let user = signer();
    w.devnet
        .fund(&[user.account()], 20 * GAS, 0)
        .await
        .expect("funded");
    user
}

/// The fulfilment faulted, for `why`.
fn refused(result: Result<(), String>, why: &str) {
    match result {
        Err(exception) => assert!(
            exception.contains(why),
            "expected {why:?}, got {exception:?}"
        ),
        Ok(()) => panic!("expected a FAULT for {why:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_fulfilled_once_with_verifiable_words_and_refused_otherwise() {
    let w = world().await;
    let consumer = w.deployed.example_consumer;
    let (id, alpha) = w
        .request(&consumer, "requestRandom", &[P::Integer(3.into())])
        .await;
    assert_eq!(id, 1, "ids start at 1 and increase");
    let stored_input = read(
        &w.devnet.rpc(),
        &w.deployed.vrf_service,
        "getInput",
        &[P::Integer(BigInt::from(id))],
    )
    .await
    .expect("input");
    assert_eq!(
        stored_input.as_bytes(),
        Some(alpha.clone()),
        "the input is on chain"
    );
    let pending = w.stored(id).await;
    assert_eq!(pending.status, RequestStatus::Pending);
    assert_eq!(pending.requester, consumer);
    assert_eq!(pending.callback, "onRandom");

    // Refused: a key the gateway does not know, a wrong request id, another network, a sender
    // that is not a TEE account, too few words.
    let good = w.fulfilment(id, &alpha, 3, "");
    let stranger_key = SecretKey::generate();
    let mut forged = good.clone();
    forged.signature = w
        .signed(
            id,
            true,
            good.result.clone(),
            &stranger_key,
            w.devnet.network(),
            "",
        )
        .signature;
    refused(w.fulfil(&[forged]).await, "bad signature");
    let mut other_id = w.signed(
        id + 1,
        true,
        good.result.clone(),
        &w.tee_key,
        w.devnet.network(),
        "",
    );
    other_id.request_id = id;
    refused(w.fulfil(&[other_id]).await, "bad signature");
    let other_network = w.signed(
        id,
        true,
        good.result.clone(),
        &w.tee_key,
        w.devnet.network() + 1,
        "",
    );
    refused(w.fulfil(&[other_network]).await, "bad signature");
    let outsider = signer_funded(&w).await;
    refused(
        w.fulfil_from(outsider, std::slice::from_ref(&good)).await,
        "not a TEE account",
    );
    let short = w.fulfilment(id, &alpha, 2, "");
    refused(w.fulfil(&[short]).await, "wrong number of words");

    // The real one: the callback stores the words; the result stays readable in the gateway.
    w.fulfil(std::slice::from_ref(&good))
        .await
        .expect("fulfilled");
    let done = w.stored(id).await;
    assert_eq!(done.status, RequestStatus::Fulfilled);
    let result = VrfResult::from_bytes(&done.result).expect("a VRF result");
    let key = w.vrf_key.public_key();
    assert!(
        vrf::verify_random_words(&key, &alpha, &result.proof, &result.words)
            .expect("checks")
            .is_some(),
        "the words verify from chain data and the public key alone"
    );
    let words = read(
        &w.devnet.rpc(),
        &consumer,
        "getRandom",
        &[P::Integer(BigInt::from(id))],
    )
    .await
    .expect("words");
    let words: Vec<Vec<u8>> = words
        .as_array()
        .expect("array")
        .iter()
        .filter_map(StackItem::as_bytes)
        .collect();
    assert_eq!(
        words,
        result.words.iter().map(|w| w.to_vec()).collect::<Vec<_>>()
    );
    // A replay faults.
    refused(w.fulfil(&[good]).await, "not pending");

    // A callback that raises is caught: HALT, callback_failed, the result kept.
    let test_consumer = w.test_consumer;
    let (raising, raising_alpha) = w
        .request(
            &test_consumer,
            "request",
            &[P::Integer(1.into()), P::String("onRaise".into())],
        )
        .await;
    w.fulfil(&[w.fulfilment(raising, &raising_alpha, 1, "")])
        .await
        .expect("HALT although the callback raised");
    let raised = w.stored(raising).await;
    assert_eq!(raised.status, RequestStatus::CallbackFailed);
    assert_eq!(raised.reason, "the callback raised");
    assert!(!raised.result.is_empty());
    // A callback that faults cannot be caught: with it the fulfilment faults, without it (the
    // off-chain side's choice) the request is recorded with the reason. Both in one batch with
    // a good one: the batch stands.
    let (faulting, faulting_alpha) = w
        .request(
            &test_consumer,
            "request",
            &[P::Integer(1.into()), P::String("onAssert".into())],
        )
        .await;
    let (fine, fine_alpha) = w
        .request(
            &test_consumer,
            "request",
            &[P::Integer(2.into()), P::String("onAnswer".into())],
        )
        .await;
    refused(
        w.fulfil(&[w.fulfilment(faulting, &faulting_alpha, 1, "")])
            .await,
        "the consumer faults",
    );
    w.fulfil(&[
        w.fulfilment(
            faulting,
            &faulting_alpha,
            1,
            "the callback faults: the consumer faults",
        ),
        w.fulfilment(fine, &fine_alpha, 2, ""),
    ])
    .await
    .expect("the batch HALTs");
    let skipped = w.stored(faulting).await;
    assert_eq!(skipped.status, RequestStatus::CallbackFailed);
    assert_eq!(skipped.reason, "the callback faults: the consumer faults");
    assert_eq!(w.stored(fine).await.status, RequestStatus::Fulfilled);
    let answered = read(
        &w.devnet.rpc(),
        &test_consumer,
        "answered",
        &[P::Integer(BigInt::from(fine))],
    )
    .await
    .expect("answered");
    assert!(answered.as_bytes().is_some_and(|b| !b.is_empty()));

    // Past its deadline a request can no longer be fulfilled, and anyone can mark it expired.
    call_as(
        &w.submitter,
        w.owner.clone(),
        &w.deployed.gateway,
        "setRequestTimeout",
        &[P::Integer(1.into())],
    )
    .await
    .expect("timeout");
    let (late, late_alpha) = w
        .request(&consumer, "requestRandom", &[P::Integer(1.into())])
        .await;
    let start = w.devnet.rpc().get_block_count().await.expect("height");
    neosl_testkit::wait_until(Duration::from_secs(20), "a later block", || async {
        let now = w.devnet.rpc().get_block_count().await.expect("height");
        (now > start + 1).then_some(())
    })
    .await;
    refused(
        w.fulfil(&[w.fulfilment(late, &late_alpha, 1, "")]).await,
        "expired",
    );
    call_as(
        &w.submitter,
        signer_funded(&w).await,
        &w.deployed.gateway,
        "expireRequest",
        &[P::Integer(BigInt::from(late))],
    )
    .await
    .expect("anyone may expire it");
    assert_eq!(w.stored(late).await.status, RequestStatus::Expired);

    // Administration is the owner's: a stranger cannot register services, keys or accounts.
    let stranger = signer_funded(&w).await;
    for (method, args) in [
        (
            "registerService",
            vec![P::String("evil".into()), P::Hash160(stranger.account())],
        ),
        (
            "addTeeKey",
            vec![
                P::String("vrf".into()),
                P::PublicKey(stranger_key.public_key()),
            ],
        ),
        ("addTeeAccount", vec![P::Hash160(stranger.account())]),
    ] {
        let err = call_as(
            &w.submitter,
            stranger.clone(),
            &w.deployed.gateway,
            method,
            &args,
        )
        .await
        .expect_err("refused");
        assert!(
            format!("{err:#}").contains("owner only"),
            "{method}: {err:#}"
        );
    }
    // Key rotation: a second key works beside the first until the first is retired.
    let rotated = SecretKey::generate();
    contracts::ensure_tee_key(
        &w.submitter,
        w.owner.clone(),
        &w.deployed.gateway,
        "vrf",
        &rotated.public_key(),
    )
    .await
    .expect("added");
    call_as(
        &w.submitter,
        w.owner.clone(),
        &w.deployed.gateway,
        "setRequestTimeout",
        &[P::Integer(3_600_000.into())],
    )
    .await
    .expect("timeout");
    let keys = contracts::service_keys(&w.devnet.rpc(), &w.deployed.gateway, "vrf")
        .await
        .expect("keys");
    assert_eq!(keys, [w.tee_key.public_key(), rotated.public_key()]);
    w.devnet.stop().await.expect("stops");
}
