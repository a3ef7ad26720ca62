//! Pushes: calls a service wants made on its own contract (DataFeeds' `updatePrices`), asked
//! for each round and sent from the fulfilment account, which the service contracts accept as
//! a TEE account of the gateway.
//!
//! A push is planned under a named lock after checking that none of its references is already
//! on its way, so replicas that ask at the same moment send it once; it is test-invoked first
//! and planned only within what the fulfilment account can pay.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use neosl_api::onchain::{PushAnswer, PushCall, PushRequest};
use neosl_chain::submit::SignerEntry;
use neosl_chainwork::{Built, Outcome, WorkError, WorkItem, WorkKind};
use neosl_neo::UInt160;
use neosl_neo::tx::Signer;
use neosl_runtime::service::Chain;
use serde::{Deserialize, Serialize};
use sqlx::Any;

use crate::worker::{FulfilmentAccount, NETWORK_FEE_PER_BATCH, Served, Worker};

/// The outbox kind of a push.
pub const PUSH: &str = "onchain.push";

/// One push, as the outbox item carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Push {
    pub(crate) service_id: String,
    pub(crate) contract: String,
    pub(crate) calls: Vec<PushCall>,
    /// What its transaction may cost the fulfilment account, 10⁻⁸ GAS.
    pub(crate) gas: i64,
}

/// The script that makes every call on `contract`.
pub fn push_script(contract: &UInt160, calls: &[PushCall]) -> Result<Vec<u8>> {
    let mut sb = neosl_neo::script::ScriptBuilder::new();
    for call in calls {
        let args = call
            .args
            .iter()
            .map(neosl_neo::param::ContractParameter::from_json)
            .collect::<neosl_neo::Result<Vec<_>>>()?;
        neosl_neo::contract::call(
            &mut sb,
            contract,
            &call.method,
            neosl_neo::contract::CallFlags::ALL,
            &args,
        )?;
    }
    Ok(sb.into_bytes())
}

fn references(push: &Push) -> impl Iterator<Item = &String> {
    push.calls.iter().flat_map(|c| c.references.iter())
}

impl Worker {
    /// The pushes on their way for `service_id`, read in `tx`.
    async fn pushes_in_flight_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        service_id: &str,
    ) -> Result<Vec<Push>> {
        Ok(self
            .outbox
            .open_items_of_in(tx, PUSH)
            .await?
            .iter()
            .filter_map(|item| serde_json::from_value::<Push>(item.payload.clone()).ok())
            .filter(|p| p.service_id == service_id)
            .collect())
    }

    /// Asks every pushing service for its calls and plans them; answers how many pushes.
    pub(crate) async fn push_all(&self, account: &FulfilmentAccount) -> Result<usize> {
        let mut planned = 0;
        for served in self.served.values() {
            let Some(path) = served.on_chain.push_path else {
                continue;
            };
            match self.push(account, served, path).await {
                Ok(true) => planned += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(service = served.on_chain.service_id, error = %format!("{e:#}"), "a push failed; asked again next round");
                }
            }
        }
        Ok(planned)
    }

    async fn push(&self, account: &FulfilmentAccount, served: &Served, path: &str) -> Result<bool> {
        let service_id = served.on_chain.service_id;
        let in_flight: Vec<String> = {
            let mut tx = self.store.database().pool().begin().await?;
            let pushes = self.pushes_in_flight_in(&mut tx, service_id).await?;
            tx.commit().await?;
            pushes.iter().flat_map(references).cloned().collect()
        };
        let request = PushRequest {
            network: self.chain.submitter.network(),
            gateway: self.gateway.to_string(),
            contract: served.contract.to_string(),
            in_flight,
        };
        let answer: PushAnswer = served
            .transport
            .call(neosl_api::Method::POST, path, Some(&request))
            .await
            .with_context(|| format!("asking {service_id} what to push"))?;
        if answer.calls.is_empty() {
            return Ok(false);
        }
        let script = push_script(&served.contract, &answer.calls)?;
        let tested = self
            .chain
            .rpc
            .invoke_script(&script, &[Signer::called_by_entry(account.account())])
            .await?;
        if !tested.halted() {
            anyhow::bail!(
                "the push would fault: {}",
                tested.exception.unwrap_or_default()
            );
        }
        let gas = tested.gasconsumed + NETWORK_FEE_PER_BATCH;
        if gas > self.spendable(account).await? {
            self.top_up(account, gas).await?;
            return Ok(false);
        }
        let push = Push {
            service_id: service_id.to_owned(),
            contract: served.contract.to_string(),
            calls: answer.calls,
            gas,
        };
        let mut tx = self.store.database().pool().begin().await?;
        neosl_runtime::db::lock_named(
            &mut tx,
            self.store.database().backend(),
            &format!("onchain-push:{service_id}"),
        )
        .await?;
        // Another replica may have planned the same calls since we asked.
        let taken: std::collections::BTreeSet<String> = self
            .pushes_in_flight_in(&mut tx, service_id)
            .await?
            .iter()
            .flat_map(references)
            .cloned()
            .collect();
        if references(&push).any(|r| taken.contains(r)) {
            return Ok(false);
        }
        let reference = uuid::Uuid::new_v4().to_string();
        self.outbox
            .plan_in(&mut tx, PUSH, &reference, &serde_json::to_value(&push)?)
            .await?;
        tx.commit().await?;
        tracing::info!(service = service_id, push = %reference, references = ?references(&push).collect::<Vec<_>>(), "push planned");
        Ok(true)
    }

    /// The outbox kind that sends this worker's pushes.
    pub fn push_kind(self: &Arc<Self>) -> Arc<dyn WorkKind> {
        Arc::new(PushKind {
            worker: self.clone(),
        })
    }
}

/// Sends pushes from the fulfilment account.
struct PushKind {
    worker: Arc<Worker>,
}

#[async_trait]
impl WorkKind for PushKind {
    fn kind(&self) -> &'static str {
        PUSH
    }

    fn max_attempts(&self) -> i64 {
        3
    }

    async fn build(&self, item: &WorkItem, chain: &Chain) -> std::result::Result<Built, WorkError> {
        let push: Push = serde_json::from_value(item.payload.clone())
            .map_err(|e| WorkError::Permanent(format!("unreadable push: {e}")))?;
        let contract = UInt160::parse_display(&push.contract)
            .map_err(|e| WorkError::Permanent(e.to_string()))?;
        let script = push_script(&contract, &push.calls)
            .map_err(|e| WorkError::Permanent(format!("{e:#}")))?;
        let account = self
            .worker
            .fulfilment_account()
            .await
            .map_err(|e| WorkError::Transient(format!("{e:#}")))?;
        let signers = [SignerEntry::called_by_entry(account.signer.clone())];
        let transaction = chain.submitter.build(script, &signers, vec![]).await?;
        Ok(Built { transaction })
    }

    async fn settle(
        &self,
        _tx: &mut sqlx::Transaction<'_, Any>,
        item: &WorkItem,
        outcome: &Outcome,
    ) -> std::result::Result<(), sqlx::Error> {
        // The service reads what its contract holds from the chain; nothing to record here
        // beyond the item's own final state.
        match outcome {
            Outcome::Confirmed { tx_hash, .. } => {
                tracing::info!(push = %item.reference, tx = %tx_hash, "push confirmed");
            }
            other => {
                tracing::warn!(push = %item.reference, outcome = ?other, "a push did not land; the service offers it again");
            }
        }
        Ok(())
    }
}
