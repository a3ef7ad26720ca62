//! Event-stream positions in the platform database.

use async_trait::async_trait;
use neosl_chain::events::{BoxError, ChainEvent, CursorStore, StreamPosition};
use neosl_runtime::clock::SharedClock;
use neosl_runtime::db::Database;
use sqlx::{Any, Row, Transaction};

/// The position of the stream called `name`.
#[derive(Debug, Clone)]
pub struct DbCursor {
    db: Database,
    name: String,
    clock: SharedClock,
}

impl DbCursor {
    /// The cursor `name` (the tables must be migrated: [`crate::migrate`]).
    pub fn new(db: Database, name: impl Into<String>, clock: SharedClock) -> Self {
        Self {
            db,
            name: name.into(),
            clock,
        }
    }

    /// The position just after `event`: what a handler saves with its effect.
    pub fn after(event: &ChainEvent) -> StreamPosition {
        StreamPosition {
            next_block: event.block_index,
            next_event: event.event_index + 1,
        }
    }

    /// Saves `position` inside the caller's transaction, so that a handler's effect and the
    /// position commit together (a crash can then never deliver that event again). The
    /// position only moves forward.
    pub async fn save_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        position: StreamPosition,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO chain_cursors (name, next_block, next_event, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET next_block = excluded.next_block, next_event = excluded.next_event, \
             updated_at = excluded.updated_at \
             WHERE chain_cursors.next_block < excluded.next_block \
                OR (chain_cursors.next_block = excluded.next_block AND chain_cursors.next_event < excluded.next_event)",
        )
        .bind(&self.name)
        .bind(i64::from(position.next_block))
        .bind(i64::from(position.next_event))
        .bind(self.clock.now_millis())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl CursorStore for DbCursor {
    async fn load(&self) -> Result<Option<StreamPosition>, BoxError> {
        let row = sqlx::query("SELECT next_block, next_event FROM chain_cursors WHERE name = $1")
            .bind(&self.name)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(StreamPosition {
                next_block: u32::try_from(r.try_get::<i64, _>(0)?)?,
                next_event: u32::try_from(r.try_get::<i64, _>(1)?)?,
            }),
            None => None,
        })
    }

    async fn save(&self, position: StreamPosition) -> Result<(), BoxError> {
        let mut tx = self.db.pool().begin().await?;
        self.save_in(&mut tx, position).await?;
        tx.commit().await?;
        Ok(())
    }
}
