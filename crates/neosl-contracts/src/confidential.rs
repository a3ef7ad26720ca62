//! Confidential compute: the message its key signs over every result, the payload a contract
//! sends (`requestService("confidential", uploadId ‖ input, callback)`) and the result its
//! callback receives.
//!
//! The signed message is `neosl-confidential-result|v1|` ‖ engine (one length byte, then its
//! name) ‖ `code_hash` ‖ `input_hash` ‖ `secrets_hash` ‖ `output_hash`, each hash SHA-256 (32
//! bytes): the code as uploaded, the input, the names of the secrets the job was granted (each
//! name one length byte then its bytes, in the job's order) and the output. The signature is
//! ECDSA P-256 over SHA-256 of the message (`CryptoLib.verifyWithECDsa` with
//! `secp256r1SHA256` checks it on chain), 64 bytes `r ‖ s`.

use neosl_neo::param::StackItem;
use neosl_neo::serialize;

/// The service id the gateway knows Confidential compute by.
pub const SERVICE_ID: &str = "confidential";

/// The domain of the result message.
pub const RESULT_DOMAIN: &[u8] = b"neosl-confidential-result|v1|";

/// What a result's signature binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// `wasm` or `js`.
    pub engine: String,
    /// SHA-256 of the code as uploaded.
    pub code_hash: [u8; 32],
    /// SHA-256 of the input.
    pub input_hash: [u8; 32],
    /// [`secrets_hash`] of the granted secrets' names.
    pub secrets_hash: [u8; 32],
    /// SHA-256 of the output.
    pub output_hash: [u8; 32],
}

/// The id of an upload (what a contract's payload names): SHA-256 of
/// `neosl-confidential-upload|` ‖ the uploader ‖ `|` ‖ the code's SHA-256 (hex), as hex. Two
/// users uploading the same code get two ids, so a contract runs exactly the upload it names.
pub fn upload_id(owner: &str, code_hash_hex: &str) -> String {
    let mut bytes = b"neosl-confidential-upload|".to_vec();
    bytes.extend_from_slice(owner.as_bytes());
    bytes.push(b'|');
    bytes.extend_from_slice(code_hash_hex.as_bytes());
    hex::encode(neosl_crypto::hash::sha256(&bytes))
}

/// SHA-256 over the granted secrets' names (each one length byte, then the name).
pub fn secrets_hash(names: &[String]) -> [u8; 32] {
    let mut bytes = Vec::new();
    for name in names {
        bytes.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        bytes.extend_from_slice(name.as_bytes());
    }
    neosl_crypto::hash::sha256(&bytes)
}

impl Attestation {
    /// The signed message.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(RESULT_DOMAIN.len() + 1 + self.engine.len() + 128);
        m.extend_from_slice(RESULT_DOMAIN);
        m.push(u8::try_from(self.engine.len()).unwrap_or(u8::MAX));
        m.extend_from_slice(self.engine.as_bytes());
        for hash in [
            &self.code_hash,
            &self.input_hash,
            &self.secrets_hash,
            &self.output_hash,
        ] {
            m.extend_from_slice(hash);
        }
        m
    }
}

/// Errors decoding confidential payloads and results.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfidentialDataError(pub String);

/// What a contract asks: the upload's id ([`upload_id`], 32 bytes), then the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputePayload {
    /// The upload's id (the field keeps its wire name: the first 32 bytes).
    pub code_hash: [u8; 32],
    /// The input.
    pub input: Vec<u8>,
}

impl ComputePayload {
    /// The payload bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        [self.code_hash.as_slice(), &self.input].concat()
    }

    /// Reads a payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfidentialDataError> {
        let (hash, input) = bytes.split_at_checked(32).ok_or_else(|| {
            ConfidentialDataError("the payload starts with the code's 32-byte hash".into())
        })?;
        Ok(Self {
            code_hash: hash.try_into().unwrap_or([0; 32]),
            input: input.to_vec(),
        })
    }
}

