//! The `MixerService`: the request bytes its dispute decodes, the messages the Mixer's TEE key
//! signs, and the hash of the transactions that settled a request.
//!
//! The request bytes are `StdLib.serialize` of one array (byte-exact with
//! [`neosl_neo::serialize`]), so the contract reads the user, the total and the deadline from
//! the bytes alone:
//!
//! `[domain, version, network, contract, user, targets, net, fee, total, timestamp, mixOption,
//! grace, deposits, inputTxs, nonce]` — `targets` and `deposits` are arrays of `[script hash,
//! amount]`; amounts are GAS in 10^-8; times are Unix milliseconds; `inputTxs` are transaction
//! hashes (little-endian bytes); `nonce` is 16 random bytes so that equal requests differ.

use neosl_crypto::hash::hash256;
use neosl_neo::param::StackItem;
use neosl_neo::{UInt160, UInt256, serialize};

/// The id the contract's events name the Mixer by.
pub const SERVICE_ID: &str = "mixer";
/// The first item of the request bytes.
pub const BYTES_DOMAIN: &str = "neosl-mixer";
/// The request format's version.
pub const VERSION: i64 = 1;
/// What the TEE signs for a request: this, then the request hash.
pub const REQUEST_DOMAIN: &[u8] = b"neosl-mixer-request|";
/// What the TEE signs for a completion: this, the request hash, then the txids hash.
pub const PROOF_DOMAIN: &[u8] = b"neosl-mixer-proof|";

/// The contract's dispute states (`getDispute` item 0).
pub mod state {
    /// Disputed by the user, not yet proved.
    pub const DISPUTED: i64 = 1;
    /// The Mixer proved the request settled.
    pub const PROVED: i64 = 2;
    /// The user was compensated from the bond.
    pub const CLAIMED: i64 = 3;
}

/// What a request promises, as its bytes carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTerms {
    /// The network magic.
    pub network: u32,
    /// The `MixerService` it can be disputed on.
    pub contract: UInt160,
    /// The user (disputes need its witness; compensation goes to it).
    pub user: UInt160,
    /// Where the mixed GAS goes and how much each receives (10^-8 GAS).
    pub targets: Vec<(UInt160, i64)>,
    /// The sum of the targets.
    pub net: i64,
    /// The fee (service fee and chain costs), kept in the pool.
    pub fee: i64,
    /// What the user deposits: `net + fee`; what a successful claim pays.
    pub total: i64,
    /// When the request was made (Unix ms).
    pub timestamp_ms: i64,
    /// The mix window (ms).
    pub mix_option_ms: i64,
    /// The grace after the window before a dispute, and after a dispute before a claim (ms).
    pub grace_ms: i64,
    /// The deposit plan: which pool accounts receive which amounts.
    pub deposits: Vec<(UInt160, i64)>,
    /// Transactions the user named as the deposit (optional).
    pub input_txs: Vec<UInt256>,
    /// Random bytes.
    pub nonce: [u8; 16],
}

impl RequestTerms {
    /// When a dispute becomes possible: `timestamp + mix option + grace`.
    pub fn deadline_ms(&self) -> i64 {
        self.timestamp_ms
            .saturating_add(self.mix_option_ms)
            .saturating_add(self.grace_ms)
    }

    /// The request bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let pairs = |list: &[(UInt160, i64)]| {
            StackItem::Array(
                list.iter()
                    .map(|(h, a)| {
                        StackItem::Array(vec![
                            StackItem::ByteString(h.as_le_bytes().to_vec()),
                            StackItem::Integer((*a).into()),
                        ])
                    })
                    .collect(),
            )
        };
        let item = StackItem::Array(vec![
            StackItem::ByteString(BYTES_DOMAIN.as_bytes().to_vec()),
            StackItem::Integer(VERSION.into()),
            StackItem::Integer(self.network.into()),
            StackItem::ByteString(self.contract.as_le_bytes().to_vec()),
            StackItem::ByteString(self.user.as_le_bytes().to_vec()),
            pairs(&self.targets),
            StackItem::Integer(self.net.into()),
            StackItem::Integer(self.fee.into()),
            StackItem::Integer(self.total.into()),
            StackItem::Integer(self.timestamp_ms.into()),
            StackItem::Integer(self.mix_option_ms.into()),
            StackItem::Integer(self.grace_ms.into()),
            pairs(&self.deposits),
            StackItem::Array(
                self.input_txs
                    .iter()
                    .map(|t| StackItem::ByteString(t.as_le_bytes().to_vec()))
                    .collect(),
            ),
            StackItem::ByteString(self.nonce.to_vec()),
        ]);
        // Bounded lists of small items (the Mixer caps targets, deposits and inputs) always
        // serialize.
        serialize::serialize(&item).unwrap_or_default()
    }

    /// Reads request bytes back (what a user's tool shows before disputing).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let item = serialize::deserialize(bytes).map_err(|e| e.to_string())?;
        let fields = item.as_array().ok_or("not an array")?;
        if fields.len() != 15 {
            return Err("not a mixer request (15 fields)".into());
        }
        let bytes_of = |i: usize| {
            fields[i]
                .as_bytes()
                .ok_or(format!("field {i} is not bytes"))
        };
        let int_of = |i: usize| -> Result<i64, String> {
            match &fields[i] {
                StackItem::Integer(n) => {
                    i64::try_from(n).map_err(|_| format!("field {i} overflows"))
                }
                _ => Err(format!("field {i} is not an integer")),
            }
        };
        let hash_of = |b: Vec<u8>| UInt160::from_le_slice(&b).map_err(|e| e.to_string());
        let pairs_of = |i: usize| -> Result<Vec<(UInt160, i64)>, String> {
            fields[i]
                .as_array()
                .ok_or(format!("field {i} is not a list"))?
                .iter()
                .map(|p| {
                    let p = p.as_array().filter(|p| p.len() == 2).ok_or("bad pair")?;
                    let h = hash_of(p[0].as_bytes().ok_or("bad pair")?)?;
                    let StackItem::Integer(a) = &p[1] else {
                        return Err("bad pair".to_owned());
                    };
                    Ok((h, i64::try_from(a).map_err(|_| "amount overflows")?))
                })
                .collect()
        };
        if bytes_of(0)? != BYTES_DOMAIN.as_bytes() {
            return Err("not a mixer request".into());
        }
        if int_of(1)? != VERSION {
            return Err("unknown request version".into());
        }
        let input_txs = fields[13]
            .as_array()
            .ok_or("field 13 is not a list")?
            .iter()
            .map(|t| {
                UInt256::from_le_slice(&t.as_bytes().ok_or("bad transaction hash")?)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            network: u32::try_from(int_of(2)?).map_err(|_| "bad network")?,
            contract: hash_of(bytes_of(3)?)?,
            user: hash_of(bytes_of(4)?)?,
            targets: pairs_of(5)?,
            net: int_of(6)?,
            fee: int_of(7)?,
            total: int_of(8)?,
            timestamp_ms: int_of(9)?,
            mix_option_ms: int_of(10)?,
            grace_ms: int_of(11)?,
            deposits: pairs_of(12)?,
            input_txs,
            nonce: bytes_of(14)?
                .try_into()
                .map_err(|_| "the nonce is 16 bytes")?,
        })
    }
}

