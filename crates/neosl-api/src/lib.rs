//! What typed service clients share, free of server machinery (no axum, no database, no TLS):
//!
//! - [`Transport`]: one request to another service, answered with a status and a body. The
//!   runtime implements it in-process (the callee's router) and over mutual TLS; a typed client
//!   (for example the AccountPool's) is written once over it.
//! - [`ErrorBody`]: the error shape every service answers, `{"success": false, "error", "code",
//!   "timestamp"}`, with its stable `code`.
//! - [`call`]: a JSON request whose error answers become [`TransportError::Api`].

use async_trait::async_trait;
use bytes::Bytes;
pub use http::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The header that carries the request id from service to service.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The error every service answers (the body of any 4xx or 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always false.
    #[serde(default)]
    pub success: bool,
    /// A message for people (never secrets or internal details).
    pub error: String,
    /// The stable machine-readable code.
    pub code: String,
    /// When (Unix seconds).
    #[serde(default)]
    pub timestamp: u64,
}

/// Errors calling another service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The service could not be reached.
    #[error("service unreachable: {0}")]
    Unreachable(String),
    /// The service answered with an error (its status, code and message).
    #[error("{status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The message.
        message: String,
    },
    /// The answer could not be decoded.
    #[error("undecodable answer: {0}")]
    Decode(String),
}

/// A service's answer: its status and body, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error this answer carries (for a non-2xx status).
    pub fn error(&self) -> TransportError {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(body) => TransportError::Api {
                status: self.status,
                code: body.code,
                message: body.error,
            },
            Err(_) => TransportError::Api {
                status: self.status,
                code: "unknown".into(),
                message: String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect(),
            },
        }
    }
}

/// One outgoing request.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The method.
    pub method: Method,
    /// The path, with any query string.
    pub path: &'a str,
    /// Extra headers (the caller's identity is the transport's business).
    pub headers: &'a [(&'a str, String)],
    /// A JSON body.
    pub body: Option<Bytes>,
}

/// The way to another service: in-process, or over the network with the caller's identity.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends one request and answers the status and body, whatever the status.
    async fn exchange(&self, request: Outgoing<'_>) -> Result<Answer, TransportError>;
}

/// Calls `method path` with an optional JSON body and decodes the JSON answer; an error answer
/// becomes [`TransportError::Api`] with the service's code.
pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
    transport: &dyn Transport,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<T, TransportError> {
    let body = body
        .map(|b| serde_json::to_vec(b).map(Bytes::from))
        .transpose()
        .map_err(|e| TransportError::Decode(e.to_string()))?;
    let answer = transport
        .exchange(Outgoing {
            method,
            path,
            headers: &[],
            body,
        })
        .await?;
    if !answer.is_success() {
        return Err(answer.error());
    }
    serde_json::from_slice(&answer.body).map_err(|e| TransportError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_carry_the_services_code() {
        let answer = Answer {
            status: 409,
            body: Bytes::from_static(
                br#"{"success":false,"error":"held","code":"lock_expired","timestamp":1}"#,
            ),
        };
        assert!(!answer.is_success());
        assert_eq!(
            answer.error(),
            TransportError::Api {
                status: 409,
                code: "lock_expired".into(),
                message: "held".into()
            }
        );
        let plain = Answer {
            status: 502,
            body: Bytes::from_static(b"bad gateway"),
        };
        assert!(matches!(plain.error(), TransportError::Api { code, .. } if code == "unknown"));
    }
}

/// The Secrets service's internal route, as the services allowed to use a secret call it.
pub mod secrets {
    use serde::{Deserialize, Serialize};
    use zeroize::Zeroizing;

    /// The internal route (never offered through the gateway).
    pub const USE_PATH: &str = "/secrets/use";

    /// Whether `name` can name a secret: 1 to 64 of `A-Z a-z 0-9 _ . -`, starting with a letter,
    /// and not `audit` (the audit log's path). The Secrets service stores by it; services that
    /// name secrets check with it before asking.
    pub fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        name.len() <= 64
            && name != "audit"
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    }

    /// `POST /secrets/use`: the values of `names` of `owner`, for one use named by `purpose`
    /// (a job id); the caller is the verified service identity.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct UseRequest {
        /// Whose secrets (a user id).
        pub owner: String,
        /// Which (at most 16).
        pub names: Vec<String>,
        /// What for, recorded in the owner's audit log.
        pub purpose: String,
    }

    /// The values, in the order asked.
    #[derive(Clone, Serialize, Deserialize)]
    pub struct UseAnswer {
        /// One per name.
        pub secrets: Vec<GrantedSecret>,
    }

    /// One secret's value (zeroized on drop, never printed).
    #[derive(Clone, Serialize, Deserialize)]
    pub struct GrantedSecret {
        /// Its name.
        pub name: String,
        /// Its value.
        pub value: Zeroizing<String>,
    }

    impl std::fmt::Debug for GrantedSecret {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("GrantedSecret")
                .field("name", &self.name)
                .field("value", &"[REDACTED]")
                .finish()
        }
    }

    impl std::fmt::Debug for UseAnswer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_list().entries(&self.secrets).finish()
        }
    }
}

/// What the on-chain worker and a service exchange to fulfil one request from a contract.
pub mod onchain {
    use serde::{Deserialize, Serialize};

    /// `POST <fulfil path>`: serve request `request_id` of gateway `gateway` on `network`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct FulfilRequest {
        /// The network magic (signed into the fulfilment).
        pub network: u32,
        /// The gateway contract (display form, `0x…`).
        pub gateway: String,
        /// The request id.
        pub request_id: u64,
        /// The requesting contract (display form).
        pub requester: String,
        /// The request's payload (hex).
        pub payload: String,
        /// The service contract's event for the request (stack-item JSON), when it emits one.
        pub event: Option<serde_json::Value>,
    }

    /// What the on-chain worker tells a pushing service each round.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PushRequest {
        /// The network magic.
        pub network: u32,
        /// The gateway contract (display form).
        pub gateway: String,
        /// The service's contract, as the gateway registers it (display form).
        pub contract: String,
        /// The references of the service's calls sent and not yet final.
        #[serde(default)]
        pub in_flight: Vec<String>,
    }

    /// The calls a service wants made on its contract, in one transaction.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PushAnswer {
        /// None when there is nothing to send.
        pub calls: Vec<PushCall>,
    }

    /// One contract call of a push.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PushCall {
        /// The method of the service's contract.
        pub method: String,
        /// Its arguments (contract-parameter RPC JSON).
        pub args: Vec<serde_json::Value>,
        /// What the call carries, as the service names it (`BTC/USD#17`): reported back in
        /// `in_flight` until the transaction is final.
        pub references: Vec<String>,
    }

    /// The service's answer: the result and its TEE signature over the fulfilment message.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct FulfilAnswer {
        /// Whether the service succeeded (a failure is delivered too, with its result).
        pub success: bool,
        /// The result the callback receives (hex).
        pub result: String,
        /// The signature (hex, 64 bytes r‖s).
        pub signature: String,
    }
}