/// What the callback receives on success: `StdLib.serialize([codeHash, inputHash,
/// secretsHash, output, signature])` (on failure the result is the failure's code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeResult {
    /// SHA-256 of the code.
    pub code_hash: [u8; 32],
    /// SHA-256 of the input.
    pub input_hash: [u8; 32],
    /// [`secrets_hash`] of the granted names.
    pub secrets_hash: [u8; 32],
    /// The output.
    pub output: Vec<u8>,
    /// The Confidential key's signature over the [`Attestation`] message (64 bytes).
    pub signature: Vec<u8>,
}

impl ComputeResult {
    /// The serialized result.
    pub fn to_bytes(&self) -> neosl_neo::Result<Vec<u8>> {
        serialize::serialize(&StackItem::Array(vec![
            StackItem::ByteString(self.code_hash.to_vec()),
            StackItem::ByteString(self.input_hash.to_vec()),
            StackItem::ByteString(self.secrets_hash.to_vec()),
            StackItem::ByteString(self.output.clone()),
            StackItem::ByteString(self.signature.clone()),
        ]))
    }

    /// Reads a result.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfidentialDataError> {
        let bad = |m: &str| ConfidentialDataError(m.to_owned());
        let item =
            serialize::deserialize(bytes).map_err(|e| ConfidentialDataError(e.to_string()))?;
        let fields = item.as_array().ok_or_else(|| bad("not an array"))?;
        let [code, input, secrets, output, signature] = fields else {
            return Err(bad(
                "not [codeHash, inputHash, secretsHash, output, signature]",
            ));
        };
        let hash = |item: &StackItem, what: &str| {
            item.as_bytes()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| bad(&format!("{what} is not 32 bytes")))
        };
        Ok(Self {
            code_hash: hash(code, "codeHash")?,
            input_hash: hash(input, "inputHash")?,
            secrets_hash: hash(secrets, "secretsHash")?,
            output: output
                .as_bytes()
                .ok_or_else(|| bad("output is not bytes"))?,
            signature: signature
                .as_bytes()
                .ok_or_else(|| bad("signature is not bytes"))?,
        })
    }

    /// The attestation it carries, for `engine`.
    pub fn attestation(&self, engine: &str) -> Attestation {
        Attestation {
            engine: engine.to_owned(),
            code_hash: self.code_hash,
            input_hash: self.input_hash,
            secrets_hash: self.secrets_hash,
            output_hash: neosl_crypto::hash::sha256(&self.output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_and_results_round_trip() {
        let payload = ComputePayload {
            code_hash: [7; 32],
            input: b"hello".to_vec(),
        };
        assert_eq!(ComputePayload::from_bytes(&payload.to_bytes()), Ok(payload));
        assert!(ComputePayload::from_bytes(&[1; 31]).is_err());
        let result = ComputeResult {
            code_hash: [1; 32],
            input_hash: [2; 32],
            secrets_hash: secrets_hash(&["a".into()]),
            output: b"out".to_vec(),
            signature: vec![3; 64],
        };
        let bytes = result.to_bytes().expect("bytes");
        assert_eq!(ComputeResult::from_bytes(&bytes), Ok(result));
        assert!(ComputeResult::from_bytes(b"junk").is_err());
    }

    #[test]
    fn the_message_binds_every_part() {
        let base = Attestation {
            engine: "js".into(),
            code_hash: [1; 32],
            input_hash: [2; 32],
            secrets_hash: [3; 32],
            output_hash: [4; 32],
        };
        let m = base.message();
        assert!(m.starts_with(RESULT_DOMAIN));
        assert_eq!(m.len(), RESULT_DOMAIN.len() + 1 + 2 + 128);
        let mut other = base.clone();
        other.engine = "wasm".into();
        assert_ne!(other.message(), m);
        let mut other = base.clone();
        other.output_hash[0] ^= 1;
        assert_ne!(other.message(), m);
        // Names are length-prefixed: ["ab"] and ["a", "b"] differ.
        assert_ne!(
            secrets_hash(&["ab".into()]),
            secrets_hash(&["a".into(), "b".into()])
        );
    }
}
