//! Errors of the chain client.

use std::time::Duration;

use neosl_neo::{NeoError, UInt256};
use thiserror::Error;

/// What a JSON-RPC error code means (the standard codes of Neo proposal 156, as NeoGo and the
/// C# node send them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcErrorKind {
    /// -101: no such block.
    UnknownBlock,
    /// -102: no such contract.
    UnknownContract,
    /// -103: no such transaction (not in a block, not in the pool).
    UnknownTransaction,
    /// -104: no such storage item.
    UnknownStorageItem,
    /// -105: no such script container (block or transaction).
    UnknownScriptContainer,
    /// -106: no such state root.
    UnknownStateRoot,
    /// -107: no such session.
    UnknownSession,
    /// -108: no such iterator.
    UnknownIterator,
    /// -109: no such height.
    UnknownHeight,
    /// -500: verification failed for an unclassified reason.
    VerificationFailed,
    /// -501: the transaction is already on chain.
    AlreadyExists,
    /// -502: the memory pool is full.
    MempoolCapReached,
    /// -503: the transaction is already in the memory pool.
    AlreadyInPool,
    /// -504: the network fee is too low.
    InsufficientNetworkFee,
    /// -505: refused by policy (blocked account, fee limits).
    PolicyFailed,
    /// -506: the script is invalid.
    InvalidScript,
    /// -507: an attribute is invalid.
    InvalidAttribute,
    /// -508: a witness signature is invalid.
    InvalidSignature,
    /// -509: the transaction is too large.
    InvalidSize,
    /// -510: valid-until-block has passed (or is too far ahead).
    ExpiredTransaction,
    /// -511 (and -300): the sender cannot pay the fees.
    InsufficientFunds,
    /// -512: the verification script is invalid.
    InvalidVerificationFunction,
    /// -32602: invalid parameters.
    InvalidParams,
    /// -32601: unknown method.
    MethodNotFound,
    /// -32600 / -32700: malformed request.
    InvalidRequest,
    /// -32603: the node failed internally.
    Internal,
    /// Any other code.
    Other,
}

impl RpcErrorKind {
    /// Classifies a JSON-RPC error code.
    pub fn from_code(code: i64) -> Self {
        match code {
            -101 => Self::UnknownBlock,
            -102 => Self::UnknownContract,
            -103 => Self::UnknownTransaction,
            -104 => Self::UnknownStorageItem,
            -105 => Self::UnknownScriptContainer,
            -106 => Self::UnknownStateRoot,
            -107 => Self::UnknownSession,
            -108 => Self::UnknownIterator,
            -109 => Self::UnknownHeight,
            -500 => Self::VerificationFailed,
            -501 => Self::AlreadyExists,
            -502 => Self::MempoolCapReached,
            -503 => Self::AlreadyInPool,
            -504 => Self::InsufficientNetworkFee,
            -505 => Self::PolicyFailed,
            -506 => Self::InvalidScript,
            -507 => Self::InvalidAttribute,
            -508 => Self::InvalidSignature,
            -509 => Self::InvalidSize,
            -510 => Self::ExpiredTransaction,
            -511 | -300 => Self::InsufficientFunds,
            -512 => Self::InvalidVerificationFunction,
            -32602 => Self::InvalidParams,
            -32601 => Self::MethodNotFound,
            -32600 | -32700 => Self::InvalidRequest,
            -32603 => Self::Internal,
            _ => Self::Other,
        }
    }
}

/// Errors of the chain client.
#[derive(Debug, Error)]
pub enum ChainError {
    /// No endpoint answered (connection refused, timeout, non-JSON answer).
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The node answered with a JSON-RPC error.
    #[error("RPC error {code} ({kind:?}): {message}")]
    Rpc {
        /// The classified error.
        kind: RpcErrorKind,
        /// The raw code.
        code: i64,
        /// The node's message.
        message: String,
        /// The node's extra data.
        data: Option<String>,
    },
    /// The node answered something this client cannot decode.
    #[error("unexpected RPC response for {method}: {reason}")]
    Decode {
        /// The method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// A test invocation ended in FAULT, so the transaction was not sent.
    #[error("test invocation faulted: {exception}")]
    InvocationFault {
        /// The VM exception.
        exception: String,
    },
    /// A transaction was not included in time.
    #[error("transaction {hash} not included within {waited:?}")]
    NotIncluded {
        /// The transaction.
        hash: UInt256,
        /// How long the client waited.
        waited: Duration,
    },
    /// A transaction can no longer be included: its valid-until-block has passed.
    #[error("transaction {hash} expired at block {valid_until_block} without being included")]
    Expired {
        /// The transaction.
        hash: UInt256,
        /// Its last valid block.
        valid_until_block: u32,
    },
    /// A signer could not sign.
    #[error("signing failed: {0}")]
    Signer(String),
    /// Invalid protocol data (a malformed transaction, script or value).
    #[error(transparent)]
    Protocol(#[from] NeoError),
}

impl ChainError {
    /// The RPC error kind, if this is an RPC error.
    pub fn rpc_kind(&self) -> Option<RpcErrorKind> {
        match self {
            Self::Rpc { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether the node does not know the block, transaction or script container asked for.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.rpc_kind(),
            Some(
                RpcErrorKind::UnknownTransaction
                    | RpcErrorKind::UnknownScriptContainer
                    | RpcErrorKind::UnknownBlock
            )
        )
    }

    /// Whether trying again later may succeed (the chain was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
            || matches!(
                self.rpc_kind(),
                Some(RpcErrorKind::MempoolCapReached | RpcErrorKind::Internal)
            )
    }
}

/// Result alias of the chain client.
pub type Result<T> = std::result::Result<T, ChainError>;
