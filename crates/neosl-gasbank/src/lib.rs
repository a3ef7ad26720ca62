//! GasBank: prepaid GAS fee balances.
//!
//! One account per user and per sponsored contract, each with a balance and a reserved amount,
//! and an append-only ledger (`gasbank_transactions`) of `deposit`, `withdraw`, `service_fee`,
//! `refund`, `sponsor` and `sponsor_credit` rows. Every operation is one database transaction,
//! idempotent by its reference id: the same request twice changes nothing the second time and
//! answers as the first did; the same reference with different terms is a conflict.
//!
//! The database enforces the invariants itself (triggers and constraints, see the migrations):
//! a balance changes only by posting a ledger row, so it always equals the ledger's sum; the
//! ledger cannot be updated or deleted; and `0 ≤ reserved ≤ balance`.
//!
//! Amounts are integers in GAS's smallest unit (10⁻⁸ GAS), never floating point.
//!
//! - [`billing`]: the one paid-call primitive (reserve → call → consume | release) that the
//!   gateway and the on-chain fulfilment share, and the sweeper that releases reservations a
//!   crash left behind.
//! - [`deposits`]: credits GAS sent on chain to each user's own deposit address, exactly once.
//! - [`withdrawals`]: GAS sent on chain from the treasury, debited and refunded exactly once.

pub mod billing;
pub mod deposits;
pub mod withdrawals;

use std::time::Duration;

use neosl_runtime::ErrorCode;
use neosl_runtime::clock::{self, SharedClock};
use neosl_runtime::db::{Database, DbError, Migration};
use neosl_runtime::error::DomainError;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

pub use billing::Payment;

/// The GasBank's migrations.
pub const MIGRATIONS: &[Migration] = &[
    neosl_runtime::migration!(1, "gasbank", "0001_gasbank.sql"),
    neosl_runtime::migration!(2, "deposits", "0002_deposits.sql"),
    neosl_runtime::migration!(3, "withdrawals", "0003_withdrawals.sql"),
    neosl_runtime::migration!(4, "reservation_expiry", "0004_reservation_expiry.sql"),
    neosl_runtime::migration!(5, "dev_credit", "0005_dev_credit.sql"),
];

/// How long a reservation holds by default before the sweeper may release it.
pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(600);

/// Whose account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A platform user (by user id).
    User(String),
    /// A contract whose requests a sponsor pays for (by script hash, display form).
    Contract(String),
}

impl Owner {
    fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Contract(_) => "contract",
        }
    }

    fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::Contract(id) => id,
        }
    }

    fn account_id(&self) -> String {
        format!("{}:{}", self.kind(), self.id())
    }
}

