//! Paid calls: the one primitive every charging path uses, and the sweeper behind it.
//!
//! [`GasBank::pay_for`] reserves the fee, runs the call, consumes the fee when the call
//! succeeds and releases it when it fails, so a caller is charged only for what was delivered.
//! A process that dies between reserve and consume leaves a reservation, never a charge: every
//! reservation carries an expiry, and [`GasBank::release_expired`] (run by
//! [`GasBank::sweep_expired_reservations`]) releases what outlived it.

use std::future::Future;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::watch;

use crate::{GasBank, GasBankError, LedgerEntry, Owner, Result};

/// What a paid call costs and who pays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Who pays (a user, or a contract's sponsored account).
    pub owner: Owner,
    /// The fee's name (the ledger's counterparty).
    pub fee: String,
    /// The amount in 10⁻⁸ GAS.
    pub amount: i64,
    /// The reservation's reference (unique per call).
    pub reference: String,
}

impl GasBank {
    /// Reserves `payment`, runs `call`, and consumes the payment when the call answers `Ok`
    /// or releases it when it answers `Err`. The outer error is the bank's (nothing reserved,
    /// or the settlement failed); the inner result is the call's.
    pub async fn pay_for<T, E>(
        &self,
        payment: &Payment,
        call: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<std::result::Result<(T, Option<LedgerEntry>), E>> {
        self.reserve(
            &payment.owner,
            payment.amount,
            &payment.reference,
            &payment.fee,
        )
        .await?;
        match call.await {
            Ok(value) => {
                let (_, charged) = self.consume(&payment.reference, payment.amount).await?;
                Ok(Ok((value, charged)))
            }
            Err(e) => {
                self.release(&payment.reference).await?;
                Ok(Err(e))
            }
        }
    }

    /// Releases every reservation still held whose expiry has passed (by the bank's clock),
    /// oldest first, up to `limit`. Each release is its own transaction, so replicas sweeping
    /// at once are safe: a reservation settled meanwhile is skipped. Returns the references
    /// released.
    pub async fn release_expired(&self, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT reference_id FROM gasbank_reservations WHERE state = 'reserved' AND expires_at <= $1 \
             ORDER BY expires_at, reference_id LIMIT $2",
        )
        .bind(self.clock.now_millis())
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        let mut released = Vec::new();
        for row in rows {
            let reference: String = row.try_get(0)?;
            match self.release(&reference).await {
                Ok(_) => released.push(reference),
                Err(GasBankError::ReservationSettled { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(released)
    }

    /// Releases expired reservations every `interval` until `shutdown` (see
    /// [`GasBank::release_expired`]).
    pub async fn sweep_expired_reservations(
        self,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        const BATCH: i64 = 500;
        loop {
            loop {
                match self.release_expired(BATCH).await {
                    Ok(released) if !released.is_empty() => {
                        tracing::warn!(
                            count = released.len(),
                            "released reservations that were never settled"
                        );
                        if (released.len() as i64) < BATCH {
                            break;
                        }
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "sweeping expired reservations failed; retrying later");
                        break;
                    }
                }
            }
            if neosl_runtime::service::pause(interval, &mut shutdown).await {
                return;
            }
        }
    }
}
