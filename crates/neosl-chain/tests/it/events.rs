use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use neosl_chain::RpcClient;
use neosl_chain::events::{
    BoxError, ChainEvent, EventFilter, EventHandler, EventStream, MemoryCursor, StreamConfig,
    StreamMode, StreamStatus,
};
use neosl_chain::rpc::RpcConfig;
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::{SignerEntry, Submitter};
use neosl_neo::UInt160;
use neosl_neo::contract::CallFlags;
use neosl_neo::param::ContractParameter as P;
use neosl_neo::script::ScriptBuilder;
use tokio::sync::watch;

use crate::common::{CuttableProxy, GAS, TestChain, as_signer, new_account, start_chain};

/// Records (tag, sequence) of every `Ping`, optionally slowly, optionally failing at first.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(i64, i64)>>,
    events: Mutex<Vec<ChainEvent>>,
    delay: Duration,
    failures_left: Mutex<u32>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &ChainEvent) -> Result<(), BoxError> {
        {
            let mut left = self.failures_left.lock().map_err(|_| "poisoned")?;
            if *left > 0 {
                *left -= 1;
                return Err("handler not ready yet".into());
            }
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let state = event.state.as_array().ok_or("not an array")?;
        let tag = state[0].as_integer().ok_or("tag")?;
        let seq = state[1].as_integer().ok_or("seq")?;
        self.seen
            .lock()
            .map_err(|_| "poisoned")?
            .push((tag.try_into()?, seq.try_into()?));
        self.events
            .lock()
            .map_err(|_| "poisoned")?
            .push(event.clone());
        Ok(())
    }
}

