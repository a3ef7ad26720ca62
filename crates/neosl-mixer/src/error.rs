//! Why a Mixer request is refused, with its stable codes.

use neosl_runtime::ErrorCode;
use neosl_runtime::db::DbError;
use neosl_runtime::error::DomainError;

/// A Mixer failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixerError {
    /// The body is not a mix request (a field missing or of the wrong type).
    #[error("{0}")]
    InvalidRequest(String),
    /// Only version 1 exists.
    #[error("unknown request version {0} (1 is the only one)")]
    UnsupportedVersion(i64),
    /// Not a Neo address.
    #[error("{0:?} is not a Neo address")]
    InvalidAddress(String),
    /// Not a GAS amount (positive, at most 8 decimals).
    #[error("{0:?} is not a positive GAS amount with at most 8 decimals")]
    InvalidAmount(String),
    /// A mix option other than 30 min, 1 h, 24 h, 7 days.
    #[error("mix_option is 1800000, 3600000, 86400000 or 604800000 (milliseconds), not {0}")]
    InvalidMixOption(i64),
    /// Too many or no targets, or one twice.
    #[error("{0}")]
    InvalidTargets(String),
    /// The timestamp is too far from now.
    #[error("timestamp (Unix seconds) must be within {0} s of now")]
    InvalidTimestamp(i64),
    /// A malformed input transaction hash, or too many.
    #[error("{0}")]
    InvalidInputTxs(String),
    /// More than one request may take.
    #[error("a request deposits at most {limit} (10^-8 GAS); this one needs {total}")]
    RequestOverLimit {
        /// The limit.
        limit: i64,
        /// What it would need.
        total: i64,
    },
    /// The pool would hold more than allowed.
    #[error("the Mixer's pool would exceed its cap ({headroom} 10^-8 GAS of headroom left)")]
    PoolCapacityExceeded {
        /// What is left.
        headroom: i64,
    },
    /// Too many requests wait for their deposits.
    #[error("too many requests are waiting for their deposits; try again later")]
    TooManyPending,
    /// The operator's free bond cannot back this request too.
    #[error("the operator's bond cannot back another request of this size now")]
    BondExhausted,
    /// No such request.
    #[error("no such mix request")]
    UnknownRequest,
    /// The request has no completion proof yet.
    #[error("the request is not settled yet ({0})")]
    NotSettled(String),
    /// A deposit confirmation that is not one.
    #[error("{0}")]
    InvalidDeposit(String),
    /// A list limit outside 1 to 100.
    #[error("limit is 1 to 100")]
    InvalidLimit,
    /// The MixerService is not deployed (no `contracts.json` names it).
    #[error("the MixerService contract is not deployed on this platform's chain")]
    NotDeployed,
    /// The chain or the AccountPool cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed (logged, not shown).
    #[error("database: {0}")]
    Database(String),
}

impl DomainError for MixerError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::InvalidAddress(_) => "invalid_address",
            Self::InvalidAmount(_) => "invalid_amount",
            Self::InvalidMixOption(_) => "invalid_mix_option",
            Self::InvalidTargets(_) => "invalid_targets",
            Self::InvalidTimestamp(_) => "invalid_timestamp",
            Self::InvalidInputTxs(_) => "invalid_input_txs",
            Self::RequestOverLimit { .. } => "request_over_limit",
            Self::PoolCapacityExceeded { .. } => "pool_capacity_exceeded",
            Self::BondExhausted => "bond_exhausted",
            Self::TooManyPending => "too_many_pending_requests",
            Self::UnknownRequest => "unknown_request",
            Self::NotSettled(_) => "not_settled",
            Self::InvalidDeposit(_) => "invalid_deposit",
            Self::InvalidLimit => "invalid_limit",
            Self::NotDeployed => "mixer_not_deployed",
            Self::Unavailable(_) => "mixer_unavailable",
            Self::Database(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::UnknownRequest => ErrorCode::NotFound,
            Self::NotSettled(_) | Self::PoolCapacityExceeded { .. } | Self::BondExhausted => {
                ErrorCode::Conflict
            }
            Self::NotDeployed | Self::Unavailable(_) | Self::TooManyPending => {
                ErrorCode::Unavailable
            }
            Self::Database(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl From<DbError> for MixerError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::Error> for MixerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