/// `requestHash = Hash256(requestBytes)`.
pub fn request_hash(request_bytes: &[u8]) -> [u8; 32] {
    hash256(request_bytes)
}

/// What the TEE signs to accept a request.
pub fn request_message(request_hash: &[u8; 32]) -> Vec<u8> {
    [REQUEST_DOMAIN, request_hash.as_slice()].concat()
}

/// `txidsHash = Hash256(txid_1 ‖ … ‖ txid_n)`, each transaction hash as Neo stores it
/// (little-endian, the reverse of its `0x` display form); an empty list (a request never
/// funded) hashes the empty string.
pub fn txids_hash(txids: &[UInt256]) -> [u8; 32] {
    let mut all = Vec::with_capacity(txids.len() * 32);
    for t in txids {
        all.extend_from_slice(t.as_le_bytes());
    }
    hash256(&all)
}

/// What the TEE signs to say a request was settled by these transactions.
pub fn proof_message(request_hash: &[u8; 32], txids_hash: &[u8; 32]) -> Vec<u8> {
    [PROOF_DOMAIN, request_hash.as_slice(), txids_hash.as_slice()].concat()
}

/// A script making several GAS transfers from one account, each asserted.
pub fn gas_transfers(from: &UInt160, transfers: &[(UInt160, i64)]) -> neosl_neo::Result<Vec<u8>> {
    let mut script = Vec::new();
    for (to, amount) in transfers {
        script.extend(neosl_neo::contract::nep17_transfer(
            &neosl_neo::native::GAS,
            from,
            to,
            &(*amount).into(),
            None,
        )?);
    }
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> RequestTerms {
        RequestTerms {
            network: 894_710_606,
            contract: UInt160::from_be_bytes([7; 20]),
            user: UInt160::from_be_bytes([1; 20]),
            targets: vec![
                (UInt160::from_be_bytes([2; 20]), 500_000_000),
                (UInt160::from_be_bytes([3; 20]), 250_000_000),
            ],
            net: 750_000_000,
            fee: 12_000_000,
            total: 762_000_000,
            timestamp_ms: 1_730_000_000_000,
            mix_option_ms: 3_600_000,
            grace_ms: 604_800_000,
            deposits: vec![(UInt160::from_be_bytes([4; 20]), 762_000_000)],
            input_txs: vec![UInt256::from_be_bytes([9; 32])],
            nonce: [5; 16],
        }
    }

    #[test]
    fn request_bytes_round_trip() {
        let t = terms();
        let bytes = t.to_bytes();
        assert_eq!(RequestTerms::from_bytes(&bytes).expect("present"), t);
        assert_eq!(t.deadline_ms(), 1_730_000_000_000 + 3_600_000 + 604_800_000);
    }

    #[test]
    fn altered_bytes_are_refused_or_differ() {
        let bytes = terms().to_bytes();
        assert!(RequestTerms::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut other = bytes.clone();
        // The domain string's first letter.
        other[4] ^= 1;
        assert!(RequestTerms::from_bytes(&other).is_err());
        assert_ne!(request_hash(&bytes), request_hash(&other));
    }

    #[test]
    fn messages_are_domain_separated() {
        let h = [1u8; 32];
        assert_eq!(request_message(&h).len(), REQUEST_DOMAIN.len() + 32);
        assert_eq!(proof_message(&h, &h).len(), PROOF_DOMAIN.len() + 64);
        assert_eq!(txids_hash(&[]), hash256(b""));
    }
}
