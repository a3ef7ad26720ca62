//! WebSocket subscriptions of a Neo node (`ws://host:port/ws`).
//!
//! [`WsSubscription::connect`] opens the socket, subscribes to each requested stream and waits
//! for every acknowledgement (events are not replayed, so nothing is reported as subscribed
//! before the node says so). Events then arrive on [`WsSubscription::next`] in the order the node
//! sent them; `None` means the connection is gone.

use futures_util::{SinkExt, StreamExt};
use neosl_neo::{UInt160, UInt256};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::rpc::{Block, Execution, Notification};
use crate::{ChainError, Result};

/// A stream to subscribe to, with its node-side filter.
#[derive(Debug, Clone)]
pub enum Subscription {
    /// Every new block.
    BlockAdded,
    /// Every executed transaction (its application log).
    TransactionExecuted,
    /// Notifications, optionally only from one contract and with one name.
    Notifications {
        /// Only this contract.
        contract: Option<UInt160>,
        /// Only this event name.
        name: Option<String>,
    },
}

impl Subscription {
    fn params(&self) -> Value {
        match self {
            Self::BlockAdded => json!(["block_added"]),
            Self::TransactionExecuted => json!(["transaction_executed"]),
            Self::Notifications { contract, name } => {
                let mut filter = serde_json::Map::new();
                if let Some(c) = contract {
                    filter.insert("contract".into(), json!(c.to_string()));
                }
                if let Some(n) = name {
                    filter.insert("name".into(), json!(n));
                }
                if filter.is_empty() {
                    json!(["notification_from_execution"])
                } else {
                    json!(["notification_from_execution", filter])
                }
            }
        }
    }
}

/// The application log of an executed transaction, as `transaction_executed` sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutedTransaction {
    /// The transaction.
    pub container: UInt256,
    /// The execution.
    #[serde(flatten)]
    pub execution: Execution,
}

/// A notification with the transaction that emitted it.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainedNotification {
    /// The transaction (or block) that emitted it.
    pub container: UInt256,
    /// The notification.
    #[serde(flatten)]
    pub notification: Notification,
}

/// One event from the node.
#[derive(Debug, Clone)]
pub enum WsEvent {
    /// A block was added.
    BlockAdded(Block),
    /// A transaction was executed.
    TransactionExecuted(ExecutedTransaction),
    /// A contract emitted a notification.
    Notification(ContainedNotification),
    /// The node dropped events for this client (it was too slow).
    Missed,
}

/// An open WebSocket with acknowledged subscriptions.
#[derive(Debug)]
pub struct WsSubscription {
    events: mpsc::Receiver<WsEvent>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for WsSubscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The WebSocket address of a node's HTTP RPC address.
pub fn ws_url(rpc_url: &str) -> String {
    let base = rpc_url.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .unwrap_or_else(|| {
            base.strip_prefix("http://")
                .map(|r| format!("ws://{r}"))
                .unwrap_or_else(|| base.to_owned())
        });
    format!("{base}/ws")
}

impl WsSubscription {
    /// Connects to `url` and subscribes to every stream in `subscriptions`.
    pub async fn connect(url: &str, subscriptions: &[Subscription]) -> Result<Self> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ChainError::Unavailable(format!("WebSocket {url}: {e}")))?;
        let (mut sink, mut stream) = socket.split();
        let mut early = Vec::new();
        for (i, sub) in subscriptions.iter().enumerate() {
            let id = i as u64 + 1;
            let request = json!({ "jsonrpc": "2.0", "id": id, "method": "subscribe", "params": sub.params() });
            sink.send(Message::text(request.to_string()))
                .await
                .map_err(|e| ChainError::Unavailable(format!("WebSocket send: {e}")))?;
            loop {
                let message = stream
                    .next()
                    .await
                    .ok_or_else(|| {
                        ChainError::Unavailable("WebSocket closed while subscribing".into())
                    })?
                    .map_err(|e| ChainError::Unavailable(format!("WebSocket read: {e}")))?;
                let Some(value) = parse_message(&message) else {
                    continue;
                };
                if value.get("id").and_then(Value::as_u64) == Some(id) {
                    if let Some(error) = value.get("error") {
                        return Err(ChainError::Decode {
                            method: "subscribe".into(),
                            reason: error.to_string(),
                        });
                    }
                    break;
                }
                if let Some(event) = parse_event(&value) {
                    early.push(event);
                }
            }
        }
        let (tx, events) = mpsc::channel(4096);
        let reader = tokio::spawn(async move {
            for event in early {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            // Keep the sink alive so the connection stays open; tungstenite answers pings itself.
            let _sink = sink;
            while let Some(Ok(message)) = stream.next().await {
                if message.is_close() {
                    break;
                }
                if let Some(event) = parse_message(&message).as_ref().and_then(parse_event)
                    && tx.send(event).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(Self { events, reader })
    }

    /// The next event; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<WsEvent> {
        self.events.recv().await
    }
}

fn parse_message(message: &Message) -> Option<Value> {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

fn parse_event(value: &Value) -> Option<WsEvent> {
    let method = value.get("method")?.as_str()?;
    let payload = value.get("params")?.get(0).cloned().unwrap_or(Value::Null);
    let parsed = match method {
        "block_added" => serde_json::from_value(payload).map(WsEvent::BlockAdded),
        "transaction_executed" => serde_json::from_value(payload).map(WsEvent::TransactionExecuted),
        "notification_from_execution" => serde_json::from_value(payload).map(WsEvent::Notification),
        "event_missed" => return Some(WsEvent::Missed),
        _ => return None,
    };
    match parsed {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::warn!(method, error = %e, "undecodable WebSocket event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_follows_the_rpc_url() {
        assert_eq!(ws_url("http://127.0.0.1:20332"), "ws://127.0.0.1:20332/ws");
        assert_eq!(ws_url("http://127.0.0.1:20332/"), "ws://127.0.0.1:20332/ws");
        assert_eq!(
            ws_url("https://node.example:443"),
            "wss://node.example:443/ws"
        );
    }

    #[test]
    fn events_decode() {
        let value = json!({"jsonrpc": "2.0", "method": "notification_from_execution", "params": [{
            "container": "0x6e3b2c33fd2b9b2b4e0a5a7a8d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796",
            "contract": "0xd2a4cff31913016155e38e474a2c06d08be276cf",
            "eventname": "Transfer",
            "state": {"type": "Array", "value": [{"type": "Any"}]}
        }]});
        match parse_event(&value) {
            Some(WsEvent::Notification(n)) => assert_eq!(n.notification.eventname, "Transfer"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse_event(&json!({"method": "event_missed", "params": []})).is_some());
        assert!(parse_event(&json!({"id": 1, "result": "abc"})).is_none());
    }
}
