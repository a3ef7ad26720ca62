//! Following the gateway and the service contracts: each event changes the store in the same
//! database transaction that saves the stream's position, so no event is lost or applied twice.

use std::collections::HashMap;

use async_trait::async_trait;
use neosl_chain::events::{BoxError, ChainEvent, EventHandler};
use neosl_chainwork::DbCursor;
use neosl_gasbank::GasBank;
use neosl_neo::UInt160;
use neosl_neo::param::StackItem;
use sqlx::{Any, Transaction};

use crate::store::{Announced, Status, Store};

/// The gateway's events the worker follows.
pub const GATEWAY_EVENTS: [&str; 3] = ["ServiceRequest", "RequestFulfilled", "RequestExpired"];

/// The fee reservation of a request.
pub fn fee_reference(gateway: &str, request_id: u64) -> String {
    format!("onchain:{gateway}:{request_id}")
}

/// Makes a request final with the chain's word and settles its fee in `tx`: charged when it
/// was fulfilled (whatever its callback did), released when it expired.
pub async fn settle_in(
    tx: &mut Transaction<'_, Any>,
    store: &Store,
    bank: &GasBank,
    request_id: u64,
    status: Status,
    reason: Option<&str>,
    fulfil_tx: Option<&str>,
) -> Result<(), sqlx::Error> {
    let reference = fee_reference(store.gateway(), request_id);
    let fee = store.get_in(tx, request_id).await?.and_then(|r| r.fee);
    store
        .finish_in(tx, request_id, status, reason, fulfil_tx)
        .await?;
    let charge = match status {
        Status::Fulfilled | Status::CallbackFailed => Some(fee.unwrap_or(0)),
        _ => None,
    };
    match bank.settle_in(tx, &reference, charge).await {
        Ok(_)
        | Err(neosl_gasbank::GasBankError::UnknownReservation(_))
        | Err(neosl_gasbank::GasBankError::ReservationSettled { .. }) => Ok(()),
        Err(e) => Err(sqlx::Error::Protocol(e.to_string())),
    }
}

/// The stream's handler.
pub struct Watcher {
    store: Store,
    bank: GasBank,
    cursor: DbCursor,
    gateway: UInt160,
    /// Service contract → the event it emits per request.
    service_events: HashMap<UInt160, String>,
}

impl Watcher {
    /// A watcher of `gateway` and the service contracts' request events.
    pub fn new(
        store: Store,
        bank: GasBank,
        cursor: DbCursor,
        gateway: UInt160,
        service_events: HashMap<UInt160, String>,
    ) -> Self {
        Self {
            store,
            bank,
            cursor,
            gateway,
            service_events,
        }
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Any>,
        event: &ChainEvent,
    ) -> Result<(), BoxError> {
        let state = event.state.as_array().unwrap_or(&[]);
        let int = |i: usize| -> Option<i64> {
            state
                .get(i)
                .and_then(StackItem::as_integer)
                .and_then(|n| i64::try_from(n).ok())
        };
        let id = int(0).and_then(|n| u64::try_from(n).ok());
        if event.contract == self.gateway {
            let Some(id) = id else {
                return Ok(());
            };
            match event.event_name.as_str() {
                "ServiceRequest" if state.len() == 6 => {
                    let requester = state[1]
                        .as_bytes()
                        .and_then(|b| UInt160::from_le_slice(&b).ok())
                        .ok_or("ServiceRequest: requester")?;
                    let announced = Announced {
                        request_id: id,
                        service_id: state[2].as_string().ok_or("ServiceRequest: service")?,
                        requester: requester.to_string(),
                        payload: hex::encode(state[3].as_bytes().unwrap_or_default()),
                        callback: state[4].as_string().unwrap_or_default(),
                        deadline: int(5).ok_or("ServiceRequest: deadline")?,
                        request_tx: event.tx_hash.to_string(),
                        block_index: event.block_index,
                    };
                    self.store.insert_in(tx, &announced).await?;
                }
                "RequestFulfilled" if state.len() == 4 => {
                    let status = match int(2) {
                        Some(2) => Status::CallbackFailed,
                        _ => Status::Fulfilled,
                    };
                    let reason = state[3].as_string().filter(|r| !r.is_empty());
                    settle_in(
                        tx,
                        &self.store,
                        &self.bank,
                        id,
                        status,
                        reason.as_deref(),
                        Some(&event.tx_hash.to_string()),
                    )
                    .await?;
                }
                "RequestExpired" => {
                    settle_in(
                        tx,
                        &self.store,
                        &self.bank,
                        id,
                        Status::Expired,
                        Some("expired on chain"),
                        None,
                    )
                    .await?;
                }
                _ => {}
            }
        } else if self
            .service_events
            .get(&event.contract)
            .is_some_and(|name| *name == event.event_name)
            && let Some(id) = id
        {
            self.store
                .attach_event_in(tx, id, &event.state.to_json())
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for Watcher {
    async fn handle(&self, event: &ChainEvent) -> Result<(), BoxError> {
        let mut tx = self.store.database().pool().begin().await?;
        self.apply(&mut tx, event).await?;
        self.cursor.save_in(&mut tx, DbCursor::after(event)).await?;
        tx.commit().await?;
        Ok(())
    }
}
