//! Every way an AccountPool operation can be refused, with its stable code and status.

use neosl_accountpool_api::PoolError;
use neosl_runtime::ErrorCode;
use neosl_runtime::error::DomainError;

/// A refused or failed operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The request is malformed (the message says how).
    #[error("{0}")]
    Invalid(String),
    /// `count` outside 1 to 100.
    #[error("count must be between 1 and 100")]
    CountOutOfRange,
    /// A transaction hash that is not `0x` + 64 hex digits.
    #[error("tx_hash must be 0x followed by 64 hex digits (the display form)")]
    MalformedHash,
    /// An amount outside what the pool tracks (0 to 2^63 - 1).
    #[error("{0}")]
    AmountOutOfRange(String),
    /// No such account.
    #[error("unknown account {0}")]
    UnknownAccount(String),
    /// No such lock.
    #[error("unknown lock {0}")]
    UnknownLock(String),
    /// The account (or lock) is not held by the caller.
    #[error("{0} is not locked by the caller")]
    NotLockedByCaller(String),
    /// The caller's lock on the account has expired.
    #[error("the lock on {0} has expired")]
    LockExpired(String),
    /// Not enough funds (tracked or on chain).
    #[error("{0}")]
    InsufficientBalance(String),
    /// The pool is at its maximum size and has too few free accounts.
    #[error("the pool has too few free accounts and is at its maximum size")]
    PoolExhausted,
    /// The chain is not configured or not reachable.
    #[error("chain unavailable: {0}")]
    ChainUnavailable(String),
    /// The transfer's test invocation faulted.
    #[error("the transfer would fail: {0}")]
    TransferFailed(String),
    /// Something failed inside the service (logged, not shown).
    #[error("internal error")]
    Internal(String),
}

impl DomainError for Failure {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::CountOutOfRange => "count_out_of_range",
            Self::MalformedHash => "malformed_hash",
            Self::AmountOutOfRange(_) => "amount_out_of_range",
            Self::UnknownAccount(_) => "unknown_account",
            Self::UnknownLock(_) => "unknown_lock",
            Self::NotLockedByCaller(_) => "not_locked_by_caller",
            Self::LockExpired(_) => "lock_expired",
            Self::InsufficientBalance(_) => "insufficient_balance",
            Self::PoolExhausted => "pool_exhausted",
            Self::ChainUnavailable(_) => "chain_unavailable",
            Self::TransferFailed(_) => "transfer_failed",
            Self::Internal(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::Invalid(_)
            | Self::CountOutOfRange
            | Self::MalformedHash
            | Self::AmountOutOfRange(_) => ErrorCode::InvalidRequest,
            Self::UnknownAccount(_) | Self::UnknownLock(_) => ErrorCode::NotFound,
            Self::NotLockedByCaller(_) => ErrorCode::Forbidden,
            Self::LockExpired(_) | Self::InsufficientBalance(_) => ErrorCode::Conflict,
            Self::PoolExhausted | Self::ChainUnavailable(_) => ErrorCode::Unavailable,
            Self::TransferFailed(_) => ErrorCode::Unprocessable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl Failure {
    /// An internal failure from any error (logged with its detail).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "accountpool internal error");
        Self::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

/// The in-process API answers the same codes, statuses and messages as the HTTP one.
impl From<Failure> for PoolError {
    fn from(f: Failure) -> Self {
        let message = match &f {
            Failure::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        PoolError::new(f.code(), f.kind().status().as_u16(), message)
    }
}