/// A refused operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GasBankError {
    /// Amounts are positive integers.
    #[error("amount must be a positive integer (10^-8 GAS units)")]
    InvalidAmount,
    /// A reference id is 1 to 128 printable characters.
    #[error("reference id must be 1 to 128 printable characters")]
    InvalidReference,
    /// The available balance (balance − reserved) is too small.
    #[error("insufficient balance: {available} available, {required} required")]
    InsufficientBalance {
        /// Balance minus reserved.
        available: i64,
        /// What the operation needs.
        required: i64,
    },
    /// No such reservation.
    #[error("unknown reservation {0}")]
    UnknownReservation(String),
    /// The reservation was already consumed or released differently.
    #[error("reservation {reference} is already {state}")]
    ReservationSettled {
        /// The reservation.
        reference: String,
        /// Its state.
        state: String,
    },
    /// The reference id was used before with different terms.
    #[error("reference {0} was already used for a different operation")]
    ReferenceConflict(String),
    /// A sponsor cannot pay itself.
    #[error("a sponsor cannot pay for itself")]
    SelfSponsorship,
    /// The chain is not configured or does not answer.
    #[error("the chain is unavailable: {0}")]
    ChainUnavailable(String),
    /// A development credit outside simulation mode or on a production database.
    #[error("{0}")]
    NotDevelopment(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// Something else failed inside the GasBank (logged, not shown).
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError for GasBankError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidAmount => "invalid_amount",
            Self::InvalidReference => "invalid_reference",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::UnknownReservation(_) => "unknown_reservation",
            Self::ReservationSettled { .. } => "reservation_settled",
            Self::ReferenceConflict(_) => "reference_conflict",
            Self::SelfSponsorship => "self_sponsorship",
            Self::ChainUnavailable(_) => "chain_unavailable",
            Self::NotDevelopment(_) => "not_development",
            Self::Database(_) | Self::Internal(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::InvalidAmount | Self::InvalidReference | Self::SelfSponsorship => {
                ErrorCode::InvalidRequest
            }
            Self::InsufficientBalance { .. }
            | Self::ReservationSettled { .. }
            | Self::ReferenceConflict(_) => ErrorCode::Conflict,
            Self::UnknownReservation(_) => ErrorCode::NotFound,
            Self::ChainUnavailable(_) => ErrorCode::Unavailable,
            Self::NotDevelopment(_) => ErrorCode::Forbidden,
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<sqlx::Error> for GasBankError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<DbError> for GasBankError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<neosl_chain::ChainError> for GasBankError {
    fn from(e: neosl_chain::ChainError) -> Self {
        Self::ChainUnavailable(e.to_string())
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, GasBankError>;

/// An account's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountState {
    /// `user:<id>` or `contract:<hash>`.
    pub account_id: String,
    /// The balance.
    pub balance: i64,
    /// Held for requests in flight.
    pub reserved: i64,
    /// Balance minus reserved.
    pub available: i64,
}

/// A ledger row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// The row id.
    pub id: i64,
    /// The account.
    pub account_id: String,
    /// The type.
    pub r#type: String,
    /// Signed amount.
    pub amount: i64,
    /// The balance after this row.
    pub balance_after: i64,
    /// The operation's reference id.
    pub reference_id: String,
    /// The other side (sponsorships, withdrawals, deposits).
    pub counterparty: Option<String>,
    /// When (Unix ms).
    pub created_at: i64,
}

/// A reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    /// Its reference id.
    pub reference_id: String,
    /// The account.
    pub account_id: String,
    /// The amount held.
    pub amount: i64,
    /// The service it is for.
    pub service: String,
    /// `reserved`, `consumed` or `released`.
    pub state: String,
    /// What was charged when consumed.
    pub consumed_amount: Option<i64>,
    /// When the sweeper may release it, if still held (Unix ms).
    pub expires_at: i64,
}

/// The GasBank over the platform database.
#[derive(Debug, Clone)]
pub struct GasBank {
    db: Database,
    clock: SharedClock,
    reservation_ttl: Duration,
}

fn check_amount(amount: i64) -> Result<()> {
    if amount <= 0 {
        Err(GasBankError::InvalidAmount)
    } else {
        Ok(())
    }
}

fn check_reference(reference: &str) -> Result<()> {
    let ok = !reference.is_empty()
        && reference.len() <= 128
        && reference.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(GasBankError::InvalidReference)
    }
}

const ENTRY_COLUMNS: &str =
    "id, account_id, type, amount, balance_after, reference_id, counterparty, created_at";

fn entry(row: &sqlx::any::AnyRow) -> std::result::Result<LedgerEntry, sqlx::Error> {
    Ok(LedgerEntry {
        id: row.try_get(0)?,
        account_id: row.try_get(1)?,
        r#type: row.try_get(2)?,
        amount: row.try_get(3)?,
        balance_after: row.try_get(4)?,
        reference_id: row.try_get(5)?,
        counterparty: row.try_get(6)?,
        created_at: row.try_get(7)?,
    })
}

impl GasBank {
    /// Opens the GasBank and applies its migrations (system clock, default reservation TTL).
    pub async fn open(db: Database) -> std::result::Result<Self, DbError> {
        db.migrate("gasbank", MIGRATIONS).await?;
        Ok(Self {
            db,
            clock: clock::system(),
            reservation_ttl: DEFAULT_RESERVATION_TTL,
        })
    }

    /// The same bank reading the time from `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same bank holding reservations for `ttl` before the sweeper may release them.
    pub fn with_reservation_ttl(mut self, ttl: Duration) -> Self {
        self.reservation_ttl = ttl;
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn lock_suffix(&self) -> &'static str {
        self.db.backend().for_update()
    }

