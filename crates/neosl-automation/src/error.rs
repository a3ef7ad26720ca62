//! Why an Automation request is refused, with its stable codes.

use neosl_runtime::ErrorCode;
use neosl_runtime::db::DbError;
use neosl_runtime::error::DomainError;

/// An Automation failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutomationError {
    /// The body is not a trigger.
    #[error("{0}")]
    InvalidTrigger(String),
    /// The name is empty or too long.
    #[error("a name is 1 to 100 characters")]
    InvalidName,
    /// The cron expression does not parse.
    #[error("invalid cron expression: {0}")]
    InvalidCron(String),
    /// The condition is malformed.
    #[error("{0}")]
    InvalidCondition(String),
    /// A pair DataFeeds does not serve.
    #[error("{0} is not a pair DataFeeds serves")]
    UnknownPair(String),
    /// Not a Neo address (or a bad checksum).
    #[error("{0:?} is not a Neo address")]
    InvalidAddress(String),
    /// Not a contract hash, or not a deployed contract.
    #[error("{0} is not a deployed contract")]
    InvalidContract(String),
    /// The target contract has no such method.
    #[error("the contract has no method {0:?} with these arguments")]
    InvalidMethod(String),
    /// The arguments do not fit.
    #[error("{0}")]
    InvalidArguments(String),
    /// The gas limit is out of range.
    #[error("gas_limit is 1 to {0} (10^-8 GAS)")]
    InvalidGasLimit(i64),
    /// A list limit outside 1 to 1000.
    #[error("limit is 1 to 1000")]
    InvalidLimit,
    /// No such trigger (or not the caller's).
    #[error("no such trigger")]
    UnknownTrigger,
    /// The owner has as many triggers as allowed.
    #[error("at most {0} triggers per owner")]
    TooManyTriggers(usize),
    /// The chain cannot be reached (needed to check a contract).
    #[error("the chain cannot be reached: {0}")]
    ChainUnavailable(String),
    /// The database failed (logged, not shown).
    #[error("database: {0}")]
    Database(String),
}

impl DomainError for AutomationError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidTrigger(_) => "invalid_trigger",
            Self::InvalidName => "invalid_name",
            Self::InvalidCron(_) => "invalid_cron",
            Self::InvalidCondition(_) => "invalid_condition",
            Self::UnknownPair(_) => "unknown_pair",
            Self::InvalidAddress(_) => "invalid_address",
            Self::InvalidContract(_) => "invalid_contract",
            Self::InvalidMethod(_) => "invalid_method",
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::InvalidGasLimit(_) => "invalid_gas_limit",
            Self::InvalidLimit => "invalid_limit",
            Self::UnknownTrigger => "unknown_trigger",
            Self::TooManyTriggers(_) => "too_many_triggers",
            Self::ChainUnavailable(_) => "chain_unavailable",
            Self::Database(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::UnknownTrigger => ErrorCode::NotFound,
            Self::TooManyTriggers(_) => ErrorCode::Conflict,
            Self::ChainUnavailable(_) => ErrorCode::Unavailable,
            Self::Database(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl From<DbError> for AutomationError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::Error> for AutomationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
