//! The `VRFService`: the payload a consumer sends and the result its callback receives.

use neosl_neo::param::StackItem;
use neosl_neo::serialize;
use num_bigint::BigInt;

/// The service id the gateway knows the VRF service by.
pub const SERVICE_ID: &str = "vrf";

/// Errors decoding VRF payloads and results.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VrfDataError(pub String);

/// What a consumer asks: `StdLib.serialize([seed, numWords])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrfPayload {
    /// The consumer's seed.
    pub seed: Vec<u8>,
    /// How many words.
    pub num_words: u32,
}

impl VrfPayload {
    /// The serialized payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let item = StackItem::Array(vec![
            StackItem::ByteString(self.seed.clone()),
            StackItem::Integer(BigInt::from(self.num_words)),
        ]);
        serialize::serialize(&item).unwrap_or_default()
    }
}

/// What the callback receives: `StdLib.serialize([words, proof])`, each word 32 bytes, the
/// proof the 81-byte RFC 9381 proof of the request's on-chain input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrfResult {
    /// The random words.
    pub words: Vec<[u8; 32]>,
    /// The proof.
    pub proof: Vec<u8>,
}

impl VrfResult {
    /// The serialized result.
    pub fn to_bytes(&self) -> neosl_neo::Result<Vec<u8>> {
        serialize::serialize(&StackItem::Array(vec![
            StackItem::Array(
                self.words
                    .iter()
                    .map(|w| StackItem::ByteString(w.to_vec()))
                    .collect(),
            ),
            StackItem::ByteString(self.proof.clone()),
        ]))
    }

    /// Reads a result (from `getRequest` or a callback).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VrfDataError> {
        let bad = |m: &str| VrfDataError(m.to_owned());
        let item = serialize::deserialize(bytes).map_err(|e| VrfDataError(e.to_string()))?;
        let fields = item.as_array().ok_or_else(|| bad("not an array"))?;
        let [words, proof] = fields else {
            return Err(bad("not [words, proof]"));
        };
        let words = words
            .as_array()
            .ok_or_else(|| bad("words are not an array"))?
            .iter()
            .map(|w| {
                w.as_bytes()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| bad("a word is not 32 bytes"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            words,
            proof: proof
                .as_bytes()
                .ok_or_else(|| bad("the proof is not bytes"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip() {
        let r = VrfResult {
            words: vec![[1; 32], [2; 32]],
            proof: vec![9; 81],
        };
        assert_eq!(VrfResult::from_bytes(&r.to_bytes().expect("bytes")), Ok(r));
        assert!(VrfResult::from_bytes(b"junk").is_err());
        let payload = VrfPayload {
            seed: b"s".to_vec(),
            num_words: 3,
        };
        assert_eq!(
            hex::encode(payload.to_bytes()),
            "400228017321010".to_owned() + "3"
        );
    }
}
