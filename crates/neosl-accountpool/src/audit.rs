//! The audit chain (pure: no I/O).
//!
//! One record per (batch, account): every hash an account signed in one batch, or one
//! transfer. Records are chained per chain id — a service and the pool instance that writes
//! for it (`gateway@3f9c…`), so replicas append without waiting for one another's commits —:
//! record `seq` carries the digest of record `seq - 1` (`prev_digest`), its own `digest` =
//! SHA-256 over a domain tag, the previous digest and every field, length-prefixed, and a
//! `mac` = HMAC-SHA256 of the digest under the audit key (derived from the pool's master key,
//! so only the pool can extend a chain). Each chain's head (its last `seq`, digest and a MAC
//! over them) is kept beside it, so deleting the newest records is seen too. [`verify`] walks a
//! chain in order and names the first record that does not fit.

use neosl_crypto::hash::{hmac_sha256, hmac_sha256_verify, sha256};

const DOMAIN: &[u8] = b"neosl-pool-audit|v1|";
const HEAD_DOMAIN: &[u8] = b"neosl-pool-audit-head|v1|";

/// A record before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// `sign` or `transfer`.
    pub kind: String,
    /// The account.
    pub account_id: String,
    /// The lock it was held under.
    pub lock_id: Option<String>,
    /// The hashes signed (one for a transfer: its transaction hash).
    pub hashes: Vec<String>,
    /// Extra facts (JSON; empty for signatures).
    pub detail: String,
    /// When (Unix ms).
    pub created_at: i64,
}

/// A chained record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The chain it is in.
    pub chain_id: String,
    /// Its position in that chain (from 1).
    pub seq: i64,
    /// What it records.
    pub fields: NewRecord,
    /// The digest of the record before it (zeros for the first).
    pub prev_digest: [u8; 32],
    /// Its own digest.
    pub digest: [u8; 32],
    /// HMAC of the digest under the audit key.
    pub mac: [u8; 32],
}

/// A chain's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The chain.
    pub chain_id: String,
    /// Its last record's `seq`.
    pub seq: i64,
    /// Its last record's digest.
    pub digest: [u8; 32],
    /// HMAC over the chain id, `seq` and digest.
    pub mac: [u8; 32],
}

fn push(bytes: &mut Vec<u8>, part: &[u8]) {
    bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
    bytes.extend_from_slice(part);
}

/// The digest of record `seq` of `service` after `prev`.
pub fn digest(prev: &[u8; 32], service: &str, seq: i64, record: &NewRecord) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(128 + record.hashes.len() * 68 + record.detail.len());
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(prev);
    push(&mut bytes, service.as_bytes());
    bytes.extend_from_slice(&seq.to_be_bytes());
    push(&mut bytes, record.kind.as_bytes());
    push(&mut bytes, record.account_id.as_bytes());
    match &record.lock_id {
        Some(lock) => {
            bytes.push(1);
            push(&mut bytes, lock.as_bytes());
        }
        None => bytes.push(0),
    }
    bytes.extend_from_slice(&(record.hashes.len() as u32).to_be_bytes());
    for hash in &record.hashes {
        push(&mut bytes, hash.as_bytes());
    }
    push(&mut bytes, record.detail.as_bytes());
    bytes.extend_from_slice(&record.created_at.to_be_bytes());
    sha256(&bytes)
}

fn head_message(service: &str, seq: i64, digest: &[u8; 32]) -> Vec<u8> {
    let mut bytes = HEAD_DOMAIN.to_vec();
    push(&mut bytes, service.as_bytes());
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(digest);
    bytes
}

/// Chains `records` of `service` after its head (`None`: the chain is empty).
pub fn chain(
    key: &[u8],
    service: &str,
    head: Option<(i64, [u8; 32])>,
    records: Vec<NewRecord>,
) -> (Vec<Record>, Option<Head>) {
    let (mut seq, mut prev) = head.unwrap_or((0, [0; 32]));
    let mut out = Vec::with_capacity(records.len());
    for fields in records {
        seq += 1;
        let digest = digest(&prev, service, seq, &fields);
        out.push(Record {
            chain_id: service.to_owned(),
            seq,
            fields,
            prev_digest: prev,
            digest,
            mac: hmac_sha256(key, &digest),
        });
        prev = digest;
    }
    let head = out.last().map(|last| Head {
        chain_id: service.to_owned(),
        seq: last.seq,
        digest: last.digest,
        mac: hmac_sha256(key, &head_message(service, last.seq, &last.digest)),
    });
    (out, head)
}

/// Where a chain stops fitting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain {chain_id}, record {seq}: {reason}")]
pub struct Break {
    /// The chain.
    pub chain_id: String,
    /// The first record that does not fit (for a missing record, the one expected there).
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

/// Checks one service's chain record by record (in `seq` order), then against its head; with a
/// key, every MAC too.
#[derive(Debug)]
pub struct Verifier<'k> {
    key: Option<&'k [u8]>,
    service: String,
    expected: i64,
    prev: [u8; 32],
    count: u64,
}

