//! How one service calls another, whichever way they are deployed.
//!
//! A typed service client (for example the AccountPool client) is written once over
//! [`neosl_api::Transport`]; [`ServiceTransport`] implements it: in the all-in-one process it
//! calls the other service's router directly (no socket; the callee sees the caller's identity
//! as verified, since both run in the same process and trust domain); in a
//! one-service-per-process deployment it calls over HTTPS with the caller's MarbleRun
//! certificate (mutual TLS), or over plain HTTP with an `X-Service-ID` header for local
//! development.

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use bytes::Bytes;
pub use neosl_api::{Answer, Outgoing, Transport, TransportError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt as _;

use crate::identity::{PeerIdentity, SERVICE_ID_HEADER};

/// The largest answer read from another service.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The way to another service.
#[derive(Clone)]
pub enum ServiceTransport {
    /// The service's router in this process.
    InProcess {
        /// The callee.
        router: Router,
        /// The calling service (seen by the callee as verified).
        caller: String,
    },
    /// The service over HTTP(S).
    Http {
        /// `https://accountpool:8081` or `http://127.0.0.1:8081`.
        base_url: String,
        /// A client with the caller's certificate (mutual TLS) or a plain one.
        client: reqwest::Client,
        /// The calling service, sent as `X-Service-ID` (checked against the certificate in
        /// strict mode, the only identity without one).
        caller: String,
    },
}

impl std::fmt::Debug for ServiceTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InProcess { caller, .. } => write!(f, "InProcess(caller={caller})"),
            Self::Http {
                base_url, caller, ..
            } => write!(f, "Http({base_url}, caller={caller})"),
        }
    }
}

impl ServiceTransport {
    /// Calls `method path` with an optional JSON body and decodes the JSON answer.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, TransportError> {
        neosl_api::call(self, method, path, body).await
    }

    /// Forwards a request as is (the gateway's proxy): `path` includes any query string;
    /// `headers` are added. Answers the status and body, whatever the status.
    pub async fn forward(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, TransportError> {
        self.exchange(Outgoing {
            method,
            path,
            headers,
            body: Some(body),
        })
        .await
    }
}

#[async_trait]
impl Transport for ServiceTransport {
    /// One request, in-process or over HTTP, with the caller's identity attached the way each
    /// transport carries it; a JSON body when there is one.
    async fn exchange(&self, request: Outgoing<'_>) -> Result<Answer, TransportError> {
        let unreachable = |e: &dyn std::fmt::Display| TransportError::Unreachable(e.to_string());
        let Outgoing {
            method,
            path,
            headers,
            body,
        } = request;
        match self {
            Self::InProcess { router, caller } => {
                let mut request = Request::builder().method(method).uri(path);
                if body.is_some() {
                    request = request.header("content-type", "application/json");
                }
                for (k, v) in headers {
                    request = request.header(*k, v);
                }
                let mut request = request
                    .body(body.map(Body::from).unwrap_or_else(Body::empty))
                    .map_err(|e| unreachable(&e))?;
                request
                    .extensions_mut()
                    .insert(PeerIdentity(caller.clone()));
                let response = router
                    .clone()
                    .oneshot(request)
                    .await
                    .map_err(|e| unreachable(&e))?;
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
                    .await
                    .map_err(|e| unreachable(&e))?;
                Ok(Answer { status, body })
            }
            Self::Http {
                base_url,
                client,
                caller,
            } => {
                let url = format!("{}{path}", base_url.trim_end_matches('/'));
                let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
                    .map_err(|e| unreachable(&e))?;
                let mut request = client
                    .request(method, url)
                    .header(SERVICE_ID_HEADER, caller);
                for (k, v) in headers {
                    request = request.header(*k, v);
                }
                if let Some(b) = body {
                    request = request.header("content-type", "application/json").body(b);
                }
                let response = request.send().await.map_err(|e| unreachable(&e))?;
                let status = response.status().as_u16();
                let body = response.bytes().await.map_err(|e| unreachable(&e))?;
                Ok(Answer { status, body })
            }
        }
    }
}

/// What every service answers on `/health` and `/info`, callable in-process or remotely.
#[async_trait]
pub trait StandardApi: Send + Sync {
    /// `GET /health`.
    async fn health(&self) -> Result<serde_json::Value, TransportError>;
    /// `GET /info`.
    async fn info(&self) -> Result<serde_json::Value, TransportError>;
}

#[async_trait]
impl StandardApi for ServiceTransport {
    async fn health(&self) -> Result<serde_json::Value, TransportError> {
        self.call::<(), _>(Method::GET, "/health", None).await
    }
    async fn info(&self) -> Result<serde_json::Value, TransportError> {
        self.call::<(), _>(Method::GET, "/info", None).await
    }
}
