//! A durable, ordered stream of contract notifications.
//!
//! Delivery is block by block, in block order, transaction order and emission order, through
//! one handler awaited for each event before the next. Only notifications of transactions that
//! ended in HALT are delivered (a FAULT reverts its notifications).
//!
//! The position after each delivered event is saved through [`CursorStore`] (each service keeps
//! it in its own database), so a restart neither skips nor repeats an event. A handler error
//! stops the stream at that event: it is retried with backoff, never skipped.
//!
//! New blocks are learned from a WebSocket subscription (`block_added`, with application logs
//! from `transaction_executed`); when the socket is down the stream polls `getblockcount`, and
//! whichever way it learns of a block it first fills every gap from its saved position with
//! `getblock` + `getapplicationlog`, so a reconnect never loses events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use neosl_neo::param::StackItem;
use neosl_neo::{UInt160, UInt256};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::rpc::{Block, Execution, RpcClient};
use crate::ws::{Subscription, WsEvent, WsSubscription, ws_url};

/// Errors returned by handlers and cursor stores.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the stream is: every event before (`next_block`, `next_event`) has been delivered.
/// `next_event` counts the notifications of HALT transactions in the block, filtered or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The block being processed (or the next one).
    pub next_block: u32,
    /// The index within that block of the next event to deliver.
    pub next_event: u32,
}

/// Durable storage of a stream's position.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The saved position, if any.
    async fn load(&self) -> Result<Option<StreamPosition>, BoxError>;
    /// Saves the position (called after each delivered event and each finished block).
    async fn save(&self, position: StreamPosition) -> Result<(), BoxError>;
}

/// Receives events, one at a time, in order.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Handles one event. An error makes the stream retry this same event later.
    async fn handle(&self, event: &ChainEvent) -> Result<(), BoxError>;
}

/// One contract notification with its position on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// Block height.
    pub block_index: u32,
    /// Block hash.
    pub block_hash: UInt256,
    /// Block time, milliseconds since the Unix epoch.
    pub block_time: u64,
    /// Index of the event within the block (see [`StreamPosition`]).
    pub event_index: u32,
    /// The transaction that emitted it.
    pub tx_hash: UInt256,
    /// Index of the notification within its transaction: with `tx_hash`, a unique key.
    pub notification_index: u32,
    /// The emitting contract.
    pub contract: UInt160,
    /// The event name.
    pub event_name: String,
    /// The event arguments.
    pub state: StackItem,
}

/// Which events to deliver. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only from these contracts.
    pub contracts: Vec<UInt160>,
    /// Only with these names.
    pub names: Vec<String>,
}

impl EventFilter {
    fn matches(&self, contract: &UInt160, name: &str) -> bool {
        (self.contracts.is_empty() || self.contracts.contains(contract))
            && (self.names.is_empty() || self.names.iter().any(|n| n == name))
    }
}

/// Settings of an [`EventStream`].
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The first block to read when no position is saved.
    pub start_block: u32,
    /// Use a WebSocket subscription when available.
    pub use_websocket: bool,
    /// How often to poll without a WebSocket (and the longest wait with one).
    pub poll_interval: Duration,
    /// How long to wait before trying the WebSocket again.
    pub reconnect_interval: Duration,
    /// Longest backoff between retries of a failing handler or RPC call.
    pub max_backoff: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            start_block: 0,
            use_websocket: true,
            poll_interval: Duration::from_secs(1),
            reconnect_interval: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// How the stream currently learns of new blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Not started.
    Idle,
    /// Through the WebSocket subscription.
    WebSocket,
    /// By polling (the WebSocket is off or down).
    Polling,
}

/// What the stream is doing, for health endpoints and tests.
#[derive(Debug, Clone)]
pub struct StreamStatus {
    /// How blocks are learned.
    pub mode: StreamMode,
    /// The saved position.
    pub position: Option<StreamPosition>,
    /// Events delivered since start.
    pub delivered: u64,
    /// Blocks that arrived through the WebSocket payload since start.
    pub blocks_from_websocket: u64,
    /// The last error (handler, cursor or RPC), if the stream is retrying.
    pub last_error: Option<String>,
}

/// A durable event stream. Create with [`EventStream::new`], run with [`EventStream::run`].
pub struct EventStream {
    rpc: RpcClient,
    filter: EventFilter,
    cursor: Arc<dyn CursorStore>,
    handler: Arc<dyn EventHandler>,
    config: StreamConfig,
    status: Arc<Mutex<StreamStatus>>,
}

enum Stop {
    Shutdown,
    Retry(String),
}

impl EventStream {
    /// A stream over `rpc` delivering matching events to `handler`.
    pub fn new(
        rpc: RpcClient,
        filter: EventFilter,
        cursor: Arc<dyn CursorStore>,
        handler: Arc<dyn EventHandler>,
        config: StreamConfig,
    ) -> Self {
        let status = StreamStatus {
            mode: StreamMode::Idle,
            position: None,
            delivered: 0,
            blocks_from_websocket: 0,
            last_error: None,
        };
        Self {
            rpc,
            filter,
            cursor,
            handler,
            config,
            status: Arc::new(Mutex::new(status)),
        }
    }

