//! What a service tells a client about itself: its mode, its enclave evidence when there is any,
//! and the hashes of the public keys it signs with.
//!
//! Under Gramine on SGX, `/dev/attestation` produces a quote; the SHA-256 of the service's
//! published public keys goes into the quote's report data, binding the keys to the enclave.
//! In simulation mode the report says plainly that nothing is attested.

use std::path::Path;

use neosl_crypto::PublicKey;
use neosl_crypto::hash::sha256;
use serde::Serialize;

use crate::RuntimeMode;

/// A public key a service signs with.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublishedKey {
    /// What the key signs (for example `vrf` or `accountpool-master`).
    pub purpose: String,
    /// The compressed public key, hex.
    pub public_key: String,
    /// SHA-256 of the compressed public key, hex.
    pub sha256: String,
}

impl PublishedKey {
    /// Describes `key` used for `purpose`.
    pub fn new(purpose: impl Into<String>, key: &PublicKey) -> Self {
        let bytes = key.to_compressed();
        Self {
            purpose: purpose.into(),
            public_key: hex::encode(bytes),
            sha256: hex::encode(sha256(&bytes)),
        }
    }
}

/// Evidence from the enclave.
#[derive(Debug, Clone, Serialize)]
pub struct EnclaveEvidence {
    /// The kind of evidence (`sgx-dcap-quote`).
    pub kind: &'static str,
    /// The quote, base64.
    pub quote: String,
    /// The report data bound into the quote: SHA-256 of the concatenated public keys, hex.
    pub report_data: String,
}

/// The attestation report of a service.
#[derive(Debug, Clone, Serialize)]
pub struct Attestation {
    /// The service.
    pub service: String,
    /// `enclave` or `simulation`.
    pub mode: RuntimeMode,
    /// Whether anything here is backed by hardware evidence.
    pub attested: bool,
    /// The enclave's quote, when running under Gramine on SGX.
    pub enclave: Option<EnclaveEvidence>,
    /// The keys the service signs with.
    pub public_keys: Vec<PublishedKey>,
    /// A plain statement of what this report proves.
    pub statement: String,
}

/// The report data for a set of keys: SHA-256 over their compressed encodings, in order.
pub fn report_data(keys: &[PublishedKey]) -> [u8; 32] {
    let mut all = Vec::new();
    for key in keys {
        all.extend(hex::decode(&key.public_key).unwrap_or_default());
    }
    sha256(&all)
}

/// Collects the report. In enclave mode under Gramine it asks `/dev/attestation` for a quote
/// over the keys' report data.
pub fn collect(service: &str, mode: RuntimeMode, public_keys: Vec<PublishedKey>) -> Attestation {
    let data = report_data(&public_keys);
    let (enclave, statement) = match mode {
        RuntimeMode::Simulation => (
            None,
            "simulation mode: nothing is attested; the keys below are development keys unless real secrets were injected"
                .to_owned(),
        ),
        RuntimeMode::Enclave => match gramine_quote(Path::new("/dev/attestation"), &data) {
            Ok(quote) => (
                Some(EnclaveEvidence {
                    kind: "sgx-dcap-quote",
                    quote: base64_encode(&quote),
                    report_data: hex::encode(data),
                }),
                "enclave mode: the quote binds the SHA-256 of these public keys (report data) to the enclave measurement"
                    .to_owned(),
            ),
            Err(e) => (None, format!("enclave mode, but no quote is available: {e}")),
        },
    };
    Attestation {
        service: service.to_owned(),
        mode,
        attested: enclave.is_some(),
        enclave,
        public_keys,
        statement,
    }
}

fn gramine_quote(device: &Path, report_data: &[u8; 32]) -> std::io::Result<Vec<u8>> {
    let mut user_data = [0u8; 64];
    user_data[..32].copy_from_slice(report_data);
    std::fs::write(device.join("user_report_data"), user_data)?;
    std::fs::read(device.join("quote"))
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_says_nothing_is_attested() {
        let key = neosl_crypto::SecretKey::from_bytes(&[5; 32])
            .expect("key")
            .public_key();
        let report = collect(
            "vrf",
            RuntimeMode::Simulation,
            vec![PublishedKey::new("vrf", &key)],
        );
        assert!(!report.attested);
        assert!(report.enclave.is_none());
        assert!(report.statement.contains("nothing is attested"));
        assert_eq!(
            report.public_keys[0].sha256,
            hex::encode(sha256(&key.to_compressed()))
        );
    }

    #[test]
    fn enclave_mode_without_a_device_is_reported_not_faked() {
        let report = collect("vrf", RuntimeMode::Enclave, vec![]);
        assert!(!report.attested);
        assert!(report.statement.contains("no quote"));
    }
}