    /// Ensures the account exists and locks it for the rest of `tx`; returns (balance, reserved).
    async fn lock_account(
        &self,
        tx: &mut Transaction<'_, Any>,
        owner: &Owner,
    ) -> Result<(i64, i64)> {
        let id = owner.account_id();
        let now = self.now();
        sqlx::query(
            "INSERT INTO gasbank_accounts (id, owner_kind, owner_id, balance, reserved, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, 0, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(owner.kind())
        .bind(owner.id())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let sql = format!(
            "SELECT balance, reserved FROM gasbank_accounts WHERE id = $1{}",
            self.lock_suffix()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&id)
            .fetch_one(&mut **tx)
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    async fn existing_entry(
        &self,
        tx: &mut Transaction<'_, Any>,
        account_id: &str,
        kind: &str,
        reference: &str,
    ) -> Result<Option<LedgerEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM gasbank_transactions WHERE account_id = $1 AND type = $2 AND reference_id = $3"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(kind)
            .bind(reference)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| entry(&r))
            .transpose()?)
    }

    async fn post(&self, tx: &mut Transaction<'_, Any>, p: Posting<'_>) -> Result<LedgerEntry> {
        let Posting {
            account_id,
            kind,
            amount,
            balance_after,
            reference,
            counterparty,
        } = p;
        let sql = format!(
            "INSERT INTO gasbank_transactions (account_id, type, amount, balance_after, reference_id, counterparty, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENTRY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(kind)
            .bind(amount)
            .bind(balance_after)
            .bind(reference)
            .bind(counterparty)
            .bind(self.now())
            .fetch_one(&mut **tx)
            .await?;
        Ok(entry(&row)?)
    }

    /// One ledger posting (`amount` signed), idempotent by (account, type, reference).
    async fn single_posting(
        &self,
        owner: &Owner,
        kind: &str,
        amount: i64,
        reference: &str,
        counterparty: Option<&str>,
    ) -> Result<LedgerEntry> {
        let mut tx = self.db.pool().begin().await?;
        let posted = self
            .posting_in(&mut tx, owner, kind, amount, reference, counterparty)
            .await?;
        tx.commit().await?;
        Ok(posted)
    }

    /// One ledger posting (`amount` signed) inside the caller's transaction, idempotent by
    /// (account, type, reference): a debit needs the available balance.
    pub(crate) async fn posting_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        owner: &Owner,
        kind: &str,
        amount: i64,
        reference: &str,
        counterparty: Option<&str>,
    ) -> Result<LedgerEntry> {
        check_reference(reference)?;
        let (balance, reserved) = self.lock_account(tx, owner).await?;
        let account_id = owner.account_id();
        if let Some(existing) = self
            .existing_entry(tx, &account_id, kind, reference)
            .await?
        {
            if existing.amount != amount || existing.counterparty.as_deref() != counterparty {
                return Err(GasBankError::ReferenceConflict(reference.to_owned()));
            }
            return Ok(existing);
        }
        if amount < 0 && balance - reserved < -amount {
            return Err(GasBankError::InsufficientBalance {
                available: balance - reserved,
                required: -amount,
            });
        }
        self.post(
            tx,
            Posting {
                account_id: &account_id,
                kind,
                amount,
                balance_after: balance + amount,
                reference,
                counterparty,
            },
        )
        .await
    }

    /// The account's figures (an absent account is empty).
    pub async fn account(&self, owner: &Owner) -> Result<AccountState> {
        let row = sqlx::query("SELECT balance, reserved FROM gasbank_accounts WHERE id = $1")
            .bind(owner.account_id())
            .fetch_optional(self.db.pool())
            .await?;
        let (balance, reserved): (i64, i64) = match row {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (0, 0),
        };
        Ok(AccountState {
            account_id: owner.account_id(),
            balance,
            reserved,
            available: balance - reserved,
        })
    }

    /// Credits a deposit (the reference is the chain transfer: tx hash and notification index).
    pub async fn deposit(
        &self,
        owner: &Owner,
        amount: i64,
        reference: &str,
        source: Option<&str>,
    ) -> Result<LedgerEntry> {
        check_amount(amount)?;
        self.single_posting(owner, "deposit", amount, reference, source)
            .await
    }

    /// Debits a withdrawal (from the available balance).
    pub async fn withdraw(
        &self,
        owner: &Owner,
        amount: i64,
        reference: &str,
        destination: &str,
    ) -> Result<LedgerEntry> {
        check_amount(amount)?;
        self.single_posting(owner, "withdraw", -amount, reference, Some(destination))
            .await
    }

    /// Credits a development balance (`neosl gasbank dev-credit`): only in simulation mode and
    /// only on a database the platform created in simulation mode, so no production balance can
    /// ever come from anywhere but the chain. Recorded as its own entry type, `dev_credit`.
    pub async fn dev_credit(
        &self,
        owner: &Owner,
        amount: i64,
        reference: &str,
        mode: neosl_runtime::RuntimeMode,
    ) -> Result<LedgerEntry> {
        check_amount(amount)?;
        if !mode.is_simulation() {
            return Err(GasBankError::NotDevelopment(
                "development credits are refused in enclave mode".into(),
            ));
        }
        match self.db.environment().await? {
            Some(neosl_runtime::db::Environment::Development) => {}
            other => {
                return Err(GasBankError::NotDevelopment(format!(
                    "development credits need a development database; this one is {}",
                    other.map_or("unmarked", |e| e.as_str())
                )));
            }
        }
        self.single_posting(owner, "dev_credit", amount, reference, Some("development"))
            .await
    }

    /// Credits a refund (for example a withdrawal that failed on chain).
    pub async fn refund(&self, owner: &Owner, amount: i64, reference: &str) -> Result<LedgerEntry> {
        check_amount(amount)?;
        self.single_posting(owner, "refund", amount, reference, None)
            .await
    }

    /// Charges a service fee directly (no reservation).
    pub async fn charge(
        &self,
        owner: &Owner,
        amount: i64,
        reference: &str,
        service: &str,
    ) -> Result<LedgerEntry> {
        check_amount(amount)?;
        self.single_posting(owner, "service_fee", -amount, reference, Some(service))
            .await
    }

    /// Holds `amount` of the available balance for a request in flight, for the bank's
    /// reservation TTL (after which the sweeper may release it).
    pub async fn reserve(
        &self,
        owner: &Owner,
        amount: i64,
        reference: &str,
        service: &str,
    ) -> Result<Reservation> {
        let ttl = i64::try_from(self.reservation_ttl.as_millis()).unwrap_or(i64::MAX);
        self.reserve_until(
            owner,
            amount,
            reference,
            service,
            self.now().saturating_add(ttl),
        )
        .await
    }

    /// Holds `amount` of the available balance until `expires_at` (Unix ms).
    pub async fn reserve_until(
        &self,
        owner: &Owner,
        amount: i64,
        reference: &str,
        service: &str,
        expires_at: i64,
    ) -> Result<Reservation> {
        check_amount(amount)?;
        check_reference(reference)?;
        let mut tx = self.db.pool().begin().await?;
        let (balance, reserved) = self.lock_account(&mut tx, owner).await?;
        if let Some(existing) = self.reservation_in(&mut tx, reference).await? {
            if existing.account_id != owner.account_id()
                || existing.amount != amount
                || existing.service != service
            {
                return Err(GasBankError::ReferenceConflict(reference.to_owned()));
            }
            return Ok(existing);
        }
        if balance - reserved < amount {
            return Err(GasBankError::InsufficientBalance {
                available: balance - reserved,
                required: amount,
            });
        }
        sqlx::query(
            "INSERT INTO gasbank_reservations (reference_id, account_id, amount, service, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, 'reserved', $5, $6)",
        )
        .bind(reference)
        .bind(owner.account_id())
        .bind(amount)
        .bind(service)
        .bind(self.now())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE gasbank_accounts SET reserved = reserved + $2, updated_at = $3 WHERE id = $1",
        )
        .bind(owner.account_id())
        .bind(amount)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // What was just written (no read back: a paid call's hot path).
        Ok(Reservation {
            reference_id: reference.to_owned(),
            account_id: owner.account_id(),
            amount,
            service: service.to_owned(),
            state: "reserved".into(),
            consumed_amount: None,
            expires_at,
        })
    }

    async fn reservation_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        reference: &str,
    ) -> Result<Option<Reservation>> {
        let sql = format!(
            "SELECT reference_id, account_id, amount, service, state, consumed_amount, expires_at FROM gasbank_reservations WHERE reference_id = $1{}",
            self.lock_suffix()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(reference)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row
            .map(|r| -> std::result::Result<Reservation, sqlx::Error> {
                Ok(Reservation {
                    reference_id: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    amount: r.try_get(2)?,
                    service: r.try_get(3)?,
                    state: r.try_get(4)?,
                    consumed_amount: r.try_get(5)?,
                    expires_at: r.try_get(6)?,
                })
            })
            .transpose()?)
    }

    /// Settles a reservation: `Some(amount)` consumes it (charging `amount` ≤ the reserved amount
    /// as a service fee), `None` releases it. Idempotent: settling the same way again answers the
    /// same; settling the other way is refused.
    async fn settle(
        &self,
        reference: &str,
        charge: Option<i64>,
    ) -> Result<(Reservation, Option<LedgerEntry>)> {
        let mut tx = self.db.pool().begin().await?;
        let settled = self.settle_in(&mut tx, reference, charge).await?;
        tx.commit().await?;
        Ok(settled)
    }

    /// [`GasBank::settle`] inside the caller's transaction (for work whose outcome and charge
    /// must commit together, such as an on-chain fulfilment).
    pub async fn settle_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        reference: &str,
        charge: Option<i64>,
    ) -> Result<(Reservation, Option<LedgerEntry>)> {
        check_reference(reference)?;
        let peek = self
            .reservation_in(tx, reference)
            .await?
            .ok_or_else(|| GasBankError::UnknownReservation(reference.to_owned()))?;
        // Lock the account first (the same order as every other operation), then re-read. It
        // exists: the reservation refers to it.
        let sql = format!(
            "SELECT balance FROM gasbank_accounts WHERE id = $1{}",
            self.lock_suffix()
        );
        let balance: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&peek.account_id)
            .fetch_one(&mut **tx)
            .await?;
        let reservation = self
            .reservation_in(tx, reference)
            .await?
            .ok_or_else(|| GasBankError::UnknownReservation(reference.to_owned()))?;
        let wanted_state = if charge.is_some() {
            "consumed"
        } else {
            "released"
        };
        if reservation.state != "reserved" {
            if reservation.state == wanted_state
                && (charge.is_none() || reservation.consumed_amount == charge)
            {
                let posted = self
                    .existing_entry(tx, &reservation.account_id, "service_fee", reference)
                    .await?;
                return Ok((reservation, posted));
            }
            return Err(GasBankError::ReservationSettled {
                reference: reference.to_owned(),
                state: reservation.state,
            });
        }
        if let Some(amount) = charge
            && (amount < 0 || amount > reservation.amount)
        {
            return Err(GasBankError::InvalidAmount);
        }
        let now = self.now();
        sqlx::query(
            "UPDATE gasbank_accounts SET reserved = reserved - $2, updated_at = $3 WHERE id = $1",
        )
        .bind(&reservation.account_id)
        .bind(reservation.amount)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE gasbank_reservations SET state = $2, consumed_amount = $3, settled_at = $4 WHERE reference_id = $1")
            .bind(reference)
            .bind(wanted_state)
            .bind(charge)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        let posted = match charge {
            Some(amount) if amount > 0 => Some(
                self.post(
                    tx,
                    Posting {
                        account_id: &reservation.account_id,
                        kind: "service_fee",
                        amount: -amount,
                        balance_after: balance - amount,
                        reference,
                        counterparty: Some(&reservation.service),
                    },
                )
                .await?,
            ),
            _ => None,
        };
        let settled = Reservation {
            state: wanted_state.to_owned(),
            consumed_amount: charge,
            ..reservation
        };
        Ok((settled, posted))
    }

    /// Consumes a reservation, charging `amount` (at most the reserved amount).
    pub async fn consume(
        &self,
        reference: &str,
        amount: i64,
    ) -> Result<(Reservation, Option<LedgerEntry>)> {
        self.settle(reference, Some(amount)).await
    }

    /// Releases a reservation (nothing is charged).
    pub async fn release(&self, reference: &str) -> Result<Reservation> {
        Ok(self.settle(reference, None).await?.0)
    }

    /// Moves `amount` from `sponsor` to `beneficiary` (`PayForContract` / `PayForUser`): a
    /// `sponsor` debit and a `sponsor_credit` credit, in one transaction.
    pub async fn sponsor(
        &self,
        sponsor: &Owner,
        beneficiary: &Owner,
        amount: i64,
        reference: &str,
    ) -> Result<(LedgerEntry, LedgerEntry)> {
        check_amount(amount)?;
        check_reference(reference)?;
        if sponsor == beneficiary {
            return Err(GasBankError::SelfSponsorship);
        }
        let mut tx = self.db.pool().begin().await?;
        // Lock both accounts in a fixed order (by id), so concurrent sponsorships cannot deadlock.
        let mut owners = [sponsor, beneficiary];
        owners.sort_by_key(|o| o.account_id());
        let mut figures = std::collections::HashMap::new();
        for o in owners {
            figures.insert(o.account_id(), self.lock_account(&mut tx, o).await?);
        }
        let (from_id, to_id) = (sponsor.account_id(), beneficiary.account_id());
        let debit = self
            .existing_entry(&mut tx, &from_id, "sponsor", reference)
            .await?;
        let credit = self
            .existing_entry(&mut tx, &to_id, "sponsor_credit", reference)
            .await?;
        if let (Some(d), Some(c)) = (&debit, &credit) {
            if d.amount != -amount || d.counterparty.as_deref() != Some(to_id.as_str()) {
                return Err(GasBankError::ReferenceConflict(reference.to_owned()));
            }
            return Ok((d.clone(), c.clone()));
        }
        if debit.is_some() || credit.is_some() {
            return Err(GasBankError::ReferenceConflict(reference.to_owned()));
        }
        let (balance, reserved) = figures[&from_id];
        if balance - reserved < amount {
            return Err(GasBankError::InsufficientBalance {
                available: balance - reserved,
                required: amount,
            });
        }
        let (to_balance, _) = figures[&to_id];
        let d = self
            .post(
                &mut tx,
                Posting {
                    account_id: &from_id,
                    kind: "sponsor",
                    amount: -amount,
                    balance_after: balance - amount,
                    reference,
                    counterparty: Some(&to_id),
                },
            )
            .await?;
        let c = self
            .post(
                &mut tx,
                Posting {
                    account_id: &to_id,
                    kind: "sponsor_credit",
                    amount,
                    balance_after: to_balance + amount,
                    reference,
                    counterparty: Some(&from_id),
                },
            )
            .await?;
        tx.commit().await?;
        Ok((d, c))
    }

    /// The account's ledger, newest first.
    pub async fn transactions(&self, owner: &Owner, limit: i64) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            // `account_id` in the ORDER BY too: only the (account_id, id) index gives this order,
            // so the planner cannot walk the primary key backwards through other accounts'
            // rows (a user with few, old entries behind a busy ledger took ~1 ms at 10k rows).
            "SELECT {ENTRY_COLUMNS} FROM gasbank_transactions WHERE account_id = $1 ORDER BY account_id DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner.account_id())
            .bind(limit.clamp(1, 10_000))
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .iter()
            .map(entry)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Verifies every invariant over the whole bank; returns the accounts that break one.
    pub async fn check_invariants(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT a.id FROM gasbank_accounts a \
             WHERE a.balance <> COALESCE((SELECT SUM(t.amount) FROM gasbank_transactions t WHERE t.account_id = a.id), 0) \
             OR a.reserved < 0 OR a.reserved > a.balance \
             OR a.reserved <> COALESCE((SELECT SUM(r.amount) FROM gasbank_reservations r WHERE r.account_id = a.id AND r.state = 'reserved'), 0)",
        )
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?)
    }
}

/// One ledger row to write.
struct Posting<'a> {
    account_id: &'a str,
    kind: &'a str,
    amount: i64,
    balance_after: i64,
    reference: &'a str,
    counterparty: Option<&'a str>,
}
