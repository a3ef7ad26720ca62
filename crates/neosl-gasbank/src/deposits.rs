//! Deposits from the chain.
//!
//! Each user has their own deposit address: the single-signature account of a key derived from
//! the GasBank master secret and the user id (HKDF, info `gasbank-deposit`), so a transfer to it
//! can only ever credit that user. An [`EventStream`] watches GAS `Transfer` notifications; each
//! one to a deposit address is credited with the reference `<tx hash>:<notification index>`, so
//! it is credited exactly once — also when the stream restarts, when several replicas watch at
//! once, and when an operator credits the same transaction by hand after checking it on chain.

use std::sync::Arc;

use async_trait::async_trait;
use neosl_chain::RpcClient;
use neosl_chain::events::{
    BoxError, ChainEvent, EventFilter, EventHandler, EventStream, StreamConfig,
};
use neosl_chainwork::DbCursor;
use neosl_crypto::{MasterKey, kdf};
use neosl_neo::param::StackItem;
use neosl_neo::{Address, UInt160, UInt256, native};
use sqlx::Row;

use crate::{GasBank, GasBankError, LedgerEntry, Owner, Result};

/// Deposit addresses and crediting.
#[derive(Clone)]
pub struct Deposits {
    bank: GasBank,
    master: Arc<MasterKey>,
}

impl std::fmt::Debug for Deposits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deposits").finish_non_exhaustive()
    }
}

/// A GAS transfer to one of our deposit addresses, as found on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingTransfer {
    /// The transaction.
    pub tx_hash: UInt256,
    /// The notification's index in its transaction.
    pub notification_index: u32,
    /// The sender (none for minted GAS).
    pub from: Option<UInt160>,
    /// The deposit address's script hash.
    pub to: UInt160,
    /// The amount in 10⁻⁸ GAS.
    pub amount: i64,
}

impl IncomingTransfer {
    /// The ledger reference: `<tx hash>:<notification index>`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.tx_hash, self.notification_index)
    }
}

/// Reads a GAS `Transfer` notification's (from, to, amount); `None` for anything else or a
/// non-positive amount.
pub fn parse_transfer(state: &StackItem) -> Option<(Option<UInt160>, UInt160, i64)> {
    let items = state.as_array()?;
    if items.len() != 3 {
        return None;
    }
    let from = match &items[0] {
        StackItem::Any => None,
        other => Some(UInt160::from_le_slice(&other.as_bytes()?).ok()?),
    };
    let to = UInt160::from_le_slice(&items[1].as_bytes()?).ok()?;
    let amount = i64::try_from(items[2].as_integer()?)
        .ok()
        .filter(|a| *a > 0)?;
    Some((from, to, amount))
}

impl Deposits {
    /// Deposits over `bank`, deriving addresses from `master` (the `GASBANK_MASTER_KEY` secret).
    pub fn new(bank: GasBank, master: MasterKey) -> Self {
        Self {
            bank,
            master: Arc::new(master),
        }
    }

    /// The user's deposit address (created on first request; always the same).
    pub async fn deposit_address(&self, user_id: &str) -> Result<Address> {
        let key = kdf::derive_signing_key(&self.master, user_id.as_bytes(), "gasbank-deposit")
            .map_err(|e| GasBankError::Internal(e.to_string()))?;
        let address = Address::from_public_key(&key.public_key());
        sqlx::query(
            "INSERT INTO gasbank_deposit_addresses (user_id, address, script_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(address.to_string())
        .bind(address.script_hash().to_string())
        .bind(self.bank.clock().now_millis())
        .execute(self.bank.database().pool())
        .await?;
        Ok(address)
    }

    /// The user whose deposit address has this script hash.
    pub async fn owner_of(&self, script_hash: &UInt160) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT user_id FROM gasbank_deposit_addresses WHERE script_hash = $1")
                .bind(script_hash.to_string())
                .fetch_optional(self.bank.database().pool())
                .await?
                .map(|r| r.try_get(0))
                .transpose()?,
        )
    }

    /// Credits `transfer` to the owner of its deposit address (once, whatever the number of
    /// calls). `None` when the address is not a deposit address.
    pub async fn credit(&self, transfer: &IncomingTransfer) -> Result<Option<LedgerEntry>> {
        let Some(user) = self.owner_of(&transfer.to).await? else {
            return Ok(None);
        };
        let source = transfer
            .from
            .map(|f| Address::from_script_hash(f).to_string());
        let entry = self
            .bank
            .deposit(
                &Owner::User(user),
                transfer.amount,
                &transfer.reference(),
                source.as_deref(),
            )
            .await?;
        Ok(Some(entry))
    }

    /// Operator path: checks transaction `tx_hash` on chain and credits each GAS transfer in it
    /// to `user_id`'s deposit address (transfers already credited are answered, not repeated).
    pub async fn credit_from_chain(
        &self,
        rpc: &RpcClient,
        tx_hash: &UInt256,
        user_id: &str,
    ) -> Result<Vec<LedgerEntry>> {
        let address = self.deposit_address(user_id).await?;
        let log = rpc
            .get_application_log(tx_hash)
            .await
            .map_err(|e| GasBankError::ChainUnavailable(e.to_string()))?;
        let mut credited = Vec::new();
        for execution in log
            .executions
            .iter()
            .filter(|e| e.trigger == "Application" && e.halted())
        {
            for (index, n) in execution.notifications.iter().enumerate() {
                if n.contract != native::GAS || n.eventname != "Transfer" {
                    continue;
                }
                if let Some((from, to, amount)) = parse_transfer(&n.state)
                    && to == address.script_hash()
                {
                    let transfer = IncomingTransfer {
                        tx_hash: *tx_hash,
                        notification_index: index as u32,
                        from,
                        to,
                        amount,
                    };
                    credited.extend(self.credit(&transfer).await?);
                }
            }
        }
        Ok(credited)
    }

    /// The event stream that credits deposits as blocks arrive. Its position is kept in the
    /// platform database (`chain_cursors`) under `name`.
    pub async fn stream(
        &self,
        rpc: RpcClient,
        name: &str,
        config: StreamConfig,
    ) -> Result<EventStream> {
        let db = self.bank.database().clone();
        neosl_chainwork::migrate(&db)
            .await
            .map_err(|e| GasBankError::Database(e.to_string()))?;
        let filter = EventFilter {
            contracts: vec![native::GAS],
            names: vec!["Transfer".into()],
        };
        let cursor = Arc::new(DbCursor::new(db, name, self.bank.clock().clone()));
        Ok(EventStream::new(
            rpc,
            filter,
            cursor,
            Arc::new(self.clone()),
            config,
        ))
    }
}

#[async_trait]
impl EventHandler for Deposits {
    async fn handle(&self, event: &ChainEvent) -> std::result::Result<(), BoxError> {
        let Some((from, to, amount)) = parse_transfer(&event.state) else {
            return Ok(());
        };
        let transfer = IncomingTransfer {
            tx_hash: event.tx_hash,
            notification_index: event.notification_index,
            from,
            to,
            amount,
        };
        if let Some(entry) = self.credit(&transfer).await? {
            tracing::info!(account = %entry.account_id, amount, reference = %entry.reference_id, "deposit credited");
        }
        Ok(())
    }
}
