//! Mutual TLS from MarbleRun's certificates.
//!
//! MarbleRun hands each marble its certificate chain, private key and the root CA as PEM in
//! `MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN`, `MARBLE_PREDEFINED_PRIVATE_KEY` and
//! `MARBLE_PREDEFINED_ROOT_CA`. Servers require a client certificate from the same CA; clients
//! present their own. A peer's service name is the first DNS name of its certificate's SAN
//! other than `localhost` (MarbleRun adds `localhost` to marble certificates; the marble's own
//! name comes from `EDG_MARBLE_DNS_NAMES`), or its CN when there is none.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use crate::secrets::SecretSource;

/// The MarbleRun variable holding the certificate chain (PEM).
pub const ENV_CERT_CHAIN: &str = "MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN";
/// The MarbleRun variable holding the private key (PEM).
pub const ENV_PRIVATE_KEY: &str = "MARBLE_PREDEFINED_PRIVATE_KEY";
/// The MarbleRun variable holding the root CA (PEM).
pub const ENV_ROOT_CA: &str = "MARBLE_PREDEFINED_ROOT_CA";

/// TLS set-up errors.
#[derive(Debug, Error)]
pub enum TlsError {
    /// PEM input is missing or malformed (which variable or file).
    #[error("invalid TLS material: {0}")]
    Invalid(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A service's certificate chain, key and trusted root.
pub struct TlsMaterial {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field(
                "identity",
                &self.chain.first().and_then(|c| peer_service_name(c)),
            )
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TlsMaterial {
    /// From PEM text: the chain (leaf first), the private key, and the root CA.
    pub fn from_pem(chain_pem: &str, key_pem: &str, root_pem: &str) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Invalid(format!("certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError::Invalid(
                "certificate chain: no certificate".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| TlsError::Invalid("private key: not a PEM private key".into()))?;
        let mut roots = RootCertStore::empty();
        for root in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            let root = root.map_err(|e| TlsError::Invalid(format!("root CA: {e}")))?;
            roots
                .add(root)
                .map_err(|e| TlsError::Invalid(format!("root CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(TlsError::Invalid("root CA: no certificate".into()));
        }
        Ok(Self {
            chain,
            key,
            roots: Arc::new(roots),
        })
    }

    /// From MarbleRun's variables; `None` when none of them is set, an error when only some are.
    pub fn from_marble_env(source: &dyn SecretSource) -> Result<Option<Self>, TlsError> {
        let chain = source.var(ENV_CERT_CHAIN).filter(|v| !v.is_empty());
        let key = source
            .var(ENV_PRIVATE_KEY)
            .map(zeroize::Zeroizing::new)
            .filter(|v| !v.is_empty());
        let root = source.var(ENV_ROOT_CA).filter(|v| !v.is_empty());
        match (chain, key, root) {
            (None, None, None) => Ok(None),
            (Some(c), Some(k), Some(r)) => Self::from_pem(&c, &k, &r).map(Some),
            _ => Err(TlsError::Invalid(format!(
                "set all of {ENV_CERT_CHAIN}, {ENV_PRIVATE_KEY} and {ENV_ROOT_CA}, or none"
            ))),
        }
    }

    /// The service name in this material's own certificate.
    pub fn own_name(&self) -> Option<String> {
        self.chain.first().and_then(|c| peer_service_name(c))
    }

    /// A server configuration that requires client certificates from the root CA.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Invalid(format!("client verifier: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A client configuration that trusts the root CA and presents this certificate.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let verifier = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Invalid(format!("server verifier: {e}")))?;
        Ok(ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_webpki_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?)
    }

    /// An HTTP client for calling other services over mutual TLS.
    pub fn http_client(&self) -> Result<reqwest::Client, TlsError> {
        reqwest::Client::builder()
            .tls_backend_preconfigured(self.client_config()?)
            .build()
            .map_err(|e| TlsError::Invalid(format!("HTTP client: {e}")))
    }
}

/// The service name a certificate proves: its first DNS SAN other than `localhost`, else its CN.
pub fn peer_service_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name
                && *dns != "localhost"
            {
                return Some((*dns).to_owned());
            }
        }
    }
    parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}
