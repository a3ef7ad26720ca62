//! Building, signing, sending and awaiting transactions.
//!
//! From a script and its signers: the system fee comes from a test invocation (plus a
//! configurable margin; a FAULT stops here), the network fee from `calculatenetworkfee`, the
//! valid-until-block from the current height, the nonce from the OS CSPRNG. Signing goes
//! through [`TxSigner`], so a remote signer works the same as a local key. Sending the same
//! signed transaction again is safe: "already exists" and "already in pool" count as sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use neosl_neo::UInt256;
use neosl_neo::param::StackItem;
use neosl_neo::tx::{Signer, Transaction, TransactionAttribute, Witness};

use crate::rpc::{Notification, RpcClient};
use crate::signer::TxSigner;
use crate::{ChainError, Result, RpcErrorKind};

/// Fee and timing settings of a [`Submitter`].
#[derive(Debug, Clone)]
pub struct SubmitConfig {
    /// Added to the test invocation's GAS, in percent.
    pub system_fee_margin_percent: u32,
    /// Added to the test invocation's GAS, in 10⁻⁸ GAS.
    pub system_fee_margin_fixed: i64,
    /// Blocks from the current height to valid-until-block (capped by the protocol's maximum).
    pub valid_for_blocks: u32,
    /// How often to look for inclusion.
    pub poll_interval: Duration,
}

