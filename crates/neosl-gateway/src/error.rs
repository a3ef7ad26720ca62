//! Every way the gateway refuses a request, with its stable code and kind in one table.

use neosl_runtime::ErrorCode;
use neosl_runtime::error::DomainError;

/// A refusal of the gateway (GasBank refusals keep their own codes, see
/// [`neosl_gasbank::GasBankError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No access token or API key was presented.
    #[error("an access token or an API key is required")]
    CredentialsRequired,
    /// The token or key is malformed, unknown, expired or revoked.
    #[error("{0}")]
    InvalidToken(String),
    /// A rotated refresh token was presented again; its session is ended.
    #[error("this refresh token was already used; the session is ended, sign in again")]
    RefreshTokenReused,
    /// Wrong e-mail or password.
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// A wallet login whose key or signature does not check out.
    #[error("{0}")]
    InvalidSignature(String),
    /// A wallet login nonce that is unknown, used or expired.
    #[error("unknown, used or expired nonce")]
    InvalidNonce,
    /// The e-mail is registered already.
    #[error("this e-mail is already registered")]
    EmailTaken,
    /// Not a valid e-mail address.
    #[error("not a valid e-mail address: {0}")]
    InvalidEmail(String),
    /// A password outside the rules.
    #[error("{0}")]
    WeakPassword(String),
    /// Too many password checks at once.
    #[error("too many sign-ins at once; retry shortly")]
    AuthBusy,
    /// An API key tried to manage API keys.
    #[error("API keys are managed with a signed-in session, not with an API key")]
    SessionRequired,
    /// Logging out needs the session's access token.
    #[error("log out with the session's access token, not an API key")]
    LogoutNeedsSession,
    /// The API key's scopes do not cover the request.
    #[error("this API key's scopes do not allow this request")]
    ScopeDenied,
    /// Scopes that are not areas of this platform.
    #[error("{0}")]
    InvalidScope(String),
    /// The user holds as many live API keys as allowed.
    #[error("at most {0} live API keys per user; revoke one first")]
    TooManyApiKeys(u32),
    /// An API key name outside 1 to 64 characters.
    #[error("name is 1 to 64 characters")]
    InvalidKeyName,
    /// No such API key (of this user).
    #[error("no such API key")]
    UnknownApiKey,
    /// No such user.
    #[error("no such user")]
    UnknownUser,
    /// The caller's own user record is gone.
    #[error("no such user")]
    NoSuchUser,
    /// Not a Neo address.
    #[error("{0}")]
    InvalidAddress(String),
    /// Not a contract script hash.
    #[error("{0}")]
    InvalidContract(String),
    /// Not a transaction hash.
    #[error("{0}")]
    MalformedHash(String),
    /// A list limit outside 1 to 1000.
    #[error("limit is 1 to 1000")]
    InvalidLimit,
    /// Deposit addresses need the GasBank master key.
    #[error("deposits are not configured")]
    DepositsUnavailable,
    /// The chain is not configured (or does not answer).
    #[error("{0}")]
    ChainUnavailable(String),
    /// The transaction pays nothing to this user's deposit address.
    #[error("the transaction sends no GAS to this user's deposit address")]
    NoDeposit,
    /// The operator endpoints are not enabled (no operator token is injected).
    #[error("operator endpoints are not enabled")]
    OperatorDisabled,
    /// A wrong or missing operator token.
    #[error("a valid X-Admin-Token is required")]
    OperatorTokenRequired,
    /// The service behind a route cannot be reached from this gateway.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A planned service this platform build does not run.
    #[error("the {0} service is not deployed on this gateway")]
    ServiceNotDeployed(String),
    /// A fee that overflows.
    #[error("the fee of this call overflows")]
    FeeOverflow,
}

impl DomainError for GatewayError {
    fn code(&self) -> &'static str {
        match self {
            Self::CredentialsRequired => "unauthenticated",
            Self::InvalidToken(_) => "invalid_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidSignature(_) => "invalid_signature",
            Self::InvalidNonce => "invalid_nonce",
            Self::EmailTaken => "email_taken",
            Self::InvalidEmail(_) => "invalid_email",
            Self::WeakPassword(_) => "weak_password",
            Self::AuthBusy => "auth_busy",
            Self::SessionRequired => "session_required",
            Self::LogoutNeedsSession | Self::InvalidKeyName | Self::InvalidLimit => {
                "invalid_request"
            }
            Self::ScopeDenied => "scope_denied",
            Self::InvalidScope(_) => "invalid_scope",
            Self::TooManyApiKeys(_) => "too_many_api_keys",
            Self::UnknownApiKey | Self::NoSuchUser => "not_found",
            Self::UnknownUser => "unknown_user",
            Self::InvalidAddress(_) => "invalid_address",
            Self::InvalidContract(_) => "invalid_contract",
            Self::MalformedHash(_) => "malformed_hash",
            Self::DepositsUnavailable => "deposits_unavailable",
            Self::ChainUnavailable(_) => "chain_unavailable",
            Self::NoDeposit => "no_deposit",
            Self::OperatorDisabled | Self::OperatorTokenRequired => "forbidden",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::ServiceNotDeployed(_) => "service_not_deployed",
            Self::FeeOverflow => "internal_error",
        }
    }

    fn kind(&self) -> ErrorCode {
        match self {
            Self::CredentialsRequired
            | Self::InvalidToken(_)
            | Self::RefreshTokenReused
            | Self::InvalidCredentials
            | Self::InvalidSignature(_)
            | Self::InvalidNonce => ErrorCode::Unauthenticated,
            Self::EmailTaken | Self::TooManyApiKeys(_) => ErrorCode::Conflict,
            Self::InvalidEmail(_)
            | Self::WeakPassword(_)
            | Self::LogoutNeedsSession
            | Self::InvalidScope(_)
            | Self::InvalidKeyName
            | Self::InvalidAddress(_)
            | Self::InvalidContract(_)
            | Self::MalformedHash(_)
            | Self::InvalidLimit => ErrorCode::InvalidRequest,
            Self::SessionRequired
            | Self::ScopeDenied
            | Self::OperatorDisabled
            | Self::OperatorTokenRequired => ErrorCode::Forbidden,
            Self::UnknownApiKey | Self::UnknownUser | Self::NoSuchUser | Self::NoDeposit => {
                ErrorCode::NotFound
            }
            Self::AuthBusy
            | Self::DepositsUnavailable
            | Self::ChainUnavailable(_)
            | Self::ServiceUnavailable(_)
            | Self::ServiceNotDeployed(_) => ErrorCode::Unavailable,
            Self::FeeOverflow => ErrorCode::Internal,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::AuthBusy).then_some(1)
    }
}