    /// A handle to read the stream's status while it runs.
    pub fn status_handle(&self) -> Arc<Mutex<StreamStatus>> {
        self.status.clone()
    }

    fn update(&self, f: impl FnOnce(&mut StreamStatus)) {
        if let Ok(mut status) = self.status.lock() {
            f(&mut status);
        }
    }

    /// Runs until `shutdown` becomes true (or its sender is dropped).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut position = loop {
            match self.cursor.load().await {
                Ok(p) => {
                    break p.unwrap_or(StreamPosition {
                        next_block: self.config.start_block,
                        next_event: 0,
                    });
                }
                Err(e) => {
                    self.update(|s| s.last_error = Some(format!("cursor: {e}")));
                    if sleep_or_shutdown(self.config.max_backoff, &mut shutdown).await {
                        return;
                    }
                }
            }
        };
        self.update(|s| s.position = Some(position));
        let mut ws: Option<WsSubscription> = None;
        let mut next_ws_attempt = Instant::now();
        let mut cache: HashMap<UInt256, Execution> = HashMap::new();
        let mut backoff = Duration::from_millis(100);
        // Catch up by RPC at start, after every reconnect or gap, and on every poll; while the
        // WebSocket delivers consecutive blocks, each is processed from its payload.
        let mut need_catch_up = true;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if self.config.use_websocket && ws.is_none() && Instant::now() >= next_ws_attempt {
                let url = ws_url(self.rpc.current_endpoint());
                match WsSubscription::connect(
                    &url,
                    &[Subscription::BlockAdded, Subscription::TransactionExecuted],
                )
                .await
                {
                    Ok(sub) => {
                        tracing::info!(url, "event stream subscribed over WebSocket");
                        ws = Some(sub);
                        need_catch_up = true;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "WebSocket unavailable; polling");
                        next_ws_attempt = Instant::now() + self.config.reconnect_interval;
                    }
                }
            }
            let mode = if ws.is_some() {
                StreamMode::WebSocket
            } else {
                StreamMode::Polling
            };
            self.update(|s| s.mode = mode);

            if need_catch_up || ws.is_none() {
                match self
                    .catch_up(&mut position, &mut cache, &mut shutdown)
                    .await
                {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        need_catch_up = false;
                    }
                    Err(Stop::Shutdown) => return,
                    Err(Stop::Retry(e)) => {
                        tracing::warn!(error = %e, "event stream retrying");
                        self.update(|s| s.last_error = Some(e));
                        if sleep_or_shutdown(backoff, &mut shutdown).await {
                            return;
                        }
                        backoff = (backoff * 2).min(self.config.max_backoff);
                        continue;
                    }
                }
            }

            // Wait for the next block.
            let Some(sub) = ws.as_mut() else {
                if sleep_or_shutdown(self.config.poll_interval, &mut shutdown).await {
                    return;
                }
                continue;
            };
            tokio::select! {
                event = sub.next() => match event {
                    None => {
                        tracing::warn!("WebSocket closed; polling until it reconnects");
                        ws = None;
                        next_ws_attempt = Instant::now() + self.config.reconnect_interval;
                    }
                    Some(WsEvent::TransactionExecuted(t)) if t.execution.trigger == "Application" => {
                        if cache.len() > 10_000 {
                            cache.clear();
                        }
                        cache.insert(t.container, t.execution);
                    }
                    Some(WsEvent::BlockAdded(block)) if block.index == position.next_block => {
                        self.update(|s| s.blocks_from_websocket += 1);
                        match self.process_block(block, &mut position, &mut cache, &mut shutdown).await {
                            Ok(()) => {}
                            Err(Stop::Shutdown) => return,
                            Err(Stop::Retry(e)) => {
                                self.update(|s| s.last_error = Some(e));
                                need_catch_up = true;
                            }
                        }
                    }
                    // A gap (or a missed event): fill it by RPC.
                    Some(WsEvent::BlockAdded(block)) if block.index > position.next_block => need_catch_up = true,
                    Some(WsEvent::Missed) => need_catch_up = true,
                    Some(_) => {}
                },
                _ = tokio::time::sleep(self.config.poll_interval * 5) => need_catch_up = true,
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn catch_up(
        &self,
        position: &mut StreamPosition,
        cache: &mut HashMap<UInt256, Execution>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        let count = self
            .rpc
            .get_block_count()
            .await
            .map_err(|e| Stop::Retry(e.to_string()))?;
        while position.next_block < count {
            let block = self
                .rpc
                .get_block(position.next_block)
                .await
                .map_err(|e| Stop::Retry(e.to_string()))?;
            self.process_block(block, position, cache, shutdown).await?;
        }
        Ok(())
    }

    async fn process_block(
        &self,
        block: Block,
        position: &mut StreamPosition,
        cache: &mut HashMap<UInt256, Execution>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        debug_assert_eq!(block.index, position.next_block);
        let mut event_index: u32 = 0;
        for tx in &block.tx {
            let execution = match cache.remove(&tx.hash) {
                Some(e) => e,
                None => self.application_execution(&tx.hash).await?,
            };
            if !execution.halted() {
                continue;
            }
            for (notification_index, n) in execution.notifications.iter().enumerate() {
                let this = event_index;
                event_index += 1;
                if this < position.next_event || !self.filter.matches(&n.contract, &n.eventname) {
                    continue;
                }
                if *shutdown.borrow() {
                    return Err(Stop::Shutdown);
                }
                let event = ChainEvent {
                    block_index: block.index,
                    block_hash: block.hash,
                    block_time: block.time,
                    event_index: this,
                    tx_hash: tx.hash,
                    notification_index: notification_index as u32,
                    contract: n.contract,
                    event_name: n.eventname.clone(),
                    state: n.state.clone(),
                };
                self.deliver(&event, shutdown).await?;
                *position = StreamPosition {
                    next_block: block.index,
                    next_event: this + 1,
                };
                self.save(*position, shutdown).await?;
                self.update(|s| s.delivered += 1);
            }
        }
        *position = StreamPosition {
            next_block: block.index + 1,
            next_event: 0,
        };
        self.save(*position, shutdown).await
    }

    async fn application_execution(&self, hash: &UInt256) -> Result<Execution, Stop> {
        let log = self
            .rpc
            .get_application_log(hash)
            .await
            .map_err(|e| Stop::Retry(e.to_string()))?;
        log.executions
            .into_iter()
            .find(|e| e.trigger == "Application")
            .ok_or_else(|| Stop::Retry(format!("no Application execution for {hash}")))
    }

    async fn deliver(
        &self,
        event: &ChainEvent,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.handler.handle(event).await {
                Ok(()) => {
                    self.update(|s| s.last_error = None);
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(block = event.block_index, tx = %event.tx_hash, error = %e, "event handler failed; retrying the same event");
                    self.update(|s| s.last_error = Some(format!("handler: {e}")));
                    if sleep_or_shutdown(backoff, shutdown).await {
                        return Err(Stop::Shutdown);
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    async fn save(
        &self,
        position: StreamPosition,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.cursor.save(position).await {
                Ok(()) => {
                    self.update(|s| s.position = Some(position));
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "saving the stream position failed; retrying");
                    self.update(|s| s.last_error = Some(format!("cursor: {e}")));
                    if sleep_or_shutdown(backoff, shutdown).await {
                        return Err(Stop::Shutdown);
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }
}

/// Sleeps; returns true if shutdown was requested meanwhile.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *shutdown.borrow(),
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
    }
}

/// A cursor kept in memory (tests, throwaway streams).
#[derive(Debug, Default)]
pub struct MemoryCursor(Mutex<Option<StreamPosition>>);

#[async_trait]
impl CursorStore for MemoryCursor {
    async fn load(&self) -> Result<Option<StreamPosition>, BoxError> {
        Ok(*self.0.lock().map_err(|_| "cursor lock poisoned")?)
    }
    async fn save(&self, position: StreamPosition) -> Result<(), BoxError> {
        *self.0.lock().map_err(|_| "cursor lock poisoned")? = Some(position);
        Ok(())
    }
}

/// A cursor kept in a JSON file, replaced atomically (write, sync, rename).
#[derive(Debug)]
pub struct FileCursor {
    path: PathBuf,
}

impl FileCursor {
    /// A cursor stored at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl CursorStore for FileCursor {
    async fn load(&self) -> Result<Option<StreamPosition>, BoxError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn save(&self, position: StreamPosition) -> Result<(), BoxError> {
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec(&position)?;
        let file = tokio::fs::File::create(&tmp).await?;
        {
            use tokio::io::AsyncWriteExt;
            let mut file = file;
            file.write_all(&bytes).await?;
            file.sync_all().await?;
        }
        tokio::fs::rename(&tmp, &self.path).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_cursor_round_trips_and_starts_empty() {
        let dir = std::env::temp_dir().join(format!("neosl-cursor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cursor = FileCursor::new(dir.join("cursor.json"));
        assert_eq!(cursor.load().await.expect("load"), None);
        let p = StreamPosition {
            next_block: 7,
            next_event: 3,
        };
        cursor.save(p).await.expect("save");
        assert_eq!(cursor.load().await.expect("load"), Some(p));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn filter_matching() {
        let gas = neosl_neo::native::GAS;
        let f = EventFilter {
            contracts: vec![gas],
            names: vec!["Transfer".into()],
        };
        assert!(f.matches(&gas, "Transfer"));
        assert!(!f.matches(&gas, "Other"));
        assert!(!f.matches(&neosl_neo::native::NEO, "Transfer"));
        assert!(EventFilter::default().matches(&gas, "Anything"));
    }
}