/// Waits until the stream behind `cursor` has handled two whole blocks after the current one,
/// so that anything it would still deliver has been delivered (no sleeping to prove a negative).
async fn settled(rpc: &RpcClient, cursor: &MemoryCursor) {
    use neosl_chain::events::CursorStore as _;
    let height = rpc.get_block_count().await.expect("height");
    let start = Instant::now();
    loop {
        let position = cursor.load().await.expect("cursor");
        if position.is_some_and(|p| p.next_block >= height + 2) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the stream stays at {position:?}, below {}",
            height + 2
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Recorder {
    fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

struct Deployed {
    chain: TestChain,
    submitter: Submitter,
    owner: Arc<dyn TxSigner>,
    contract: UInt160,
}

async fn deployed(persistent: bool) -> Deployed {
    let chain = start_chain(persistent).await;
    let owner = new_account();
    chain
        .devnet
        .fund(&[as_signer(&owner).account()], 500 * GAS, 0)
        .await
        .expect("funding");
    let compiled = neosl_testkit::compile_contract("test_events").expect("compiles");
    let submitter = chain.devnet.submitter().await.expect("submitter");
    let contract = neosl_devnet::deploy_contract(
        &submitter,
        as_signer(&owner),
        &compiled.nef,
        &compiled.manifest,
    )
    .await
    .expect("deploys");
    Deployed {
        chain,
        submitter,
        owner: as_signer(&owner),
        contract,
    }
}

impl Deployed {
    /// Sends `txs` transactions, each emitting `per_tx` Ping events with tag = transaction index,
    /// and waits until all are included.
    async fn burst(&self, txs: usize, per_tx: usize) {
        let mut built = Vec::new();
        for tag in 0..txs {
            let mut sb = ScriptBuilder::new();
            neosl_neo::contract::call(
                &mut sb,
                &self.contract,
                "ping",
                CallFlags::ALL,
                &[P::Integer(tag.into()), P::Integer(per_tx.into())],
            )
            .expect("script");
            let tx = self
                .submitter
                .build(
                    sb.into_bytes(),
                    &[SignerEntry::called_by_entry(self.owner.clone())],
                    vec![],
                )
                .await
                .expect("builds");
            self.submitter.send(&tx).await.expect("sent");
            built.push(tx);
        }
        for tx in &built {
            let outcome = self
                .submitter
                .wait(tx, Duration::from_secs(60))
                .await
                .expect("included");
            assert!(outcome.halted());
        }
    }

    fn stream(
        &self,
        rpc: RpcClient,
        recorder: Arc<Recorder>,
        cursor: Arc<MemoryCursor>,
        websocket: bool,
    ) -> EventStream {
        let filter = EventFilter {
            contracts: vec![self.contract],
            names: vec!["Ping".into()],
        };
        let config = StreamConfig {
            use_websocket: websocket,
            poll_interval: Duration::from_millis(200),
            reconnect_interval: Duration::from_millis(300),
            max_backoff: Duration::from_millis(500),
            ..StreamConfig::default()
        };
        EventStream::new(rpc, filter, cursor, recorder, config)
    }
}

fn expected(txs: usize, per_tx: usize) -> Vec<(i64, i64)> {
    (0..txs as i64)
        .flat_map(|t| (0..per_tx as i64).map(move |s| (t, s)))
        .collect()
}

async fn wait_for(recorder: &Recorder, n: usize, timeout: Duration) {
    let start = Instant::now();
    while recorder.count() < n {
        assert!(
            start.elapsed() < timeout,
            "only {} of {n} events after {timeout:?}",
            recorder.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status(handle: &Arc<Mutex<StreamStatus>>) -> StreamStatus {
    handle.lock().expect("status").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_arrive_over_websocket_and_over_polling_alike() {
    let d = deployed(false).await;
    let mut runs = Vec::new();
    for websocket in [true, false] {
        let recorder = Arc::new(Recorder::default());
        let stream = d.stream(
            d.chain.devnet.rpc(),
            recorder.clone(),
            Arc::new(MemoryCursor::default()),
            websocket,
        );
        let status_handle = stream.status_handle();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(stream.run(stopped));
        runs.push((websocket, recorder, status_handle, stop, task));
    }
    d.burst(2, 3).await;
    for (websocket, recorder, status_handle, stop, task) in runs {
        wait_for(&recorder, 6, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            *recorder.seen.lock().expect("seen"),
            expected(2, 3),
            "websocket = {websocket}"
        );
        let s = status(&status_handle);
        if websocket {
            assert_eq!(s.mode, StreamMode::WebSocket);
            assert!(
                s.blocks_from_websocket > 0,
                "blocks came through the WebSocket"
            );
        } else {
            assert_eq!(s.mode, StreamMode::Polling);
            assert_eq!(s.blocks_from_websocket, 0);
        }
        let events = recorder.events.lock().expect("events").clone();
        assert!(
            events
                .iter()
                .all(|e| e.contract == d.contract && e.event_name == "Ping")
        );
        assert!(
            events.windows(2).all(
                |w| (w[0].block_index, w[0].event_index) < (w[1].block_index, w[1].event_index)
            )
        );
        stop.send(true).expect("stop");
        task.await.expect("stream ends");
    }
    d.chain.devnet.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_stream_resumes_from_its_cursor_without_repeats_and_a_failing_handler_blocks() {
    let d = deployed(false).await;
    let cursor = Arc::new(MemoryCursor::default());
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(40),
        failures_left: Mutex::new(3),
        ..Recorder::default()
    });
    let (stop, stopped) = watch::channel(false);
    let first = tokio::spawn(
        d.stream(d.chain.devnet.rpc(), recorder.clone(), cursor.clone(), true)
            .run(stopped),
    );
    d.burst(4, 25).await;
    wait_for(&recorder, 30, Duration::from_secs(30)).await;
    stop.send(true).expect("stop");
    first.await.expect("first stream ends");
    let delivered = recorder.count();
    assert!(delivered < 100, "stopped in the middle ({delivered})");
    // A new stream (as after a restart) continues from the saved position.
    let (stop, stopped) = watch::channel(false);
    let second = tokio::spawn(
        d.stream(d.chain.devnet.rpc(), recorder.clone(), cursor.clone(), true)
            .run(stopped),
    );
    wait_for(&recorder, 100, Duration::from_secs(30)).await;
    settled(&d.chain.devnet.rpc(), &cursor).await;
    assert_eq!(
        *recorder.seen.lock().expect("seen"),
        expected(4, 25),
        "each event once, in order"
    );
    stop.send(true).expect("stop");
    second.await.expect("second stream ends");
    d.chain.devnet.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_websocket_mid_burst_loses_and_repeats_nothing() {
    let d = deployed(false).await;
    let proxy = CuttableProxy::start(&d.chain.devnet.rpc_url()).await;
    let rpc = RpcClient::new(
        vec![proxy.url.clone()],
        RpcConfig {
            timeout: Duration::from_secs(3),
            retries: 1,
            backoff: Duration::from_millis(50),
        },
    )
    .expect("client");
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(15),
        ..Recorder::default()
    });
    let cursor = Arc::new(MemoryCursor::default());
    let stream = d.stream(rpc, recorder.clone(), cursor.clone(), true);
    let status_handle = stream.status_handle();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(stream.run(stopped));
    // Wait until the stream is subscribed, then send the burst.
    let start = Instant::now();
    while status(&status_handle).mode != StreamMode::WebSocket {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.burst(8, 25).await;
    wait_for(&recorder, 40, Duration::from_secs(30)).await;
    proxy.cut();
    let cut_at = recorder.count();
    assert!(cut_at < 200, "the cut came in the middle ({cut_at})");
    wait_for(&recorder, 200, Duration::from_secs(60)).await;
    settled(&d.chain.devnet.rpc(), &cursor).await;
    assert_eq!(*recorder.seen.lock().expect("seen"), expected(8, 25));
    // And the stream is back on the WebSocket.
    let start = Instant::now();
    while status(&status_handle).mode != StreamMode::WebSocket {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never resubscribed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).expect("stop");
    task.await.expect("stream ends");
    d.chain.devnet.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn restarting_the_node_mid_burst_loses_and_repeats_nothing() {
    let mut d = deployed(true).await;
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(15),
        ..Recorder::default()
    });
    let (stop, stopped) = watch::channel(false);
    let cursor = Arc::new(MemoryCursor::default());
    let task = tokio::spawn(
        d.stream(d.chain.devnet.rpc(), recorder.clone(), cursor.clone(), true)
            .run(stopped),
    );
    d.burst(8, 25).await;
    wait_for(&recorder, 40, Duration::from_secs(30)).await;
    d.chain.devnet.restart().await.expect("the node comes back");
    assert!(recorder.count() < 200, "the restart came in the middle");
    wait_for(&recorder, 200, Duration::from_secs(60)).await;
    settled(&d.chain.devnet.rpc(), &cursor).await;
    assert_eq!(*recorder.seen.lock().expect("seen"), expected(8, 25));
    stop.send(true).expect("stop");
    task.await.expect("stream ends");
    d.chain.devnet.stop().await.expect("stops");
}