impl<'k> Verifier<'k> {
    /// A verifier of `service`'s chain.
    pub fn new(key: Option<&'k [u8]>, service: &str) -> Self {
        Self {
            key,
            service: service.to_owned(),
            expected: 1,
            prev: [0; 32],
            count: 0,
        }
    }

    fn broken(&self, seq: i64, reason: impl Into<String>) -> Break {
        Break {
            chain_id: self.service.clone(),
            seq,
            reason: reason.into(),
        }
    }

    /// Checks the next record.
    pub fn push(&mut self, record: &Record) -> Result<(), Break> {
        if record.chain_id != self.service {
            return Err(self.broken(record.seq, "belongs to another chain"));
        }
        if record.seq != self.expected {
            return Err(self.broken(
                self.expected,
                format!("missing (the next record is {})", record.seq),
            ));
        }
        if record.prev_digest != self.prev {
            return Err(self.broken(record.seq, "does not follow the record before it"));
        }
        if digest(&self.prev, &self.service, record.seq, &record.fields) != record.digest {
            return Err(self.broken(record.seq, "altered: its digest does not match its fields"));
        }
        if let Some(key) = self.key
            && !hmac_sha256_verify(key, &record.digest, &record.mac)
        {
            return Err(self.broken(record.seq, "its MAC is not the pool's"));
        }
        self.prev = record.digest;
        self.expected += 1;
        self.count += 1;
        Ok(())
    }

    /// Checks the end of the chain against its head; answers how many records were checked.
    pub fn finish(self, head: Option<&Head>) -> Result<u64, Break> {
        let last = self.expected - 1;
        match head {
            None if self.count == 0 => Ok(0),
            None => Err(self.broken(last, "the chain has no head")),
            Some(head) => {
                if head.seq != last || head.digest != self.prev {
                    return Err(self.broken(
                        last + 1,
                        format!(
                            "missing: the head says the chain ends at {}, the records end at {last}",
                            head.seq
                        ),
                    ));
                }
                if let Some(key) = self.key
                    && !hmac_sha256_verify(
                        key,
                        &head_message(&self.service, head.seq, &head.digest),
                        &head.mac,
                    )
                {
                    return Err(self.broken(head.seq, "the head's MAC is not the pool's"));
                }
                Ok(self.count)
            }
        }
    }
}

/// Checks one service's whole chain (see [`Verifier`]).
pub fn verify(
    key: Option<&[u8]>,
    service: &str,
    records: impl IntoIterator<Item = Record>,
    head: Option<&Head>,
) -> Result<u64, Break> {
    let mut verifier = Verifier::new(key, service);
    for record in records {
        verifier.push(&record)?;
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(i: usize) -> NewRecord {
        NewRecord {
            kind: "sign".into(),
            account_id: format!("acct-{i}"),
            lock_id: Some("lock".into()),
            hashes: vec![format!("{i:064x}"), format!("{:064x}", i + 1)],
            detail: String::new(),
            created_at: 1_000 + i as i64,
        }
    }

    #[test]
    fn a_chain_verifies_and_any_change_is_named() {
        let key = [7u8; 32];
        let (first, head) = chain(&key, "gateway", None, (0..3).map(new).collect());
        let head = head.expect("head");
        let (more, head) = chain(
            &key,
            "gateway",
            Some((head.seq, head.digest)),
            vec![new(3), new(4)],
        );
        let head = head.expect("head");
        let all: Vec<Record> = first.into_iter().chain(more).collect();
        assert_eq!(
            verify(Some(&key), "gateway", all.clone(), Some(&head)),
            Ok(5)
        );
        // Altered: a hash, a time, the MAC.
        let mut altered = all.clone();
        altered[2].fields.hashes[1] = "ff".repeat(32);
        assert_eq!(
            verify(Some(&key), "gateway", altered, Some(&head)).map_err(|b| b.seq),
            Err(3)
        );
        let mut altered = all.clone();
        altered[0].fields.created_at += 1;
        assert_eq!(
            verify(None, "gateway", altered, Some(&head)).map_err(|b| b.seq),
            Err(1)
        );
        // Recomputed without the key: the MAC gives it away.
        let mut forged = all.clone();
        forged[4].fields.hashes.push("00".repeat(32));
        forged[4].digest = digest(&forged[4].prev_digest, "gateway", 5, &forged[4].fields);
        assert!(verify(None, "gateway", forged.clone(), None).is_err());
        assert_eq!(
            verify(Some(&key), "gateway", forged, None).map_err(|b| b.seq),
            Err(5)
        );
        // Deleted: in the middle, and at the end (the head says more).
        let mut gap = all.clone();
        gap.remove(1);
        assert_eq!(
            verify(Some(&key), "gateway", gap, Some(&head)).map_err(|b| b.seq),
            Err(2)
        );
        let mut truncated = all.clone();
        truncated.pop();
        assert_eq!(
            verify(Some(&key), "gateway", truncated, Some(&head)).map_err(|b| b.seq),
            Err(5)
        );
        // Another service's name does not fit.
        assert!(verify(Some(&key), "mixer", all, Some(&head)).is_err());
    }
}
