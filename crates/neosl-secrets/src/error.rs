//! Why a Secrets operation is refused, with its stable codes.

use neosl_runtime::ErrorCode;
use neosl_runtime::db::DbError;
use neosl_runtime::error::DomainError;

/// A Secrets failure. Messages name secrets and services, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// A name outside the rules.
    #[error(
        "a secret name is 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter (and not `audit`)"
    )]
    InvalidName,
    /// An empty or oversized value.
    #[error("a secret value is 1 to {0} bytes of text")]
    InvalidValue(usize),
    /// A service that does not exist here or may never use secrets.
    #[error("{0:?} is not a service that can use secrets here")]
    UnknownService(String),
    /// Too many allowed services, or too many names in one use.
    #[error("{0}")]
    TooMany(String),
    /// The owner has as many secrets as allowed.
    #[error("at most {0} secrets per owner")]
    SecretLimit(usize),
    /// No such secret.
    #[error("no secret named {0:?}")]
    NotFound(String),
    /// The calling service is not in the secret's `allowed_services`.
    #[error("the {service} service may not use secret {name:?}")]
    ServiceNotAllowed {
        /// The caller.
        service: String,
        /// The secret.
        name: String,
    },
    /// Only services call the use route, never a user through the gateway.
    #[error("only a service allowed by the secret may use it")]
    Forbidden,
    /// A limit outside 1 to 500.
    #[error("limit is 1 to 500")]
    InvalidLimit,
    /// The stored row does not open (altered, moved, or sealed under a key not held).
    #[error("secret {0:?} cannot be opened; the operator has been told")]
    Unreadable(String),
    /// The database failed (logged, not shown).
    #[error("database: {0}")]
    Database(String),
}

impl DomainError for SecretsError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidName => "invalid_secret_name",
            Self::InvalidValue(_) => "invalid_secret_value",
            Self::UnknownService(_) => "unknown_service",
            Self::TooMany(_) => "too_many",
            Self::SecretLimit(_) => "secret_limit_reached",
            Self::NotFound(_) => "secret_not_found",
            Self::ServiceNotAllowed { .. } => "service_not_allowed",
            Self::Forbidden => "forbidden",
            Self::InvalidLimit => "invalid_limit",
            Self::Unreadable(_) => "secret_unreadable",
            Self::Database(_) => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::ServiceNotAllowed { .. } | Self::Forbidden => ErrorCode::Forbidden,
            Self::SecretLimit(_) => ErrorCode::Conflict,
            Self::Unreadable(_) => ErrorCode::Unprocessable,
            Self::Database(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl From<DbError> for SecretsError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<sqlx::Error> for SecretsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
