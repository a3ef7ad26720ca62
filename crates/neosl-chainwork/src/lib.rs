//! Durable chain work: what every service that touches the chain builds on.
//!
//! - [`cursor`]: [`DbCursor`], an event-stream position in the platform database, which a
//!   handler may also save inside its own database transaction (its effect and the position
//!   then commit together).
//! - [`outbox`]: [`Outbox`], the table of chain work that must finish. An item is recorded in
//!   the same database transaction as the business change it carries out (a debit, a request),
//!   then moves `planned → submitted → confirmed | failed` under a claim with a lease, so a
//!   crash, a restart or a second replica never loses it and never sends it twice; its
//!   [`WorkKind`] settles the outcome in the same transaction that records it.

pub mod cursor;
pub mod outbox;

use neosl_runtime::db::{Database, DbError, Migration};

pub use cursor::DbCursor;
pub use outbox::{Built, Emitted, Outbox, Outcome, WorkError, WorkItem, WorkKind, WorkState};

/// The migrations of the cursor and outbox tables.
pub const MIGRATIONS: &[Migration] = &[neosl_runtime::migration!(
    1,
    "chainwork",
    "0001_chainwork.sql",
    shared
)];

/// Applies the migrations (idempotent; every user of the tables calls it).
pub async fn migrate(db: &Database) -> Result<(), DbError> {
    db.migrate("chainwork", MIGRATIONS).await
}