impl Default for SubmitConfig {
    fn default() -> Self {
        Self {
            system_fee_margin_percent: 10,
            system_fee_margin_fixed: 0,
            valid_for_blocks: 240,
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// One signer of a transaction and who produces its witness.
#[derive(Clone)]
pub struct SignerEntry {
    /// The signer (account and scope).
    pub signer: Signer,
    /// Who signs for it.
    pub key: Arc<dyn TxSigner>,
}

impl SignerEntry {
    /// A `CalledByEntry` signer for `key`'s account.
    pub fn called_by_entry(key: Arc<dyn TxSigner>) -> Self {
        Self {
            signer: Signer::called_by_entry(key.account()),
            key,
        }
    }
}

/// What happened to an included transaction.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    /// The transaction.
    pub hash: UInt256,
    /// `HALT` or `FAULT`.
    pub vm_state: String,
    /// GAS consumed by the script, in 10⁻⁸.
    pub gas_consumed: i64,
    /// The exception of a FAULT.
    pub exception: Option<String>,
    /// The result stack.
    pub stack: Vec<StackItem>,
    /// Notifications, in emission order.
    pub notifications: Vec<Notification>,
}

impl TxOutcome {
    /// Whether the script ended in HALT.
    pub fn halted(&self) -> bool {
        self.vm_state.contains("HALT")
    }
}

/// Builds and submits transactions on one network.
#[derive(Clone)]
pub struct Submitter {
    rpc: RpcClient,
    network: u32,
    max_valid_increment: u32,
    config: SubmitConfig,
}

impl Submitter {
    /// Reads the network magic and limits from the node.
    pub async fn connect(rpc: RpcClient, config: SubmitConfig) -> Result<Self> {
        let version = rpc.get_version().await?;
        Ok(Self {
            rpc,
            network: version.protocol.network,
            max_valid_increment: version.protocol.maxvaliduntilblockincrement,
            config,
        })
    }

    /// The network magic.
    pub fn network(&self) -> u32 {
        self.network
    }

    /// The RPC client.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Builds and signs a transaction running `script` with `signers` (the first pays).
    pub async fn build(
        &self,
        script: Vec<u8>,
        signers: &[SignerEntry],
        attributes: Vec<TransactionAttribute>,
    ) -> Result<Transaction> {
        let tx_signers: Vec<Signer> = signers.iter().map(|s| s.signer.clone()).collect();
        for entry in signers {
            if entry.signer.account != entry.key.account() {
                return Err(ChainError::Signer(format!(
                    "signer {} is not the account of its key ({})",
                    entry.signer.account,
                    entry.key.account()
                )));
            }
        }
        let invocation = self.rpc.invoke_script(&script, &tx_signers).await?;
        if !invocation.halted() {
            return Err(ChainError::InvocationFault {
                exception: invocation
                    .exception
                    .unwrap_or_else(|| "no exception message".into()),
            });
        }
        let margin = invocation
            .gasconsumed
            .saturating_mul(self.config.system_fee_margin_percent as i64)
            / 100;
        let system_fee = invocation
            .gasconsumed
            .saturating_add(margin)
            .saturating_add(self.config.system_fee_margin_fixed);
        let height = self.rpc.get_block_count().await?.saturating_sub(1);
        let increment = self
            .config
            .valid_for_blocks
            .clamp(1, self.max_valid_increment.max(1));
        let mut tx = Transaction {
            nonce: u32::from_le_bytes(neosl_crypto::random_array()),
            system_fee,
            network_fee: 0,
            valid_until_block: height.saturating_add(increment),
            signers: tx_signers,
            attributes,
            script,
            witnesses: signers
                .iter()
                .map(|s| Witness {
                    invocation: vec![],
                    verification: s.key.verification_script(),
                })
                .collect(),
        };
        tx.network_fee = self.rpc.calculate_network_fee(&tx).await?;
        let hash = tx.hash()?;
        let mut witnesses = Vec::with_capacity(signers.len());
        for entry in signers {
            witnesses.push(entry.key.sign(self.network, &hash).await?);
        }
        tx.witnesses = witnesses;
        Ok(tx)
    }

    /// Sends a signed transaction. Already known to the node counts as sent, so calling this
    /// again after a transient error is safe.
    pub async fn send(&self, tx: &Transaction) -> Result<UInt256> {
        let hash = tx.hash()?;
        match self.rpc.send_raw_transaction(tx).await {
            Ok(sent) => Ok(sent),
            Err(e)
                if matches!(
                    e.rpc_kind(),
                    Some(RpcErrorKind::AlreadyExists | RpcErrorKind::AlreadyInPool)
                ) =>
            {
                Ok(hash)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends, re-sending after transient errors (the same bytes, so at most one inclusion),
    /// until `deadline`.
    pub async fn send_with_retry(&self, tx: &Transaction, deadline: Duration) -> Result<UInt256> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            match self.send(tx).await {
                Err(e) if e.is_transient() && start.elapsed() + delay < deadline => {
                    tracing::warn!(error = %e, "sending failed; sending the same transaction again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
                other => return other,
            }
        }
    }

    /// Waits until `tx` is in a block and returns its outcome. Fails with
    /// [`ChainError::Expired`] once the chain passes its valid-until-block without it, and with
    /// [`ChainError::NotIncluded`] after `timeout`.
    pub async fn wait(&self, tx: &Transaction, timeout: Duration) -> Result<TxOutcome> {
        let hash = tx.hash()?;
        let start = Instant::now();
        loop {
            match self.rpc.get_application_log(&hash).await {
                Ok(log) => {
                    let execution = log
                        .executions
                        .into_iter()
                        .find(|e| e.trigger == "Application")
                        .ok_or_else(|| ChainError::Decode {
                            method: "getapplicationlog".into(),
                            reason: "no Application execution".into(),
                        })?;
                    return Ok(TxOutcome {
                        hash,
                        vm_state: execution.vmstate,
                        gas_consumed: execution.gasconsumed,
                        exception: execution.exception,
                        stack: execution.stack,
                        notifications: execution.notifications,
                    });
                }
                Err(e) if e.is_not_found() || e.is_transient() => {
                    if !e.is_transient() {
                        let height = self.rpc.get_block_count().await?.saturating_sub(1);
                        if height > tx.valid_until_block {
                            return Err(ChainError::Expired {
                                hash,
                                valid_until_block: tx.valid_until_block,
                            });
                        }
                    }
                }
                Err(e) => return Err(e),
            }
            if start.elapsed() >= timeout {
                return Err(ChainError::NotIncluded {
                    hash,
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Builds, signs, sends and waits.
    pub async fn submit_and_wait(
        &self,
        script: Vec<u8>,
        signers: &[SignerEntry],
        timeout: Duration,
    ) -> Result<TxOutcome> {
        let tx = self.build(script, signers, vec![]).await?;
        self.send_with_retry(&tx, timeout).await?;
        self.wait(&tx, timeout).await
    }
}
