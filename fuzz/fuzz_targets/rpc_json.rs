//! RPC JSON decoding of stack items, contract parameters and signers: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neosl_neo::param::{ContractParameter, StackItem};
use neosl_neo::tx::Signer;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(item) = StackItem::from_json(&value) {
            assert_eq!(StackItem::from_json(&item.to_json()).ok(), Some(item));
        }
        if let Ok(param) = ContractParameter::from_json(&value) {
            assert_eq!(ContractParameter::from_json(&param.to_json()).ok(), Some(param));
        }
        let _ = Signer::from_json(&value);
    }
});
