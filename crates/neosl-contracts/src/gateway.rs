//! The `ServiceLayerGateway`: what the off-chain side must say to it byte for byte.

use neosl_neo::contract::{self, CallFlags};
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_neo::script::ScriptBuilder;
use neosl_neo::{UInt160, serialize};
use num_bigint::BigInt;

/// The fulfilment message's domain separator.
pub const DOMAIN: &[u8] = b"neosl-fulfil|";

/// A request's status as the gateway stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for its fulfilment.
    Pending,
    /// Fulfilled, and the callback ran.
    Fulfilled,
    /// Fulfilled (the result is stored), but the callback raised or was skipped.
    CallbackFailed,
    /// Past its deadline without a fulfilment.
    Expired,
}

impl RequestStatus {
    /// From the gateway's integer.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Pending,
            1 => Self::Fulfilled,
            2 => Self::CallbackFailed,
            3 => Self::Expired,
            _ => return None,
        })
    }

    /// The stable name (`pending`, `fulfilled`, `callback_failed`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Fulfilled => "fulfilled",
            Self::CallbackFailed => "callback_failed",
            Self::Expired => "expired",
        }
    }
}

/// What a service's TEE key signs for one fulfilment: the domain, the network magic, the
/// gateway (its script hash, little-endian bytes, as the contract's `executing_script_hash`),
/// the request id, success and the result, with `|` separators and the numbers in decimal (as
/// the contract writes them with `StdLib.itoa`).
pub fn fulfilment_message(
    network: u32,
    gateway: &UInt160,
    request_id: u64,
    success: bool,
    result: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 48 + result.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(network.to_string().as_bytes());
    m.push(b'|');
    m.extend_from_slice(gateway.as_le_bytes());
    m.extend_from_slice(request_id.to_string().as_bytes());
    m.push(b'|');
    m.push(if success { b'1' } else { b'0' });
    m.push(b'|');
    m.extend_from_slice(result);
    m
}

/// One fulfilment, as the TEE account sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfilment {
    /// The request.
    pub request_id: u64,
    /// Whether the service succeeded.
    pub success: bool,
    /// The result (the callback's third argument).
    pub result: Vec<u8>,
    /// The service's TEE signature over [`fulfilment_message`] (64 bytes r‖s).
    pub signature: Vec<u8>,
    /// Empty to run the callback; otherwise why it is skipped (it would fault, or needs more
    /// GAS than allowed): the request is recorded `callback_failed` with this reason.
    pub skip_reason: String,
}

/// Emits `fulfillRequest(requestId, success, result, signature, skipReason)` on `gateway`,
/// dropping its answer; several in one script make one transaction fulfil a batch.
pub fn fulfil(sb: &mut ScriptBuilder, gateway: &UInt160, f: &Fulfilment) -> neosl_neo::Result<()> {
    contract::call(
        sb,
        gateway,
        "fulfillRequest",
        CallFlags::ALL,
        &[
            P::Integer(BigInt::from(f.request_id)),
            P::Boolean(f.success),
            P::ByteArray(f.result.clone()),
            P::ByteArray(f.signature.clone()),
            P::String(f.skip_reason.clone()),
        ],
    )?;
    sb.opcode(neosl_neo::script::opcode::DROP);
    Ok(())
}

/// The script of a batch of fulfilments.
pub fn fulfil_script(gateway: &UInt160, batch: &[Fulfilment]) -> neosl_neo::Result<Vec<u8>> {
    let mut sb = ScriptBuilder::new();
    for f in batch {
        fulfil(&mut sb, gateway, f)?;
    }
    Ok(sb.into_bytes())
}

/// A request as `getRequest` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// The requesting contract.
    pub requester: UInt160,
    /// The service.
    pub service_id: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The callback method.
    pub callback: String,
    /// The deadline (block time, Unix ms).
    pub deadline: i64,
    /// The status.
    pub status: RequestStatus,
    /// Whether the service succeeded.
    pub success: bool,
    /// The result.
    pub result: Vec<u8>,
    /// Why the callback failed or the request expired.
    pub reason: String,
}

/// Decodes `getRequest`'s answer (an Array of nine items; empty for an unknown id).
pub fn stored_request(item: &StackItem) -> Option<StoredRequest> {
    let fields = item.as_array()?;
    if fields.len() != 9 {
        return None;
    }
    let int = |i: usize| fields[i].as_integer().and_then(|n| i64::try_from(n).ok());
    Some(StoredRequest {
        requester: UInt160::from_le_slice(&fields[0].as_bytes()?).ok()?,
        service_id: fields[1].as_string()?,
        payload: fields[2].as_bytes()?,
        callback: fields[3].as_string()?,
        deadline: int(4)?,
        status: RequestStatus::from_code(int(5)?)?,
        success: fields[6].as_bool()?,
        result: fields[7].as_bytes()?,
        reason: fields[8].as_string()?,
    })
}

/// Serializes `item` as `StdLib.serialize` (re-exported for payload builders).
pub fn serialize(item: &StackItem) -> neosl_neo::Result<Vec<u8>> {
    serialize::serialize(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_has_the_contracts_layout() {
        let gateway = UInt160::from_le_slice(&[7u8; 20]).expect("hash");
        let m = fulfilment_message(42, &gateway, 17, true, b"res");
        let mut expected = b"neosl-fulfil|42|".to_vec();
        expected.extend_from_slice(&[7u8; 20]);
        expected.extend_from_slice(b"17|1|res");
        assert_eq!(m, expected);
        assert_ne!(m, fulfilment_message(43, &gateway, 17, true, b"res"));
        assert_ne!(m, fulfilment_message(42, &gateway, 1, true, b"7res"));
    }
}
