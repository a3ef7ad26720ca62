//! Why a DataFeeds request is refused, with its stable codes.

use neosl_runtime::ErrorCode;
use neosl_runtime::db::DbError;
use neosl_runtime::error::DomainError;

/// A DataFeeds failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataFeedsError {
    /// The pair is not `BASE/QUOTE` (or `BASE-QUOTE`) in capitals.
    #[error("{0:?} is not a pair like BTC/USD or BTC-USD")]
    InvalidPair(String),
    /// The pair is not configured.
    #[error("{0} is not a configured pair")]
    UnknownPair(String),
    /// The pair has no round yet.
    #[error("{0} has no price yet")]
    NoPrice(String),
    /// A list limit outside 1 to 1000.
    #[error("limit is 1 to 1000")]
    InvalidLimit,
    /// The caller may not use this route.
    #[error("{0}")]
    Forbidden(&'static str),
    /// An on-chain request's payload is not a pair.
    #[error("{0}")]
    InvalidPayload(String),
    /// Signing failed (logged, not shown).
    #[error("signing: {0}")]
    Signing(String),
    /// The HTTP client for the exchanges could not be made (logged, not shown).
    #[error("exchange client: {0}")]
    Client(String),
    /// The database failed (logged, not shown).
    #[error("database: {0}")]
    Database(String),
}

impl DomainError for DataFeedsError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidPair(_) => "invalid_pair",
            Self::UnknownPair(_) => "unknown_pair",
            Self::NoPrice(_) => "no_price_yet",
            Self::InvalidLimit => "invalid_limit",
            Self::Forbidden(_) => "forbidden",
            Self::InvalidPayload(_) => "invalid_payload",
            Self::Signing(_) | Self::Client(_) | Self::Database(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::InvalidPair(_) | Self::InvalidLimit | Self::InvalidPayload(_) => {
                ErrorCode::InvalidRequest
            }
            Self::UnknownPair(_) | Self::NoPrice(_) => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Signing(_) | Self::Client(_) | Self::Database(_) => ErrorCode::Internal,
        }
    }
}

impl From<DbError> for DataFeedsError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::Error> for DataFeedsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
