//! Why a Confidential request is refused, with its stable codes. (How a program's own run ended
//! is a [`crate::runtime::FailureCode`], recorded in the job, not an error of the request.)

use neosl_gasbank::GasBankError;
use neosl_runtime::ErrorCode;
use neosl_runtime::db::DbError;
use neosl_runtime::error::DomainError;

/// A Confidential failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfidentialError {
    /// An engine other than `wasm` or `js`.
    #[error("runtime is \"wasm\" or \"js\", not {0:?}")]
    UnknownRuntime(String),
    /// The code is empty, too large or badly encoded.
    #[error("{0}")]
    InvalidCode(String),
    /// The input is too large or badly encoded.
    #[error("{0}")]
    InvalidInput(String),
    /// A limit outside what this platform allows.
    #[error("{0}")]
    InvalidLimits(String),
    /// A secret name list that is not one.
    #[error("{0}")]
    InvalidSecrets(String),
    /// A contract hash that is not one.
    #[error("{0:?} is not a contract hash (0x followed by 40 hex digits)")]
    InvalidContract(String),
    /// A list parameter outside its range.
    #[error("{0}")]
    InvalidQuery(String),
    /// No such job (or not the caller's).
    #[error("no such job")]
    UnknownJob,
    /// No uploaded code with this hash that the requester may run.
    #[error("no uploaded code {0} that this contract may run")]
    UnknownCode(String),
    /// The GasBank refused (insufficient balance, …).
    #[error(transparent)]
    Bank(#[from] GasBankError),
    /// The Secrets service refused a secret (its code is kept).
    #[error("{message}")]
    Secret {
        /// The Secrets service's code (`secret_not_found`, `service_not_allowed`, …).
        code: &'static str,
        /// Its message.
        message: String,
    },
    /// Too many jobs wait already.
    #[error("too many jobs are waiting; try again shortly")]
    Busy,
    /// A dependency cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed (logged, not shown).
    #[error("database: {0}")]
    Database(String),
}

impl DomainError for ConfidentialError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownRuntime(_) => "unknown_runtime",
            Self::InvalidCode(_) => "invalid_code",
            Self::InvalidInput(_) => "invalid_input",
            Self::InvalidLimits(_) => "invalid_limits",
            Self::InvalidSecrets(_) => "invalid_secrets",
            Self::InvalidContract(_) => "invalid_contract",
            Self::InvalidQuery(_) => "invalid_query",
            Self::UnknownJob => "unknown_job",
            Self::UnknownCode(_) => "unknown_code",
            Self::Bank(e) => e.code(),
            Self::Secret { code, .. } => code,
            Self::Busy => "confidential_busy",
            Self::Unavailable(_) => "confidential_unavailable",
            Self::Database(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::UnknownJob | Self::UnknownCode(_) => ErrorCode::NotFound,
            Self::Bank(e) => e.kind(),
            Self::Secret { code, .. } => match *code {
                "secret_not_found" => ErrorCode::NotFound,
                "service_not_allowed" | "forbidden" => ErrorCode::Forbidden,
                "secret_unreadable" => ErrorCode::Unprocessable,
                _ => ErrorCode::Unavailable,
            },
            Self::Busy => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Database(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::Busy).then_some(1)
    }
}

impl From<DbError> for ConfidentialError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::Error> for ConfidentialError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
